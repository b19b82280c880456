"""What the benchmark drivers measure about their own process (shared by run.py and decode.py)."""

from __future__ import annotations

import os
import resource
import threading
import time


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
