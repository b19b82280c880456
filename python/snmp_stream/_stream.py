"""Streaming: `Collector` (the engine on its own thread) and `stream()` over any iterable.

Requests are submitted while others are in flight; each response is handed back as soon as it
completes. The concurrency limit (`Config.max_sessions`) stays full, and `submit` blocks once
`queue_capacity` requests wait to start, so a lazy source (a generator reading a message bus)
is read only as fast as the agents answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any

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
        self._native = native.Collector(self.config._native, queue_capacity=queue_capacity)

    def submit(self, request: SnmpRequest) -> None:
        """Queues `request`, blocking (GIL released) while the queue is full. Raises
        CollectorClosedError after `close()`."""
        self._submit(request, None)

    def _submit(self, request: SnmpRequest, context: object, wait: bool = True) -> bool:
        """Submits `request`; its response comes back from `_receive` with `context`. Without
        `wait`, returns False (and submits nothing) when the queue is full."""
        if not isinstance(request, SnmpRequest):
            raise TypeError(f"expected an SnmpRequest, not {type(request).__name__}")
        if wait:
            self._native.submit(request._native, (request, context))
            return True
        return self._native.try_submit(request._native, (request, context))

    def receive(self, timeout: float | None = None) -> SnmpResponse | None:
        """The next completed response, waiting up to `timeout` seconds (None: until one
        arrives). None on timeout; raises CollectorClosedError once closed and drained."""
        item = self._receive(timeout)
        return None if item is None else item[1]

    def _receive(self, timeout: float | None) -> tuple[Any, SnmpResponse] | None:
        """The next response and the context it was submitted with."""
        return _with_context(self._native.receive(timeout))

    def _try_receive(self) -> tuple[Any, SnmpResponse] | None:
        """A response that is ready and its context, without waiting (None when none is);
        raises CollectorClosedError once closed and drained."""
        return _with_context(self._native.try_receive())

    def close(self) -> None:
        """Takes no more requests; those submitted still complete and can be received."""
        self._native.close()

    def abort(self) -> None:
        """Takes no more requests and drops those queued or in flight, without responses
        (their sockets are closed at once). A collector that is garbage-collected aborts."""
        self._native.abort()

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


def _with_context(item: tuple[Any, ...] | None) -> tuple[Any, SnmpResponse] | None:
    """A native response tuple as (context, response): `_submit` sent (request, context)."""
    if item is None:
        return None
    (request, context), status, results, errors, elapsed = item
    return context, _response(request, status, results, errors, elapsed)


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

    # The feeder submits nothing before start() has returned: a Ctrl-C that lands inside
    # Thread.start() (as soon as a first request is on the wire) can corrupt its internal lock
    # in CPython ("release unlocked lock" instead of KeyboardInterrupt).
    started = threading.Event()

    def feed() -> None:
        started.wait()
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
    finished = False
    try:
        feeder.start()
        started.set()
        yield from collector
        finished = True
    finally:
        started.set()
        if not finished:
            # The feeder may be blocked in the caller's iterable: leave it (a daemon thread);
            # its next submit fails and it ends.
            collector.abort()
    feeder.join()
    if failure:
        raise failure[0]
