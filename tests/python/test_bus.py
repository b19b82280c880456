"""The bus workers against real servers: a throwaway nats-server (JetStream) and PostgreSQL
cluster, a real snmpd, and the workers run as a user runs them (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from conftest import Agent
from servers import NatsServer, Postgres
from snmp_stream import recipes
from snmp_stream.worker import REQUEST_SCHEMA


@dataclass
class Bus:
    """One test's own streams and subjects on the shared server."""

    url: str
    tag: str

    @property
    def args(self) -> list[str]:
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
            f"collectors-{t}",
        ]

    def publish(self, messages: list[bytes]) -> None:
        async def run() -> None:
            import nats
            from nats.js.api import RetentionPolicy, StreamConfig

            connection = await nats.connect(self.url)
            js = connection.jetstream()
            for name, subjects, retention in (
                (f"REQ_{self.tag}", [f"req.{self.tag}.>"], RetentionPolicy.WORK_QUEUE),
                (f"RES_{self.tag}", [f"res.{self.tag}.>"], RetentionPolicy.LIMITS),
                (f"DEAD_{self.tag}", [f"dead.{self.tag}.>"], RetentionPolicy.LIMITS),
            ):
                try:
                    await js.stream_info(name)
                except Exception:
                    await js.add_stream(StreamConfig(name=name, subjects=subjects, retention=retention))
            for message in messages:
                await js.publish(f"req.{self.tag}.x", message)
            await connection.close()

        asyncio.run(run())

    def collect(self, prefix: str, count: int, timeout: float = 30) -> list[Any]:
        """Reads messages from the results or dead-letter stream until `count` or `timeout`."""

        async def run() -> list[Any]:
            import nats
            from nats.errors import TimeoutError as NatsTimeout

            connection = await nats.connect(self.url)
            js = connection.jetstream()
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
            await connection.close()
            return got

        return asyncio.run(run())


@pytest.fixture
def bus(nats_server: NatsServer) -> Bus:
    return Bus(nats_server.url, uuid.uuid4().hex[:10])


def request(agent_host: str, **fields: Any) -> bytes:
    return json.dumps({"schema": REQUEST_SCHEMA, "host": agent_host, **fields}).encode()


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
        raise AssertionError("".join(lines))
    process.log = lines  # type: ignore[attr-defined]
    return process


def start_worker(bus: Bus, *extra: str) -> subprocess.Popen[str]:
    return start("worker", *bus.args, *extra)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, "".join(process.log) + err  # type: ignore[attr-defined]


def handled(stderr: str) -> int:
    line = next(line for line in stderr.splitlines() if "stopped after" in line)
    return int(line.split("stopped after ")[1].split()[0])


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


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
    assert all(0 < float(h["snmp-elapsed"]) < 30 for _, h, _ in results)
    system = [data for subject, h, data in results if subject.endswith(".system")]
    frame = recipes.SYSTEM.to_pandas(system)
    assert list(frame["sysName"]) == ["snmp-stream-test"] * 10
    if_rows = recipes.IF_TABLE.to_pandas([d for s, _, d in results if s.endswith(".if_table")])
    assert set(if_rows["req_id"]) == {f"if-{i}" for i in range(5)}
    reasons = sorted(h["snmp-reason"] for _, h, _ in dead)
    assert len(reasons) == 4
    assert any("not JSON" in r for r in reasons) and any("schema is 'v0'" in r for r in reasons)
    assert any('invalid host "bad host"' in r for r in reasons) and any("unknown table" in r for r in reasons)


def test_three_workers_share_the_load(bus: Bus, agent: Agent, workers: list[Any]) -> None:
    bus.publish([])  # the streams exist, so the workers share one consumer from the start
    # Two in flight each: every worker must keep pulling to get through the 300.
    workers.extend(start_worker(bus, "--concurrency", "2") for _ in range(3))
    bus.publish([request(agent.host, table="if_table", req_id=f"{i}") for i in range(300)])
    results = bus.collect("res", 300)
    counts = [handled(stop(process)[1]) for process in workers]
    assert len({h["snmp-req-id"] for _, h, _ in results}) == 300
    assert sum(counts) >= 300 and all(count > 0 for count in counts), counts


