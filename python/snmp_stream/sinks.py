"""Writing parsed tables out: CSV, JSON lines, Parquet.

Each function takes `{table name: pandas DataFrame}` as the parser makes them. PostgreSQL is
loaded from the result buffers themselves, by the bus loader (`snmp_stream.bus.loader`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = ["write_csv", "write_jsonl", "write_parquet"]


def _plain(value: Any) -> Any:
    """A JSON value: bytes as hex, NA as None, numpy scalars as Python ones, timedeltas as
    seconds."""
    import pandas as pd

    if value is None or (not isinstance(value, (bytes, str)) and pd.isna(value)):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        return pd.Timedelta(value).to_pytimedelta().total_seconds()
    if hasattr(value, "item"):
        return value.item()
    return value


def write_jsonl(frames: Mapping[str, pandas.DataFrame], out: IO[str] | None = None) -> int:
    """One JSON object per row, with a "table" field; returns the rows written."""
    stream = out or sys.stdout
    rows = 0
    for name, frame in frames.items():
        columns = list(frame.columns)
        for record in frame.itertuples(index=False, name=None):
            row = {"table": name, **{c: _plain(v) for c, v in zip(columns, record)}}
            stream.write(json.dumps(row) + "\n")
            rows += 1
    return rows


def write_csv(frames: Mapping[str, pandas.DataFrame], directory: str | None) -> int:
    """One CSV file per table in `directory` (`<table>.csv`), or the only table to stdout."""
    if directory is None:
        if len(frames) != 1:
            raise ValueError("CSV to stdout takes one table; give --out DIRECTORY for several")
        (frame,) = frames.values()
        frame.to_csv(sys.stdout, index=False)
        return len(frame)
    os.makedirs(directory, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(os.path.join(directory, f"{name}.csv"), index=False)
    return sum(len(f) for f in frames.values())


def write_parquet(frames: Mapping[str, pandas.DataFrame], directory: str) -> int:
    """One Parquet file per table in `directory` (`<table>.parquet`; needs pyarrow)."""
    os.makedirs(directory, exist_ok=True)
    for name, frame in frames.items():
        frame.to_parquet(os.path.join(directory, f"{name}.parquet"), index=False)
    return sum(len(f) for f in frames.values())
