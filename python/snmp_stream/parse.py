"""Turning result buffers into columns: describe a table, decode natively.

There is no MIB: a `Table` says how a table's index sub-ids split into fields (the INDEX clause
of its MIB) and which column OIDs to read with which value type. Decoding runs in native code
(the GIL released), with no Python loop per row; collecting and parsing are separate steps, so
buffers can be shipped and parsed elsewhere.

```python
from snmp_stream import parse as p

if_table = p.Table(
    index=[p.integer("ifIndex")],
    columns=[
        p.column("ifDescr", "1.3.6.1.2.1.2.2.1.2", p.UTF8),
        p.column("ifInOctets", "1.3.6.1.2.1.2.2.1.10", p.COUNTER32),
    ],
)
responses = snmp_stream.walk_many(hosts, "public", if_table.oids)
frame = if_table.to_pandas(responses)   # one row per (host, ifIndex)
```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import numpy.typing as npt

from snmp_stream import _snmp_stream as native
from snmp_stream._api import OidLike, SnmpResponse, _oid_text
from snmp_stream._extras import require

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

__all__ = [
    "BYTES",
    "COUNTER32",
    "COUNTER64",
    "GAUGE32",
    "HEX",
    "INET_ADDRESS",
    "INTEGER",
    "IP_ADDRESS",
    "MAC",
    "OID",
    "TIMEDELTA",
    "TIMETICKS",
    "UNSIGNED",
    "UTF8",
    "VARBINDS",
    "Column",
    "IndexField",
    "Table",
    "Varbinds",
    "column",
    "fixed_string",
    "implied_oid",
    "implied_string",
    "inet_address",
    "inet_address_type",
    "integer",
    "ip_address",
    "mac",
    "octets",
    "oid",
    "rates",
    "string",
    "table_from_dict",
    "tables_from_dict",
    "to_arrow",
    "to_numpy",
    "to_pandas",
    "to_polars",
]


@dataclass(frozen=True)
class ValueType:
    """How a value is decoded: `kind` is the native decoder, `timedelta` converts ticks."""

    kind: str
    timedelta: bool = False


INTEGER = ValueType("integer")
"""INTEGER / Integer32 (also enumerations) → int64."""
UNSIGNED = ValueType("unsigned")
"""Counter32, Gauge32 / Unsigned32 or TimeTicks → uint64."""
COUNTER32 = UNSIGNED
GAUGE32 = UNSIGNED
COUNTER64 = ValueType("counter64")
"""Counter64 → uint64."""
TIMETICKS = ValueType("timeticks")
"""TimeTicks → uint64 hundredths of a second."""
TIMEDELTA = ValueType("timeticks", timedelta=True)
"""TimeTicks → numpy timedelta64[ms]."""
BYTES = ValueType("bytes")
"""OCTET STRING → bytes."""
UTF8 = ValueType("utf8")
"""OCTET STRING → str (invalid UTF-8 becomes U+FFFD)."""
HEX = ValueType("hex")
"""OCTET STRING → lowercase hex str."""
MAC = ValueType("mac")
"""OCTET STRING → "00:1a:2b:3c:4d:5e"."""
IP_ADDRESS = ValueType("ip_address")
"""IpAddress → "10.0.0.1"."""
INET_ADDRESS = ValueType("inet_address")
"""InetAddress (OCTET STRING) → text by length: IPv4, IPv6, IPv4z/IPv6z ("addr%zone")."""
OID = ValueType("oid")
"""OBJECT IDENTIFIER → ".1.3.6..."."""

Length = Union[int, str]


@dataclass(frozen=True)
class IndexField:
    """One field of a table's INDEX: `field` is "integer", "octets" or "oid"; `length` a count
    of sub-ids, "prefixed" (a length sub-id first) or "implied" (the rest; last field only)."""

    name: str
    field: str
    length: Length = 1
    value: ValueType = INTEGER


def integer(name: str) -> IndexField:
    """An integer index field (one sub-id): ifIndex, an enumeration such as InetAddressType."""
    return IndexField(name, "integer")


inet_address_type = integer
"""InetAddressType (an enumeration: 1 ipv4, 2 ipv6, 3 ipv4z, 4 ipv6z, 16 dns)."""


def octets(name: str, length: Length, value: ValueType = BYTES) -> IndexField:
    """An OCTET STRING index field, one octet per sub-id, rendered as `value`."""
    return IndexField(name, "octets", length, value)


def string(name: str, value: ValueType = UTF8) -> IndexField:
    """A variable-length string (length-prefixed) index field."""
    return octets(name, "prefixed", value)


def implied_string(name: str, value: ValueType = UTF8) -> IndexField:
    """An IMPLIED string: the rest of the index (last field only)."""
    return octets(name, "implied", value)


def fixed_string(name: str, size: int, value: ValueType = UTF8) -> IndexField:
    """A fixed-size string of `size` octets."""
    return octets(name, size, value)


def ip_address(name: str) -> IndexField:
    """An IpAddress index field (4 sub-ids)."""
    return octets(name, 4, IP_ADDRESS)


def inet_address(name: str) -> IndexField:
    """An InetAddress index field (length-prefixed), rendered by length."""
    return octets(name, "prefixed", INET_ADDRESS)


def mac(name: str) -> IndexField:
    """A MAC address index field (PhysAddress of 6 sub-ids)."""
    return octets(name, 6, MAC)


def oid(name: str) -> IndexField:
    """A length-prefixed OBJECT IDENTIFIER index field."""
    return IndexField(name, "oid", "prefixed", OID)


def implied_oid(name: str) -> IndexField:
    """An IMPLIED OBJECT IDENTIFIER: the rest of the index (last field only)."""
    return IndexField(name, "oid", "implied", OID)


@dataclass(frozen=True)
class Column:
    """A table column: its name, its OID (without index) and how to decode its values."""

    name: str
    oid: str
    value: ValueType

    def __post_init__(self) -> None:
        object.__setattr__(self, "oid", _oid_text(self.oid))


def column(name: str, oid: OidLike, value: ValueType) -> Column:
    """A table column."""
    return Column(name, oid, value)  # type: ignore[arg-type]


Source = Union[SnmpResponse, npt.NDArray[np.uint8], bytes]
"""A result buffer: a response, its `.results` array, or the same bytes shipped elsewhere."""

RateSource = Union[Source, tuple[str, Union[npt.NDArray[np.uint8], bytes]]]
"""A buffer for `rates`: a response (its host known), or `(host, buffer)`, or a buffer."""


class _Frames:
    """Decoded buffers as numpy columns, a pandas, Arrow or polars frame: the ways out of the
    parser, shared by `Table` (a table's rows) and `VARBINDS` (the long format)."""

    def _decode(
        self, sources: Source | Sequence[Source], raw: bool = False
    ) -> tuple[dict[str, Any], list[SnmpResponse | None]]:
        """Decoded columns by name as (kind, values, valid, timedelta); with `raw`, text and
        bytes values are (offsets, data) arrays as Arrow holds them, not Python objects."""
        raise NotImplementedError

    def to_numpy(self, sources: Source | Sequence[Source]) -> dict[str, np.ndarray[Any, Any]]:
        """One numpy array per index field and column, plus "req_id" (and "host" for
        responses). Integers are int64/uint64 masked arrays where a row has no value; text
        and bytes are object arrays with None."""
        decoded, responses = self._decode(sources)
        rows = decoded.pop("_buffer")
        out: dict[str, np.ndarray[Any, Any]] = _sources(rows, decoded.pop("_req_ids"), responses)
        for name, (kind, values, valid, timedelta) in decoded.items():
            if timedelta:
                values = (values * 10).astype("timedelta64[ms]")
            if kind in ("int", "uint"):
                out[name] = values if valid.all() else np.ma.MaskedArray(values, mask=~valid)
            else:
                out[name] = values
        return out

    def to_pandas(
        self, sources: Source | Sequence[Source], dtype_backend: str = "numpy_nullable"
    ) -> pandas.DataFrame:
        """A DataFrame: one row per (buffer, index). With `dtype_backend="numpy_nullable"` (the
        default) integers use pandas' nullable dtypes and text and bytes are Python objects;
        with `"pyarrow"` (as pandas' own readers take it) every column is Arrow-backed
        (`pd.ArrowDtype`), built natively without a Python object per row."""
        require("pandas", what="to_pandas")
        import pandas as pd

        if dtype_backend == "pyarrow":
            frame: pandas.DataFrame = self.to_arrow(sources).to_pandas(types_mapper=pd.ArrowDtype)
            return frame
        if dtype_backend != "numpy_nullable":
            raise ValueError(f"dtype_backend is 'numpy_nullable' or 'pyarrow', not {dtype_backend!r}")
        decoded, responses = self._decode(sources)
        rows = decoded.pop("_buffer")
        data: dict[str, Any] = dict(_sources(rows, decoded.pop("_req_ids"), responses))
        for name, (kind, values, valid, timedelta) in decoded.items():
            if timedelta:
                series = pd.Series((values * 10).astype("timedelta64[ms]"))
                series[~valid] = pd.NaT
                data[name] = series
            elif kind == "int" or kind == "uint":
                data[name] = pd.arrays.IntegerArray(values, ~valid)
            else:
                data[name] = values
        return pd.DataFrame(data)

    def to_arrow(self, sources: Source | Sequence[Source]) -> pyarrow.Table:
        """A pyarrow Table (needs the `pyarrow` package). Text and bytes columns are Arrow
        large_string / large_binary arrays over the buffers the native decoder filled, and
        req_id and host are taken from one value per buffer: no Python object per row."""
        require("pyarrow", what="to_arrow")
        return self._arrow(sources, views=False)

    def _arrow(self, sources: Source | Sequence[Source], views: bool) -> pyarrow.Table:
        """`to_arrow`; with `views`, text columns (and req_id, host) are Arrow string views,
        which polars takes without copying."""
        import pyarrow as pa

        decoded, responses = self._decode(sources, raw=True)
        rows = decoded.pop("_buffer")
        req_ids = [r.decode(errors="replace") if r else None for r in decoded.pop("_req_ids")]
        arrays: dict[str, Any] = {"req_id": _per_buffer(req_ids, rows, views)}
        if responses and all(r is not None for r in responses):
            arrays["host"] = _per_buffer([r.host for r in responses if r is not None], rows, views)
        for name, (kind, values, valid, timedelta) in decoded.items():
            if timedelta:
                values = (values * 10).astype("timedelta64[ms]")
            if kind in ("int", "uint"):
                arrays[name] = pa.array(values, mask=None if valid.all() else ~valid)
                continue
            offsets, data = values
            nulls = len(valid) - int(np.count_nonzero(valid))
            bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
            view_records = native.string_views(offsets, data) if views and kind == "text" else None
            if view_records is not None:
                buffers = [bitmap, pa.py_buffer(view_records), pa.py_buffer(data)]
                arrays[name] = pa.Array.from_buffers(pa.string_view(), len(valid), buffers, null_count=nulls)
            else:
                arrays[name] = pa.Array.from_buffers(
                    pa.large_string() if kind == "text" else pa.large_binary(),
                    len(valid),
                    [bitmap, pa.py_buffer(offsets), pa.py_buffer(data)],
                    null_count=nulls,
                )
        return pa.table(arrays)

    def to_polars(self, sources: Source | Sequence[Source]) -> polars.DataFrame:
        """A polars DataFrame (needs the `polars` and `pyarrow` packages)."""
        require("polars", "pyarrow", what="to_polars")
        import polars as pl
        import pyarrow as pa

        # polars 1 keeps text as string views: given them, it copies nothing (pyarrow >= 16).
        views = hasattr(pa, "string_view") and int(pl.__version__.split(".")[0]) >= 1
        return pl.from_arrow(self._arrow(sources, views), rechunk=False)  # type: ignore[return-value]


@dataclass(frozen=True)
class Table(_Frames):
    """A table: index fields and columns. Rows are outer-joined on (buffer, index)."""

    index: tuple[IndexField, ...]
    columns: tuple[Column, ...]

    def __init__(self, index: Iterable[IndexField], columns: Iterable[Column]) -> None:
        object.__setattr__(self, "index", tuple(index))
        object.__setattr__(self, "columns", tuple(columns))
        names = [f.name for f in self.index] + [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates or not self.columns:
            from snmp_stream.errors import InvalidSpecError

            problem = f"duplicate names {duplicates}" if duplicates else "no columns"
            raise InvalidSpecError(f"table spec has {problem}")

    @property
    def oids(self) -> list[str]:
        """The column OIDs, to walk (or GET with index ranges)."""
        return [c.oid for c in self.columns]

    def _decode(
        self, sources: Source | Sequence[Source], raw: bool = False
    ) -> tuple[dict[str, Any], list[SnmpResponse | None]]:
        responses, buffers = _inputs(sources)
        rows, req_ids, decoded = native.parse_table(
            [(f.name, f.field, f.length, f.value.kind) for f in self.index],
            [(c.name, c.oid, c.value.kind) for c in self.columns],
            buffers,
            raw,
        )
        timedeltas = {f.name for f in self.index if f.value.timedelta} | {
            c.name for c in self.columns if c.value.timedelta
        }
        out: dict[str, Any] = {"_buffer": rows, "_req_ids": req_ids}
        for name, kind, values, valid in decoded:
            out[name] = (kind, values, valid, name in timedeltas)
        return out, responses


class Varbinds(_Frames):
    """The long format: one row per varbind of any buffers, no table spec needed. Columns:
    `req_id`, `host` (for responses), `oid` (`.1.3...`), `root` (the walked or got OID),
    `index` (the sub-ids after the root, `2.1`; empty for none), `type` (net-snmp's name),
    `value` (text: numbers in decimal, OIDs and IpAddress dotted, readable strings as they are,
    other octets in hex; null for NULL and the exceptions), `value_int` (INTEGER), `value_uint`
    (Counter32, Gauge32, Timeticks, UInteger32, Counter64) and `value_bytes` (OCTET STRING and
    Opaque octets). The same rows as PostgreSQL's `snmp_varbinds`. Use the instance `VARBINDS`
    or `snmp_stream.to_pandas` / `to_arrow` / `to_polars` / `to_numpy`."""

    def _decode(
        self, sources: Source | Sequence[Source], raw: bool = False
    ) -> tuple[dict[str, Any], list[SnmpResponse | None]]:
        responses, buffers = _inputs(sources)
        rows, req_ids, decoded = native.parse_varbinds(buffers, raw)
        out: dict[str, Any] = {"_buffer": rows, "_req_ids": req_ids}
        for name, kind, values, valid in decoded:
            out[name] = (kind, values, valid, False)
        return out, responses


VARBINDS = Varbinds()
"""The long format (`Varbinds`): `VARBINDS.to_pandas(responses)` and the other ways out."""


def to_pandas(sources: Source | Sequence[Source], dtype_backend: str = "numpy_nullable") -> pandas.DataFrame:
    """Any responses (or buffers) as one long DataFrame, a row per varbind (`Varbinds`);
    `dtype_backend="pyarrow"` for Arrow-backed columns (see `Table.to_pandas`)."""
    return VARBINDS.to_pandas(sources, dtype_backend)


def to_arrow(sources: Source | Sequence[Source]) -> pyarrow.Table:
    """Any responses (or buffers) as one long pyarrow Table, a row per varbind (`Varbinds`)."""
    return VARBINDS.to_arrow(sources)


def to_polars(sources: Source | Sequence[Source]) -> polars.DataFrame:
    """Any responses (or buffers) as one long polars DataFrame, a row per varbind (`Varbinds`)."""
    return VARBINDS.to_polars(sources)


def to_numpy(sources: Source | Sequence[Source]) -> dict[str, np.ndarray[Any, Any]]:
    """Any responses (or buffers) as long numpy columns, a row per varbind (`Varbinds`)."""
    return VARBINDS.to_numpy(sources)


def rates(
    previous: RateSource | Sequence[RateSource],
    current: RateSource | Sequence[RateSource],
    max_rate: float | None = None,
) -> pandas.DataFrame:
    """Per-second rates of the Counter32 and Counter64 varbinds of two polls (responses, or
    `(host, buffer)` pairs, or plain buffers), computed natively: a row per counter of
    `current`, matched with `previous` by host and OID. Columns: `host`, `oid`, `root`,
    `index`, `type`, `previous`, `current`, `delta` (a Counter32 that went down wrapped: 2^32
    added), `seconds` (between the two samples' arrival times), `rate` (`delta / seconds`) and
    `discontinuity`. At a discontinuity `delta` and `rate` are null, not a spike, and
    `discontinuity` says why: `restart` (the agent's sysUpTime.0, when both polls have it,
    shows it restarted: every counter of that agent started again), `backwards` (a Counter64
    went down: reset), `above_max_rate` (with `max_rate`: e.g. a Counter32 reset that looks
    like a wrap), `no_previous`, `type_changed`, `no_time`. For a table, pivot it:
    `rates(...).pivot(index=["host", "index"], columns="root", values="rate")`."""
    require("pandas", what="rates")
    import pandas as pd

    def poll(sources: RateSource | Sequence[RateSource]) -> list[tuple[str, Any]]:
        single = _is_single(sources) or (isinstance(sources, tuple) and isinstance(sources[0], str))
        items: list[Any] = [sources] if single else list(sources)  # type: ignore[arg-type]
        out: list[tuple[str, Any]] = []
        for item in items:
            if isinstance(item, SnmpResponse):
                out.append((item.host, item.results))
            elif isinstance(item, tuple):
                out.append((str(item[0]), item[1]))
            else:
                out.append(("", item))
        return out

    before, after = poll(previous), poll(current)
    rows, columns = native.counter_rates(before, after, max_rate)
    data = dict(columns)
    hosts = np.array([host for host, _ in after], dtype=object)
    frame: dict[str, Any] = {"host": hosts[rows] if len(hosts) else np.array([], dtype=object)}
    for name in ("oid", "root", "index", "type", "previous", "current"):
        frame[name] = data[name]
    frame["delta"] = pd.arrays.IntegerArray(data["delta"], ~data["delta_valid"])
    frame["seconds"] = data["seconds"]
    frame["rate"] = pd.array(data["rate"], dtype="Float64")
    frame["discontinuity"] = data["discontinuity"]
    return pd.DataFrame(frame)


def _per_buffer(values: list[str | None], rows: npt.NDArray[np.uint32], views: bool) -> Any:
    """An Arrow text column with one value per buffer (req_id, host), row by row, taken by
    index: no Python object per row."""
    import pyarrow as pa

    if not views:
        return pa.array(values, pa.string()).take(pa.array(rows))
    # Arrow's `take` has no string-view kernel: index the views themselves.
    per_buffer = pa.array(values, pa.large_string())
    offsets = np.frombuffer(per_buffer.buffers()[1], dtype=np.int64)[: len(values) + 1]
    data = np.frombuffer(per_buffer.buffers()[2] or b"", dtype=np.uint8)
    records = native.string_views(offsets.copy(), data.copy())
    if records is None:
        return pa.array(values, pa.string()).take(pa.array(rows))
    valid = np.array([v is not None for v in values], dtype=bool)[rows]
    nulls = len(rows) - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    views_by_row = records.reshape(-1, 16)[rows].reshape(-1)
    buffers = [bitmap, pa.py_buffer(views_by_row), pa.py_buffer(data.copy())]
    return pa.Array.from_buffers(pa.string_view(), len(rows), buffers, null_count=nulls)


def _inputs(sources: Source | Sequence[Source]) -> tuple[list[SnmpResponse | None], list[Any]]:
    """The sources' responses (None for a bare buffer) and their buffers."""
    items: list[Source] = [sources] if _is_single(sources) else list(sources)  # type: ignore[list-item,arg-type]
    responses = [s if isinstance(s, SnmpResponse) else None for s in items]
    return responses, [s.results if isinstance(s, SnmpResponse) else s for s in items]


def _is_single(sources: object) -> bool:
    return isinstance(sources, (SnmpResponse, bytes)) or (
        isinstance(sources, np.ndarray) and sources.ndim == 1
    )


def _sources(
    rows: npt.NDArray[np.uint32], req_ids: list[bytes], responses: list[SnmpResponse | None]
) -> dict[str, np.ndarray[Any, Any]]:
    """The per-row source columns: req_id (from the buffers) and, for responses, host."""
    ids = np.array([r.decode(errors="replace") if r else None for r in req_ids], dtype=object)
    out: dict[str, np.ndarray[Any, Any]] = {"req_id": ids[rows] if len(ids) else np.array([], dtype=object)}
    if responses and all(r is not None for r in responses):
        hosts = np.array([r.host for r in responses if r is not None], dtype=object)
        out["host"] = hosts[rows]
    return out


# --- declared tables (YAML / JSON) ------------------------------------------------------------

VALUE_TYPES: dict[str, ValueType] = {
    "integer": INTEGER,
    "unsigned": UNSIGNED,
    "counter32": COUNTER32,
    "gauge32": GAUGE32,
    "counter64": COUNTER64,
    "timeticks": TIMETICKS,
    "timedelta": TIMEDELTA,
    "bytes": BYTES,
    "utf8": UTF8,
    "string": UTF8,
    "hex": HEX,
    "mac": MAC,
    "ip_address": IP_ADDRESS,
    "inet_address": INET_ADDRESS,
    "oid": OID,
}
"""Value type names for declared tables."""

INDEX_TYPES = {
    "integer": integer,
    "string": string,
    "implied_string": implied_string,
    "ip_address": ip_address,
    "inet_address": inet_address,
    "mac": mac,
    "oid": oid,
    "implied_oid": implied_oid,
}
"""Index field type names for declared tables (plus `fixed_string(N)` and `octets(N)`)."""


def _index_field(name: str, kind: object, where: str) -> IndexField:
    from snmp_stream.errors import InvalidSpecError

    text = str(kind).strip().lower()
    if text in INDEX_TYPES:
        return INDEX_TYPES[text](name)
    for prefix, value in (("fixed_string(", UTF8), ("octets(", BYTES)):
        if text.startswith(prefix) and text.endswith(")") and text[len(prefix) : -1].isdigit():
            return octets(name, int(text[len(prefix) : -1]), value)
    known = ", ".join([*INDEX_TYPES, "fixed_string(N)", "octets(N)"])
    raise InvalidSpecError(f"{where}: index field {name!r} has unknown type {kind!r} (known: {known})")


def table_from_dict(spec: object, where: str = "table") -> Table:
    """A table from its declaration (as in a YAML `--tables` file):

    ```yaml
    index: {cpmCPUTotalIndex: integer}           # in INDEX order
    columns:
      cpmCPUTotal5minRev: [1.3.6.1.4.1.9.9.109.1.1.1.1.8, gauge32]
      cpmCPUMemoryUsed:   [1.3.6.1.4.1.9.9.109.1.1.1.1.12, gauge32]
    ```
    Index types: integer, string, implied_string, fixed_string(N), octets(N), ip_address,
    inet_address, mac, oid, implied_oid; value types: the keys of `VALUE_TYPES`. Errors
    (`InvalidSpecError`) name `where` and the bad entry."""
    from snmp_stream.errors import InvalidSpecError

    if not isinstance(spec, dict):
        raise InvalidSpecError(f"{where}: expected a mapping with 'index' and 'columns'")
    unknown = set(spec) - {"index", "columns"}
    if unknown:
        raise InvalidSpecError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    index = spec.get("index") or {}
    columns = spec.get("columns")
    if not isinstance(index, dict) or not isinstance(columns, dict) or not columns:
        raise InvalidSpecError(f"{where}: 'index' and 'columns' must be mappings (name: type / [oid, type])")
    fields = [_index_field(str(name), kind, where) for name, kind in index.items()]
    out = []
    for name, entry in columns.items():
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            raise InvalidSpecError(f"{where}: column {name!r} must be [oid, type], not {entry!r}")
        column_oid, kind = entry
        value = VALUE_TYPES.get(str(kind).strip().lower())
        if value is None:
            known = ", ".join(VALUE_TYPES)
            raise InvalidSpecError(f"{where}: column {name!r} has unknown type {kind!r} (known: {known})")
        try:
            out.append(column(str(name), str(column_oid), value))
        except ValueError as error:
            raise InvalidSpecError(f"{where}: column {name!r}: {error}") from None
    return Table(fields, out)


def tables_from_dict(specs: object, where: str = "tables") -> dict[str, Table]:
    """Tables by name from `{name: declaration}` (or `{"tables": {...}}`); see `table_from_dict`."""
    from snmp_stream.errors import InvalidSpecError

    if isinstance(specs, dict) and set(specs) == {"tables"}:
        specs = specs["tables"]
    if not isinstance(specs, dict) or not specs:
        raise InvalidSpecError(f"{where}: expected a mapping of table names to declarations")
    return {str(name).lower(): table_from_dict(spec, f"{where}: {name}") for name, spec in specs.items()}
