"""Streaming, many-host, asyncio and threaded use, and Ctrl-C, against a real snmpd."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import snmp_stream
from conftest import Agent, assert_gil_released, net_snmp
from snmp_stream import Collector, CollectorClosedError, SnmpRequest, SnmpResponse, aio
from test_api import SW_NAMES, SYS_NAME, records

FAST_FAIL = {"timeout": 0.3, "retries": 0}

Rows = list[tuple[tuple[int, ...], bytes]]


def sys_name_request(host: str, req_id: str) -> SnmpRequest:
    return SnmpRequest("get", host, "public", SYS_NAME, req_id=req_id, config=FAST_FAIL)


def sw_names_reference(host: str) -> Rows:
    """hrSWInstalledName as net-snmp's snmpbulkwalk reads it from `host`: (index, value) rows,
    hundreds of them, which every walk of SW_NAMES on the same agent must match."""
    rows = []
    for line in net_snmp("snmpbulkwalk", "-v2c", "-c", "public", "-Oq", host, SW_NAMES):
        oid, _, text = line.partition(" ")  # .1.3.6.1.2.1.25.6.3.1.2.7 "adduser_3.134_all"
        assert oid.startswith(f".{SW_NAMES}.") and text.startswith('"') and text.endswith('"'), line
        rows.append((tuple(int(s) for s in oid[len(SW_NAMES) + 2 :].split(".")), text[1:-1].encode()))
    assert len(rows) > 100, "an empty reference would let an empty walk pass"
    return rows


def walk_outcome(response: SnmpResponse) -> tuple[str, Rows]:
    """What a walk of SW_NAMES must get right: its status and its (index, value) rows."""
    return response.status, [(index, value) for _, _, index, value in records(response.results)]


def test_collector_submit_close_iterate(agent: Agent) -> None:
    with Collector({"max_sessions": 8}, queue_capacity=4) as collector:
        for i in range(50):
            collector.submit(SnmpRequest("walk", agent.host, "public", "1.3.6.1.2.1.1", req_id=f"{i}"))
        collector.close()
        responses = list(collector)
    assert sorted(int(r.req_id or b"") for r in responses) == list(range(50))
    assert all(r.status == "successful" for r in responses)
    with pytest.raises(CollectorClosedError):
        collector.submit(sys_name_request(agent.host, "late"))
    with pytest.raises(CollectorClosedError, match="closed"):
        collector.receive(timeout=0.01)  # closed and drained


def test_collector_receive_timeout(agent: Agent) -> None:
    collector = Collector()
    started = time.monotonic()
    assert collector.receive(timeout=0.2) is None
    assert 0.15 < time.monotonic() - started < 1.0
    collector.close()
    with pytest.raises(CollectorClosedError):
        collector.receive()


def test_stream_2000_requests_with_dead_agents_yields_one_response_each(agent: Agent) -> None:
    dead = []
    for _ in range(3):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            dead.append(f"127.0.0.1:{s.getsockname()[1]}")
    hosts = [agent.host, agent.host6, *dead]

    def requests() -> Iterator[SnmpRequest]:  # lazy, as a bus reader would be
        for i in range(2000):
            yield sys_name_request(hosts[i % len(hosts)], f"{i}")

    seen: dict[bytes, str] = {}
    for response in snmp_stream.stream(requests(), {"max_sessions": 400}):
        assert response.req_id not in seen
        seen[response.req_id or b""] = response.status
    assert len(seen) == 2000
    for req_id, status in seen.items():
        expected = "successful" if int(req_id) % len(hosts) < 2 else "failed"
        assert status == expected, req_id


def test_stream_reads_its_source_lazily(agent: Agent) -> None:
    pulled = 0

    def requests() -> Iterator[SnmpRequest]:
        nonlocal pulled
        for i in range(300):
            pulled += 1
            yield SnmpRequest("walk", agent.host, "public", SW_NAMES, req_id=f"{i}")

    iterator = snmp_stream.stream(requests(), {"max_sessions": 4}, queue_capacity=2)
    next(iterator)
    # 4 in flight, 2 queued, 1 held by the engine, 1 in the feeder's hand: far from all 300.
    assert pulled < 20, pulled
    rest = list(iterator)
    assert len(rest) == 299 and pulled == 300


def test_stream_raises_the_source_error_after_the_responses(agent: Agent) -> None:
    def requests() -> Iterator[SnmpRequest]:
        for i in range(5):
            yield sys_name_request(agent.host, f"{i}")
        raise RuntimeError("the bus went away")

    got = []
    with pytest.raises(RuntimeError, match="the bus went away"):
        for response in snmp_stream.stream(requests()):
            got.append(response)
    assert len(got) == 5


def test_stream_stopped_early_stops_reading(agent: Agent) -> None:
    pulled = 0

    def requests() -> Iterator[SnmpRequest]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield sys_name_request(agent.host, f"{i}")

    responses = snmp_stream.stream(requests(), {"max_sessions": 8}, queue_capacity=8)
    received = [response for _, response in zip(range(10), responses)]
    del responses  # abandoned after 10, as a `break` out of its loop leaves it: it closes now
    assert [r.status for r in received] == ["successful"] * 10
    # Abandoning the generator stops the feeding thread: at most the one request it was
    # submitting comes after, and nowhere near all 10,000 were read.
    stopped_at = pulled
    # A sleep, on purpose: this observes that something does NOT happen (no more reads), and
    # no event marks "will never read again" (the feeder may be left blocked in the caller's
    # iterable, by design). A feeder still reading would pull far more than one request in
    # 0.2 s (each GET to this local agent takes well under a millisecond).
    time.sleep(0.2)
    assert pulled <= stopped_at + 1 and pulled < 1_000, (stopped_at, pulled)


def test_get_many_and_walk_many_keep_host_order(agent: Agent, silent_port: int) -> None:
    hosts = [agent.host, f"127.0.0.1:{silent_port}", agent.host6]
    responses = snmp_stream.get_many(hosts, "public", SYS_NAME, config=FAST_FAIL)
    assert [r.host for r in responses] == hosts
    assert [r.status for r in responses] == ["successful", "failed", "successful"]
    assert [r.req_id for r in responses] == [h.encode() for h in hosts]
    reference = sw_names_reference(agent.host)
    walk_hosts = [agent.host, agent.host6] * 5  # one agent on both addresses: the same rows
    walks = snmp_stream.walk_many(walk_hosts, "public", SW_NAMES)
    assert [(r.host, r.req_id) for r in walks] == [(h, h.encode()) for h in walk_hosts]
    for i, walk in enumerate(walks):
        assert walk_outcome(walk) == ("successful", reference), (i, walk.errors)


def test_eight_threads_single_use_and_streaming_at_once(agent: Agent) -> None:
    reference = sw_names_reference(agent.host)

    # Each worker returns the outcome of every one of its 5 walks; all are checked below.
    def single_use(worker: int) -> list[tuple[str, Rows]]:
        return [walk_outcome(snmp_stream.walk(agent.host, "public", SW_NAMES)) for _ in range(5)]

    def streaming(worker: int) -> list[tuple[str, Rows]]:
        requests = (
            SnmpRequest("walk", agent.host6, "public", SW_NAMES, req_id=f"{worker}-{i}") for i in range(5)
        )
        return [walk_outcome(response) for response in snmp_stream.stream(requests)]

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(single_use if w % 2 else streaming, w) for w in range(8)]
        results = [f.result(timeout=60) for f in futures]
    for worker, outcomes in enumerate(results):
        assert outcomes == [("successful", reference)] * 5, worker


def test_asyncio_get_walk_and_collector(agent: Agent, silent_port: int) -> None:
    async def main() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        results = await asyncio.gather(
            *[aio.walk(agent.host, "public", SW_NAMES, req_id=f"{i}") for i in range(20)],
            aio.get(f"127.0.0.1:{silent_port}", "public", SYS_NAME, config=FAST_FAIL),
            aio.get(agent.host6, ("public", "v1"), SYS_NAME),
        )
        ticking.cancel()
        assert [r.status for r in results] == ["successful"] * 20 + ["failed", "successful"]
        assert ticks > 20, "the event loop kept running during collection"

        async with aio.AsyncCollector({"max_sessions": 10}) as collector:
            for i in range(30):
                await collector.submit(sys_name_request(agent.host, f"{i}"))
            collector.close()
            got = [response async for response in collector]
        assert sorted(int(r.req_id or b"") for r in got) == list(range(30))

    asyncio.run(main())


def test_asyncio_engine_of_its_own_keeps_its_max_sessions() -> None:
    # An agent that the test reads and never answers: requests stay in flight until they time
    # out (1.5 s, no retries), so what arrives before then is what max_sessions let out.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{agent.getsockname()[1]}"

        async def main() -> list[str]:
            engine = aio.Engine({"max_sessions": 3, "timeout": 1.5, "retries": 0})
            requests = [SnmpRequest("get", host, "public", SYS_NAME, req_id=f"{i}") for i in range(6)]
            collecting = [asyncio.create_task(engine.collect(r)) for r in requests]
            await asyncio.sleep(0.7)
            agent.setblocking(False)
            arrived = 0
            with contextlib.suppress(BlockingIOError):
                while agent.recv(2048):
                    arrived += 1
            assert arrived == 3, f"{arrived} requests sent while 3 may be in flight"
            return [r.status for r in await asyncio.gather(*collecting)]

        assert asyncio.run(main()) == ["failed"] * 6


def engine_threads() -> int:
    """The collectors' engine threads running in this process (names are cut to 15 bytes)."""
    tasks = Path("/proc/self/task").iterdir()
    return sum(1 for task in tasks if (task / "comm").read_text().strip() == "snmp-stream-col")


