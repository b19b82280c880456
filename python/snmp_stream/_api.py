"""The user-facing types and the single-use and low-level APIs.

Requests are validated by the native core when they are built, so a request that exists can be
sent; bad input raises a subclass of `snmp_stream.errors.InvalidInputError` naming the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple, Union

import numpy as np
import numpy.typing as npt

from snmp_stream import _snmp_stream as native
from snmp_stream.errors import (
    InvalidCommunityError,
    InvalidConfigError,
    InvalidCredentialsError,
    InvalidRangeError,
)

OidLike = Union[str, Sequence[int]]
"""An OID as `"1.3.6.1"`, `".1.3.6.1"` or a sequence of ints."""
RangeLike = Union["OidRange", OidLike, int, tuple[Union[OidLike, int, None], Union[OidLike, int, None]]]
"""An index range: an `OidRange`, `(start, stop)` with None open, or a single index (point)."""
CommunityLike = Union["Community", "Usm", tuple[str, str], str]
"""Credentials: a `Community`, `("public", "v2c")`, a bare string (v2c), or `Usm` (v3)."""
ConfigLike = Union["Config", Mapping[str, Any]]
"""A `Config` or a dict of its fields."""

GET = "get"
WALK = "walk"
SUCCESSFUL = "successful"
DONE_WITH_ERRORS = "done_with_errors"
FAILED = "failed"


def _oid_text(oid: OidLike) -> str:
    return "." + ".".join(str(subid) for subid in native.parse_oid(oid))


def _oid_list(oids: OidLike | Iterable[OidLike]) -> list[OidLike]:
    """One OID (a string or a sequence of ints) or an iterable of them, as a list of OIDs."""
    if isinstance(oids, str):
        return [oids]
    items: list[Any] = list(oids)
    if items and all(isinstance(subid, int) for subid in items):
        return [items]
    return items


@dataclass(frozen=True)
class Community:
    """A community string and the SNMP version it is used with (`"v1"` or `"v2c"`)."""

    string: str
    version: str = "v2c"

    def __post_init__(self) -> None:
        version = {"1": "v1", "v1": "v1", "2c": "v2c", "v2c": "v2c"}.get(str(self.version).lower())
        if version is None:
            hint = ": SNMPv3 takes Usm credentials" if str(self.version).lower() in ("3", "v3") else ""
            raise InvalidCommunityError(
                f"unknown SNMP version {self.version!r} (expected 'v1' or 'v2c'){hint}"
            )
        object.__setattr__(self, "version", version)

    def __repr__(self) -> str:
        # Communities are credentials.
        return f"Community('***', {self.version!r})"

    @classmethod
    def of(cls, value: CommunityLike) -> Community | Usm:
        """Accepts a Community, a `(string, version)` tuple, a string (v2c), or Usm (v3)."""
        if isinstance(value, (Community, Usm)):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, tuple) and len(value) == 2:
            return cls(*value)
        kind = type(value).__name__
        raise InvalidCommunityError(f"expected a Community, (string, version), a string or Usm, not {kind}")


def _engine_id(value: bytes | str | None, what: str) -> bytes | None:
    """An engine ID as bytes, or as hex text (`"0x80001f88..."` or `"80001f88..."`, as `-e`)."""
    if value is None or isinstance(value, bytes):
        return value
    try:
        return bytes.fromhex(value[2:] if value.lower().startswith("0x") else value)
    except ValueError:
        raise InvalidCredentialsError(f"the {what} {value!r} is not hex") from None


def _key(value: tuple[str, str | bytes] | None, what: str) -> tuple[str, bytes] | None:
    if value is None:
        return None
    if not (isinstance(value, tuple) and len(value) == 2):
        raise InvalidCredentialsError(f"{what} takes (protocol, passphrase), not {type(value).__name__}")
    protocol, passphrase = value
    return (protocol, passphrase.encode() if isinstance(passphrase, str) else passphrase)


@dataclass(frozen=True, repr=False)
class Usm:
    """SNMPv3 credentials (User-based Security Model), accepted wherever a community is.

    Spelled as net-snmp's flags: `user` (`-u`), `auth=(protocol, passphrase)` (`-a`, `-A`:
    MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512), `priv=(protocol, passphrase)` (`-x`, `-X`:
    DES, AES, AES-192, AES-256), `context` (`-n`), `level` (`-l`, default: the highest the
    keys allow), `context_engine_id` (`-E`) and `security_engine_id` (`-e`, skips discovery),
    as bytes or hex. Checked natively when made; `repr` never shows a passphrase.
    """

    user: str
    auth: tuple[str, str | bytes] | None = None
    priv: tuple[str, str | bytes] | None = None
    context: str = ""
    level: str | None = None
    context_engine_id: bytes | str | None = None
    security_engine_id: bytes | str | None = None
    _native: native.Usm = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        usm = native.Usm(
            self.user,
            _key(self.auth, "auth"),
            _key(self.priv, "priv"),
            self.level,
            self.context,
            _engine_id(self.context_engine_id, "context engine ID"),
            _engine_id(self.security_engine_id, "security engine ID"),
        )
        object.__setattr__(self, "level", usm.level)
        object.__setattr__(self, "_native", usm)

    @property
    def version(self) -> str:
        """Always `"v3"`."""
        return "v3"

    def __repr__(self) -> str:
        return repr(self._native)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            Usm,
            (
                self.user,
                self.auth,
                self.priv,
                self.context,
                self.level,
                self.context_engine_id,
                self.security_engine_id,
            ),
        )


@dataclass(frozen=True)
class Config:
    """Collection settings; unset (None) fields fall back to the manager's, then the defaults:
    retries 3, timeout 1.0 s, max_var_binds_per_pdu 25, max_sessions 256, no deadline,
    walk_mode "auto". `deadline` (seconds) limits a whole request, whatever its PDUs and
    retries: when it passes, the request ends with what it collected and a "deadline" error.
    `walk_mode` is how v2c walks ask for varbinds: "getbulk" or "getnext" only, or "auto"
    (GETBULK, and GETNEXT for an agent that answers no GETBULK at all, with a "bulk_fallback"
    warning in the response). Every field is checked once, natively, when the config is made:
    a bad value raises InvalidConfigError naming the field and the value."""

    retries: int | None = None
    timeout: float | None = None
    max_var_binds_per_pdu: int | None = None
    max_sessions: int | None = None
    deadline: float | None = None
    walk_mode: str | None = None
    _native: native.Config = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_native", native.Config(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (Config, tuple(getattr(self, f.name) for f in fields(self) if f.init))

    @classmethod
    def of(cls, value: ConfigLike | None) -> Config:
        """Accepts a Config, a dict of its fields, or None (nothing set)."""
        if value is None:
            return _NO_CONFIG
        if isinstance(value, Config):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {f.name for f in fields(cls) if f.init}
            if unknown:
                raise InvalidConfigError(f"unknown config field(s): {', '.join(sorted(unknown))}")
            return cls(**value)
        raise InvalidConfigError(f"expected a Config or a dict, not {value!r}")


_NO_CONFIG = Config()


@dataclass(frozen=True)
class OidRange:
    """Index range: `start` inclusive, `stop` inclusive with its subtree; None is open."""

    start: OidLike | None = None
    stop: OidLike | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", None if self.start is None else _oid_text(self.start))
        object.__setattr__(self, "stop", None if self.stop is None else _oid_text(self.stop))

    @classmethod
    def _canonical(cls, start: str | None, stop: str | None) -> OidRange:
        """A range of OIDs already in canonical text (from the native request): not parsed again."""
        rng = object.__new__(cls)
        object.__setattr__(rng, "start", start)
        object.__setattr__(rng, "stop", stop)
        return rng

    @classmethod
    def of(cls, value: RangeLike) -> OidRange:
        """Accepts an OidRange, a 2-tuple `(start, stop)` (always a range, so `(1, 48)` is
        1..=48), or a single index as a string, an int or a list of ints (a point range)."""
        if isinstance(value, OidRange):
            return value
        return cls(*_range_pair(value))


def _range_pair(value: RangeLike) -> tuple[OidLike | None, OidLike | None]:
    """A range as (start, stop), unparsed: the native request parses each bound once."""
    if isinstance(value, OidRange):
        return value.start, value.stop
    if isinstance(value, tuple) and len(value) == 2:
        start, stop = (str(v) if isinstance(v, int) else v for v in value)
        return start, stop
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, (str, list)):
        return value, value
    raise InvalidRangeError(f"expected an OidRange, (start, stop) or an index, not {value!r}")


@dataclass(frozen=True)
class SnmpRequest:
    """A GET or WALK of one or more root OIDs on one agent.

    `host` is what net-snmp takes: `"10.0.0.1"`, `"router:1161"`, `"udp6:[::1]:161"`,
    `"tcp:host:161"`. Equal requests compare equal, print readably and pickle. The request is
    checked once, natively, when it is made; `oids` and `ranges` hold the canonical forms.
    """

    kind: str
    host: str
    community: Community | Usm
    oids: tuple[str, ...]
    ranges: tuple[OidRange, ...] = ()
    req_id: bytes | None = None
    config: Config = field(default_factory=Config)
    _native: native.Request = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        kind: str,
        host: str,
        community: CommunityLike,
        oids: OidLike | Iterable[OidLike],
        ranges: Iterable[RangeLike] | None = None,
        req_id: str | bytes | None = None,
        config: ConfigLike | None = None,
    ) -> None:
        set_ = object.__setattr__
        community = Community.of(community)
        config = Config.of(config)
        req_id = req_id.encode() if isinstance(req_id, str) else req_id
        credentials = (
            community._native if isinstance(community, Usm) else (community.string, community.version)
        )
        request = native.Request(
            kind,
            host,
            credentials,
            _oid_list(oids),
            [_range_pair(r) for r in ranges] if ranges else [],
            req_id,
            config._native,
        )
        set_(self, "kind", kind)
        set_(self, "host", host)
        set_(self, "community", community)
        set_(self, "oids", tuple(request.oids))
        set_(self, "ranges", tuple(OidRange._canonical(*r) for r in request.ranges))
        set_(self, "req_id", req_id)
        set_(self, "config", config)
        set_(self, "_native", request)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            SnmpRequest,
            (self.kind, self.host, self.community, self.oids, self.ranges, self.req_id, self.config),
        )


@dataclass(frozen=True)
class SnmpError:
    """What went wrong while collecting one request (never raised: it is in the response)."""

    kind: str
    sys_errno: int
    snmp_errno: int
    err_stat: int
    err_index: int
    err_oid: str | None
    message: str


class VarBind(NamedTuple):
    """One varbind of a response, as `SnmpResponse.varbinds()` gives it: `oid` the full OID
    (`.1.3.6...`), `type` net-snmp's type name (`INTEGER`, `STRING`, `OID`, `IpAddress`,
    `Counter32`, `Gauge32`, `Timeticks`, `Counter64`, `Opaque`, `NULL`, `noSuchObject`,
    `noSuchInstance`, `endOfMibView`), `value` an int for numbers, bytes for STRING and Opaque,
    the dotted text of an OID (`.1.3...`) or IpAddress, None for NULL and the exceptions."""

    oid: str
    type: str
    value: int | bytes | str | None


@dataclass(frozen=True, eq=False)
class SnmpResponse:
    """The outcome of one request: `status` is "successful", "done_with_errors" or "failed";
    `results` is the result buffer (docs/FORMAT.md) as a numpy uint8 array owning the native
    allocation (no copy); `elapsed` is how long the request took, in seconds (host name
    lookup, PDUs and retries): which targets are slow. Equality ignores `elapsed`."""

    request: SnmpRequest
    status: str
    results: npt.NDArray[np.uint8]
    errors: tuple[SnmpError, ...]
    elapsed: float = 0.0

    @property
    def req_id(self) -> bytes | None:
        return self.request.req_id

    @property
    def host(self) -> str:
        return self.request.host

    def varbinds(self) -> list[VarBind]:
        """Every varbind of the result, decoded natively in one call (for reading values; the
        parser turns tables into columns without a Python object per value)."""
        return list(map(VarBind._make, native.decode_varbinds(self.results)))

    def text(self) -> str:
        """The varbinds as `snmpwalk -On` prints them: one `OID = TYPE: value` line each, in
        net-snmp's value format (`STRING: "eth0"`, `Hex-STRING: 00 1A ...`, `Timeticks: ...`)."""
        return native.format_varbinds(self.results)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SnmpResponse):
            return NotImplemented
        return (self.request, self.status, self.errors) == (
            other.request,
            other.status,
            other.errors,
        ) and bool(np.array_equal(self.results, other.results))

    def __hash__(self) -> int:
        return hash((self.request, self.status, self.errors, self.results.tobytes()))

    def __repr__(self) -> str:
        return (
            f"SnmpResponse(host={self.host!r}, req_id={self.req_id!r}, status={self.status!r}, "
            f"results=<{self.results.size} bytes>, errors={list(self.errors)!r}, elapsed={self.elapsed:.3f})"
        )


