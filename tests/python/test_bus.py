"""The bus workers against real servers: a throwaway nats-server (JetStream) and PostgreSQL
cluster, real snmpd agents (one with the delayagent table for slow and large walks), and the
workers run as a user runs them (subprocesses). Collections are counted at the agent (its
snmpInPkts), results on the results stream, rows in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

import snmp_stream
from conftest import Agent, agent_packets
from servers import NatsServer, Postgres
from snmp_stream import recipes
from snmp_stream.bus import request_message
from snmp_stream.snmpd import free_port

DELAY_TABLE = "1.3.6.1.4.1.99999.1.1"
TABLES_YAML = f"""
tables:
  delay_table:
    index: {{row: integer}}
    columns:
      name: [{DELAY_TABLE}.2, utf8]
      octets: [{DELAY_TABLE}.3, counter32]
      big: [{DELAY_TABLE}.4, counter64]
"""


@dataclass
class Bus:
    """One test's own streams, subjects, buckets and consumers on the shared server."""

    url: str
    tag: str

    def args(self, consumer: str = "collectors") -> list[str]:
        t = self.tag
        return [
            "--nats",
            self.url,
            "--stream",
            f"REQ_{t}",
            "--subject",
            f"req.{t}.>",
            "--results-stream",
            f"RES_{t}",
            "--results-prefix",
            f"res.{t}",
            "--dead-stream",
            f"DEAD_{t}",
            "--dead-prefix",
            f"dead.{t}",
            "--consumer",
            f"{consumer}-{t}",
            "--objects-bucket",
            f"LARGE_{t}",
            "--collected-bucket",
            f"COLLECTED_{t}",
        ]

    def run(self, coroutine: Any) -> Any:
        async def wrapped() -> Any:
            import nats

            connection = await nats.connect(self.url.split(","))
            try:
                return await coroutine(connection.jetstream())
            finally:
                await connection.close()

        return asyncio.run(wrapped())

    def ack_pending(self, consumer: str = "collectors") -> int:
        """How many requests are handed out to the consumer and not yet acked."""

        async def pending(js: Any) -> int:
            info = await js.consumer_info(f"REQ_{self.tag}", f"{consumer}-{self.tag}")
            return int(info.num_ack_pending)

        return self.run(pending)

    def wait_ack_pending(self, count: int, consumer: str = "collectors", timeout: float = 30) -> None:
        """Waits until `count` requests are handed out to the consumer and not yet acked."""
        deadline = time.monotonic() + timeout
        while (seen := self.ack_pending(consumer)) < count:
            assert time.monotonic() < deadline, f"{seen} of {count} requests handed out"
            time.sleep(0.05)

    def ensure(self, replicas: int = 1) -> None:
        from nats.js.api import RetentionPolicy, StreamConfig

        async def run(js: Any) -> None:
            for name, subjects, retention in (
                (f"REQ_{self.tag}", [f"req.{self.tag}.>"], RetentionPolicy.WORK_QUEUE),
                (f"RES_{self.tag}", [f"res.{self.tag}.>"], RetentionPolicy.LIMITS),
                (f"DEAD_{self.tag}", [f"dead.{self.tag}.>"], RetentionPolicy.LIMITS),
            ):
                config = StreamConfig(
                    name=name, subjects=subjects, retention=retention, num_replicas=replicas
                )
                deadline = time.monotonic() + 30
                while True:  # a new cluster answers once it has elected its leaders
                    try:
                        await js.stream_info(name)
                        break
                    except Exception:
                        try:
                            await js.add_stream(config)
                            break
                        except Exception:
                            if time.monotonic() > deadline:
                                raise
                            await asyncio.sleep(0.5)

        self.run(run)

    def publish(self, messages: list[bytes]) -> None:
        self.ensure()

        async def run(js: Any) -> None:
            for message in messages:
                await js.publish(f"req.{self.tag}.x", message)

        self.run(run)

    def collect(self, prefix: str, count: int, timeout: float = 30) -> list[Any]:
        """Reads messages from the results or dead-letter stream until `count` or `timeout`."""

        async def run(js: Any) -> list[Any]:
            from nats.errors import TimeoutError as NatsTimeout

            subscription = await js.pull_subscribe(f"{prefix}.{self.tag}.>", durable=None)
            got: list[Any] = []
            deadline = time.monotonic() + timeout
            while len(got) < count and time.monotonic() < deadline:
                try:
                    batch = await subscription.fetch(200, timeout=0.5)
                except (NatsTimeout, asyncio.TimeoutError):
                    continue
                for msg in batch:
                    got.append((msg.subject, dict(msg.headers or {}), bytes(msg.data)))
                    await msg.ack()
            return got

        return self.run(run)


@pytest.fixture
def bus(nats_server: NatsServer) -> Bus:
    return Bus(nats_server.url, uuid.uuid4().hex[:10])


def request(agent_host: str, **fields: Any) -> bytes:
    return request_message(agent_host, **fields)


