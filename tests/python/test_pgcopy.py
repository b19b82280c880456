"""PostgreSQL binary COPY data written natively (`copy_table`, `copy_varbinds`), loaded into a real
PostgreSQL and read back: the oracle is PostgreSQL's own binary input functions, and the rows must
equal what the parser (`Table.to_pandas`) and `decode_varbinds` make of the same buffers."""

from __future__ import annotations

import struct
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import snmp_stream
from conftest import Agent, assert_gil_released
from servers import Postgres
from snmp_stream import _snmp_stream as native
from snmp_stream import parse as p
from snmp_stream import recipes

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden" / "all-types-v1.bin"
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
TICK = timedelta(microseconds=10_000)  # TimeTicks are hundredths of a second


@pytest.fixture
def db(postgres: Postgres) -> Iterator[Any]:
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        yield connection


# --- helpers -------------------------------------------------------------------------------------


def spec(table: p.Table) -> tuple[list[tuple[str, str, int | str, str]], list[tuple[str, str, str]]]:
    """The (index, columns) arguments of the native functions, as `Table._decode` builds them."""
    return (
        [(f.name, f.field, f.length, f.value.kind) for f in table.index],
        [(c.name, c.oid, c.value.kind) for c in table.columns],
    )


def pg_type(value: p.ValueType, index: bool = False) -> str:
    """The PostgreSQL type for a field: the natural one for each decoded kind."""
    if index and value.kind == "integer":
        return "bigint"  # index integers are unsigned sub-ids
    return {
        "integer": "integer",
        "unsigned": "bigint",
        "counter64": "numeric",
        "timeticks": "interval",
        "bytes": "bytea",
    }.get(value.kind, "text")


SQL_TYPES = {"numeric": "numeric(20,0)"}


def load(db: Any, name: str, columns: Sequence[tuple[str, str]], data: npt.NDArray[np.uint8]) -> list[Any]:
    """Creates table `name` with `columns` (name, type) after a serial `n`, COPYs `data` in (binary)
    and returns the rows in COPY order, without `n`."""
    names = sql.SQL(", ").join(sql.Identifier(column) for column, _ in columns)
    definitions = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(SQL_TYPES.get(kind, kind)))
        for column, kind in columns
    )
    with db.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(
            sql.SQL("CREATE TABLE {} (n bigserial PRIMARY KEY, {})").format(sql.Identifier(name), definitions)
        )
        copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(name), names)
        with cursor.copy(copy) as writer:
            writer.write(memoryview(data))
        cursor.execute(sql.SQL("SELECT {} FROM {} ORDER BY n").format(names, sql.Identifier(name)))
        return cursor.fetchall()


def start_time(buffer: npt.NDArray[np.uint8] | bytes) -> datetime:
    """The buffer header's start_us (docs/FORMAT.md: u64 LE at byte 8) as a datetime."""
    (start_us,) = struct.unpack_from("<Q", bytes(buffer[8:16]))
    return UNIX_EPOCH + timedelta(microseconds=start_us)


def ticks(interval: timedelta) -> int:
    hundredths, rest = divmod(interval, TICK)
    assert rest == timedelta(0), interval
    return int(hundredths)


def from_db(value: Any) -> Any:
    """A value read back, as the parser gives it: numbers as int (numeric must be integral),
    intervals as TimeTicks."""
    if isinstance(value, Decimal):
        assert value == value.to_integral_value(), value
        return int(value)
    if isinstance(value, timedelta):
        return ticks(value)
    return value


def from_frame(value: Any) -> Any:
    return None if value is None or value is pd.NA else value


def result_buffer(
    roots: Sequence[Sequence[int]],
    records: Sequence[tuple[int, int, Sequence[int], bytes]],
    req_id: bytes = b"",
    start_us: int = 1_700_000_000_123_456,
) -> bytes:
    """A WALK result buffer written by hand from docs/FORMAT.md (an independent writer):
    records are (root index, type tag, index sub-ids, value bytes)."""
    out = b"SNMS" + struct.pack("<BBHQIII", 1, 1, 0, start_us, len(records), len(roots), len(req_id))
    out += req_id
    for root in roots:
        out += struct.pack(f"<B{len(root)}I", len(root), *root)
    for root_index, tag, index, value in records:
        out += struct.pack(f"<HBBI{len(index)}II", root_index, tag, len(index), 0, *index, len(value))
        out += value
    return out


# --- copy_table ----------------------------------------------------------------------------------


