"""Loading result buffers into PostgreSQL: natively encoded binary COPY, many results per
transaction, each result loaded at most once.

Tables (names lower-case and unquoted, so `SELECT ifName FROM snmp_interfaces` works):

- `snmp_<table>` for a table spec (recipe or declared): `result_id`, `host`, `req_id`,
  `collected_at` (when the collection started, from the buffer), then one column per index
  field and per column, lower-cased. Types: INTEGER `integer`; Counter32, Gauge32, TimeTicks
  and integer index fields `bigint`; Counter64 `numeric(20,0)`; TIMEDELTA columns `interval`;
  BYTES `bytea`; everything rendered as text (UTF8, HEX, MAC, IP_ADDRESS, INET_ADDRESS, OID)
  `text`. One unique key, (host, collected_at, result_id, index fields): it makes a re-load
  idempotent row by row and serves queries by host and time (one B-tree: a key and a second
  index cost PostgreSQL about a fifth more CPU per row loaded).
- `snmp_varbinds` for plain walks and gets: `result_id`, `host`, `req_id`, `collected_at`,
  `oid`, `root`, `index`, `type` (net-snmp's type name), `value` (as text), `value_bytes`
  (the octets of OCTET STRING / Opaque values). Unique key (host, collected_at, result_id, oid).
- `snmp_loaded`: one row per loaded result (result_id primary key, table_name, host,
  loaded_at): the claim that makes a redelivered result load nothing twice.

A table is created, or gains the columns it lacks, only when its columns change (checked once
per connection, under an advisory lock so that two loaders do not race).

Parse workers of one consumer take turns at loading when the loads keep up (`LoadTurns`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snmp_stream import _snmp_stream as native
from snmp_stream._extras import require
from snmp_stream.parse import Table, ValueType

__all__ = ["LoadItem", "LoadTurns", "OldSchemaError", "PostgresLoader", "table_columns"]

log = logging.getLogger("snmp_stream.bus")
VARBINDS = "varbinds"
# The columns every row starts with, and the varbinds table's own: as the native COPY writer
# produces them (result_id, host and collected_at always have a value).
PREFIX = [(c, t if c == "req_id" else f"{t} NOT NULL") for c, t in native.COPY_PREFIX_COLUMNS]
VARBIND_COLUMNS = native.COPY_VARBIND_COLUMNS[len(PREFIX) :]
# Every table's unique key starts with these, then the index fields (or the varbind's oid).
KEY_PREFIX = ["host", "collected_at", "result_id"]
SQL_TYPES = {"integer": "integer", "bigint": "bigint", "numeric": "numeric(20,0)", "text": "text",
             "bytea": "bytea", "interval": "interval"}  # fmt: skip


class LoaderError(RuntimeError):
    """PostgreSQL cannot be reached or refuses the connection."""


class OldSchemaError(RuntimeError):
    """A table made by an older snmp-stream (quoted camelCase columns): see docs/BUS.md."""


@dataclass(frozen=True)
class LoadItem:
    """One result to load: its identity, agent, table name (None: the varbinds table) and buffer."""

    result_id: str
    host: str
    table: str | None
    buffer: bytes | Any


def _value_type(value: ValueType) -> str:
    if value.kind == "integer":
        return "integer"
    if value.kind in ("unsigned", "timeticks"):
        return "interval" if value.timedelta else "bigint"
    if value.kind == "counter64":
        return "numeric"
    if value.kind == "bytes":
        return "bytea"
    return "text"


def table_columns(table: Table) -> list[tuple[str, str]]:
    """(column name, COPY type) for a table spec's index fields and columns, in spec order."""
    out = []
    for f in table.index:
        kind = "bigint" if f.field == "integer" else ("text" if f.field == "oid" else _value_type(f.value))
        out.append((f.name.lower(), kind))
    out.extend((c.name.lower(), _value_type(c.value)) for c in table.columns)
    return out


