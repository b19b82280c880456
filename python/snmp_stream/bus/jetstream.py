"""What the workers share on NATS JetStream: the configuration, the connection (credentials
and TLS), the streams and their retention, the durable consumers, keeping a message's ack
wait alive while it is worked on, retries and dead letters, results larger than the server's
max_payload (the object store), and the set of requests already collected (a key-value
bucket), which makes a republished or redelivered request cost no second collection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from snmp_stream._extras import require

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue
    from nats.js.object_store import ObjectStore

__all__ = ["BusConfig", "BusError", "NatsAuth"]

log = logging.getLogger("snmp_stream.bus")
DAY = 86400.0
T = TypeVar("T")


class BusError(Exception):
    """A problem with the bus set-up that no retry fixes (e.g. a second consumer name on the
    requests work queue): the worker stops with this message."""


@dataclass
class NatsAuth:
    """How to authenticate to NATS and whether to use TLS. Secrets come from the environment
    (NATS_PASSWORD, NATS_TOKEN) or files, never from the command line."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None  # a .creds file (JWT + nkey seed)
    nkey: str | None = None  # an nkey seed file
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @classmethod
    def from_env(cls, **given: Any) -> NatsAuth:
        auth = cls(**{k: v for k, v in given.items() if v is not None})
        auth.password = auth.password or os.environ.get("NATS_PASSWORD") or None
        auth.token = auth.token or os.environ.get("NATS_TOKEN") or None
        return auth

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        out: dict[str, Any] = {}
        if self.user:
            out["user"], out["password"] = self.user, self.password or ""
        if self.token:
            out["token"] = self.token
        if self.creds or self.nkey:
            require("nkeys", what="NATS nkey and credentials-file authentication")
        if self.creds:
            out["user_credentials"] = self.creds
        if self.nkey:
            out["nkeys_seed"] = self.nkey
        if self.tls_ca or self.tls_cert:
            context = ssl.create_default_context(cafile=self.tls_ca)
            if self.tls_cert:
                context.load_cert_chain(self.tls_cert, self.tls_key)
            out["tls"] = context
        return out


@dataclass
class BusConfig:
    """Where the workers find their streams, how long things are kept, and how they retry."""

    url: str = "nats://127.0.0.1:4222"
    auth: NatsAuth = field(default_factory=NatsAuth)
    requests_stream: str = "SNMP_REQUESTS"
    requests_subject: str = "snmp.requests.>"
    # A routing domain: collectors of a domain pull only `snmp.requests.<domain>.>` (their own
    # consumer, one per domain), and the scheduler publishes a target with a domain there.
    domain: str | None = None
    results_stream: str = "SNMP_RESULTS"
    results_prefix: str = "snmp.results"
    dead_stream: str = "SNMP_DEAD"
    dead_prefix: str = "snmp.dead"
    objects_bucket: str = "SNMP_RESULTS_LARGE"
    done_bucket: str = "SNMP_COLLECTED"
    consumer: str = "snmp-stream-collectors"
    parse_consumer: str = "snmp-stream-parsers"
    max_deliver: int = 5
    backoff: list[float] = field(default_factory=lambda: [1.0, 5.0, 15.0, 30.0])
    ack_wait: float = 60.0
    # Retention: results (and large results' objects) and dead letters are kept this long
    # (seconds) and up to this size (bytes, -1 unlimited); the oldest go first.
    results_max_age: float = DAY
    results_max_bytes: int = -1
    dead_max_age: float = 30 * DAY
    dead_max_bytes: int = -1
    # How long a request stays "collected": a request with the same identity published again
    # within this time is acked without a second collection. Also the requests stream's
    # duplicate window (JetStream drops a request published twice with the same Nats-Msg-Id).
    dedup_window: float = DAY
    # The requests stream's duplicate window, when set (the scheduler sets it to its interval;
    # workers leave the stream's as it is: JetStream's default is 2 minutes).
    requests_dedup_window: float | None = None
    # Copies of every stream and bucket the workers create: 3 on a 3-node JetStream cluster, so
    # that losing a node loses nothing.
    replicas: int = 1

    @property
    def requests_prefix(self) -> str:
        """The requests subject without its trailing wildcard (`snmp.requests`)."""
        return self.requests_subject.removesuffix(".>").removesuffix(".*")

    @property
    def requests_filter(self) -> str:
        """What this worker's consumer takes: every request, or its domain's."""
        return f"{self.requests_prefix}.{self.domain}.>" if self.domain else self.requests_subject

    @property
    def patience(self) -> float:
        """How long a worker keeps trying to store a result (or look one up) while the server
        restarts or fails over, before it gives the request up for a later retry: three ack
        waits, at least 30 s (a cluster elects new leaders within seconds)."""
        return max(3 * self.ack_wait, 30.0)

    def retry_delay(self, deliveries: int) -> float:
        """Seconds to wait before delivery number `deliveries + 1`."""
        if not self.backoff:
            return 1.0
        return self.backoff[min(deliveries - 1, len(self.backoff) - 1)]


