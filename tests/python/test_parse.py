"""The parser and its recipes, checked against net-snmp's own walk of a real snmpd."""

from __future__ import annotations

import ipaddress
import os
import pickle
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import snmp_stream
from conftest import Agent, net_snmp
from snmp_stream import parse as p
from snmp_stream import recipes

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden" / "all-types-v1.bin"


def net_snmp_walk(host: str, oid: str) -> list[tuple[list[int], str, str]]:
    """snmpbulkwalk -On -Ox -Ot: (full OID sub-ids, type, value text) per varbind."""
    out = subprocess.run(
        ["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-Ox", "-Ot", "-Oe", host, oid],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "MIBS": ""},
    ).stdout
    rows: list[tuple[list[int], str, str]] = []
    for line in out.splitlines():
        if line.startswith("."):
            name, _, value = line.partition(" = ")
            kind, _, text = value.partition(": ") if ": " in value else ("", "", value)
            rows.append(([int(s) for s in name[1:].split(".")], kind, text.strip()))
        elif rows:  # hex continuation line
            rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2] + " " + line.strip())
    # net-snmp falls back to a GET of an empty column, and prints why it ended.
    return [r for r in rows if "No more variables" not in r[2] and "No Such" not in r[2]]


def octets(kind: str, text: str) -> bytes:
    if kind == "Hex-STRING":
        return bytes.fromhex(text)
    return text.strip('"').encode()


def render(value_type: p.ValueType, kind: str, text: str) -> Any:
    """net-snmp's text as the parser renders it (an independent implementation)."""
    if value_type.kind in ("integer", "unsigned", "counter64", "timeticks"):
        return int(text.split()[0])
    if value_type.kind == "utf8":
        return octets(kind, text).decode(errors="replace")
    if value_type.kind == "mac":
        return ":".join(f"{b:02x}" for b in octets(kind, text))
    if value_type.kind == "ip_address":
        return text
    if value_type.kind == "oid":
        return text
    raise AssertionError(value_type)


def inet(address: bytes) -> str:
    if len(address) in (4, 16):
        return str(ipaddress.ip_address(address))
    return address.hex()


def split_index(table: p.Table, subids: list[int]) -> tuple[Any, ...]:
    """Splits an index by the spec (an independent implementation of RFC 2578 §7.7)."""
    out: list[Any] = []
    for field in table.index:
        if field.field == "integer":
            out.append(subids.pop(0))
            continue
        count = (
            subids.pop(0)
            if field.length == "prefixed"
            else len(subids)
            if field.length == "implied"
            else field.length
        )
        part, subids = subids[: int(count)], subids[int(count) :]
        if field.field == "oid":
            out.append("." + ".".join(map(str, part)))
        elif field.value is p.IP_ADDRESS:
            out.append(".".join(map(str, part)))
        elif field.value is p.INET_ADDRESS:
            out.append(inet(bytes(part)))
        elif field.value is p.MAC:
            out.append(":".join(f"{b:02x}" for b in part))
        else:
            out.append(bytes(part).decode())
    assert not subids
    return tuple(out)


