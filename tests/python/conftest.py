"""Fixtures: a real net-snmp snmpd on 127.0.0.1 and ::1 (python/snmp_stream/agent.conf)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servers import nats_cluster, nats_server, own_nats_server, postgres  # noqa: F401  (throwaway servers)
from snmp_stream import snmpd
from snmp_stream.snmpd import Agent


def net_snmp(tool: str, *args: str) -> list[str]:
    """Runs a net-snmp tool with numeric OIDs and returns its output lines."""
    out = subprocess.run(
        [tool, "-On", *args], check=True, capture_output=True, text=True, env={**os.environ, "MIBS": ""}
    )
    return out.stdout.splitlines()


@pytest.fixture(scope="session")
def agent() -> Iterator[Agent]:
    """A real snmpd on 127.0.0.1 and ::1 on a free port with python/snmp_stream/agent.conf."""
    with snmpd.agents() as [running]:
        yield running


@pytest.fixture(scope="session")
def values_agent() -> Iterator[Agent]:
    """A real snmpd that also serves tests/fixtures/values_pass.py under 1.3.6.1.4.1.99998 (one
    value of each kind net-snmp formats specially; a non-increasing subtree under .100)."""
    program = Path(__file__).parent.parent / "fixtures" / "values_pass.py"
    with snmpd.agents(extra_config=f"pass .1.3.6.1.4.1.99998 {sys.executable} {program}") as [running]:
        yield running


@pytest.fixture(scope="session")
def delayed_agent_factory() -> Callable[[int, int], contextlib.AbstractContextManager[Agent]]:
    """`factory(rows, delay_ms)`: a context manager running a real snmpd that also serves the
    delayagent table (TABLE.1.COLUMN.ROW under 1.3.6.1.4.1.99999.1: 1 INTEGER R, 2 "row-R",
    3 Counter32 R*1000, 4 Counter64 R*2^32+R, 5 Gauge32 R%1000), each PDU `delay_ms` late."""

    @contextlib.contextmanager
    def factory(rows: int, delay_ms: int) -> Iterator[Agent]:
        with snmpd.delayed_agents(1, delay_ms, rows) as [delayed]:
            yield delayed

    return factory


def agent_packets(agent: Agent) -> int:
    """The agent's snmpInPkts: every packet it received (this GET included)."""
    import snmp_stream

    response = snmp_stream.get(
        agent.host, "public", "1.3.6.1.2.1.11.1.0", config={"timeout": 2, "retries": 2}
    )
    [(_, _, value)] = response.varbinds()
    return int(value)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port on 127.0.0.1 where nothing answers: a socket bound for the test and never
    read, so requests time out (a closed port would fail at once: ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


@pytest.fixture
def closed_port() -> int:
    """A UDP port on 127.0.0.1 where nothing listens (the kernel answers ICMP unreachable)."""
    return snmpd.closed_port()


def assert_gil_released(work: Callable[[], object]) -> None:
    """Runs `work` (again and again, for at least 0.3 s, so that a fast machine still gives a
    long enough sample) while another Python thread counts millisecond sleeps: if `work` held
    the GIL throughout, the counter would barely move."""
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < 0.3:
            work()
    finally:
        stop.set()
        counter.join()
    elapsed = time.monotonic() - started
    assert ticks > elapsed * 1000 * 0.3, (ticks, elapsed)
