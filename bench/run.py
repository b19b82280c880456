#!/usr/bin/env python3
"""The benchmark suite (issue 3): snmp-stream against its peers, on the same agents, in one run.

Run by hand as root (network namespaces); it is not part of the test suite:

    python3 bench/run.py [--scenario S ...] [--runs N] [--rows N] [--quick]

Scenarios (default: all, in this order):

- walk100k     one ~100k-row column (ipCidrRouteDest) of a namespace agent, max-repetitions 25 and 50
- table10x10k  ifTable columns 1..10 of a namespace agent with 10k interfaces
- fleet        1,000 logical targets x a small table on delayed loopback agents, 10 % dead targets
- inflight10k  10,000 requests in flight in one snmp-stream process (memory per session)
- decode1m     1M varbinds (collected once from delayed loopback agents) into a DataFrame: snmp-stream's
               native parser (to_numpy, to_pandas) against pure-Python decoding (bench/decode.py)
- v3walk       the 5-column delayagent table (100k varbinds, mixed types) over SNMPv3 authPriv
               (SHA-256 + AES) and over v2c: snmp-stream, gufo-snmp and snmpbulkwalk
- v3fleet      1,000 SNMPv3 GETs over 50 snmpd agents (50 engine IDs) in one snmp-stream process,
               cold (keys derived, engines discovered) and warm: what key derivation costs

Peers (gufo-snmp, fastsnmp, ezsnmp, pysnmp 7) and snmp-stream's Python package (built from this
repo) are installed into bench/.venv by this script; snmp-stream's Rust API is measured with
`examples/walk.rs` (cargo build --release --example walk); net-snmp's `snmpbulkwalk` is the
reference whose varbind count every client must match. Each measurement runs the client in its
own process; the median of --runs runs is reported. The results go to bench/RESULTS.md.

The same file is also the per-client driver (`--driver SPEC`, run with bench/.venv/bin/python):
it runs one client once and prints one JSON line with its own wall and CPU time.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from measure import cpu_seconds as _cpu
from measure import rss_kb as _rss_kb
from measure import settle

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = BENCH / ".venv"
VENV_PY = VENV / "bin/python"
RESULTS = BENCH / "RESULTS.md"
CARGO_LOCK = "/tmp/snmp-stream-cargo.lock"
RUST_WALK = ROOT / "target/release/examples/walk"
COMMUNITY = "public"

IP_CIDR_ROUTE_DEST = "1.3.6.1.2.1.4.24.4.1.1"  # ipCidrRouteTable's first column: one row per route
IF_ENTRY = "1.3.6.1.2.1.2.2.1"
IF_COLUMNS = [f"{IF_ENTRY}.{c}" for c in range(1, 11)]  # ifIndex .. ifInUcastPkts
DELAYED_TABLE = "1.3.6.1.4.1.99999.1"
EXTRA_ROUTE_BASE = int(ipaddress.ip_address("198.19.0.0"))  # routes beyond agents.py's 65,280
EXTRA_ROUTES_MAX = 254 * 256  # 198.19.0.0 - 198.19.253.255 (198.19.255.0/30 is the next hop)
NEXT_HOP = "198.19.255.2"

PEER_PACKAGES = {"gufo-snmp": "gufo-snmp", "fastsnmp": "fastsnmp", "ezsnmp": "ezsnmp", "pysnmp": "pysnmp>=7,<8"}
SS_RUST, SS_PY, BULKWALK = "snmp-stream (Rust)", "snmp-stream (Python)", "snmpbulkwalk"
SS_PY_V3 = "snmp-stream (Python) v3"
# scenario v3walk: the user the agent gets (createUser) and the clients walk with
V3_USER = {"user": "benchv3", "auth": "SHA-256", "auth_pass": "bench-auth-pass", "priv": "AES",
           "priv_pass": "bench-priv-pass"}
OURS = (SS_RUST, SS_PY)
GUFO_ASYNC = "gufo-snmp (asyncio)"


# =============================================================================================
# Driver: runs inside bench/.venv, one client, once; prints one JSON line.
# =============================================================================================

def _split(host: str) -> tuple[str, int]:
    address, _, port = host.rpartition(":")
    return address, int(port)


def _record_count(buffer) -> int:
    return int.from_bytes(bytes(buffer[16:20]), "little")


def _walk_ss_py(spec: dict) -> dict:
    import snmp_stream

    config = {"max_var_binds_per_pdu": spec["budget"], "timeout": spec["timeout"], "retries": spec["retries"]}
    host = spec["hosts"][0]
    usm = spec.get("usm")
    credentials = COMMUNITY
    if usm:  # SNMPv3 (scenario v3walk): the keys are derived inside the timed walk, as for the peers
        credentials = snmp_stream.Usm(usm["user"], auth=(usm["auth"], usm["auth_pass"]),
                                      priv=(usm["priv"], usm["priv_pass"]))
    cpu, wall = _cpu(), time.perf_counter()
    response = snmp_stream.walk(host, credentials, spec["oids"], config=config)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    if response.status != snmp_stream.SUCCESSFUL:
        raise RuntimeError(f"walk {response.status}: {response.errors[:2]}")
    return {"wall": wall, "cpu": cpu, "varbinds": _record_count(response.results)}


def _walk_gufo(spec: dict) -> dict:
    from gufo.snmp import SnmpVersion
    from gufo.snmp.sync.client import SnmpSession

    address, port = _split(spec["hosts"][0])
    usm = spec.get("usm")
    options: dict = {"community": COMMUNITY, "version": SnmpVersion.v2c}
    if usm:  # SNMPv3 (scenario v3walk); gufo-snmp 0.13 takes only SHA-256 + AES-128 as below
        from gufo.snmp import Aes128Key, Sha256Key, User

        options = {"version": SnmpVersion.v3, "user": User(usm["user"], auth_key=Sha256Key(usm["auth_pass"].encode()),
                                                           priv_key=Aes128Key(usm["priv_pass"].encode()))}
    cpu, wall, count = _cpu(), time.perf_counter(), 0
    with SnmpSession(addr=address, port=port, timeout=spec["timeout"], max_repetitions=spec["reps"],
                     **options) as session:
        for oid in spec["oids"]:
            for _oid, _value in session.getbulk(oid):
                count += 1
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "varbinds": count}


def _walk_ezsnmp(spec: dict) -> dict:
    from ezsnmp import Session

    address, port = _split(spec["hosts"][0])
    cpu, wall, count = _cpu(), time.perf_counter(), 0
    session = Session(hostname=address, port_number=port, version=2, community=COMMUNITY,
                      timeout=spec["timeout"], retries=spec["retries"], set_max_repeaters_to_num=spec["reps"])
    for oid in spec["oids"]:  # one walk per column: ezsnmp's bulk_walk of a list walks them one by one
        count += len(session.bulk_walk(oid))
    session.close()
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "varbinds": count}


def _pysnmp_walk_coroutine(engine, host: str, oid: str, reps: int, timeout: float, retries: int):
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        UdpTransportTarget,
        bulk_walk_cmd,
    )

    async def run() -> int:
        target = await UdpTransportTarget.create(_split(host), timeout=timeout, retries=retries)
        count = 0
        async for error_indication, error_status, _index, var_binds in bulk_walk_cmd(
            engine, CommunityData(COMMUNITY, mpModel=1), target, ContextData(), 0, reps,
            ObjectType(ObjectIdentity(oid)), lexicographicMode=False, lookupMib=False,
        ):
            if error_indication or error_status:
                raise RuntimeError(str(error_indication or error_status.prettyPrint()))
            count += len(var_binds)
        return count

    return run()


def _walk_pysnmp(spec: dict) -> dict:
    import asyncio

    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    async def main() -> int:
        engine = SnmpEngine()
        total = 0
        for oid in spec["oids"]:
            total += await _pysnmp_walk_coroutine(engine, spec["hosts"][0], oid, spec["reps"], spec["timeout"],
                                                  spec["retries"])
        engine.close_dispatcher()
        return total

    cpu, wall = _cpu(), time.perf_counter()
    count = asyncio.run(main())
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "varbinds": count}


def _walk_fastsnmp(spec: dict) -> dict:
    from fastsnmp import snmp_poller

    address, port = _split(spec["hosts"][0])
    if port != snmp_poller.SNMP_PORT:
        raise RuntimeError(f"fastsnmp only sends to port {snmp_poller.SNMP_PORT}")
    cpu, wall, count = _cpu(), time.perf_counter(), 0
    # All columns in one GETBULK per round (fastsnmp's "oids group"), max-repetitions per column.
    for result in snmp_poller.poller([address], [spec["oids"]], COMMUNITY, timeout=max(1, int(spec["timeout"])),
                                     retry=spec["retries"], max_repetitions=spec["reps"]):
        if isinstance(result.value, Exception):
            raise RuntimeError(f"{address}: {result.value!r}")
        count += 1
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "varbinds": count}


# --- fleet: many targets in one process ---------------------------------------------------------

def _fleet_ss_py(spec: dict) -> dict:
    import snmp_stream

    config = {"max_sessions": spec["concurrency"], "timeout": spec["timeout"], "retries": spec["retries"],
              "max_var_binds_per_pdu": spec["budget"], "walk_mode": spec.get("walk_mode", "getbulk")}
    requests = [snmp_stream.SnmpRequest("walk", host, COMMUNITY, spec["oids"], req_id=str(i))
                for i, host in enumerate(spec["hosts"])]
    cpu, wall = _cpu(), time.perf_counter()
    ok = failed = varbinds = 0
    errors: list[str] = []
    for response in snmp_stream.stream(requests, config, queue_capacity=len(requests) + 1):
        if response.status == snmp_stream.SUCCESSFUL:
            ok += 1
            varbinds += _record_count(response.results)
        else:
            failed += 1
            errors.append(f"{response.host}: {response.errors[0].kind if response.errors else response.status}")
    return {"wall": time.perf_counter() - wall, "cpu": _cpu() - cpu, "varbinds": varbinds, "ok": ok,
            "failed": failed, "errors": sorted(set(e.split(": ", 1)[1] for e in errors))[:5]}


AUTO_NAME = "snmp-stream (Python), walk_mode auto"


def _fleet_summary(results: list[tuple[int, str | None]], wall: float, cpu: float) -> dict:
    """A fleet driver's result from its (varbinds, error) per target."""
    errors = [e for _, e in results if e]
    return {"wall": wall, "cpu": cpu, "varbinds": sum(n for n, e in results if not e),
            "ok": len(results) - len(errors), "failed": len(errors), "errors": sorted(set(errors))[:5]}


def _fleet_threads(spec: dict, walk_one) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    def one(host: str) -> tuple[int, str | None]:
        try:
            return walk_one(host), None
        except Exception as error:  # a dead target: count it, keep going
            return 0, f"{type(error).__name__}: {str(error)[:60]}"

    cpu, wall = _cpu(), time.perf_counter()
    with ThreadPoolExecutor(spec["concurrency"]) as pool:
        results = list(pool.map(one, spec["hosts"]))
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return _fleet_summary(results, wall, cpu)


def _fleet_gufo(spec: dict) -> dict:
    from gufo.snmp import SnmpVersion
    from gufo.snmp.sync.client import SnmpSession

    def walk_one(host: str) -> int:
        address, port = _split(host)
        count = 0
        with SnmpSession(addr=address, port=port, community=COMMUNITY, version=SnmpVersion.v2c,
                         timeout=spec["timeout"], max_repetitions=spec["reps"]) as session:
            for oid in spec["oids"]:
                for _ in session.getbulk(oid):
                    count += 1
        return count

    return _fleet_threads(spec, walk_one)


def _fleet_gufo_async(spec: dict) -> dict:
    """gufo-snmp's asyncio client: one coroutine per target, `concurrency` at a time."""
    import asyncio

    from gufo.snmp import SnmpVersion
    from gufo.snmp.aio.client import SnmpSession

    async def main() -> list[tuple[int, str | None]]:
        semaphore = asyncio.Semaphore(spec["concurrency"])

        async def one(host: str) -> tuple[int, str | None]:
            address, port = _split(host)
            async with semaphore:
                try:
                    count = 0
                    async with SnmpSession(addr=address, port=port, community=COMMUNITY, version=SnmpVersion.v2c,
                                           timeout=spec["timeout"], max_repetitions=spec["reps"]) as session:
                        for oid in spec["oids"]:
                            async for _ in session.getbulk(oid):
                                count += 1
                    return count, None
                except Exception as error:
                    return 0, f"{type(error).__name__}: {str(error)[:60]}"

        return await asyncio.gather(*(one(h) for h in spec["hosts"]))

    cpu, wall = _cpu(), time.perf_counter()
    results = asyncio.run(main())
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return _fleet_summary(results, wall, cpu)