def test_prefix_columns_are_declared_once() -> None:
    assert native.COPY_PREFIX_COLUMNS == [
        ("result_id", "text"),
        ("host", "text"),
        ("req_id", "text"),
        ("collected_at", "timestamptz"),
    ]
    assert native.COPY_VARBIND_COLUMNS[:4] == native.COPY_PREFIX_COLUMNS
    assert native.COPY_VARBIND_COLUMNS[4:] == [
        ("oid", "text"),
        ("root", "text"),
        ("index", "text"),
        ("type", "text"),
        ("value", "text"),
        ("value_bytes", "bytea"),
    ]


@pytest.mark.parametrize("name", ["INTERFACES", "IP_NET_TO_PHYSICAL", "INET_CIDR_ROUTE", "SYSTEM"])
def test_copy_table_loads_what_the_parser_decodes(agent: Agent, db: Any, name: str) -> None:
    table: p.Table = getattr(recipes, name)
    hosts = [agent.host, agent.host6]
    if table is recipes.SYSTEM:
        responses = snmp_stream.get_many(hosts, "public", table.oids)
    else:
        responses = snmp_stream.walk_many(hosts, "public", table.oids)
    assert all(r.status == "successful" for r in responses), responses
    buffers = [r.results for r in responses]
    index, columns = spec(table)
    fields = [(f.name, pg_type(f.value, index=True)) for f in table.index]
    fields += [(c.name, pg_type(c.value)) for c in table.columns]
    result_ids = [f"result-{i}" for i in range(len(buffers))]
    data = native.copy_table(index, columns, [t for _, t in fields], buffers, result_ids, hosts)
    assert data.dtype == np.uint8 and data.ndim == 1

    rows = load(db, f"copy_{name.lower()}", [*native.COPY_PREFIX_COLUMNS, *fields], data)
    frame = table.to_pandas(responses)
    buffer_of_row = native.parse_table(index, columns, buffers)[0]
    assert len(rows) == len(frame) > 0
    got = {
        column: [row[i] for row in rows]
        for i, (column, _) in enumerate([*native.COPY_PREFIX_COLUMNS, *fields])
    }
    assert got["result_id"] == [result_ids[b] for b in buffer_of_row]
    assert got["host"] == list(frame["host"])
    assert got["req_id"] == list(frame["req_id"]) == got["host"]  # walk_many: the host is the req_id
    assert got["collected_at"] == [start_time(buffers[b]) for b in buffer_of_row]
    for column, kind in fields:
        expected = [from_frame(v) for v in frame[column]]
        assert [from_db(v) for v in got[column]] == expected, column
        if kind in ("numeric", "interval"):
            assert any(v is not None for v in expected), f"{column}: no value proves the {kind} path"