class LoadTurns:
    """Turns at loading for the parse workers of one consumer: an advisory lock taken, in a
    transaction on a connection of its own, before a batch is completed, and held until its
    load is done (the transaction ends). A worker waiting for its turn keeps gathering results,
    so when the loads keep up they go one at a time, in fewer and larger transactions, however
    many parse workers there are. A turn is waited for at most `wait` seconds (lock_timeout): a
    worker whose load hangs holds up the others no longer than that, and one that dies gives
    its turn back with its connection. Without a connection (PostgreSQL restarting) a batch
    loads without a turn. A transaction-level lock, so that it works through a pooler in
    transaction mode (PgBouncer) too. Not thread-safe: one thread calls it."""

    def __init__(self, dsn: str, name: str, wait: float = 5.0) -> None:
        self.dsn, self.key, self.wait = dsn, f"snmp-stream:load-turn:{name}", wait
        self._connection: Any = None
        self._held = False

    def acquire(self) -> bool:
        """Waits for the turn; False when it loads without one (timed out, or no connection)."""
        if self._held:
            return True
        require("psycopg", what="loading PostgreSQL")
        import psycopg

        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(self.dsn)
            self._connection.execute(f"SET LOCAL lock_timeout = {max(int(self.wait * 1000), 1)}")
            self._connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.key,))
        except psycopg.errors.LockNotAvailable:
            self._connection.rollback()
            log.info("no load turn within %.0f s (another parse worker's load is slow): loading", self.wait)
            return False
        except psycopg.Error as error:
            log.warning("no load turn (%s): loading without", str(error).strip() or type(error).__name__)
            self.close()
            return False
        self._held = True
        return True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        import psycopg

        try:
            self._connection.rollback()  # ends the transaction, and the turn with it
        except psycopg.Error:
            self.close()  # the turn went with the connection

    def close(self) -> None:
        self._held = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class PostgresLoader:
    """Loads results over one connection (not thread-safe: one loader per thread)."""

    def __init__(self, dsn: str, tables: Mapping[str, Table]) -> None:
        self.dsn = dsn
        self.tables = tables
        self._connection: Any = None
        self._ready: set[str] = set()  # tables whose columns are known to be complete

    def _connect(self) -> Any:
        require("psycopg", what="loading PostgreSQL")
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.dsn)
            self._ready.clear()
        return self._connection

    def check(self) -> None:
        """Connects now: a bad connection string, host, user or password is a `LoaderError`
        naming the server's complaint, before anything is collected."""
        import psycopg

        try:
            connection = self._connect()
            connection.execute("SELECT 1")
            connection.rollback()  # no transaction left open: loads commit their own
        except psycopg.Error as error:
            raise LoaderError(f"cannot connect to PostgreSQL: {error}") from None

    def load(self, items: Sequence[LoadItem]) -> tuple[int, int]:
        """Loads the items not loaded before, in one transaction. Returns (results loaded,
        rows written); results loaded before are skipped (counted in neither)."""
        if not items:
            return 0, 0
        connection = self._connect()
        try:
            return self._load(connection, items, idempotent_rows=False)
        except Exception as error:
            import psycopg

            if isinstance(error, psycopg.errors.UniqueViolation):
                # Rows of a result are there but its claim is not (e.g. snmp_loaded was
                # emptied by hand): load again, skipping the rows that exist.
                log.warning("rows already present without their claim; loading row by row idempotently")
                return self._load(connection, items, idempotent_rows=True)
            connection.close()  # start afresh next time
            raise

    def _load(self, connection: Any, items: Sequence[LoadItem], idempotent_rows: bool) -> tuple[int, int]:
        rows = 0
        with connection.transaction():
            if "snmp_loaded" not in self._ready:
                # Under the lock the other DDL takes: concurrent CREATE TABLE IF NOT EXISTS can
                # still collide in PostgreSQL's catalog (a unique violation on pg_type).
                connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("snmp-stream:snmp_loaded",))
                connection.execute(
                    "CREATE TABLE IF NOT EXISTS snmp_loaded (result_id text PRIMARY KEY, table_name text NOT"
                    " NULL, host text, loaded_at timestamptz NOT NULL DEFAULT now())"
                )
                self._ready.add("snmp_loaded")
            unique = {item.result_id: item for item in items}  # the same result twice in a batch
            claimed = {
                row[0]
                for row in connection.execute(
                    "INSERT INTO snmp_loaded (result_id, table_name, host) SELECT * FROM"
                    " unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT (result_id) DO NOTHING"
                    " RETURNING result_id",
                    (
                        list(unique),
                        [item.table or VARBINDS for item in unique.values()],
                        [item.host for item in unique.values()],
                    ),
                ).fetchall()
            }
            groups: dict[str, list[LoadItem]] = {}
            for item in unique.values():
                if item.result_id in claimed:
                    groups.setdefault(item.table or VARBINDS, []).append(item)
            for name, group in groups.items():
                rows += self._copy(connection, name, group, idempotent_rows)
        return len(claimed), rows

    def _copy(self, connection: Any, name: str, group: list[LoadItem], idempotent_rows: bool) -> int:
        from psycopg import sql

        ids = [item.result_id for item in group]
        hosts = [item.host for item in group]
        buffers = [item.buffer for item in group]
        if name == VARBINDS:
            columns = VARBIND_COLUMNS
            key = [*KEY_PREFIX, "oid"]
            data = native.copy_varbinds(buffers, ids, hosts)
        else:
            table = self.tables[name]
            spec = table_columns(table)
            columns = [(column, SQL_TYPES[kind]) for column, kind in spec]
            key = KEY_PREFIX + [f.name.lower() for f in table.index]
            data = native.copy_table(
                [(f.name, f.field, f.length, f.value.kind) for f in table.index],
                [(c.name, c.oid, c.value.kind) for c in table.columns],
                [kind for _, kind in spec],
                buffers,
                ids,
                hosts,
            )
        target = f"snmp_{name.lower()}"
        self._ensure_table(connection, target, columns, key)
        names = sql.SQL(", ").join(sql.Identifier(c) for c, _ in PREFIX + columns)
        into = sql.Identifier(target)
        if idempotent_rows:
            staging = sql.Identifier(f"{target}_staging")
            connection.execute(
                sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DROP").format(staging, into)
            )
            into = staging
        with connection.cursor() as cursor:
            with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(into, names)) as copy:
                copy.write(data.data)
            rows = int(cursor.rowcount)
        if idempotent_rows:
            result = connection.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                    sql.Identifier(target), names, names, into
                )
            )
            connection.execute(sql.SQL("DROP TABLE {}").format(into))
            rows = int(result.rowcount)
        return rows

    def _ensure_table(
        self, connection: Any, table: str, columns: list[tuple[str, str]], key: list[str]
    ) -> None:
        """Creates `table`, or adds the columns it lacks: only when they changed (checked once
        per connection and table)."""
        if table in self._ready:
            return
        from psycopg import sql

        wanted = PREFIX + columns
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"snmp-stream:{table}",))
        have = {
            row[0]
            for row in connection.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                " AND table_name = %s",
                (table,),
            ).fetchall()
        }
        identifier = sql.Identifier(table)
        if not have:
            definition = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, t in wanted
            )
            keys = sql.SQL(", ").join(sql.Identifier(c) for c in key)
            connection.execute(
                sql.SQL("CREATE TABLE {} ({}, UNIQUE ({}))").format(identifier, definition, keys)
            )
            log.info("created table %s", table)
        else:
            old = sorted(c for c in have if c != c.lower() or (c == "result_id" and "host" not in have))
            if old:
                raise OldSchemaError(
                    f"table {table} was made by an older snmp-stream (columns {', '.join(old)}); rename or"
                    " drop it, see docs/BUS.md (Migrating)"
                )
            for column, kind in wanted:
                if column not in have:
                    connection.execute(
                        sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                            identifier, sql.Identifier(column), sql.SQL(kind.replace(" NOT NULL", ""))
                        )
                    )
                    log.info("table %s: added column %s", table, column)
        self._ready.add(table)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
