"""The scheduler (`snmp-stream schedule`): publishes a targets file's requests to the bus
every interval.

Each interval is a slot (its start time, aligned to the epoch: with `--every 5m`, slots start
at :00, :05, ...). In each slot every target's requests are published once, at a fixed offset
of the slot (a hash of the host, spread over `jitter` times the interval, so that a fleet is not
polled all at the same second). The request ids are `host/table/SLOT`, so a scheduler that
is restarted mid-interval, or runs twice, publishes the same ids again: JetStream drops them
(the requests stream's duplicate window is set to the interval) and the collecting workers
would not collect them twice anyway. Before each round it reports the lag: requests of
earlier rounds still queued or being collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from snmp_stream.bus import jetstream
from snmp_stream.bus.collector import install_stop
from snmp_stream.bus.jetstream import BusConfig
from snmp_stream.targets import Target, bus_messages

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from snmp_stream.bus.metrics import Metrics

__all__ = ["run_scheduler", "slot_label"]

log = logging.getLogger("snmp_stream.bus")


def slot_label(start: float) -> str:
    """A slot's start time as it appears in request ids: `2026-12-01T10:05:00Z`."""
    return dt.datetime.fromtimestamp(start, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _offset(host: str, every: float, jitter: float) -> float:
    """The target's fixed place in each slot: 0 .. jitter * every seconds."""
    fraction = int.from_bytes(hashlib.sha256(host.encode()).digest()[:8], "big") / 2**64
    return fraction * jitter * every


async def _lag(js: JetStreamContext, bus: BusConfig) -> int:
    """Requests in the work-queue stream: published and not yet acked by a collector (queued,
    or being collected)."""
    info = await js.stream_info(bus.requests_stream)
    return int(info.state.messages or 0)


async def run_scheduler(
    bus: BusConfig,
    targets: Sequence[Target],
    every: float,
    once: bool = False,
    jitter: float = 0.5,
    max_repetitions: int | None = None,
    stop: asyncio.Event | None = None,
    metrics: Metrics | None = None,
) -> int:
    """Publishes the targets' requests every `every` seconds (one round with `once`, at once)
    until `stop` is set (or SIGTERM/SIGINT). Returns the number of requests published (those
    JetStream dropped as duplicates not counted)."""
    stop = stop or asyncio.Event()
    install_stop(stop)
    bus.requests_dedup_window = max(every, 120.0)
    connection = await jetstream.connect(bus, "snmp-stream-scheduler")
    js = connection.jetstream()
    published = 0
    try:
        await jetstream.ensure_streams(js, bus)
        log.info("scheduling %d target(s) every %g s%s", len(targets), every, " (once)" if once else "")
        while not stop.is_set():
            start = time.time() // every * every
            slot = slot_label(start)
            lag = await _lag(js, bus)
            if metrics:
                metrics.lag.set(lag)
            if lag:
                log.warning("lag: %d request(s) of earlier rounds still queued or being collected", lag)
            plan = sorted(
                ((0.0 if once else _offset(t.host, every, jitter), t) for t in targets), key=lambda p: p[0]
            )
            fresh = duplicates = 0
            for offset, target in plan:
                delay = start + offset - time.time()
                if delay > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    if stop.is_set():
                        break
                for suffix, message in bus_messages(target, slot, max_repetitions):
                    domain = f"{target.domain}." if target.domain else ""
                    req_id = f"{target.host}/{suffix}/{slot}"
                    subject = f"{bus.requests_prefix}.{domain}{suffix}"
                    ack = await js.publish(subject, message, headers={"Nats-Msg-Id": req_id})
                    if ack.duplicate:
                        duplicates += 1
                    else:
                        fresh += 1
            published += fresh
            if stop.is_set() and not fresh + duplicates:
                break
            if metrics:
                metrics.published.inc(fresh)
            log.info("round %s: %d request(s) published, %d already published", slot, fresh, duplicates)
            if once:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, start + every - time.time()))
        return published
    finally:
        await connection.close()
