"""The end-to-end checker of the compose stack (docker/compose.yaml, service `e2e`), run by
scripts/docker-test.sh inside the snmp-stream image on the stack's network.

    e2e.py ready                                  # the workers' streams and consumers exist
    e2e.py publish BATCH COUNT --agents a,b,c     # COUNT requests, req_ids BATCH-0 ...
    e2e.py publish BATCH COUNT --at-least K       # ... then wait until K results are stored
    e2e.py progress BATCH COUNT --at-least K      # wait until K results of the batch are stored
    e2e.py check BATCH COUNT                      # wait for all, then check each once, rows once

`check` waits until every request of the batch has its result in the results stream and its
claim in PostgreSQL, then checks that each request has exactly one result (status
successful), exactly one `snmp_loaded` row, and as many rows in its table (`snmp_interfaces`
or `snmp_varbinds`) as its own result buffer decodes to. Exits 1 naming what is wrong.
NATS and PostgreSQL come from NATS_URL and libpq's PG* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import time
from typing import Any

import nats
import psycopg
from nats.js import api

from snmp_stream import _snmp_stream as native
from snmp_stream import recipes
from snmp_stream.bus import BusConfig, request_message
from snmp_stream.bus.jetstream import Store, result_payload

BUS = BusConfig(url=os.environ.get("NATS_URL", "nats://nats:4222"))

# What a batch asks for, round robin: a recipe table (rows in snmp_interfaces), a plain walk of
# mib-2 (rows in snmp_varbinds: hundreds of varbinds, the long requests) and a plain GET.
KINDS = [
    {"table": "interfaces"},
    {"kind": "walk", "oids": ["1.3.6.1.2.1"]},
    {"kind": "get", "oids": ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0"]},
]


def requests(batch: str, count: int, agents: list[str]) -> list[tuple[str, bytes]]:
    out = []
    for i in range(count):
        req_id = f"{batch}-{i}"
        fields = KINDS[i % len(KINDS)]
        out.append((req_id, request_message(f"{agents[i % len(agents)]}:161", req_id=req_id, **fields)))
    return out


async def results(js: Any, batch: str) -> list[tuple[dict[str, str], bytes]]:
    """Every result of the batch in the results stream: (headers, buffer), in stream order."""
    info = await js.stream_info(BUS.results_stream)
    if info.state.messages == 0:
        return []
    store = Store(js, BUS)
    sub = await js.subscribe(
        f"{BUS.results_prefix}.>", ordered_consumer=True, deliver_policy=api.DeliverPolicy.ALL
    )
    found = []
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            headers = msg.headers or {}
            if headers.get("snmp-req-id", "").startswith(f"{batch}-"):
                found.append((headers, await result_payload(store, msg)))
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


def loaded(batch: str) -> dict[str, int]:
    with psycopg.connect() as connection:
        if connection.execute("SELECT to_regclass('snmp_loaded')").fetchone() == (None,):
            return {}
        rows = connection.execute(
            "SELECT result_id, count(*) FROM snmp_loaded WHERE result_id LIKE %s GROUP BY result_id",
            (f"{batch}-%",),
        ).fetchall()
    return dict(rows)


def rows_in_tables(batch: str) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    with psycopg.connect() as connection:
        for table in ("snmp_interfaces", "snmp_varbinds"):
            if connection.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                continue
            for result_id, n in connection.execute(
                f"SELECT result_id, count(*) FROM {table} WHERE result_id LIKE %s GROUP BY result_id",
                (f"{batch}-%",),
            ):
                counts[result_id] += n
    return dict(counts)


def expected_rows(headers: dict[str, str], buffer: bytes) -> int:
    if headers.get("snmp-table"):
        return len(recipes.BY_NAME[headers["snmp-table"]].to_pandas([buffer]))
    return len(native.decode_varbinds(buffer))


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["ready", "publish", "progress", "check"])
    parser.add_argument("batch", nargs="?", default="")
    parser.add_argument("count", nargs="?", type=int, default=0)
    parser.add_argument("--agents", default="agent-1,agent-2,agent-3")
    parser.add_argument("--at-least", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.at_least is None:
        args.at_least = 0 if args.command == "publish" else 1
    client = await nats.connect(BUS.url)
    js = client.jetstream()
    deadline = time.monotonic() + args.timeout
    try:
        if args.command == "ready":
            while True:
                try:
                    await js.consumer_info(BUS.requests_stream, BUS.consumer)
                    await js.consumer_info(BUS.results_stream, BUS.parse_consumer)
                    print("e2e: the workers' streams and consumers are there")
                    return 0
                except nats.js.errors.NotFoundError:
                    if time.monotonic() > deadline:
                        print("e2e: the workers did not create their consumers", file=sys.stderr)
                        return 1
                    await asyncio.sleep(0.5)
        if args.command == "publish":
            for _, data in requests(args.batch, args.count, args.agents.split(",")):
                await js.publish(f"{BUS.requests_prefix}.e2e", data)
            print(f"e2e: published {args.count} requests ({args.batch}-0 ... {args.batch}-{args.count - 1})")
            if args.at_least == 0:
                return 0
        want = args.at_least if args.command != "check" else args.count
        while True:
            found = await results(js, args.batch)
            done = loaded(args.batch) if args.command == "check" else {}
            if len(found) >= want and (args.command != "check" or len(done) >= want):
                break
            if time.monotonic() > deadline:
                print(f"e2e: {args.batch}: {len(found)} results, {len(done)} loaded of {want} after"
                      f" {args.timeout:.0f} s", file=sys.stderr)  # fmt: skip
                return 1
            await asyncio.sleep(0.5)
        if args.command != "check":
            pending = (await js.consumer_info(BUS.requests_stream, BUS.consumer)).num_ack_pending
            print(f"e2e: {args.batch}: {len(found)} of {args.count} results stored, {pending} requests"
                  " in flight in the collector workers")  # fmt: skip
            return 0
        return check(args.batch, args.count, found)
    finally:
        await client.close()


def check(batch: str, count: int, found: list[tuple[dict[str, str], bytes]]) -> int:
    problems = []
    ids = [f"{batch}-{i}" for i in range(count)]
    per_request = collections.Counter(h["snmp-req-id"] for h, _ in found)
    missing = [i for i in ids if per_request[i] == 0]
    twice = sorted(i for i, n in per_request.items() if n > 1)
    failed = sorted(h["snmp-req-id"] for h, _ in found if h.get("snmp-status") != "successful")
    if missing or twice or failed or len(per_request) != count:
        problems.append(
            f"results: missing {missing[:5]}, more than once {twice[:5]}, not successful {failed[:5]}"
        )
    claims = loaded(batch)
    if set(claims) != set(ids):
        problems.append(f"snmp_loaded: {len(claims)} results claimed, expected the {count} of the batch")
    rows = rows_in_tables(batch)
    want = {h["snmp-req-id"]: expected_rows(h, data) for h, data in found}
    wrong = sorted(i for i in ids if rows.get(i, 0) != want.get(i, -1))
    if wrong:
        problems.append(f"rows: {len(wrong)} results with a wrong row count, e.g. {wrong[0]}:"
                        f" {rows.get(wrong[0], 0)} rows, its buffer has {want.get(wrong[0])}")  # fmt: skip
    for problem in problems:
        print(f"e2e: {batch}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"e2e: {batch}: {count} requests, {count} results (each once, all successful),"
          f" {sum(rows.values())} rows in PostgreSQL (each result's rows once)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
