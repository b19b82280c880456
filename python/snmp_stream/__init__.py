"""snmp-stream: fast parallel SNMPv1/v2c collection over net-snmp.

Collection runs in native code with the GIL released; each request's varbinds come back as one
numpy uint8 buffer (format: docs/FORMAT.md) instead of a Python object per varbind.
"""

from snmp_stream import aio, parse, recipes
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
    VarBind,
    get,
    get_many,
    walk,
    walk_many,
)
from snmp_stream._snmp_stream import __version__, format_version
from snmp_stream._stream import Collector, stream
from snmp_stream.errors import (
    BufferFormatError,
    CollectorClosedError,
    InvalidCommunityError,
    InvalidConfigError,
    InvalidHostError,
    InvalidInputError,
    InvalidOidError,
    InvalidRangeError,
    InvalidRequestError,
    InvalidSpecError,
    SnmpStreamError,
)
from snmp_stream.parse import to_arrow, to_numpy, to_pandas, to_polars

__all__ = [
    "DONE_WITH_ERRORS",
    "FAILED",
    "GET",
    "SUCCESSFUL",
    "WALK",
    "BufferFormatError",
    "Collector",
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
    "InvalidSpecError",
    "OidRange",
    "SessionManager",
    "SnmpError",
    "SnmpRequest",
    "SnmpResponse",
    "SnmpStreamError",
    "VarBind",
    "__version__",
    "aio",
    "format_version",
    "get",
    "get_many",
    "parse",
    "recipes",
    "stream",
    "to_arrow",
    "to_numpy",
    "to_pandas",
    "to_polars",
    "walk",
    "walk_many",
]
