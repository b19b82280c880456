"""The single-use and low-level APIs against a real snmpd."""

from __future__ import annotations

import pickle
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import snmp_stream
from conftest import Agent, assert_gil_released, net_snmp
from snmp_stream import Community, Config, OidRange, SessionManager, SnmpRequest, demo

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SW_NAMES = "1.3.6.1.2.1.25.6.3.1.2"  # hrSWInstalledName: thousands of static rows


def records(buffer: np.ndarray) -> list[tuple[int, int, tuple[int, ...], bytes]]:
    """A tiny reader of docs/FORMAT.md v1, independent of the Rust one."""
    data = buffer.tobytes()
    assert data[:4] == b"SNMS" and data[4] == 1
    count, root_count, req_id_len = struct.unpack_from("<III", data, 16)
    pos = 28 + req_id_len
    for _ in range(root_count):
        pos += 1 + 4 * data[pos]
    out = []
    for _ in range(count):
        root, type_, index_len, _time = struct.unpack_from("<HBBI", data, pos)
        pos += 8
        index = struct.unpack_from(f"<{index_len}I", data, pos)
        pos += 4 * index_len
        (value_len,) = struct.unpack_from("<I", data, pos)
        pos += 4
        out.append((root, type_, index, data[pos : pos + value_len]))
        pos += value_len
    assert pos == len(data)
    return out


@pytest.mark.parametrize("version", ["v1", "v2c"])
def test_get_system_name(agent: Agent, version: str) -> None:
    expected = net_snmp("snmpget", "-v2c", "-c", "public", "-Oqv", agent.host, SYS_NAME)[0]
    response = snmp_stream.get(agent.host, ("public", version), SYS_NAME, req_id="sys")
    assert response.status == snmp_stream.SUCCESSFUL
    assert response.errors == ()
    assert response.req_id == b"sys"
    [(root, type_, index, value)] = records(response.results)
    assert (root, type_, index) == (0, 0x04, ())
    assert value.decode() == expected.strip('"')


def test_walk_matches_snmpbulkwalk(agent: Agent) -> None:
    expected = net_snmp("snmpbulkwalk", "-v2c", "-c", "public", "-Oq", agent.host, SW_NAMES)
    for oid in [SW_NAMES, [int(s) for s in SW_NAMES.split(".")], "." + SW_NAMES]:
        response = snmp_stream.walk(agent.host6, "public", oid)
        assert response.status == "successful"
        got = records(response.results)
        assert len(got) == len(expected) > 100
        assert [r[2][0] for r in got] == [int(line.split()[0].rsplit(".", 1)[1]) for line in expected]


def test_walk_of_a_leaf_gets_it_like_snmpwalk(agent: Agent) -> None:
    sys_name = "1.3.6.1.2.1.1.5.0"
    expected = net_snmp("snmpwalk", "-v2c", "-c", "public", "-Oqv", agent.host, sys_name)
    response = snmp_stream.walk(agent.host, "public", sys_name)
    assert response.status == "successful", response.errors
    assert response.varbinds() == [("." + sys_name, "STRING", expected[0].strip('"').encode())]
    empty = snmp_stream.walk(agent.host, "public", "1.3.6.1.2.1.1.99")
    assert (empty.status, empty.errors) == ("successful", ())
    assert empty.varbinds() == []


def test_results_are_numpy_without_copy(agent: Agent) -> None:
    response = snmp_stream.walk(agent.host, "public", "1.3.6.1.2.1.1")
    assert response.results.dtype == np.uint8 and response.results.ndim == 1
    # The array's memory belongs to the Rust Vec the engine filled (rust-numpy's container).
    assert type(response.results.base).__name__ == "PySliceContainer"
    assert not response.results.flags.owndata


def test_ranges_restrict_a_walk(agent: Agent) -> None:
    response = snmp_stream.walk(
        agent.host, "public", SW_NAMES, ranges=[("5", "9"), OidRange("20", "22"), "30"]
    )
    assert sorted(r[2][0] for r in records(response.results)) == [5, 6, 7, 8, 9, 20, 21, 22, 30]


