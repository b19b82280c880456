"""snmp-stream: fast parallel SNMPv1/v2c collection over net-snmp.

Collection runs in native code with the GIL released; each request's varbinds come back as one
numpy uint8 buffer (format: docs/FORMAT.md) instead of a Python object per varbind.
"""

from snmp_stream._api import (
    DONE_WITH_ERRORS,
    FAILED,
    GET,
    SUCCESSFUL,
    WALK,
    Community,
    Config,
    OidRange,
    SessionManager,
    SnmpError,
    SnmpRequest,
    SnmpResponse,
    get,
    walk,
)
from snmp_stream._snmp_stream import format_version
from snmp_stream.errors import (
    CollectorClosedError,
    InvalidCommunityError,
    InvalidConfigError,
    InvalidHostError,
    InvalidInputError,
    InvalidOidError,
    InvalidRangeError,
    InvalidRequestError,
    SnmpStreamError,
)

__all__ = [
    "DONE_WITH_ERRORS",
    "FAILED",
    "GET",
    "SUCCESSFUL",
    "WALK",
    "CollectorClosedError",
    "Community",
    "Config",
    "InvalidCommunityError",
    "InvalidConfigError",
    "InvalidHostError",
    "InvalidInputError",
    "InvalidOidError",
    "InvalidRangeError",
    "InvalidRequestError",
    "OidRange",
    "SessionManager",
    "SnmpError",
    "SnmpRequest",
    "SnmpResponse",
    "SnmpStreamError",
    "format_version",
    "get",
    "walk",
]