def expected_rows(table: p.Table, host: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for col in table.columns:
        prefix = [int(s) for s in col.oid[1:].split(".")]
        for name, kind, text in net_snmp_walk(host, col.oid):
            if name[: len(prefix)] != prefix:
                continue
            rows.setdefault(split_index(table, name[len(prefix) :]), {})[col.name] = render(
                col.value, kind, text
            )
    return rows


def actual_rows(table: p.Table, frame: pd.DataFrame) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for record in frame.to_dict("records"):
        key = tuple(record[f.name] for f in table.index)
        rows[key] = {c.name: record[c.name] for c in table.columns if not pd.isna(record[c.name])}
    return rows


def compare_until_stable(
    table: p.Table,
    decode: Callable[[], pd.DataFrame],
    expected_of: Callable[[], dict[tuple[Any, ...], dict[str, Any]]],
    volatile: set[str],
) -> tuple[
    pd.DataFrame, dict[tuple[Any, ...], dict[str, Any]], dict[tuple[Any, ...], dict[str, Any]], list[Any]
]:
    """Decodes the table and has snmpbulkwalk walk it, up to 3 times until both agree: the agent
    serves the machine's live tables, where an interface, address or mount point (another
    test's namespace) can come or go between the two walks. Returns (frame, expected rows,
    actual rows, differences outside the `volatile` columns)."""
    for _ in range(3):
        frame = decode()
        expected = expected_of()
        actual = actual_rows(table, frame)
        differences = [
            (key, column, value, (actual.get(key) or {}).get(column))
            for key, values in expected.items()
            for column, value in values.items()
            if column not in volatile and (actual.get(key) or {}).get(column) != value
        ]
        if actual.keys() == expected.keys() and not differences:
            break
        time.sleep(1)
    return frame, expected, actual, differences


STATIC = ["IF_TABLE", "IP_NET_TO_MEDIA", "IP_NET_TO_PHYSICAL", "IP_CIDR_ROUTE", "INET_CIDR_ROUTE"]


@pytest.mark.parametrize("name", STATIC)
def test_recipes_decode_what_snmpbulkwalk_shows(agent: Agent, name: str) -> None:
    table: p.Table = getattr(recipes, name)
    volatile = {c.name for c in table.columns if c.value.kind in ("unsigned", "counter64", "timeticks")}

    def decode() -> pd.DataFrame:
        response = snmp_stream.walk(agent.host, "public", table.oids)
        assert response.status == "successful"
        return table.to_pandas(response)

    # Counters and timers move between the two walks: volatile.
    frame, expected, actual, differences = compare_until_stable(
        table, decode, lambda: expected_rows(table, agent.host), volatile
    )
    assert len(frame) == len(expected) > 0
    assert actual.keys() == expected.keys()
    assert not differences, differences
    assert list(frame.columns[:2]) == ["req_id", "host"]
    assert set(frame["host"]) == {agent.host}


def test_interfaces_join_if_and_ifx_tables_across_hosts(agent: Agent) -> None:
    hosts = [agent.host, agent.host6]
    responses = snmp_stream.walk_many(hosts, "public", recipes.INTERFACES.oids)
    frame = recipes.INTERFACES.to_pandas(responses)
    names = [
        line.split()[-1].strip('"')
        for line in subprocess.run(
            ["snmpbulkwalk", "-v2c", "-c", "public", "-Oqv", agent.host, "1.3.6.1.2.1.31.1.1.1.1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
    ]
    assert len(frame) == 2 * len(names)
    assert list(frame["host"]) == [agent.host] * len(names) + [agent.host6] * len(names)
    assert list(frame["req_id"]) == list(frame["host"])  # walk_many uses the host as req_id
    assert list(frame["ifName"][: len(names)]) == names
    assert str(frame["ifHCInOctets"].dtype) == "UInt64"
    assert str(frame["ifType"].dtype) == "Int64"


def test_system_group_get_is_one_row_per_agent(agent: Agent, silent_port: int) -> None:
    responses = snmp_stream.get_many(
        [agent.host, f"127.0.0.1:{silent_port}"],
        "public",
        recipes.SYSTEM.oids,
        config={"timeout": 0.2, "retries": 0},
    )
    frame = recipes.SYSTEM.to_pandas(responses)
    assert len(frame) == 1  # the dead agent has no rows
    assert frame["sysName"][0] == "snmp-stream-test"
    assert frame["sysLocation"][0] == "snmp-stream test lab"
    assert frame["sysObjectID"][0].startswith(".1.3.6.1.4.1.8072")
    assert frame["sysServices"][0] == 72


def test_outputs_numpy_arrow_polars_and_timedelta(agent: Agent) -> None:
    table = p.Table(
        [p.integer("ifIndex")],
        [
            p.column("ifDescr", "1.3.6.1.2.1.2.2.1.2", p.UTF8),
            p.column("ifLastChange", "1.3.6.1.2.1.2.2.1.9", p.TIMEDELTA),
            p.column("ifMtu", "1.3.6.1.2.1.2.2.1.4", p.INTEGER),
            p.column("ifPhysAddress", "1.3.6.1.2.1.2.2.1.6", p.BYTES),
        ],
    )
    response = snmp_stream.walk(agent.host, "public", table.oids)
    arrays = table.to_numpy(response)
    assert arrays["ifIndex"].dtype == np.uint64 and arrays["ifMtu"].dtype == np.int64
    assert arrays["ifLastChange"].dtype == np.dtype("timedelta64[ms]")
    assert arrays["ifDescr"].dtype == object and isinstance(arrays["ifDescr"][0], str)
    assert isinstance(arrays["ifPhysAddress"][0], bytes)
    arrow = table.to_arrow(response)
    assert arrow.num_rows == len(arrays["ifIndex"])
    assert arrow.column("ifDescr").to_pylist() == list(arrays["ifDescr"])
    polars_frame = table.to_polars(response)
    assert polars_frame["ifMtu"].to_list() == list(arrays["ifMtu"])


def test_buffers_parse_anywhere_after_shipping(agent: Agent) -> None:
    response = snmp_stream.walk(agent.host, "public", recipes.IF_TABLE.oids, req_id="router-1")
    shipped = pickle.dumps(response.results.tobytes())  # e.g. over a message bus
    frame = recipes.IF_TABLE.to_pandas(pickle.loads(shipped))
    assert set(frame["req_id"]) == {"router-1"}
    assert "host" not in frame.columns
    assert frame.drop(columns="req_id").equals(
        recipes.IF_TABLE.to_pandas(response).drop(columns=["req_id", "host"])
    )


def test_golden_buffer_decodes() -> None:
    golden = GOLDEN.read_bytes()
    table = p.Table(
        [p.integer("ifIndex")],
        [
            p.column("ifDescr", "1.3.6.1.2.1.2.2.1.2", p.UTF8),
            p.column("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", p.COUNTER64),
        ],
    )
    arrays = table.to_numpy(golden)
    # The record at index .4.1 does not fit an integer index: its ifIndex is null (masked).
    assert arrays["ifIndex"].tolist() == [1, 2, 3, None, 5, 6, 7]
    assert arrays["ifDescr"][0] == "lo" and arrays["ifDescr"][1] is None  # INTEGER: a type mismatch
    assert arrays["ifHCInOctets"][0] == 2**64 - 2
    assert arrays["req_id"][0] == "job-7"


def test_bad_buffers_and_specs_raise_clear_errors() -> None:
    golden = GOLDEN.read_bytes()
    with pytest.raises(
        snmp_stream.BufferFormatError, match=r"buffer 1: bad result buffer at byte \d+: truncated"
    ):
        recipes.IF_TABLE.to_numpy([golden, golden[:40]])
    with pytest.raises(snmp_stream.BufferFormatError, match="format version 9"):
        recipes.IF_TABLE.to_numpy(golden[:4] + b"\x09" + golden[5:])
    with pytest.raises(snmp_stream.InvalidSpecError, match="unknown value kind"):
        p.Table([], [p.column("x", "1.3", p.ValueType("float"))]).to_numpy(golden)
    with pytest.raises(snmp_stream.InvalidSpecError, match="duplicate names"):
        p.Table([p.integer("a")], [p.column("a", "1.3", p.INTEGER)])
    with pytest.raises(snmp_stream.InvalidOidError):
        p.column("x", "1.3.x", p.INTEGER)
    with pytest.raises(TypeError, match="numpy uint8 array or bytes"):
        recipes.IF_TABLE.to_numpy(["not a buffer"])  # type: ignore[list-item]


def test_walks_of_the_entry_or_the_table_decode_and_other_oids_raise(agent: Agent) -> None:
    # Users often walk ifEntry (or ifTable) rather than its columns: same frame.
    by_columns = recipes.IF_TABLE.to_pandas(snmp_stream.walk(agent.host, "public", recipes.IF_TABLE.oids))
    assert len(by_columns) > 0
    for root in ["1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.2.2"]:
        frame = recipes.IF_TABLE.to_pandas(snmp_stream.walk(agent.host, "public", root))
        # Counters move between the walks; names, types and indexes do not.
        static = ["ifIndex", "ifDescr", "ifType", "ifPhysAddress"]
        assert frame[static].equals(by_columns[static]), root
    system = snmp_stream.walk(agent.host, "public", "1.3.6.1.2.1.1")
    with pytest.raises(snmp_stream.InvalidSpecError, match=r"walks or gets of \.1\.3\.6\.1\.2\.1\.1, none"):
        recipes.IF_TABLE.to_pandas(system)


def test_long_format_of_any_responses(values_agent: Agent) -> None:
    base = ".1.3.6.1.4.1.99998"
    walked = snmp_stream.walk(values_agent.host, "public", base, req_id="w")
    got = snmp_stream.get(
        values_agent.host, "public", ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0"], req_id="g"
    )
    frame = snmp_stream.to_pandas([walked, got])
    assert list(frame.columns) == [
        "req_id", "host", "oid", "root", "index", "type", "value", "value_int", "value_uint", "value_bytes"
    ]  # fmt: skip
    expected = net_snmp("snmpbulkwalk", "-On", "-v2c", "-c", "public", values_agent.host, base)
    assert len(frame) == len([line for line in expected if line.startswith(".")]) + 2
    rows = {row.oid: row for row in frame.itertuples(index=False)}
    binary = rows[f"{base}.1"]
    assert (binary.req_id, binary.host, binary.root, binary.index, binary.type) == (
        "w", values_agent.host, base, "1", "STRING"
    )  # fmt: skip
    assert binary.value == bytes(range(20)).hex() and binary.value_bytes == bytes(range(20))
    assert rows[f"{base}.4"].value == "été" and rows[f"{base}.6"].value == ""
    assert rows[f"{base}.10"].value_int == -(2**31) and pd.isna(rows[f"{base}.10"].value_uint)
    assert rows[f"{base}.11"].value_uint == 2**32 - 1 and rows[f"{base}.11"].value == "4294967295"
    assert rows[f"{base}.13"].value == "192.0.2.255" and rows[f"{base}.14"].value == f"{base}.1.2"
    missing = rows[".1.3.6.1.2.1.1.99.0"]
    assert (missing.req_id, missing.type, missing.index) == ("g", "noSuchObject", "")
    assert pd.isna(missing.value) and missing.value_bytes is None
    assert str(frame["value_int"].dtype) == "Int64" and str(frame["value_uint"].dtype) == "UInt64"
    # The same from shipped bytes (no host then), and through Arrow and polars.
    shipped = snmp_stream.to_pandas([walked.results.tobytes(), got.results.tobytes()])
    assert "host" not in shipped.columns and shipped["oid"].tolist() == frame["oid"].tolist()
    table = snmp_stream.to_arrow([walked, got])
    assert table.num_rows == len(frame) and str(table.schema.field("value_uint").type) == "uint64"
    assert snmp_stream.to_polars([walked, got])["value"].to_list() == [*frame["value"].tolist()[:-1], None]
    columns = snmp_stream.to_numpy(walked)
    assert columns["oid"][0] == f"{base}.1" and len(columns["type"]) == len(frame) - 2
    with pytest.raises(snmp_stream.BufferFormatError):
        snmp_stream.to_pandas([b"not a buffer"])


IF_COUNTERS = ["1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.31.1.1.1.6"]  # ifInOctets (32), ifHCInOctets (64)
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def poll(host: str) -> list[snmp_stream.SnmpResponse]:
    """One poll as a collector makes it: the agent's uptime and its interface counters."""
    return [snmp_stream.get(host, "public", SYS_UPTIME), snmp_stream.walk(host, "public", IF_COUNTERS)]


def lo_index(host: str) -> str:
    names = net_snmp("snmpbulkwalk", "-On", "-v2c", "-c", "public", host, "1.3.6.1.2.1.2.2.1.2")
    return next(line.split(" = ")[0].rsplit(".", 1)[1] for line in names if line.endswith('"lo"'))


def test_counter_rates_of_two_real_polls_with_traffic_between(agent: Agent) -> None:
    lo = lo_index(agent.host)
    first = poll(agent.host)
    started = time.monotonic()
    payload = b"x" * 1000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for _ in range(3000):  # 3 MB over loopback: lo's in-octets grow by at least that
            sender.sendto(payload, ("127.0.0.1", 9))
    # snmpd caches interface statistics for a few seconds: poll until lo's counter moved.
    grown = 3000 * len(payload)
    for _ in range(30):
        second = poll(agent.host)
        frame = snmp_stream.parse.rates(first, second)
        row = frame[frame["oid"] == f".{IF_COUNTERS[1]}.{lo}"].iloc[0]
        if row["current"] - row["previous"] >= grown:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    assert set(frame["type"]) == {"Counter32", "Counter64"} and frame["discontinuity"].isna().all()
    assert (frame["host"] == agent.host).all() and (frame["seconds"] > 0).all()
    assert row["delta"] == row["current"] - row["previous"] >= grown
    assert 0 < row["seconds"] <= elapsed + 1 and row["rate"] == pytest.approx(row["delta"] / row["seconds"])
    lo32 = frame[frame["oid"] == f".{IF_COUNTERS[0]}.{lo}"].iloc[0]
    assert lo32["delta"] == (lo32["current"] - lo32["previous"]) % 2**32 and lo32["delta"] >= grown
    assert (lo32["root"], lo32["index"]) == (f".{IF_COUNTERS[0]}", lo)
    # Wide, one row per interface: the pivot the docstring shows.
    wide = frame.pivot(index=["host", "index"], columns="root", values="rate")
    assert wide.loc[(agent.host, lo), f".{IF_COUNTERS[1]}"] > 0
    # The same from shipped buffers, labelled with their host.
    shipped = snmp_stream.parse.rates(
        [(agent.host, r.results.tobytes()) for r in first],
        [(agent.host, r.results.tobytes()) for r in second],
    )
    assert shipped["delta"].tolist() == frame["delta"].tolist()


def test_counter_rates_are_null_across_an_agent_restart() -> None:
    from snmp_stream import snmpd

    with snmpd.agents() as [before_restart]:
        time.sleep(2.5)  # up for 2.5 s: the restarted agent's sysUpTime will be shorter
        first = poll(before_restart.host)
        port = before_restart.port
    with snmpd.agents(ports=[port]) as [after_restart]:
        assert after_restart.host == before_restart.host
        second = poll(after_restart.host)
    frame = snmp_stream.parse.rates(first, second)
    assert len(frame) > 0 and (frame["discontinuity"] == "restart").all()
    assert frame["delta"].isna().all() and frame["rate"].isna().all()
    # Without sysUpTime the restart cannot be seen: counters that went down are wraps (32) or
    # resets (64), unless max_rate rules the wrap out.
    counters_only = snmp_stream.parse.rates(first[1:], second[1:], max_rate=1e6)
    assert not (counters_only["discontinuity"] == "restart").any()


def _plain(values: list[Any]) -> list[Any]:
    """Nulls (None, pd.NA, NaN) as None, for comparing columns across backends."""
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v for v in values]


def test_arrow_columns_are_built_natively_and_hold_the_same_values(values_agent: Agent, agent: Agent) -> None:
    import pyarrow as pa

    walked = snmp_stream.walk(values_agent.host, "public", "1.3.6.1.4.1.99998", req_id="w")
    got = snmp_stream.get(
        values_agent.host, "public", ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0"], req_id="g"
    )
    objects = snmp_stream.to_pandas([walked, got])
    table = snmp_stream.to_arrow([walked, got])
    assert table.schema.field("value").type == pa.large_string()
    assert table.schema.field("value_bytes").type == pa.large_binary()
    assert table.column("value").null_count > 0 and table.column("value_bytes").null_count > 0
    for name in objects.columns:
        assert table.column(name).to_pylist() == _plain(objects[name].tolist()), name
    # polars gets text as Arrow string views (no copy): the same values again.
    polars_frame = snmp_stream.to_polars([walked, got])
    assert str(polars_frame.schema["value"]) == "String"
    for name in objects.columns:
        assert polars_frame[name].to_list() == _plain(objects[name].tolist()), name
    arrow_backed = snmp_stream.to_pandas([walked, got], dtype_backend="pyarrow")
    assert arrow_backed["value"].dtype == pd.ArrowDtype(pa.large_string())
    assert _plain(arrow_backed["value"].tolist()) == _plain(objects["value"].tolist())
    with pytest.raises(ValueError, match="dtype_backend"):
        snmp_stream.to_pandas(walked, dtype_backend="numpy")
    # A table with text, bytes and a null-free column, shipped as bytes (no host column).
    response = snmp_stream.walk(agent.host, "public", recipes.IF_TABLE.oids, req_id="r1")
    arrays = recipes.IF_TABLE.to_numpy(response.results.tobytes())
    arrow = recipes.IF_TABLE.to_arrow(response.results.tobytes())
    assert "host" not in arrow.column_names and set(arrow.column("req_id").to_pylist()) == {"r1"}
    for name, values in arrays.items():
        expected = values.filled(None).tolist() if isinstance(values, np.ma.MaskedArray) else values.tolist()
        assert arrow.column(name).to_pylist() == _plain(expected), name
    polars_frame = recipes.IF_TABLE.to_polars(response.results.tobytes())
    for name, values in arrays.items():
        expected = values.filled(None).tolist() if isinstance(values, np.ma.MaskedArray) else values.tolist()
        assert polars_frame[name].to_list() == _plain(expected), name
