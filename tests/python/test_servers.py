"""The throwaway servers of servers.py: one message through a JetStream stream, two rows through
COPY, each on the fixture's own server rather than the machine's."""

from __future__ import annotations

import asyncio
import uuid

import nats
import psycopg

from servers import NatsServer, Postgres


def test_nats_server_jetstream_roundtrip(nats_server: NatsServer) -> None:
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    assert nats_server.port != 4222
    stream = f"SMOKE_{uuid.uuid4().hex}"

    async def roundtrip() -> None:
        nc = await nats.connect(nats_server.url, allow_reconnect=False, connect_timeout=2)
        try:
            assert nc.connected_url is not None and nc.connected_url.port == nats_server.port
            js = nc.jetstream()
            await js.add_stream(name=stream, subjects=[f"{stream}.>"])
            ack = await js.publish(f"{stream}.one", b"hello", headers={"Nats-Msg-Id": "one"})
            assert (ack.stream, ack.seq) == (stream, 1)

            sub = await js.pull_subscribe(f"{stream}.one", durable="smoke", stream=stream)
            [msg] = await sub.fetch(1, timeout=2)
            assert (msg.subject, msg.data) == (f"{stream}.one", b"hello")
            assert msg.metadata.sequence.stream == 1
            await msg.ack_sync(timeout=2)

            info = await js.consumer_info(stream, "smoke")
            assert (info.num_ack_pending, info.num_pending) == (0, 0)
            assert info.ack_floor is not None and info.ack_floor.stream_seq == 1
            await js.delete_stream(stream)
        finally:
            await nc.close()

    asyncio.run(roundtrip())


def test_postgres_copy_roundtrip(postgres: Postgres) -> None:
    assert postgres.port != 5432
    with psycopg.connect(postgres.dsn, connect_timeout=5) as conn:
        assert conn.info.port == postgres.port and conn.info.dbname == "snmp"
        assert conn.execute("SHOW data_directory").fetchone() == (str(postgres.data_dir),)
        conn.execute("CREATE TEMP TABLE smoke (id integer PRIMARY KEY, name text NOT NULL)")
        with conn.cursor() as cur:
            with cur.copy("COPY smoke (id, name) FROM STDIN") as copy:
                copy.write_row((1, "one"))
                copy.write_row((2, "two\tand a tab"))
            assert cur.rowcount == 2
            rows = cur.execute("SELECT id, name FROM smoke ORDER BY id").fetchall()
    assert rows == [(1, "one"), (2, "two\tand a tab")]
    with psycopg.connect(postgres.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == ("snmp", "postgres")