def start(*args: str) -> subprocess.Popen[str]:
    """Runs `snmp-stream ARGS` and waits until it consumes (its log says so on stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "snmp_stream", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if " consuming " in line:
            break
    else:
        process.wait()
        raise AssertionError("".join(lines))
    process.log = lines  # type: ignore[attr-defined]
    return process


def start_worker(bus: Bus, *extra: str) -> subprocess.Popen[str]:
    return start("worker", *bus.args(), *extra)


def start_parser(bus: Bus, postgres: Postgres, *extra: str) -> subprocess.Popen[str]:
    return start("parse-worker", *bus.args("parsers"), "--dsn", postgres.dsn, *extra)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, "".join(process.log) + err  # type: ignore[attr-defined]


def handled(stderr: str) -> int:
    line = next(line for line in stderr.splitlines() if "stopped after" in line)
    return int(line.split("stopped after ")[1].split()[0])


def wait_for(query: str, params: tuple[Any, ...], dsn: str, expected: int, timeout: float = 60) -> int:
    """Polls a count(*) query until it reaches `expected` (or time is up); returns the last count."""
    deadline = time.monotonic() + timeout
    count = -1
    with psycopg.connect(dsn, autocommit=True) as connection:
        while time.monotonic() < deadline:
            try:
                row = connection.execute(query, params).fetchone()
                count = int(row[0]) if row else 0
            except psycopg.errors.UndefinedTable:
                count = 0  # the parse worker has not created it yet
            if count >= expected:
                return count
            time.sleep(0.2)
    return count


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture
def tables_file(tmp_path: Path) -> str:
    path = tmp_path / "tables.yaml"
    path.write_text(TABLES_YAML)
    return str(path)


def test_requests_in_results_out_and_dead_letters(bus: Bus, agent: Agent, workers: list[Any]) -> None:
    good = [request(agent.host, table="system", req_id=f"sys-{i}") for i in range(10)]
    good += [request(agent.host6, table="if_table", req_id=f"if-{i}") for i in range(5)]
    good += [request(agent.host, kind="walk", oids=["1.3.6.1.2.1.1.9"], req_id="raw")]
    bad = [
        b"not json",
        json.dumps({"schema": "v0"}).encode(),
        request("bad host", table="system"),
        request(agent.host, table="no_such_table"),
    ]
    bus.publish(good + bad)
    workers.append(start_worker(bus, "--concurrency", "8"))
    results = bus.collect("res", len(good))
    dead = bus.collect("dead", len(bad))
    code, err = stop(workers[0])
    assert code == 0, err
    assert handled(err) == len(good) + len(bad)
    assert sorted(h["snmp-req-id"] for _, h, _ in results) == sorted(
        [f"sys-{i}" for i in range(10)] + [f"if-{i}" for i in range(5)] + ["raw"]
    )
    assert {h["snmp-status"] for _, h, _ in results} == {"successful"}
    assert all(h["snmp-id"] == h["snmp-req-id"] == h["Nats-Msg-Id"] for _, h, _ in results)
    assert all(0 < float(h["snmp-elapsed"]) < 30 for _, h, _ in results)
    system = [data for subject, h, data in results if subject.endswith(".system")]
    frame = recipes.SYSTEM.to_pandas(system)
    assert list(frame["sysName"]) == ["snmp-stream-test"] * 10
    if_rows = recipes.IF_TABLE.to_pandas([d for s, _, d in results if s.endswith(".if_table")])
    assert set(if_rows["req_id"]) == {f"if-{i}" for i in range(5)}
    [raw] = [(s, h) for s, h, _ in results if h["snmp-req-id"] == "raw"]
    assert raw[0].endswith(".walk") and raw[1]["snmp-kind"] == "walk" and "snmp-table" not in raw[1]
    reasons = sorted(h["snmp-reason"] for _, h, _ in dead)
    assert len(reasons) == 4
    assert any("not JSON" in r for r in reasons) and any("schema is 'v0'" in r for r in reasons)
    assert any('invalid host "bad host"' in r for r in reasons) and any("unknown table" in r for r in reasons)
    assert "Traceback" not in err


def test_three_workers_share_the_load(bus: Bus, agent: Agent, workers: list[Any]) -> None:
    bus.publish([])  # the streams exist, so the workers share one consumer from the start
    # Two in flight each: every worker must keep pulling to get through the 300.
    workers.extend(start_worker(bus, "--concurrency", "2") for _ in range(3))
    bus.publish([request(agent.host, table="if_table", req_id=f"{i}") for i in range(300)])
    results = bus.collect("res", 300)
    counts = [handled(stop(process)[1]) for process in workers]
    assert len({h["snmp-req-id"] for _, h, _ in results}) == 300
    assert sum(counts) >= 300 and all(count > 0 for count in counts), counts


def test_a_second_consumer_name_is_a_clear_error(bus: Bus, workers: list[Any]) -> None:
    workers.append(start_worker(bus))
    other = subprocess.run(
        [sys.executable, "-m", "snmp_stream", "worker", *bus.args("others")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert other.returncode == 2, other.stderr
    assert f"cannot use consumer 'others-{bus.tag}'" in other.stderr
    assert f"collectors-{bus.tag}" in other.stderr and "Traceback" not in other.stderr


def test_walks_longer_than_the_ack_wait_are_collected_once(
    bus: Bus, delayed_agent_factory: Any, workers: list[Any]
) -> None:
    # Every PDU answered 100 ms late: a walk of 40 rows, 2 per PDU, takes about 2 s, twice
    # the ack wait. Without in-progress acks JetStream would hand it out again meanwhile.
    config = {"max_var_binds_per_pdu": 2, "timeout": 2, "retries": 0}
    with delayed_agent_factory(40, 100) as agent:
        before = agent_packets(agent)
        direct = snmp_stream.walk(agent.host, "public", f"{DELAY_TABLE}.2", config=config)
        assert direct.status == "successful"
        one_walk = agent_packets(agent) - before - 1
        assert one_walk >= 20
        walks = 4
        before = agent_packets(agent)
        bus.publish(
            [
                request(agent.host, kind="walk", oids=[f"{DELAY_TABLE}.2"], req_id=f"slow-{i}", config=config)
                for i in range(walks)
            ]
        )
        workers.append(start_worker(bus, "--ack-wait", "1", "--concurrency", "8"))
        results = bus.collect("res", walks, timeout=30)
        assert sorted(h["snmp-req-id"] for _, h, _ in results) == [f"slow-{i}" for i in range(walks)]
        assert all(float(h["snmp-elapsed"]) > 1.5 for _, h, _ in results)
        time.sleep(1.5)  # a redelivery, if any, would be collected by now
        received = agent_packets(agent) - before - 1
        code, err = stop(workers[0])
    assert code == 0, err
    assert received == walks * one_walk, (received, one_walk)
    assert handled(err) == walks
    assert len(bus.collect("res", walks + 1, timeout=1)) == walks


def test_the_same_request_published_twice_is_collected_once(
    bus: Bus, agent: Agent, workers: list[Any]
) -> None:
    with_id = request(agent.host, table="if_table", req_id="twice")
    without_id = request(agent.host, kind="walk", oids=["1.3.6.1.2.1.1"])
    bus.publish([with_id, without_id])
    workers.append(start_worker(bus))
    first = bus.collect("res", 2)
    assert len(first) == 2
    before = agent_packets(agent)
    bus.publish([with_id, without_id])  # again, after they were collected
    time.sleep(2)
    assert agent_packets(agent) - before - 1 == 0, "collected again"
    code, err = stop(workers[0])
    assert code == 0, err
    assert handled(err) == 4
    assert err.count("was collected before") == 2
    assert len(bus.collect("res", 3, timeout=1)) == 2
    [hashed] = [h for _, h, _ in first if h["snmp-req-id"] != "twice"]
    assert hashed["snmp-id"].startswith("sha256:") and hashed["snmp-req-id"] == hashed["snmp-id"]


def test_a_large_result_passes_through_the_object_store_into_postgres(
    bus: Bus, delayed_agent_factory: Any, postgres: Postgres, workers: list[Any], tables_file: str
) -> None:
    rows = 100_000
    with delayed_agent_factory(rows, 0) as agent:
        bus.publish(
            [request(agent.host, table="delay_table", req_id=f"big-{bus.tag}", config={"timeout": 5})]
        )
        workers.append(start_worker(bus, "--tables", tables_file))
        results = bus.collect("res", 1, timeout=60)
        assert len(results) == 1, stop(workers[-1])[1]
        [(subject, headers, data)] = results
    assert subject.endswith(".delay_table") and data == b""
    assert headers["snmp-status"] == "successful", headers
    assert int(headers["snmp-size"]) > 1024 * 1024  # over NATS's default max_payload
    assert headers["snmp-object"].startswith(f"LARGE_{bus.tag}/")
    workers.append(start_parser(bus, postgres, "--tables", tables_file))
    count = wait_for(
        "SELECT count(*) FROM snmp_delay_table WHERE result_id = %s", (f"big-{bus.tag}",), postgres.dsn, rows
    )
    assert count == rows
    with psycopg.connect(postgres.dsn) as connection:
        sample = connection.execute(
            "SELECT row, name, octets, big FROM snmp_delay_table WHERE result_id = %s AND row IN (1, 99999)"
            " ORDER BY row",
            (f"big-{bus.tag}",),
        ).fetchall()
    assert sample == [(1, "row-1", 1000, 2**32 + 1), (99999, "row-99999", 99999000, 99999 * 2**32 + 99999)]


def test_killed_worker_loses_nothing_and_no_duplicate_rows(
    bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    total = 200
    bus.publish([request(agent.host, table="if_table", req_id=f"job-{bus.tag}-{i}") for i in range(total)])
    # A slow first worker (few in flight), killed mid-batch; its unacked requests come back.
    first = start_worker(bus, "--concurrency", "2", "--ack-wait", "2")
    workers.append(first)
    bus.collect("res", 20, timeout=30)
    first.kill()
    first.wait()
    workers.append(start_worker(bus, "--concurrency", "32", "--ack-wait", "2"))
    parser = start_parser(bus, postgres)
    workers.append(parser)
    # Every request's result arrives, once: JetStream drops a republished duplicate.
    results = bus.collect("res", total, timeout=30)
    assert sorted({h["snmp-req-id"] for _, h, _ in results}) == sorted(
        f"job-{bus.tag}-{i}" for i in range(total)
    )
    time.sleep(1)
    assert len(bus.collect("res", total + 1, timeout=2)) == total, "no result was published twice"
    pattern = (f"job-{bus.tag}-%",)
    loaded = wait_for(
        "SELECT count(*) FROM snmp_loaded WHERE result_id LIKE %s", pattern, postgres.dsn, total
    )
    assert loaded == total
    code, err = stop(parser)
    assert code == 0, err
    expected = len(recipes.IF_TABLE.to_pandas([data for _, _, data in results]))
    with psycopg.connect(postgres.dsn) as connection:
        rows = connection.execute(
            "SELECT count(*), count(DISTINCT (result_id, ifindex)) FROM snmp_if_table"
            " WHERE result_id LIKE %s",
            pattern,
        ).fetchone()
    assert rows == (expected, expected) and expected >= total


def test_loaded_schema_is_queryable(bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]) -> None:
    tag = bus.tag
    bus.publish(
        [
            request(agent.host, table="interfaces", req_id=f"if-{tag}"),
            request(agent.host, kind="walk", oids=["1.3.6.1.2.1.1"], req_id=f"walk-{tag}"),
            request(
                agent.host, kind="get", oids=["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0"], req_id=f"get-{tag}"
            ),
        ]
    )
    workers.append(start_worker(bus))
    results = bus.collect("res", 3)
    workers.append(start_parser(bus, postgres))
    assert (
        wait_for("SELECT count(*) FROM snmp_loaded WHERE result_id LIKE %s", (f"%-{tag}",), postgres.dsn, 3)
        == 3
    )
    by_id = {h["snmp-req-id"]: data for _, h, data in results}
    with psycopg.connect(postgres.dsn) as connection:
        # Unquoted MIB names work (lower-case columns); types fit the SNMP types.
        rows = connection.execute(
            "SELECT host, ifIndex, ifName, ifHCInOctets, collected_at FROM snmp_interfaces"
            " WHERE result_id = %s"
            " ORDER BY ifIndex",
            (f"if-{tag}",),
        ).fetchall()
        types = dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'snmp_interfaces'"
            ).fetchall()
        )
        indexes = [
            row[0]
            for row in connection.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'snmp_interfaces'"
            ).fetchall()
        ]
        varbinds_indexes = [
            row[0]
            for row in connection.execute(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'snmp_varbinds'"
            ).fetchall()
        ]
        varbinds = connection.execute(
            "SELECT oid, root, index, type, value, value_bytes FROM snmp_varbinds"
            " WHERE result_id = %s ORDER BY oid",
            (f"get-{tag}",),
        ).fetchall()
        walked = connection.execute(
            "SELECT count(*), min(host) FROM snmp_varbinds WHERE result_id = %s", (f"walk-{tag}",)
        ).fetchone()
    frame = recipes.INTERFACES.to_pandas(by_id[f"if-{tag}"])
    assert [r[1] for r in rows] == list(frame["ifIndex"]) and [r[2] for r in rows] == list(frame["ifName"])
    assert [int(r[3]) for r in rows] == [int(v) for v in frame["ifHCInOctets"]]
    assert {r[0] for r in rows} == {agent.host}
    start_us = int.from_bytes(by_id[f"if-{tag}"][8:16], "little")
    assert {int(r[4].timestamp() * 1_000_000) for r in rows} == {start_us}
    assert types["ifindex"] == "bigint" and types["ifmtu"] == "integer" and types["ifspeed"] == "bigint"
    assert (
        types["ifhcinoctets"] == "numeric"
        and types["ifname"] == "text"
        and types["collected_at"].startswith("timestamp")
    )
    # One B-tree: the idempotency key, led by (host, collected_at) for queries by host and time.
    assert len(indexes) == 1 and "UNIQUE" in indexes[0], indexes
    assert "(host, collected_at, result_id, ifindex)" in indexes[0], indexes
    assert len(varbinds_indexes) == 1 and "(host, collected_at, result_id, oid)" in varbinds_indexes[0]
    records = snmp_stream._snmp_stream.decode_varbinds(by_id[f"get-{tag}"])
    assert [(v[0], v[3]) for v in varbinds] == sorted((oid, kind) for oid, kind, _ in records)
    sysname = next(v for v in varbinds if v[0] == ".1.3.6.1.2.1.1.5.0")
    assert sysname[1:] == (".1.3.6.1.2.1.1.5.0", "", "STRING", "snmp-stream-test", b"snmp-stream-test")
    assert walked == (len(snmp_stream._snmp_stream.decode_varbinds(by_id[f"walk-{tag}"])), agent.host)


def test_poison_results_are_retried_then_dead_lettered(bus: Bus, agent: Agent, workers: list[Any]) -> None:
    bus.publish([request(agent.host, table="system", req_id="poison")])
    workers.append(start_worker(bus))
    bus.collect("res", 1)
    bad_dsn = "host=127.0.0.1 port=1 dbname=nope connect_timeout=1"
    parser = start(
        "parse-worker", *bus.args("parsers"), "--dsn", bad_dsn, "--max-deliver", "2", "--backoff", "0.2"
    )
    workers.append(parser)
    dead = bus.collect("dead", 1, timeout=30)
    code, err = stop(parser)
    assert code == 0, err
    [(subject, headers, _)] = dead
    assert subject.endswith(".poison")
    assert headers["snmp-reason"].startswith("failed 2 time(s): OperationalError")
    assert "will retry (delivery 1 of 2)" in err


def test_sigterm_drains_requests_in_flight(
    bus: Bus, agent: Agent, silent_port: int, workers: list[Any]
) -> None:
    # Requests to a dead port stay in flight for their whole timeout: SIGTERM lands mid-way.
    dead = [
        request(
            f"127.0.0.1:{silent_port}",
            kind="get",
            oids=["1.3.6.1.2.1.1.5.0"],
            req_id=f"slow-{i}",
            config={"timeout": 4, "retries": 0},
        )
        for i in range(10)
    ]
    bus.publish(dead)
    worker = start_worker(bus, "--concurrency", "16")
    workers.append(worker)
    bus.wait_ack_pending(10)  # the worker has them all; their timeouts run until 4 s
    started = time.monotonic()
    code, err = stop(worker)
    assert code == 0, err
    assert "draining 10 message(s) in flight" in err
    assert time.monotonic() - started < 8
    results = bus.collect("res", 10, timeout=5)
    assert sorted(h["snmp-req-id"] for _, h, _ in results) == sorted(f"slow-{i}" for i in range(10))
    assert {h["snmp-status"] for _, h, _ in results} == {"failed"}
    # Everything was acked before the exit: a new worker finds nothing to redo.
    workers.append(start_worker(bus))
    time.sleep(2)
    assert len(bus.collect("res", 11, timeout=2)) == 10


def test_concurrency_collects_and_prefetch_holds(bus: Bus, workers: list[Any]) -> None:
    # The agent: a socket that the test reads and never answers, so each request it gets stays
    # in flight for its whole timeout (4 s, no retries) and its arrival is seen.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{agent.getsockname()[1]}"
        config = {"timeout": 4, "retries": 0}
        oids = ["1.3.6.1.2.1.1.5.0"]
        bus.publish([request(host, kind="get", oids=oids, req_id=f"h{i}", config=config) for i in range(10)])
        worker = start_worker(bus, "--concurrency", "2", "--prefetch", "3")
        workers.append(worker)
        bus.wait_ack_pending(5)  # 2 collected at once, 3 more queued in the worker's engine
        time.sleep(1)
        assert bus.ack_pending() == 5, "the worker holds --concurrency + --prefetch requests"
        agent.settimeout(0.2)
        seen = []
        with contextlib.suppress(TimeoutError):
            while True:
                seen.append(agent.recv(2048))
        assert len(seen) == 2, "2 requests in flight until the first time out"
    assert worker.poll() is None


def test_parse_workers_take_turns_at_loading(
    bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    # The load turn of the parse workers of this consumer (an advisory lock), held here as
    # another parse worker's load would hold it: results wait, gathered into one batch, until
    # it is given back; a turn held for longer than 5 s (a hung load) holds them up no longer.
    turn = ("snmp-stream:load-turn:parsers-" + bus.tag,)
    query = "SELECT count(*), count(DISTINCT loaded_at) FROM snmp_loaded WHERE result_id LIKE %s"

    def state(tag: str) -> tuple[int, int]:
        with psycopg.connect(postgres.dsn, autocommit=True) as connection:
            try:
                row = connection.execute(query, (f"{tag}-%",)).fetchone()
            except psycopg.errors.UndefinedTable:
                return 0, 0
        assert row is not None
        return int(row[0]), int(row[1])

    workers.append(start_worker(bus))
    workers.append(start_parser(bus, postgres))
    with psycopg.connect(postgres.dsn, autocommit=True) as other:
        other.execute("SET lock_timeout = '10s'")  # a worker that kept its turn fails the test
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", turn)
        bus.publish([request(agent.host, table="system", req_id=f"turn-{i}") for i in range(5)])
        assert len(bus.collect("res", 5, timeout=10)) == 5  # collected and stored
        time.sleep(1)
        assert state("turn") == (0, 0), "loaded while another parse worker had the turn"
        other.execute("SELECT pg_advisory_unlock(hashtext(%s))", turn)
        assert wait_for(query, ("turn-%",), postgres.dsn, 5, timeout=10) == 5
        assert state("turn") == (5, 1), "the results that waited for the turn load in one transaction"

        other.execute("SELECT pg_advisory_lock(hashtext(%s))", turn)  # and never given back
        started = time.monotonic()
        bus.publish([request(agent.host, table="system", req_id="hung-0")])
        assert wait_for(query, ("hung-%",), postgres.dsn, 1, timeout=20) == 1
        assert 4 < time.monotonic() - started < 15, "loaded after the turn's 5 s wait, not before"
    code, err = stop(workers.pop())
    assert code == 0 and "no load turn within 5 s" in err, err


def test_a_message_at_an_idle_puller_is_handed_over_at_once(bus: Bus) -> None:
    # An idle worker's fetch that timed out leaves the server a pull request that expires a
    # moment later; its "408" then answers the next fetch's probe, and nats-py's fetch would
    # hold a message that arrives next until its batch is full or its timeout (up to 5 s
    # here, seen in about half the rounds). The workers' Puller hands it over within its
    # linger (10 ms).
    from snmp_stream.bus.jetstream import BusConfig, Puller

    t = bus.tag
    config = BusConfig(url=bus.url, requests_stream=f"REQ_{t}", requests_subject=f"req.{t}.>",
                       results_stream=f"RES_{t}", results_prefix=f"res.{t}", dead_stream=f"DEAD_{t}",
                       dead_prefix=f"dead.{t}")  # fmt: skip

    async def run(js: Any) -> list[float]:
        puller = Puller(js, config, config.requests_stream, config.requests_subject, f"idle-{t}")
        await puller.bind()  # the streams and the durable consumer, as a worker makes them
        waits = []
        for i in range(8):
            assert await puller.fetch(64, timeout=0.2) == []  # idle: times out

            async def publish_later(i: int = i) -> None:
                await asyncio.sleep(0.1)
                await js.publish(f"req.{bus.tag}.x", b"%d" % i)

            later = asyncio.create_task(publish_later())
            started = time.monotonic()
            messages = await puller.fetch(64, timeout=5.0)
            waits.append(time.monotonic() - started)
            await later
            assert [bytes(m.data) for m in messages] == [b"%d" % i]
            for m in messages:
                await m.ack()
        return waits

    waits = bus.run(run)
    assert max(waits) < 0.6, f"seconds from fetch to a message published 0.1 s in: {waits}"


def test_retention_limits_are_applied_to_the_streams(bus: Bus, workers: list[Any]) -> None:
    async def limits(js: Any) -> list[tuple[float, int]]:
        out = []
        for stream in (f"RES_{bus.tag}", f"DEAD_{bus.tag}"):
            config = (await js.stream_info(stream)).config
            out.append((round(config.max_age or 0), int(config.max_bytes or -1)))
        return out

    given = ["--results-max-age", "2h", "--results-max-bytes", "50000000", "--dead-max-age", "3d"]
    workers.append(start_worker(bus, *given, "--dead-max-bytes", "1000000"))
    assert bus.run(limits) == [(7200, 50_000_000), (3 * 86400, 1_000_000)]  # created with them
    assert stop(workers.pop())[0] == 0
    workers.append(start_worker(bus, "--results-max-age", "1h"))
    assert bus.run(limits) == [(3600, -1), (30 * 86400, -1)]  # existing streams: updated, the rest default


def test_worker_counts_must_be_whole_numbers(bus: Bus) -> None:
    for option, value, why in (("--concurrency", "0", "must be at least 1, not 0"),
                               ("--prefetch", "-1", "must be at least 0, not -1"),
                               ("--prefetch", "many", "not a whole number: 'many'")):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "snmp_stream", "worker", *bus.args(), option, value],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and f"{option}: {why}" in done.stderr, done.stderr


def test_metrics_endpoint(bus: Bus, agent: Agent, silent_port: int, workers: list[Any]) -> None:
    port = free_port()
    bus.publish(
        [request(agent.host, table="system", req_id=f"m-{i}") for i in range(3)]
        + [
            request(
                f"127.0.0.1:{silent_port}",
                table="system",
                req_id="m-dead",
                config={"timeout": 0.2, "retries": 0},
            )
        ]
    )
    workers.append(start_worker(bus, "--metrics-port", str(port)))
    bus.collect("res", 4)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'snmp_stream_requests_total{status="successful"} 3.0' in text
    assert 'snmp_stream_requests_total{status="failed"} 1.0' in text
    assert 'snmp_stream_failures_total{kind="timeout"} 1.0' in text
    assert "snmp_stream_collection_seconds_count 4.0" in text
    assert "snmp_stream_in_flight 0.0" in text
    stop(workers[0])


def schedule(bus: Bus, targets: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snmp_stream", "schedule", str(targets), *bus.args(), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_scheduler_publishes_a_slot_once_even_when_restarted(
    bus: Bus, agent: Agent, workers: list[Any], tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"- host: {agent.host}\n  tables: [system]\n  walk: [1.3.6.1.2.1.1.9]\n")
    first = schedule(bus, targets, "--every", "1d", "--once")
    assert first.returncode == 0, first.stderr
    assert "2 request(s) published, 0 already published" in first.stderr
    again = schedule(bus, targets, "--every", "1d", "--once")  # a restart within the same slot
    assert again.returncode == 0, again.stderr
    assert "0 request(s) published, 2 already published" in again.stderr
    before = agent_packets(agent)
    workers.append(start_worker(bus))
    results = bus.collect("res", 3, timeout=5)
    slot = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime())
    assert sorted(h["snmp-req-id"] for _, h, _ in results) == [
        f"{agent.host}/system/{slot}",
        f"{agent.host}/walk/{slot}",
    ]
    code, err = stop(workers[0])
    assert code == 0 and handled(err) == 2, err
    # One GET and the walk of sysORTable: a handful of packets, not two collections' worth.
    collected = agent_packets(agent) - before - 1
    direct = agent_packets(agent)
    snmp_stream.get(agent.host, "public", recipes.SYSTEM.oids)
    snmp_stream.walk(agent.host, "public", "1.3.6.1.2.1.1.9")
    assert collected == agent_packets(agent) - direct - 1


def test_scheduler_rounds_and_lag(bus: Bus, agent: Agent, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"- host: {agent.host}\n  tables: [system]\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "snmp_stream", "schedule", str(targets), *bus.args(), "--every", "1s"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    watchdog = threading.Timer(30, process.kill)  # a scheduler that stops logging fails the test
    watchdog.start()
    head = []
    for line in process.stderr:  # three rounds, as the scheduler logs them
        head.append(line)
        if sum(" round " in seen for seen in head) == 3:
            break
    watchdog.cancel()
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=30)
    err = "".join(head) + rest
    assert process.returncode == 0, err
    rounds = [line for line in err.splitlines() if " round " in line]
    assert len(rounds) >= 3 and all("1 request(s) published" in line for line in rounds), err

    async def queued(js: Any) -> list[str]:
        info = await js.stream_info(f"REQ_{bus.tag}")
        return [str(info.state.messages)]

    # No worker ran: every round's request is still queued, and the scheduler said so.
    assert int(bus.run(queued)[0]) == len(rounds)
    assert "lag: 1 request(s) of earlier rounds" in err or "lag: 2 request(s)" in err, err


def test_routing_domains(bus: Bus, agent: Agent, workers: list[Any], tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"- host: {agent.host}\n  tables: [system]\n  domain: dc1\n"
        f"- host: {agent.host6}\n  tables: [system]\n  domain: dc2\n"
    )
    bus.ensure()
    workers.append(start_worker(bus, "--domain", "dc1", "--consumer", f"dc1-{bus.tag}"))
    assert schedule(bus, targets, "--once").returncode == 0
    first = bus.collect("res", 2, timeout=3)
    assert [h["snmp-host"] for _, h, _ in first] == [agent.host]  # dc2's request waits for its own
    workers.append(start_worker(bus, "--domain", "dc2", "--consumer", f"dc2-{bus.tag}"))
    both = bus.collect("res", 2, timeout=10)
    assert sorted(h["snmp-host"] for _, h, _ in both) == sorted([agent.host, agent.host6])
    assert [handled(stop(process)[1]) for process in workers] == [1, 1]


# --- faults: servers restarted, streams deleted, a cluster node lost ------------------------------


def one_collection(agent: Agent, oids: list[str]) -> int:
    """Packets the agent receives for one walk of `oids` (the default config)."""
    before = agent_packets(agent)
    assert snmp_stream.walk(agent.host, "public", oids).status == "successful"
    return agent_packets(agent) - before - 1


def loaded(dsn: str, tag: str, expected: int, timeout: float = 90) -> int:
    return wait_for(
        "SELECT count(*) FROM snmp_loaded WHERE result_id LIKE %s", (f"%-{tag}-%",), dsn, expected, timeout
    )


def assert_rows_once(dsn: str, tag: str, results: int) -> None:
    """Every result loaded once, each with the agent's ifTable rows, none twice."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT count(*), count(DISTINCT (result_id, ifindex)), count(DISTINCT result_id)"
            " FROM snmp_if_table WHERE result_id LIKE %s",
            (f"%-{tag}-%",),
        ).fetchone()
        per_result = connection.execute(
            "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM snmp_if_table WHERE result_id LIKE %s"
            " GROUP BY result_id) AS counts",
            (f"%-{tag}-%",),
        ).fetchone()
    assert rows is not None and rows[0] == rows[1] and rows[2] == results, rows
    assert per_result is not None and per_result[0] == per_result[1] > 0, per_result