def _fleet_ezsnmp(spec: dict) -> dict:
    from ezsnmp import Session

    def walk_one(host: str) -> int:
        address, port = _split(host)
        session = Session(hostname=address, port_number=port, version=2, community=COMMUNITY,
                          timeout=spec["timeout"], retries=spec["retries"], set_max_repeaters_to_num=spec["reps"])
        try:
            return sum(len(session.bulk_walk(oid)) for oid in spec["oids"])
        finally:
            session.close()

    return _fleet_threads(spec, walk_one)


def _fleet_pysnmp(spec: dict) -> dict:
    import asyncio

    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    async def main() -> list[tuple[int, str | None]]:
        engine = SnmpEngine()
        semaphore = asyncio.Semaphore(spec["concurrency"])

        async def one(host: str) -> tuple[int, str | None]:
            async with semaphore:
                try:
                    total = 0
                    for oid in spec["oids"]:
                        total += await _pysnmp_walk_coroutine(engine, host, oid, spec["reps"], spec["timeout"],
                                                              spec["retries"])
                    return total, None
                except Exception as error:
                    return 0, f"{type(error).__name__}: {str(error)[:60]}"

        results = await asyncio.gather(*(one(h) for h in spec["hosts"]))
        engine.close_dispatcher()
        return results

    cpu, wall = _cpu(), time.perf_counter()
    results = asyncio.run(main())
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return _fleet_summary(results, wall, cpu)


# --- in flight -------------------------------------------------------------------------------------

def _inflight_ss_py(spec: dict) -> dict:
    import collections

    import snmp_stream

    count = spec["count"]
    config = {"max_sessions": count, "timeout": spec["timeout"], "retries": 0}
    hosts = spec["hosts"]
    requests = [snmp_stream.SnmpRequest("walk", hosts[i % len(hosts)], COMMUNITY, spec["oids"], req_id=str(i))
                for i in range(count)]
    with snmp_stream.Collector(config, queue_capacity=count + 1) as collector:
        time.sleep(0.2)
        base = _rss_kb()
        peak = [base]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_kb())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu, wall = _cpu(), time.perf_counter()
        for request in requests:
            collector.submit(request)
        collector.close()
        seen: collections.Counter[bytes | None] = collections.Counter()
        statuses: collections.Counter[str] = collections.Counter()
        kinds: collections.Counter[str] = collections.Counter()
        first = last = None
        varbinds = 0
        for response in collector:
            now = time.perf_counter() - wall
            first = now if first is None else first
            last = now
            seen[response.req_id] += 1
            statuses[response.status] += 1
            kinds.update(e.kind for e in response.errors)
            if response.status == snmp_stream.SUCCESSFUL:
                varbinds += _record_count(response.results)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        stop.set()
        sampler.join()
    expected = {str(i).encode() for i in range(count)}
    return {"wall": wall, "cpu": cpu, "varbinds": varbinds, "responses": sum(seen.values()),
            "exactly_once": set(seen) == expected and all(v == 1 for v in seen.values()),
            "statuses": dict(statuses), "error_kinds": dict(kinds), "rss_base_kb": base, "rss_peak_kb": peak[0],
            "first_s": first, "last_s": last}


def _v3fleet_ss_py(spec: dict) -> dict:
    import snmp_stream

    user = spec["usm"]

    def credentials(prefix: str = "") -> object:
        return snmp_stream.Usm(user["user"], auth=(user["auth"], prefix + user["auth_pass"]),
                               priv=(user["priv"], prefix + user["priv_pass"]))

    # What deriving one credentials' two keys costs: a request to a closed port with passphrases
    # this process has not seen, then the same request again (keys cached).
    quick = {"retries": 0, "timeout": 0.2}
    costs = []
    for _ in range(2):
        cpu = _cpu()
        snmp_stream.get(spec["closed"], credentials("fresh-"), "1.3.6.1.2.1.1.5.0", config=quick)
        costs.append(_cpu() - cpu)
    rounds = []
    for name in ("cold", "warm"):
        before = snmp_stream.usm_counters()
        cpu, wall = _cpu(), time.perf_counter()
        manager = snmp_stream.SessionManager()
        hosts = spec["hosts"]
        for i in range(spec["requests"]):
            manager.add_request(snmp_stream.SnmpRequest("get", hosts[i % len(hosts)], credentials(),
                                                        "1.3.6.1.2.1.1.5.0", req_id=str(i)))
        responses = manager.run_all()
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        after = snmp_stream.usm_counters()
        rounds.append({"round": name, "cpu": cpu, "wall": wall,
                       "ok": sum(r.status == snmp_stream.SUCCESSFUL for r in responses),
                       **{k: after[k] - before[k] for k in ("key_derivations", "localizations", "discoveries")}})
    return {"wall": rounds[0]["wall"], "cpu": rounds[0]["cpu"], "varbinds": rounds[0]["ok"],
            "derive_pair_cpu": costs[0] - costs[1], "rounds": rounds}


DRIVERS = {
    ("walk", SS_PY): _walk_ss_py, ("walk", "gufo-snmp"): _walk_gufo, ("walk", "ezsnmp"): _walk_ezsnmp,
    ("walk", SS_PY_V3): _walk_ss_py, ("walk", "gufo-snmp v3"): _walk_gufo, ("v3fleet", SS_PY): _v3fleet_ss_py,
    ("walk", "pysnmp"): _walk_pysnmp, ("walk", "fastsnmp"): _walk_fastsnmp,
    ("fleet", SS_PY): _fleet_ss_py, ("fleet", "gufo-snmp"): _fleet_gufo, ("fleet", "ezsnmp"): _fleet_ezsnmp,
    ("fleet", "pysnmp"): _fleet_pysnmp, ("inflight", SS_PY): _inflight_ss_py,
    ("fleet", GUFO_ASYNC): _fleet_gufo_async,
}


CLIENT_MODULES = {SS_PY: ("snmp_stream",), "gufo-snmp": ("gufo.snmp.sync.client",), "ezsnmp": ("ezsnmp",),
                  SS_PY_V3: ("snmp_stream",), "gufo-snmp v3": ("gufo.snmp.sync.client",),
                  "pysnmp": ("pysnmp.hlapi.v3arch.asyncio",), "fastsnmp": ("fastsnmp.snmp_poller",),
                  GUFO_ASYNC: ("gufo.snmp.aio.client",)}


def driver_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    try:
        if spec["mode"] in ("decode", "decode-collect"):  # decode1m: bench/decode.py
            import decode

            result = (decode.collect if spec["mode"] == "decode-collect" else decode.run_client)(spec)
        else:
            # The client's libraries are imported, and any threads they start have gone idle,
            # before the driver's timed part (see measure.settle).
            for module in CLIENT_MODULES.get(spec["client"], ()):
                with contextlib.suppress(ImportError):
                    importlib.import_module(module)
            settle()
            result = DRIVERS[(spec["mode"], spec["client"])](spec)
    except Exception as error:
        print(json.dumps({"error": f"{type(error).__name__}: {error}"[:300]}))
        traceback.print_exc()
        return 1
    print(json.dumps(result))
    return 0


# =============================================================================================
# Orchestrator (system python3, root)
# =============================================================================================

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Run:
    """One measured run of one client: wall and CPU seconds, peak RSS (KiB), varbinds."""

    wall: float
    cpu: float
    rss_kb: int
    varbinds: int
    extra: dict = field(default_factory=dict)


@dataclass
class Outcome:
    """All runs of one client in one configuration, or why there are none."""

    client: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    mismatch: str | None = None
    note: str = ""

    def median(self, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in self.runs)


LAUNCHER_SOURCE = r"""
#include <stdio.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
/* rusage-launcher FILE COMMAND...: runs COMMAND, writes its maxrss KiB, user s, system s to FILE. */
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) { execvp(argv[2], argv + 2); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) return 2;
    FILE *f = fopen(argv[1], "w");
    if (f) {
        fprintf(f, "%ld %ld.%06ld %ld.%06ld\n", ru.ru_maxrss, (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
                (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
"""
LAUNCHER = BENCH / ".build/rusage-launcher"
USE_LAUNCHER: list[bool] = []


def build_launcher() -> str | None:
    """A tiny C launcher that reports its child's rusage. A child of this (large) Python process
    would inherit its peak RSS through fork/exec (ru_maxrss survives exec), so clients are started
    from the launcher, whose own footprint is tiny. Returns None, or why it is not available."""
    LAUNCHER.parent.mkdir(parents=True, exist_ok=True)
    source = LAUNCHER.with_suffix(".c")
    if not LAUNCHER.exists() or not source.exists() or source.read_text() != LAUNCHER_SOURCE:
        source.write_text(LAUNCHER_SOURCE)
        result = subprocess.run(["cc", "-O2", "-o", str(LAUNCHER), str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            return f"cc failed: {short_error(result.stderr, result.returncode)}"
    USE_LAUNCHER.append(True)
    return None


def run_process(command: list[str], timeout: float, stdout_path: str | None = None,
                capture: bool = True) -> tuple[int, str, str, float, float, int]:
    """Runs `command`; returns (exit code, stdout, stderr, wall s, CPU s, peak RSS KiB) from wait4."""
    out = open(stdout_path or os.devnull, "w") if not capture else subprocess.PIPE  # noqa: SIM115
    usage_file = None
    if CLIENT_CPU is not None:
        command = ["taskset", "-c", str(CLIENT_CPU), *command]
    if USE_LAUNCHER:
        usage_file = LAUNCHER.parent / f"usage.{os.getpid()}"
        usage_file.unlink(missing_ok=True)
        command = [str(LAUNCHER), str(usage_file), *command]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               text=True, start_new_session=True)
    timer = threading.Timer(timeout, lambda: os.killpg(process.pid, signal.SIGKILL))
    timer.daemon = True  # a stopped runner must not wait for it
    timer.start()
    stdout_text, stderr_text = "", ""
    # Read the pipes on threads so that wait4 below can reap the process itself (for its rusage).
    readers = []
    chunks: dict[str, list[str]] = {"out": [], "err": []}
    for name, pipe in (("out", process.stdout), ("err", process.stderr)):
        if pipe is not None:
            reader = threading.Thread(target=lambda p=pipe, n=name: chunks[n].append(p.read()), daemon=True)
            reader.start()
            readers.append(reader)
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:  # stopped (SIGTERM, Ctrl-C): the client goes too
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    finally:
        timer.cancel()
    wall = time.perf_counter() - start
    for reader in readers:
        reader.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if not capture:
        out.close()
    stdout_text, stderr_text = "".join(chunks["out"]), "".join(chunks["err"])
    if process.returncode == -signal.SIGKILL and wall >= timeout:
        stderr_text = f"killed after {timeout:.0f} s timeout\n" + stderr_text
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    if usage_file is not None:
        with contextlib.suppress(OSError, ValueError):
            rss_text, user, system = usage_file.read_text().split()
            rss, cpu = int(rss_text), float(user) + float(system)
        usage_file.unlink(missing_ok=True)
    return process.returncode, stdout_text, stderr_text, wall, cpu, rss


def last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        with contextlib.suppress(ValueError):
            value = json.loads(line)
            if isinstance(value, dict):
                return value
    return None


def short_error(stderr: str, code: int) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else f"exit {code}")[:160]


class Client:
    """How to run one client once: returns a Run or raises RuntimeError with a short reason."""

    def __init__(self, name: str, measure, available: str | None = None) -> None:
        self.name, self.measure, self.unavailable = name, measure, available


def driver_client(name: str, mode: str, spec: dict, timeout: float) -> Client:
    def measure() -> Run:
        full = {**spec, "mode": mode, "client": name}
        code, out, err, _wall, _cpu, rss = run_process([str(VENV_PY), str(Path(__file__).resolve()), "--driver",
                                                        json.dumps(full)], timeout)
        result = last_json(out)
        if code != 0 or not result or "error" in result:
            raise RuntimeError((result or {}).get("error") or short_error(err, code))
        return Run(result["wall"], result["cpu"], rss, int(result["varbinds"]), result)

    return Client(name, measure)


def bulkwalk_command(host: str, oid: str, reps: int, timeout: float, retries: int, usm: dict | None = None) -> list[str]:
    credentials = ["-v2c", "-c", COMMUNITY]
    if usm:
        credentials = ["-v3", "-u", usm["user"], "-l", "authPriv", "-a", usm["auth"], "-A", usm["auth_pass"],
                       "-x", usm["priv"], "-X", usm["priv_pass"]]
    return ["snmpbulkwalk", *credentials, f"-Cr{reps}", "-On", "-Oq", "-t", str(timeout),
            "-r", str(retries), host, oid]


