#!/usr/bin/env python3
"""Real net-snmp agents with big tables, for benchmarks run by hand (issue 3): the bench's names
and command line over the project's one snmpd launcher, `python/snmp_stream/snmpd.py` (also used
by the tests and the demo), loaded from this checkout by its path: it is stdlib only, and the
bench orchestrators run on the system python3, where the package need not be installed.

Run as root; needs iproute2, snmpd and the snmp tools:

- `netns_agent(name, interfaces=N, routes=M)`: a network namespace NAME holding ceil(N/2) veth
  pairs (both ends inside, up), M /32 routes 198.18.x.y via a veth neighbour, and an uplink
  veth pair to the host in the RFC 2544 range (slot k: host 198.18.0.4k+1/30, namespace
  198.18.0.4k+2/30; slot 0 gives 198.18.0.1 / 198.18.0.2). snmpd runs inside on the namespace
  address, port 161. Yields a NetnsAgent, `.host` "198.18.0.2:161" (for slot 0). On exit snmpd
  is stopped and the namespace deleted, which removes its veths (the host end included).
- `loopback_agents(count)`: `count` plain snmpd processes on free 127.0.0.1 ports; yields
  their "127.0.0.1:PORT" hosts.
- `simulated_fleet(agents, rows, cpus=None)`: bench/simagent (built by `cargo build --release
  --example simagent`) serving `agents` simulated agents on consecutive 127.0.0.1 ports, each a
  synthetic `rows`-row x 10-column interfaces table; yields (first port, pid).
- `delayed_agents(count, delay_ms, rows, ports=None)`: `count` snmpd processes on free 127.0.0.1
  ports with the tests/fixtures/delayagent module loaded: a synthetic table of `rows` rows x 5
  columns under 1.3.6.1.4.1.99999.1 whose every request PDU is answered `delay_ms` late without
  blocking the agent (an artificial round-trip time, since loopback has none). Yields the
  agents (`.host` "127.0.0.1:PORT").

All use python/snmp_stream/agent.conf (community "public"). All traffic goes to 127.0.0.1 or to
the namespaces created here.

    python3 bench/agents.py netns --interfaces 10000 --routes 5000   # prints counts, waits for Enter
    python3 bench/agents.py loopback --count 4                       # prints hosts, waits for Enter
    python3 bench/agents.py delayed --count 4 --delay-ms 20 --rows 1000  # same, delayed agents
    python3 bench/agents.py selftest                                 # small end-to-end check, exit 0/1
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
COMMUNITY = "public"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_TABLE = "1.3.6.1.2.1.2.2"
IFX_TABLE = "1.3.6.1.2.1.31.1.1"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IP_ROUTE_DEST = "1.3.6.1.2.1.4.21.1.1"  # ipRouteTable's ipRouteDest (IPv4 only)


SIMAGENT = ROOT / "target/release/examples/simagent"  # bench/simagent: the simulated agent fleet


def _load_launcher() -> ModuleType:
    """python/snmp_stream/snmpd.py of this checkout, as a module of its own (not as part of the
    package, whose __init__ needs numpy and the native module)."""
    name = "snmp_stream_snmpd"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "python" / "snmp_stream" / "snmpd.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


snmpd = _load_launcher()
NetnsAgent = snmpd.NetnsAgent
netns_agent = snmpd.netns_agent
set_cache_timeouts = snmpd.set_cache_timeouts
delayed_agents = snmpd.delayed_agents
build_delayagent = snmpd.build_delayagent
MAX_ROUTES = snmpd.MAX_ROUTES
DELAY_TABLE = snmpd.DELAY_TABLE
DELAY_COLUMNS = snmpd.DELAY_COLUMNS
_run = snmpd._run
_netns_exists = snmpd._netns_exists
_link_exists = snmpd._link_exists


@contextlib.contextmanager
def loopback_agents(count: int, ready_timeout: float = 30.0) -> Iterator[list[str]]:
    """Runs `count` snmpd processes on free 127.0.0.1 ports; yields their "127.0.0.1:PORT" hosts."""
    with snmpd.agents(count, ready_timeout=ready_timeout) as started:
        yield [agent.host for agent in started]


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
    with delayed_agents(1, delay_ms=20, rows=100) as [agent]:
        host = agent.host
        walk = bulkwalk(host, DELAY_TABLE, repetitions)
        expected = 100 * DELAY_COLUMNS
        pdus = math.ceil(expected / repetitions) + 1  # the last one steps past the table
        check(walk.varbinds == expected and walk.lines[0] == f".{DELAY_TABLE}.1.1.1 1" and
              walk.lines[-1] == f".{DELAY_TABLE}.1.5.100 100",
              f"delayed agent {host}: snmpbulkwalk -Cr{repetitions} returns {walk.varbinds} varbinds "
              f"(expected {expected})")
        check(pdus * 0.020 * 0.9 <= walk.seconds < pdus * 0.020 + 1.0,
              f"... in {walk.seconds:.3f} s, {pdus} PDUs x 20 ms = {pdus * 0.020:.2f} s")
    with delayed_agents(1, delay_ms=50, rows=100) as [agent]:
        seconds, values = _concurrent_gets(agent.host, 20, timeout=3.0)
        check(values == [f"row-{i + 1}" for i in range(20)],
              f"20 concurrent snmpget all answered: {sum(v.startswith('row-') for v in values)}")
        check(seconds < 1.0, f"... in {seconds:.3f} s (< 1 s; 20 x 50 ms = 1 s if the agent blocked)")


@contextlib.contextmanager
def simulated_fleet(agents: int, rows: int, cpus: set[int] | None = None, silent: int = 0, delayed: int = 0,
                    delay_ms: int = 0) -> Iterator[tuple[int, int]]:
    """bench/simagent serving `agents` agents on consecutive 127.0.0.1 ports, each a `rows`-row
    synthetic interfaces table (the last `silent` never answer, the `delayed` before them answer
    `delay_ms` late); yields (first port, pid); stopped (SIGTERM) on exit."""
    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    if not SIMAGENT.exists():
        raise RuntimeError(f"{SIMAGENT} missing: cargo build --release --example simagent")
    command = [str(SIMAGENT), "--agents", str(agents), "--rows", str(rows), "--silent", str(silent),
               "--delayed", str(delayed), "--delay-ms", str(delay_ms)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=pin)
    try:
        ready = process.stdout.readline()
        match = re.search(r"first_port=(\d+)", ready)
        if not match:
            raise RuntimeError(f"simagent did not start: {ready!r}")
        yield int(match.group(1)), process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


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
            ports = None if args.port_base is None else range(args.port_base, args.port_base + args.count)
            with delayed_agents(args.count, args.delay_ms, args.rows, ports=ports) as started:
                print(" ".join(agent.host for agent in started), flush=True)
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
