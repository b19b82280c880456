"""Prometheus metrics of a worker (`--metrics-port`), with the `prometheus-client` package.

snmp_stream_requests_total{status}        requests collected, by response status
snmp_stream_varbinds_total                varbinds collected
snmp_stream_failures_total{kind}          failures: SNMP error kinds (timeout, ...), malformed,
                                          bus (publish/ack problems), load
snmp_stream_in_flight                     requests in the engine now (collected, or queued: --prefetch)
snmp_stream_collection_seconds            histogram: how long a request took (lookup, PDUs, retries)
snmp_stream_redeliveries_total            messages delivered more than once
snmp_stream_results_loaded_total          results loaded into PostgreSQL
snmp_stream_rows_loaded_total             rows loaded
snmp_stream_load_seconds                  histogram: how long a batch took to load
snmp_stream_queue_pending{stream}         messages waiting in the stream for this worker's consumer
snmp_stream_schedule_lag_requests         (scheduler) requests of the previous round still queued
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from snmp_stream._extras import require

if TYPE_CHECKING:
    from snmp_stream._api import SnmpResponse

__all__ = ["Metrics"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """A worker's counters, in a registry of their own; `serve(port)` exposes them over HTTP."""

    def __init__(self) -> None:
        require("prometheus_client", what="--metrics-port")
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("snmp_stream_requests", "Requests collected", ["status"], registry=r)
        self.varbinds = Counter("snmp_stream_varbinds", "Varbinds collected", registry=r)
        self.failures = Counter("snmp_stream_failures", "Failures by kind", ["kind"], registry=r)
        self.in_flight = Gauge("snmp_stream_in_flight", "Requests in the engine", registry=r)
        self.collection = Histogram(
            "snmp_stream_collection_seconds", "Seconds a request took", buckets=BUCKETS, registry=r
        )
        self.redeliveries = Counter("snmp_stream_redeliveries", "Messages delivered again", registry=r)
        self.results_loaded = Counter("snmp_stream_results_loaded", "Results loaded", registry=r)
        self.rows_loaded = Counter("snmp_stream_rows_loaded", "Rows loaded", registry=r)
        self.load = Histogram(
            "snmp_stream_load_seconds", "Seconds a batch took to load", buckets=BUCKETS, registry=r
        )
        self.pending = Gauge("snmp_stream_queue_pending", "Messages waiting", ["stream"], registry=r)
        self.published = Counter("snmp_stream_published", "Requests published by the scheduler", registry=r)
        self.lag = Gauge(
            "snmp_stream_schedule_lag_requests", "Previous round's requests still queued", registry=r
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> Any:
        """Serves /metrics on `port` (in a daemon thread); returns the server."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=addr, registry=self.registry)

    def started(self) -> None:
        self.in_flight.inc()

    def finished(self) -> None:
        self.in_flight.dec()

    def collected(self, response: SnmpResponse) -> None:
        self.requests.labels(response.status).inc()
        self.varbinds.inc(int.from_bytes(response.results[16:20].tobytes(), "little"))
        self.collection.observe(response.elapsed)
        for error in response.errors:
            self.failures.labels(error.kind).inc()

    def failed(self, kind: str) -> None:
        self.failures.labels(kind).inc()

    def redelivered(self) -> None:
        self.redeliveries.inc()

    def loaded(self, results: int, rows: int, seconds: float) -> None:
        self.results_loaded.inc(results)
        self.rows_loaded.inc(rows)
        self.load.observe(seconds)