def requests_for(agent: Agent, tag: str, count: int, prefix: str = "job") -> list[bytes]:
    return [request(agent.host, table="if_table", req_id=f"{prefix}-{tag}-{i}") for i in range(count)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_nats_restarted_mid_batch(
    sig: int, own_nats_server: NatsServer, agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    bus = Bus(own_nats_server.url, uuid.uuid4().hex[:10])
    total = 150
    per_walk = one_collection(agent, recipes.IF_TABLE.oids)
    before = agent_packets(agent)
    bus.publish(requests_for(agent, bus.tag, total))
    workers.append(start_worker(bus, "--concurrency", "4", "--ack-wait", "5"))
    workers.append(start_parser(bus, postgres, "--ack-wait", "5", "--batch", "8"))
    assert loaded(postgres.dsn, bus.tag, 30) >= 30
    own_nats_server.stop(sig)
    time.sleep(1)  # the outage: a second without a server (not a wait for anything)
    own_nats_server.start()
    assert loaded(postgres.dsn, bus.tag, total) == total
    time.sleep(6)  # past the ack wait: a lost ack would have brought a redelivery by now
    assert agent_packets(agent) - before - 1 == total * per_walk, "a request was collected twice"
    assert_rows_once(postgres.dsn, bus.tag, total)
    for process in workers:
        code, err = stop(process)
        assert code == 0 and "Traceback" not in err, err


def test_postgres_restarted_mid_load(bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]) -> None:
    total = 300
    first = requests_for(agent, bus.tag, total)
    bus.publish(first[:150])
    workers.append(start_worker(bus, "--concurrency", "4"))
    parser = start_parser(bus, postgres, "--batch", "2", "--backoff", "0.5", "--max-deliver", "20")
    workers.append(parser)
    assert loaded(postgres.dsn, bus.tag, 20) >= 20
    postgres.restart()
    # The rest arrive after the restart: however quickly the first ones were loaded, loads
    # meet the connections the restart broke.
    bus.publish(first[150:])
    assert loaded(postgres.dsn, bus.tag, total) == total
    assert_rows_once(postgres.dsn, bus.tag, total)
    code, err = stop(parser)
    assert code == 0 and "Traceback" not in err, err
    # The restart was noticed (a load failed: the server's notice, AdminShutdown, or the lost
    # connection, OperationalError), and survived.
    assert "AdminShutdown" in err or "OperationalError" in err, err
    assert not bus.collect("dead", 1, timeout=1)


def test_results_stream_deleted_and_recreated(
    bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    bus.publish(requests_for(agent, bus.tag, 30, "before"))
    workers.append(start_worker(bus))
    workers.append(start_parser(bus, postgres))
    assert loaded(postgres.dsn, bus.tag, 30) == 30

    async def delete(js: Any) -> None:
        await js.delete_stream(f"RES_{bus.tag}")

    bus.run(delete)  # results stream, its messages and the parse workers' consumer: gone
    bus.publish(requests_for(agent, bus.tag, 30, "after"))
    # The collector recreates the stream, the parse worker its consumer; new results, whose
    # stream sequences start again at 1, load under their own ids.
    assert loaded(postgres.dsn, bus.tag, 60) == 60
    assert_rows_once(postgres.dsn, bus.tag, 60)
    for process in workers:
        code, err = stop(process)
        assert code == 0 and "Traceback" not in err, err


def test_cluster_node_killed_mid_batch(
    nats_cluster: list[NatsServer], agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    bus = Bus(",".join(server.url for server in nats_cluster), uuid.uuid4().hex[:10])
    bus.ensure(replicas=3)
    total = 150
    per_walk = one_collection(agent, recipes.IF_TABLE.oids)
    before = agent_packets(agent)
    bus.publish(requests_for(agent, bus.tag, total))
    common = ("--replicas", "3", "--ack-wait", "5")
    workers.append(start_worker(bus, "--concurrency", "4", *common))
    workers.append(start_parser(bus, postgres, "--batch", "8", *common))
    assert loaded(postgres.dsn, bus.tag, 30) >= 30
    nats_cluster[0].stop(signal.SIGKILL)  # one of three: the others keep a quorum
    assert loaded(postgres.dsn, bus.tag, total) == total
    time.sleep(6)
    assert agent_packets(agent) - before - 1 == total * per_walk, "a request was collected twice"
    assert_rows_once(postgres.dsn, bus.tag, total)
    for process in workers:
        code, err = stop(process)
        assert code == 0 and "Traceback" not in err, err


# --- security: credentials, TLS, secrets kept out of logs ----------------------------------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "1", "-subj", "/CN=snmp-stream test CA"])  # fmt: skip
    run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            "/CN=127.0.0.1",
        ]
    )
    extensions = directory / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "1", "-extfile", extensions])  # fmt: skip
    return ca, cert, key


