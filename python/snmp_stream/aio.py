"""asyncio front end: `await aio.get(...)`, `await aio.walk(...)`, and `AsyncCollector`.

Collection runs on the native engine thread; the event loop only waits on futures, so it is
never blocked. All `get`/`walk` calls of one event loop share one collector, so thousands of
them run concurrently (up to `Config.max_sessions` per request config, default 256).
"""

from __future__ import annotations

import asyncio
import threading
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

__all__ = ["AsyncCollector", "collect", "get", "walk"]


class _Dispatcher:
    """One collector per event loop, and a thread that resolves the loop's futures: each
    request is submitted with its future, and comes back with it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.collector = Collector(queue_capacity=65_536)
        threading.Thread(target=self._pump, name="snmp-stream-aio", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                item = self.collector._receive(None)
            except CollectorClosedError:
                return
            if item is None:
                continue
            future, response = item
            if not self.loop.is_closed():
                self.loop.call_soon_threadsafe(_resolve, future, response)

    async def run(self, request: SnmpRequest) -> SnmpResponse:
        future: asyncio.Future[SnmpResponse] = self.loop.create_future()
        # Straight in while the queue has room; a thread waits for room only when it is full.
        if not self.collector._submit(request, future, wait=False):
            await asyncio.to_thread(self.collector._submit, request, future)
        return await future


def _resolve(future: asyncio.Future[SnmpResponse], response: SnmpResponse) -> None:
    if not future.done():
        future.set_result(response)


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Dispatcher] = weakref.WeakKeyDictionary()


def _dispatcher() -> _Dispatcher:
    loop = asyncio.get_running_loop()
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        dispatcher = _dispatchers[loop] = _Dispatcher(loop)
    return dispatcher


async def collect(request: SnmpRequest) -> SnmpResponse:
    """Collects one request (built beforehand) on the event loop's shared engine."""
    return await _dispatcher().run(request)


async def get(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """`snmp_stream.get` for asyncio."""
    return await _dispatcher().run(SnmpRequest(GET, host, community, oids, ranges, req_id, config))


async def walk(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """`snmp_stream.walk` for asyncio."""
    return await _dispatcher().run(SnmpRequest(WALK, host, community, oids, ranges, req_id, config))


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
        await asyncio.to_thread(self._collector.submit, request)

    def close(self) -> None:
        """Takes no more requests; iteration ends once every response has been received."""
        self._collector.close()

    def __aiter__(self) -> AsyncCollector:
        return self

    async def __anext__(self) -> SnmpResponse:
        while True:
            try:
                # Short waits, so a cancelled iteration leaves no thread blocked for long.
                response = await asyncio.to_thread(self._collector.receive, 0.1)
            except CollectorClosedError:
                raise StopAsyncIteration from None
            if response is not None:
                return response

    async def __aenter__(self) -> AsyncCollector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
