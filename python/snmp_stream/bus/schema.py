"""The bus's messages: request messages in, result messages out, and the identity that ties a
result (and its rows in PostgreSQL) to the request it answers.

Request message, JSON, `"schema": "snmp-stream.request.v1"`:

    {"schema": "snmp-stream.request.v1", "host": "10.0.0.1", "community": "public",
     "version": "v2c", "table": "interfaces", "req_id": "10.0.0.1/interfaces/2026-12-01T10:05"}
    {"schema": "snmp-stream.request.v1", "host": "10.0.0.1", "kind": "walk",
     "oids": ["1.3.6.1.2.1.2.2.1.2"], "ranges": [["1", "48"]], "req_id": "job-7",
     "config": {"timeout": 1.0, "retries": 2, "max_var_binds_per_pdu": 25}}

    {"schema": "snmp-stream.request.v1", "host": "10.0.0.1", "credentials": "core",
     "table": "interfaces", "req_id": "10.0.0.1/interfaces/2026-12-01T10:05"}

`credentials` (SNMPv3) names credentials the collecting worker keeps (`worker --credentials
FILE`, `SNMP_STREAM_USM_*` variables; see snmp_stream.credentials): passphrases never travel
on the bus. A message has `credentials` or `community`/`version` (default public, v2c); a name
the worker does not know is a malformed request (dead-lettered, naming the names it knows).
Messages without `credentials` are the v1 messages they always were.

`table` names a recipe or a declared table (`--tables FILE`) and gives the OIDs and the kind;
otherwise `kind` (get/walk) and `oids`. `req_id` is the request's identity: one collection
per identity, one load per identity. A message without `req_id` gets the hash of its content
as identity (and as req_id), so the same message published twice is still one request.

Result message: the result buffer (docs/FORMAT.md) as payload, or, when it is larger than the
server's max_payload, an empty payload and the buffer in the object store bucket named by
`snmp-object` (`bucket/name`). Headers: `snmp-schema: snmp-stream.result.v1`, `snmp-id` (the
request's identity), `snmp-req-id`, `snmp-host`, `snmp-status`, `snmp-elapsed` (seconds),
`snmp-kind` (get/walk), `snmp-table` (if any), `snmp-errors` (JSON list of {kind, message,
oid}), `snmp-size` (buffer bytes), and `Nats-Msg-Id` (the identity: JetStream drops a result
republished within its duplicate window).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snmp_stream._api import CommunityLike, SnmpRequest, SnmpResponse, Usm
from snmp_stream.errors import SnmpStreamError
from snmp_stream.parse import Table

__all__ = [
    "REQUEST_SCHEMA",
    "RESULT_SCHEMA",
    "BusRequest",
    "MalformedRequestError",
    "parse_request",
    "request_message",
    "result_headers",
]

REQUEST_SCHEMA = "snmp-stream.request.v1"
RESULT_SCHEMA = "snmp-stream.result.v1"
FIELDS = frozenset(
    {
        "schema",
        "host",
        "community",
        "version",
        "credentials",
        "kind",
        "oids",
        "table",
        "ranges",
        "req_id",
        "config",
    }
)
MAX_ID_LEN = 200  # longer identities are hashed (they end up in headers and key columns)


class MalformedRequestError(ValueError):
    """A request message that can never be collected: it goes to the dead-letter subject."""


@dataclass(frozen=True)
class BusRequest:
    """A request message, validated: the request, its table name (if any) and its identity."""

    request: SnmpRequest
    table: str | None
    identity: str

    @property
    def subject_suffix(self) -> str:
        """The last token of its result subject: the table name, else the kind."""
        return self.table or self.request.kind


def _content_hash(message: Mapping[str, Any]) -> str:
    canonical = json.dumps(message, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def identity_of(req_id: str) -> str:
    """A request id as it is used in headers and keys: printable, at most 200 characters."""
    if len(req_id) <= MAX_ID_LEN and req_id.isprintable() and "\r" not in req_id and "\n" not in req_id:
        return req_id
    return "sha256:" + hashlib.sha256(req_id.encode(errors="surrogateescape")).hexdigest()[:32]


def _credentials(message: Mapping[str, Any], known: Mapping[str, Usm] | None) -> CommunityLike:
    """The message's named SNMPv3 credentials, resolved here, or its community and version."""
    name = message.get("credentials")
    if name is None:
        return (str(message.get("community", "public")), str(message.get("version", "v2c")))
    if not isinstance(name, str):
        raise MalformedRequestError(f"credentials must be a name, not {type(name).__name__}")
    if "community" in message or str(message.get("version", "v3")).lower() not in ("3", "v3"):
        raise MalformedRequestError("give credentials (SNMPv3) or a community and version, not both")
    usm = (known or {}).get(name.lower())
    if usm is None:
        names = ", ".join(sorted(known or {})) or "none"
        raise MalformedRequestError(f"unknown credentials {name!r} (this worker has: {names})")
    return usm


