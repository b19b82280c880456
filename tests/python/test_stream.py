"""Streaming, many-host, asyncio and threaded use, and Ctrl-C, against a real snmpd."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import snmp_stream
from conftest import Agent, assert_gil_released, net_snmp
from snmp_stream import Collector, CollectorClosedError, SnmpRequest, aio
from test_api import SW_NAMES, SYS_NAME, records

FAST_FAIL = {"timeout": 0.3, "retries": 0}


def sys_name_request(host: str, req_id: str) -> SnmpRequest:
    return SnmpRequest("get", host, "public", SYS_NAME, req_id=req_id, config=FAST_FAIL)


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
        import socket

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

    for _, _response in zip(range(10), snmp_stream.stream(requests(), {"max_sessions": 8}, queue_capacity=8)):
        pass
    # Abandoning the generator stops the feeding thread: at most the one request it was
    # submitting comes after, and nowhere near all 10,000 were read.
    stopped_at = pulled
    time.sleep(0.2)
    assert pulled <= stopped_at + 1 and pulled < 1_000, (stopped_at, pulled)


def test_get_many_and_walk_many_keep_host_order(agent: Agent, silent_port: int) -> None:
    hosts = [agent.host, f"127.0.0.1:{silent_port}", agent.host6]
    responses = snmp_stream.get_many(hosts, "public", SYS_NAME, config=FAST_FAIL)
    assert [r.host for r in responses] == hosts
    assert [r.status for r in responses] == ["successful", "failed", "successful"]
    assert [r.req_id for r in responses] == [h.encode() for h in hosts]
    walks = snmp_stream.walk_many([agent.host] * 10, "public", SW_NAMES)
    assert len({len(records(r.results)) for r in walks}) == 1


def test_eight_threads_single_use_and_streaming_at_once(agent: Agent) -> None:
    reference = [
        line.split()[0]
        for line in net_snmp("snmpbulkwalk", "-v2c", "-c", "public", "-Oq", agent.host, SW_NAMES)
    ]
    reference_index = [tuple(int(s) for s in name.rsplit(".", 1)[1:]) for name in reference]

    def single_use(worker: int) -> list[tuple[int, ...]]:
        indexes = []
        for _ in range(5):
            response = snmp_stream.walk(agent.host, "public", SW_NAMES)
            assert response.status == "successful"
            indexes = [r[2] for r in records(response.results)]
            assert indexes == reference_index, worker
        return indexes

    def streaming(worker: int) -> list[tuple[int, ...]]:
        requests = (
            SnmpRequest("walk", agent.host6, "public", SW_NAMES, req_id=f"{worker}-{i}") for i in range(5)
        )
        responses = list(snmp_stream.stream(requests))
        assert len(responses) == 5
        for response in responses:
            assert [r[2] for r in records(response.results)] == reference_index, worker
        return reference_index

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(single_use if w % 2 else streaming, w) for w in range(8)]
        results = [f.result(timeout=60) for f in futures]
    assert all(r == reference_index for r in results)


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


CTRL_C_SCRIPT = """
import os, sys, threading, gc
import snmp_stream
fds_before = len(os.listdir("/proc/self/fd"))
host = sys.argv[1]
interrupted = False
try:
    if sys.argv[2] == "walk":
        snmp_stream.get(host, "public", "1.3.6.1.2.1.1.5.0", config={"timeout": 60, "retries": 0})
    else:
        reqs = (snmp_stream.SnmpRequest("get", host, "public", "1.3.6.1.2.1.1.5.0", req_id=str(i),
                                        config={"timeout": 60, "retries": 0}) for i in range(100))
        for r in snmp_stream.stream(reqs):
            pass
except KeyboardInterrupt:
    interrupted = True
# Measured after the except block, whose traceback keeps the interrupted call's locals alive.
gc.collect()
threads = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
print("interrupted" if interrupted else "finished", threads, len(os.listdir("/proc/self/fd")) - fds_before)
"""


@pytest.mark.parametrize("mode", ["walk", "stream"])
def test_ctrl_c_interrupts_promptly_and_cleans_up(silent_port: int, mode: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CTRL_C_SCRIPT), f"127.0.0.1:{silent_port}", mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(snmp_stream.__file__).parent.parent)},
    )
    time.sleep(1.0)  # importing and starting the long collection
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