def count_varbind_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.startswith(".1."))


def bulkwalk_client(host: str, oids: list[str], reps: int, timeout: float, retries: int,
                    usm: dict | None = None, name: str = BULKWALK) -> Client:
    """snmpbulkwalk, one process per column (stdout to /dev/null); wall/CPU summed over them."""

    def measure() -> Run:
        wall = cpu = 0.0
        rss = 0
        for oid in oids:
            code, _out, err, w, c, r = run_process(bulkwalk_command(host, oid, reps, timeout, retries, usm), 600,
                                                   capture=False)
            if code != 0:
                raise RuntimeError(short_error(err, code))
            wall, cpu, rss = wall + w, cpu + c, max(rss, r)
        return Run(wall, cpu, rss, -1)  # counted once, outside the timed runs

    return Client(name, measure)


def rust_client(host: str, oids: list[str], reps: int, available: str | None) -> Client:
    """examples/walk.rs, one process per column; its own wall/CPU (no process start), summed."""

    def measure() -> Run:
        wall = cpu = 0.0
        rss = varbinds = 0
        for oid in oids:
            code, out, err, _w, _c, r = run_process([str(RUST_WALK), host, oid, "-Cr", str(reps)], 600)
            fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
            if code != 0 or "varbinds" not in fields:
                raise RuntimeError(short_error(err or out, code))
            wall += float(fields["wall_s"])
            cpu += float(fields["cpu_s"])
            varbinds += int(fields["varbinds"])
            rss = max(rss, r)
        return Run(wall, cpu, rss, varbinds)

    return Client(SS_RUST, measure, available)


def measure_all(clients: list[Client], runs: int, expected: int | None, label: str,
                observe=None, ready=None) -> list[Outcome]:
    """Runs every client `runs` times, interleaved (run 1 of each, then run 2, ...).

    `ready()`, if given, is called (untimed) before every attempt: it waits until the agent
    answers, so that a run does not start while snmpd is busy reloading a big table, and returns
    how long that took. A run that fails or comes back short is measured again, up to RETRIES
    times, and reported; a run that still fails is left out of the medians (reported too), and a
    client whose first run fails is dropped (it is broken, not unlucky)."""
    outcomes = {c.name: Outcome(c.name, error=c.unavailable or ("skipped (--skip-client)" if c.name in SKIP else None))
                for c in clients}
    notes = RETRIED.setdefault(SCENARIO[0], [])
    for i in range(runs):
        for client in clients:
            outcome = outcomes[client.name]
            if outcome.error:
                continue
            for attempt in range(RETRIES + 1):
                pin_agents()
                if ready is not None:
                    waited = ready()
                    if waited > 2:
                        notes.append(f"{label}, before {client.name} run {i + 1}: the agent was busy for "
                                     f"{waited:.0f} s (waited, untimed)")
                        log(f"  {label}: the agent was busy for {waited:.1f} s before {client.name}")
                before = observe() if observe else None
                problem = None
                try:
                    run = client.measure()
                except Exception as error:  # a crashing peer is a result, not the end of the run
                    problem = str(error) or type(error).__name__
                else:
                    if observe:
                        run.extra["agent_cpu"] = observe() - before
                    if run.varbinds < 0 and expected is not None:
                        run.varbinds = expected
                    if expected is not None and run.varbinds != expected:
                        problem = f"{run.varbinds} varbinds, expected {expected}"
                if problem is None:
                    break
                if attempt < RETRIES:
                    notes.append(f"{label}, {client.name} run {i + 1}: {problem[:160]}; measured again")
                    log(f"  {label} {client.name}: {problem}; retrying ({attempt + 1}/{RETRIES})")
            if problem is not None and "varbinds, expected" not in problem:
                if not outcome.runs:
                    outcome.error = problem
                    log(f"  {label} {client.name}: n/a ({outcome.error})")
                else:
                    notes.append(f"{label}, {client.name} run {i + 1}: still failing after {RETRIES} retries "
                                 f"({problem[:160]}); left out of its medians")
                    log(f"  {label} {client.name} run {i + 1}: failed, left out ({problem})")
                continue
            if problem is not None and not outcome.mismatch:
                outcome.mismatch = problem
                log(f"  !!! {label} {client.name}: VARBIND COUNT MISMATCH: {outcome.mismatch}")
            outcome.runs.append(run)
            log(f"  {label} run {i + 1}/{runs} {client.name:<22} wall {run.wall:7.3f} s  cpu {run.cpu:7.3f} s  "
                f"rss {run.rss_kb / 1024:6.1f} MiB  varbinds {run.varbinds}")
    return list(outcomes.values())


def agent_ready(host: str, oid: str):
    """A `ready` probe for measure_all: an snmpgetnext of `oid` with a long timeout (snmpd answers
    nothing while it reloads a big table's cache, which can take tens of seconds)."""
    def ready() -> float:
        start = time.perf_counter()
        command = ["snmpgetnext", "-v2c", "-c", COMMUNITY, "-t", "120", "-r", "0", "-On", host, oid]
        code, _, err, *_ = run_process(command, 300)
        if code != 0:
            log(f"  readiness probe of {host} failed: {short_error(err, code)}")
        return time.perf_counter() - start
    return ready


# --- setup: venv, peers, builds ----------------------------------------------------------------------

def source_stamp() -> str:
    """A hash of everything snmp-stream's Python package is built from."""
    digest = hashlib.sha256()
    paths = [ROOT / p for p in ("Cargo.toml", "Cargo.lock", "pyproject.toml")]
    for top in ("src", "python", "netsnmp-sys"):
        paths += sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                        and not p.name.endswith(".so") and "target" not in p.relative_to(ROOT).parts)
    for path in paths:
        if path.exists():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def setup(skip_build: bool) -> dict[str, str | None]:
    """Creates bench/.venv with the peers and snmp-stream; builds the Rust example.

    Returns {client: None if usable else the reason}."""
    status: dict[str, str | None] = {}
    if not VENV_PY.exists():
        log("creating bench/.venv")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV_PY), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # numpy first (snmp-stream's only dependency), then each peer on its own so one failure is local.
    subprocess.run([*pip, "numpy"], capture_output=True, text=True)
    # pandas, pyarrow, polars (snmp-stream's optional extras): decode1m builds DataFrames and tables.
    probe = [str(VENV_PY), "-c", "import pandas, pyarrow, polars"]
    if subprocess.run(probe, capture_output=True).returncode != 0:
        log("installing pandas, pyarrow and polars into bench/.venv")
        subprocess.run([*pip, "pandas", "pyarrow", "polars"], capture_output=True, text=True)
    result = subprocess.run(probe, capture_output=True, text=True)
    status["pandas"] = None if result.returncode == 0 else f"not installable: {short_error(result.stderr, 1)}"
    for name, requirement in PEER_PACKAGES.items():
        module = {"gufo-snmp": "gufo.snmp", "fastsnmp": "fastsnmp", "ezsnmp": "ezsnmp", "pysnmp": "pysnmp"}[name]
        probe = [str(VENV_PY), "-c", f"import {module}"]
        if subprocess.run(probe, capture_output=True).returncode != 0:
            log(f"installing {requirement} into bench/.venv")
            result = subprocess.run([*pip, requirement], capture_output=True, text=True)
            if result.returncode != 0:
                status[name] = f"install failed: {short_error(result.stderr, result.returncode)}"
                continue
        result = subprocess.run(probe, capture_output=True, text=True)
        status[name] = None if result.returncode == 0 else f"import failed: {short_error(result.stderr, 1)}"

    stamp_file = VENV / "snmp-stream.stamp"
    stamp = source_stamp()
    installed = subprocess.run([str(VENV_PY), "-c", "import snmp_stream"], capture_output=True).returncode == 0
    status[SS_PY] = None
    if not skip_build and (not installed or not stamp_file.exists() or stamp_file.read_text() != stamp):
        log("building snmp-stream's Python package into bench/.venv (pip install . via maturin, ~1 min)")
        result = subprocess.run(["flock", CARGO_LOCK, *pip, "--force-reinstall", "--no-deps", str(ROOT)],
                                capture_output=True, text=True)
        if result.returncode == 0:
            stamp_file.write_text(stamp)
            installed = True
        elif installed:
            status[SS_PY] = None
            STALE.append(f"snmp-stream's Python package could not be rebuilt ({short_error(result.stderr, 1)}); "
                         "an older build was measured")
        else:
            status[SS_PY] = f"build failed: {short_error(result.stderr, result.returncode)}"
    if not installed and not status[SS_PY]:
        status[SS_PY] = "not installed (--skip-build)"
    if installed and stamp_file.exists() and stamp_file.read_text() != stamp and not STALE:
        STALE.append("snmp-stream's Python package was built from an older source tree (--skip-build)")

    launcher = build_launcher()
    if launcher:
        STALE.append(f"peak RSS figures are upper bounds: the rusage launcher could not be built ({launcher})")
    status[SS_RUST] = None
    if not skip_build:
        log("building examples/walk.rs (cargo build --release --example walk)")
        result = subprocess.run(["flock", CARGO_LOCK, "cargo", "build", "--release", "--quiet", "--example", "walk",
                                 "--example", "simagent"],
                                cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            status[SS_RUST] = f"build failed: {short_error(result.stderr, result.returncode)}"
    if status[SS_RUST] is None and not RUST_WALK.exists():
        status[SS_RUST] = "target/release/examples/walk missing"
    return status


STALE: list[str] = []
SKIP: set[str] = set()
RETRIES = 2  # --retries
AGENT_CPU: int | None = None  # --pin: where the agents run
CLIENT_CPU: int | None = None  # --pin: where the clients run
PIN_MODES = {"none": (None, None), "same": (0, 0), "split": (0, 1)}
PIN_NOTES = {
    "same": "**Pinned (`--pin same`): the agents' snmpd and every client run on CPU 0.** A client then no "
            "longer pays for waking the agent on the other CPU (with each request it sends, the kernel wakes "
            "snmpd there with an inter-processor interrupt, which is costly in a VM): a cost of running agent "
            "and client on one machine that a remote agent does not impose. Wall times include the two "
            "sharing one core.",
    "split": "**Pinned (`--pin split`): the agents' snmpd on CPU 0, every client on CPU 1**, so that every "
             "request pays for a cross-CPU wake-up of the agent.",
}
SCENARIO = [""]  # the scenario running now
RETRIED: dict[str, list[str]] = {}  # scenario -> the runs retried


def versions() -> dict[str, str]:
    code = ("import importlib.metadata as m, json; out = {}\n"
            "for n in ['snmp-stream', 'gufo-snmp', 'fastsnmp', 'ezsnmp', 'pysnmp', 'numpy', 'pandas']:\n"
            "    try: out[n] = m.version(n)\n"
            "    except Exception: out[n] = 'not installed'\n"
            "print(json.dumps(out))")
    result = subprocess.run([str(VENV_PY), "-c", code], capture_output=True, text=True)
    found = last_json(result.stdout) or {}
    netsnmp = subprocess.run(["snmpbulkwalk", "--version"], capture_output=True, text=True)
    found["net-snmp"] = (netsnmp.stdout + netsnmp.stderr).strip().split()[-1] if netsnmp.returncode == 0 else "?"
    found["python (venv)"] = subprocess.run([str(VENV_PY), "-c", "import platform; print(platform.python_version())"],
                                            capture_output=True, text=True).stdout.strip()
    return found


def machine() -> dict[str, str]:
    from measure import machine as read_machine

    return read_machine(ROOT)


# --- agents --------------------------------------------------------------------------------------------

sys.path.insert(0, str(BENCH))


def snmpd_descendants_cpu() -> float:
    """CPU seconds (user + system) of all snmpd processes descended from this process."""
    return sum(snmpd_descendants().values())


def snmpd_descendants() -> dict[int, float]:
    """The snmpd processes descended from this process: pid -> CPU seconds (user + system)."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{entry}/stat").read_text()
            comm = raw[raw.index("(") + 1:raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2:].split()
            parents[int(entry)] = int(fields[1])
            stats[int(entry)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    me = os.getpid()

    def descends(pid: int) -> bool:
        seen = 0
        while pid in parents and seen < 64:
            pid, seen = parents[pid], seen + 1
            if pid == me:
                return True
        return False

    return {pid: cpu for pid, (comm, cpu) in stats.items() if comm == "snmpd" and descends(pid)}


def pin_agents() -> None:
    """With --pin: moves every thread of the agents' snmpd processes to AGENT_CPU."""
    if AGENT_CPU is None:
        return
    for pid in snmpd_descendants():
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(task), {AGENT_CPU})


