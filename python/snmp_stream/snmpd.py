"""Real net-snmp `snmpd` agents on this machine: the one launcher of the Rust and Python tests,
the demo (`snmp-stream collect` without targets) and the benchmarks.

- `agents(count)`: `count` snmpd processes in the foreground, each on a free port of 127.0.0.1
  and ::1 (UDP) and 127.0.0.1 (TCP) with `python/snmp_stream/agent.conf` (or a given config), stopped
  on exit. Yields `Agent`s (`.host` "127.0.0.1:PORT", `.host6` "udp6:[::1]:PORT", `.host_tcp`,
  `.port`, `.process`, `.log`) once each answers an SNMP GET.
- `delayed_agents(count, delay_ms, rows)`: agents that also serve the synthetic table of
  `tests/fixtures/delayagent/` (an snmpd extension module, built on first use), answering each
  PDU that touches it `delay_ms` late without blocking.
- `netns_agent(name, interfaces=N, routes=M)`: snmpd in a network namespace of its own with
  many interfaces and routes (root only).
- `free_port()`, `closed_port()`: ports for agents and for dead targets.

Standard library only, so that it also runs as a script, without the package or its native
module (the Rust tests start their agents this way):

    python3 python/snmp_stream/snmpd.py serve [--config FILE] [--port N]

starts one agent, prints its port on one line once it answers, and keeps it running until
stdin reaches EOF or SIGTERM/SIGINT come, then stops it. Its snmpd gets SIGTERM if the
launcher dies however it dies (SIGKILL included).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DELAY_COLUMNS",
    "DELAY_TABLE",
    "FIXTURE_CONFIG",
    "MAX_ROUTES",
    "Agent",
    "NetnsAgent",
    "SnmpdError",
    "agents",
    "build_delayagent",
    "closed_port",
    "delayed_agents",
    "find_snmpd",
    "free_port",
    "netns_agent",
    "set_cache_timeouts",
]

CHECKOUT = Path(__file__).resolve().parents[2]  # meaningful when run from a source checkout
FIXTURES = CHECKOUT / "tests" / "fixtures"
# The agents' default config (community "public", sysName snmp-stream-test): in the package,
# so that an installed snmp-stream starts agents without a source checkout.
FIXTURE_CONFIG = Path(__file__).resolve().parent / "agent.conf"
COMMUNITY = "public"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
# No SMUX listener: it would take 127.0.0.1:199 (as root) for nothing, and only warn when taken.
DEFAULT_OPTIONS = ("-I", "-smux")
PORT_ATTEMPTS = 5
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class SnmpdError(RuntimeError):
    """snmpd is missing, did not start, or did not answer in time (with its log's last lines)."""


def find_snmpd() -> str:
    """The snmpd binary: on PATH, or in /usr/sbin (not on a normal user's PATH)."""
    found = shutil.which("snmpd") or shutil.which("snmpd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise SnmpdError("snmpd not found: install Debian's `snmpd` package (scripts/setup.sh does)")
    return found


def _snmpget() -> str:
    found = shutil.which("snmpget")
    if found is None:
        raise SnmpdError("snmpget not found: install Debian's `snmp` package (scripts/setup.sh does)")
    return found


def _bindable(family: socket.AddressFamily, kind: socket.SocketKind, address: str, port: int) -> bool:
    try:
        with socket.socket(family, kind) as s:
            s.bind((address, port))
    except OSError:
        return False
    return True


def free_port() -> int:
    """A port free for UDP on 127.0.0.1 and ::1 and for TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as v4:
            v4.bind(("127.0.0.1", 0))
            port = int(v4.getsockname()[1])
        if _bindable(socket.AF_INET6, socket.SOCK_DGRAM, "::1", port) and _bindable(
            socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1", port
        ):
            return port


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
        if _bindable(socket.AF_INET, socket.SOCK_DGRAM, "0.0.0.0", port) and _bindable(
            socket.AF_INET6, socket.SOCK_DGRAM, "::", port
        ):
            if skip == 0:
                return port
            skip -= 1
    raise RuntimeError("no free UDP port below the ephemeral range")


def _die_with_parent() -> Callable[[], None]:
    """A preexec_fn: the child gets SIGTERM when the thread that started it ends, however the
    process ends (SIGKILL included), so no snmpd outlives its launcher. prctl is looked up
    here, before the fork, so that the child only calls it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()
    term = int(signal.SIGTERM)

    def set_parent_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, term)
        if os.getppid() != parent:  # the parent died before prctl: nobody would send the signal
            os.kill(os.getpid(), term)

    return set_parent_death_signal


def _tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log file, or why there are none."""
    try:
        text = log.read_text(errors="replace").strip()
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s; always reaps."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Agent:
    """A running snmpd; `.host` is where it answers SNMP (the readiness probe asks there)."""

    process: subprocess.Popen[bytes]
    port: int
    address: str  # "127.0.0.1", or a namespace's address
    log: Path  # snmpd's log (-Lf) and stderr
    state_dir: Path  # its SNMP_PERSISTENT_DIR
    startup_seconds: float = 0.0  # from the start until it answered

    @property
    def host(self) -> str:
        """`ADDRESS:PORT` (UDP)."""
        return f"{self.address}:{self.port}"

    @property
    def host6(self) -> str:
        """`udp6:[::1]:PORT` (loopback agents only)."""
        return f"udp6:[::1]:{self.port}"

    @property
    def host_tcp(self) -> str:
        """`tcp:ADDRESS:PORT` (loopback agents only)."""
        return f"tcp:{self.address}:{self.port}"


def loopback_listen(port: int) -> str:
    """snmpd's listening addresses for a loopback agent: UDP on 127.0.0.1 and ::1, TCP on 127.0.0.1."""
    return f"udp:127.0.0.1:{port},udp6:[::1]:{port},tcp:127.0.0.1:{port}"


def _config_file(directory: Path, config: Path | None, config_text: str | None, extra_config: str) -> Path:
    """The file given to `snmpd -c`: `config` itself, or `config_text` / the fixture config plus
    `extra_config` written into `directory` (never into an agent's SNMP_PERSISTENT_DIR, where
    snmpd writes a snmpd.conf of its own)."""
    if config is not None and config_text is not None:
        raise ValueError("give config (a file) or config_text, not both")
    if config_text is None:
        config = FIXTURE_CONFIG if config is None else config
        if not config.is_file():
            raise SnmpdError(f"no snmpd config at {config}")
        if not extra_config:
            return config
        config_text = config.read_text()
    path = directory / "agent.conf"
    path.write_text(config_text + "\n" + extra_config + "\n")
    return path


@contextlib.contextmanager
def agents(
    count: int = 1,
    *,
    config: Path | None = None,
    config_text: str | None = None,
    extra_config: str = "",
    ports: Sequence[int] | None = None,
    address: str = "127.0.0.1",
    listen: str | None = None,
    env: Mapping[str, str] | None = None,
    options: Sequence[str] = DEFAULT_OPTIONS,
    prefix: Sequence[str] = (),
    probe_oid: str = SYS_NAME,
    probe_timeout: float = 0.2,
    probe: Callable[[str], bool] | None = None,
    ready_timeout: float = 30.0,
    die_with_parent: bool = True,
) -> Iterator[list[Agent]]:
    """Starts `count` snmpd processes and yields them once each answers; stops them on exit
    (SIGTERM, SIGKILL after 5 s) and removes their files.

    - `config`: a config file (default: python/snmp_stream/agent.conf), or `config_text`; plus
      `extra_config` lines (a `dlmod`, a community).
    - `ports`: one per agent (a port that cannot be bound is an error); default: free ports,
      and an agent whose port was taken before snmpd bound it starts again on another.
    - `address`, `listen`: the agent's host is `ADDRESS:PORT`; snmpd listens on `listen`
      (default: `loopback_listen(port)` for 127.0.0.1, else `udp:ADDRESS:PORT`).
    - `env`: more environment for snmpd (besides MIBS="" and SNMP_PERSISTENT_DIR, its own
      temporary directory); `options`: more snmpd options; `prefix`: a command that runs snmpd
      (`ip netns exec NAME`).
    - Ready when `snmpget -v2c -c public -t PROBE_TIMEOUT -r 0 HOST PROBE_OID` succeeds (or when
      `probe(host)` is true), within `ready_timeout` seconds of its start; snmpd exiting first is
      an error with its log's last lines.
    - `die_with_parent`: snmpd gets SIGTERM when the thread that started it ends (PR_SET_PDEATHSIG).
    """
    if ports is not None and len(ports) != count:
        raise ValueError(f"{count} agents need {count} ports, not {len(ports)}")
    snmpd = find_snmpd()
    probe_with = probe or _snmpget_probe(_snmpget(), probe_oid, probe_timeout)
    preexec = _die_with_parent() if die_with_parent else None
    with tempfile.TemporaryDirectory(prefix="snmp-stream-snmpd-") as tmp:
        config_file = _config_file(Path(tmp), config, config_text, extra_config)
        chosen: set[int] = set()
        launched_at: dict[int, float] = {}  # agent index -> time.monotonic() of its (last) start

        def launch(index: int, attempt: int) -> Agent:
            if ports is not None:
                port = ports[index]
            else:
                port = free_port()
                while port in chosen:  # free, but not yet bound by the agent that has it
                    port = free_port()
            chosen.add(port)
            state = Path(tmp) / f"{index}.{attempt}"
            state.mkdir()
            log = state / "snmpd.log"
            where = listen or (loopback_listen(port) if address == "127.0.0.1" else f"udp:{address}:{port}")
            # -f: in the foreground (its process is ours to stop); -A: the log is appended to,
            # after whatever it wrote to stderr; -C: no config file but ours.
            foreground = [snmpd, "-f", "-A", "-Lf", str(log), "-C", "-c", str(config_file)]
            command = [*prefix, *foreground, *options, where]
            environment = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(state), **(env or {})}
            with open(log, "ab") as stderr:
                process = subprocess.Popen(
                    command,
                    env=environment,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    preexec_fn=preexec,
                )
            launched_at[index] = time.monotonic()
            return Agent(process, port, address, log, state)

        started: list[Agent] = []
        try:
            for index in range(count):
                started.append(launch(index, 0))
            for index in range(count):
                for attempt in range(1, PORT_ATTEMPTS + 1):
                    failure = _wait_ready(started[index], probe_with, launched_at[index], ready_timeout)
                    if failure is None:
                        break
                    # A free port can be taken by any socket on the machine before snmpd binds it.
                    taken = "Error opening specified endpoint" in _tail(started[index].log)
                    if ports is not None or not taken or attempt == PORT_ATTEMPTS:
                        raise SnmpdError(failure)
                    _stop(started[index].process)
                    started[index] = launch(index, attempt)
            yield started
        finally:
            for agent in started:
                _stop(agent.process)


