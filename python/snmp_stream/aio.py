"""asyncio front end: `await aio.get(...)`, `await aio.walk(...)`, `Engine` and `AsyncCollector`.

Collection runs on the native engine thread; the event loop watches the collector's ready
descriptor (`loop.add_reader`) and takes responses as they come, so it is never blocked and no
thread waits for it. All `get`/`walk` calls of one event loop share one collector, so thousands
of them run concurrently (up to `Config.max_sessions` per request config, default 256); it is
freed (engine thread, sockets) when the loop closes; `Engine(config)` is one of your own, with
another manager config. Needs a loop with `add_reader` (the default on Linux).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from types import TracebackType

from snmp_stream._api import (
    GET,
    WALK,
    CommunityLike,
    ConfigLike,
    OidLike,
    RangeLike,
    SnmpRequest,
    SnmpResponse,
)
from snmp_stream._stream import Collector
from snmp_stream.errors import CollectorClosedError

__all__ = ["AsyncCollector", "Engine", "collect", "get", "walk"]


class Engine:
    """A collector on the running event loop, taking requests with `await collect(request)`.

    `aio.collect`, `aio.get` and `aio.walk` share one per loop, with the default manager
    config; make one of your own for another (e.g. `Engine({"max_sessions": 1000})`). Its
    responses are read on the loop itself: the loop watches the collector's ready descriptor
    (`add_reader`), so no thread waits for them. Each request is submitted with its future and
    comes back with it. Requests over `max_sessions` wait in the engine's queue and start
    there, without the loop, as earlier ones complete. The loop's selector holds the only
    strong reference: when the loop closes, the engine and its collector (engine thread,
    sockets) are freed. Make it in a coroutine."""

    def __init__(self, config: ConfigLike | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.loop = weakref.ref(loop)
        self.collector = Collector(config, queue_capacity=65_536)
        self.fd = self.collector._native.fileno()
        loop.add_reader(self.fd, self._ready)

    def _ready(self) -> None:
        """Runs on the loop when responses may be waiting."""
        self.collector._native.clear_ready()  # first, so a response sent meanwhile wakes us again
        while True:
            try:
                item = self.collector._try_receive()
            except CollectorClosedError:
                loop = self.loop()
                if loop is not None and not loop.is_closed():
                    loop.remove_reader(self.fd)
                return
            if item is None:
                return
            future, response = item
            if not future.done():
                future.set_result(response)

    async def collect(self, request: SnmpRequest) -> SnmpResponse:
        """Collects one request (built beforehand)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SnmpResponse] = loop.create_future()
        # Straight in while the queue has room; a thread waits for room only when it is full.
        if not self.collector._submit(request, future, wait=False):
            await asyncio.to_thread(self.collector._submit, request, future)
        return await future


# By id(loop); held strongly only by the loop's selector (see Engine).
_shared: weakref.WeakValueDictionary[int, Engine] = weakref.WeakValueDictionary()


def _engine() -> Engine:
    """The running loop's shared engine."""
    loop = asyncio.get_running_loop()
    engine = _shared.get(id(loop))
    if engine is None or engine.loop() is not loop:
        engine = _shared[id(loop)] = Engine()
    return engine


async def collect(request: SnmpRequest) -> SnmpResponse:
    """Collects one request (built beforehand) on the event loop's shared engine."""
    return await _engine().collect(request)


async def get(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """`snmp_stream.get` for asyncio."""
    return await _engine().collect(SnmpRequest(GET, host, community, oids, ranges, req_id, config))


async def walk(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """`snmp_stream.walk` for asyncio."""
    return await _engine().collect(SnmpRequest(WALK, host, community, oids, ranges, req_id, config))


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


class AsyncCollector:
    """A `Collector` for asyncio: `await submit(...)`, then `async for response in ...`.

    ```python
    async with AsyncCollector({"max_sessions": 500}) as collector:
        for request in requests:
            await collector.submit(request)
        collector.close()
        async for response in collector:
            ...
    ```
    """

    def __init__(self, config: ConfigLike | None = None, queue_capacity: int = 1024) -> None:
        self._collector = Collector(config, queue_capacity)

    async def submit(self, request: SnmpRequest) -> None:
        """Queues `request`; waits (without blocking the loop) while the queue is full."""
        if not self._collector._submit(request, None, wait=False):
            await asyncio.to_thread(self._collector.submit, request)

    def close(self) -> None:
        """Takes no more requests; iteration ends once every response has been received."""
        self._collector.close()

    def __aiter__(self) -> AsyncCollector:
        return self

    async def __anext__(self) -> SnmpResponse:
        native = self._collector._native
        while True:
            native.clear_ready()  # first, so a response sent meanwhile makes the fd readable
            try:
                item = self._collector._try_receive()
            except CollectorClosedError:
                raise StopAsyncIteration from None
            if item is not None:
                return item[1]
            # Wait on the loop for the collector's ready descriptor: no thread is blocked.
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(native.fileno(), _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(native.fileno())

    async def __aenter__(self) -> AsyncCollector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
