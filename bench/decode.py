"""decode1m: result buffers into a DataFrame, natively and in pure Python (used by run.py).

Runs inside bench/.venv through run.py's driver (`--driver SPEC`, mode "decode"):

- `collect(spec)`: walks the delayed agents' 5-column table once with snmp-stream and saves the
  buffers to `spec["path"]` (every timed client then loads the same bytes);
- one function per timed client: each loads the buffers (untimed), prepares its input and
  warms pandas up (untimed), converts once (timed: wall and CPU around the conversion only),
  then summarizes its output (untimed) so that the orchestrator can check that every client
  produced the same table.

Buffer file: b"SSBUFS1\\n", u32 count, then per buffer a u64 length and the bytes (all little-endian).
"""
from __future__ import annotations

import hashlib
import struct
import time
from typing import Any

from measure import cpu_seconds as _cpu
from measure import rss_kb as _rss_kb
from measure import settle as _settle

TABLE_ENTRY = "1.3.6.1.4.1.99999.1.1"
INDEX_NAME = "row"
# (name, column OID, native value type, pandas dtype of the native to_pandas frame)
COLUMNS = [
    ("rowInt", f"{TABLE_ENTRY}.1", "INTEGER", "Int64"),
    ("rowText", f"{TABLE_ENTRY}.2", "UTF8", None),
    ("counter32", f"{TABLE_ENTRY}.3", "COUNTER32", "UInt64"),
    ("counter64", f"{TABLE_ENTRY}.4", "COUNTER64", "UInt64"),
    ("gauge32", f"{TABLE_ENTRY}.5", "GAUGE32", "UInt64"),
]
COLUMN_OIDS = [oid for _, oid, _, _ in COLUMNS]
# What the Python clients cast to, so that their frame has the native frame's dtypes.
PY_DTYPES = {INDEX_NAME: "UInt64", **{name: dtype for name, _, _, dtype in COLUMNS if dtype}}
FILE_MAGIC = b"SSBUFS1\n"

NATIVE_NUMPY = "snmp-stream to_numpy (native)"
NATIVE_PANDAS = "snmp-stream to_pandas (native)"
NATIVE_ARROW = "snmp-stream to_arrow (native)"
NATIVE_POLARS = "snmp-stream to_polars (native)"
NATIVE_PANDAS_ARROW = "snmp-stream to_pandas(dtype_backend=\"pyarrow\")"
NATIVE = (NATIVE_NUMPY, NATIVE_PANDAS, NATIVE_ARROW, NATIVE_POLARS, NATIVE_PANDAS_ARROW)
PY_STRUCT = "pure Python struct decode -> pandas"
PY_TUPLES = "(oid, value) tuples -> pandas"


def record_count(buffer: Any) -> int:
    return int.from_bytes(bytes(buffer[16:20]), "little")


def table():
    from snmp_stream import parse as p

    return p.Table(index=[p.integer(INDEX_NAME)],
                   columns=[p.column(name, oid, getattr(p, kind)) for name, oid, kind, _ in COLUMNS])


# --- the buffer file -------------------------------------------------------------------------------

def save_buffers(path: str, buffers: list[bytes]) -> int:
    with open(path, "wb") as f:
        f.write(FILE_MAGIC + struct.pack("<I", len(buffers)))
        for buffer in buffers:
            f.write(struct.pack("<Q", len(buffer)))
            f.write(buffer)
        return f.tell()


def load_buffers(path: str) -> list[bytes]:
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(FILE_MAGIC):
        raise RuntimeError(f"{path}: not a buffer file")
    (count,), offset, out = struct.unpack_from("<I", data, len(FILE_MAGIC)), len(FILE_MAGIC) + 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<Q", data, offset)
        out.append(data[offset + 8:offset + 8 + length])
        offset += 8 + length
    if offset != len(data):
        raise RuntimeError(f"{path}: {len(data) - offset} bytes left over")
    return out


# --- collection (once) -----------------------------------------------------------------------------