def parse_request(
    data: bytes, tables: Mapping[str, Table], credentials: Mapping[str, Usm] | None = None
) -> BusRequest:
    """The request a message describes (`tables`: the table names it may use; `credentials`:
    the SNMPv3 credentials it may name); `MalformedRequestError` naming the problem otherwise."""
    try:
        message = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MalformedRequestError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise MalformedRequestError("not a JSON object")
    if message.get("schema") != REQUEST_SCHEMA:
        raise MalformedRequestError(f"schema is {message.get('schema')!r}, expected {REQUEST_SCHEMA!r}")
    unknown = set(message) - FIELDS
    if unknown:
        raise MalformedRequestError(f"unknown field(s): {', '.join(sorted(unknown))}")
    table_name = message.get("table")
    table = None
    if table_name is not None:
        table_name = str(table_name).lower()
        table = tables.get(table_name)
        if table is None:
            raise MalformedRequestError(f"unknown table {table_name!r} (known: {', '.join(sorted(tables))})")
    oids = message.get("oids") or (table.oids if table else None)
    kind = message.get("kind") or ("get" if table is not None and not table.index else "walk")
    if not oids:
        raise MalformedRequestError("no 'oids' and no 'table'")
    ranges = [tuple(r) if isinstance(r, list) else r for r in message.get("ranges") or []]
    req_id = message.get("req_id")
    if req_id is not None and not isinstance(req_id, str):
        raise MalformedRequestError(f"req_id must be a string, not {type(req_id).__name__}")
    identity = identity_of(req_id) if req_id else _content_hash(message)
    try:
        request = SnmpRequest(
            kind,
            str(message.get("host") or ""),
            _credentials(message, credentials),
            oids,
            ranges,
            req_id or identity,
            message.get("config"),
        )
    except (SnmpStreamError, TypeError, ValueError) as error:
        raise MalformedRequestError(str(error)) from None
    return BusRequest(request, table_name, identity)


def request_message(host: str, **fields: Any) -> bytes:
    """A request message (JSON bytes) for `host` with the given fields (table, kind, oids,
    community, version or credentials, ranges, req_id, config)."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"unknown request field(s): {', '.join(sorted(unknown))}")
    return json.dumps({"schema": REQUEST_SCHEMA, "host": host, **fields}).encode()


def result_headers(bus_request: BusRequest, response: SnmpResponse, size: int) -> dict[str, str]:
    """The headers of the result message for `response` (a buffer of `size` bytes)."""
    errors = [{"kind": e.kind, "message": e.message, "oid": e.err_oid} for e in response.errors]
    headers = {
        "Nats-Msg-Id": bus_request.identity,
        "snmp-schema": RESULT_SCHEMA,
        "snmp-id": bus_request.identity,
        "snmp-req-id": (response.req_id or b"").decode(errors="replace"),
        "snmp-host": response.host,
        "snmp-kind": bus_request.request.kind,
        "snmp-status": response.status,
        "snmp-elapsed": f"{response.elapsed:.6f}",
        "snmp-errors": json.dumps(errors),
        "snmp-size": str(size),
    }
    if bus_request.table:
        headers["snmp-table"] = bus_request.table
    return headers
