"""Named SNMPv3 credentials, kept on the machine that collects.

Targets files and bus request messages name credentials (`credentials: core`) instead of
carrying passphrases, so those files can be shared and the messages travel without secrets.
The collecting machine (`snmp-stream collect --credentials FILE`, `snmp-stream worker
--credentials FILE`) resolves the names from:

- a credentials file, YAML or JSON: a mapping of names to entries

      core:
        user: monitor
        auth: [SHA-256, "the auth passphrase"]     # or {protocol: SHA-256, passphrase: ...}
        priv: [AES, "the priv passphrase"]
        context: ""                                # optional, as level, context_engine_id,
      edge:                                        # security_engine_id
        user: edge-ro
        auth: {protocol: SHA, passphrase_env: EDGE_AUTH_PASS}   # the passphrase from a variable

  given with `--credentials FILE` or the `SNMP_STREAM_CREDENTIALS` variable;
- environment variables `SNMP_STREAM_USM_<NAME>_USER` (which declares NAME), with
  `..._AUTH_PROTOCOL`, `..._AUTH_PASSPHRASE`, `..._PRIV_PROTOCOL`, `..._PRIV_PASSPHRASE`,
  `..._CONTEXT`, `..._LEVEL`, `..._CONTEXT_ENGINE_ID`, `..._SECURITY_ENGINE_ID`. They take
  precedence over a file entry of the same name.

Names are case-insensitive (letters, digits, `_`, `-`). Errors name the file or variable, the
entry and the field, never a passphrase.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from snmp_stream._api import Usm
from snmp_stream._extras import require
from snmp_stream.errors import InvalidCredentialsError

__all__ = ["ENV_FILE", "ENV_PREFIX", "CredentialStore", "load_credentials"]

ENV_FILE = "SNMP_STREAM_CREDENTIALS"
ENV_PREFIX = "SNMP_STREAM_USM_"
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENTRY_FIELDS = {"user", "auth", "priv", "context", "level", "context_engine_id", "security_engine_id"}
ENV_FIELDS = (
    "USER",
    "AUTH_PROTOCOL",
    "AUTH_PASSPHRASE",
    "PRIV_PROTOCOL",
    "PRIV_PASSPHRASE",
    "CONTEXT",
    "LEVEL",
    "CONTEXT_ENGINE_ID",
    "SECURITY_ENGINE_ID",
)


class CredentialStore(Mapping[str, Usm]):
    """Credentials by name (lowercase), and where they came from (for messages)."""

    def __init__(self, entries: Mapping[str, Usm] | None = None, sources: str = "none") -> None:
        self._entries = {name.lower(): usm for name, usm in (entries or {}).items()}
        self.sources = sources

    def __getitem__(self, name: str) -> Usm:
        return self._entries[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"CredentialStore({sorted(self._entries)}, from {self.sources})"

    def resolve(self, name: str) -> Usm:
        """The credentials called `name`; `InvalidCredentialsError` naming the known ones if
        there are none by that name."""
        try:
            return self[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise InvalidCredentialsError(
                f"unknown credentials {name!r} (known here: {known}; from {self.sources})"
            ) from None


def _key(
    entry: Mapping[str, Any], key: str, where: str, environ: Mapping[str, str]
) -> tuple[str, str] | None:
    value = entry.get(key)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2:
        protocol, passphrase = value
    elif isinstance(value, dict):
        unknown = set(value) - {"protocol", "passphrase", "passphrase_env"}
        if unknown:
            raise InvalidCredentialsError(f"{where}: {key}: unknown field(s) {', '.join(sorted(unknown))}")
        protocol = value.get("protocol")
        if "passphrase_env" in value:
            variable = str(value["passphrase_env"])
            if variable not in environ:
                raise InvalidCredentialsError(f"{where}: {key}: the variable {variable} is not set")
            passphrase = environ[variable]
        else:
            passphrase = value.get("passphrase")
    else:
        raise InvalidCredentialsError(
            f"{where}: {key} takes [protocol, passphrase] or {{protocol: ..., passphrase: ...}}"
        )
    if not isinstance(protocol, str) or not isinstance(passphrase, str):
        raise InvalidCredentialsError(f"{where}: {key} needs a protocol and a passphrase, as text")
    return (protocol, passphrase)


def _usm(entry: Any, where: str, environ: Mapping[str, str]) -> Usm:
    if not isinstance(entry, dict):
        raise InvalidCredentialsError(f"{where}: expected a mapping with at least 'user'")
    unknown = set(entry) - ENTRY_FIELDS
    if unknown:
        raise InvalidCredentialsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not entry.get("user"):
        raise InvalidCredentialsError(f"{where}: 'user' is missing")
    try:
        return Usm(
            str(entry["user"]),
            auth=_key(entry, "auth", where, environ),
            priv=_key(entry, "priv", where, environ),
            context=str(entry.get("context") or ""),
            level=str(entry["level"]) if entry.get("level") else None,
            context_engine_id=entry.get("context_engine_id"),
            security_engine_id=entry.get("security_engine_id"),
        )
    except InvalidCredentialsError as error:
        raise InvalidCredentialsError(f"{where}: {error}") from None


def _from_file(path: Path, environ: Mapping[str, str]) -> dict[str, Usm]:
    try:
        text = path.read_text()
    except OSError as error:
        raise InvalidCredentialsError(f"cannot read the credentials file {path}: {error.strerror}") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidCredentialsError(f"{path}: not valid JSON (line {error.lineno})") from None
    else:
        require("yaml", what="a YAML credentials file", extra="cli")
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            # The parser's message quotes the text around the error: keep only where it is.
            mark = getattr(error, "problem_mark", None)
            at = f" (line {mark.line + 1})" if mark is not None else ""
            raise InvalidCredentialsError(f"{path}: not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidCredentialsError(f"{path}: expected a mapping of names to credentials")
    entries = {}
    for name, entry in data.items():
        if not NAME.match(str(name)):
            raise InvalidCredentialsError(f"{path}: {name!r} is not a name (letters, digits, '_', '-')")
        entries[str(name).lower()] = _usm(entry, f"{path}: {name}", environ)
    return entries


def _from_environment(environ: Mapping[str, str]) -> dict[str, Usm]:
    entries = {}
    for variable in sorted(environ):
        if not (variable.startswith(ENV_PREFIX) and variable.endswith("_USER")):
            continue
        name = variable[len(ENV_PREFIX) : -len("_USER")]
        if not NAME.match(name):
            continue
        prefix = f"{ENV_PREFIX}{name}_"

        def get(field: str, prefix: str = prefix) -> str | None:
            value = environ.get(prefix + field)
            return value if value else None

        entry: dict[str, Any] = {"user": get("USER")}
        for key in ("auth", "priv"):
            protocol, passphrase = get(f"{key.upper()}_PROTOCOL"), get(f"{key.upper()}_PASSPHRASE")
            if passphrase is not None:
                entry[key] = [protocol or ("MD5" if key == "auth" else "DES"), passphrase]
            elif protocol is not None:
                raise InvalidCredentialsError(f"{prefix}{key.upper()}_PROTOCOL is set without a passphrase")
        for key in ("context", "level", "context_engine_id", "security_engine_id"):
            if get(key.upper()) is not None:
                entry[key] = get(key.upper())
        entries[name.lower()] = _usm(entry, f"{prefix}*", environ)
    return entries


def load_credentials(path: str | None = None, environ: Mapping[str, str] | None = None) -> CredentialStore:
    """The credentials of this machine: from `path` (or the file `$SNMP_STREAM_CREDENTIALS`
    names), then `SNMP_STREAM_USM_<NAME>_*` variables, which win over a file entry."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_FILE) or None
    entries: dict[str, Usm] = {}
    sources = []
    if path:
        entries.update(_from_file(Path(path), environ))
        sources.append(str(path))
    from_environment = _from_environment(environ)
    if from_environment:
        entries.update(from_environment)
        sources.append(f"{ENV_PREFIX}* variables")
    return CredentialStore(entries, " and ".join(sources) or "no credentials file or variables")
