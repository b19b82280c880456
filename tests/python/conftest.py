"""Fixtures: a real net-snmp snmpd on 127.0.0.1 and ::1 (tests/fixtures/snmpd.conf)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from servers import nats_cluster, nats_server, own_nats_server, postgres  # noqa: F401  (throwaway servers)
from snmp_stream import demo
from snmp_stream.demo import free_port

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class Agent:
    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.host6 = f"udp6:[::1]:{port}"


def net_snmp(tool: str, *args: str) -> list[str]:
    """Runs a net-snmp tool with numeric OIDs and returns its output lines."""
    out = subprocess.run(
        [tool, "-On", *args], check=True, capture_output=True, text=True, env={**os.environ, "MIBS": ""}
    )
    return out.stdout.splitlines()


@contextlib.contextmanager
def snmpd_agent(extra_config: str = "", env: dict[str, str] | None = None) -> Iterator[Agent]:
    """A real snmpd on 127.0.0.1 and ::1 on a free port with tests/fixtures/snmpd.conf (plus
    `extra_config` lines, e.g. a dlmod), stopped on exit."""
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    with tempfile.TemporaryDirectory() as tmp:
        # Outside the agent's SNMP_PERSISTENT_DIR, where snmpd writes a snmpd.conf of its own.
        (Path(tmp) / "conf").mkdir()
        config = Path(tmp) / "conf" / "snmpd.conf"
        config.write_text((FIXTURES / "snmpd.conf").read_text() + extra_config)
        for _ in range(5):
            port = free_port()
            process = subprocess.Popen(
                [
                    snmpd,
                    "-f",
                    "-Lf",
                    f"{tmp}/log",
                    "-C",
                    "-c",
                    str(config),
                    "-I",
                    "-smux",
                    "-p",
                    f"{tmp}/pid",
                    f"udp:127.0.0.1:{port},udp6:[::1]:{port}",
                ],
                env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": tmp, **(env or {})},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            probe = [
                "snmpget",
                "-v2c",
                "-c",
                "public",
                "-t",
                "0.2",
                "-r",
                "0",
                f"127.0.0.1:{port}",
                "1.3.6.1.2.1.1.5.0",
            ]
            for _ in range(100):
                if process.poll() is not None or subprocess.run(probe, capture_output=True).returncode == 0:
                    break
                time.sleep(0.05)
            if process.poll() is None:
                try:
                    yield Agent(port)
                finally:
                    process.kill()
                    process.wait()
                return
        raise RuntimeError(f"snmpd did not start: {(Path(tmp) / 'log').read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def agent() -> Iterator[Agent]:
    with snmpd_agent() as running:
        yield running


def delayagent_module(build_dir: Path) -> Path:
    """tests/fixtures/delayagent/delayagent.c built into `build_dir` (an snmpd extension serving
    a synthetic 5-column table under 1.3.6.1.4.1.99999.1 whose every PDU is answered
    DELAYAGENT_DELAY_MS late, without blocking the agent)."""
    source = FIXTURES / "delayagent" / "delayagent.c"
    target = build_dir / "delayagent.so"
    flags = subprocess.run(["net-snmp-config", "--cflags"], check=True, capture_output=True, text=True)
    libs = subprocess.run(["net-snmp-config", "--agent-libs"], check=True, capture_output=True, text=True)
    subprocess.run(
        [
            "cc",
            "-shared",
            "-fPIC",
            *flags.stdout.split(),
            "-o",
            str(target),
            str(source),
            *libs.stdout.split(),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="session")
def delayed_agent_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[int, int], contextlib.AbstractContextManager[Agent]]:
    """`factory(rows, delay_ms)`: a context manager running a real snmpd that also serves the
    delayagent table (TABLE.1.COLUMN.ROW under 1.3.6.1.4.1.99999.1: 1 INTEGER R, 2 "row-R",
    3 Counter32 R*1000, 4 Counter64 R*2^32+R, 5 Gauge32 R%1000), each PDU `delay_ms` late."""
    module = delayagent_module(tmp_path_factory.mktemp("delayagent"))

    def factory(rows: int, delay_ms: int) -> contextlib.AbstractContextManager[Agent]:
        env = {"DELAYAGENT_ROWS": str(rows), "DELAYAGENT_DELAY_MS": str(delay_ms)}
        return snmpd_agent(f"\ndlmod delayagent {module}\n", env)

    return factory


def agent_packets(agent: Agent) -> int:
    """The agent's snmpInPkts: every packet it received (this GET included)."""
    import snmp_stream

    response = snmp_stream.get(
        agent.host, "public", "1.3.6.1.2.1.11.1.0", config={"timeout": 2, "retries": 2}
    )
    [(_, _, value)] = snmp_stream._snmp_stream.decode_records(response.results)
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
    return demo.closed_port()


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
