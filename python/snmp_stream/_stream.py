"""Streaming: `Collector` (the engine on its own thread) and `stream()` over any iterable.

Requests are submitted while others are in flight; each response is handed back as soon as it
completes. The concurrency limit (`Config.max_sessions`) stays full, and `submit` blocks once
`queue_capacity` requests wait to start, so a lazy source (a generator reading a message bus)
is read only as fast as the agents answer.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from types import TracebackType

from snmp_stream import _snmp_stream as native
from snmp_stream._api import Config, ConfigLike, SnmpRequest, SnmpResponse, _response
from snmp_stream.errors import CollectorClosedError


class Collector:
    """The streaming engine. Submit from any thread; receive from any thread.

    ```python
    with Collector({"max_sessions": 500}) as collector:
        for request in requests:
            collector.submit(request)
        collector.close()                 # no more requests: iteration ends when all are back
        for response in collector:
            ...
    ```
    Iterating before `close()` waits for responses until the collector is closed (from
    another thread) and drained. Every submitted request yields exactly one response, unless
    the collector is aborted (explicitly, by leaving its `with` block on an exception, or by
    garbage collection).
    """

    def __init__(self, config: ConfigLike | None = None, queue_capacity: int = 1024) -> None:
        self.config = Config.of(config)
        self._native = native.Collector(*self.config._fields(), queue_capacity=queue_capacity)
        self._pending: dict[int, SnmpRequest] = {}
        self._lock = threading.Lock()
        self._tags = itertools.count(1)

    def submit(self, request: SnmpRequest) -> None:
        """Queues `request`, blocking (GIL released) while the queue is full. Raises
        CollectorClosedError after `close()`."""
        self._submit(request)

    def _submit(self, request: SnmpRequest, wait: bool = True) -> int | None:
        """Submits under a new tag and returns it; without `wait`, None (and nothing
        submitted) when the queue is full."""
        if not isinstance(request, SnmpRequest):
            raise TypeError(f"expected an SnmpRequest, not {type(request).__name__}")
        with self._lock:
            tag = next(self._tags)
            self._pending[tag] = request
        try:
            if wait:
                self._native.submit(request._native, tag)
            elif not self._native.try_submit(request._native, tag):
                with self._lock:
                    del self._pending[tag]
                return None
        except BaseException:
            with self._lock:
                self._pending.pop(tag, None)
            raise
        return tag

    def receive(self, timeout: float | None = None) -> SnmpResponse | None:
        """The next completed response, waiting up to `timeout` seconds (None: until one
        arrives). None on timeout; raises CollectorClosedError once closed and drained."""
        item = self._receive(timeout)
        return None if item is None else item[1]

    def _receive(self, timeout: float | None) -> tuple[int, SnmpResponse] | None:
        item = self._native.receive(timeout)
        if item is None:
            return None
        tag, status, results, errors, elapsed = item
        with self._lock:
            request = self._pending.pop(tag)
        return tag, _response(request, status, results, errors, elapsed)

    def close(self) -> None:
        """Takes no more requests; those submitted still complete and can be received."""
        self._native.close()

    def abort(self) -> None:
        """Takes no more requests and drops those queued or in flight, without responses
        (their sockets are closed at once). A collector that is garbage-collected aborts."""
        self._native.abort()
        with self._lock:
            self._pending.clear()

    def __iter__(self) -> Iterator[SnmpResponse]:
        while True:
            try:
                response = self.receive()
            except CollectorClosedError:
                return
            if response is not None:
                yield response

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Leaving on an exception (e.g. Ctrl-C): nobody will receive what is in flight.
        if exc_type is None:
            self.close()
        else:
            self.abort()


def stream(
    requests: Iterable[SnmpRequest],
    config: ConfigLike | None = None,
    queue_capacity: int = 1024,
) -> Iterator[SnmpResponse]:
    """Collects `requests` (any iterable, read lazily on a feeder thread) and yields each
    response as it completes, keeping `config.max_sessions` requests in flight.

    If the iterable raises, the responses to everything submitted before are still yielded,
    then the exception is raised. Stopping the iteration early (break, Ctrl-C) stops reading
    the iterable and drops the requests still in flight.
    """
    collector = Collector(config, queue_capacity)
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for request in requests:
                collector.submit(request)
        except CollectorClosedError:
            pass  # the consumer stopped early
        except BaseException as error:
            failure.append(error)
        finally:
            collector.close()

    feeder = threading.Thread(target=feed, name="snmp-stream-feeder", daemon=True)
    feeder.start()
    finished = False
    try:
        yield from collector
        finished = True
    finally:
        if not finished:
            # The feeder may be blocked in the caller's iterable: leave it (a daemon thread);
            # its next submit fails and it ends.
            collector.abort()
    feeder.join()
    if failure:
        raise failure[0]