NativeErrors = list[tuple[str, int, int, int, int, Union[str, None], str]]


def _response(
    request: SnmpRequest,
    status: str,
    results: npt.NDArray[np.uint8],
    errors: NativeErrors,
    elapsed: float,
) -> SnmpResponse:
    """Builds a response from the native module's tuple."""
    return SnmpResponse(request, status, results, tuple(SnmpError(*e) for e in errors), elapsed)


class SessionManager:
    """The low-level API: queue requests with `add_request`, then call `run()` until it
    returns None. Each `run()` drives every session (GIL released) until at least one request
    completes, and returns the completed responses. A manager may be shared between threads:
    requests added while another thread runs it start within 0.1 s."""

    def __init__(self, config: ConfigLike | None = None) -> None:
        self.config = Config.of(config)
        self._native = native.SessionManager(self.config._native)

    def add_request(self, request: SnmpRequest) -> None:
        if not isinstance(request, SnmpRequest):
            raise TypeError(f"expected an SnmpRequest, not {type(request).__name__}")
        self._native.add_request(request._native, request)

    def run(self) -> list[SnmpResponse] | None:
        completed = self._native.run()
        if completed is None:
            return None
        return [_response(*response) for response in completed]

    def run_all(self) -> list[SnmpResponse]:
        """Runs until every queued request has completed."""
        responses: list[SnmpResponse] = []
        while (batch := self.run()) is not None:
            responses.extend(batch)
        return responses