def collect(spec: dict) -> dict:
    import snmp_stream

    config = {"max_var_binds_per_pdu": spec["budget"], "timeout": spec["timeout"], "retries": spec["retries"],
              "max_sessions": len(spec["hosts"])}
    cpu, wall = _cpu(), time.perf_counter()
    responses = snmp_stream.walk_many(spec["hosts"], "public", COLUMN_OIDS, config=config)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    bad = [f"{r.host}: {r.status} {r.errors[:2]}" for r in responses if r.status != snmp_stream.SUCCESSFUL]
    if bad:
        raise RuntimeError(f"walks failed: {bad[:2]}")
    buffers = [r.results.tobytes() for r in responses]
    per_buffer = [record_count(b) for b in buffers]
    size = save_buffers(spec["path"], buffers)
    result = {"wall": wall, "cpu": cpu, "varbinds": sum(per_buffer), "per_buffer": per_buffer, "file_bytes": size,
              "buffer_bytes": sum(len(b) for b in buffers)}
    # What gufo-snmp's getbulk really yields for this table: a few (oid, value) pairs of one agent,
    # to check that the tuples client is fed the same shapes.
    try:
        from gufo.snmp import SnmpVersion
        from gufo.snmp.sync.client import SnmpSession
    except ImportError as error:
        result["gufo_sample"] = f"gufo-snmp not importable: {error}"
        return result
    address, _, port = spec["hosts"][0].rpartition(":")
    sample = []
    with SnmpSession(addr=address, port=int(port), community="public", version=SnmpVersion.v2c, timeout=5.0,
                     max_repetitions=10) as session:
        for oid in (COLUMN_OIDS[0], COLUMN_OIDS[1], COLUMN_OIDS[3]):
            for item in session.getbulk(oid):
                sample.append(item)
                break
    result["gufo_sample"] = [[oid, repr(value)] for oid, value in sample]
    return result


# --- pure Python decoding (docs/FORMAT.md), what a client with one object per varbind does ----------

HEAD = struct.Struct("<4sBBHQIII")
RECORD = struct.Struct("<HBBI")
U32 = struct.Struct("<I")


def py_decode(buffer: bytes) -> tuple[str, list[str], list[tuple[tuple[int, ...], int, Any]]]:
    """One buffer -> (req_id, root OIDs, [(index sub-ids, root number, value), ...]): one Python
    tuple per varbind, values as Python objects (int, str for OCTET STRING)."""
    magic, version, _kind, _reserved, _start, records, roots_count, id_len = HEAD.unpack_from(buffer, 0)
    if magic != b"SNMS" or version != 1:
        raise ValueError(f"not a version 1 buffer: {magic!r} {version}")
    offset = HEAD.size
    req_id = buffer[offset:offset + id_len].decode("utf-8", "replace")
    offset += id_len
    roots = []
    for _ in range(roots_count):
        n = buffer[offset]
        roots.append(".".join(map(str, struct.unpack_from(f"<{n}I", buffer, offset + 1))))
        offset += 1 + 4 * n
    index_structs = [struct.Struct(f"<{n}I") for n in range(129)]
    unpack_record, unpack_u32 = RECORD.unpack_from, U32.unpack_from
    unpack_i32, unpack_i64, unpack_u64 = struct.Struct("<i").unpack_from, struct.Struct("<q").unpack_from, \
        struct.Struct("<Q").unpack_from
    out = []
    append = out.append
    for _ in range(records):
        root, tag, index_len, _ms = unpack_record(buffer, offset)
        offset += 8
        index = index_structs[index_len].unpack_from(buffer, offset)
        offset += 4 * index_len
        (length,) = unpack_u32(buffer, offset)
        offset += 4
        if tag == 0x04:
            value: Any = buffer[offset:offset + length].decode("utf-8", "replace")
        elif tag in (0x41, 0x42, 0x43, 0x47):
            (value,) = unpack_u32(buffer, offset)
        elif tag == 0x02:
            (value,) = unpack_i32(buffer, offset) if length == 4 else unpack_i64(buffer, offset)
        elif tag == 0x46:
            (value,) = unpack_u64(buffer, offset)
        elif tag in (0x05, 0x80, 0x81):
            value = None
        else:
            value = buffer[offset:offset + length]
        offset += length
        append((index, root, value))
    if offset != len(buffer):
        raise ValueError(f"{len(buffer) - offset} bytes left over")
    return req_id, roots, out