def test_numeric_bigint_integer_and_interval_edges_round_trip(db: Any) -> None:
    counter64, integer, timeticks = [1, 3, 6, 1, 9, 1], [1, 3, 6, 1, 9, 2], [1, 3, 6, 1, 9, 3]
    big = [0, 1, 9999, 10_000, 12_345_678, 10**8, 10**8 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
    ints = [(0, 4, 0), (-5, 4, -5), (2**31 - 1, 4, 2**31 - 1), (-(2**31), 4, -(2**31))]
    ints += [(2**31, 8, None), (-(2**31) - 1, 8, None)]  # INTEGERs beyond i32: NULL as integer
    records = [(0, 0x46, [i], struct.pack("<Q", v)) for i, v in enumerate(big)]
    records += [
        (1, 0x02, [i], v.to_bytes(size, "little", signed=True)) for i, (v, size, _) in enumerate(ints)
    ]
    records += [(2, 0x43, [i], struct.pack("<I", v)) for i, v in enumerate([0, 12345, 2**32 - 1])]
    buffer = result_buffer([counter64, integer, timeticks], records, req_id=b"edge")
    table = p.Table(
        [p.integer("i")],
        [
            p.column("c64", counter64, p.COUNTER64),
            p.column("int", integer, p.INTEGER),
            p.column("ticks", timeticks, p.TIMETICKS),
        ],
    )
    index, columns = spec(table)
    fields = [("i", "bigint"), ("c64", "numeric"), ("int", "integer"), ("ticks", "interval")]
    data = native.copy_table(index, columns, [t for _, t in fields], [buffer], ["r"], ["h"])
    rows = load(db, "copy_edges", [*native.COPY_PREFIX_COLUMNS, *fields], data)
    assert [row[:4] for row in rows] == [("r", "h", "edge", start_time(buffer))] * len(big)
    assert [row[4] for row in rows] == list(range(len(big)))
    assert [row[5] for row in rows] == [Decimal(v) for v in big]
    assert [row[6] for row in rows] == [e for _, _, e in ints] + [None] * (len(big) - len(ints))
    assert [row[7] for row in rows[:3]] == [timedelta(0), timedelta(seconds=123.45), (2**32 - 1) * TICK]

    # The same values as bigint: NULL above 2**63 - 1.
    fields = [("i", "bigint"), ("c64", "bigint"), ("int", "bigint"), ("ticks", "bigint")]
    data = native.copy_table(index, columns, [t for _, t in fields], [buffer], ["r"], ["h"])
    rows = load(db, "copy_edges_bigint", [*native.COPY_PREFIX_COLUMNS, *fields], data)
    assert [row[5] for row in rows] == [v if v < 2**63 else None for v in big]
    assert [row[6] for row in rows][: len(ints)] == [v for v, _, _ in ints]
    assert [row[7] for row in rows][:3] == [0, 12345, 2**32 - 1]

    # The golden buffer's Counter64 2**64 - 2, and its start time.
    golden = GOLDEN.read_bytes()
    table = p.Table([p.integer("ifIndex")], [p.column("hc", "1.3.6.1.2.1.31.1.1.1.6", p.COUNTER64)])
    index, columns = spec(table)
    fields = [("ifIndex", "numeric"), ("hc", "numeric")]
    data = native.copy_table(index, columns, ["numeric", "numeric"], [golden], ["g"], ["h"])
    rows = load(db, "copy_golden", [*native.COPY_PREFIX_COLUMNS, *fields], data)
    assert rows == [("g", "h", "job-7", UNIX_EPOCH + timedelta(seconds=1_700_000_000), 1, 2**64 - 2)]


# --- copy_varbinds -------------------------------------------------------------------------------


def displayable(raw: bytes) -> bool:
    """UTF-8 without control characters (Unicode category Cc) other than tab, LF and CR."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in text)


def expected_varbinds(buffer: npt.NDArray[np.uint8] | bytes) -> list[tuple[Any, ...]]:
    """(oid, type, value text, value bytes) per record, from `decode_varbinds`' Python values."""
    out = []
    for oid, type_name, value in native.decode_varbinds(buffer):
        raw = value
        if value is None:
            text = None
        elif isinstance(value, int):
            text = str(value)
        elif type_name == "STRING":
            text = raw.decode() if displayable(raw) else raw.hex()
        elif isinstance(value, bytes):
            text = value.hex()
        else:
            text = value
        octets = raw if type_name in ("STRING", "Opaque") else None
        out.append((oid, type_name, text, octets))
    return out


def test_copy_varbinds_loads_every_record(agent: Agent, db: Any) -> None:
    walked = snmp_stream.walk(
        agent.host,
        "public",
        ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1", "1.3.6.1.2.1.4.20"],
        req_id="walk-1",
    )
    got = snmp_stream.get(agent.host, "public", [*recipes.SYSTEM.oids, "1.3.6.1.2.1.1.99.0"])
    buffers = [walked.results, got.results, GOLDEN.read_bytes()]
    data = native.copy_varbinds(buffers, ["w", "g", "golden"], [agent.host, agent.host, "golden-host"])
    rows = load(db, "copy_varbinds", native.COPY_VARBIND_COLUMNS, data)

    expected = [row for buffer in buffers for row in expected_varbinds(buffer)]
    assert len(rows) == len(expected) > 100
    counts = [len(native.decode_varbinds(b)) for b in buffers]
    assert [row[0] for row in rows] == [r for r, n in zip(["w", "g", "golden"], counts) for _ in range(n)]
    assert [row[2] for row in rows] == ["walk-1"] * counts[0] + [None] * counts[1] + ["job-7"] * counts[2]
    starts = [start_time(b) for b, n in zip(buffers, counts) for _ in range(n)]
    assert [row[3] for row in rows] == starts
    for row, (oid, type_name, text, octets) in zip(rows, expected):
        _, _, _, _, got_oid, root, index, got_type, value, value_bytes = row
        assert (got_oid, got_type, value, value_bytes) == (oid, type_name, text, octets), row
        assert got_oid == (f"{root}.{index}" if index else root)
        assert root.startswith(".1.3.6.1.") and not index.startswith(".")
    types = {row[7] for row in rows}
    # Walks, a GET (empty indexes, a noSuchObject) and the golden buffer cover every stored type.
    assert {"STRING", "OID", "Timeticks", "INTEGER", "Counter32", "Gauge32", "Counter64"} <= types
    assert {"IpAddress", "noSuchObject", "noSuchInstance"} <= types
    assert any(row[6] == "" for row in rows) and any("." in row[6] for row in rows)


def test_copy_releases_the_gil(agent: Agent) -> None:
    response = snmp_stream.walk(agent.host, "public", recipes.IF_X_TABLE.oids)
    buffers = [response.results] * 400
    ids, hosts = [str(i) for i in range(len(buffers))], [agent.host] * len(buffers)
    index, columns = spec(recipes.IF_X_TABLE)
    types = ["bigint"] + [pg_type(c.value) for c in recipes.IF_X_TABLE.columns]
    assert_gil_released(lambda: native.copy_table(index, columns, types, buffers, ids, hosts))
    assert_gil_released(lambda: native.copy_varbinds(buffers, ids, hosts))


# --- errors --------------------------------------------------------------------------------------


def test_bad_arguments_raise_the_package_exceptions() -> None:
    golden = GOLDEN.read_bytes()
    table = p.Table([p.integer("ifIndex")], [p.column("ifDescr", "1.3.6.1.2.1.2.2.1.2", p.UTF8)])
    index, columns = spec(table)

    def copy(types: list[str], buffers: list[bytes], ids: list[str], hosts: list[str]) -> Any:
        return native.copy_table(index, columns, types, buffers, ids, hosts)

    one = ([golden], ["r"], ["h"])
    with pytest.raises(
        snmp_stream.InvalidSpecError, match=r'unknown PostgreSQL type "int4" \(expected integer'
    ):
        copy(["int4", "text"], *one)
    with pytest.raises(
        snmp_stream.InvalidSpecError,
        match=r'column "ifIndex" holds unsigned integers, which cannot be written as integer '
        r"\(use bigint, numeric or interval\)",
    ):
        copy(["integer", "text"], *one)
    with pytest.raises(snmp_stream.InvalidSpecError, match=r'column "ifDescr" holds text.*\(use text\)'):
        copy(["bigint", "bytea"], *one)
    with pytest.raises(
        snmp_stream.InvalidSpecError, match="1 PostgreSQL types for 2 index fields and columns"
    ):
        copy(["bigint"], *one)
    with pytest.raises(
        snmp_stream.BufferFormatError, match=r"buffer 1: bad result buffer at byte \d+: truncated"
    ):
        copy(["bigint", "text"], [golden, golden[:40]], ["a", "b"], ["h", "h"])
    with pytest.raises(snmp_stream.BufferFormatError, match=r"buffer 0: .*format version 9"):
        native.copy_varbinds([golden[:4] + b"\x09" + golden[5:]], ["a"], ["h"])
    for call in (
        lambda: copy(["bigint", "text"], [golden], ["a", "b"], ["h"]),
        lambda: native.copy_varbinds([golden], ["a", "b"], ["h"]),
    ):
        with pytest.raises(ValueError, match="2 result_ids but 1 hosts") as raised:
            call()
        assert not isinstance(raised.value, snmp_stream.SnmpStreamError)
    for call in (
        lambda: copy(["bigint", "text"], [golden, golden], ["a"], ["h"]),
        lambda: native.copy_varbinds([golden, golden], ["a"], ["h"]),
    ):
        with pytest.raises(ValueError, match="2 buffers but 1 result ids and hosts") as raised:
            call()
        assert not isinstance(raised.value, snmp_stream.SnmpStreamError)
    with pytest.raises(TypeError, match="numpy uint8 array or bytes"):
        native.copy_varbinds(["not a buffer"], ["a"], ["h"])  # type: ignore[list-item]


def interfaces_walk(agent: Agent, db: Any, table: str, ids: str) -> snmp_stream.SnmpResponse:
    """A walk of the interfaces recipe, for the loader tests: `snmp_<table>` dropped and the
    claims of result ids starting with `ids` forgotten first (snmp_loaded outlives tests)."""
    response = snmp_stream.walk(agent.host, "public", recipes.INTERFACES.oids)
    assert response.status == "successful", response
    db.execute(f"DROP TABLE IF EXISTS snmp_{table}")
    if db.execute("SELECT to_regclass('snmp_loaded')").fetchone()[0]:
        db.execute("DELETE FROM snmp_loaded WHERE result_id LIKE %s", (f"{ids}%",))
    return response


def test_loader_key_makes_reloads_idempotent_row_by_row(agent: Agent, postgres: Postgres, db: Any) -> None:
    """The loader's claims make a result load once; its tables' unique key (host, collected_at,
    result_id, index fields) makes a re-load without its claim insert only the missing rows,
    and keeps apart two results collected at the same instant from the same host (e.g. one
    table under two communities or contexts)."""
    from snmp_stream.bus.loader import LoadItem, PostgresLoader

    name = "reload_key"
    response = interfaces_walk(agent, db, name, "reload-")
    buffer = response.results.tobytes()
    loader = PostgresLoader(postgres.dsn, {name: recipes.INTERFACES})
    try:
        first = loader.load([LoadItem("reload-a", agent.host, name, buffer)])
        rows = first[1]
        assert first == (1, rows) and rows == len(recipes.INTERFACES.to_pandas(response)) > 1
        assert loader.load([LoadItem("reload-a", agent.host, name, buffer)]) == (0, 0)  # claimed: skipped

        # Rows present without their claim (snmp_loaded emptied by hand, some rows deleted).
        db.execute("DELETE FROM snmp_loaded WHERE result_id = 'reload-a'")
        db.execute(f"DELETE FROM snmp_{name} WHERE ifindex = (SELECT min(ifindex) FROM snmp_{name})")
        assert loader.load([LoadItem("reload-a", agent.host, name, buffer)]) == (1, 1)

        # The same buffer (same host, same collected_at) under another result id: its own rows.
        assert loader.load([LoadItem("reload-b", agent.host, name, buffer)]) == (1, rows)
        counts = db.execute(
            f"SELECT result_id, count(*), count(DISTINCT ifindex) FROM snmp_{name} GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert counts == [("reload-a", rows, rows), ("reload-b", rows, rows)]
        # A query by host and time is answered from the key.
        db.execute("SET enable_seqscan = off")
        query = f"EXPLAIN SELECT ifname FROM snmp_{name} WHERE host = %s AND collected_at > %s"
        plan = " ".join(r[0] for r in db.execute(query, (agent.host, UNIX_EPOCH)).fetchall())
        assert f"snmp_{name}_host_collected_at_result_id_ifindex_key" in plan, plan
    finally:
        loader.close()
        db.execute("RESET enable_seqscan")
        db.execute(f"DROP TABLE IF EXISTS snmp_{name}")


def test_loader_keeps_using_a_two_index_table(agent: Agent, postgres: Postgres, db: Any) -> None:
    """A table created before the single key (unique key on (result_id, index fields), index on
    (host, collected_at)) is loaded as it is, and a re-load without its claim stays idempotent
    through its own key (docs/BUS.md, Migrating)."""
    from snmp_stream.bus.loader import PREFIX, LoadItem, PostgresLoader, table_columns
    from snmp_stream.bus.loader import SQL_TYPES as LOADER_TYPES

    name = "two_index_layout"
    buffer = interfaces_walk(agent, db, name, "old-layout-").results.tobytes()
    columns = PREFIX + [(c, LOADER_TYPES[kind]) for c, kind in table_columns(recipes.INTERFACES)]
    definition = ", ".join(f"{c} {t}" for c, t in columns)
    db.execute(f"CREATE TABLE snmp_{name} ({definition}, UNIQUE (result_id, ifindex))")
    db.execute(f"CREATE INDEX snmp_{name}_host_collected_at ON snmp_{name} (host, collected_at)")
    loader = PostgresLoader(postgres.dsn, {name: recipes.INTERFACES})
    try:
        loaded = loader.load([LoadItem("old-layout-a", agent.host, name, buffer)])
        rows = loaded[1]
        assert loaded == (1, rows) and rows > 1
        db.execute("DELETE FROM snmp_loaded WHERE result_id = 'old-layout-a'")
        assert loader.load([LoadItem("old-layout-a", agent.host, name, buffer)]) == (1, 0)
        assert db.execute(f"SELECT count(*) FROM snmp_{name}").fetchone()[0] == rows
        query = "SELECT indexname FROM pg_indexes WHERE tablename = %s"
        indexes = {r[0] for r in db.execute(query, (f"snmp_{name}",)).fetchall()}
        assert indexes == {f"snmp_{name}_result_id_ifindex_key", f"snmp_{name}_host_collected_at"}
    finally:
        loader.close()
        db.execute(f"DROP TABLE IF EXISTS snmp_{name}")
