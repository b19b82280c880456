#!/usr/bin/env python3
"""Real net-snmp agents with big tables, for benchmarks run by hand (issue 3).

Two context managers and a CLI (run as root; needs iproute2, snmpd and the snmp tools):

- `netns_agent(name, interfaces=N, routes=M)`: a network namespace NAME holding ceil(N/2) veth
  pairs (both ends inside, up), M /32 routes 198.18.x.y via a veth neighbour, and an uplink
  veth pair to the host in the RFC 2544 range (slot k: host 198.18.0.4k+1/30, namespace
  198.18.0.4k+2/30; slot 0 gives 198.18.0.1 / 198.18.0.2). snmpd runs inside on the namespace
  address, port 161. Yields "198.18.0.2:161" (for slot 0). On exit snmpd is killed and the
  namespace deleted, which removes its veths (the host end included).
- `loopback_agents(count)`: `count` plain snmpd processes on free 127.0.0.1 ports; yields
  their "127.0.0.1:PORT" hosts.

Both use tests/fixtures/snmpd.conf (community "public"). All traffic goes to 127.0.0.1 or to
the namespaces created here.

    python3 bench/agents.py netns --interfaces 10000 --routes 5000   # prints counts, waits for Enter
    python3 bench/agents.py loopback --count 4                       # prints hosts, waits for Enter
    python3 bench/agents.py selftest                                 # small end-to-end check, exit 0/1
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests/fixtures/snmpd.conf"
COMMUNITY = "public"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_TABLE = "1.3.6.1.2.1.2.2"
IFX_TABLE = "1.3.6.1.2.1.31.1.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IP_ROUTE_DEST = "1.3.6.1.2.1.4.21.1.1"  # ipRouteTable's ipRouteDest (IPv4 only)
NEXT_HOP_NET = ipaddress.ip_network("198.19.255.0/30")  # pair 0: a0 .1, b0 .2 (the next hop)
ROUTE_BASE = int(ipaddress.ip_address("198.18.1.0"))  # routes 198.18.1.0 ... 198.18.255.255
MAX_ROUTES = 255 * 256
MAX_SLOTS = 64  # /30s in 198.18.0.0/24
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,11}")


def _snmpd() -> str:
    return shutil.which("snmpd") or "/usr/sbin/snmpd"


def _run(command: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Runs `command`, capturing output; raises with its stderr when it fails and `check`."""
    result = subprocess.run(command, input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])}... failed ({result.returncode}): {result.stderr.strip()[:2000]}")
    return result


def _start_snmpd(listen: str, tmp: str, prefix: list[str] | None = None) -> subprocess.Popen[bytes]:
    """Starts snmpd in the foreground on `listen` with the fixture config, state and log in `tmp`."""
    command = [*(prefix or []), _snmpd(), "-f", "-Lf", f"{tmp}/snmpd.log", "-C", "-c", str(CONFIG),
               "-p", f"{tmp}/snmpd.pid", listen]
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": tmp}
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; always reaps."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(host: str, process: subprocess.Popen[bytes], timeout: float, log: str | None = None) -> float:
    """Polls sysName.0 on `host` until it answers; returns the seconds waited."""
    start = time.perf_counter()
    probe = ["snmpget", "-v2c", "-c", COMMUNITY, "-t", "0.5", "-r", "0", host, SYS_NAME]
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            tail = Path(log).read_text(errors="replace")[-2000:] if log and Path(log).exists() else ""
            raise RuntimeError(f"snmpd for {host} exited with {process.returncode}: {tail}")
        if subprocess.run(probe, capture_output=True).returncode == 0:
            return time.perf_counter() - start
        time.sleep(0.1)
    raise TimeoutError(f"snmpd on {host} did not answer within {timeout} s")


@dataclass
class Walk:
    """One snmpbulkwalk: its subtree, how many varbinds it returned and how long it took."""

    oid: str
    varbinds: int
    seconds: float
    lines: list[str]


