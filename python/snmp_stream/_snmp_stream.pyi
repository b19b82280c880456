"""Type stubs of the native module (kept honest by mypy.stubtest)."""

from collections.abc import Sequence
from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str

__all__ = [
    "COPY_PREFIX_COLUMNS",
    "COPY_VARBIND_COLUMNS",
    "Collector",
    "Config",
    "Request",
    "SessionManager",
    "Usm",
    "__version__",
    "copy_table",
    "copy_varbinds",
    "counter_rates",
    "decode_varbinds",
    "format_varbinds",
    "format_version",
    "parse_oid",
    "parse_table",
    "parse_varbinds",
    "string_views",
    "usm_counters",
]

_OidLike = str | Sequence[int]
_ErrorTuple = tuple[str, int, int, int, int, str | None, str]
_ResponseTuple = tuple[Any, str, npt.NDArray[np.uint8], list[_ErrorTuple], float]

def parse_oid(text: _OidLike) -> list[int]: ...
def format_version() -> int: ...
def decode_varbinds(
    buffer: npt.NDArray[np.uint8] | bytes,
) -> list[tuple[str, str, int | str | bytes | None]]: ...
def counter_rates(
    previous: Sequence[tuple[str, npt.NDArray[np.uint8] | bytes]],
    current: Sequence[tuple[str, npt.NDArray[np.uint8] | bytes]],
    max_rate: float | None = None,
) -> tuple[npt.NDArray[np.uint32], list[tuple[str, npt.NDArray[Any]]]]: ...
def format_varbinds(buffer: npt.NDArray[np.uint8] | bytes) -> str: ...
def parse_table(
    index: Sequence[tuple[str, str, int | str, str]],
    columns: Sequence[tuple[str, _OidLike, str]],
    buffers: Sequence[npt.NDArray[np.uint8] | bytes],
    raw: bool = False,
) -> tuple[
    npt.NDArray[np.uint32],
    list[bytes],
    list[tuple[str, str, Any, npt.NDArray[np.bool_]]],
]: ...
def string_views(
    offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]
) -> npt.NDArray[np.uint8] | None: ...
def parse_varbinds(
    buffers: Sequence[npt.NDArray[np.uint8] | bytes],
    raw: bool = False,
) -> tuple[npt.NDArray[np.uint32], list[bytes], list[tuple[str, str, Any, npt.NDArray[np.bool_]]]]: ...

COPY_PREFIX_COLUMNS: list[tuple[str, str]]
COPY_VARBIND_COLUMNS: list[tuple[str, str]]

def copy_table(
    index: Sequence[tuple[str, str, int | str, str]],
    columns: Sequence[tuple[str, _OidLike, str]],
    types: Sequence[str],
    buffers: Sequence[npt.NDArray[np.uint8] | bytes],
    result_ids: Sequence[str],
    hosts: Sequence[str],
) -> npt.NDArray[np.uint8]: ...
def copy_varbinds(
    buffers: Sequence[npt.NDArray[np.uint8] | bytes],
    result_ids: Sequence[str],
    hosts: Sequence[str],
) -> npt.NDArray[np.uint8]: ...

@final
class Config:
    def __new__(cls, source: Any) -> Config: ...

@final
class Request:
    def __new__(
        cls,
        kind: str,
        host: str,
        credentials: tuple[str, str] | Usm,
        oids: Sequence[_OidLike],
        ranges: Sequence[tuple[_OidLike | None, _OidLike | None]],
        req_id: bytes | None,
        config: Config,
    ) -> Request: ...
    @property
    def oids(self) -> list[str]: ...
    @property
    def ranges(self) -> list[tuple[str | None, str | None]]: ...
    def normalized_ranges(self) -> list[tuple[list[int] | None, list[int] | None]]: ...

@final
class Usm:
    def __new__(
        cls,
        user: str,
        auth: tuple[str, bytes] | None = None,
        privacy: tuple[str, bytes] | None = None,
        level: str | None = None,
        context: str = "",
        context_engine_id: bytes | None = None,
        security_engine_id: bytes | None = None,
    ) -> Usm: ...
    @property
    def level(self) -> str: ...
    @property
    def auth_protocol(self) -> str | None: ...
    @property
    def priv_protocol(self) -> str | None: ...

def usm_counters() -> tuple[int, int, int, int, int, int, int]: ...

@final
class SessionManager:
    def __new__(cls, config: Config) -> SessionManager: ...
    def add_request(self, request: Request, submitted: Any) -> None: ...
    def run(self) -> list[_ResponseTuple] | None: ...
    def queued(self) -> int: ...
    def in_flight(self) -> int: ...

@final
class Collector:
    def __new__(cls, config: Config, queue_capacity: int = 1024) -> Collector: ...
    def submit(self, request: Request, submitted: Any) -> None: ...
    def try_submit(self, request: Request, submitted: Any) -> bool: ...
    def receive(self, timeout: float | None = None) -> _ResponseTuple | None: ...
    def try_receive(self) -> _ResponseTuple | None: ...
    def fileno(self) -> int: ...
    def clear_ready(self) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...