def test_dead_agent_is_a_structured_error_not_an_exception(silent_port: int) -> None:
    started = time.monotonic()
    response = snmp_stream.get(
        f"127.0.0.1:{silent_port}", "public", SYS_NAME, config={"timeout": 0.2, "retries": 1}
    )
    assert 0.4 <= time.monotonic() - started < 1.5
    assert response.status == snmp_stream.FAILED
    [error] = response.errors
    assert error.kind == "timeout" and "no response" in error.message
    assert records(response.results) == []


def test_closed_port_fails_at_once_as_unreachable(closed_port: int) -> None:
    started = time.monotonic()
    response = snmp_stream.get(f"127.0.0.1:{closed_port}", "public", SYS_NAME, config={"timeout": 5})
    assert time.monotonic() - started < 1
    [error] = response.errors
    assert response.status == snmp_stream.FAILED
    assert error.kind == "unreachable" and "Connection refused" in error.message


def test_session_manager_runs_many_and_returns_none_when_idle(agent: Agent, silent_port: int) -> None:
    manager = SessionManager(Config(timeout=0.3, retries=0, max_sessions=50))
    assert manager.run() is None
    requests = [SnmpRequest("walk", agent.host, "public", "1.3.6.1.2.1.1", req_id=f"{i}") for i in range(100)]
    requests.append(SnmpRequest("get", f"127.0.0.1:{silent_port}", "public", SYS_NAME, req_id="dead"))
    for request in requests:
        manager.add_request(request)
    responses = manager.run_all()
    assert sorted(r.req_id or b"" for r in responses) == sorted(r.req_id or b"" for r in requests)
    assert {r.req_id: r.status for r in responses}[b"dead"] == "failed"
    assert all(
        r.request is q
        for r, q in zip(
            sorted(responses, key=lambda r: r.req_id or b""), sorted(requests, key=lambda r: r.req_id or b"")
        )
    )
    assert manager.run() is None


def test_gil_is_released_during_a_walk(agent: Agent) -> None:
    def walks() -> None:
        manager = SessionManager(Config(max_var_binds_per_pdu=5))
        for _ in range(20):
            manager.add_request(SnmpRequest("walk", agent.host, "public", SW_NAMES))
        assert len(manager.run_all()) == 20

    assert_gil_released(walks)


def test_responses_and_errors_pickle(agent: Agent, silent_port: int) -> None:
    for response in snmp_stream.get_many(
        [agent.host, f"127.0.0.1:{silent_port}"], "public", SYS_NAME, config={"timeout": 0.2, "retries": 0}
    ):
        copy = pickle.loads(pickle.dumps(response))
        assert copy == response and copy is not response
        assert copy.elapsed == response.elapsed > 0
        assert copy.results.tobytes() == response.results.tobytes()
        assert copy.errors == response.errors
    assert response.errors[0].kind == "timeout"
    assert "timeout" in repr(response)
    assert response.elapsed >= 0.2, "a silent agent costs its timeout"


def test_types_pickle_compare_and_print() -> None:
    request = SnmpRequest(
        "walk",
        "127.0.0.1:1161",
        Community("secret", "1"),
        [(1, 3, 6, 1, 2, 1, 2, 2, 1, 2)],
        ranges=[(1, 48)],
        req_id=b"r1",
        config={"timeout": 0.5},
    )
    assert request.oids == (".1.3.6.1.2.1.2.2.1.2",)
    assert request.community.version == "v1"
    assert request.ranges == (OidRange(".1", ".48"),)
    assert pickle.loads(pickle.dumps(request)) == request
    assert "secret" not in repr(request)
    assert "Config(retries=None, timeout=0.5" in repr(request)