def test_asyncio_waits_without_threads_and_frees_its_engine_with_the_loop(agent: Agent) -> None:
    before, python_threads = engine_threads(), threading.active_count()

    async def main() -> None:
        responses = await asyncio.gather(*[aio.get(agent.host, "public", SYS_NAME) for _ in range(5)])
        assert [r.status for r in responses] == ["successful"] * 5
        # One engine for this loop, and no Python thread waiting for its responses.
        assert engine_threads() == before + 1
        assert threading.active_count() == python_threads

    for _ in range(3):
        asyncio.run(main())  # each loop gets its engine, freed when the loop closes
    gc.collect()
    deadline = time.monotonic() + 5
    while engine_threads() > before and time.monotonic() < deadline:
        time.sleep(0.01)  # the thread is ending (its sessions are already closed)
    assert engine_threads() == before


CTRL_C_SCRIPT = """
import os, sys, threading, gc
import snmp_stream
fds_before = len(os.listdir("/proc/self/fd"))
host, requests = sys.argv[1], int(sys.argv[3])
interrupted = False
try:
    if sys.argv[2] == "walk":
        snmp_stream.get(host, "public", "1.3.6.1.2.1.1.5.0", config={"timeout": 60, "retries": 0})
    else:
        reqs = (snmp_stream.SnmpRequest("get", host, "public", "1.3.6.1.2.1.1.5.0", req_id=str(i),
                                        config={"timeout": 60, "retries": 0}) for i in range(requests))
        for r in snmp_stream.stream(reqs, {"max_sessions": requests}):
            pass
except KeyboardInterrupt:
    interrupted = True
# Measured after the except block, whose traceback keeps the interrupted call's locals alive.
gc.collect()
threads = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
print("interrupted" if interrupted else "finished", threads, len(os.listdir("/proc/self/fd")) - fds_before)
"""


