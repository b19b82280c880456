"""The exceptions snmp-stream raises for misuse.

Network and agent problems are never exceptions: they are `SnmpError` entries in the
response of the request concerned.
"""

from __future__ import annotations

__all__ = [
    "BufferFormatError",
    "CollectorClosedError",
    "InvalidCommunityError",
    "InvalidConfigError",
    "InvalidCredentialsError",
    "InvalidHostError",
    "InvalidInputError",
    "InvalidOidError",
    "InvalidRangeError",
    "InvalidRequestError",
    "InvalidSpecError",
    "MissingDependencyError",
    "SnmpStreamError",
]


class SnmpStreamError(Exception):
    """The base of every exception snmp-stream raises."""


class InvalidInputError(SnmpStreamError, ValueError):
    """Bad input: the message names the value and what is wrong with it."""


class InvalidOidError(InvalidInputError):
    """An OID that is not dotted-decimal (or a sequence of ints), or is too long."""


class InvalidRangeError(InvalidInputError):
    """An index range whose start lies after its stop, or a range a GET cannot take."""


class InvalidHostError(InvalidInputError):
    """A host net-snmp cannot take (empty, blanks, bad port, unknown transport)."""


class InvalidCommunityError(InvalidInputError):
    """An empty or over-long community string, or an unknown SNMP version."""


class InvalidCredentialsError(InvalidInputError):
    """SNMPv3 credentials that cannot be used: an unknown protocol or level, a passphrase
    shorter than 8 bytes, a level the keys do not allow, an unknown credentials name. The
    message never contains a passphrase."""


class InvalidConfigError(InvalidInputError):
    """A configuration value out of range."""


class InvalidRequestError(InvalidInputError):
    """A request that cannot be sent as given (no OIDs, ambiguous roots, ...)."""


class CollectorClosedError(SnmpStreamError):
    """The collector was closed and takes no more requests."""


class InvalidSpecError(InvalidInputError):
    """A table spec that cannot be applied (unknown value kind, bad index length, ...)."""


class BufferFormatError(SnmpStreamError, ValueError):
    """A result buffer that is truncated, corrupted or of an unknown format version; the
    message names the buffer, the byte offset and the problem."""


class MissingDependencyError(SnmpStreamError, ImportError):
    """An optional dependency is not installed: the message names the extra that brings it
    (`pip install 'snmp-stream[cli]'`, ...)."""
