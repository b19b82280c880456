"""The parse worker (`snmp-stream parse-worker`): result messages in, rows in PostgreSQL.

It pulls results through the shared durable consumer in micro-batches (up to `batch`
messages, or whatever arrived within 50 ms), loads each batch in one transaction (claims in
one statement, rows by binary COPY built natively) and then acks the batch. Results of a
table (recipe or declared) go to `snmp_<table>`, plain walks and gets to `snmp_varbinds`;
failed results without data are acked. A result that cannot be parsed is dead-lettered; a
batch that fails to load is tried again message by message, so one bad result never holds
up the others.

When results wait (a fetch fills a whole batch), two batches are loaded at once, each on a
connection of its own: while PostgreSQL writes one, the next is fetched and read (measured
with `bench/pipeline.py --agent sim`, where the loading side sets the pace: one batch after
the other, the parse worker and PostgreSQL took turns). When the loads keep up (a batch is
not full), a batch waits for the load in flight and for its turn among the parse workers of
its consumer (`LoadTurns`), and takes in what arrived meanwhile: one load at a time, however
many parse workers there are, in fewer and larger transactions, so that loading takes one
core and not two from a machine it shares with collectors and agents (`bench/pipeline.py`,
where snmpd shares the 2 CPUs. One parse worker waiting for its own loads: snmpd's wait for a
CPU 0.47 -> 0.43 s, walls shorter in 5 of 5 rounds. Two taking turns: 50-64 transactions per
1,000 results instead of 70-94, the wall beyond snmpd's CPU 0.48 s instead of 0.53 s, lower
in 4 of 5 rounds.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from snmp_stream.bus import jetstream
from snmp_stream.bus.collector import install_stop
from snmp_stream.bus.jetstream import BusConfig, Store, result_payload
from snmp_stream.bus.loader import LoadItem, LoadTurns, PostgresLoader
from snmp_stream.bus.schema import RESULT_SCHEMA
from snmp_stream.errors import BufferFormatError
from snmp_stream.parse import Table

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from snmp_stream.bus.metrics import Metrics

__all__ = ["run_parse_worker"]

log = logging.getLogger("snmp_stream.bus")

BATCHES_IN_FLIGHT = 2


def _item(msg: Msg, data: bytes, tables: Mapping[str, Table]) -> LoadItem | None:
    """What to load for a result message (None: nothing to load, ack it)."""
    headers = msg.headers or {}
    if headers.get("snmp-schema") != RESULT_SCHEMA or not data:
        return None
    table = headers.get("snmp-table")
    if table is not None and table not in tables:
        raise KeyError(f"result for unknown table {table!r} (known: {', '.join(sorted(tables))})")
    result_id = headers.get("snmp-id") or headers.get("Nats-Msg-Id") or headers.get("snmp-req-id") or ""
    return LoadItem(result_id, headers.get("snmp-host", ""), table, data)


async def run_parse_worker(
    bus: BusConfig,
    dsn: str,
    batch: int = 64,
    stop: asyncio.Event | None = None,
    tables: Mapping[str, Table] | None = None,
    metrics: Metrics | None = None,
) -> int:
    """Runs the parse worker until `stop` is set (or SIGTERM/SIGINT); returns the number of
    messages handled."""
    from snmp_stream import recipes

    known = dict(tables if tables is not None else recipes.BY_NAME)
    stop = stop or asyncio.Event()
    install_stop(stop)
    loaders = [PostgresLoader(dsn, known) for _ in range(BATCHES_IN_FLIGHT)]
    free: asyncio.Queue[PostgresLoader] = asyncio.Queue()
    for loader in loaders:
        free.put_nowait(loader)
    thread = ThreadPoolExecutor(max_workers=BATCHES_IN_FLIGHT, thread_name_prefix="snmp-stream-loader")
    loop = asyncio.get_running_loop()
    connection = await jetstream.connect(bus, "snmp-stream-parse-worker")
    js = connection.jetstream()
    store = Store(js, bus)
    handled = 0

    async def load(pairs: list[tuple[Msg, LoadItem]]) -> None:
        started = time.perf_counter()
        loader = await free.get()
        try:
            results, rows = await loop.run_in_executor(thread, loader.load, [item for _, item in pairs])
        finally:
            free.put_nowait(loader)
        if metrics:
            metrics.loaded(results, rows, time.perf_counter() - started)

    async def handle_batch(js: JetStreamContext, messages: list[Msg], turn: bool) -> None:
        """Loads and acks a batch; `turn`: it holds the load turn, given back when it is done."""
        try:
            await load_batch(js, messages)
        finally:
            if turn:
                await loop.run_in_executor(turn_thread, turns.release)

    async def load_batch(js: JetStreamContext, messages: list[Msg]) -> None:
        pairs: list[tuple[Msg, LoadItem]] = []
        async with keep_alive.working(messages):
            for msg in messages:
                try:
                    item = _item(msg, await result_payload(store, msg), known)
                except KeyError as error:
                    await jetstream.dead_letter(js, bus, msg, str(error), "unparsable")
                    continue
                except Exception as error:  # e.g. the object could not be read
                    await jetstream.retry_or_dead(js, bus, msg, error)
                    continue
                if item is None:
                    await msg.ack()
                else:
                    pairs.append((msg, item))
            try:
                await load(pairs)
            except Exception as error:
                if len(pairs) > 1:
                    log.warning("batch of %d failed (%s: %s); loading one by one", len(pairs),
                                type(error).__name__, error)  # fmt: skip
                    for pair in pairs:
                        await handle_one(js, pair)
                    return
                if pairs:
                    await fail(js, pairs[0][0], error)
                return
        for msg, _ in pairs:
            await msg.ack()

    async def handle_one(js: JetStreamContext, pair: tuple[Msg, LoadItem]) -> None:
        try:
            await load([pair])
        except Exception as error:
            await fail(js, pair[0], error)
            return
        await pair[0].ack()

    async def fail(js: JetStreamContext, msg: Msg, error: Exception) -> None:
        if metrics:
            metrics.failed("load")
        if isinstance(error, BufferFormatError):  # a corrupt buffer never parses
            await jetstream.dead_letter(js, bus, msg, str(error), "unparsable")
        else:
            await jetstream.retry_or_dead(js, bus, msg, error)

    turns = LoadTurns(dsn, bus.parse_consumer)
    turn_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snmp-stream-turn")
    subject = f"{bus.results_prefix}.>"
    puller = jetstream.Puller(js, bus, bus.results_stream, subject, bus.parse_consumer)
    keep_alive = jetstream.KeepAlive(bus.ack_wait)
    batches: set[asyncio.Task[None]] = set()

    def settle(done: set[asyncio.Task[None]]) -> None:
        for task in done:  # a batch's unexpected error ends the worker, as it did inline
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error

    try:
        await puller.bind()
        log.info("consuming %s (%s), batches of up to %d", subject, bus.parse_consumer, batch)
        while not stop.is_set():
            if len(batches) >= BATCHES_IN_FLIGHT:
                done, _ = await asyncio.wait(batches, return_when=asyncio.FIRST_COMPLETED)
                settle(done)
                continue
            messages = await puller.fetch(batch, timeout=0.5)
            if metrics:
                metrics.pending.labels(puller.stream).set(puller.pending)
            if not messages:
                continue
            if len(messages) < batch:  # a little more time for a fuller batch
                messages += await puller.fetch(batch - len(messages), timeout=0.05)
            turn = False
            if len(messages) < batch:  # no backlog: one load at a time, this worker's and the others'
                waited = time.monotonic()
                async with keep_alive.working(messages):
                    if batches:
                        done, _ = await asyncio.wait(batches)
                        settle(done)
                    turn = await loop.run_in_executor(turn_thread, turns.acquire)
                if time.monotonic() - waited > 0.002:  # what arrived meanwhile
                    messages += await puller.fetch(batch - len(messages), timeout=0.01)
            handled += len(messages)
            task = asyncio.create_task(handle_batch(js, messages, turn))
            batches.add(task)
            task.add_done_callback(batches.discard)
        if batches:
            done, _ = await asyncio.wait(batches)
            settle(done)
        return handled
    finally:
        if batches:
            await asyncio.gather(*batches, return_exceptions=True)
        await keep_alive.close()
        with contextlib.suppress(Exception):
            await connection.flush(timeout=5)
        await connection.close()
        for loader in loaders:
            await loop.run_in_executor(thread, loader.close)
        thread.shutdown()
        await loop.run_in_executor(turn_thread, turns.close)
        turn_thread.shutdown()