async def connect(bus: BusConfig, name: str) -> Client:
    """A connection that reconnects forever and logs connection events as one line each."""
    require("nats", what="the message bus")
    import nats

    async def error(exc: Exception) -> None:
        log.warning("nats: %s: %s", type(exc).__name__, exc or "connection problem")

    async def disconnected() -> None:
        log.info("nats: disconnected from %s", bus.url)

    async def reconnected() -> None:
        log.info("nats: reconnected")

    servers = [url.strip() for url in bus.url.split(",") if url.strip()]
    try:
        # A few tries at first (a server that is starting), then, once connected, reconnect
        # forever: bad credentials or a wrong address fail at start-up, a restart later does not.
        connection = await nats.connect(
            servers,
            name=name,
            max_reconnect_attempts=3,
            reconnect_time_wait=0.5,
            connect_timeout=5,
            error_cb=error,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            **bus.auth.options(),
        )
    except Exception as problem:  # refused, unreachable, bad credentials or certificate
        detail = str(problem) or type(problem).__name__
        raise BusError(f"cannot connect to NATS at {bus.url}: {type(problem).__name__}: {detail}") from None
    connection.options["max_reconnect_attempts"] = -1
    return connection


async def ensure_streams(js: JetStreamContext, bus: BusConfig) -> None:
    """Creates the streams if missing, or updates their retention to the configured one."""
    from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig
    from nats.js.errors import NotFoundError

    wanted = [
        StreamConfig(
            name=bus.requests_stream,
            subjects=[bus.requests_subject],
            retention=RetentionPolicy.WORK_QUEUE,
            duplicate_window=bus.requests_dedup_window or 0,
            num_replicas=bus.replicas,
        ),
        StreamConfig(
            name=bus.results_stream,
            subjects=[f"{bus.results_prefix}.>"],
            max_age=bus.results_max_age,
            max_bytes=bus.results_max_bytes,
            discard=DiscardPolicy.OLD,
            num_replicas=bus.replicas,
        ),
        StreamConfig(
            name=bus.dead_stream,
            subjects=[f"{bus.dead_prefix}.>"],
            max_age=bus.dead_max_age,
            max_bytes=bus.dead_max_bytes,
            discard=DiscardPolicy.OLD,
            num_replicas=bus.replicas,
        ),
    ]
    for config in wanted:
        try:
            info = await js.stream_info(config.name or "")
        except NotFoundError:
            try:
                await js.add_stream(config)
            except Exception as error:  # another worker may have created it meanwhile
                with contextlib.suppress(NotFoundError):
                    await js.stream_info(config.name or "")
                    continue
                raise BusError(f"cannot create stream {config.name}: {error}") from None
            continue
        have = info.config
        window = config.duplicate_window or have.duplicate_window
        if (
            (have.max_age or 0) != (config.max_age or 0)
            or (have.max_bytes or -1) != config.max_bytes
            or (window and abs((have.duplicate_window or 0) - window) > 0.001)
        ):
            have.max_age, have.max_bytes, have.duplicate_window = config.max_age, config.max_bytes, window
            await js.update_stream(have)


async def bind_consumer(js: JetStreamContext, bus: BusConfig, stream: str, subject: str, name: str) -> Any:
    """Creates (or updates) the durable pull consumer `name` and subscribes to it. The ack wait
    is `bus.ack_wait` and is honoured: retries are delayed by the worker (nak with a delay),
    not by the consumer's `backoff`, which JetStream would use as the ack wait instead."""
    from nats.js.api import AckPolicy, ConsumerConfig
    from nats.js.errors import BadRequestError

    config = ConsumerConfig(
        durable_name=name,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=bus.ack_wait,
        max_deliver=bus.max_deliver,
        filter_subject=subject,
        max_ack_pending=-1,
    )
    try:
        await js.add_consumer(stream, config)
    except BadRequestError as error:
        existing = []
        with contextlib.suppress(Exception):
            existing = [c.name for c in await js.consumers_info(stream)]
        raise BusError(
            f"cannot use consumer {name!r} on stream {stream} ({error.description}); consumers there now: "
            f"{', '.join(existing) or 'none'}. Workers of one kind share one consumer name; a work-queue "
            "stream allows a second one only with a subject filter that does not overlap"
        ) from None
    return await js.pull_subscribe_bind(durable=name, stream=stream)


