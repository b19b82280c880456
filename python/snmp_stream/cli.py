"""The `snmp-stream` command (also `python -m snmp_stream`).

    snmp-stream get  HOST OID...      GET, printed as a table (net-snmp-like -v -c -t -r options)
    snmp-stream walk HOST OID...      WALK (GETBULK on v2c, GETNEXT on v1; -Cr max-repetitions)
    snmp-stream collect [TARGETS]     many targets in parallel: tables or OIDs, progress bar,
                                      summary; output as a table, CSV, JSON lines, Parquet or
                                      PostgreSQL. Without TARGETS it starts local demo agents.
    snmp-stream worker                collect request messages from NATS JetStream, publish the
                                      result buffers (and/or load rows into PostgreSQL)
    snmp-stream parse-worker          load result buffers from NATS into PostgreSQL

Exit status: 0 when every target answered, 1 when some failed (unless --allow-failures),
2 for bad usage or a bad targets file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import snmp_stream
from snmp_stream import _snmp_stream as native
from snmp_stream import recipes
from snmp_stream.errors import SnmpStreamError

if TYPE_CHECKING:
    import pandas

__all__ = ["Target", "load_targets", "main"]


class UsageError(Exception):
    """Bad input from the command line or a targets file: printed, exit status 2."""


# --- targets -------------------------------------------------------------------------------

TABLES = recipes.BY_NAME


@dataclass
class Target:
    """One agent to collect from, as a targets file describes it."""

    host: str
    community: str = "public"
    version: str = "v2c"
    tables: list[str] = field(default_factory=list)
    walk: list[str] = field(default_factory=list)
    get: list[str] = field(default_factory=list)
    timeout: float | None = None
    retries: int | None = None
    deadline: float | None = None

    def requests(self, number: int, max_repetitions: int | None) -> list[snmp_stream.SnmpRequest]:
        config = {
            key: value
            for key, value in (
                ("timeout", self.timeout),
                ("retries", self.retries),
                ("deadline", self.deadline),
                ("max_var_binds_per_pdu", max_repetitions),
            )
            if value is not None
        }
        community = (self.community, self.version)
        out = []
        for name in self.tables:
            table = TABLES[name.lower()]
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


def _target(entry: Any, where: str) -> Target:
    """A Target from one parsed entry (dict), with errors naming where it came from."""
    if isinstance(entry, str):
        entry = {"host": entry}
    if not isinstance(entry, dict):
        raise UsageError(f"{where}: expected a mapping with at least 'host', not {entry!r}")
    unknown = set(entry) - {
        "host",
        "community",
        "version",
        "tables",
        "walk",
        "oids",
        "get",
        "timeout",
        "retries",
        "deadline",
    }
    if unknown:
        raise UsageError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if not entry.get("host"):
        raise UsageError(f"{where}: 'host' is missing")

    def listed(key: str) -> list[str]:
        value = entry.get(key) or []
        if isinstance(value, str):
            value = [v for v in value.replace(";", " ").replace(",", " ").split() if v]
        return [str(v) for v in value]

    target = Target(
        host=str(entry["host"]),
        community=str(entry.get("community") or "public"),
        version=str(entry.get("version") or "v2c"),
        tables=listed("tables"),
        walk=listed("walk") + listed("oids"),
        get=listed("get"),
        timeout=float(entry["timeout"]) if entry.get("timeout") not in (None, "") else None,
        retries=int(entry["retries"]) if entry.get("retries") not in (None, "") else None,
        deadline=float(entry["deadline"]) if entry.get("deadline") not in (None, "") else None,
    )
    for name in target.tables:
        if name.lower() not in TABLES:
            raise UsageError(f"{where}: unknown table {name!r} (known: {', '.join(sorted(TABLES))})")
    if not (target.tables or target.walk or target.get):
        target.tables = ["system", "interfaces"]
    try:  # validate now, so a bad OID or host is reported with its line
        target.requests(0, None)
    except SnmpStreamError as error:
        raise UsageError(f"{where}: {error}") from None
    return target


def load_targets(text: str, fmt: str, name: str = "targets") -> list[Target]:
    """Targets from YAML (a list, or {targets: [...]}), CSV (a header row) or JSON lines."""
    if fmt in ("yaml", "yml", "json"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise UsageError(f"{name}: not valid YAML: {error}") from None
        if isinstance(data, dict):
            data = data.get("targets")
        if not isinstance(data, list):
            raise UsageError(f"{name}: expected a list of targets (or a 'targets:' list)")
        return [_target(entry, f"{name}: target {i + 1}") for i, entry in enumerate(data)]
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(text))
        return [
            _target({k: v for k, v in row.items() if v not in (None, "")}, f"{name}: line {rows.line_num}")
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
                targets.append(_target(entry, f"{name}: line {number}"))
        return targets
    raise UsageError(f"unknown targets format {fmt!r} (yaml, csv or jsonl)")


# --- output --------------------------------------------------------------------------------


def _records_frame(responses: Sequence[snmp_stream.SnmpResponse]) -> pandas.DataFrame:
    """Plain OID / type / value rows, for walks and gets of arbitrary OIDs."""
    import pandas as pd

    rows = [
        (r.host, oid, kind, value) for r in responses for oid, kind, value in native.decode_records(r.results)
    ]
    return pd.DataFrame(rows, columns=["host", "oid", "type", "value"])


def _print_table(
    name: str, frame: pandas.DataFrame, max_rows: int, max_columns: int, columns: Sequence[str] | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    shown = [c for c in columns if c in frame.columns] if columns else list(frame.columns[:max_columns])
    table = RichTable(title=f"{name} ({len(frame)} rows)", title_justify="left")
    for column in shown:
        table.add_column(column, overflow="fold")
    for record in frame[shown].head(max_rows).itertuples(index=False, name=None):
        # Text, not markup: agent strings must not be read as rich markup or emoji codes.
        table.add_row(*(Text("" if _is_null(v) else str(v)) for v in record))
    console = Console(emoji=False, highlight=False)
    console.print(table)
    hidden = [c for c in frame.columns if c not in shown]
    if len(frame) > max_rows or hidden:
        more = []
        if len(frame) > max_rows:
            more.append(f"{len(frame) - max_rows} more rows")
        if hidden:
            more.append(
                f"{len(hidden)} more columns ({', '.join(hidden[:6])}{', ...' if len(hidden) > 6 else ''})"
            )
        console.print(f"[dim]... {'; '.join(more)} (use --output csv/jsonl/parquet for everything)[/dim]")


def _is_null(value: Any) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, (str, bytes)) and bool(pd.isna(value)))


@dataclass
class Outcome:
    """What a collection produced: frames per table, and failures per target."""

    frames: dict[str, pandas.DataFrame]
    failures: dict[str, list[str]]
    requests: int
    varbinds: int
    seconds: float
    # Seconds each target took (its slowest request: they run in parallel).
    took: dict[str, float] = field(default_factory=dict)


def collect(
    targets: Sequence[Target], config: dict[str, Any], max_repetitions: int | None, progress: bool
) -> Outcome:
    """Collects every target in parallel and parses the results per table."""
    requests = [r for number, target in enumerate(targets) for r in target.requests(number, max_repetitions)]
    by_kind: dict[str, list[snmp_stream.SnmpResponse]] = {}
    failures: dict[str, list[str]] = {}
    took: dict[str, float] = {}
    varbinds = 0
    started = time.perf_counter()
    with _progress(len(requests), progress) as advance:
        for response in snmp_stream.stream(requests, config):
            advance()
            kind = (response.req_id or b"").decode().split("/", 1)[1]
            by_kind.setdefault(kind, []).append(response)
            varbinds += int.from_bytes(response.results[16:20].tobytes(), "little")
            took[response.host] = max(took.get(response.host, 0.0), response.elapsed)
            if response.status == snmp_stream.FAILED:
                failures.setdefault(response.host, []).extend(e.message for e in response.errors)
    seconds = time.perf_counter() - started
    frames: dict[str, pandas.DataFrame] = {}
    for kind in sorted(by_kind):
        # Rows in target order (as in the targets file), then by index.
        responses = sorted(by_kind[kind], key=lambda r: int((r.req_id or b"0/").split(b"/")[0]))
        if kind in TABLES:
            frame = TABLES[kind].to_pandas(responses).drop(columns=["req_id"])
            if len(frame):
                frames[kind] = frame
        else:
            frames[kind] = _records_frame(responses)
    return Outcome(frames, failures, len(requests), varbinds, seconds, took)


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("collecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("collect", total=total)
        yield lambda: bar.advance(task)


def _summary(outcome: Outcome, targets: Sequence[Target], out: Any) -> None:
    failed = len(outcome.failures)
    print(
        f"{len(targets)} targets: {len(targets) - failed} ok, {failed} failed; {outcome.requests} requests, "
        f"{outcome.varbinds} varbinds in {outcome.seconds:.2f} s",
        file=out,
    )
    slowest = sorted((h for h in outcome.took if h not in outcome.failures), key=outcome.took.__getitem__)[
        -3:
    ]
    if slowest:
        print("  slowest: " + ", ".join(f"{h} {outcome.took[h]:.3f} s" for h in reversed(slowest)), file=out)
    for host, messages in sorted(outcome.failures.items()):
        print(f"  FAILED {host}: {messages[0] if messages else 'failed'}", file=out)
    if any(t.host == DEMO_DEAD for t in targets):
        print(
            f"  ({DEMO_DEAD} is a dead target on purpose: the demo shows how failures are reported)", file=out
        )


def _write(outcome: Outcome, args: argparse.Namespace) -> None:
    from snmp_stream import sinks

    if args.output == "table":
        shown = args.columns.split(",") if args.columns else None
        for name, frame in outcome.frames.items():
            _print_table(name, frame, args.max_rows, args.max_columns, shown)
    elif args.output == "jsonl":
        if args.out:
            with open(args.out, "w") as out:
                sinks.write_jsonl(outcome.frames, out)
        else:
            sinks.write_jsonl(outcome.frames)
    elif args.output == "csv":
        sinks.write_csv(outcome.frames, args.out)
    elif args.output == "parquet":
        if not args.out:
            raise UsageError("--output parquet needs --out DIRECTORY")
        sinks.write_parquet(outcome.frames, args.out)
    elif args.output == "postgres":
        if not args.dsn:
            raise UsageError("--output postgres needs --dsn (e.g. 'host=127.0.0.1 dbname=snmp')")
        rows = sinks.write_postgres(outcome.frames, args.dsn)
        print(f"wrote {rows} rows to PostgreSQL", file=sys.stderr)


# --- commands ------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {"timeout": args.timeout, "retries": args.retries}
    if getattr(args, "max_sessions", None):
        config["max_sessions"] = args.max_sessions
    if args.deadline is not None:
        config["deadline"] = args.deadline
    return config


def _single(args: argparse.Namespace, kind: str) -> int:
    config = _config(args)
    if args.max_repetitions:
        config["max_var_binds_per_pdu"] = args.max_repetitions
    try:
        request = snmp_stream.SnmpRequest(
            kind, args.host, (args.community, args.version), args.oids, config=config
        )
    except SnmpStreamError as error:
        raise UsageError(str(error)) from None
    (response,) = _run_one(request)
    frame = _records_frame([response]).drop(columns=["host"])
    if args.output == "table":
        _print_table(f"{kind} {args.host}", frame, max_rows=10**9, max_columns=10)
    elif args.output == "csv":
        frame.to_csv(sys.stdout, index=False)
    else:
        from snmp_stream import sinks

        sinks.write_jsonl({kind: frame})
    for problem in response.errors:
        print(f"{problem.kind}: {problem.message}", file=sys.stderr)
    return 1 if response.status == snmp_stream.FAILED else 0


def _run_one(request: snmp_stream.SnmpRequest) -> list[snmp_stream.SnmpResponse]:
    manager = snmp_stream.SessionManager()
    manager.add_request(request)
    return manager.run_all()


def _collect(args: argparse.Namespace) -> int:
    out = sys.stdout if args.output == "table" else sys.stderr
    if args.targets is None:
        from snmp_stream.demo import local_agents

        print("no targets given: starting 3 local snmpd agents (and one dead target) as a demo", file=out)
        with local_agents(3) as hosts:
            targets = [Target(host, tables=["system", "interfaces"]) for host in hosts]
            targets.append(Target(DEMO_DEAD, tables=["system"], timeout=0.5, retries=0))
            outcome = collect(targets, _config(args), args.max_repetitions, progress=not args.no_progress)
        args.allow_failures = True
        args.columns = args.columns or DEMO_COLUMNS
    else:
        if args.targets == "-":
            text, name = sys.stdin.read(), "stdin"
            fmt = args.format or "jsonl"
        else:
            path = Path(args.targets)
            try:
                text = path.read_text()
            except OSError as error:
                raise UsageError(f"cannot read {args.targets}: {error.strerror}") from None
            name = path.name
            fmt = args.format or path.suffix.lstrip(".").lower()
        targets = load_targets(text, fmt, name)
        if not targets:
            raise UsageError(f"{name}: no targets")
        outcome = collect(targets, _config(args), args.max_repetitions, progress=not args.no_progress)
    _write(outcome, args)
    _summary(outcome, targets, out)
    return 1 if outcome.failures and not args.allow_failures else 0


DEMO_DEAD = "127.0.0.1:9"
DEMO_COLUMNS = (
    "host,sysName,sysLocation,sysUpTime,ifIndex,ifName,ifType,ifOperStatus,ifMtu,ifHCInOctets,ifHCOutOctets"
)


def _bus(args: argparse.Namespace) -> Any:
    from snmp_stream.worker import BusConfig

    try:
        backoff = [float(b) for b in args.backoff.split(",") if b.strip()]
    except ValueError:
        raise UsageError(f"--backoff takes seconds separated by commas, not {args.backoff!r}") from None
    return BusConfig(
        url=args.nats,
        requests_stream=args.stream,
        requests_subject=args.subject,
        results_stream=args.results_stream,
        results_prefix=args.results_prefix,
        dead_stream=args.dead_stream,
        dead_prefix=args.dead_prefix,
        consumer=args.consumer,
        parse_consumer=args.consumer if args.command == "parse-worker" else BusConfig().parse_consumer,
        max_deliver=args.max_deliver,
        backoff=backoff,
        ack_wait=args.ack_wait,
    )


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from snmp_stream.worker import run_parse_worker, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    bus = _bus(args)
    if args.command == "worker":
        handled = asyncio.run(run_worker(bus, args.concurrency, args.dsn))
    else:
        if not args.dsn:
            raise UsageError("parse-worker needs --dsn")
        handled = asyncio.run(run_parse_worker(bus, args.dsn, args.concurrency))
    logging.getLogger("snmp_stream.worker").info("stopped after %d message(s)", handled)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmp-stream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-t", "--timeout", type=float, default=1.0, help="seconds per try (default 1)")
        sub.add_argument("-r", "--retries", type=int, default=3, help="retries per PDU (default 3)")
        sub.add_argument(
            "--deadline",
            type=float,
            default=None,
            help="seconds a whole request may take, retries included; then it ends with what it has",
        )
        sub.add_argument(
            "-Cr",
            "--max-repetitions",
            type=int,
            default=None,
            help="varbinds per PDU / GETBULK max-repetitions (default 25)",
        )

    for name in ("get", "walk"):
        sub = commands.add_parser(name, help=f"{name.upper()} OIDs from one agent")
        sub.add_argument("host")
        sub.add_argument("oids", nargs="+", metavar="OID")
        sub.add_argument("-v", "--version", default="2c", choices=["1", "2c", "v1", "v2c"])
        sub.add_argument("-c", "--community", default="public")
        sub.add_argument("-o", "--output", default="table", choices=["table", "csv", "jsonl"])
        common(sub)
        sub.set_defaults(handler=lambda args, kind=name: _single(args, kind))

    sub = commands.add_parser("collect", help="collect many targets in parallel")
    sub.add_argument("targets", nargs="?", help="YAML, CSV or JSON-lines file, or - for stdin (none: demo)")
    sub.add_argument("--format", choices=["yaml", "csv", "jsonl"], help="targets format (default: by suffix)")
    sub.add_argument(
        "-o", "--output", default="table", choices=["table", "csv", "jsonl", "parquet", "postgres"]
    )
    sub.add_argument("--out", help="output file (jsonl) or directory (csv, parquet)")
    sub.add_argument("--dsn", help="PostgreSQL connection string for --output postgres")
    sub.add_argument("--max-sessions", type=int, default=None, help="requests in flight (default 256)")
    sub.add_argument("--max-rows", type=int, default=20, help="rows shown per table (table output)")
    sub.add_argument("--max-columns", type=int, default=8, help="columns shown per table (table output)")
    sub.add_argument("--columns", help="comma-separated columns to show (table output), e.g. host,ifName")
    sub.add_argument("--allow-failures", action="store_true", help="exit 0 even when targets failed")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(sub)
    sub.set_defaults(handler=_collect)

    for name, help_text, consumer, concurrency in (
        ("worker", "collect request messages from NATS JetStream", "snmp-stream-collectors", 256),
        ("parse-worker", "load result buffers from NATS JetStream into PostgreSQL", "snmp-stream-parsers", 8),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--nats", default="nats://127.0.0.1:4222", help="NATS server URL")
        sub.add_argument("--stream", default="SNMP_REQUESTS", help="requests stream (work queue)")
        sub.add_argument("--subject", default="snmp.requests.>", help="requests subject")
        sub.add_argument(
            "--results-prefix",
            "--results-subject",
            default="snmp.results",
            help="results are published to PREFIX.<table or kind>",
        )
        sub.add_argument("--results-stream", default="SNMP_RESULTS", help="stream holding the results")
        sub.add_argument("--dead-prefix", default="snmp.dead", help="dead letters go to PREFIX.<reason>")
        sub.add_argument("--dead-stream", default="SNMP_DEAD", help="stream holding the dead letters")
        sub.add_argument("--consumer", default=consumer, help="durable consumer shared by all workers")
        sub.add_argument("--dsn", help="PostgreSQL connection string (worker: also load table rows)")
        sub.add_argument("--concurrency", type=int, default=concurrency, help="messages in flight")
        sub.add_argument("--max-deliver", type=int, default=5, help="tries before a message is dead-lettered")
        sub.add_argument("--backoff", default="1,5,15,30", help="seconds between tries, comma-separated")
        sub.add_argument("--ack-wait", type=float, default=60.0, help="seconds before JetStream redelivers")
        sub.set_defaults(handler=_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (UsageError, SnmpStreamError, ValueError) as error:
        print(f"snmp-stream: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snmp-stream: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as command-line tools do.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