def add_extra_routes(namespace: str, count: int) -> None:
    """Routes 198.19.0.0/32, ... via the namespace's next hop, beyond agents.py's 65,280."""
    lines = "".join(f"route add {ipaddress.ip_address(EXTRA_ROUTE_BASE + i)}/32 via {NEXT_HOP} dev a0\n"
                    for i in range(count))
    subprocess.run(["ip", "netns", "exec", namespace, "ip", "-batch", "-"], input=lines, text=True, check=True,
                   capture_output=True)


def warm_and_count(host: str, oids: list[str], reps: int) -> tuple[int, float]:
    """One untimed snmpbulkwalk per column with a long timeout (snmpd loads big tables slowly on the
    first request), then a second, captured one: the reference varbind count."""
    for oid in oids:
        run_process(bulkwalk_command(host, oid, reps, 30, 2), 900, capture=False)
    total, start = 0, time.perf_counter()
    for oid in oids:
        code, out, err, *_ = run_process(bulkwalk_command(host, oid, reps, 10, 2), 900)
        if code != 0:
            raise RuntimeError(f"snmpbulkwalk {oid}: {short_error(err, code)}")
        total += count_varbind_lines(out)
    return total, time.perf_counter() - start


def closed_ports(count: int) -> list[int]:
    """`count` UDP ports where nothing listens on 127.0.0.1, for dead targets: below the kernel's
    ephemeral range, as `snmp_stream.demo.closed_port` picks them. A closed port inside the range
    can be given to one of the client's own unconnected sockets during the run (1,000 sessions
    hold 1,000 ephemeral ports); the datagram then lands on that socket instead of drawing an
    ICMP port unreachable, and the request waits for its timeout (seen: 1-3 of 100 dead targets
    per run, each costing a whole timeout of wall time)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = []
    for port in range(min(low, 32768) - 1, 1024, -1):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("0.0.0.0", port))
        except OSError:
            continue
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"only {len(ports)} free UDP ports below the ephemeral range")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


# --- scenarios -------------------------------------------------------------------------------------------

@dataclass
class Section:
    title: str
    intro: list[str]
    tables: list[str]
    notes: list[str] = field(default_factory=list)


def walk_clients(host: str, oids: list[str], reps: int, status: dict, runs_timeout: float,
                 ss_budget: int) -> list[Client]:
    spec = {"hosts": [host], "oids": oids, "reps": reps, "budget": ss_budget, "timeout": 5.0, "retries": 1}
    clients = [rust_client(host, oids, reps, status.get(SS_RUST)), driver_client(SS_PY, "walk", spec, runs_timeout)]
    for peer in ("gufo-snmp", "fastsnmp", "ezsnmp", "pysnmp"):
        client = driver_client(peer, "walk", spec, runs_timeout)
        client.unavailable = status.get(peer)
        clients.append(client)
    clients.append(bulkwalk_client(host, oids, reps, 5.0, 1))
    return clients


def fmt_rss(kb: float) -> str:
    return f"{kb / 1024:.1f}"


def walk_table(outcomes: list[Outcome], expected: int) -> str:
    rows = ["| client | varbinds | varbinds/s | wall s | client CPU s | CPU µs/varbind | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        if not o.runs:
            rows.append(f"| {o.client} | n/a ({o.error or 'no runs'}) | | | | | |")
            continue
        wall, cpu = o.median("wall"), o.median("cpu")
        count = o.runs[0].varbinds
        mark = f" **MISMATCH: {o.mismatch}**" if o.mismatch else ""
        failed = f" (n/a after {len(o.runs)} runs: {o.error})" if o.error else ""
        rows.append(f"| {o.client}{failed} | {count:,}{mark} | {count / wall:,.0f} | {wall:.3f} | {cpu:.3f} | "
                    f"{cpu * 1e6 / max(count, 1):.2f} | {fmt_rss(o.median('rss_kb'))} |")
    return "\n".join(rows)


def ratio_table(outcomes: list[Outcome]) -> str:
    """snmp-stream (Rust, Python) / each peer: wall and client CPU (lower is better for us)."""
    by = {o.client: o for o in outcomes}
    ours = [by[n] for n in OURS if n in by and by[n].runs and not by[n].mismatch]
    if not ours:
        return "(no snmp-stream figures: no ratios)"
    head = "| peer | " + " | ".join(f"{o.client} wall | {o.client} CPU" for o in ours) + " |"
    rows = [head, "|---|" + "---:|---:|" * len(ours)]
    for peer in outcomes:
        if peer.client in OURS:
            continue
        if not peer.runs or peer.mismatch:
            rows.append(f"| {peer.client} | " + " | ".join("n/a | n/a" for _ in ours) + " |")
            continue
        cells = []
        for o in ours:
            cells.append(f"{o.median('wall') / peer.median('wall'):.2f}x")
            cells.append(f"{o.median('cpu') / max(peer.median('cpu'), 1e-9):.2f}x")
        rows.append(f"| {peer.client} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def scenario_walk100k(args: argparse.Namespace, status: dict) -> Section:
    from agents import MAX_ROUTES, netns_agent

    rows = args.rows or (5000 if args.quick else 100_000)
    routes = max(1, rows - 2)  # ipCidrRouteTable also lists the connected /30 and the uplink /30
    base_routes = min(routes, MAX_ROUTES)
    extra = min(routes - base_routes, EXTRA_ROUTES_MAX)
    section = Section(f"walk100k: one {rows:,}-row column", [], [])
    log(f"walk100k: namespace agent with {base_routes + extra} routes")
    with netns_agent("sbrunwalk", interfaces=2, routes=base_routes, cache_timeout=AGENT_CACHE_TIMEOUT) as agent:
        if extra:
            add_extra_routes(agent.name, extra)
        host = agent.host
        section.intro.append(
            f"Agent: snmpd 5.9 in a network namespace (`bench/agents.py` `netns_agent(interfaces=2, "
            f"routes={base_routes})`{f' plus {extra:,} more /32 routes added by run.py' if extra else ''}), "
            f"at {host}. Column walked: ipCidrRouteDest `{IP_CIDR_ROUTE_DEST}` (one row per route; "
            f"ipRouteTable and inetCidrRouteTable have the same rows but the agent serves them more slowly). "
            f"v2c, timeout 5 s, 1 retry (the Rust example: its defaults, 1 s, 3 retries). {CACHE_NOTE}")
        for reps in (25, 50):
            expected, seconds = warm_and_count(host, [IP_CIDR_ROUTE_DEST], reps)
            log(f"walk100k -Cr{reps}: snmpbulkwalk reference {expected} varbinds ({seconds:.2f} s)")
            clients = walk_clients(host, [IP_CIDR_ROUTE_DEST], reps, status, 600, reps)
            outcomes = measure_all(clients, args.runs, expected, f"walk100k r{reps}",
                                   ready=agent_ready(host, IP_CIDR_ROUTE_DEST))
            section.tables.append(f"#### max-repetitions {reps} (snmpbulkwalk reference: {expected:,} varbinds)\n\n"
                                  f"{walk_table(outcomes, expected)}\n\nRatios snmp-stream / peer (below 1: "
                                  f"snmp-stream is faster or cheaper):\n\n{ratio_table(outcomes)}")
    return section


def scenario_table(args: argparse.Namespace, status: dict) -> Section:
    from agents import netns_agent

    interfaces = 1000 if args.quick else 10_000
    section = Section(f"table10x10k: 10 columns x {interfaces + 2:,} rows (ifTable)", [], [])
    log(f"table10x10k: namespace agent with {interfaces} interfaces")
    with netns_agent("sbruntable", interfaces=interfaces, routes=0, cache_timeout=AGENT_CACHE_TIMEOUT) as agent:
        host = agent.host
        section.intro.append(
            f"Agent: `netns_agent(interfaces={interfaces})` at {host} (ifNumber {agent.interfaces + 2}). "
            f"Columns ifTable.1 .. ifTable.10 (`{IF_ENTRY}.1` .. `.10`). How each client walks them: "
            "snmp-stream (Python): one request with the 10 columns as roots, GETBULK budget "
            "`max_var_binds_per_pdu` = 10 x max-repetitions (so each PDU carries all 10 columns x "
            "max-repetitions rows, like fastsnmp); snmp-stream (Rust): examples/walk.rs takes one OID, so one "
            "process per column (figures summed); fastsnmp: the 10 columns in one GETBULK per round (its "
            "\"oids group\"), max-repetitions per column; gufo-snmp, ezsnmp, pysnmp: the 10 columns one after "
            "the other on one session; snmpbulkwalk: 10 invocations (wall and CPU summed, process starts "
            f"included). {CACHE_NOTE}")
        for reps in (25,) if args.quick else (25, 50):
            expected, seconds = warm_and_count(host, IF_COLUMNS, reps)
            log(f"table10x10k -Cr{reps}: snmpbulkwalk reference {expected} varbinds ({seconds:.2f} s)")
            clients = walk_clients(host, IF_COLUMNS, reps, status, 900, 10 * reps)
            outcomes = measure_all(clients, args.runs, expected, f"table r{reps}",
                                   ready=agent_ready(host, IF_COLUMNS[0]))
            section.tables.append(f"#### max-repetitions {reps} (snmpbulkwalk reference: {expected:,} varbinds)\n\n"
                                  f"{walk_table(outcomes, expected)}\n\nRatios snmp-stream / peer:\n\n"
                                  f"{ratio_table(outcomes)}")
    return section


@contextlib.contextmanager
def silent_ports(count: int):
    """`count` bound UDP sockets on 127.0.0.1 that never answer (nor send port-unreachable)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        yield [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    finally:
        for s in sockets:
            s.close()


def agent_hosts(value) -> list[str]:
    """The hosts of whatever delayed_agents yields: a list of "IP:PORT", or objects with .host(s)."""
    if hasattr(value, "hosts"):
        value = value.hosts
    hosts = [item if isinstance(item, str) else item.host for item in value]
    if not hosts:
        raise RuntimeError("delayed_agents yielded no hosts")
    return hosts


def clean_errors(errors: list[str]) -> str:
    """Distinct error messages, without addresses, newlines or table pipes."""
    cleaned = {re.sub(r"\s+", " ", re.sub(r"\d+\.\d+\.\d+\.\d+(:\d+)?", "HOST", e)).replace("|", "/").strip(" .:")
               for e in errors}
    return "; ".join(sorted(cleaned))


def scenario_fleet(args: argparse.Namespace, status: dict) -> Section:
    targets = 100 if args.quick else 1000
    dead = sum(1 for i in range(targets) if i % 10 == 9)
    live = targets - dead
    agents_count, delay_ms, rows, concurrency = args.fleet_agents, args.fleet_delay_ms, 20, 50
    kinds = ["closed", "silent"] if args.fleet_dead == "both" else [args.fleet_dead]
    section = Section(f"fleet: {targets:,} targets x a {rows}-row, 5-column table, {dead} dead", [], [])
    try:
        from agents import delayed_agents
    except ImportError:
        section.intro.append("Skipped: `bench/agents.py` has no `delayed_agents(count, delay_ms, rows)` yet.")
        log("fleet: skipped (bench/agents.py has no delayed_agents yet)")
        return section
    log(f"fleet: {agents_count} delayed agents ({delay_ms} ms, {rows} rows), {targets} targets, {dead} dead")
    with contextlib.ExitStack() as stack:
        hosts = agent_hosts(stack.enter_context(delayed_agents(agents_count, delay_ms, rows)))
        reps = 25
        per_agent = {}
        for host in hosts:
            per_agent[host], _ = warm_and_count(host, [DELAYED_TABLE], reps)
        live_hosts = [hosts[i % len(hosts)] for i in range(live)]
        expected = sum(per_agent[h] for h in live_hosts)
        section.intro.append(
            f"Agents: `delayed_agents({agents_count}, {delay_ms}, {rows})` (snmpd answering "
            f"`{DELAYED_TABLE}` {delay_ms} ms late, {per_agent[hosts[0]]} varbinds per walk), on "
            f"{', '.join(hosts[:3])}{', ...' if len(hosts) > 3 else ''}. {targets:,} logical targets: {live} "
            f"walks spread over the agents and {dead} dead targets (every 10th target), measured twice: "
            + " and ".join(f"{DEAD_KINDS[k]}" for k in kinds) + ". Everyone: v2c, "
            f"timeout 1 s, 0 retries, max-repetitions {reps} (snmp-stream: budget {reps * 5}, the 5 columns "
            f"together). snmp-stream (Python): one process, `stream()` with max_sessions {targets}, "
            f"`walk_mode` \"getbulk\" like its peers (which never fall back to GETNEXT), and once more with "
            f"its default, \"auto\", which tries one GETNEXT on an agent that answered no GETBULK (an agent "
            f"that drops GETBULK is then walked; a dead one costs that one more try); "
            f"gufo-snmp and ezsnmp: a thread pool of {concurrency}; pysnmp: asyncio.gather with a semaphore "
            f"of {concurrency}; fastsnmp can't take part (it sends to port 161 only, and the agents listen on "
            f"other ports). \"agent CPU\" is the snmpd processes' own CPU time "
            f"(/proc/PID/stat) during the run. A dead target should cost at most one timeout in total wall "
            f"time, not one each: compare with the live-only run.")
        for kind in kinds:
            if kind == "silent":
                dead_hosts = stack.enter_context(silent_ports(dead))
            else:
                dead_hosts = [f"127.0.0.1:{p}" for p in closed_ports(dead)]
            dead_iter, live_iter = iter(dead_hosts), iter(live_hosts)
            fleet = [next(dead_iter) if i % 10 == 9 else next(live_iter) for i in range(targets)]
            spec = {"hosts": fleet, "oids": [DELAYED_TABLE], "reps": reps, "budget": reps * 5, "timeout": 1.0,
                    "retries": 0, "concurrency": concurrency}
            clients = [driver_client(SS_PY, "fleet", {**spec, "concurrency": targets}, 900)]
            live_only = driver_client(SS_PY, "fleet", {**spec, "hosts": live_hosts, "concurrency": targets}, 900)
            live_only.name = f"{SS_PY}, live targets only"
            if kind == kinds[0]:
                clients.append(live_only)
            auto = driver_client(SS_PY, "fleet", {**spec, "concurrency": targets, "walk_mode": "auto"}, 900)
            auto.name = AUTO_NAME
            clients.append(auto)
            for peer in ("gufo-snmp", "ezsnmp", "pysnmp"):
                client = driver_client(peer, "fleet", spec, 900)
                client.unavailable = status.get(peer)
                clients.append(client)
            outcomes = measure_all(clients, args.runs, None, f"fleet ({kind})", observe=snmpd_descendants_cpu)
            if kind == kinds[0]:
                live_outcome = next(o for o in outcomes if o.client == live_only.name)
            else:
                outcomes.insert(1, live_outcome)
            section.tables.append(f"#### dead targets: {DEAD_KINDS[kind]}")
            table = ["| client | ok | failed | varbinds | wall s | client CPU s | CPU µs/varbind | peak RSS MiB | "
                     "agent CPU s | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
            for o in outcomes:
                if not o.runs:
                    table.append(f"| {o.client} | n/a ({o.error}) | | | | | | | | |")
                    continue
                first = o.runs[0].extra
                is_live = "live" in o.client
                count = o.runs[0].varbinds
                ok_count = "" if count == expected else f" **MISMATCH: expected {expected:,}**"
                bad_dead = "" if first.get("failed", 0) == (0 if is_live else dead) else " **(unexpected)**"
                cpu = o.median("cpu")
                agent_cpu = statistics.median(r.extra.get("agent_cpu", 0.0) for r in o.runs)
                name = f"{o.client} (measured above)" if is_live and kind != kinds[0] else o.client
                table.append(f"| {name} | {first.get('ok')} | {first.get('failed')}{bad_dead} | {count:,}{ok_count} "
                             f"| {o.median('wall'):.3f} | {cpu:.3f} | {cpu * 1e6 / max(count, 1):.2f} | "
                             f"{fmt_rss(o.median('rss_kb'))} | {agent_cpu:.3f} | "
                             f"{clean_errors(first.get('errors', []))} |")
            section.tables.append("\n".join(table))
            section.tables.append("Ratios snmp-stream / peer:\n\n" + ratio_table(
                [o for o in outcomes if "live" not in o.client and o.client != AUTO_NAME]))
            by = {o.client: o for o in outcomes}
            if by[SS_PY].runs and live_outcome.runs:
                cost = by[SS_PY].median("wall") - live_outcome.median("wall")
                verdict = "at most one timeout" if cost < 1.3 else "MORE than one timeout"
                section.tables.append(f"Dead targets' cost for snmp-stream ({kind}): {cost:+.2f} s of wall time "
                                      f"for {dead} dead targets (timeout 1 s): {verdict}.")
            if by.get(AUTO_NAME) and by[AUTO_NAME].runs and live_outcome.runs:
                cost = by[AUTO_NAME].median("wall") - live_outcome.median("wall")
                verdict = "at most two timeouts" if cost < 2.3 else "MORE than two timeouts"
                section.tables.append(f"With walk_mode \"auto\" ({kind}): {cost:+.2f} s for {dead} dead targets: "
                                      f"{verdict} (the GETBULK's, then the one GETNEXT try's).")
    section.notes.append(
        "Closed ports: the kernel answers each request with ICMP port unreachable. A client with a "
        "connected UDP socket per target (gufo-snmp) sees ECONNREFUSED and gives up at once; so does "
        "snmp-stream, whose unconnected sockets ask for ICMP errors (`IP_RECVERR`). ezsnmp (net-snmp's "
        "plain sessions) and pysnmp ignore it and wait for the timeout. The closed ports lie below the "
        "ephemeral port range, so that no client socket is given one of them during the run. Silent "
        "targets (a dead router, a firewall that drops) cost every client a timeout; with all requests in "
        "flight at once, snmp-stream pays it once in total.")
    return section


def scenario_inflight(args: argparse.Namespace, status: dict) -> Section:
    count = 1000 if args.quick else 10_000
    ports, silent_timeout = 100, 2.0
    # At most 200 requests per delayed agent: snmpd's UDP receive buffer (212,992 bytes) holds
    # about 250 of them, and since v1/v2c requests are sent without net-snmp, a burst of 400 comes
    # fast enough to overflow it now and then (seen: up to 32 of 10,000 lost, each one counted in
    # the kernel's UdpRcvbufErrors).
    agents_count, delay_ms, delayed_timeout = max(10, count // 200), 1000, 5.0
    section = Section(f"inflight10k: {count:,} requests in flight in one snmp-stream process", [], [])
    if status.get(SS_PY):
        section.intro.append(f"n/a ({status[SS_PY]})")
        return section
    section.intro.append(
        f"{count:,} walks of `{DELAYED_TABLE}` submitted at once to one `Collector` (Python API, "
        f"max_sessions {count}, 0 retries), against two kinds of targets: (a) {ports} bound UDP sockets on "
        f"127.0.0.1 that never answer (timeout {silent_timeout:.0f} s), so every request stays in flight until its "
        f"timeout and must end with exactly one timeout response; (b) `delayed_agents({agents_count}, {delay_ms}, 1)`, "
        f"a 1-row table answered {delay_ms} ms late (timeout {delayed_timeout:.0f} s): one GETBULK each, every request "
        f"must succeed with 5 varbinds. RSS (VmRSS) is sampled every 10 ms in the driver; the base is taken after "
        f"the {count:,} requests were built and the collector started, before the first submit; \"per request\" is "
        f"(peak - base) / {count:,}.")
    table = ["| targets | run | responses | exactly one each | statuses | error kinds | varbinds | "
             "first / last response s | client CPU s | RSS base MiB | RSS peak MiB | per in-flight request KiB |",
             "|---|---:|---:|---|---|---|---:|---|---:|---:|---:|---:|"]

    def add_rows(label: str, outcome: Outcome, want_varbinds: int, requests: int = count) -> None:
        if not outcome.runs:
            table.append(f"| {label} | n/a ({outcome.error}) | | | | | | | | | | |")
        for i, run in enumerate(outcome.runs):
            e = run.extra
            per = (e["rss_peak_kb"] - e["rss_base_kb"]) / requests
            vb = f"{run.varbinds:,}" + ("" if run.varbinds == want_varbinds else f" **expected {want_varbinds:,}**")
            table.append(f"| {label} | {i + 1} | {e['responses']:,} | {'yes' if e['exactly_once'] else '**NO**'} | "
                         f"{e['statuses']} | {e['error_kinds']} | {vb} | "
                         f"{e['first_s']:.2f} / {e['last_s']:.2f} | {run.cpu:.2f} | "
                         f"{fmt_rss(e['rss_base_kb'])} | {fmt_rss(e['rss_peak_kb'])} | {per:.1f} |")

    log(f"inflight: {count} walks to {ports} silent loopback ports, timeout {silent_timeout} s")
    with silent_ports(ports) as hosts:
        spec = {"hosts": hosts, "oids": [DELAYED_TABLE], "count": count, "timeout": silent_timeout}
        (outcome,) = measure_all([driver_client(SS_PY, "inflight", spec, 300)], args.runs, None, "inflight silent")
    add_rows("silent", outcome, 0)
    try:
        from agents import delayed_agents
    except ImportError:
        table.append("| delayed | skipped: bench/agents.py has no delayed_agents | | | | | | | | | | |")
    else:
        log(f"inflight: {count} walks to {agents_count} agents answering {delay_ms} ms late")
        with delayed_agents(agents_count, delay_ms, 1) as agents:
            hosts = agent_hosts(agents)
            spec = {"hosts": hosts, "oids": [DELAYED_TABLE], "count": count, "timeout": delayed_timeout}
            (outcome,) = measure_all([driver_client(SS_PY, "inflight", spec, 300)], args.runs, None,
                                     "inflight delayed")
        add_rows(f"delayed {delay_ms} ms", outcome, 5 * count)
    # Issue 15: 50,000 in flight, silent and delayed agents mixed, on the simulated fleet (a
    # burst of 25,000 requests would overflow any handful of snmpd's receive buffers).
    big = 5000 if args.quick else 50_000
    try:
        from agents import simulated_fleet
        fleet = simulated_fleet(1000, 1, silent=500, delayed=500, delay_ms=delay_ms)
        with fleet as (port, _pid):
            hosts = [f"127.0.0.1:{port + i}" for i in range(1000)]
            spec = {"hosts": hosts, "oids": [IF_ENTRY + ".2"], "count": big, "timeout": 3.0}
            log(f"inflight: {big} walks, half to simulated agents answering {delay_ms} ms late, half silent")
            (outcome,) = measure_all([driver_client(SS_PY, "inflight", spec, 300)], args.runs, None,
                                     f"inflight {big} mixed")
        add_rows(f"{big:,} mixed: simagent, 500 agents {delay_ms} ms late + 500 silent", outcome, big // 2, big)
        section.notes.append(
            f"The last rows: {big:,} walks of ifDescr (one row) submitted at once, request i to simulated agent "
            f"i mod 1,000 (`bench/simagent --agents 1000 --delayed 500 --delay-ms {delay_ms} --silent 500`): half "
            f"answered {delay_ms} ms late (one varbind each), half never (timeout 3 s, 0 retries). Issue 15's "
            "target: 50,000 in flight with exactly one response each, at most 4 KiB per request in flight.")
    except (ImportError, RuntimeError) as error:
        table.append(f"| {big:,} mixed | n/a ({error}) | | | | | | | | | | |")
    section.tables.append("\n".join(table))
    return section


DECODE_TARGET = 20e6  # the issue's target: decoding >= 20M varbinds/s per core
ARROW_DECODE_TARGET = 40e6  # issue 15: through Arrow, >= 40M varbinds per CPU-second


def scenario_decode1m(args: argparse.Namespace, status: dict) -> Section:
    import decode

    agents_count, rows, budget = 4, (5000 if args.quick else 50_000), 50
    expected = agents_count * rows * len(decode.COLUMNS)
    section = Section(f"decode1m: {expected:,} varbinds into a DataFrame", [], [])
    if status.get(SS_PY):
        section.intro.append(f"n/a: snmp-stream's Python package is not usable ({status[SS_PY]})")
        return section
    from agents import delayed_agents

    tmp = tempfile.mkdtemp(prefix="snmpbench-decode-")
    path = f"{tmp}/buffers.bin"
    try:
        log(f"decode1m: collecting {expected:,} varbinds from {agents_count} delayed agents (0 ms, {rows:,} rows)")
        with delayed_agents(agents_count, 0, rows) as agents:
            hosts = agent_hosts(agents)
            spec = {"hosts": hosts, "budget": budget, "timeout": 10.0, "retries": 2, "path": path}
            collected = driver_client("snmp-stream", "decode-collect", spec, 900).measure().extra
        per_buffer = collected["per_buffer"]
        log(f"decode1m: collected {collected['varbinds']:,} varbinds in {collected['wall']:.1f} s "
            f"({collected['buffer_bytes'] / 1e6:.1f} MB of buffers), per buffer {per_buffer}")
        if collected["varbinds"] != expected or any(n != rows * len(decode.COLUMNS) for n in per_buffer):
            raise RuntimeError(f"collected {collected['varbinds']} varbinds ({per_buffer}), expected {expected}")
        section.intro.append(
            f"Data: collected once with snmp-stream (`walk_many` of the 5 columns of `{decode.TABLE_ENTRY}` on "
            f"`delayed_agents({agents_count}, delay_ms=0, rows={rows:,})`, v2c, max_var_binds_per_pdu {budget}): "
            f"{agents_count} buffers, {collected['varbinds']:,} varbinds (the buffers' record counts, header bytes "
            f"16..20; {rows * len(decode.COLUMNS):,} each as expected), {collected['buffer_bytes']:,} bytes "
            f"({collected['buffer_bytes'] / collected['varbinds']:.1f} bytes per varbind), in "
            f"{collected['wall']:.1f} s ({collected['varbinds'] / collected['wall']:,.0f} varbinds/s, bound by "
            f"the {agents_count} snmpd processes). Saved to a temporary file that every timed client loads.")
        section.intro.append(
            "Clients, each run in its own process (bench/decode.py via the driver), median of "
            f"{args.runs} runs: loading the file, preparing the input and a tiny pandas warm-up (pandas imports "
            "parts of itself on first use) are untimed, and the client then waits until its other threads are "
            "idle (numpy's OpenBLAS pool spins for a while after import, which would be charged to a 30 ms "
            "conversion); wall and CPU are measured around the conversion only. "
            "(a) snmp-stream's native parser, `p.Table(index=[p.integer(\"row\")], columns=[5 x p.column(...)])`, "
            "on the 4 buffers as numpy uint8 arrays (what `response.results` is): `to_numpy` (a dict of numpy "
            "arrays) and `to_pandas` (a DataFrame, pandas' nullable Int64/UInt64 for integers); "
            "(b) pure Python: `struct.unpack_from` per record (docs/FORMAT.md; precompiled `struct.Struct`s) "
            "into one `(index, column, value)` tuple per varbind, then one dict per (req_id, row), "
            "`pd.DataFrame(list_of_dicts)` and `.astype()` to the native frame's dtypes: what users do with a "
            "client that returns one Python object per varbind; (c) from one list of `(oid_string, value)` pairs "
            "per agent, as gufo-snmp's `getbulk` yields them (OID text without a leading dot, int, bytes for "
            "OCTET STRING; built from (b)'s decode beforehand, untimed): `oid.rpartition(\".\")` into column and "
            "index, `bytes.decode()`, one dict per row, DataFrame, `.astype()`. Python's garbage collector is on, "
            "as users have it. varbinds/s = varbinds / wall; \"per CPU-second\" = varbinds / CPU (the native "
            "decoder is single-threaded, so this is the per-core rate). Peak RSS is the whole process's "
            "(interpreter, pandas, the input); \"RSS before\" is VmRSS just before the timed conversion.")
        clients = [driver_client(name, "decode", {"path": path}, 900) for name in
                   (*decode.NATIVE, decode.PY_STRUCT, decode.PY_TUPLES)]
        for client in clients[1:]:
            client.unavailable = status.get("pandas")
        outcomes = measure_all(clients, args.runs, expected, "decode1m")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Every client's table must be the same: rows x columns, and each column's digest over the rows sorted
    # by (req_id, row) (ints with their null masks, text as text).
    by = {o.client: o for o in outcomes}
    reference = next((o for o in (by[decode.NATIVE_PANDAS], by[decode.NATIVE_NUMPY]) if o.runs), None)
    ref_summary = reference.runs[0].extra["summary"] if reference else None

    def same(o: Outcome) -> str:
        if ref_summary is None:
            return "n/a"
        problems = set()
        for run in o.runs:
            summary = run.extra["summary"]
            if summary["rows"] != ref_summary["rows"] or summary["columns"] != ref_summary["columns"]:
                problems.add(f"shape {summary['rows']} x {summary['columns']}")
            problems.update(name for name, d in summary["digests"].items() if ref_summary["digests"].get(name) != d)
        return "yes" if not problems else f"**NO** ({', '.join(sorted(problems))})"

    table = ["| client | varbinds | rows x columns | wall s | CPU s | varbinds/s | varbinds per CPU-second | "
             "CPU ns/varbind | peak RSS MiB | RSS before MiB | same table |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for o in outcomes:
        if not o.runs:
            table.append(f"| {o.client} | n/a ({o.error or 'no runs'}) | | | | | | | | | |")
            continue
        wall, cpu, count = o.median("wall"), o.median("cpu"), o.runs[0].varbinds
        summary = o.runs[0].extra["summary"]
        mark = f" **MISMATCH: {o.mismatch}**" if o.mismatch else ""
        failed = f" (n/a after {len(o.runs)} runs: {o.error})" if o.error else ""
        base = statistics.median(r.extra["rss_base_kb"] for r in o.runs)
        table.append(f"| {o.client}{failed} | {count:,}{mark} | {summary['rows']:,} x {len(summary['columns'])} | "
                     f"{wall:.3f} | {cpu:.3f} | {count / wall:,.0f} | {count / max(cpu, 1e-9):,.0f} | "
                     f"{cpu * 1e9 / max(count, 1):,.0f} | {fmt_rss(o.median('rss_kb'))} | {fmt_rss(base)} | "
                     f"{same(o)} |")
    section.tables.append("\n".join(table))

    ours = [by[n] for n in decode.NATIVE if by[n].runs and not by[n].mismatch]
    theirs = [by[n] for n in (decode.PY_STRUCT, decode.PY_TUPLES)]
    if ours:
        ratios = ["| Python path | " + " | ".join(f"{o.client} wall | {o.client} CPU" for o in ours) + " |",
                  "|---|" + "---:|---:|" * len(ours)]
        for peer in theirs:
            if not peer.runs or peer.mismatch:
                ratios.append(f"| {peer.client} | " + " | ".join("n/a | n/a" for _ in ours) + " |")
                continue
            cells = []
            for o in ours:
                for attr in ("wall", "cpu"):
                    ratio = o.median(attr) / max(peer.median(attr), 1e-9)
                    cells.append(f"{ratio:.4f}x ({1 / max(ratio, 1e-12):,.0f}x faster)")
            ratios.append(f"| {peer.client} | " + " | ".join(cells) + " |")
        section.tables.append("Ratios native / Python (below 1: the native parser is faster):\n\n" + "\n".join(ratios))

    numpy_o, pandas_o = by[decode.NATIVE_NUMPY], by[decode.NATIVE_PANDAS]
    if numpy_o.runs:
        rate = numpy_o.runs[0].varbinds / max(numpy_o.median("cpu"), 1e-9)
        wall_rate = numpy_o.runs[0].varbinds / numpy_o.median("wall")
        verdict = "**met**" if rate >= DECODE_TARGET else "**NOT met**"
        text = (f"Target (issue): decoding >= {DECODE_TARGET / 1e6:.0f}M varbinds/s per core. Native `to_numpy`: "
                f"{rate / 1e6:.1f}M varbinds per CPU-second ({wall_rate / 1e6:.1f}M/s of wall time): {verdict}.")
        if pandas_o.runs:
            prate = pandas_o.runs[0].varbinds / max(pandas_o.median("cpu"), 1e-9)
            text += (f" `to_pandas`: {prate / 1e6:.1f}M varbinds per CPU-second "
                     f"({'at or above' if prate >= DECODE_TARGET else 'below'} the target; it includes pandas' own "
                     f"DataFrame construction on top of the same decode).")
        section.notes.append(text)
    else:
        section.notes.append(f"Target (issue): decoding >= {DECODE_TARGET / 1e6:.0f}M varbinds/s per core: not "
                             f"measured (to_numpy n/a: {numpy_o.error}).")
    arrow_rates = {o.client: o.runs[0].varbinds / max(o.median("cpu"), 1e-9) for o in
                   (by[n] for n in (decode.NATIVE_ARROW, decode.NATIVE_POLARS, decode.NATIVE_PANDAS_ARROW)) if o.runs}
    if arrow_rates:
        met = all(rate >= ARROW_DECODE_TARGET for rate in arrow_rates.values())
        section.notes.append(
            f"Target (issue 15): >= {ARROW_DECODE_TARGET / 1e6:.0f}M varbinds per CPU-second through Arrow (text and "
            f"bytes columns built natively as large_string / large_binary, no Python object per row): "
            + ", ".join(f"{name} {rate / 1e6:.1f}M" for name, rate in arrow_rates.items())
            + f": {'**met**' if met else '**NOT met**'}.")
    struct_o = by[decode.PY_STRUCT]
    if struct_o.runs:
        decode_s = statistics.median(r.extra["decode_s"] for r in struct_o.runs)
        section.notes.append(f"(b) in detail: {decode_s:.2f} s of its {struct_o.median('wall'):.2f} s wall decoding "
                             f"the buffers into tuples, the rest building the row dicts and the DataFrame.")
    if ref_summary:
        head = "| " + " | ".join(ref_summary["columns"]) + " |"
        rows_md = [head, "|" + "---|" * len(ref_summary["columns"])]
        rows_md += ["| " + " | ".join(str(v) for v in row) + " |" for row in ref_summary["sample"]]
        dtypes = {o.client: o.runs[0].extra["summary"]["dtypes"] for o in outcomes if o.runs}
        section.notes.append(
            f"Check: \"same table\" compares each client's rows x columns and a SHA-256 per column over all rows "
            f"sorted by (req_id, row) (integer values and null masks; text) with {reference.client}'s, for every "
            f"run. A few of those sorted rows (first, 1/3, 1/2, 2/3, last):\n\n" + "\n".join(rows_md) +
            "\n\ndtypes: " + "; ".join(f"{name}: " + ", ".join(f"{k} {v}" for k, v in d.items())
                                       for name, d in dtypes.items()))
    gufo = collected.get("gufo_sample")
    want = [[f"{decode.TABLE_ENTRY}.1.1", "1"], [f"{decode.TABLE_ENTRY}.2.1", "b'row-1'"],
            [f"{decode.TABLE_ENTRY}.4.1", str(2 ** 32 + 1)]]
    if isinstance(gufo, list):
        verdict = "the form (c) is fed" if gufo == want else f"NOT the form (c) is fed ({want})"
        section.notes.append("gufo-snmp's real `getbulk` on agent 1 (first pair of columns 1, 2 and 4): "
                             + ", ".join(f"`('{oid}', {value})`" for oid, value in gufo) + f": {verdict}.")
    elif gufo:
        section.notes.append(f"gufo-snmp form check skipped: {gufo}.")
    return section


AGENT_CACHE_TIMEOUT = 3600
CACHE_NOTE = (f"The agent's data caches are set to {AGENT_CACHE_TIMEOUT} s (nsCacheTimeout; snmpd's default for "
              "ipCidrRouteTable is 60 s, and reloading 100k routes keeps it from answering anyone for tens of "
              "seconds, in the middle of whichever run is going), and before every run the runner waits, "
              "untimed, until the agent answers a GETNEXT of the first column.")

DEAD_KINDS = {"closed": "closed 127.0.0.1 ports (nobody listens: the kernel answers ICMP port unreachable)",
              "silent": "silent 127.0.0.1 ports (bound sockets that never answer, like a dead host)"}

def scenario_v3walk(args: argparse.Namespace, status: dict) -> Section:
    """Issue 14's speed target: an authPriv (SHA-256 + AES) walk of a 100k-varbind mixed table
    costs <= 1.5x the client CPU of the same walk over v2c, and less than snmpbulkwalk -v3 and
    gufo-snmp's v3 per varbind."""
    from agents import delayed_agents

    rows = 2000 if args.quick else 20_000
    reps = 25
    user = V3_USER
    config = (f"createUser {user['user']} {user['auth']} {user['auth_pass']} {user['priv']} {user['priv_pass']}\n"
              f"rouser {user['user']} priv")
    section = Section(f"v3walk: {rows * 5:,} varbinds over SNMPv3 authPriv and over v2c", [], [])
    log(f"v3walk: a delayed loopback agent (0 ms) with {rows:,} rows and an SNMPv3 user")
    with delayed_agents(1, 0, rows, extra_config=config) as [agent]:
        host = agent.host
        section.intro.append(
            f"Agent: `delayed_agents(1, 0, {rows})` (the delayagent table `{DELAYED_TABLE}`: 5 columns of "
            f"INTEGER, OCTET STRING, Counter32, Counter64, Gauge32; {rows * 5:,} varbinds) with the SNMPv3 user "
            f"`{user['user']}` (authPriv, {user['auth']} + {user['priv']}), at {host}. Walked whole (one root), "
            f"max-repetitions {reps}, by each client over v2c and over v3 (keys derived inside the timed walk, "
            f"engine ID discovered, for every client). snmpbulkwalk: process start included.")
        expected, seconds = warm_and_count(host, [DELAYED_TABLE], reps)
        log(f"v3walk: snmpbulkwalk reference {expected} varbinds ({seconds:.2f} s)")
        base = {"hosts": [host], "oids": [DELAYED_TABLE], "reps": reps, "budget": reps, "timeout": 5.0, "retries": 1}
        v3 = {**base, "usm": user}
        clients = [driver_client(SS_PY, "walk", base, 600), driver_client(SS_PY_V3, "walk", v3, 600)]
        for name, spec in (("gufo-snmp", base), ("gufo-snmp v3", v3)):
            client = driver_client(name, "walk", spec, 600)
            client.unavailable = status.get("gufo-snmp")
            clients.append(client)
        clients.append(bulkwalk_client(host, [DELAYED_TABLE], reps, 5.0, 1))
        clients.append(bulkwalk_client(host, [DELAYED_TABLE], reps, 5.0, 1, user, "snmpbulkwalk -v3"))
        outcomes = measure_all(clients, args.runs, expected, "v3walk", ready=agent_ready(host, DELAYED_TABLE))
        by = {o.client: o for o in outcomes}
        section.tables.append(f"{walk_table(outcomes, expected)}")
        ours = by.get(SS_PY_V3)
        lines = ["| snmp-stream v3 CPU against | ratio | target |", "|---|---:|---|"]
        for other, target in ((SS_PY, "<= 1.5x (v3 over v2c)"), ("snmpbulkwalk -v3", "< 1"),
                              ("gufo-snmp v3", "< 1"), (BULKWALK, ""), ("gufo-snmp", "")):
            peer = by.get(other)
            if ours and ours.runs and peer and peer.runs:
                ratio = ours.median("cpu") / max(peer.median("cpu"), 1e-9)
                lines.append(f"| {other} | {ratio:.2f}x | {target} |")
            else:
                lines.append(f"| {other} | n/a | {target} |")
        section.tables.append("\n".join(lines))
    return section


def scenario_v3fleet(args: argparse.Namespace, status: dict) -> Section:
    """Issue 14: 1,000 v3 requests to 50 agents must not spend most of their CPU hashing
    passphrases."""
    from agents import snmpd

    count, requests = (10, 200) if args.quick else (50, 1000)
    user = V3_USER
    config = (f"createUser {user['user']} {user['auth']} {user['auth_pass']} {user['priv']} {user['priv_pass']}\n"
              f"rouser {user['user']} priv")
    section = Section(f"v3fleet: {requests:,} SNMPv3 GETs over {count} agents", [], [])
    log(f"v3fleet: starting {count} snmpd agents with an SNMPv3 user")
    with snmpd.agents(count, extra_config=config) as agents:
        hosts = agent_hosts(agents)
        spec = {"hosts": hosts, "requests": requests, "usm": user, "closed": f"127.0.0.1:{closed_ports(1)[0]}"}
        result = driver_client(SS_PY, "v3fleet", spec, 600).measure().extra
    pair = result["derive_pair_cpu"]
    section.intro.append(
        f"{count} snmpd agents on loopback (each its own engine ID) with the user `{user['user']}` (authPriv, "
        f"{user['auth']} + {user['priv']}); {requests:,} GETs of sysName.0 spread over them, all in one "
        f"SessionManager of one process, with the same credentials. Run twice in the same process: cold (the "
        f"keys derived, localised for each engine, each engine discovered) and warm (all of it remembered). "
        f"Deriving one credentials' two keys (RFC 3414 A.2, a megabyte of hashing each) was measured alone "
        f"(a request to a closed port with new passphrases, less the same request again): "
        f"{pair * 1000:.1f} ms of CPU.")
    rows = ["| round | responses ok | wall s | client CPU s | key derivations | localisations | discoveries | "
            "key derivation share of CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rounds"]:
        share = r["key_derivations"] / 2 * pair / max(r["cpu"], 1e-9)
        rows.append(f"| {r['round']} | {r['ok']:,} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['key_derivations']} | "
                    f"{r['localizations']} | {r['discoveries']} | {share:.1%} |")
    section.tables.append("\n".join(rows))
    return section


OTHER_SCRIPTS = ("pipeline",)  # sections that bench/pipeline.py writes ("pipeline", "pipeline (--pin)")
# --- simfleet: the client's own costs, on the simulated agent fleet (issue 15) ---------------------

SIM_ROOT = "1.3.6.1.2.1"  # the simulated view: sysName and the 10-column interfaces table


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a running process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def clients_on(cpus: set[int] | None) -> Iterator[None]:
    """Runs the clients started inside on `cpus` (they inherit this process's affinity)."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pingpong_client(host: str, count: int, reps: int) -> Client:
    """The floor: simagent --pingpong, a blocking send/recv loop of one pre-encoded GETBULK."""
    from agents import SIMAGENT

    def measure() -> Run:
        code, out, err, *_rest = run_process([str(SIMAGENT), "--pingpong", host, "--count", str(count),
                                              "--max-repetitions", str(reps)], 120)
        fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        if code != 0 or "cpu_s" not in fields:
            raise RuntimeError(short_error(err or out, code))
        return Run(float(fields["wall_s"]), float(fields["cpu_s"]), 0, -1, {"round_trips": count})

    return Client("floor: blocking send/recv, no SNMP work", measure)


FLEET_FLOOR = "floor: the same round trips, no SNMP work"


def fleet_floor_client(first_port: int, agents: int, round_trips: int, reps: int) -> Client:
    """The fleet's floor: simagent --pingpong --agents, one pre-encoded GETBULK in flight per
    agent, sent with sendto on sockets shared by 8 agents and read with recvmmsg, as snmp-stream
    does, and not decoded: what the kernel and a minimal loop cost for that many round trips."""
    from agents import SIMAGENT

    def measure() -> Run:
        code, out, err, *_rest = run_process([str(SIMAGENT), "--pingpong", f"127.0.0.1:{first_port}", "--agents",
                                              str(agents), "--count", str(round_trips), "--max-repetitions",
                                              str(reps)], 120)
        fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        if code != 0 or "cpu_s" not in fields:
            raise RuntimeError(short_error(err or out, code))
        return Run(float(fields["wall_s"]), float(fields["cpu_s"]), 0, -1, {"round_trips": round_trips})

    return Client(FLEET_FLOOR, measure)


def fleet_rust_client(first_port: int, agents: int, reps: int) -> Client:
    def measure() -> Run:
        command = [str(RUST_WALK), f"127.0.0.1:{first_port}", SIM_ROOT, "-Cr", str(reps), "--fleet", str(agents),
                   "--parallel", str(agents)]
        code, out, err, _w, _c, rss = run_process(command, 600)
        fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        if code != 0 or "varbinds" not in fields:
            raise RuntimeError(short_error(err or out, code))
        return Run(float(fields["wall_s"]), float(fields["cpu_s"]), rss, int(fields["varbinds"]))

    return Client(SS_RUST, measure)


def callgrind_instructions(command: list[str]) -> int:
    """User-space instructions executed by `command` under callgrind (repeatable, unlike time)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],
                                capture_output=True, text=True, timeout=900)
        match = re.search(r"Collected : (\d+)", result.stderr)
        if result.returncode != 0 or not match:
            raise RuntimeError(short_error(result.stderr, result.returncode))
        return int(match.group(1))


def per_pdu_table(outcomes: list[Outcome], pdus: int, expected: int, observe_name: str) -> str:
    rows = ["| client | wall s | client CPU s | µs per GETBULK round trip | s per 100k varbinds | vs gufo-snmp CPU | "
            f"{observe_name} CPU s |", "|---|---:|---:|---:|---:|---:|---:|"]
    gufo = next((o for o in outcomes if o.client == "gufo-snmp" and o.runs), None)
    for o in outcomes:
        if not o.runs:
            rows.append(f"| {o.client} | n/a ({o.error}) | | | | | |")
            continue
        cpu = o.median("cpu")
        trips = o.runs[0].extra.get("round_trips", pdus)
        per_100k = f"{cpu * 1e5 / expected:.4f}" if "round_trips" not in o.runs[0].extra else ""
        versus = f"{cpu / gufo.median('cpu'):.2f}x" if gufo and "round_trips" not in o.runs[0].extra else ""
        agent = statistics.median(r.extra.get("agent_cpu", 0.0) for r in o.runs)
        rows.append(f"| {o.client} | {o.median('wall'):.3f} | {cpu:.3f} | {cpu * 1e6 / trips:.1f} | {per_100k} | "
                    f"{versus} | {agent:.3f} |")
    return "\n".join(rows)


def fleet_floor_note(outcomes: list[Outcome], varbinds: int) -> str:
    """How much of each snmp-stream client's CPU the fleet floor is, and what is left per varbind."""
    by = {o.client: o for o in outcomes if o.runs and not o.mismatch}
    floor = by.get(FLEET_FLOOR)
    if floor is None:
        return ""
    lines = []
    for name in OURS:
        if name in by:
            cpu = by[name].median("cpu")
            rest = cpu - floor.median("cpu")
            lines.append(f"{name}: the floor is {floor.median('cpu') / cpu:.0%} of its CPU; the rest, "
                         f"{rest:.3f} s, is {rest * 1e9 / varbinds:.0f} ns per varbind")
    return "\n\n" + "; ".join(lines) + "." if lines else ""


def scenario_simfleet(args: argparse.Namespace, status: dict) -> Section:
    from agents import SIMAGENT, simulated_fleet

    if not SIMAGENT.exists():
        return Section("simfleet: skipped", [f"`{SIMAGENT}` is missing (built by `setup`)."], [])
    runs = min(args.runs, 3)
    rows = 2000 if args.quick else 10_000
    expected = rows * 10 + 1
    reps = 25
    pdus = -(-expected // reps)
    section = Section("simfleet: the client's own costs on a simulated fleet (issue 15)", [], [])
    section.intro.append(
        f"Agents: `bench/simagent` (`cargo run --release --example simagent`), which answers GET, GETNEXT and "
        f"GETBULK from pre-encoded varbinds, checked against snmpd's answers for the same view by "
        f"`tests/simagent.rs`. Its view: a synthetic {rows:,}-row interfaces table (10 mixed-type columns: text, "
        f"integers, a MAC, Gauge32, Counter32, Counter64) plus sysName, {expected:,} varbinds under `{SIM_ROOT}`. "
        f"v2c, max-repetitions {reps} ({pdus:,} GETBULKs per walk). Client CPU is user + system of the client "
        f"alone; the agent's CPU is shown beside it. Medians of {runs}.")
    # 1. Per PDU: one walk, the agent on the other CPU (unpinned) and on the client's CPU.
    for label, cpus in (("unpinned (2 CPUs: the kernel wakes the agent and the client across CPUs)", None),
                        ("agent and client on CPU 0 (no cross-CPU wake-ups)", {0})):
        with simulated_fleet(1, rows, cpus) as (port, pid), clients_on(cpus):
            host = f"127.0.0.1:{port}"
            spec = {"hosts": [host], "oids": [SIM_ROOT], "reps": reps, "budget": reps, "timeout": 5.0, "retries": 1}
            clients = [rust_client(host, [SIM_ROOT], reps, status.get(SS_RUST)),
                       driver_client(SS_PY, "walk", spec, 600)]
            gufo = driver_client("gufo-snmp", "walk", spec, 600)
            gufo.unavailable = status.get("gufo-snmp")
            clients += [gufo, bulkwalk_client(host, [SIM_ROOT], reps, 5.0, 1), pingpong_client(host, pdus, reps)]
            log(f"simfleet per PDU, {label}")
            outcomes = measure_all(clients, runs, expected, f"simfleet 1 agent, {label}",
                                   observe=lambda pid=pid: proc_cpu(pid))
            for o in outcomes:  # the floor returns no varbinds: not a mismatch
                if o.client.startswith("floor"):
                    o.mismatch = None
            section.tables.append(f"#### One walk, {label}\n\n{per_pdu_table(outcomes, pdus, expected, 'agent')}")
    # 2. Callgrind: user-space instructions per PDU and per varbind (examples/walk.rs).
    try:
        with simulated_fleet(1, 2000) as (port, _pid):
            host, small = f"127.0.0.1:{port}", 2000 * 10 + 1
            counts = {r: callgrind_instructions([str(RUST_WALK), host, SIM_ROOT, "-Cr", str(r)]) for r in (25, 100)}
            idle = callgrind_instructions([str(RUST_WALK), host, "1.3.6.1.2.1.1.5", "-Cr", "25"])
        # instructions = idle + a * PDUs + b * varbinds, from two budgets over the same table
        p25, p100 = -(-small // 25), -(-small // 100)
        a = ((counts[25] - idle) - (counts[100] - idle)) / (p25 - p100)
        b = ((counts[25] - idle) - a * p25) / small
        section.tables.append(
            f"#### Callgrind (user-space instructions, repeatable): examples/walk.rs over {small:,} varbinds\n\n"
            f"| walk | instructions | per varbind |\n|---|---:|---:|\n"
            f"| start and a 1-varbind walk (fixed cost) | {idle:,} | |\n"
            f"| max-repetitions 25 ({p25} PDUs) | {counts[25]:,} | {(counts[25] - idle) / small:.0f} |\n"
            f"| max-repetitions 100 ({p100} PDUs) | {counts[100]:,} | {(counts[100] - idle) / small:.0f} |\n\n"
            f"Solved for instructions = fixed + a x PDUs + b x varbinds: **a = {a:,.0f} per PDU, b = {b:,.0f} per "
            f"varbind** (user space only: the kernel's share, system calls and wake-ups, is not counted).")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        section.tables.append(f"Callgrind: n/a ({error})")
    # 3. The fleet: the client's ceiling, agents on the other CPU.
    agents, fleet_rows = (100, 200) if args.quick else (1000, 200)
    fleet_expected = agents * (fleet_rows * 10 + 1)
    with simulated_fleet(agents, fleet_rows) as (port, pid):
        hosts = [f"127.0.0.1:{port + i}" for i in range(agents)]
        for fleet_reps in (25, 50, 100):
            spec = {"hosts": hosts, "oids": [SIM_ROOT], "reps": fleet_reps, "budget": fleet_reps, "timeout": 5.0,
                    "retries": 1, "concurrency": agents}
            fleet_pdus = agents * -(-(fleet_rows * 10 + 1) // fleet_reps)
            clients = [fleet_rust_client(port, agents, fleet_reps), driver_client(SS_PY, "fleet", spec, 900)]
            for name, concurrency in (("gufo-snmp", 100), (GUFO_ASYNC, agents)):
                client = driver_client(name, "fleet", {**spec, "concurrency": concurrency}, 900)
                client.unavailable = status.get("gufo-snmp")
                clients.append(client)
            clients.append(fleet_floor_client(port, agents, fleet_pdus, fleet_reps))
            log(f"simfleet fleet of {agents}, r{fleet_reps}")
            outcomes = measure_all(clients, runs, fleet_expected, f"simfleet {agents} agents r{fleet_reps}",
                                   observe=lambda pid=pid: proc_cpu(pid))
            for o in outcomes:  # the floor returns no varbinds: not a mismatch
                if o.client == FLEET_FLOOR:
                    o.mismatch = None
            table = ["| client | varbinds/s | wall s | client CPU s | varbinds per client CPU-second | "
                     "s per 100k varbinds | µs per PDU | agents' CPU s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for o in outcomes:
                if not o.runs:
                    table.append(f"| {o.client} | n/a ({o.error}) | | | | | | |")
                    continue
                wall, cpu = o.median("wall"), o.median("cpu")
                agent = statistics.median(r.extra.get("agent_cpu", 0.0) for r in o.runs)
                table.append(f"| {o.client} | {fleet_expected / wall:,.0f} | {wall:.3f} | {cpu:.3f} | "
                             f"{fleet_expected / cpu / 1e6:.2f}M | {cpu * 1e5 / fleet_expected:.4f} | "
                             f"{cpu * 1e6 / fleet_pdus:.1f} | {agent:.3f} |")
            section.tables.append(
                f"#### {agents:,} agents x {fleet_rows * 10 + 1:,} varbinds ({fleet_expected:,} varbinds), "
                f"max-repetitions {fleet_reps}\n\nsnmp-stream: every walk in flight at once (Rust: `examples/walk.rs "
                f"--fleet {agents} --parallel {agents}`; Python: `stream()`, max_sessions {agents}); gufo-snmp: a "
                f"thread pool of 100, and its asyncio client with {agents} coroutines. The floor row moves the "
                f"same {fleet_pdus:,} GETBULK round trips with no SNMP work (`simagent --pingpong --agents`: "
                f"sendto on sockets shared by 8 agents, recvmmsg, nothing decoded); its varbind columns are those "
                f"of a client that cost nothing beyond it.\n\n" + "\n".join(table)
                + fleet_floor_note(outcomes, fleet_expected)
                + "\n\nRatios snmp-stream / peer:\n\n" + ratio_table([o for o in outcomes if o.client != FLEET_FLOOR]))
    section.notes.append(
        "Targets (issue 15): per PDU <= 10 µs of client CPU (<= 0.04 s per 100k varbinds at max-repetitions 25) "
        "and <= 0.25x gufo-snmp's CPU; on the fleet >= 4M varbinds per client CPU-second (<= 0.025 s per 100k). "
        "The floor row is what one blocking round trip costs any client on this machine with no SNMP work at all: "
        "across CPUs it is mostly the kernel waking the sleeping peer through the hypervisor.")
    return section


SCENARIOS = {"walk100k": scenario_walk100k, "table10x10k": scenario_table, "fleet": scenario_fleet,
             "inflight10k": scenario_inflight, "decode1m": scenario_decode1m, "v3walk": scenario_v3walk,
             "v3fleet": scenario_v3fleet, "simfleet": scenario_simfleet}


def _old_sections() -> dict[str, list[str]]:
    """The sections of the current RESULTS.md by scenario name (a heading "## NAME: ..."), each
    with a "_Measured ..." line (added from the old file's header if it has none)."""
    if not RESULTS.exists():
        return {}
    text = RESULTS.read_text().splitlines()
    header = {key: re.search(pattern, "\n".join(text), re.M) for key, pattern in
              (("command", r"^- (?:last )?command: (`[^`]*`)"), ("date", r"^- date: ([^;]*)"),
               ("commit", r"^- snmp-stream: commit (\w+)"), ("cpu", r'^- machine: .*CPU "([^"]*)"'))}
    fallback = "_Measured {date} on {cpu} at commit {commit}: {command}._".format(
        **{key: m.group(1) if (m := header[key]) else "?" for key in header})
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text:
        if line.startswith("## "):
            current = sections.setdefault(line[3:].split(":")[0].strip(), [])
        if current is not None:
            current.append(line)
    for lines in sections.values():
        if not any(line.startswith("_Measured ") for line in lines):
            lines[1:1] = ["", fallback]
        while lines and not lines[-1]:
            lines.pop()
    return sections


def write_results(sections: list[tuple[str, Section]], argv: list[str], status: dict, started: float,
                  partial: bool) -> None:
    """Writes RESULTS.md. A partial run (--scenario) replaces its own sections and keeps the
    others from the file as it was; every section says when, where and how it was measured."""
    info, found = machine(), versions()
    command = shlex.join(["python3", "bench/run.py", *argv])
    # Sections written by other scripts (bench/pipeline.py) are kept even by a full run.
    kept = {name: lines for name, lines in _old_sections().items() if partial or name.startswith(OTHER_SCRIPTS)}
    lines = [
        "# Benchmark results",
        "",
        "Generated by `bench/run.py` (do not edit by hand; rerun it), the pipeline sections by "
        "`bench/pipeline.py`. Hand-run, not part of CI. "
        "A run of some scenarios (`--scenario`) replaces their sections and keeps the others; each "
        "section starts with the date, CPU, commit and command that measured it.",
        "",
        f"- last command: `{command}`",
        f"- date: {info['date']}; that run took {(time.perf_counter() - started) / 60:.1f} min",
        f"- machine: `nproc` = {info['nproc']}, CPU \"{info['cpu']}\", kernel {info['kernel']}",
        f"- snmp-stream: commit {info['commit']}, Python package {found.get('snmp-stream')}",
        f"- net-snmp {found.get('net-snmp')} (agents and snmpbulkwalk); peers in bench/.venv (Python "
        f"{found.get('python (venv)')}): " + ", ".join(f"{n} {found.get(n)}" for n in
                                                       ("gufo-snmp", "fastsnmp", "ezsnmp", "pysnmp", "numpy",
                                                        "pandas")),
        "",
        "How it measures: every client runs in its own process, one measurement after the other "
        "(interleaved: run 1 of every client, then run 2, ...), and each figure is the median of the runs. "
        "Wall and client CPU (user + system, all threads) of the Python clients and of examples/walk.rs are "
        "measured inside the process around the collection itself (no interpreter start or imports); "
        "snmpbulkwalk's are those of its whole process (from wait4), since a process per walk is how it is "
        "used. Peak RSS is the client process's ru_maxrss (interpreter and imports included). Every client's "
        "varbind count is checked against snmpbulkwalk's; a mismatch is marked **MISMATCH**. A run that "
        "fails or returns the wrong count is retried (up to --retries times; the agents sometimes stall, see "
        "below) and the retries are reported. The Python "
        "peers build a Python object per varbind; snmp-stream returns one buffer per request (decoding it "
        "into columns is the parser's job, scenario 5 below).",
        "",
    ]
    for note in STALE:
        lines += [f"**Note: {note}.**", ""]
    unavailable = {k: v for k, v in status.items() if v}
    if unavailable:
        lines += ["Unavailable clients: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()), ""]
    fresh = dict(sections)
    order = list(SCENARIOS)
    order += [n for n in [*kept, *fresh] if n not in order]
    for name in dict.fromkeys(order):
        if name in fresh:
            section = fresh[name]
            lines += [f"## {section.title}", "",
                      f"_Measured {info['date']} on {info['cpu']} at commit {info['commit']}: `{command}`._", ""]
            for paragraph in section.intro:
                lines += [paragraph, ""]
            for table in section.tables:
                lines += [table, ""]
            for note in section.notes:
                lines += [note, ""]
            if RETRIED.get(name):
                lines += ["Agent stalls and retried runs: " + "; ".join(RETRIED[name]) + ".", ""]
        elif name in kept:
            lines += [*kept[name], ""]
    RESULTS.write_text("\n".join(lines))
    log(f"wrote {RESULTS}")


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "--driver":
        return driver_main(sys.argv[2])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="repeatable; default all")
    parser.add_argument("--runs", type=int, help="runs per client (median); default 5, 2 with --quick")
    parser.add_argument("--rows", type=int, help="rows of the walk100k column (default 100000, 5000 with --quick)")
    parser.add_argument("--quick", action="store_true", help="small sizes: 5k rows, 1k interfaces, 100 targets, "
                                                             "1k in flight, 2 runs")
    parser.add_argument("--fleet-agents", type=int, default=10, help="delayed agents behind the fleet (default 10)")
    parser.add_argument("--fleet-delay-ms", type=int, default=5, help="their answer delay (default 5 ms)")
    parser.add_argument("--fleet-dead", choices=["both", "closed", "silent"], default="both",
                        help="dead fleet targets: closed ports, silent ones, or both (default; a table each)")
    parser.add_argument("--retries", type=int, default=2,
                        help="retries of a run that fails or returns the wrong count (default 2)")
    parser.add_argument("--pin", choices=list(PIN_MODES), default="none",
                        help="CPU placement: none (the scheduler's, default), same (agents and clients on CPU 0), "
                             "split (agents on CPU 0, clients on CPU 1)")
    parser.add_argument("--skip-build", action="store_true", help="use what bench/.venv and target/ hold")
    parser.add_argument("--skip-client", action="append", default=[], metavar="NAME",
                        help="leave a client out, e.g. pysnmp (repeatable); names as in the tables")
    args = parser.parse_args()
    SKIP.update(args.skip_client)
    global RETRIES, AGENT_CPU, CLIENT_CPU
    RETRIES = args.retries
    AGENT_CPU, CLIENT_CPU = PIN_MODES[args.pin]
    args.runs = args.runs or (2 if args.quick else 5)
    if os.geteuid() != 0:
        parser.error("run as root (network namespaces)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the agents' context managers clean up
    started = time.perf_counter()
    status = setup(args.skip_build)
    for name, reason in status.items():
        log(f"{name}: {'ok' if not reason else 'n/a (' + reason + ')'}")
    sections = []
    for name in args.scenario or list(SCENARIOS):
        SCENARIO[0] = name
        try:
            section = SCENARIOS[name](args, status)
            if args.pin != "none":  # a section of its own, beside the unpinned one
                key = f"{name} (--pin {args.pin})"
                section.title = key + section.title[len(name):]
                section.intro.insert(0, PIN_NOTES[args.pin])
                SCENARIO[0] = key
                RETRIED[key] = RETRIED.pop(name, [])
                name = key
            sections.append((name, section))
        except KeyboardInterrupt:
            raise
        except Exception as error:
            log(f"{name} failed: {type(error).__name__}: {error}")
            traceback.print_exc()
            sections.append((name, Section(name, [f"**Failed:** {type(error).__name__}: {str(error)[:300]}"], [])))
    write_results(sections, sys.argv[1:], status, started, partial=bool(args.scenario))
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