def _nkey_seed(path: Path) -> str:
    """A new user nkey: writes its seed to `path`, returns its public key."""
    import os

    import nkeys

    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    path.write_bytes(seed)
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


def _jwt(issuer: Any, subject: str, name: str, nats: dict[str, Any]) -> str:
    """A NATS JWT (v2) for `subject`, signed by the `issuer` key pair."""
    import base64
    import hashlib

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims: dict[str, Any] = {"jti": "", "iat": int(time.time()), "iss": issuer.public_key.decode()}
    claims.update(name=name, sub=subject, nats=nats)
    claims["jti"] = base64.b32encode(hashlib.new("sha512_256", json.dumps(claims).encode()).digest()).decode()
    header = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    signed = f"{header}.{b64(json.dumps(claims).encode())}"
    return f"{signed}.{b64(issuer.sign(signed.encode()))}"


def _operator_mode(directory: Path) -> tuple[Path, Path]:
    """A decentralized-auth (operator mode) setup, as `nsc` makes it: an operator, a system
    account, an account with JetStream and a user in it. Writes the server config and the
    user's .creds file (JWT and seed); returns both paths."""
    import os

    import nkeys

    def keypair(prefix: int) -> tuple[bytes, Any]:
        seed = nkeys.encode_seed(os.urandom(32), prefix)
        return seed, nkeys.from_seed(bytearray(seed))

    (_, operator), (_, system), (_, account) = (
        keypair(p) for p in [nkeys.PREFIX_BYTE_OPERATOR] + [nkeys.PREFIX_BYTE_ACCOUNT] * 2
    )
    user_seed, user = keypair(nkeys.PREFIX_BYTE_USER)
    public = {
        name: kp.public_key.decode() for name, kp in (("op", operator), ("sys", system), ("acc", account))
    }
    unlimited = {k: -1 for k in ("subs", "data", "payload", "imports", "exports", "conn", "leaf")}
    jetstream = {**unlimited, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}
    accounts = {
        public["sys"]: _jwt(
            operator, public["sys"], "SYS", {"limits": unlimited, "type": "account", "version": 2}
        ),
        public["acc"]: _jwt(
            operator, public["acc"], "collectors", {"limits": jetstream, "type": "account", "version": 2}
        ),
    }
    user_claims = {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}
    user_jwt = _jwt(account, user.public_key.decode(), "collector", user_claims)
    (directory / "operator.jwt").write_text(
        _jwt(operator, public["op"], "test", {"type": "operator", "version": 2})
    )
    preload = "".join(f'  {key}: "{value}"\n' for key, value in accounts.items())
    config = directory / "operator.conf"
    config.write_text(
        f'operator: "{directory / "operator.jwt"}"\nresolver: MEMORY\nsystem_account: {public["sys"]}\n'
        f"resolver_preload: {{\n{preload}}}\n"
    )
    creds = directory / "collector.creds"
    creds.write_text(
        f"-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n"
        f"-----BEGIN USER NKEY SEED-----\n{user_seed.decode()}\n------END USER NKEY SEED------\n"
    )
    return config, creds