def _frame_from_rows(rows: dict) -> Any:
    import pandas as pd

    frame = pd.DataFrame(list(rows.values()), columns=["req_id", INDEX_NAME, *(name for name, *_ in COLUMNS)])
    return frame.astype(PY_DTYPES)


def py_struct_to_pandas(buffers: list[bytes]) -> tuple[Any, int, float]:
    """(b): decode every buffer in Python, then one dict per (req_id, index) row, then a DataFrame.
    Returns (frame, varbinds, seconds spent decoding)."""
    names = {oid: name for name, oid, *_ in COLUMNS}
    start = time.perf_counter()
    decoded = [py_decode(b) for b in buffers]
    decode_s = time.perf_counter() - start
    rows: dict = {}
    varbinds = 0
    for req_id, roots, records in decoded:
        root_names = [names.get(r) for r in roots]
        varbinds += len(records)
        for index, root, value in records:
            key = (req_id, index)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"req_id": req_id, INDEX_NAME: index[0] if len(index) == 1 else None}
            row[root_names[root]] = value
    return _frame_from_rows(rows), varbinds, decode_s


def make_tuples(buffers: list[bytes]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """(c)'s input, built untimed: per agent, the (oid, value) pairs gufo-snmp's getbulk yields
    (OID text without a leading dot, int for numbers, bytes for OCTET STRING)."""
    out = []
    for buffer in buffers:
        req_id, roots, records = py_decode(buffer)
        pairs = [(f"{roots[root]}.{'.'.join(map(str, index))}", value.encode() if isinstance(value, str) else value)
                 for index, root, value in records]
        out.append((req_id, pairs))
    return out


def tuples_to_pandas(per_host: list[tuple[str, list[tuple[str, Any]]]]) -> tuple[Any, int]:
    """(c): split each OID into column and index, decode the strings, one dict per row, DataFrame."""
    names = {oid: name for name, oid, *_ in COLUMNS}
    rows: dict = {}
    varbinds = 0
    for host, pairs in per_host:
        varbinds += len(pairs)
        for oid, value in pairs:
            column, _, index = oid.rpartition(".")  # a one-sub-id index: the column is the rest
            name = names.get(column)
            if name is None:
                continue
            key = (host, index)
            row = rows.get(key)
            if row is None:
                row = rows[key] = {"req_id": host, INDEX_NAME: int(index)}
            row[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return _frame_from_rows(rows), varbinds


# --- checking: every client's output summarized the same way ------------------------------------------

def _column_parts(values: Any) -> tuple[str, Any, Any]:
    """("int", uint64 values with nulls as 0, null mask) or ("obj", list, None)."""
    import numpy as np

    if hasattr(values, "dtype") and hasattr(values, "isna"):  # a pandas Series
        kind = getattr(values.dtype, "kind", "O")
        if kind in "iu":
            mask = values.isna().to_numpy()
            raw = values.to_numpy(dtype="uint64" if kind == "u" else "int64", na_value=0)
            return "int", raw.astype(np.uint64), mask
        return "obj", [None if v is None or v is _na() else v for v in values.tolist()], None
    if isinstance(values, np.ma.MaskedArray):
        return "int", values.filled(0).astype(np.uint64), np.ma.getmaskarray(values)
    if values.dtype.kind in "iu":
        return "int", values.astype(np.uint64), np.zeros(len(values), dtype=bool)
    return "obj", values.tolist(), None


def _na() -> Any:
    try:
        import pandas as pd

        return pd.NA
    except ImportError:
        return None


def summarize(columns: dict[str, Any]) -> dict:
    """Shape, dtypes, a digest per column over the rows sorted by (req_id, row), and a few rows."""
    import numpy as np

    parts = {name: _column_parts(values) for name, values in columns.items()}
    ids = parts["req_id"][1]
    rows = len(ids)
    _, codes = np.unique(np.array([i if i is not None else "" for i in ids], dtype=object), return_inverse=True)
    order = np.lexsort((parts[INDEX_NAME][1], codes))
    digests, sample = {}, []
    picks = sorted({0, rows // 3, rows // 2, (2 * rows) // 3, rows - 1}) if rows else []
    for name, (kind, values, mask) in parts.items():
        digest = hashlib.sha256()
        if kind == "int":
            values, mask = values[order], mask[order]
            digest.update(values.tobytes())
            digest.update(mask.tobytes())
            shown = [None if mask[i] else int(values[i]) for i in picks]
        else:
            ordered = [values[i] for i in order]
            digest.update("\x1f".join("\x00" if v is None else str(v) for v in ordered).encode())
            shown = [ordered[i] for i in picks]
        digests[name] = digest.hexdigest()[:16]
        sample.append(shown)
    dtypes = {name: str(getattr(v, "dtype", type(v).__name__)) for name, v in columns.items()}
    return {"rows": rows, "columns": list(columns), "digests": digests, "dtypes": dtypes,
            "sample": [list(r) for r in zip(*sample)]}


def _warm_pandas() -> None:
    """pandas imports parts of itself lazily on first use: build two tiny frames the ways the
    clients do, untimed, so that the timed conversion does not pay for it."""
    import numpy as np
    import pandas as pd

    pd.DataFrame({"a": pd.arrays.IntegerArray(np.array([1], dtype=np.int64), np.array([False])),
                  "b": np.array(["x"], dtype=object)})
    pd.DataFrame([{"a": 1, "b": "x"}], columns=["a", "b"]).astype({"a": "Int64"})


# --- the timed clients ---------------------------------------------------------------------------------

def convert(spec_table: Any, client: str, inputs: Any) -> Any:
    """One of the native ways out of the parser."""
    if client == NATIVE_NUMPY:
        return spec_table.to_numpy(inputs)
    if client == NATIVE_PANDAS:
        return spec_table.to_pandas(inputs)
    if client == NATIVE_ARROW:
        return spec_table.to_arrow(inputs)
    if client == NATIVE_POLARS:
        return spec_table.to_polars(inputs)
    return spec_table.to_pandas(inputs, dtype_backend="pyarrow")


def run_client(spec: dict) -> dict:
    import gc

    client = spec["client"]
    buffers = load_buffers(spec["path"])
    expected = sum(record_count(b) for b in buffers)
    extra: dict = {}
    if client in NATIVE:
        import numpy as np

        inputs: Any = [np.frombuffer(b, dtype=np.uint8) for b in buffers]  # what a response's .results is
        spec_table = table()
        spec_table.to_numpy(inputs[:1])  # untimed warm-up (first call, allocator), on one buffer
        if client != NATIVE_NUMPY:
            _warm_pandas()
            convert(spec_table, client, inputs[:1])
    elif client == PY_STRUCT:
        _warm_pandas()
        inputs = buffers
    elif client == PY_TUPLES:
        _warm_pandas()
        inputs = make_tuples(buffers)
        del buffers
    else:
        raise ValueError(f"unknown decode client {client!r}")
    gc.collect()
    _settle()
    base = _rss_kb()
    cpu, wall = _cpu(), time.perf_counter()
    if client in NATIVE:
        out: Any = convert(spec_table, client, inputs)
        varbinds = expected
    elif client == PY_STRUCT:
        out, varbinds, extra["decode_s"] = py_struct_to_pandas(inputs)
    else:
        out, varbinds = tuples_to_pandas(inputs)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    after = _rss_kb()
    if client in (NATIVE_ARROW, NATIVE_POLARS):  # summarized as Arrow-backed pandas columns (untimed)
        import pandas as pd

        out = (out if client == NATIVE_ARROW else out.to_arrow()).to_pandas(types_mapper=pd.ArrowDtype)
    columns = dict(out) if isinstance(out, dict) else {name: out[name] for name in out.columns}
    return {"wall": wall, "cpu": cpu, "varbinds": varbinds, "expected": expected, "rss_base_kb": base,
            "rss_after_kb": after, **extra, "summary": summarize(columns)}