def bulkwalk(host: str, oid: str, max_repetitions: int = 50, timeout: float = 5.0, retries: int = 1) -> Walk:
    """Walks `oid` on `host` with net-snmp's snmpbulkwalk (numeric OIDs), timed."""
    command = ["snmpbulkwalk", "-v2c", "-c", COMMUNITY, f"-Cr{max_repetitions}", "-On", "-Oq",
               "-t", str(timeout), "-r", str(retries), host, oid]
    start = time.perf_counter()
    out = _run(command).stdout
    seconds = time.perf_counter() - start
    # A varbind line starts with its numeric OID; anything else continues a multi-line value.
    lines = [line for line in out.splitlines() if line.startswith(".1.")]
    return Walk(oid, len(lines), seconds, lines)


# --- namespaces ------------------------------------------------------------------------------

def _netns_exists(name: str) -> bool:
    return name in _run(["ip", "netns", "list"]).stdout.split()


def _link_exists(link: str) -> bool:
    return _run(["ip", "link", "show", "dev", link], check=False).returncode == 0


def _wait_link_gone(link: str, timeout: float = 120.0) -> float:
    """Waits until the host end of a deleted namespace's uplink has disappeared; returns seconds."""
    start = time.perf_counter()
    while _link_exists(link):
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"link {link} still exists {timeout} s after its namespace was deleted")
        time.sleep(0.1)
    return time.perf_counter() - start


def _delete_netns(name: str, host_link: str) -> None:
    """Deletes namespace `name` (and so its veths) if present, and a leftover host end."""
    if _netns_exists(name):
        _run(["ip", "netns", "del", name])
    with contextlib.suppress(TimeoutError):
        _wait_link_gone(host_link, timeout=60)
    if _link_exists(host_link):
        _run(["ip", "link", "del", "dev", host_link], check=False)


def _free_slot() -> int:
    """The first /30 in 198.18.0.0/24 whose host address is not configured on the host."""
    used = set(re.findall(r"inet (198\.18\.0\.\d+)/", _run(["ip", "-4", "-o", "addr", "show"]).stdout))
    for slot in range(MAX_SLOTS):
        if f"198.18.0.{4 * slot + 1}" not in used:
            return slot
    raise RuntimeError("no free /30 left in 198.18.0.0/24")


def _inner_batch(pairs: int, routes: int) -> str:
    """`ip -batch` commands run inside the namespace: veth pairs a<i>/b<i>, next hop, routes."""
    lines = ["link set lo up"]
    for i in range(pairs):
        lines.append(f"link add a{i} type veth peer name b{i}")
    for i in range(pairs):
        lines.append(f"link set a{i} up")
        lines.append(f"link set b{i} up")
    if routes:
        near, far = list(NEXT_HOP_NET.hosts())
        lines.append(f"addr add {near}/{NEXT_HOP_NET.prefixlen} dev a0")
        lines.append(f"addr add {far}/{NEXT_HOP_NET.prefixlen} dev b0")
        for r in range(routes):
            lines.append(f"route add {ipaddress.ip_address(ROUTE_BASE + r)}/32 via {far} dev a0")
    return "\n".join(lines) + "\n"


@dataclass
class NetnsAgent:
    """A running namespace agent: its host string and how long setting it up took."""

    name: str
    host: str
    address: str
    host_link: str
    interfaces: int
    routes: int
    setup_seconds: float = 0.0
    startup_seconds: float = 0.0
    teardown_seconds: float = 0.0