@pytest.mark.parametrize("auth", ["password", "token", "nkey", "creds", "tls"])
def test_nats_credentials_and_tls(auth: str, agent: Agent, tmp_path: Path, workers: list[Any]) -> None:
    """The worker authenticates with a password or token from the environment, an nkey seed
    file or a .creds file (operator mode, JWTs made here as nsc makes them), or verifies the
    server's TLS certificate against a CA; a wrong secret is a clear error, and no secret ever
    appears in its log."""
    import os
    import shutil

    secret = f"s3cret-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    args: list[str] = []
    if auth == "password":
        options, scheme = ["--user", "collector", "--pass", secret], "nats"
        env["NATS_PASSWORD"] = secret
        args = ["--nats-user", "collector"]
    elif auth == "token":
        options, scheme = ["--auth", secret], "nats"
        env["NATS_TOKEN"] = secret
    elif auth == "nkey":
        seed = tmp_path / "collector.nk"
        config = tmp_path / "nkey.conf"
        config.write_text(f'authorization {{ users = [ {{ nkey: "{_nkey_seed(seed)}" }} ] }}\n')
        secret = seed.read_text()
        options, scheme = ["-c", str(config)], "nats"
        args = ["--nats-nkey", str(seed)]
    elif auth == "creds":
        config, creds = _operator_mode(tmp_path)
        secret = creds.read_text().split("-----BEGIN USER NKEY SEED-----\n")[1].split("\n")[0]
        options, scheme = ["-c", str(config)], "nats"
        args = ["--nats-creds", str(creds)]
    else:
        ca, cert, key = _certificates(tmp_path)
        options, scheme = ["--tls", "--tlscert", str(cert), "--tlskey", str(key)], "tls"
        args = ["--tls-ca", str(ca)]
    server = NatsServer(
        shutil.which("nats-server") or "/usr/sbin/nats-server", tmp_path, options=options, scheme=scheme
    )
    server.start()
    try:
        bus = Bus(server.url, uuid.uuid4().hex[:10])
        command = [sys.executable, "-m", "snmp_stream", "worker", *bus.args(), *args]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        workers.append(process)
        assert process.stderr is not None
        line = ""
        for line in process.stderr:
            if " consuming " in line:
                break
        assert " consuming " in line, line
        process.log = [line]  # type: ignore[attr-defined]
        code, err = stop(process)
        assert code == 0 and secret not in err, err
        if auth != "tls":  # the same without the secret (or another nkey): refused, in one line
            env.pop("NATS_PASSWORD", None)
            env["NATS_TOKEN"] = "wrong" if auth == "token" else ""
            if auth == "nkey":
                _nkey_seed(tmp_path / "collector.nk")  # a key the server does not know
            if auth == "creds":  # a user of an account the server does not know
                other = tmp_path / "other"
                other.mkdir()
                (tmp_path / "collector.creds").write_text(_operator_mode(other)[1].read_text())
            refused = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
            assert refused.returncode == 2 and "Authorization" in refused.stderr, refused.stderr
            assert "Traceback" not in refused.stderr and secret not in refused.stderr
    finally:
        server.stop()