class KeepAlive:
    """Tells JetStream every ack_wait / 3 that the messages being worked on are still being
    worked on (+WPI), so that a long collection or load is never handed to another worker. One
    task ticks for all of them (started on first use, in the running event loop)."""

    def __init__(self, ack_wait: float) -> None:
        self.interval = max(ack_wait / 3, 0.05)
        self._messages: dict[int, Msg] = {}  # by id(): messages do not hash
        self._task: asyncio.Task[None] | None = None

    @contextlib.asynccontextmanager
    async def working(self, messages: list[Msg]) -> AsyncIterator[None]:
        if self._task is None:
            self._task = asyncio.create_task(self._tick())
        self._messages.update((id(msg), msg) for msg in messages)
        try:
            yield
        finally:
            for msg in messages:
                self._messages.pop(id(msg), None)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for msg in list(self._messages.values()):
                with contextlib.suppress(Exception):
                    await msg.in_progress()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def dead_letter(js: JetStreamContext, bus: BusConfig, msg: Msg, reason: str, what: str) -> None:
    """Publishes `msg` to the dead-letter subject with its reason, then terminates it."""
    headers = {"snmp-reason": reason[:1000], "snmp-original-subject": msg.subject}
    await js.publish(f"{bus.dead_prefix}.{what}", msg.data, headers=headers)
    await msg.term()
    log.warning("dead-lettered %s message: %s", what, reason)


async def retry_or_dead(js: JetStreamContext, bus: BusConfig, msg: Msg, error: Exception) -> None:
    """A failed message: redelivered after the backoff delay, or dead-lettered after
    `max_deliver` tries."""
    deliveries = msg.metadata.num_delivered
    reason = f"failed {deliveries} time(s): {type(error).__name__}: {error}"
    if deliveries >= bus.max_deliver:
        with contextlib.suppress(Exception):
            await dead_letter(js, bus, msg, reason, "poison")
        return
    log.warning("will retry (delivery %d of %d): %s", deliveries, bus.max_deliver, reason)
    with contextlib.suppress(Exception):
        await msg.nak(delay=bus.retry_delay(deliveries))


def _key(identity: str) -> str:
    """A key-value / object name for an identity (any text): its hash."""
    return hashlib.sha256(identity.encode(errors="surrogateescape")).hexdigest()


class Store:
    """The key-value bucket of collected identities and the object store for large results,
    created on first use with the bus's retention."""

    def __init__(self, js: JetStreamContext, bus: BusConfig) -> None:
        self.js, self.bus = js, bus
        self._done: KeyValue | None = None
        self._objects: ObjectStore | None = None
        self._lock = asyncio.Lock()  # one creation of each bucket, not one per request in flight

    async def done(self) -> KeyValue:
        async with self._lock:
            if self._done is None:
                from nats.js.api import KeyValueConfig
                from nats.js.errors import BucketNotFoundError

                bus = self.bus
                try:
                    self._done = await self.js.key_value(bus.done_bucket)
                except BucketNotFoundError:
                    config = KeyValueConfig(
                        bucket=bus.done_bucket, ttl=bus.dedup_window, history=1, replicas=bus.replicas
                    )
                    self._done = await self.js.create_key_value(config)
        return self._done

    async def objects(self) -> ObjectStore:
        async with self._lock:
            if self._objects is None:
                from nats.js.api import ObjectStoreConfig
                from nats.js.errors import BucketNotFoundError

                bus = self.bus
                try:
                    self._objects = await self.js.object_store(bus.objects_bucket)
                except BucketNotFoundError:
                    config = ObjectStoreConfig(ttl=bus.results_max_age, replicas=bus.replicas)
                    self._objects = await self.js.create_object_store(bus.objects_bucket, config=config)
        return self._objects

    async def collected(self, identity: str) -> bool:
        """True when a request with this identity was collected (and its result stored).

        Read from the bucket's stream leader, not with a direct get: on a cluster a direct get
        may be answered by a replica that has not applied the latest writes yet, and a request
        marked a moment ago would look uncollected."""
        from nats.js.errors import NotFoundError

        await self.done()
        bucket = self.bus.done_bucket
        try:
            await self.js.get_msg(f"KV_{bucket}", subject=f"$KV.{bucket}.{_key(identity)}", direct=False)
        except NotFoundError:
            return False
        return True

    async def mark_collected(self, identity: str) -> None:
        kv = await self.done()
        await kv.put(_key(identity), identity.encode(errors="surrogateescape")[:1024])

    async def put_large(self, identity: str, data: bytes) -> str:
        """Stores a result buffer too large for one message; returns its `bucket/name`."""
        objects = await self.objects()
        name = _key(identity)
        await objects.put(name, data)
        return f"{self.bus.objects_bucket}/{name}"

    async def get_large(self, where: str) -> bytes:
        bucket, _, name = where.partition("/")
        if bucket != self.bus.objects_bucket:
            objects = await self.js.object_store(bucket)
        else:
            objects = await self.objects()
        result = await objects.get(name)
        return bytes(result.data or b"")


