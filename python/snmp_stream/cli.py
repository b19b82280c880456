"""The `snmp-stream` command (also `python -m snmp_stream`).

    snmp-stream get  HOST OID...      GET, printed as a table (net-snmp-like -v -c -t -r options)
    snmp-stream walk HOST OID...      WALK (GETBULK on v2c, GETNEXT on v1; -Cr max-repetitions)
    snmp-stream demo-agent            local snmpd agents to try it on (prints their addresses)
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
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import snmp_stream
from snmp_stream._extras import require
from snmp_stream.errors import SnmpStreamError
from snmp_stream.parse import Table
from snmp_stream.targets import TABLES, Target, UsageError, load_targets, read_tables, read_targets

if TYPE_CHECKING:
    import pandas

__all__ = ["Target", "load_targets", "main"]

MIB_2 = "1.3.6.1.2.1"


# --- output --------------------------------------------------------------------------------


def _records_frame(responses: Sequence[snmp_stream.SnmpResponse]) -> pandas.DataFrame:
    """Plain OID / type / value rows, for walks and gets of arbitrary OIDs: the long format's
    (`snmp_stream.to_pandas`) text values, the same in every output: numbers in decimal, OIDs
    and IP addresses dotted, readable strings as they are, other octets (and Opaque) in hex;
    empty for NULL and the exceptions."""
    return snmp_stream.to_pandas(responses)[["host", "oid", "type", "value"]]


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
        note = f"[dim]... {'; '.join(more)} (use --output csv/jsonl/parquet for everything)[/dim]"
        Console(stderr=True, emoji=False, highlight=False).print(note)


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
    targets: Sequence[Target],
    config: dict[str, Any],
    max_repetitions: int | None,
    progress: bool,
    on_response: Callable[[snmp_stream.SnmpResponse, str], None] | None = None,
    window: threading.Semaphore | None = None,
) -> Outcome:
    """Collects every target in parallel and parses the results per table; with
    `on_response` (called with each response and its table name or kind), the responses are
    handed over as they arrive and not kept (no frames). With `window`, a request is started
    only after acquiring it (whoever handles the responses releases it), so that responses
    never pile up faster than they are handled."""
    # Built as they are started, not all at once: memory does not grow with the targets.
    requests = (r for number, target in enumerate(targets) for r in target.requests(number, max_repetitions))
    count = sum(len(target.tables) + bool(target.walk) + bool(target.get) for target in targets)
    by_kind: dict[str, list[snmp_stream.SnmpResponse]] = {}
    specs = _specs(targets)
    failures: dict[str, list[str]] = {}
    took: dict[str, float] = {}
    varbinds = 0
    started = time.perf_counter()
    with _progress(count, progress) as advance:

        def gated() -> Iterator[snmp_stream.SnmpRequest]:
            for request in requests:
                if window is not None:
                    window.acquire()
                yield request

        for response in snmp_stream.stream(gated(), config):
            advance()
            kind = (response.req_id or b"").decode().split("/", 1)[1]
            if on_response is None:
                by_kind.setdefault(kind, []).append(response)
            else:
                on_response(response, kind)
            varbinds += int.from_bytes(response.results[16:20].tobytes(), "little")
            took[response.host] = max(took.get(response.host, 0.0), response.elapsed)
            if response.status == snmp_stream.FAILED:
                failures.setdefault(response.host, []).extend(e.message for e in response.errors)
    seconds = time.perf_counter() - started
    frames: dict[str, pandas.DataFrame] = {}
    for kind in sorted(by_kind):
        # Rows in target order (as in the targets file), then by index.
        responses = sorted(by_kind[kind], key=lambda r: int((r.req_id or b"0/").split(b"/")[0]))
        if kind in specs:
            frame = specs[kind].to_pandas(responses).drop(columns=["req_id"])
        else:
            frame = _records_frame(responses)
        if len(frame):  # no empty table for targets that all failed
            frames[kind] = frame
    return Outcome(frames, failures, count, varbinds, seconds, took)


def _specs(targets: Sequence[Target]) -> dict[str, Table]:
    """The table of each table name the targets use (recipes, or declared with them)."""
    return {name.lower(): target.spec(name) for target in targets for name in target.tables}


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("collecting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # On stderr: stdout carries only the data (`collect -o csv | ...`).
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("collect", total=total)
        yield lambda: bar.advance(task)


def _summary(outcome: Outcome, targets: Sequence[Target], out: Any, demo: bool = False) -> None:
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
    if demo:
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
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as out:
                sinks.write_jsonl(outcome.frames, out)
        else:
            sinks.write_jsonl(outcome.frames)
    elif args.output == "csv":
        sinks.write_csv(outcome.frames, args.out)
    elif args.output == "parquet":
        sinks.write_parquet(outcome.frames, args.out)


# --- commands ------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's settings, checked at once (a bad value exits 2 naming the option)."""
    config: dict[str, Any] = {"timeout": args.timeout, "retries": args.retries}
    for key in ("max_sessions", "deadline", "walk_mode"):
        if getattr(args, key, None) is not None:
            config[key] = getattr(args, key)
    checked = dict(config)
    if args.max_repetitions is not None:
        checked["max_var_binds_per_pdu"] = args.max_repetitions
    snmp_stream.Config(**checked)
    return config


