"""Writing parsed tables out: CSV, JSON lines, Parquet, PostgreSQL.

Each function takes `{table name: pandas DataFrame}` as the parser makes them. PostgreSQL gets
one table per name (`snmp_<name>`), created on first use with column types from the frame, and
rows loaded with `COPY`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

__all__ = ["PostgresLoader", "postgres_type", "write_csv", "write_jsonl", "write_parquet", "write_postgres"]


def _plain(value: Any, timedelta_as_seconds: bool = True) -> Any:
    """A plain Python value: bytes as hex, NA as None, numpy scalars as Python ones, and
    timedeltas as seconds (JSON) or as `datetime.timedelta` (PostgreSQL intervals)."""
    import pandas as pd

    if value is None or (not isinstance(value, (bytes, str)) and pd.isna(value)):
        return None
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (pd.Timedelta, dt.timedelta)):
        delta = pd.Timedelta(value).to_pytimedelta()
        return delta.total_seconds() if timedelta_as_seconds else delta
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


def postgres_type(dtype: Any) -> str:
    """The PostgreSQL column type for a pandas dtype from the parser."""
    name = str(dtype)
    if name in ("Int64", "int64", "Int32", "int32"):
        return "bigint"
    if name in ("UInt64", "uint64", "UInt32", "uint32"):
        return "numeric(20)"
    if name.startswith("timedelta"):
        return "interval"
    if name == "bool":
        return "boolean"
    return "text"


def _create_and_copy(
    connection: Any, name: str, frame: pandas.DataFrame, fixed: Sequence[tuple[str, str, Any]]
) -> int:
    """Creates `snmp_<name>` if missing (the `fixed` columns, then the frame's), adds columns it
    lacks, and COPYs the frame's rows in, each with the `fixed` values first."""
    from psycopg import sql

    table = sql.Identifier(f"snmp_{name.lower()}")
    columns = [(c, t) for c, t, _ in fixed] + [(c, postgres_type(frame[c].dtype)) for c in frame.columns]
    definition = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in columns
    )
    connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, definition))
    # A table made by another writer (the CLI writes no result_id) or by an older spec gains
    # the columns it lacks; its other rows hold NULL there.
    for column, kind in columns:
        add = sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}")
        connection.execute(add.format(table, sql.Identifier(column), sql.SQL(kind)))
    names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in columns)
    prefix = tuple(v for _, _, v in fixed)
    rows = 0
    with connection.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
        for record in frame.itertuples(index=False, name=None):
            copy.write_row((*prefix, *(_plain(v, timedelta_as_seconds=False) for v in record)))
            rows += 1
    return rows


def write_postgres(
    frames: Mapping[str, pandas.DataFrame], dsn: str, collected_at: dt.datetime | None = None
) -> int:
    """COPYs each table into `snmp_<name>` (created if missing) with a `collected_at` column;
    returns the rows written. Bytes columns are stored as hex text."""
    import psycopg

    collected_at = collected_at or dt.datetime.now(dt.timezone.utc)
    with psycopg.connect(dsn) as connection:
        return sum(
            _create_and_copy(connection, name, frame, [("collected_at", "timestamptz", collected_at)])
            for name, frame in frames.items()
        )


class PostgresLoader:
    """Loads results into PostgreSQL over one connection, at most once per result id.

    `load_once` writes one result's rows into `snmp_<name>` (with `result_id` and
    `collected_at` columns) in one transaction that also records `result_id` in `snmp_loaded`;
    a result already recorded there is skipped, so a redelivered result never duplicates rows
    (two loaders racing on the same result: the second waits for the first and skips). Not
    thread-safe: give each thread its own loader.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._connection: Any = None
        self._created: set[str] = set()

    def load_once(self, result_id: str, name: str, frame: pandas.DataFrame, collected_at: dt.datetime) -> int:
        """Returns the rows loaded (0 when the result was loaded before)."""
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.dsn)
            self._created.clear()
        connection = self._connection
        try:
            with connection.transaction():
                if not self._created:
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS snmp_loaded (result_id text PRIMARY KEY,"
                        " table_name text NOT NULL, rows integer NOT NULL, loaded_at timestamptz NOT NULL"
                        " DEFAULT now())"
                    )
                claimed = connection.execute(
                    "INSERT INTO snmp_loaded (result_id, table_name, rows) VALUES (%s, %s, %s)"
                    " ON CONFLICT (result_id) DO NOTHING RETURNING result_id",
                    (result_id, name, len(frame)),
                ).fetchone()
                if claimed is None:
                    return 0
                fixed = [("result_id", "text", result_id), ("collected_at", "timestamptz", collected_at)]
                rows = _create_and_copy(connection, name, frame, fixed)
            self._created.add(name)
            return rows
        except Exception:
            connection.close()  # start afresh next time
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
