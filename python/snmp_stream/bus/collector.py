"""The collecting worker (`snmp-stream worker`): request messages in, result messages out.

It pulls requests from the work-queue stream through the shared durable consumer, keeps up
to `concurrency` of them in flight in the native engine, and for each one publishes the
result, records the request as collected, then acks it. It holds `prefetch` more, waiting in
the engine's queue: when a collection ends, the engine starts the next one at once, without
waiting for the event loop, which may be busy publishing a burst of results (walks started
together end together). A request is collected once: while it
is collected its ack wait is kept alive (in-progress acks), so JetStream hands it to nobody
else; a request whose identity was collected already (republished, or redelivered after a
worker died between publishing and acking) is acked without a second collection. Failures
are retried after the backoff delay, then dead-lettered; SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from snmp_stream import aio
from snmp_stream.bus import jetstream
from snmp_stream.bus.jetstream import BusConfig, Store
from snmp_stream.bus.schema import BusRequest, MalformedRequestError, parse_request, result_headers
from snmp_stream.parse import Table

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from snmp_stream._api import SnmpResponse, Usm
    from snmp_stream.bus.metrics import Metrics

__all__ = ["run_worker"]

log = logging.getLogger("snmp_stream.bus")
HEADROOM = 8192  # bytes of a message left for headers and protocol overhead


async def publish_result(
    js: JetStreamContext,
    store: Store,
    bus: BusConfig,
    bus_request: BusRequest,
    response: SnmpResponse,
    limit: int,
) -> bool:
    """Publishes the result message; a buffer over `limit` bytes goes to the object store and
    the message carries its name. Returns True when JetStream had it already (a duplicate)."""
    data = response.results.tobytes()
    headers = result_headers(bus_request, response, len(data))
    if len(data) > limit:
        headers["snmp-object"] = await store.put_large(bus_request.identity, data)
        data = b""
    ack = await js.publish(f"{bus.results_prefix}.{bus_request.subject_suffix}", data, headers=headers)
    return bool(ack.duplicate)


async def run_worker(
    bus: BusConfig,
    concurrency: int = 256,
    prefetch: int | None = None,
    stop: asyncio.Event | None = None,
    tables: Mapping[str, Table] | None = None,
    metrics: Metrics | None = None,
    credentials: Mapping[str, Usm] | None = None,
) -> int:
    """Runs the collecting worker until `stop` is set (or SIGTERM/SIGINT); returns the number of
    messages handled. `concurrency`: requests collected at once; `prefetch`: requests held
    beyond those, queued in the engine (default: as many as `concurrency`); `tables`: the
    table names requests may use (default: the recipes); `credentials`: the SNMPv3
    credentials requests may name (default: none)."""
    from snmp_stream import recipes

    if concurrency < 1 or (prefetch is not None and prefetch < 0):
        raise ValueError(f"concurrency must be at least 1 and prefetch at least 0: {concurrency}, {prefetch}")
    prefetch = concurrency if prefetch is None else prefetch
    known = dict(tables if tables is not None else recipes.BY_NAME)
    stop = stop or asyncio.Event()
    install_stop(stop)
    connection = await jetstream.connect(bus, "snmp-stream-worker")
    js = connection.jetstream()
    store = Store(js, bus)
    limit = max(connection.max_payload - HEADROOM, 1024)
    puller = jetstream.Puller(js, bus, bus.requests_stream, bus.requests_filter, bus.consumer)
    keep_alive = jetstream.KeepAlive(bus.ack_wait)
    engine = aio.Engine({"max_sessions": concurrency})
    collecting: dict[str, asyncio.Future[bool]] = {}  # identity -> collected (True) or not

    async def recreate_streams() -> None:
        await jetstream.ensure_streams(js, bus)

    try:
        await puller.bind()

        async def handle(msg: Msg) -> None:
            try:
                bus_request = parse_request(msg.data, known, credentials)
            except MalformedRequestError as error:
                await jetstream.dead_letter(js, bus, msg, str(error), "malformed")
                if metrics:
                    metrics.failed("malformed")
                return
            if metrics and msg.metadata.num_delivered > 1:
                metrics.redelivered()
            identity = bus_request.identity
            earlier = collecting.get(identity)
            if earlier is not None:
                # Redelivered (its in-progress acks were lost in a failover) or republished
                # while this worker still collects it: the collection under way decides.
                async with keep_alive.working([msg]):
                    collected = await asyncio.shield(earlier)
                if collected:
                    await msg.ack()
                else:
                    await msg.nak(delay=bus.retry_delay(msg.metadata.num_delivered))
                return
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            collecting[identity] = done
            try:
                async with keep_alive.working([msg]):
                    # A request published with a Nats-Msg-Id was checked for duplicates by
                    # JetStream already (within the stream's duplicate window); others, and
                    # every redelivery, are looked up.
                    look_up = msg.metadata.num_delivered > 1 or "Nats-Msg-Id" not in (msg.headers or {})
                    if look_up and await jetstream.persist(
                        lambda: store.collected(identity), bus.patience, "look-up"
                    ):
                        log.info(
                            "request %s was collected before: acked, not collected again",
                            bus_request.identity,
                        )
                        done.set_result(True)
                        await msg.ack()
                        return
                    if metrics:
                        metrics.started()
                    try:
                        response = await engine.collect(bus_request.request)
                    finally:
                        if metrics:
                            metrics.finished()
                    if metrics:
                        metrics.collected(response)
                    # The result is kept through a server restart or failover: published again
                    # until it is stored (for up to `bus.patience`), so the request is not
                    # collected a second time; a redelivery meanwhile waits for this one.
                    await jetstream.persist(
                        lambda: publish_result(js, store, bus, bus_request, response, limit),
                        bus.patience,
                        "publish",
                        on_missing=recreate_streams,
                    )
                    await jetstream.persist(lambda: store.mark_collected(identity), bus.patience, "mark")
                done.set_result(True)
                await msg.ack()
            except Exception as error:  # retried with backoff, then dead-lettered
                if metrics:
                    metrics.failed("bus")
                await jetstream.retry_or_dead(js, bus, msg, error)
            finally:
                if not done.done():
                    done.set_result(False)
                del collecting[identity]

        return await serve(
            puller, concurrency + prefetch, handle, stop, f"{bus.requests_filter} ({bus.consumer})", metrics
        )
    finally:
        await keep_alive.close()
        with contextlib.suppress(Exception):
            await connection.flush(timeout=5)
        await connection.close()


async def serve(
    puller: jetstream.Puller,
    capacity: int,
    handle: Callable[[Msg], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    what: str,
    metrics: Metrics | None = None,
) -> int:
    """Pulls messages (at most `capacity` in flight) and runs `handle` on each until `stop` is
    set, then waits for the handlers in flight. Returns how many messages were handled."""
    in_flight: set[asyncio.Task[None]] = set()
    handled = 0
    log.info("consuming %s, up to %d in flight", what, capacity)
    while not stop.is_set():
        room = capacity - len(in_flight)
        if room <= 0:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            continue
        messages = await puller.fetch(min(room, 256), timeout=0.5)
        if metrics:
            metrics.pending.labels(puller.stream).set(puller.pending)
        for msg in messages:
            task = asyncio.create_task(handle(msg))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            handled += 1
    if in_flight:
        log.info("draining %d message(s) in flight", len(in_flight))
        await asyncio.gather(*in_flight, return_exceptions=True)
    return handled


def install_stop(stop: asyncio.Event) -> None:
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