@contextlib.contextmanager
def netns_agent(name: str = "snmpbench", interfaces: int = 100, routes: int = 0,
                slot: int | None = None, ready_timeout: float = 300.0) -> Iterator[NetnsAgent]:
    """Runs snmpd in a new network namespace `name` with `interfaces` veth ends and `routes` routes.

    The namespace holds ceil(interfaces / 2) veth pairs named a<i>/b<i> (so ifNumber is that
    many ends plus lo plus the uplink), and `routes` routes 198.18.1.0/32, 198.18.1.1/32, ...
    via b0's address 198.19.255.2 on a0. IPv6 is disabled inside the namespace (no link-local
    addresses or DAD for thousands of links). The uplink veth "sb-<name>" on the host has
    198.18.0.4k+1/30 and its peer "uplink" in the namespace 198.18.0.4k+2/30, where k is `slot`
    (default: the first free one, 0 gives 198.18.0.2). A namespace of the same name left over
    from an earlier run is deleted first. Yields a NetnsAgent whose `.host` is "ADDR:161".
    """
    if os.geteuid() != 0:
        raise PermissionError("netns_agent needs root")
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"namespace name {name!r}: use 1-11 characters [A-Za-z0-9_-]")
    if interfaces < 0 or not 0 <= routes <= MAX_ROUTES:
        raise ValueError(f"interfaces {interfaces} must be >= 0, routes {routes} in 0..{MAX_ROUTES}")
    pairs = math.ceil(interfaces / 2)
    if routes and pairs == 0:
        raise ValueError("routes need at least one veth pair for their next hop")
    host_link = f"sb-{name}"
    _delete_netns(name, host_link)
    slot = _free_slot() if slot is None else slot
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"slot {slot} not in 0..{MAX_SLOTS - 1}")
    host_address, address = f"198.18.0.{4 * slot + 1}", f"198.18.0.{4 * slot + 2}"
    agent = NetnsAgent(name, f"{address}:161", address, host_link, 2 * pairs, routes)
    process: subprocess.Popen[bytes] | None = None
    tmp = tempfile.mkdtemp(prefix=f"snmpbench-{name}-")
    in_ns = ["ip", "netns", "exec", name]
    try:
        start = time.perf_counter()
        _run(["ip", "netns", "add", name])
        for key in ("all", "default"):
            _run([*in_ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        _run([*in_ns, "ip", "-batch", "-"], stdin=_inner_batch(pairs, routes))
        _run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", "uplink", "netns", name])
        _run(["ip", "addr", "add", f"{host_address}/30", "dev", host_link])
        _run(["ip", "link", "set", host_link, "up"])
        _run([*in_ns, "ip", "-batch", "-"], stdin=f"addr add {address}/30 dev uplink\nlink set uplink up\n")
        agent.setup_seconds = time.perf_counter() - start
        process = _start_snmpd(f"udp:{address}:161", tmp, prefix=in_ns)
        agent.startup_seconds = wait_ready(agent.host, process, ready_timeout, f"{tmp}/snmpd.log")
        yield agent
    finally:
        if process is not None:
            _stop(process)
        start = time.perf_counter()
        try:
            if _netns_exists(name):
                _run(["ip", "netns", "del", name])
            _wait_link_gone(host_link)
        finally:
            agent.teardown_seconds = time.perf_counter() - start
            shutil.rmtree(tmp, ignore_errors=True)


# --- loopback --------------------------------------------------------------------------------

def _free_ports(count: int) -> list[int]:
    """`count` distinct free UDP ports on 127.0.0.1 (held together while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def loopback_agents(count: int, ready_timeout: float = 30.0) -> Iterator[list[str]]:
    """Runs `count` snmpd processes on free 127.0.0.1 ports; yields their "127.0.0.1:PORT" hosts."""
    processes: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.mkdtemp(prefix="snmpbench-lo-")
    try:
        hosts = [f"127.0.0.1:{port}" for port in _free_ports(count)]
        for i, host in enumerate(hosts):
            os.mkdir(f"{tmp}/{i}")
            processes.append(_start_snmpd(f"udp:{host}", f"{tmp}/{i}"))
        for i, (host, process) in enumerate(zip(hosts, processes)):
            wait_ready(host, process, ready_timeout, f"{tmp}/{i}/snmpd.log")
        yield hosts
    finally:
        for process in processes:
            _stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


# --- CLI -------------------------------------------------------------------------------------

def _report(agent: NetnsAgent, max_repetitions: int, timeout: float) -> dict[str, Walk]:
    """Prints the agent and times snmpbulkwalk over ifTable and ifXTable."""
    print(f"agent {agent.host} in namespace {agent.name}: {agent.interfaces} veth ends, {agent.routes} routes; "
          f"setup {agent.setup_seconds:.2f} s, snmpd answered after {agent.startup_seconds:.2f} s", flush=True)
    walks = {}
    for label, oid in (("ifTable", IF_TABLE), ("ifXTable", IFX_TABLE)):
        walk = bulkwalk(agent.host, oid, max_repetitions, timeout)
        rows = sum(1 for line in walk.lines if line.startswith(f".{oid}.1.1."))
        print(f"snmpbulkwalk -Cr{max_repetitions} {label:<8} {oid:<20} {walk.varbinds:>8} varbinds "
              f"({rows} rows) in {walk.seconds:.2f} s", flush=True)
        walks[label] = walk
    return walks


def _wait_for_enter(message: str) -> None:
    print(message, flush=True)
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        input()


def _selftest() -> int:
    """200 interfaces, 100 routes and 2 loopback agents, end to end; 0 when all checks pass."""
    name, failures = "snmpbenchst", []

    def check(ok: bool, what: str) -> None:
        print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            failures.append(what)

    try:
        with netns_agent(name, interfaces=200, routes=100) as agent:
            walks = _report(agent, 50, 5.0)
            rows = sum(1 for line in walks["ifTable"].lines if line.startswith(f".{IF_INDEX}."))
            check(rows == 202, f"ifTable has 202 rows (200 veth ends, lo, uplink): {rows}")
            xrows = sum(1 for line in walks["ifXTable"].lines if line.startswith(f".{IFX_TABLE}.1.1."))
            check(xrows == 202, f"ifXTable has 202 rows: {xrows}")
            dests = bulkwalk(agent.host, IP_ROUTE_DEST).lines
            ours = sum(1 for line in dests if line.startswith(f".{IP_ROUTE_DEST}.198.18.") and
                       not line.startswith(f".{IP_ROUTE_DEST}.198.18.0."))
            check(ours == 100, f"ipRouteTable has the 100 routes 198.18.1.x: {ours}")
        check(not _netns_exists(name), "namespace deleted")
        check(not _link_exists(agent.host_link), f"host link {agent.host_link} gone "
              f"(teardown {agent.teardown_seconds:.2f} s)")
        with loopback_agents(2) as hosts:
            names = [_run(["snmpget", "-v2c", "-c", COMMUNITY, "-Oqv", host, SYS_NAME]).stdout.strip()
                     for host in hosts]
            check(names == ['"snmp-stream-test"'] * 2 or names == ["snmp-stream-test"] * 2,
                  f"2 loopback agents {hosts} answer sysName: {names}")
    except Exception as error:  # report, clean up (done by the context managers), exit 1
        check(False, f"{type(error).__name__}: {error}")
    print("selftest", "FAILED" if failures else "passed")
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    netns = sub.add_parser("netns", help="snmpd in a namespace with many interfaces and routes")
    netns.add_argument("--name", default="snmpbench")
    netns.add_argument("--interfaces", type=int, default=10000)
    netns.add_argument("--routes", type=int, default=0)
    netns.add_argument("--max-repetitions", type=int, default=50)
    netns.add_argument("--timeout", type=float, default=5.0, help="snmpbulkwalk -t seconds")
    netns.add_argument("--no-wait", action="store_true", help="clean up right after the walks")
    loop = sub.add_parser("loopback", help="plain snmpd processes on 127.0.0.1")
    loop.add_argument("--count", type=int, default=1)
    sub.add_parser("selftest", help="200 interfaces, 100 routes, 2 loopback agents; exit 0/1")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the context managers clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.command == "selftest":
        return _selftest()
    try:
        if args.command == "netns":
            with netns_agent(args.name, args.interfaces, args.routes) as agent:
                _report(agent, args.max_repetitions, args.timeout)
                if not args.no_wait:
                    _wait_for_enter(f"{agent.host} is up; press Enter (or Ctrl-C) to stop and clean up")
            print(f"cleaned up in {agent.teardown_seconds:.2f} s")
        else:
            with loopback_agents(args.count) as hosts:
                print(" ".join(hosts), flush=True)
                _wait_for_enter("press Enter (or Ctrl-C) to stop")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