def receive_datagrams(listener: socket.socket, count: int, process: subprocess.Popen[str]) -> int:
    """Reads datagrams from `listener` until `count` have come, `process` has exited, or 30 s
    have passed; returns how many came."""
    received = 0
    deadline = time.monotonic() + 30
    while received < count and process.poll() is None and time.monotonic() < deadline:
        if select.select([listener], [], [], 0.05)[0]:
            listener.recv(65536)
            received += 1
    return received


@pytest.mark.parametrize(("mode", "requests"), [("walk", 1), ("stream", 100)])
def test_ctrl_c_interrupts_promptly_and_cleans_up(mode: str, requests: int) -> None:
    # The target is a UDP socket read here and never answered (as the silent_port fixture's
    # is). Ctrl-C is pressed as soon as the child's first request arrives on it: the child is
    # then inside the collection (a "ready" line printed before the call would race with the
    # call's start), and for the stream, still starting the other requests: abort must close
    # every socket the engine opened before it returns.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CTRL_C_SCRIPT), host, mode, str(requests)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(Path(snmp_stream.__file__).parent.parent)},
        )
        if receive_datagrams(silent, 1, process) < 1:
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"the child sent no request ({process.returncode}): {err}")
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert time.monotonic() - sent < 2.0, "Ctrl-C took effect promptly"
    assert process.returncode == 0, err
    # Nothing left behind: no non-daemon thread, and no more open fds than before the call.
    assert out.strip() == "interrupted [] 0", (out, err)


def test_stream_releases_the_gil_between_responses(agent: Agent) -> None:
    requests = [SnmpRequest("walk", agent.host, "public", SW_NAMES, config={"max_var_binds_per_pdu": 5})] * 20

    def collect() -> None:
        assert len(list(snmp_stream.stream(requests))) == 20

    assert_gil_released(collect)
