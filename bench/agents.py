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
- `delayed_agents(count, delay_ms, rows)`: `count` snmpd processes on free 127.0.0.1 ports with
  the tests/fixtures/delayagent module loaded: a synthetic table of `rows` rows x 5 columns under
  1.3.6.1.4.1.99999.1 whose every request PDU is answered `delay_ms` late without blocking the
  agent (an artificial round-trip time, since loopback has none). Yields the hosts.

Both use tests/fixtures/snmpd.conf (community "public"). All traffic goes to 127.0.0.1 or to
the namespaces created here.

    python3 bench/agents.py netns --interfaces 10000 --routes 5000   # prints counts, waits for Enter
    python3 bench/agents.py loopback --count 4                       # prints hosts, waits for Enter
    python3 bench/agents.py delayed --count 4 --delay-ms 20 --rows 1000  # same, delayed agents
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
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "tests/fixtures/snmpd.conf"
COMMUNITY = "public"
ADMIN_COMMUNITY = "snmpbenchadmin"  # write access, from the namespace's own address only
NS_CACHE_TIMEOUT = ".1.3.6.1.4.1.8072.1.5.3.1.2"  # NET-SNMP-AGENT-MIB nsCacheTimeout
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


def _start_snmpd(listen: str, tmp: str, prefix: list[str] | None = None, config: Path | str = CONFIG,
                 options: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Starts snmpd in the foreground on `listen` with `config` (default: the fixture config),
    state and log in `tmp`. `tmp` is also SNMP_PERSISTENT_DIR, where snmpd writes its own
    snmpd.conf on exit: never put `config` there."""
    command = [*(prefix or []), _snmpd(), "-f", "-Lf", f"{tmp}/snmpd.log", "-C", "-c", str(config),
               *(options or []), "-p", f"{tmp}/snmpd.pid", listen]
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": tmp, **(env or {})}
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


def wait_ready(host: str, process: subprocess.Popen[bytes], timeout: float, log: str | None = None,
               oid: str = SYS_NAME, probe_timeout: float = 0.5) -> float:
    """Polls `oid` (default sysName.0) on `host` until it answers; returns the seconds waited."""
    start = time.perf_counter()
    probe = ["snmpget", "-v2c", "-c", COMMUNITY, "-t", str(probe_timeout), "-r", "0", host, oid]
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
    hosts: list[str] = field(default_factory=list)  # "ADDR:PORT" for each of `ports`
    pid: int | None = None  # snmpd's process id (in the host's pid namespace)


@contextlib.contextmanager
def netns_agent(name: str = "snmpbench", interfaces: int = 100, routes: int = 0,
                slot: int | None = None, ready_timeout: float = 300.0,
                ipv6: bool = False, extra_batch: str = "",
                cache_timeout: int | None = None, ports: Sequence[int] = ()) -> Iterator[NetnsAgent]:
    """Runs snmpd in a new network namespace `name` with `interfaces` veth ends and `routes` routes.

    The namespace holds ceil(interfaces / 2) veth pairs named a<i>/b<i> (so ifNumber is that
    many ends plus lo plus the uplink), and `routes` routes 198.18.1.0/32, 198.18.1.1/32, ...
    via b0's address 198.19.255.2 on a0. IPv6 is disabled inside the namespace (no link-local
    addresses or DAD for thousands of links). The uplink veth "sb-<name>" on the host has
    198.18.0.4k+1/30 and its peer "uplink" in the namespace 198.18.0.4k+2/30, where k is `slot`
    (default: the first free one, 0 gives 198.18.0.2). A namespace of the same name left over
    from an earlier run is deleted first. Yields a NetnsAgent whose `.host` is "ADDR:161".

    `ipv6=True` keeps IPv6 on in the namespace; `extra_batch` is more `ip -batch` commands run
    inside it after the veths and routes exist (neighbours, IPv6 addresses and routes,
    bridges), as the tests of the table recipes use it.

    `cache_timeout` (seconds) sets the timeout of every snmpd data cache (NET-SNMP-AGENT-MIB
    nsCacheTimeout, with an rwcommunity that only the namespace's own address may use): snmpd
    reloads a cache that has expired when the next request comes, and for 100k routes that takes
    tens of seconds without an answer to anyone, in the middle of whatever walk is running. The
    default (None) keeps snmpd's own timeouts (ipCidrRouteTable: 60 s).

    `ports`: more UDP ports snmpd listens on at the same address, besides 161 (one agent
    process behind many agent addresses, `agent.hosts`), e.g. for bench/pipeline.py.
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
    agent = NetnsAgent(name, f"{address}:161", address, host_link, 2 * pairs, routes,
                       hosts=[f"{address}:{port}" for port in ports])
    process: subprocess.Popen[bytes] | None = None
    tmp = tempfile.mkdtemp(prefix=f"snmpbench-{name}-")
    in_ns = ["ip", "netns", "exec", name]
    try:
        start = time.perf_counter()
        _run(["ip", "netns", "add", name])
        if not ipv6:
            for key in ("all", "default"):
                _run([*in_ns, "sysctl", "-qw", f"net.ipv6.conf.{key}.disable_ipv6=1"])
        _run([*in_ns, "ip", "-batch", "-"], stdin=_inner_batch(pairs, routes))
        if extra_batch:
            _run([*in_ns, "ip", "-batch", "-"], stdin=extra_batch)
        _run(["ip", "link", "add", host_link, "type", "veth", "peer", "name", "uplink", "netns", name])
        _run(["ip", "addr", "add", f"{host_address}/30", "dev", host_link])
        _run(["ip", "link", "set", host_link, "up"])
        _run([*in_ns, "ip", "-batch", "-"], stdin=f"addr add {address}/30 dev uplink\nlink set uplink up\n")
        agent.setup_seconds = time.perf_counter() - start
        config: Path | str = CONFIG
        if cache_timeout is not None:
            config = Path(tmp) / "bench-snmpd.conf"  # not snmpd.conf: snmpd writes that one there
            config.write_text(Path(CONFIG).read_text() + f"\nrwcommunity {ADMIN_COMMUNITY} {address}\n")
        listen = ",".join(f"udp:{address}:{port}" for port in [161, *ports])
        process = _start_snmpd(listen, tmp, prefix=in_ns, config=config)
        agent.pid = process.pid
        agent.startup_seconds = wait_ready(agent.host, process, ready_timeout, f"{tmp}/snmpd.log")
        if cache_timeout is not None:
            set_cache_timeouts(agent, cache_timeout)
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


def set_cache_timeouts(agent: NetnsAgent, seconds: int) -> int:
    """Sets every snmpd cache's nsCacheTimeout to `seconds` (snmpset from inside the namespace,
    with the agent's rwcommunity); returns how many caches there are."""
    in_ns = ["ip", "netns", "exec", agent.name]
    listing = _run([*in_ns, "snmpwalk", "-v2c", "-c", COMMUNITY, "-On", "-Oq", agent.host, NS_CACHE_TIMEOUT])
    oids = [line.split()[0] for line in listing.stdout.splitlines() if line.startswith(NS_CACHE_TIMEOUT + ".")]
    if not oids:
        raise RuntimeError(f"{agent.host}: no snmpd caches listed under {NS_CACHE_TIMEOUT}")
    for start in range(0, len(oids), 20):
        args = [item for oid in oids[start:start + 20] for item in (oid, "i", str(seconds))]
        _run([*in_ns, "snmpset", "-v2c", "-c", ADMIN_COMMUNITY, "-t", "30", agent.host, *args])
    return len(oids)


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


# --- delayed agents (tests/fixtures/delayagent) ----------------------------------------------------------

DELAYAGENT_SOURCE = ROOT / "tests/fixtures/delayagent/delayagent.c"
BUILD_DIR = ROOT / "bench/.build"
DELAY_TABLE = "1.3.6.1.4.1.99999.1"  # TABLE.1.COLUMN.ROW, columns 1..5, rows 1..ROWS
DELAY_COLUMNS = 5
DELAY_PROBE = f"{DELAY_TABLE}.1.2.1"  # column 2 (OCTET STRING "row-1"), row 1


def build_delayagent(build_dir: Path = BUILD_DIR) -> Path:
    """Compiles tests/fixtures/delayagent/delayagent.c into `build_dir`/delayagent.so (only when the .so
    is missing or older than the source); returns its path. Needs cc and libsnmp-dev."""
    target = build_dir / "delayagent.so"
    if target.exists() and target.stat().st_mtime >= DELAYAGENT_SOURCE.stat().st_mtime:
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    config = shutil.which("net-snmp-config")
    if not config:
        raise RuntimeError("net-snmp-config not found: install libsnmp-dev")
    cflags = shlex.split(_run([config, "--cflags"]).stdout)
    libs = shlex.split(_run([config, "--agent-libs"]).stdout)
    partial = build_dir / f"delayagent.so.{os.getpid()}"  # renamed into place: concurrent builds are safe
    try:
        _run(["cc", "-shared", "-fPIC", "-Wall", *cflags, "-o", str(partial), str(DELAYAGENT_SOURCE), *libs])
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def delayed_agents(count: int, delay_ms: int, rows: int, per_agent_port_base: int | None = None,
                   ready_timeout: float = 30.0) -> Iterator[list[str]]:
    """Runs `count` snmpd processes with the delayagent module on 127.0.0.1; yields their
    "127.0.0.1:PORT" hosts.

    Each serves the fixture config (community "public", system group, ...) plus a synthetic
    table under 1.3.6.1.4.1.99999.1 (TABLE.1.COLUMN.ROW; columns 1 INTEGER R, 2 OCTET STRING
    "row-R", 3 Counter32 R*1000, 4 Counter64 R*2^32+R, 5 Gauge32 R%1000; rows 1..`rows`), and
    answers every GET/GETNEXT/GETBULK PDU that touches that table `delay_ms` milliseconds late
    without blocking: other PDUs are served meanwhile. Ports are free ones, or
    `per_agent_port_base` + i for agent i. The module is built on first use (bench/.build/).
    On exit (also on errors) the agents are stopped and their directory removed.
    """
    if count < 1 or delay_ms < 0 or rows < 0:
        raise ValueError(f"count {count} must be >= 1, delay_ms {delay_ms} and rows {rows} >= 0")
    module = build_delayagent()
    processes: list[subprocess.Popen[bytes]] = []
    tmp = tempfile.mkdtemp(prefix="snmpbench-delay-")
    try:
        ports = (_free_ports(count) if per_agent_port_base is None
                 else list(range(per_agent_port_base, per_agent_port_base + count)))
        hosts = [f"127.0.0.1:{port}" for port in ports]
        # Outside the agents' SNMP_PERSISTENT_DIRs (snmpd writes a snmpd.conf of its own there).
        config = Path(tmp) / "delayagent.conf"
        config.write_text(CONFIG.read_text() + f"\ndlmod delayagent {module}\n")
        env = {"DELAYAGENT_ROWS": str(rows), "DELAYAGENT_DELAY_MS": str(delay_ms)}
        for i, host in enumerate(hosts):
            os.mkdir(f"{tmp}/{i}")
            # -I -smux: no SMUX listener (port 199 is often taken, which only warns anyway).
            processes.append(_start_snmpd(f"udp:{host}", f"{tmp}/{i}", config=config,
                                          options=["-I", "-smux"], env=env))
        probe_timeout = 0.5 + 2 * delay_ms / 1000
        for i, (host, process) in enumerate(zip(hosts, processes)):
            wait_ready(host, process, ready_timeout, f"{tmp}/{i}/snmpd.log", DELAY_PROBE, probe_timeout)
        yield hosts
    finally:
        for process in processes:
            _stop(process)
        shutil.rmtree(tmp, ignore_errors=True)


def _concurrent_gets(host: str, count: int, timeout: float) -> tuple[float, list[str]]:
    """`count` snmpget processes at once, each for column 2 of another row; (seconds, values)."""
    start = time.perf_counter()
    running = [subprocess.Popen(["snmpget", "-v2c", "-c", COMMUNITY, "-Oqv", "-t", str(timeout), "-r", "0",
                                 host, f"{DELAY_TABLE}.1.2.{i + 1}"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True) for i in range(count)]
    values = [process.communicate()[0].strip().strip('"') for process in running]
    return time.perf_counter() - start, values


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
    """200 interfaces, 100 routes, 2 loopback agents and delayed agents, end to end; 0 when all pass."""
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
        _selftest_delayed(check)
    except Exception as error:  # report, clean up (done by the context managers), exit 1
        check(False, f"{type(error).__name__}: {error}")
    print("selftest", "FAILED" if failures else "passed")
    return 1 if failures else 0


def _selftest_delayed(check) -> None:
    """One delayed agent, 100 rows: a 20 ms walk, then 20 concurrent GETs with 50 ms each."""
    repetitions = 25
    with delayed_agents(1, delay_ms=20, rows=100) as (host,):
        walk = bulkwalk(host, DELAY_TABLE, repetitions)
        expected = 100 * DELAY_COLUMNS
        pdus = math.ceil(expected / repetitions) + 1  # the last one steps past the table
        check(walk.varbinds == expected and walk.lines[0] == f".{DELAY_TABLE}.1.1.1 1" and
              walk.lines[-1] == f".{DELAY_TABLE}.1.5.100 100",
              f"delayed agent {host}: snmpbulkwalk -Cr{repetitions} returns {walk.varbinds} varbinds "
              f"(expected {expected})")
        check(pdus * 0.020 * 0.9 <= walk.seconds < pdus * 0.020 + 1.0,
              f"... in {walk.seconds:.3f} s, {pdus} PDUs x 20 ms = {pdus * 0.020:.2f} s")
    with delayed_agents(1, delay_ms=50, rows=100) as (host,):
        seconds, values = _concurrent_gets(host, 20, timeout=3.0)
        check(values == [f"row-{i + 1}" for i in range(20)],
              f"20 concurrent snmpget all answered: {sum(v.startswith('row-') for v in values)}")
        check(seconds < 1.0, f"... in {seconds:.3f} s (< 1 s; 20 x 50 ms = 1 s if the agent blocked)")


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
    delayed = sub.add_parser("delayed", help="snmpd processes with the delayagent table on 127.0.0.1")
    delayed.add_argument("--count", type=int, default=1)
    delayed.add_argument("--delay-ms", type=int, default=20)
    delayed.add_argument("--rows", type=int, default=1000)
    delayed.add_argument("--port-base", type=int, default=None, help="agent i on port BASE+i (default: free ports)")
    sub.add_parser("selftest", help="200 interfaces, 100 routes, 2 loopback agents, delayed agents; exit 0/1")
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
        elif args.command == "delayed":
            with delayed_agents(args.count, args.delay_ms, args.rows, args.port_base) as hosts:
                print(" ".join(hosts), flush=True)
                print(f"table {DELAY_TABLE} (TABLE.1.COLUMN.ROW): {args.rows} rows x {DELAY_COLUMNS} columns, "
                      f"{args.delay_ms} ms per request PDU", flush=True)
                _wait_for_enter("press Enter (or Ctrl-C) to stop")
        else:
            with loopback_agents(args.count) as hosts:
                print(" ".join(hosts), flush=True)
                _wait_for_enter("press Enter (or Ctrl-C) to stop")
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