async def result_payload(store: Store, msg: Msg) -> bytes:
    """A result message's buffer: its payload, or its object when the header names one."""
    where = (msg.headers or {}).get("snmp-object")
    return await store.get_large(where) if where else bytes(msg.data)


def _transient(error: BaseException) -> bool:
    """True for errors that a server restart, a failover or a recreated stream explain."""
    from nats.errors import (
        ConnectionReconnectingError,
        NoRespondersError,
        OutboundBufferLimitError,
        StaleConnectionError,
    )
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

    transient = (
        NatsTimeout,
        asyncio.TimeoutError,
        NoRespondersError,
        NoStreamResponseError,
        ServiceUnavailableError,
        ConnectionReconnectingError,
        OutboundBufferLimitError,
        StaleConnectionError,
    )
    return isinstance(error, transient)


async def persist(
    action: Callable[[], Awaitable[T]],
    within: float,
    what: str,
    on_missing: Callable[[], Awaitable[None]] | None = None,
) -> T:
    """Runs `action` again, with growing pauses, while it fails for a transient reason (the
    server restarting or failing over), for up to `within` seconds; then the last error is
    raised. `on_missing` runs when nothing answered (e.g. the stream was deleted: recreate it)."""
    from nats.errors import NoRespondersError

    deadline = time.monotonic() + within
    pause = 0.1
    while True:
        try:
            return await action()
        except Exception as error:
            if not _transient(error) or time.monotonic() + pause > deadline:
                raise
            log.debug("%s: %s; trying again", what, type(error).__name__)
            if on_missing is not None and isinstance(error, NoRespondersError):
                with contextlib.suppress(Exception):
                    await on_missing()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


class Puller:
    """A durable pull consumer that survives its server's restarts and its stream being
    deleted (it creates both again), and reports how many messages wait for it."""

    def __init__(self, js: JetStreamContext, bus: BusConfig, stream: str, subject: str, name: str) -> None:
        self.js, self.bus, self.stream, self.subject, self.name = js, bus, stream, subject, name
        self.pending = 0
        self._subscription: Any = None
        self._checked = time.monotonic()
        self._failing = False

    async def bind(self) -> None:
        await ensure_streams(self.js, self.bus)
        self._subscription = await bind_consumer(self.js, self.bus, self.stream, self.subject, self.name)

    async def fetch(self, count: int, timeout: float, linger: float = 0.01) -> list[Msg]:
        """Up to `count` messages: those waiting (and what follows them within `linger`
        seconds), else the first to arrive within `timeout` and what follows it within
        `linger`; [] if none came. Messages in hand are never held longer than `linger` for a
        fuller batch: nats-py's own fetch, once it has had to wait for a first message, waits
        for the whole batch or the whole timeout (a result arriving at an idle parse worker
        waited up to 0.5 s to be loaded, a request at an idle worker as long to be collected)."""
        messages = await self._fetch(count, linger)
        if not messages and not self._failing:
            messages = await self._fetch(1, timeout)
            if messages and count > 1:
                messages += await self._fetch(count - 1, linger)
        return messages

    async def _fetch(self, count: int, timeout: float) -> list[Msg]:
        from nats.errors import TimeoutError as NatsTimeout

        try:
            messages: list[Msg] = await self._subscription.fetch(count, timeout=timeout)
        except (NatsTimeout, asyncio.TimeoutError):
            if time.monotonic() - self._checked > 5:
                await self.check()
            return []
        except Exception as error:  # the server is restarting, or the consumer is gone
            if not self._failing:
                log.warning("fetch from %s failed: %s: %s", self.stream, type(error).__name__, error)
                self._failing = True
            await asyncio.sleep(0.5)
            await self.check()
            return []
        self._failing = False
        if not messages:  # e.g. the consumer was deleted: the server says so instead of waiting
            if time.monotonic() - self._checked > 5:
                await self.check()
            await asyncio.sleep(min(timeout, 0.1))
        return messages

    async def check(self) -> None:
        """Reads the consumer's state; creates the consumer (and stream) again if it is gone."""
        from nats.js.errors import NotFoundError

        self._checked = time.monotonic()
        try:
            info = await self.js.consumer_info(self.stream, self.name)
        except NotFoundError:
            log.warning(
                "consumer %s on %s is gone (stream deleted?): creating it again", self.name, self.stream
            )
            with contextlib.suppress(Exception):
                await self.bind()
            return
        except Exception as error:  # not connected: the next fetch tries again
            log.debug("consumer %s: %s: %s", self.name, type(error).__name__, error)
            return
        self.pending = int(info.num_pending or 0)