@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: SnmpRequest("get", "h", "public", "1.3.six"), snmp_stream.InvalidOidError, '"six"'),
        (lambda: SnmpRequest("get", "h", "public", []), snmp_stream.InvalidRequestError, "no OIDs"),
        (
            lambda: SnmpRequest("walk", "h", "public", ["1.3.6.1", "1.3.6.1.2"]),
            snmp_stream.InvalidRequestError,
            "ambiguous root OIDs",
        ),
        (
            lambda: SnmpRequest("get", "h", "public", "1.3.6", ranges=[("1", "5")]),
            snmp_stream.InvalidRangeError,
            "single-index",
        ),
        (
            lambda: SnmpRequest("walk", "h", "public", "1.3.6", ranges=[("9", "2")]),
            snmp_stream.InvalidRangeError,
            "start .9 is after stop .2",
        ),
        (lambda: SnmpRequest("get", "bad host", "public", "1.3.6"), snmp_stream.InvalidHostError, "bad host"),
        (lambda: SnmpRequest("get", "h:99999", "public", "1.3.6"), snmp_stream.InvalidHostError, "99999"),
        (lambda: SnmpRequest("get", "h", "", "1.3.6"), snmp_stream.InvalidCommunityError, "empty"),
        (
            lambda: SnmpRequest("get", "h", ("public", "v3"), "1.3.6"),
            snmp_stream.InvalidCommunityError,
            "'v3'",
        ),
        (lambda: SnmpRequest("scan", "h", "public", "1.3.6"), snmp_stream.InvalidRequestError, '"scan"'),
        (lambda: Config(timeout=0), snmp_stream.InvalidConfigError, "timeout"),
        (lambda: Config(max_sessions=0), snmp_stream.InvalidConfigError, "max_sessions"),
        (lambda: Config.of({"timeuot": 1}), snmp_stream.InvalidConfigError, "timeuot"),
        (lambda: Config(retries=-1), snmp_stream.InvalidConfigError, "retries: -1 is outside 0..=100"),
        (lambda: Config(retries=2**40), snmp_stream.InvalidConfigError, "retries: 1099511627776 is outside"),
        (lambda: Config(max_sessions=2**200), snmp_stream.InvalidConfigError, f"max_sessions: {2**200} is"),
        (
            lambda: Config(timeout="1"),  # type: ignore[arg-type]
            snmp_stream.InvalidConfigError,
            'timeout: "1" is not a number of seconds',
        ),
        (
            lambda: Config(timeout=-2.5),
            snmp_stream.InvalidConfigError,
            "timeout: -2.5 is outside 0.001..=3600",
        ),
        (lambda: Config(deadline=float("nan")), snmp_stream.InvalidConfigError, "deadline: NaN is not"),
        (lambda: Config(retries=True), snmp_stream.InvalidConfigError, "retries: True is not an integer"),
        (lambda: Config(retries=1.5), snmp_stream.InvalidConfigError, "retries: 1.5 is not an integer"),  # type: ignore[arg-type]
        (lambda: Config(walk_mode="bulk"), snmp_stream.InvalidConfigError, 'walk_mode: "bulk" is not'),
        (
            lambda: snmp_stream.walk("h", "public", "1.3", config={"retries": -1}),
            snmp_stream.InvalidConfigError,
            "retries",
        ),
        (
            lambda: snmp_stream.SessionManager({"max_sessions": 0}),
            snmp_stream.InvalidConfigError,
            "max_sessions",
        ),
        (
            lambda: snmp_stream.Collector({"timeout": [1]}),
            snmp_stream.InvalidConfigError,
            "timeout: [1] is not",
        ),
        (
            lambda: SnmpRequest("get", "300.1.1.1:bad", "public", "1.3.6"),
            snmp_stream.InvalidHostError,
            "port",
        ),
        (lambda: SnmpRequest("get", "1:2:3", "public", "1.3.6"), snmp_stream.InvalidHostError, "not an IPv6"),
    ],
)
def test_bad_input_raises_a_value_error_naming_it(call: object, error: type, fragment: str) -> None:
    with pytest.raises(error) as raised:
        call()  # type: ignore[operator]
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, snmp_stream.SnmpStreamError)
    assert fragment in str(raised.value)


def test_closed_port_lies_below_the_ephemeral_range_and_is_free() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    first, second = demo.closed_port(), demo.closed_port(skip=1)
    assert 1024 < second < first < low
    for port in (first, second):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))  # nothing holds it


def test_a_deadline_ends_a_request_with_what_it_collected(agent: Agent, silent_port: int) -> None:
    # MIB-2 one varbind per PDU, timed whole; then with a third of that time as its deadline.
    mib2 = "1.3.6.1.2.1"
    started = time.monotonic()
    whole = snmp_stream.walk(agent.host, "public", mib2, config={"max_var_binds_per_pdu": 1})
    limit = max((time.monotonic() - started) / 3, 0.002)
    assert whole.status == "successful"
    config = Config(timeout=5, deadline=limit, max_var_binds_per_pdu=1)
    cut = snmp_stream.walk(agent.host, "public", mib2, config=config)
    assert cut.status == "failed" and cut.errors[0].kind == "deadline", cut.errors
    assert "did not complete within its deadline" in cut.errors[0].message
    assert 0 < len(records(cut.results)) < len(records(whole.results))
    started = time.monotonic()
    silent = snmp_stream.get(
        f"127.0.0.1:{silent_port}", "public", SYS_NAME, config={"timeout": 5, "deadline": 0.2}
    )
    assert silent.errors[0].kind == "deadline" and time.monotonic() - started < 1.0
    with pytest.raises(snmp_stream.InvalidConfigError, match="deadline"):
        Config(deadline=0)


