"""What the benchmark drivers measure about their own process, and the machine they ran on
(shared by run.py, pipeline.py and decode.py)."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import resource
import subprocess
import threading
import time
from pathlib import Path


def cpu_seconds() -> float:
    """This process's user + system CPU time so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_kb() -> int:
    """This process's resident memory now (VmRSS), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def other_threads_ticks() -> int:
    """CPU ticks (user + system) of this process's threads other than the calling one."""
    me, total = threading.get_native_id(), 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) != me:
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total


def settle(limit: float = 3.0) -> None:
    """Waits (untimed) until no other thread of this process uses CPU. numpy's OpenBLAS starts a
    thread pool on import whose threads spin for a while before they sleep: timed right after
    the imports, a short measurement would be charged for that spinning (seen: a 60k-varbind
    walk's CPU 1.58 instead of 0.62 µs/varbind, a 30 ms decode's CPU 1.8x its wall time)."""
    deadline, last = time.monotonic() + limit, other_threads_ticks()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = other_threads_ticks()
        if now == last:
            return
        last = now


def machine(root: Path) -> dict[str, str]:
    """When and on what a measurement ran: date, cores, CPU model, kernel, and the commit of
    `root` (noting uncommitted changes to the code that is measured)."""
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "python", "netsnmp-sys", "examples"],
                           cwd=root, capture_output=True, text=True)
    return {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": str(os.cpu_count()), "cpu": model, "kernel": platform.release(),
            "commit": commit.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")}