def _snmpget_probe(snmpget: str, oid: str, timeout: float) -> Callable[[str], bool]:
    def answers(host: str) -> bool:
        command = [snmpget, "-v2c", "-c", COMMUNITY, "-t", str(timeout), "-r", "0", host, oid]
        environment = {**os.environ, "MIBS": ""}
        return subprocess.run(command, capture_output=True, env=environment).returncode == 0

    return answers


def _wait_ready(agent: Agent, probe: Callable[[str], bool], started: float, timeout: float) -> str | None:
    """Polls until `probe(agent.host)` is true, within `timeout` seconds of `started` (a
    time.monotonic()): None then (and `agent.startup_seconds` set), or why it never was."""
    while True:
        if agent.process.poll() is not None:
            return f"snmpd for {agent.host} exited with {agent.process.returncode}:\n{_tail(agent.log)}"
        if probe(agent.host):
            agent.startup_seconds = time.monotonic() - started
            return None
        if time.monotonic() - started > timeout:
            return f"snmpd on {agent.host} did not answer within {timeout} s:\n{_tail(agent.log)}"
        time.sleep(0.05)


def _run(
    command: Sequence[str], stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs `command`, capturing output; raises with its stderr when it fails and `check`."""
    result = subprocess.run(list(command), input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:6])}... failed ({result.returncode}): {result.stderr.strip()[:2000]}"
        )
    return result


# --- delayed agents (tests/fixtures/delayagent) ----------------------------------------------------------

DELAYAGENT_SOURCE = FIXTURES / "delayagent" / "delayagent.c"
DELAYAGENT_BUILD_DIR = CHECKOUT / "target" / "delayagent"
DELAY_TABLE = "1.3.6.1.4.1.99999.1"  # TABLE.1.COLUMN.ROW, columns 1..5, rows 1..ROWS
DELAY_COLUMNS = 5
DELAY_PROBE = f"{DELAY_TABLE}.1.2.1"  # column 2 (OCTET STRING "row-1"), row 1


def build_delayagent(build_dir: Path = DELAYAGENT_BUILD_DIR) -> Path:
    """Compiles tests/fixtures/delayagent/delayagent.c into `build_dir`/delayagent.so (only when
    the .so is missing or older than the source); returns its path. Needs cc and libsnmp-dev."""
    target = build_dir / "delayagent.so"
    if target.exists() and target.stat().st_mtime >= DELAYAGENT_SOURCE.stat().st_mtime:
        return target
    build_dir.mkdir(parents=True, exist_ok=True)
    config = shutil.which("net-snmp-config")
    if not config:
        raise RuntimeError("net-snmp-config not found: install Debian's libsnmp-dev")
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
def delayed_agents(
    count: int,
    delay_ms: int,
    rows: int,
    *,
    ports: Sequence[int] | None = None,
    ready_timeout: float = 30.0,
    extra_config: str = "",
) -> Iterator[list[Agent]]:
    """`count` loopback agents (as `agents()`) that also serve the delayagent table.

    Besides the fixture config (community "public", system group, ...): a synthetic table under
    1.3.6.1.4.1.99999.1 (TABLE.1.COLUMN.ROW; columns 1 INTEGER R, 2 OCTET STRING "row-R",
    3 Counter32 R*1000, 4 Counter64 R*2^32+R, 5 Gauge32 R%1000; rows 1..`rows`), whose every
    GET/GETNEXT/GETBULK PDU that touches it is answered `delay_ms` milliseconds late without
    blocking: other PDUs are served meanwhile. The module is built on first use (target/delayagent/).
    `extra_config`: more config lines (SNMPv3 users, say).
    """
    if count < 1 or delay_ms < 0 or rows < 0:
        raise ValueError(f"count {count} must be >= 1, delay_ms {delay_ms} and rows {rows} >= 0")
    module = build_delayagent()
    with agents(
        count,
        extra_config=f"dlmod delayagent {module}\n{extra_config}",
        ports=ports,
        env={"DELAYAGENT_ROWS": str(rows), "DELAYAGENT_DELAY_MS": str(delay_ms)},
        probe_oid=DELAY_PROBE,
        probe_timeout=0.5 + 2 * delay_ms / 1000,
        ready_timeout=ready_timeout,
    ) as started:
        yield started


# --- network namespaces ----------------------------------------------------------------------------------

ADMIN_COMMUNITY = "snmpbenchadmin"  # write access, from the namespace's own address only
NS_CACHE_TIMEOUT = ".1.3.6.1.4.1.8072.1.5.3.1.2"  # NET-SNMP-AGENT-MIB nsCacheTimeout
NEXT_HOP_NET = ipaddress.ip_network("198.19.255.0/30")  # pair 0: a0 .1, b0 .2 (the next hop)
ROUTE_BASE = int(ipaddress.ip_address("198.18.1.0"))  # routes 198.18.1.0 ... 198.18.255.255
MAX_ROUTES = 255 * 256
MAX_SLOTS = 64  # /30s in 198.18.0.0/24
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,11}")


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
def netns_agent(
    name: str = "snmpbench",
    interfaces: int = 100,
    routes: int = 0,
    slot: int | None = None,
    ready_timeout: float = 300.0,
    ipv6: bool = False,
    extra_batch: str = "",
    cache_timeout: int | None = None,
    ports: Sequence[int] = (),
) -> Iterator[NetnsAgent]:
    """Runs snmpd in a new network namespace `name` with `interfaces` veth ends and `routes` routes.

    The namespace holds ceil(interfaces / 2) veth pairs named a<i>/b<i> (so ifNumber is that
    many ends plus lo plus the uplink), and `routes` routes 198.18.1.0/32, 198.18.1.1/32, ...
    via b0's address 198.19.255.2 on a0. IPv6 is disabled inside the namespace (no link-local
    addresses or DAD for thousands of links). The uplink veth "sb-<name>" on the host has
    198.18.0.4k+1/30 and its peer "uplink" in the namespace 198.18.0.4k+2/30, where k is `slot`
    (default: the first free one, 0 gives 198.18.0.2). A namespace of the same name left over
    from an earlier run is deleted first. Yields a NetnsAgent whose `.host` is "ADDR:161". On
    exit snmpd is stopped and the namespace deleted, which removes its veths (the host end too).

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
    agent = NetnsAgent(
        name, f"{address}:161", address, host_link, 2 * pairs, routes, hosts=[f"{address}:{p}" for p in ports]
    )
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
        admin = f"rwcommunity {ADMIN_COMMUNITY} {address}" if cache_timeout is not None else ""
        with agents(
            extra_config=admin,
            ports=[161],
            address=address,
            listen=",".join(f"udp:{address}:{port}" for port in [161, *ports]),
            prefix=in_ns,
            probe_timeout=0.5,
            ready_timeout=ready_timeout,
        ) as [snmpd]:
            agent.pid = snmpd.process.pid  # `ip netns exec` execs snmpd: the same process
            agent.startup_seconds = snmpd.startup_seconds
            if cache_timeout is not None:
                set_cache_timeouts(agent, cache_timeout)
            yield agent
    finally:
        start = time.perf_counter()
        try:
            if _netns_exists(name):
                _run(["ip", "netns", "del", name])
            _wait_link_gone(host_link)
        finally:
            agent.teardown_seconds = time.perf_counter() - start