def _credentials(args: argparse.Namespace) -> snmp_stream.Usm | tuple[str, str]:
    """The community, or with -v3 the USM user, from net-snmp's flags."""
    if args.version not in ("3", "v3"):
        return (args.community, args.version)
    if not args.user:
        raise UsageError("-v3 needs a user name (-u USER)")
    # As net-snmp: -A without -a is MD5, -X without -x is DES.
    auth = (args.auth_protocol or "MD5", args.auth_passphrase) if args.auth_passphrase else None
    priv = (args.priv_protocol or "DES", args.priv_passphrase) if args.priv_passphrase else None
    return snmp_stream.Usm(
        args.user,
        auth=auth,
        priv=priv,
        context=args.context or "",
        level=args.security_level,
        context_engine_id=args.context_engine_id,
        security_engine_id=args.security_engine_id,
    )


def _single(args: argparse.Namespace, kind: str) -> int:
    if args.output != "text":  # the default text output needs nothing more than the package
        require(
            "pandas",
            *(["rich"] if args.output == "table" else []),
            what=f"--output {args.output}",
            extra="cli",
        )
    config = _config(args)
    if args.max_repetitions is not None:
        config["max_var_binds_per_pdu"] = args.max_repetitions
    # A walk with no OID walks mib-2, as snmpwalk does.
    oids = args.oids or [MIB_2]
    try:
        request = snmp_stream.SnmpRequest(kind, args.host, _credentials(args), oids, config=config)
    except SnmpStreamError as error:
        raise UsageError(str(error)) from None
    (response,) = _run_one(request)
    if args.output == "text":
        sys.stdout.write(response.text())
    else:
        frame = _records_frame([response]).drop(columns=["host"])
        if args.output == "table":
            _print_table(f"{kind} {args.host}", frame, max_rows=10**9, max_columns=10)
        elif args.output == "csv":
            frame.to_csv(sys.stdout, index=False)
        else:
            from snmp_stream import sinks

            sinks.write_jsonl({kind: frame})
    sys.stdout.flush()
    for problem in response.errors:
        print(f"{problem.kind}: {problem.message}", file=sys.stderr)
    return _exit_status(kind, response)


def _exit_status(kind: str, response: snmp_stream.SnmpResponse) -> int:
    """As net-snmp's snmpget/snmpwalk: 1 when the agent did not answer or a walk stopped at a
    non-increasing OID, 2 when a GET was answered with an error status (noSuchName, ...)."""
    if kind == snmp_stream.GET and any(e.err_stat for e in response.errors):
        return 2
    if response.status == snmp_stream.FAILED or any(e.kind == "non_increasing_oid" for e in response.errors):
        return 1
    return 0


def _run_one(request: snmp_stream.SnmpRequest) -> list[snmp_stream.SnmpResponse]:
    manager = snmp_stream.SessionManager()
    manager.add_request(request)
    return manager.run_all()


