"""Local net-snmp agents for trying snmp-stream without a network: `snmp-stream collect` with no
targets starts a few with `local_agents()`, collects from them and stops them.

The agents are real `snmpd` processes (Debian's `snmpd` package) on 127.0.0.1 and ::1, on free
ports, serving this machine's own MIB-2 tables with community "public".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["closed_port", "free_port", "local_agents"]

CONFIG = """\
rocommunity  public default
rocommunity6 public default
sysLocation  snmp-stream demo lab
sysContact   ops@example.net
sysName      {name}
sysServices  72
"""


def free_port() -> int:
    """A UDP port free on 127.0.0.1 and ::1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
                    v6.bind(("::1", port))
                    return port
            except OSError:
                continue


def closed_port(skip: int = 0) -> int:
    """A UDP port where nothing listens on 127.0.0.1 or ::1 (the kernel answers ICMP port
    unreachable), for a dead target. It lies below the kernel's ephemeral port range, so no
    client socket can be given it while it is in use as a dead target: a datagram to a port
    that one of our own unconnected sockets holds would be read by that socket, and the
    request would wait for its timeout instead of failing at once. `skip` picks a later one,
    for several distinct ports."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in range(min(low, 32768) - 1, 1024, -1):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
                v4.bind(("0.0.0.0", port))
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
                v6.bind(("::", port))
        except OSError:
            continue
        if skip == 0:
            return port
        skip -= 1
    raise RuntimeError("no free UDP port below the ephemeral range")


def _tail(path: str) -> str:
    """The last lines of a log file, or why there are none."""
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().strip().splitlines()[-5:]) or "(empty log)"
    except OSError as error:
        return f"(no log: {error})"


def _answers(port: int) -> bool:
    """True once an SNMP GET of sysName.0 on 127.0.0.1:port gets an answer."""
    import snmp_stream

    response = snmp_stream.get(
        f"127.0.0.1:{port}", "public", "1.3.6.1.2.1.1.5.0", config={"timeout": 0.2, "retries": 0}
    )
    return response.status == "successful"


@contextlib.contextmanager
def local_agents(count: int = 3) -> Iterator[list[str]]:
    """Starts `count` snmpd agents; yields their hosts (alternately "127.0.0.1:PORT" and
    "udp6:[::1]:PORT"), and stops them on exit."""
    snmpd = shutil.which("snmpd") or next((p for p in ("/usr/sbin/snmpd",) if os.path.exists(p)), None)
    if snmpd is None:
        raise RuntimeError("snmpd not found: install Debian's snmpd package (scripts/setup.sh does)")
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="snmp-stream-demo-") as tmp:
        try:
            hosts = []
            for n in range(count):
                config = os.path.join(tmp, f"snmpd-{n}.conf")
                with open(config, "w") as out:
                    out.write(CONFIG.format(name=f"demo-agent-{n + 1}"))
                # A port that was free when chosen can be taken before snmpd binds it (by any
                # socket on the machine): then snmpd exits, and it starts again on another.
                for attempt in range(3):
                    port = free_port()
                    state = os.path.join(tmp, f"{n}.{attempt}")
                    os.mkdir(state)
                    process = subprocess.Popen(
                        [
                            snmpd,
                            "-f",
                            "-Lf",
                            os.path.join(state, "log"),
                            "-C",
                            "-c",
                            config,
                            "-p",
                            os.path.join(state, "pid"),
                            f"udp:127.0.0.1:{port},udp6:[::1]:{port}",
                        ],
                        env={**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": state},
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    processes.append(process)
                    deadline = time.monotonic() + 10
                    up = False
                    while not up and process.poll() is None and time.monotonic() < deadline:
                        up = _answers(port)
                    if up:
                        break
                    process.kill()
                    process.wait()
                    log = _tail(os.path.join(state, "log"))
                    if attempt == 2:
                        raise RuntimeError(f"snmpd did not start on 127.0.0.1:{port} and [::1]:{port}: {log}")
                hosts.append(f"127.0.0.1:{port}" if n % 2 == 0 else f"udp6:[::1]:{port}")
            yield hosts
        finally:
            for process in processes:
                process.kill()
                process.wait()
