"""Optional dependencies: which extra of the package brings each one, and a clear error
(naming that extra) instead of `No module named ...` when one is missing."""

from __future__ import annotations

import importlib

from snmp_stream.errors import MissingDependencyError

# module -> (package to install, the extra of snmp-stream that brings it)
EXTRAS = {
    "pandas": ("pandas", "pandas"),
    "pyarrow": ("pyarrow", "arrow"),
    "polars": ("polars", "polars"),
    "rich": ("rich", "cli"),
    "yaml": ("pyyaml", "cli"),
    "psycopg": ("psycopg", "bus"),
    "nats": ("nats-py", "bus"),
    "nkeys": ("nkeys", "bus"),
    "prometheus_client": ("prometheus-client", "bus"),
}


def require(*modules: str, what: str, extra: str | None = None) -> None:
    """Imports `modules`; MissingDependencyError naming the package and the extra to install
    (`what` says what needs it; `extra` the extra that brings all it needs, else the module's
    own) for the first one missing."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError:
            package, own = EXTRAS[module]
            raise MissingDependencyError(
                f"{what} needs the Python package {package!r}, which is not installed:"
                f" pip install 'snmp-stream[{extra or own}]' (or 'snmp-stream[all]' for everything)"
            ) from None