def _collect(args: argparse.Namespace) -> int:
    # Data on stdout, everything else (progress, summary, failures) on stderr.
    require("pandas", "rich", what="snmp-stream collect", extra="cli")
    if args.output == "parquet":
        require("pyarrow", what="--output parquet", extra="cli")
    elif args.output == "postgres":
        require("psycopg", what="--output postgres", extra="cli")
    demo = args.targets is None
    if demo:
        from snmp_stream.demo import local_agents

        print(
            "no targets given: starting 3 local snmpd agents (and one dead target) as a demo", file=sys.stderr
        )
        with local_agents(3) as hosts:
            targets = [Target(host, tables=["system", "interfaces"]) for host in hosts]
            targets.append(Target(DEMO_DEAD, tables=["system"], timeout=0.5, retries=0))
            outcome = collect(targets, _config(args), args.max_repetitions, progress=not args.no_progress)
        args.allow_failures = True
        args.columns = args.columns or DEMO_COLUMNS
    else:
        targets = read_targets(
            args.targets,
            args.format,
            read_tables(args.tables) if args.tables else None,
            _credential_store(args),
        )
        _check_output(targets, args)
        if args.output == "postgres":
            return _collect_to_postgres(targets, args)
        outcome = collect(targets, _config(args), args.max_repetitions, progress=not args.no_progress)
    _write(outcome, args)
    _summary(outcome, targets, sys.stderr, demo)
    return 1 if outcome.failures and not args.allow_failures else 0


def _credential_store(args: argparse.Namespace) -> Any:
    """The named SNMPv3 credentials of this machine (--credentials FILE, $SNMP_STREAM_CREDENTIALS,
    SNMP_STREAM_USM_* variables)."""
    from snmp_stream.credentials import load_credentials

    try:
        return load_credentials(args.credentials)
    except SnmpStreamError as error:
        raise UsageError(str(error)) from None


def _check_output(targets: Sequence[Target], args: argparse.Namespace) -> None:
    """What can be checked about the output before collecting (exit 2 naming the problem)."""
    if args.output == "parquet" and not args.out:
        raise UsageError("--output parquet needs --out DIRECTORY")
    if args.output == "csv" and not args.out:
        kinds = {t.lower() for target in targets for t in target.tables}
        kinds |= {
            kind for target in targets for kind, oids in (("walk", target.walk), ("get", target.get)) if oids
        }
        if len(kinds) > 1:
            names = ", ".join(sorted(kinds))
            raise UsageError(
                f"CSV to stdout takes one table, these targets make {len(kinds)} ({names}):"
                " give --out DIRECTORY for one file each"
            )


def _demo_agent(args: argparse.Namespace) -> int:
    """Starts local agents, prints their addresses (one per line, on stdout) and serves until
    Ctrl-C or SIGTERM."""
    import signal

    from snmp_stream.demo import local_agents

    if not 1 <= args.count <= 50:
        raise UsageError("--count takes 1 to 50 agents")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with local_agents(args.count) as hosts:
        for host in hosts:
            print(host, flush=True)
        print(
            f"{len(hosts)} snmpd agent(s) running (community public); try: snmp-stream walk {hosts[0]}"
            " -- Ctrl-C stops them",
            file=sys.stderr,
            flush=True,
        )
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


def _collect_to_postgres(targets: Sequence[Target], args: argparse.Namespace) -> int:
    """Loads the results as they arrive, in batches, with the bus's loader: memory stays flat
    however many targets there are. Each result is loaded once, as `collect:<run>/<req_id>`."""
    import uuid

    from snmp_stream.bus.loader import LoaderError, LoadItem, PostgresLoader

    specs = _specs(targets)
    loader = PostgresLoader(args.dsn or "", {**TABLES, **specs})
    try:
        loader.check()
    except LoaderError as error:
        raise UsageError(str(error)) from None
    run = uuid.uuid4().hex[:12]
    batch: list[LoadItem] = []
    rows = 0
    # Responses not loaded yet, at most: enough to keep every session busy while a batch loads,
    # however many targets there are (memory stays flat).
    window = threading.Semaphore((args.max_sessions or 256) + 2 * BATCH)

    def flush() -> None:
        nonlocal rows
        rows += loader.load(batch)[1]
        for _ in batch:
            window.release()
        batch.clear()

    def add(response: snmp_stream.SnmpResponse, kind: str) -> None:
        if response.status == snmp_stream.FAILED and response.results.size == 0:
            window.release()
            return
        req_id = (response.req_id or b"").decode(errors="replace")
        table = kind if kind in specs else None
        batch.append(LoadItem(f"collect:{run}/{req_id}", response.host, table, response.results))
        if len(batch) >= BATCH:
            flush()

    try:
        outcome = collect(targets, _config(args), args.max_repetitions, not args.no_progress, add, window)
        flush()
    finally:
        loader.close()
    print(f"wrote {rows} rows to PostgreSQL (run {run})", file=sys.stderr)
    _summary(outcome, targets, sys.stderr)
    return 1 if outcome.failures and not args.allow_failures else 0