def _many(
    kind: str,
    hosts: Iterable[str],
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None,
    config: ConfigLike | None,
) -> list[SnmpResponse]:
    oid_list, range_list = _oid_list(oids), list(ranges or ())
    requests = [SnmpRequest(kind, host, community, oid_list, range_list, host, config) for host in hosts]
    manager = SessionManager(config)
    for request in requests:
        manager.add_request(request)
    by_request = {id(r.request): r for r in manager.run_all()}
    return [by_request[id(request)] for request in requests]


def get_many(
    hosts: Iterable[str],
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    config: ConfigLike | None = None,
) -> list[SnmpResponse]:
    """GETs the same OIDs from many agents in parallel; responses in the order of `hosts`,
    each with the host as its req_id. `config` (e.g. `max_sessions`) applies to the run."""
    return _many(GET, hosts, community, oids, ranges, config)


def walk_many(
    hosts: Iterable[str],
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    config: ConfigLike | None = None,
) -> list[SnmpResponse]:
    """Walks the same subtrees on many agents in parallel; responses in the order of `hosts`,
    each with the host as its req_id."""
    return _many(WALK, hosts, community, oids, ranges, config)


def _single(
    kind: str,
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None,
    req_id: str | bytes | None,
    config: ConfigLike | None,
) -> SnmpResponse:
    manager = SessionManager()
    manager.add_request(SnmpRequest(kind, host, community, oids, ranges, req_id, config))
    (response,) = manager.run_all()
    return response


