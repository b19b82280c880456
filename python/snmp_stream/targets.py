"""Targets files: the agents to collect from and what to collect from each, in YAML (a list,
or a `targets:` list), CSV (a header row) or JSON lines. Used by `snmp-stream collect` (which
collects them at once) and `snmp-stream schedule` (which publishes them to the bus on a
schedule). Errors name the file, the line or target, and the problem.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import snmp_stream
from snmp_stream import recipes
from snmp_stream._extras import require
from snmp_stream.credentials import CredentialStore
from snmp_stream.errors import SnmpStreamError
from snmp_stream.parse import Table

__all__ = ["TABLES", "Target", "UsageError", "bus_messages", "load_targets", "read_tables", "read_targets"]


class UsageError(Exception):
    """Bad input from the command line or a targets file: printed, exit status 2."""


TABLES = recipes.BY_NAME


@dataclass
class Target:
    """One agent to collect from, as a targets file describes it."""

    host: str
    community: str = "public"
    version: str = "v2c"
    # SNMPv3: the name of credentials kept on the collecting machine (credentials.py), and
    # once resolved there, the credentials themselves.
    credentials: str | None = None
    usm: snmp_stream.Usm | None = field(default=None, repr=False, compare=False)
    tables: list[str] = field(default_factory=list)
    walk: list[str] = field(default_factory=list)
    get: list[str] = field(default_factory=list)
    timeout: float | None = None
    retries: int | None = None
    deadline: float | None = None
    walk_mode: str | None = None
    domain: str | None = None
    # Tables declared with the targets (a targets file's `tables:`, `collect --tables`), by
    # lowercase name; they take precedence over the recipes of the same name.
    declared: Mapping[str, Table] = field(default_factory=dict, repr=False, compare=False)

    def spec(self, name: str) -> Table:
        """The table a name in `tables` stands for: declared with the targets, or a recipe."""
        return self.declared.get(name.lower()) or TABLES[name.lower()]

    def requests(self, number: int, max_repetitions: int | None) -> list[snmp_stream.SnmpRequest]:
        config = _config(self, max_repetitions)
        community: snmp_stream.Usm | tuple[str, str] = (self.community, self.version)
        if self.credentials is not None:
            if self.usm is None:
                raise UsageError(f"{self.host}: credentials {self.credentials!r} are not resolved here")
            community = self.usm
        out = []
        for name in self.tables:
            table = self.spec(name)
            kind = "get" if not table.index else "walk"
            out.append(
                snmp_stream.SnmpRequest(
                    kind, self.host, community, table.oids, req_id=f"{number}/{name.lower()}", config=config
                )
            )
        if self.walk:
            out.append(
                snmp_stream.SnmpRequest(
                    "walk", self.host, community, self.walk, req_id=f"{number}/walk", config=config
                )
            )
        if self.get:
            out.append(
                snmp_stream.SnmpRequest(
                    "get", self.host, community, self.get, req_id=f"{number}/get", config=config
                )
            )
        return out


def _config(target: Target, max_repetitions: int | None) -> dict[str, Any]:
    return {
        key: value
        for key, value in (
            ("timeout", target.timeout),
            ("retries", target.retries),
            ("deadline", target.deadline),
            ("walk_mode", target.walk_mode),
            ("max_var_binds_per_pdu", max_repetitions),
        )
        if value is not None
    }


def bus_messages(target: Target, slot: str, max_repetitions: int | None = None) -> list[tuple[str, bytes]]:
    """The bus request messages for one round (`slot`, e.g. the interval's start time) of a
    target, as (subject suffix, JSON): one per table, one for `walk`, one for `get`. Their
    req_ids are `host/table/slot`, the same for every scheduler that publishes that round."""
    from snmp_stream.bus.schema import request_message

    # Named credentials travel by name; their secrets stay on the collecting machines.
    common: dict[str, Any] = (
        {"credentials": target.credentials}
        if target.credentials is not None
        else {"community": target.community, "version": target.version}
    )
    config = _config(target, max_repetitions)
    if config:
        common["config"] = config
    out = []
    for name in target.tables:
        table = name.lower()
        out.append(
            (
                table,
                request_message(target.host, table=table, req_id=f"{target.host}/{table}/{slot}", **common),
            )
        )
    for kind, oids in (("walk", target.walk), ("get", target.get)):
        if oids:
            message = request_message(
                target.host, kind=kind, oids=oids, req_id=f"{target.host}/{kind}/{slot}", **common
            )
            out.append((kind, message))
    return out


def _target(
    entry: Any,
    where: str,
    lines: Mapping[str, int] | None = None,
    declared: Mapping[str, Table] | None = None,
    credentials: CredentialStore | None = None,
) -> Target:
    """A Target from one parsed entry (dict), with errors naming where it came from: `where`,
    or for a field whose line is in `lines` (YAML), that line. Named credentials are resolved
    from `credentials` when given (to collect), else only checked to be a name (to publish)."""

    def at(key: str) -> str:
        return f"{where.split(': ')[0]}: line {lines[key]}" if lines and key in lines else where

    if isinstance(entry, str):
        entry = {"host": entry}
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a mapping with at least 'host', not {entry!r}")
    unknown = set(entry) - {
        "host",
        "community",
        "version",
        "credentials",
        "tables",
        "walk",
        "oids",
        "get",
        "timeout",
        "retries",
        "deadline",
        "walk_mode",
        "domain",
    }
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not entry.get("host"):
        raise UsageError(f"{where}: 'host' is missing")

    def listed(key: str) -> list[str]:
        value = entry.get(key) or []
        if isinstance(value, str):
            value = [v for v in value.replace(";", " ").replace(",", " ").split() if v]
        elif not isinstance(value, list):
            value = [value]
        for item in value:
            if isinstance(item, (dict, list)):
                raise UsageError(f"{at(key)}: {key} takes names or OIDs, not {item!r}")
        return [str(v) for v in value]

    name = entry.get("credentials")
    if name not in (None, ""):
        if entry.get("community") not in (None, "") or str(entry.get("version") or "v3").lower() not in (
            "3",
            "v3",
        ):
            raise UsageError(
                f"{at('credentials')}: give credentials (SNMPv3) or a community and version, not both"
            )
        if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
            raise UsageError(
                f"{at('credentials')}: credentials take a name (letters, digits, '-', '_'), not {name!r}"
            )
    target = Target(
        host=str(entry["host"]),
        community=str(entry.get("community") or "public"),
        version=str(entry.get("version") or "v2c") if name in (None, "") else "v3",
        credentials=name if name not in (None, "") else None,
        tables=listed("tables"),
        walk=listed("walk") + listed("oids"),
        get=listed("get"),
        timeout=_number(entry, "timeout", float, at("timeout")),
        retries=_number(entry, "retries", int, at("retries")),
        deadline=_number(entry, "deadline", float, at("deadline")),
        walk_mode=str(entry["walk_mode"]) if entry.get("walk_mode") not in (None, "") else None,
        domain=str(entry["domain"]) if entry.get("domain") not in (None, "") else None,
        declared=declared or {},
    )
    if target.domain is not None and not target.domain.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"{at('domain')}: domain {target.domain!r} must be letters, digits, '-' or '_'")
    known = {**TABLES, **target.declared}
    for name in target.tables:
        if name.lower() not in known:
            raise UsageError(f"{at('tables')}: unknown table {name!r} (known: {', '.join(sorted(known))})")
    if not (target.tables or target.walk or target.get):
        target.tables = ["system", "interfaces"]
    if target.credentials is not None:
        try:
            # Publishing needs only the name; a placeholder user checks the rest.
            target.usm = credentials.resolve(target.credentials) if credentials is not None else None
        except SnmpStreamError as error:
            raise UsageError(f"{at('credentials')}: {error}") from None
    try:  # validate now, so a bad OID or host is reported with its line
        if target.credentials is not None and target.usm is None:
            dataclasses.replace(target, usm=snmp_stream.Usm("placeholder")).requests(0, None)
        else:
            target.requests(0, None)
    except SnmpStreamError as error:
        field_name = str(error).removeprefix("invalid config ").split(":")[0]
        raise UsageError(f"{at(field_name)}: {error}") from None
    return target


def _number(entry: dict[str, Any], key: str, kind: type[int] | type[float], where: str) -> Any:
    """`entry[key]` as an int or a float (CSV gives text), None when absent or empty; the
    range is checked with the request's config."""
    value = entry.get(key)
    if value in (None, ""):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise UsageError(f"{where}: {key} {value!r} is not {what}") from None


def _declared(specs: object, where: str) -> dict[str, Table]:
    """Tables declared as data (docs/PARSER.md), a mistake as a UsageError naming it."""
    from snmp_stream.errors import InvalidSpecError
    from snmp_stream.parse import tables_from_dict

    try:
        return tables_from_dict(specs, where)
    except InvalidSpecError as error:
        raise UsageError(str(error)) from None


def read_tables(path: str) -> dict[str, Table]:
    """The tables declared in a YAML file (`tables:`, or the mapping itself)."""
    require("yaml", what="declared tables (YAML)", extra="cli")
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML: {error}") from None
    return _declared(data, Path(path).name)


def _yaml_with_lines(text: str, name: str) -> tuple[Any, dict[int, tuple[int, dict[str, int]]]]:
    """The YAML document, and for each mapping in it (by id) its line and its keys' lines."""
    require("yaml", what="a YAML targets file", extra="cli")
    import yaml

    lines: dict[int, tuple[int, dict[str, int]]] = {}

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        value = loader.construct_mapping(node, deep=True)
        keys = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
        lines[id(value)] = (node.start_mark.line + 1, keys)
        return value

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    try:
        return yaml.load(text, Loader=Loader), lines
    except yaml.YAMLError as error:
        raise UsageError(f"{name}: not valid YAML: {error}") from None


def load_targets(
    text: str,
    fmt: str,
    name: str = "targets",
    tables: Mapping[str, Table] | None = None,
    credentials: CredentialStore | None = None,
) -> list[Target]:
    """Targets from YAML (a list, or {targets: [...]} with optional `tables:` declarations, as
    docs/PARSER.md describes), CSV (a header row) or JSON lines. `tables`: more declared
    tables (a YAML file's own declarations come on top). `credentials`: where the targets'
    named SNMPv3 credentials are resolved (None: names are kept, for publishing)."""
    declared = dict(tables or {})
    if fmt in ("yaml", "yml", "json"):
        data, lines = _yaml_with_lines(text, name)
        if isinstance(data, dict):
            if data.get("tables") is not None:
                declared.update(_declared(data["tables"], f"{name}: tables"))
            data = data.get("targets")
        if not isinstance(data, list):
            raise UsageError(f"{name}: expected a list of targets (or a 'targets:' list)")
        targets = []
        for i, entry in enumerate(data):
            starts, fields = lines.get(id(entry), (0, {}))
            where = f"{name}: line {starts}" if starts else f"{name}: target {i + 1}"
            targets.append(_target(entry, where, fields, declared, credentials))
        return targets
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(text))
        return [
            _target(
                {k: v for k, v in row.items() if v not in (None, "")},
                f"{name}: line {rows.line_num}",
                None,
                declared,
                credentials,
            )
            for row in rows
        ]
    if fmt == "jsonl":
        targets = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as error:
                    raise UsageError(f"{name}: line {number}: not JSON: {error.msg}") from None
                targets.append(_target(entry, f"{name}: line {number}", None, declared, credentials))
        return targets
    raise UsageError(f"unknown targets format {fmt!r} (yaml, csv or jsonl)")


def read_targets(
    source: str,
    fmt: str | None = None,
    tables: Mapping[str, Table] | None = None,
    credentials: CredentialStore | None = None,
) -> list[Target]:
    """Targets from a file (format by suffix unless `fmt`) or from stdin (`-`, JSON lines
    unless `fmt`); at least one. `tables`: declared tables they may name; `credentials`: as
    in `load_targets`."""
    if source == "-":
        text, name = sys.stdin.read(), "stdin"
        fmt = fmt or "jsonl"
    else:
        path = Path(source)
        try:
            text = path.read_text()
        except OSError as error:
            raise UsageError(f"cannot read {source}: {error.strerror}") from None
        name = path.name
        fmt = fmt or path.suffix.lstrip(".").lower()
    targets = load_targets(text, fmt, name, tables, credentials)
    if not targets:
        raise UsageError(f"{name}: no targets")
    return targets
