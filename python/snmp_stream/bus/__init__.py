"""The main job over a message bus (NATS JetStream): the application side of snmp-stream,
apart from the library (which never imports it).

- `schema`: request and result messages, and the identity that ties them together.
- `jetstream`: configuration, connection, streams, consumers, retries, dead letters, large
  results, and the set of requests already collected.
- `collector`: the collecting worker (`snmp-stream worker`).
- `parser` and `loader`: the parse worker (`snmp-stream parse-worker`) and its PostgreSQL loader.
- `metrics`: Prometheus metrics.

Delivery guarantees, limits, metrics and security options: docs/BUS.md.
"""

from snmp_stream.bus.collector import run_worker
from snmp_stream.bus.jetstream import BusConfig, BusError, NatsAuth
from snmp_stream.bus.parser import run_parse_worker
from snmp_stream.bus.schema import REQUEST_SCHEMA, RESULT_SCHEMA, parse_request, request_message

__all__ = [
    "REQUEST_SCHEMA",
    "RESULT_SCHEMA",
    "BusConfig",
    "BusError",
    "NatsAuth",
    "parse_request",
    "request_message",
    "run_parse_worker",
    "run_worker",
]