def test_host_names_resolve(agent: Agent) -> None:
    port = agent.host.rsplit(":", 1)[1]
    response = snmp_stream.get(f"localhost:{port}", "public", SYS_NAME)
    assert (response.status, response.host) == ("successful", f"localhost:{port}")
    bad = snmp_stream.get(f"no-such-host..invalid:{port}", "public", SYS_NAME)  # refused without a DNS query
    assert (
        bad.errors[0].kind == "session_error"
        and "cannot resolve no-such-host..invalid" in bad.errors[0].message
    )


def test_a_session_manager_shared_by_two_threads_never_hangs(agent: Agent) -> None:
    # One thread runs the manager while the other adds requests: the engine's lock is taken
    # only with the GIL released, so neither waits for the other for long.
    manager = snmp_stream.SessionManager()
    for i in range(5):
        manager.add_request(SnmpRequest("walk", agent.host, "public", "1.3.6.1.2.1.1", req_id=f"first-{i}"))
    got: list[snmp_stream.SnmpResponse] = []
    added = threading.Event()

    def run() -> None:
        while True:
            done = added.is_set()  # read before run(): everything added by then is seen
            batch = manager.run()
            if batch is not None:
                got.extend(batch)
            elif done:
                return

    def add() -> None:
        for i in range(50):
            manager.add_request(SnmpRequest("walk", agent.host, "public", "1.3.6.1.2.1.1", req_id=f"{i}"))
        added.set()

    started = time.monotonic()
    threads = [threading.Thread(target=run), threading.Thread(target=add)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive(), "a thread hung"
    assert time.monotonic() - started < 1.0
    assert sorted(r.req_id or b"" for r in got) == sorted(
        [f"first-{i}".encode() for i in range(5)] + [f"{i}".encode() for i in range(50)]
    )
    assert all(r.status == "successful" and len(records(r.results)) > 5 for r in got)


def test_walk_mode_forces_getnext_or_getbulk(agent: Agent) -> None:
    # A real agent answers both: the same records either way (the fallback itself is tested
    # in Rust, tests/collect.rs, through a relay that drops GETBULK).
    getnext = snmp_stream.walk(agent.host, "public", SW_NAMES, config={"walk_mode": "getnext"})
    getbulk = snmp_stream.walk(agent.host, "public", SW_NAMES, config=Config(walk_mode="getbulk"))
    assert getnext.status == getbulk.status == "successful"
    assert records(getnext.results) == records(getbulk.results)
    assert len(records(getnext.results)) > 10


def test_varbinds_are_typed_python_values(values_agent: Agent) -> None:
    base = ".1.3.6.1.4.1.99998"
    oids = [f"{base}.{n}" for n in (1, 3, 7, 10, 11, 13, 14)] + ["1.3.6.1.2.1.1.99.0"]
    response = snmp_stream.get(values_agent.host, "public", oids)
    assert response.varbinds() == [
        (f"{base}.1", "STRING", bytes(range(20))),
        (f"{base}.3", "STRING", b'tab\there "quoted" back\\slash'),
        (f"{base}.7", "Timeticks", 8640123),
        (f"{base}.10", "INTEGER", -(2**31)),
        (f"{base}.11", "Counter32", 2**32 - 1),
        (f"{base}.13", "IpAddress", "192.0.2.255"),
        (f"{base}.14", "OID", f"{base}.1.2"),
        (".1.3.6.1.2.1.1.99.0", "noSuchObject", None),
    ]
    first = response.varbinds()[0]
    assert isinstance(first, snmp_stream.VarBind) and first.type == "STRING" and first.oid == f"{base}.1"
    assert response.text().splitlines() == net_snmp(
        "snmpget", "-On", "-v2c", "-c", "public", values_agent.host, *oids
    )