def set_cache_timeouts(agent: NetnsAgent, seconds: int) -> int:
    """Sets every snmpd cache's nsCacheTimeout to `seconds` (snmpset from inside the namespace,
    with the agent's rwcommunity); returns how many caches there are."""
    in_ns = ["ip", "netns", "exec", agent.name]
    listing = _run([*in_ns, "snmpwalk", "-v2c", "-c", COMMUNITY, "-On", "-Oq", agent.host, NS_CACHE_TIMEOUT])
    prefix = NS_CACHE_TIMEOUT + "."
    oids = [line.split()[0] for line in listing.stdout.splitlines() if line.startswith(prefix)]
    if not oids:
        raise RuntimeError(f"{agent.host}: no snmpd caches listed under {NS_CACHE_TIMEOUT}")
    for start in range(0, len(oids), 20):
        args = [item for oid in oids[start : start + 20] for item in (oid, "i", str(seconds))]
        _run([*in_ns, "snmpset", "-v2c", "-c", ADMIN_COMMUNITY, "-t", "30", agent.host, *args])
    return len(oids)


# --- command line ----------------------------------------------------------------------------------------


def _serve(config: Path | None, port: int | None, ready_timeout: float) -> int:
    """Runs one agent until stdin reaches EOF (or SIGTERM/SIGINT); its port on stdout first."""
    ports = None if port is None else [port]
    try:
        with agents(config=config, ports=ports, ready_timeout=ready_timeout) as [agent]:
            print(agent.port, flush=True)
            while sys.stdin.buffer.read(65536):
                pass
            _block_stop_signals()
    except SnmpdError as error:
        print(f"snmpd.py: {error}", file=sys.stderr)
        return 1
    return 0


def _block_stop_signals() -> None:
    """From now on the agent is being stopped: a signal must not cut that short (when the
    launcher's parent dies, EOF on stdin and SIGTERM come together)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})


def _stop_on_signal(signum: int, _frame: object) -> None:
    _block_stop_signals()
    raise SystemExit(128 + signum)  # unwinds: the context manager stops snmpd


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="snmpd.py", description="Real net-snmp snmpd agents on loopback, for tests and demos."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="one agent on 127.0.0.1 and ::1 (UDP) and 127.0.0.1 (TCP): prints its port once it "
        "answers, stops it when stdin reaches EOF or on SIGTERM/SIGINT",
    )
    serve.add_argument(
        "--config", type=Path, help="snmpd config file (default: python/snmp_stream/agent.conf)"
    )
    serve.add_argument("--port", type=int, help="this port, or fail (default: a free one)")
    serve.add_argument("--ready-timeout", type=float, default=30.0, help="seconds (default 30)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    return _serve(args.config, args.port, args.ready_timeout)


if __name__ == "__main__":
    sys.exit(main())
