"""Fixtures: a real net-snmp snmpd on 127.0.0.1 and ::1 (tests/fixtures/snmpd.conf)."""

from __future__ import annotations

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

from servers import nats_server, postgres  # noqa: F401  (throwaway NATS and PostgreSQL)
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


@pytest.fixture(scope="session")
def agent() -> Iterator[Agent]:
    snmpd = shutil.which("snmpd") or "/usr/sbin/snmpd"
    with tempfile.TemporaryDirectory() as tmp:
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
                    str(FIXTURES / "snmpd.conf"),
                    "-p",
                    f"{tmp}/pid",
                    f"udp:127.0.0.1:{port},udp6:[::1]:{port}",
                ],
                env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": tmp},
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
        raise RuntimeError(f"snmpd did not start; see {tmp}/log")


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
