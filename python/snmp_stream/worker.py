"""Message-bus workers (NATS JetStream): collect requests off a stream, publish raw result
buffers; parse result buffers into PostgreSQL.

Two workers, each any number of times on any number of machines (they share durable pull
consumers; JetStream spreads the messages, nothing else coordinates them):

- `snmp-stream worker`: reads request messages (schema below) from the work-queue stream
  `SNMP_REQUESTS` (subjects `snmp.requests.>`), collects them with the native engine (keeping
  `--concurrency` requests in flight), publishes each result buffer to `snmp.results.<table or
  kind>` on the stream `SNMP_RESULTS` with headers, and optionally writes parsed rows to
  PostgreSQL. A request is acked only after its result is stored by JetStream (and committed to
  PostgreSQL, with `--dsn`). Failures are retried with backoff; after `--max-deliver` tries, or
  at once for a malformed message, the message goes to `snmp.dead.<reason>` (stream
  `SNMP_DEAD`) with the reason in a header. SIGTERM/SIGINT drain: stop fetching, finish what
  is in flight, exit 0.
- `snmp-stream parse-worker`: reads results from `SNMP_RESULTS`, parses those with a table,
  and loads the rows into PostgreSQL idempotently (a redelivered result never duplicates rows).

Request message, JSON, `"schema": "snmp-stream.request.v1"`:

    {"schema": "snmp-stream.request.v1", "host": "10.0.0.1", "community": "public",
     "version": "v2c", "table": "interfaces"}                      # a recipe: kind and OIDs from it
    {"schema": "snmp-stream.request.v1", "host": "10.0.0.1", "kind": "walk",
     "oids": ["1.3.6.1.2.1.2.2.1.2"], "ranges": [["1", "48"]], "req_id": "job-7",
     "config": {"timeout": 1.0, "retries": 2, "max_var_binds_per_pdu": 25}}

Result message: the result buffer (docs/FORMAT.md) as payload; headers `snmp-req-id`,
`snmp-host`, `snmp-status`, `snmp-elapsed` (seconds the request took), `snmp-table` (if any),
`snmp-errors` (JSON list of {kind, message, oid}), `snmp-schema: snmp-stream.result.v1`, and
`Nats-Msg-Id` (deduplicates a result republished after a redelivery).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import signal
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snmp_stream import aio, recipes
from snmp_stream._api import SnmpRequest, SnmpResponse
from snmp_stream.errors import SnmpStreamError

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

__all__ = ["REQUEST_SCHEMA", "RESULT_SCHEMA", "BusConfig", "parse_request", "run_parse_worker", "run_worker"]

REQUEST_SCHEMA = "snmp-stream.request.v1"
RESULT_SCHEMA = "snmp-stream.result.v1"
TABLES = recipes.BY_NAME
log = logging.getLogger("snmp_stream.worker")


class MalformedRequestError(ValueError):
    """A request message that can never be collected: it goes to the dead-letter subject."""


@dataclass
class BusConfig:
    """Where the workers find their streams, and how they retry."""

    url: str = "nats://127.0.0.1:4222"
    requests_stream: str = "SNMP_REQUESTS"
    requests_subject: str = "snmp.requests.>"
    results_stream: str = "SNMP_RESULTS"
    results_prefix: str = "snmp.results"
    dead_stream: str = "SNMP_DEAD"
    dead_prefix: str = "snmp.dead"
    consumer: str = "snmp-stream-collectors"
    parse_consumer: str = "snmp-stream-parsers"
    max_deliver: int = 5
    backoff: list[float] = field(default_factory=lambda: [1.0, 5.0, 15.0, 30.0])
    ack_wait: float = 60.0


def parse_request(data: bytes) -> tuple[SnmpRequest, str | None]:
    """The request (and its table name, if any) a message describes; `MalformedRequestError` otherwise."""
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedRequestError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise MalformedRequestError("not a JSON object")
    if message.get("schema") != REQUEST_SCHEMA:
        raise MalformedRequestError(f"schema is {message.get('schema')!r}, expected {REQUEST_SCHEMA!r}")
    unknown = set(message) - {
        "schema",
        "host",
        "community",
        "version",
        "kind",
        "oids",
        "table",
        "ranges",
        "req_id",
        "config",
    }
    if unknown:
        raise MalformedRequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    table_name = message.get("table")
    table = None
    if table_name is not None:
        table = TABLES.get(str(table_name).lower())
        if table is None:
            raise MalformedRequestError(f"unknown table {table_name!r} (known: {', '.join(sorted(TABLES))})")
    oids = message.get("oids") or (table.oids if table else None)
    kind = message.get("kind") or ("get" if table is not None and not table.index else "walk")
    if not oids:
        raise MalformedRequestError("no 'oids' and no 'table'")
    ranges = [tuple(r) if isinstance(r, list) else r for r in message.get("ranges") or []]
    try:
        request = SnmpRequest(
            kind,
            str(message.get("host") or ""),
            (str(message.get("community", "public")), str(message.get("version", "v2c"))),
            oids,
            ranges,
            message.get("req_id"),
            message.get("config"),
        )
    except (SnmpStreamError, TypeError, ValueError) as error:
        raise MalformedRequestError(str(error)) from None
    return request, (str(table_name).lower() if table_name is not None else None)


def _result_headers(response: SnmpResponse, table: str | None, message_id: str) -> dict[str, str]:
    errors = [{"kind": e.kind, "message": e.message, "oid": e.err_oid} for e in response.errors]
    headers = {
        "Nats-Msg-Id": message_id,
        "snmp-schema": RESULT_SCHEMA,
        "snmp-req-id": (response.req_id or b"").decode(errors="replace"),
        "snmp-host": response.host,
        "snmp-status": response.status,
        "snmp-elapsed": f"{response.elapsed:.6f}",
        "snmp-errors": json.dumps(errors),
    }
    if table:
        headers["snmp-table"] = table
    return headers


async def _ensure_streams(js: JetStreamContext, bus: BusConfig) -> None:
    from nats.js.api import RetentionPolicy, StreamConfig

    wanted = [
        StreamConfig(
            name=bus.requests_stream, subjects=[bus.requests_subject], retention=RetentionPolicy.WORK_QUEUE
        ),
        StreamConfig(name=bus.results_stream, subjects=[f"{bus.results_prefix}.>"]),
        StreamConfig(name=bus.dead_stream, subjects=[f"{bus.dead_prefix}.>"]),
    ]
    for config in wanted:
        try:
            await js.stream_info(config.name or "")
        except Exception:  # not found: create it (another worker may race us; that is fine)
            with contextlib.suppress(Exception):
                await js.add_stream(config)


async def _dead_letter(js: JetStreamContext, bus: BusConfig, msg: Msg, reason: str, what: str) -> None:
    """Publishes `msg` to the dead-letter subject with its reason, then terminates it."""
    headers = {"snmp-reason": reason[:1000], "snmp-original-subject": msg.subject}
    await js.publish(f"{bus.dead_prefix}.{what}", msg.data, headers=headers)
    await msg.term()
    log.warning("dead-lettered %s message: %s", what, reason)


def _consumer_config(name: str, bus: BusConfig) -> Any:
    from nats.js.api import AckPolicy, ConsumerConfig

    return ConsumerConfig(
        durable_name=name,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=bus.ack_wait,
        max_deliver=bus.max_deliver,
        backoff=bus.backoff[: max(0, bus.max_deliver - 1)] or None,
    )


async def _serve(
    bus: BusConfig,
    stream: str,
    subject: str,
    consumer: str,
    capacity: int,
    handle: Callable[[JetStreamContext, Msg], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
) -> int:
    """Pulls messages (at most `capacity` in flight) and runs `handle` on each until `stop` is
    set; then waits for the handlers in flight. Returns how many messages were handled."""
    import nats
    from nats.errors import TimeoutError as NatsTimeout

    connection = await nats.connect(bus.url, name="snmp-stream-worker")
    js = connection.jetstream()
    await _ensure_streams(js, bus)
    subscription = await js.pull_subscribe(
        subject, durable=consumer, stream=stream, config=_consumer_config(consumer, bus)
    )
    in_flight: set[asyncio.Task[None]] = set()
    handled = 0
    log.info("consuming %s from %s (consumer %s, up to %d in flight)", subject, stream, consumer, capacity)
    try:
        while not stop.is_set():
            room = capacity - len(in_flight)
            if room <= 0:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await subscription.fetch(min(room, 256), timeout=0.5)
            except (NatsTimeout, asyncio.TimeoutError):
                continue
            for msg in messages:
                task = asyncio.create_task(handle(js, msg))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                handled += 1
        if in_flight:
            log.info("draining %d message(s) in flight", len(in_flight))
            await asyncio.gather(*in_flight, return_exceptions=True)
    finally:
        # Acks and publishes are written by now; flush them and close (a pull subscription's
        # drain() can wait forever on nats-py).
        with contextlib.suppress(Exception):
            await connection.flush(timeout=5)
        await connection.close()
    return handled


def _install_stop(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_worker(
    bus: BusConfig, concurrency: int = 256, dsn: str | None = None, stop: asyncio.Event | None = None
) -> int:
    """The collecting worker (see the module docs). Returns the number of messages handled."""
    stop = stop or asyncio.Event()
    _install_stop(stop)
    loader = _Loader(dsn) if dsn is not None else None

    async def handle(js: JetStreamContext, msg: Msg) -> None:
        try:
            request, table = parse_request(msg.data)
        except MalformedRequestError as error:
            await _dead_letter(js, bus, msg, str(error), "malformed")
            return
        try:
            response = await aio.collect(request)
            message_id = f"result-{msg.metadata.stream}-{msg.metadata.sequence.stream}"
            subject = f"{bus.results_prefix}.{table or request.kind}"
            headers = _result_headers(response, table, message_id)
            await js.publish(subject, response.results.tobytes(), headers=headers)
            if loader is not None and table is not None and response.status != "failed":
                await loader.load(message_id, table, [response])
            await msg.ack()
        except Exception as error:  # any failure: retry with backoff, then dead-letter
            await _retry_or_dead(js, bus, msg, error)

    return await _serve(
        bus, bus.requests_stream, bus.requests_subject, bus.consumer, concurrency, handle, stop
    )


async def _retry_or_dead(js: JetStreamContext, bus: BusConfig, msg: Msg, error: Exception) -> None:
    deliveries = msg.metadata.num_delivered
    reason = f"failed {deliveries} time(s): {type(error).__name__}: {error}"
    if deliveries >= bus.max_deliver:
        with contextlib.suppress(Exception):
            await _dead_letter(js, bus, msg, reason, "poison")
        return
    log.warning("will retry (delivery %d of %d): %s", deliveries, bus.max_deliver, reason)
    delay = bus.backoff[min(deliveries - 1, len(bus.backoff) - 1)] if bus.backoff else 1.0
    with contextlib.suppress(Exception):
        await msg.nak(delay=delay)


class _Loader:
    """Parses results and loads them into PostgreSQL on one thread with one connection (so
    loads do not pay a connection each), at most once per result id."""

    def __init__(self, dsn: str) -> None:
        from snmp_stream.sinks import PostgresLoader

        self._loader = PostgresLoader(dsn)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snmp-stream-loader")

    async def load(self, result_id: str, table: str, sources: list[Any]) -> int:
        def work() -> int:
            frame = TABLES[table].to_pandas(sources)
            return self._loader.load_once(result_id, table, frame, dt.datetime.now(dt.timezone.utc))

        return await asyncio.get_running_loop().run_in_executor(self._thread, work)

    def close(self) -> None:
        self._thread.submit(self._loader.close).result()
        self._thread.shutdown()


async def run_parse_worker(
    bus: BusConfig, dsn: str, concurrency: int = 8, stop: asyncio.Event | None = None
) -> int:
    """The parsing worker (see the module docs). Returns the number of messages handled."""
    stop = stop or asyncio.Event()
    _install_stop(stop)
    loader = _Loader(dsn)

    async def handle(js: JetStreamContext, msg: Msg) -> None:
        headers = msg.headers or {}
        table = headers.get("snmp-table")
        if headers.get("snmp-schema") != RESULT_SCHEMA or not table or table not in TABLES:
            await msg.ack()  # not a table result (e.g. a plain walk): nothing to load
            return
        if headers.get("snmp-status") == "failed" and not msg.data:
            await msg.ack()
            return
        try:
            result_id = headers.get("Nats-Msg-Id") or f"seq-{msg.metadata.sequence.stream}"
            await loader.load(result_id, table, [msg.data])
            await msg.ack()
        except SnmpStreamError as error:  # a corrupt buffer will never parse
            await _dead_letter(js, bus, msg, str(error), "unparsable")
        except Exception as error:
            await _retry_or_dead(js, bus, msg, error)

    return await _serve(
        bus, bus.results_stream, f"{bus.results_prefix}.>", bus.parse_consumer, concurrency, handle, stop
    )