def get(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """GETs `oids` (with each point index range appended) from one agent."""
    return _single(GET, host, community, oids, ranges, req_id, config)


def walk(
    host: str,
    community: CommunityLike,
    oids: OidLike | Iterable[OidLike],
    ranges: Iterable[RangeLike] | None = None,
    req_id: str | bytes | None = None,
    config: ConfigLike | None = None,
) -> SnmpResponse:
    """Walks the subtrees of `oids` (within the index ranges) on one agent: GETBULK on v2c,
    GETNEXT on v1. A root with nothing under it (a leaf such as sysName.0) is fetched with a
    GET, as snmpwalk does."""
    return _single(WALK, host, community, oids, ranges, req_id, config)


def usm_counters() -> dict[str, int]:
    """How often this process ran SNMPv3's expensive steps: `key_derivations` (a passphrase
    made into a key, about 1 MB of hashing, once per protocol and passphrase), `localizations`
    (a key localised to an agent's engine ID, once per engine and user) and `discoveries`
    (engine-ID probes, once per agent); how responses were read: `fast_responses` (checked,
    decrypted and decoded by snmp-stream) and `net_snmp_parsed` (reports, and whatever the fast
    path did not take, left to net-snmp); and how requests were built: `fast_requests`
    (encoded, encrypted and signed by snmp-stream) and `net_snmp_built` (discovery probes and
    whatever the fast path did not take)."""
    derivations, localizations, discoveries, fast, parsed, built_here, built = native.usm_counters()
    return {
        "key_derivations": derivations,
        "localizations": localizations,
        "discoveries": discoveries,
        "fast_responses": fast,
        "net_snmp_parsed": parsed,
        "fast_requests": built_here,
        "net_snmp_built": built,
    }