def test_killed_worker_loses_nothing_and_no_duplicate_rows(
    bus: Bus, agent: Agent, postgres: Postgres, workers: list[Any]
) -> None:
    total = 200
    bus.publish([request(agent.host, table="if_table", req_id=f"job-{i}") for i in range(total)])
    # A slow first worker (few in flight), killed mid-batch; its unacked requests come back.
    first = start_worker(bus, "--concurrency", "2", "--ack-wait", "2")
    workers.append(first)
    bus.collect("res", 20, timeout=30)
    first.kill()
    first.wait()
    workers.append(start_worker(bus, "--concurrency", "32", "--ack-wait", "2"))
    parser = start("parse-worker", *bus.args, "--dsn", postgres.dsn, "--consumer", f"parsers-{bus.tag}")
    workers.append(parser)
    # Every request's result arrives, once: JetStream drops a republished duplicate.
    results = bus.collect("res", total, timeout=30)
    assert sorted({h["snmp-req-id"] for _, h, _ in results}) == sorted(f"job-{i}" for i in range(total))
    time.sleep(1)
    assert len(bus.collect("res", total + 1, timeout=2)) == total, "no result was published twice"
    deadline = time.monotonic() + 30
    with psycopg.connect(postgres.dsn, autocommit=True) as connection:
        while time.monotonic() < deadline:
            try:
                loaded = connection.execute(
                    "SELECT count(*) FROM snmp_loaded WHERE table_name = 'if_table' AND result_id LIKE %s",
                    (f"result-REQ_{bus.tag}-%",),
                ).fetchone()
            except psycopg.errors.UndefinedTable:
                loaded = None  # the parse worker has not created it yet
            if loaded and loaded[0] >= total:
                break
            time.sleep(0.2)
    code, err = stop(parser)
    assert code == 0, err
    with psycopg.connect(postgres.dsn) as connection:
        pattern = (f"result-REQ_{bus.tag}-%",)
        loaded_ids = connection.execute(
            "SELECT count(*), count(DISTINCT result_id) FROM snmp_loaded WHERE result_id LIKE %s", pattern
        ).fetchone()
        rows = connection.execute(
            'SELECT count(*), count(DISTINCT (result_id, "ifIndex")) FROM snmp_if_table'
            " WHERE result_id LIKE %s",
            pattern,
        ).fetchone()
        expected_rows = connection.execute(
            "SELECT sum(rows) FROM snmp_loaded WHERE result_id LIKE %s", pattern
        ).fetchone()
    assert loaded_ids == (total, total)
    assert rows is not None and expected_rows is not None
    assert rows[0] == rows[1] == expected_rows[0] > 0


def test_poison_messages_are_retried_then_dead_lettered(bus: Bus, agent: Agent, workers: list[Any]) -> None:
    bus.publish([request(agent.host, table="system", req_id="poison")])
    bad_dsn = "host=127.0.0.1 port=1 dbname=nope connect_timeout=1"
    workers.append(start_worker(bus, "--dsn", bad_dsn, "--max-deliver", "2", "--backoff", "0.2"))
    dead = bus.collect("dead", 1, timeout=30)
    code, err = stop(workers[0])
    assert code == 0, err
    [(subject, headers, data)] = dead
    assert subject.endswith(".poison")
    assert headers["snmp-reason"].startswith("failed 2 time(s): OperationalError")
    assert json.loads(data)["req_id"] == "poison"
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
            config={"timeout": 1.5, "retries": 0},
        )
        for i in range(10)
    ]
    bus.publish(dead)
    worker = start_worker(bus, "--concurrency", "16")
    workers.append(worker)
    time.sleep(0.5)  # the worker fetches them; their timeouts run until 1.5 s
    started = time.monotonic()
    code, err = stop(worker)
    assert code == 0, err
    assert "draining 10 message(s) in flight" in err
    assert time.monotonic() - started < 5
    results = bus.collect("res", 10, timeout=5)
    assert sorted(h["snmp-req-id"] for _, h, _ in results) == sorted(f"slow-{i}" for i in range(10))
    assert {h["snmp-status"] for _, h, _ in results} == {"failed"}
    # Everything was acked before the exit: a new worker finds nothing to redo.
    workers.append(start_worker(bus))
    time.sleep(2)
    assert len(bus.collect("res", 11, timeout=2)) == 10