def test_communities_stay_out_of_logs_and_headers(
    bus: Bus, agent: Agent, silent_port: int, workers: list[Any]
) -> None:
    community = f"c0mmunity-{uuid.uuid4().hex[:8]}"
    bus.publish(
        [
            request(f"127.0.0.1:{silent_port}", table="system", community=community, config={"timeout": 0.2}),
            request("bad host", table="system", community=community),
            request(agent.host, table="system", community=community, config={"timeout": 0.2, "retries": 0}),
        ]
    )
    workers.append(start_worker(bus))
    results = bus.collect("res", 2)
    dead = bus.collect("dead", 1)
    code, err = stop(workers[0])
    assert code == 0 and len(results) == 2 and len(dead) == 1
    assert community not in err
    assert all(community not in json.dumps(headers) for _, headers, _ in results + dead)


def test_bus_requests_name_credentials_the_worker_keeps(
    bus: Bus,
    agent: Agent,
    workers: list[subprocess.Popen[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SNMPv3 requests name credentials the worker keeps (test_credentials.py has the rest)."""
    from test_credentials import AUTH, CREDENTIALS_YAML, PRIV

    credentials_file = tmp_path / "credentials.yaml"
    credentials_file.write_text(CREDENTIALS_YAML)
    monkeypatch.setenv("DEMO_PRIV", PRIV)
    messages = [request(agent.host, table="system", credentials="core", req_id=f"v3-{i}") for i in range(20)]
    messages += [request(agent.host, table="system", req_id="v2c")]  # a v1 message as ever
    messages += [request(agent.host, table="system", credentials="nope", req_id="unknown")]
    messages += [request(agent.host, table="system", credentials="core", community="public", req_id="both")]
    assert all(AUTH.encode() not in m and PRIV.encode() not in m for m in messages)
    bus.publish(messages)
    workers.append(start_worker(bus, "--credentials", str(credentials_file)))
    results = bus.collect("res", 21)
    dead = bus.collect("dead", 2)
    code, err = stop(workers[0])
    assert code == 0, err
    assert {h["snmp-status"] for _, h, _ in results} == {"successful"}
    frame = snmp_stream.recipes.SYSTEM.to_pandas([data for _, _, data in results])
    assert set(frame["sysName"]) == {"snmp-stream-test"} and len(frame) == 21
    reasons = sorted(h["snmp-reason"] for _, h, _ in dead)
    assert any("unknown credentials 'nope' (this worker has: core, reader)" in r for r in reasons), reasons
    assert any("not both" in r for r in reasons), reasons
    shown = (
        err
        + json.dumps([h for _, h, _ in results + dead])
        + "".join(d.decode("latin-1") for _, _, d in results)
    )
    assert AUTH not in shown and PRIV not in shown