BATCH = 64  # results per transaction in `collect -o postgres`
DEMO_DEAD = "127.0.0.1:9"
DEMO_COLUMNS = (
    "host,sysName,sysLocation,sysUpTime,ifIndex,ifName,ifType,ifOperStatus,ifMtu,ifHCInOctets,ifHCOutOctets"
)


def duration(text: str) -> float:
    """Seconds from "90", "90s", "5m", "2h" or "7d"."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    scale = units.get(value[-1:])
    try:
        seconds = float(value[:-1] if scale else value) * (scale or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90, 90s, 5m, 2h, 7d)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive, not {text!r}")
    return seconds


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def _tables(path: str | None) -> dict[str, Any]:
    """The recipes plus the tables declared in `path` (YAML)."""
    tables: dict[str, Any] = dict(TABLES)
    if path:
        tables.update(read_tables(path))
    return tables


def _bus(args: argparse.Namespace) -> Any:
    from snmp_stream.bus import BusConfig, NatsAuth

    try:
        backoff = [float(b) for b in args.backoff.split(",") if b.strip()]
    except ValueError:
        raise UsageError(f"--backoff takes seconds separated by commas, not {args.backoff!r}") from None
    return BusConfig(
        url=args.nats,
        auth=NatsAuth.from_env(
            user=args.nats_user,
            creds=args.nats_creds,
            nkey=args.nats_nkey,
            tls_ca=args.tls_ca,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        ),
        requests_stream=args.stream,
        requests_subject=args.subject,
        results_stream=args.results_stream,
        results_prefix=args.results_prefix,
        dead_stream=args.dead_stream,
        dead_prefix=args.dead_prefix,
        objects_bucket=args.objects_bucket,
        done_bucket=args.collected_bucket,
        domain=args.domain,
        consumer=args.consumer or args.default_consumer + (f"-{args.domain}" if args.domain else ""),
        parse_consumer=args.consumer or args.default_consumer,
        max_deliver=args.max_deliver,
        backoff=backoff,
        ack_wait=args.ack_wait,
        results_max_age=args.results_max_age,
        results_max_bytes=args.results_max_bytes,
        dead_max_age=args.dead_max_age,
        dead_max_bytes=args.dead_max_bytes,
        dedup_window=args.dedup_window,
        replicas=args.replicas,
    )


def _worker(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    require("nats", what=f"snmp-stream {args.command}", extra="bus")
    if args.command == "parse-worker":
        require("psycopg", what="snmp-stream parse-worker", extra="bus")

    from snmp_stream.bus import BusError, run_parse_worker, run_worker
    from snmp_stream.bus.metrics import Metrics

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    bus = _bus(args)
    tables = _tables(args.tables)
    metrics = None
    if args.metrics_port is not None:
        metrics = Metrics()
        metrics.serve(args.metrics_port)
    try:
        if args.command == "schedule":
            from snmp_stream.bus.scheduler import run_scheduler

            targets = read_targets(args.targets, args.format)
            published = asyncio.run(
                run_scheduler(
                    bus, targets, args.every, args.once, args.jitter, args.max_repetitions, metrics=metrics
                )
            )
            logging.getLogger("snmp_stream.bus").info("stopped after publishing %d request(s)", published)
            return 0
        if args.command == "worker":
            credentials = _credential_store(args)
            handled = asyncio.run(
                run_worker(
                    bus,
                    args.concurrency,
                    args.prefetch,
                    tables=tables,
                    metrics=metrics,
                    credentials=credentials,
                )
            )
        else:
            handled = asyncio.run(run_parse_worker(bus, args.dsn, args.batch, tables=tables, metrics=metrics))
    except BusError as error:
        raise UsageError(str(error)) from None
    logging.getLogger("snmp_stream.bus").info("stopped after %d message(s)", handled)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snmp-stream", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"snmp-stream {snmp_stream.__version__}")
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
        sub.add_argument(
            "--walk-mode",
            choices=["auto", "getbulk", "getnext"],
            default=None,
            help="v2c walks: GETBULK, falling back to GETNEXT for agents that drop GETBULK (auto, the"
            " default), or only one of them",
        )

    for name in ("get", "walk"):
        sub = commands.add_parser(name, help=f"{name.upper()} OIDs from one agent")
        sub.add_argument("host")
        if name == "get":
            sub.add_argument("oids", nargs="+", metavar="OID")
        else:
            sub.add_argument("oids", nargs="*", metavar="OID", help=f"(default: mib-2, {MIB_2})")
        sub.add_argument("-v", "--version", default="2c", choices=["1", "2c", "3", "v1", "v2c", "v3"])
        sub.add_argument("-c", "--community", default="public")
        v3 = sub.add_argument_group("SNMPv3 (with -v3; as net-snmp's flags)")
        v3.add_argument("-u", dest="user", help="security name (user)")
        v3.add_argument(
            "-l",
            dest="security_level",
            help="noAuthNoPriv|authNoPriv|authPriv (default: what the keys allow)",
        )
        v3.add_argument(
            "-a", dest="auth_protocol", help="MD5|SHA|SHA-224|SHA-256|SHA-384|SHA-512 (default MD5)"
        )
        v3.add_argument("-A", dest="auth_passphrase", help="authentication passphrase")
        v3.add_argument("-x", dest="priv_protocol", help="DES|AES|AES-192|AES-256 (default DES)")
        v3.add_argument("-X", dest="priv_passphrase", help="privacy passphrase")
        v3.add_argument("-n", dest="context", help="context name (default empty)")
        v3.add_argument("-e", dest="security_engine_id", help="security engine ID, hex (default: discovered)")
        v3.add_argument("-E", dest="context_engine_id", help="context engine ID, hex (default: the agent's)")
        sub.add_argument(
            "-o",
            "--output",
            default="text",
            choices=["text", "table", "csv", "jsonl"],
            help="text: as snmpwalk -On prints (the default); table, csv, jsonl: oid, type, value",
        )
        common(sub)
        sub.set_defaults(handler=lambda args, kind=name: _single(args, kind))

    sub = commands.add_parser(
        "demo-agent", help="run local snmpd agents to try snmp-stream on (needs the snmpd program)"
    )
    sub.add_argument("--count", type=int, default=1, help="how many agents (1)")
    sub.set_defaults(handler=_demo_agent)

    sub = commands.add_parser("collect", help="collect many targets in parallel")
    sub.add_argument("targets", nargs="?", help="YAML, CSV or JSON-lines file, or - for stdin (none: demo)")
    sub.add_argument("--format", choices=["yaml", "csv", "jsonl"], help="targets format (default: by suffix)")
    sub.add_argument(
        "-o", "--output", default="table", choices=["table", "csv", "jsonl", "parquet", "postgres"]
    )
    sub.add_argument("--out", help="output file (jsonl) or directory (csv, parquet)")
    sub.add_argument("--tables", help="YAML file declaring tables the targets may name (docs/PARSER.md)")
    sub.add_argument(
        "--credentials",
        help="SNMPv3 credentials file the targets name (default: $SNMP_STREAM_CREDENTIALS; see README)",
    )
    sub.add_argument(
        "--dsn", help="PostgreSQL connection string for --output postgres (default: PG* variables)"
    )
    sub.add_argument("--max-sessions", type=int, default=None, help="requests in flight (default 256)")
    sub.add_argument("--max-rows", type=int, default=20, help="rows shown per table (table output)")
    sub.add_argument("--max-columns", type=int, default=8, help="columns shown per table (table output)")
    sub.add_argument("--columns", help="comma-separated columns to show (table output), e.g. host,ifName")
    sub.add_argument("--allow-failures", action="store_true", help="exit 0 even when targets failed")
    sub.add_argument("--no-progress", action="store_true", help="no progress bar")
    common(sub)
    sub.set_defaults(handler=_collect)

    for name, help_text, consumer in (
        ("worker", "collect request messages from NATS JetStream", "snmp-stream-collectors"),
        ("parse-worker", "load result buffers from NATS JetStream into PostgreSQL", "snmp-stream-parsers"),
        (
            "schedule",
            "publish a targets file's requests to NATS JetStream every interval",
            "snmp-stream-collectors",
        ),
    ):
        sub = commands.add_parser(name, help=help_text)
        if name == "schedule":
            sub.add_argument("targets", help="YAML, CSV or JSON-lines targets file, or - for stdin")
            sub.add_argument(
                "--format", choices=["yaml", "csv", "jsonl"], help="targets format (default: by suffix)"
            )
            sub.add_argument(
                "--every", type=duration, default=300.0, help="interval, e.g. 30s, 5m (default 5m)"
            )
            sub.add_argument("--once", action="store_true", help="publish one round now and exit")
            sub.add_argument(
                "--jitter", type=float, default=0.5, help="spread targets over this part of the interval"
            )
            sub.add_argument(
                "-Cr", "--max-repetitions", type=int, default=None, help="GETBULK max-repetitions"
            )
        sub.add_argument(
            "--nats", default="nats://127.0.0.1:4222", help="NATS server URL(s), comma-separated"
        )
        sub.add_argument("--nats-user", help="NATS user (password from the NATS_PASSWORD variable)")
        sub.add_argument("--nats-creds", help="NATS credentials file (JWT and nkey seed)")
        sub.add_argument("--nats-nkey", help="NATS nkey seed file")
        sub.add_argument("--tls-ca", help="CA certificate file to verify the NATS server (enables TLS)")
        sub.add_argument("--tls-cert", help="client certificate file (TLS)")
        sub.add_argument("--tls-key", help="client key file (TLS)")
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
        sub.add_argument(
            "--objects-bucket", default="SNMP_RESULTS_LARGE", help="object store for results over max_payload"
        )
        sub.add_argument(
            "--collected-bucket", default="SNMP_COLLECTED", help="key-value bucket of collected request ids"
        )
        sub.add_argument(
            "--domain", help="routing domain: collect only requests published to SUBJECT-PREFIX.DOMAIN.>"
        )
        sub.add_argument(
            "--consumer", help=f"durable consumer shared by all workers ({consumer}, or {consumer}-DOMAIN)"
        )
        sub.add_argument("--max-deliver", type=int, default=5, help="tries before a message is dead-lettered")
        sub.add_argument("--backoff", default="1,5,15,30", help="seconds between tries, comma-separated")
        sub.add_argument(
            "--ack-wait", type=duration, default=60.0, help="seconds without a sign of life before redelivery"
        )
        sub.add_argument("--results-max-age", type=duration, default=86400.0, help="keep results (1d)")
        sub.add_argument("--results-max-bytes", type=int, default=-1, help="results stream size limit")
        sub.add_argument(
            "--dead-max-age", type=duration, default=30 * 86400.0, help="keep dead letters (30d)"
        )
        sub.add_argument("--dead-max-bytes", type=int, default=-1, help="dead-letter stream size limit")
        sub.add_argument(
            "--dedup-window",
            type=duration,
            default=86400.0,
            help="a request id is collected once within (1d)",
        )
        sub.add_argument(
            "--replicas", type=int, default=1, help="copies of the streams it creates (3 on a 3-node cluster)"
        )
        sub.add_argument("--tables", help="YAML file declaring tables (see docs/PARSER.md)")
        sub.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
        sub.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
        if name == "worker":
            sub.add_argument(
                "--concurrency", type=whole_number(1), default=256, help="requests collected at once (256)"
            )
            sub.add_argument(
                "--prefetch",
                type=whole_number(0),
                help="requests held beyond --concurrency, queued in the engine so that each one "
                "starts as soon as a collection ends (default: as many as --concurrency)",
            )
            sub.add_argument(
                "--credentials",
                help="SNMPv3 credentials file the requests name (default: $SNMP_STREAM_CREDENTIALS)",
            )
        elif name == "parse-worker":
            sub.add_argument(
                "--dsn",
                default="",
                help="PostgreSQL connection string (default: libpq's PG* variables; the password from"
                " PGPASSWORD, ~/.pgpass or a service file, never needed here)",
            )
            sub.add_argument("--batch", type=int, default=64, help="results per transaction (64)")
        sub.set_defaults(handler=_worker, default_consumer=consumer)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # net-snmp spells max-repetitions -Cr50: the same as -Cr 50 here.
    argv = [part for arg in argv for part in (["-Cr", arg[3:]] if re.fullmatch(r"-Cr\d+", arg) else [arg])]
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
