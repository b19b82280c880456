"""SNMPv3 (USM) from Python, the CLI and mixed streams, against real snmpd agents with a user
per security level and protocol (tests/fixtures/usm_users.conf), compared with net-snmp's
own `snmpbulkwalk -v3` / `snmpget -v3`."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

import snmp_stream
from snmp_stream import snmpd
from snmp_stream.snmpd import Agent

USERS_CONF = Path(__file__).resolve().parents[1] / "fixtures" / "usm_users.conf"
SYSTEM = "1.3.6.1.2.1.1"
SYS_UPTIME = ".1.3.6.1.2.1.1.3.0"
# (user, auth, auth passphrase, priv, priv passphrase), as in usm_users.conf.
USERS = [
    ("v3none", None, "", None, ""),
    ("v3md5", "MD5", "authpass-md5", None, ""),
    ("v3sha", "SHA", "authpass-sha", None, ""),
    ("v3sha224", "SHA-224", "authpass-sha224", None, ""),
    ("v3sha256", "SHA-256", "authpass-sha256", None, ""),
    ("v3sha384", "SHA-384", "authpass-sha384", None, ""),
    ("v3sha512", "SHA-512", "authpass-sha512", None, ""),
    ("v3des", "SHA", "authpass-des", "DES", "privpass-des"),
    ("v3aes", "SHA-256", "authpass-aes", "AES", "privpass-aes"),
    ("v3aes192", "SHA", "authpass-aes192", "AES-192", "privpass-aes192"),
    ("v3aes256", "SHA-512", "authpass-aes256", "AES-256", "privpass-aes256"),
    ("v3md5aes256", "MD5", "authpass-md5aes256", "AES-256", "privpass-md5aes256"),
]
PASSPHRASES = [p for _, _, a, _, x in USERS for p in (a, x) if p] + ["wrong-auth-pass", "wrong-priv-pass"]


@pytest.fixture(scope="module")
def usm_agent() -> Iterator[Agent]:
    with snmpd.agents(extra_config=USERS_CONF.read_text()) as [running]:
        yield running


def credentials(
    user: str, auth: str | None, auth_pass: str, priv: str | None, priv_pass: str
) -> snmp_stream.Usm:
    return snmp_stream.Usm(
        user,
        auth=(auth, auth_pass) if auth else None,
        priv=(priv, priv_pass) if priv else None,
    )


def flags(user: str, auth: str | None, auth_pass: str, priv: str | None, priv_pass: str) -> list[str]:
    args = [
        "-v3",
        "-u",
        user,
        "-l",
        "noAuthNoPriv" if not auth else ("authNoPriv" if not priv else "authPriv"),
    ]
    if auth:
        args += ["-a", auth, "-A", auth_pass]
    if priv:
        args += ["-x", priv, "-X", priv_pass]
    return args


def net_snmp(tool: str, *args: str) -> list[str]:
    out = subprocess.run(
        [tool, "-On", *args], check=True, capture_output=True, text=True, env={**os.environ, "MIBS": ""}
    )
    return out.stdout.splitlines()


def without_uptime(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith(SYS_UPTIME)]


@pytest.mark.parametrize("user", USERS, ids=[u[0] for u in USERS])
def test_walk_and_get_at_every_level_and_protocol_match_net_snmp(
    usm_agent: Agent, user: tuple[str, str | None, str, str | None, str]
) -> None:
    usm = credentials(*user)
    before = snmp_stream.usm_counters()
    walked = snmp_stream.walk(usm_agent.host, usm, SYSTEM)
    assert walked.status == snmp_stream.SUCCESSFUL, walked.errors
    expected = net_snmp("snmpbulkwalk", *flags(*user), usm_agent.host, SYSTEM)
    assert without_uptime(walked.text().splitlines()) == without_uptime(expected)
    got = snmp_stream.get(usm_agent.host, usm, ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.4.0"])
    assert got.status == snmp_stream.SUCCESSFUL, got.errors
    assert got.text().splitlines() == net_snmp(
        "snmpget", *flags(*user), usm_agent.host, "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.4.0"
    )
    after = snmp_stream.usm_counters()
    # The responses took snmp-stream's own path (digest, time window, decryption, decoding);
    # net-snmp parsed only reports (a discovery's, a first time synchronisation's).
    assert after["fast_responses"] - before["fast_responses"] >= 2, (before, after)
    assert after["net_snmp_parsed"] - before["net_snmp_parsed"] <= 2, (before, after)
    # and the requests were built here, but for the discovery probe.
    assert after["fast_requests"] - before["fast_requests"] >= 2, (before, after)
    assert after["net_snmp_built"] - before["net_snmp_built"] <= 1, (before, after)


def test_context_and_level_are_sent_as_given(usm_agent: Agent) -> None:
    # An explicit lower level leaves the privacy key unused: v3aes may read only at authPriv
    # (rouser ... priv), so the agent answers authorizationError, as it does to snmpget.
    lower = snmp_stream.Usm(
        "v3aes", auth=("SHA-256", "authpass-aes"), priv=("AES", "privpass-aes"), level="authNoPriv"
    )
    assert lower.level == "authNoPriv"
    response = snmp_stream.get(usm_agent.host, lower, "1.3.6.1.2.1.1.5.0", config={"retries": 0})
    assert response.status == snmp_stream.FAILED
    assert [(e.kind, e.err_stat) for e in response.errors] == [("bad_response_pdu", 16)]  # authorizationError
    # A context the agent does not have: snmpd counts it in snmpUnknownContexts and drops the
    # request (snmpget times out too), so the request times out. The engine ID was remembered
    # from earlier requests, so the timeout is checked with one discovery (the engine is the
    # same) and the request sent once more: the counter moves by two.
    unknown_contexts = "1.3.6.1.6.3.12.1.5.0"

    def count() -> int:
        return int(net_snmp("snmpget", "-v2c", "-c", "public", "-Oqv", usm_agent.host, unknown_contexts)[0])

    before = count()
    other = snmp_stream.Usm("v3sha", auth=("SHA", "authpass-sha"), context="nosuchcontext")
    response = snmp_stream.get(
        usm_agent.host, other, "1.3.6.1.2.1.1.5.0", config={"retries": 0, "timeout": 0.3}
    )
    assert [e.kind for e in response.errors] == ["timeout"]
    assert count() == before + 2
    same = snmp_stream.Usm("v3sha", auth=("SHA", "authpass-sha"), context="")
    assert snmp_stream.get(usm_agent.host, same, "1.3.6.1.2.1.1.5.0").status == snmp_stream.SUCCESSFUL


ERROR_CASES = [
    (("nobody", "SHA", "authpass-xyz", None, ""), "unknown_user"),
    (("v3sha", "SHA", "wrong-auth-pass", None, ""), "wrong_digest"),
    (("v3sha", "MD5", "authpass-sha", None, ""), "wrong_digest"),
    (("v3aes", "SHA-256", "authpass-aes", "AES", "wrong-priv-pass"), "decryption_error"),
    (("v3des", "SHA", "authpass-des", "AES", "privpass-des"), "decryption_error"),
    (("v3sha", "SHA", "authpass-sha", "AES", "privpass-sha"), "unsupported_security_level"),
]


def test_report_pdus_become_structured_errors_and_secrets_never_leak(
    usm_agent: Agent, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    requests = [
        snmp_stream.SnmpRequest("walk", usm_agent.host, credentials(*user), SYSTEM, req_id=str(i))
        for i, (user, _) in enumerate(ERROR_CASES)
    ]
    requests.append(
        snmp_stream.SnmpRequest("walk", usm_agent.host, credentials(*USERS[8]), SYSTEM, req_id="ok")
    )
    started = time.monotonic()
    with snmp_stream.Collector({"timeout": 0.5, "retries": 1}) as collector:
        for request in requests:
            collector.submit(request)
        collector.close()
        responses = {r.req_id: r for r in collector}
    assert len(responses) == len(requests)
    assert time.monotonic() - started < 10
    assert responses[b"ok"].status == snmp_stream.SUCCESSFUL
    shown: list[str] = [repr(r) for r in responses.values()] + [str(r.request) for r in responses.values()]
    for i, (user, kind) in enumerate(ERROR_CASES):
        response = responses[str(i).encode()]
        assert response.status == snmp_stream.FAILED, response
        assert [e.kind for e in response.errors] == [kind], response.errors
        message = response.errors[0].message
        assert user[0] in message and usm_agent.host in message, message
        assert len(response.varbinds()) == 0, "a failed v3 request keeps nothing"
        shown += [message, response.text(), bytes(response.results).decode("latin-1")]
    # Bad input: the errors name what is wrong, not the passphrase.
    for bad in [("SHA", "short"), ("SHA-3", "wrong-auth-pass"), ("SHA", "wrong-auth-pass", "x")]:
        try:
            snmp_stream.Usm("v3sha", auth=bad)  # type: ignore[arg-type]
        except snmp_stream.InvalidCredentialsError:
            shown.append(traceback.format_exc())
        else:
            pytest.fail(f"{bad!r} accepted")
    shown += [repr(credentials(*user)) for user in USERS] + [str(credentials(*user)) for user in USERS]
    shown += [record.getMessage() for record in caplog.records]
    out, err = capsys.readouterr()
    shown += [out, err]
    text = "\n".join(shown)
    for passphrase in PASSPHRASES:
        assert passphrase not in text, passphrase


def test_usm_values_compare_pickle_and_show_no_secret() -> None:
    usm = snmp_stream.Usm("ops", auth=("sha256", "auth-secret"), priv=("aes128", "priv-secret"), context="c1")
    assert repr(usm) == 'Usm("ops", authPriv, auth=SHA-256, priv=AES, context="c1")'
    assert pickle.loads(pickle.dumps(usm)) == usm
    assert usm != snmp_stream.Usm("ops", auth=("sha256", "auth-secret"), priv=("aes128", "priv-other"))
    assert snmp_stream.Usm("ops").level == "noAuthNoPriv"
    request = snmp_stream.SnmpRequest("get", "127.0.0.1", usm, "1.3.6.1.2.1.1.5.0")
    assert "secret" not in repr(request)
    with pytest.raises(snmp_stream.InvalidCredentialsError, match="needs authentication"):
        snmp_stream.Usm("ops", priv=("AES", "priv-secret"))
    with pytest.raises(snmp_stream.InvalidCredentialsError, match="authPriv needs a privacy"):
        snmp_stream.Usm("ops", auth=("SHA", "auth-secret"), level="authPriv")
    with pytest.raises(snmp_stream.InvalidCredentialsError, match="not hex"):
        snmp_stream.Usm("ops", security_engine_id="zz")
    with pytest.raises(snmp_stream.InvalidCommunityError, match="Usm"):
        snmp_stream.Community("public", "3")


def test_v1_v2c_and_v3_mixed_in_one_stream_with_keys_derived_once(usm_agent: Agent) -> None:
    with snmpd.agents(2, extra_config=USERS_CONF.read_text()) as others:
        agents = [usm_agent, *others]
        usm = snmp_stream.Usm(
            "v3aes256", auth=("SHA-512", "authpass-aes256"), priv=("AES-256", "privpass-aes256")
        )
        before = snmp_stream.usm_counters()
        # 1,000 v3 requests and 250 each of v1 and v2c, over three agents (three engine IDs).
        v1, v2c = ("public", "v1"), ("public", "v2c")

        def kind(i: int) -> snmp_stream.Usm | tuple[str, str]:
            return usm if i % 3 < 2 else (v1 if (i // 3) % 2 else v2c)

        requests = [
            snmp_stream.SnmpRequest("walk", agents[(i // 3) % 3].host, kind(i), SYSTEM, req_id=str(i))
            for i in range(1500)
        ]
        with snmp_stream.Collector() as collector:
            for request in requests:
                collector.submit(request)
            collector.close()
            responses = list(collector)
        after = snmp_stream.usm_counters()
        # Later requests to the same agents reuse the engine IDs found: no more discovery.
        again = snmp_stream.walk_many([a.host for a in agents], usm, SYSTEM)
        assert all(r.status == snmp_stream.SUCCESSFUL for r in again)
        assert snmp_stream.usm_counters()["discoveries"] == after["discoveries"]
    assert sorted(int(r.req_id or b"") for r in responses) == list(range(1500))
    assert all(r.status == snmp_stream.SUCCESSFUL for r in responses), [r.errors for r in responses][:3]
    # Per agent (their sysORLastChange differ by a tick or so, set when each started).
    texts = {(r.request.host, r.request.community.version): without_uptime(r.text().splitlines())
             for r in responses}  # fmt: skip
    for agent in agents:
        v3, v2c, v1 = (texts[(agent.host, version)] for version in ("v3", "v2c", "v1"))
        assert v3 == v2c == v1, agent.host
    assert sum(r.request.community.version == "v3" for r in responses) == 1000
    # One passphrase pair: two keys derived (none if another test did it first); three engines:
    # three localisations. Requests that start before their agent's first discovery is
    # answered probe too (at most one each, and at most 256 start at once).
    assert after["key_derivations"] - before["key_derivations"] <= 2, (before, after)
    assert after["localizations"] - before["localizations"] <= 3, (before, after)
    assert after["discoveries"] - before["discoveries"] <= 256, (before, after)


def test_an_agent_restarted_with_a_new_engine_id_is_discovered_again() -> None:
    """The test agents make a new engine ID each start (they run with -C, without the
    persistent file that would keep it): a request with the remembered engine ID gets an
    unknownEngineID report, and discovery runs again, once, instead of failing the request."""
    engine_id = "1.3.6.1.6.3.10.2.1.1.0"
    with snmpd.agents(extra_config=USERS_CONF.read_text()) as [agent]:
        usm = credentials(*USERS[8])
        first = snmp_stream.walk(agent.host, usm, SYSTEM)
        assert first.status == snmp_stream.SUCCESSFUL, first.errors
        old_engine = net_snmp("snmpget", "-v2c", "-c", "public", "-Oqv", agent.host, engine_id)
        config = agent.state_dir.parent / "agent.conf"
        agent.process.terminate()
        agent.process.wait()
        command = [
            snmpd.find_snmpd(),
            "-f",
            "-A",
            "-Lf",
            str(agent.log),
            "-C",
            "-c",
            str(config),
            *snmpd.DEFAULT_OPTIONS,
            snmpd.loopback_listen(agent.port),
        ]
        environment = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(agent.state_dir)}
        agent.process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                probe = subprocess.run(
                    ["snmpget", "-v2c", "-c", "public", "-r0", "-t0.2", "-On", "-Oqv", agent.host, engine_id],
                    capture_output=True,
                    text=True,
                )
                if probe.returncode == 0:
                    break
            assert probe.stdout.splitlines() != old_engine, "snmpd kept its engine ID"
            before = snmp_stream.usm_counters()
            again = snmp_stream.walk(agent.host, usm, SYSTEM)
            assert again.status == snmp_stream.SUCCESSFUL, again.errors
            assert without_uptime(again.text().splitlines()) == without_uptime(first.text().splitlines())
            after = snmp_stream.usm_counters()
            assert after["discoveries"] == before["discoveries"] + 1
            assert after["localizations"] == before["localizations"] + 1
        finally:
            agent.process.terminate()
            agent.process.wait()


def test_cli_takes_net_snmp_v3_flags(usm_agent: Agent) -> None:
    user = USERS[10]
    args = flags(*user)
    cli = subprocess.run(
        [sys.executable, "-m", "snmp_stream", "walk", *args, usm_agent.host, SYSTEM],
        capture_output=True,
        text=True,
        check=True,
    )
    assert without_uptime(cli.stdout.splitlines()) == without_uptime(
        net_snmp("snmpbulkwalk", *args, usm_agent.host, SYSTEM)
    )
    wrong = subprocess.run(
        [
            sys.executable,
            "-m",
            "snmp_stream",
            "get",
            "-v3",
            "-u",
            "v3sha",
            "-a",
            "SHA",
            "-A",
            "wrong-auth-pass",
            usm_agent.host,
            "1.3.6.1.2.1.1.5.0",
        ],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0
    assert "wrong_digest" in wrong.stderr and "wrong-auth-pass" not in wrong.stderr + wrong.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "snmp_stream", "get", "-v3", usm_agent.host, "1.3.6.1.2.1.1.5.0"],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "-u USER" in missing.stderr


def test_every_value_kind_reads_the_same_over_v3_as_over_v2c(values_agent: Agent) -> None:
    """The fast path decodes v3 responses with the v2c decoder: every value format the values
    fixture serves (and its non-increasing subtree) comes out the same."""
    demo = snmp_stream.Usm("demo", auth=("SHA-256", "demo-auth-pass"), priv=("AES", "demo-priv-pass"))
    root = "1.3.6.1.4.1.99998"
    over_v2c = snmp_stream.walk(values_agent.host, "public", root)
    over_v3 = snmp_stream.walk(values_agent.host, demo, root)
    assert over_v3.text() == over_v2c.text() and over_v3.text().count("\n") > 10
    assert over_v3.status == over_v2c.status
    assert [e.kind for e in over_v3.errors] == [e.kind for e in over_v2c.errors]
    assert over_v3.varbinds() == over_v2c.varbinds()


def test_a_given_engine_id_skips_discovery_and_a_context_engine_id_is_sent(usm_agent: Agent) -> None:
    engine = net_snmp(
        "snmpget", "-v2c", "-c", "public", "-Ox", "-Oqv", usm_agent.host, "1.3.6.1.6.3.10.2.1.1.0"
    )
    engine_id = "".join(" ".join(engine).split()).strip('"')
    user = USERS[4]  # authNoPriv, SHA-256
    with_engine = snmp_stream.Usm(
        user[0], auth=(user[1], user[2]), security_engine_id=engine_id, context_engine_id=engine_id
    )
    before = snmp_stream.usm_counters()
    response = snmp_stream.get(usm_agent.host, with_engine, "1.3.6.1.2.1.1.5.0")
    after = snmp_stream.usm_counters()
    assert response.status == snmp_stream.SUCCESSFUL, response.errors
    assert after["discoveries"] == before["discoveries"], (before, after)
    # snmpd answers any context engine ID from its own context; net-snmp takes the answer
    # only if it carries back the context engine ID the request was sent with.
    other = snmp_stream.Usm(user[0], auth=(user[1], user[2]), context_engine_id="8000000001020304")
    response = snmp_stream.get(usm_agent.host, other, "1.3.6.1.2.1.1.5.0", config={"retries": 0})
    assert response.status == snmp_stream.SUCCESSFUL, response.errors


class NotInTimeAgent:
    """A fake SNMPv3 agent on a real loopback UDP socket, for what snmpd cannot be made to do:
    answer every authenticated request with an authenticated notInTimeWindow report, however
    often the client resynchronises. It answers discovery like snmpd (an unauthenticated
    unknownEngineIDs report) and authenticates as RFC 3414 says (SHA-1, HMAC-96)."""

    ENGINE = bytes.fromhex("80001f8804") + b"faketime"
    BOOTS, TIME = 7, 123456

    def __init__(self, passphrase: str) -> None:
        import hashlib
        import hmac as hmac_module
        import socket
        import threading

        self._hmac, self._hashlib = hmac_module, hashlib
        stretched = (passphrase.encode() * (1048576 // len(passphrase) + 1))[:1048576]
        master = hashlib.sha1(stretched).digest()
        self.key = hashlib.sha1(master + self.ENGINE + master).digest()
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.reports = {"unknown_engine": 0, "not_in_time": 0}
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.socket.close()

    @staticmethod
    def _tlv(tag: int, value: bytes) -> bytes:
        n = len(value)
        length = bytes([n]) if n < 0x80 else bytes([0x82, n >> 8, n & 0xFF])
        return bytes([tag]) + length + value

    @classmethod
    def _int(cls, value: int) -> bytes:
        return cls._tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))

    @staticmethod
    def _read(data: bytes, at: int) -> tuple[int, bytes, int]:
        tag, first = data[at], data[at + 1]
        at += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[at : at + count], "big")
            at += count
        else:
            length = first
        return tag, data[at : at + length], at + length

    def _report(self, msg_id: int, request_id: int, stat: int, user: bytes, authenticated: bool) -> bytes:
        tlv, integer = self._tlv, self._int
        oid = bytes([0x2B, 6, 1, 6, 3, 15, 1, 1, stat, 0])
        varbind = tlv(0x30, tlv(0x06, oid) + tlv(0x41, b"\x01"))
        pdu = tlv(0xA8, integer(request_id) + integer(0) + integer(0) + tlv(0x30, varbind))
        scoped = tlv(0x30, tlv(0x04, self.ENGINE) + tlv(0x04, b"") + pdu)
        auth = b"\x00" * 12 if authenticated else b""
        usm = tlv(
            0x30,
            tlv(0x04, self.ENGINE)
            + integer(self.BOOTS)
            + integer(self.TIME)
            + tlv(0x04, user)
            + tlv(0x04, auth)
            + tlv(0x04, b""),
        )
        flags = b"\x01" if authenticated else b"\x00"
        header = tlv(0x30, integer(msg_id) + integer(65507) + tlv(0x04, flags) + integer(3))
        message = tlv(0x30, integer(3) + header + tlv(0x04, usm) + scoped)
        if authenticated:
            at = message.index(auth + tlv(0x04, b""))
            digest = self._hmac.new(self.key, message, self._hashlib.sha1).digest()[:12]
            message = message[:at] + digest + message[at + 12 :]
        return message

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.socket.recvfrom(65535)
            except OSError:
                return
            try:
                _, message, _ = self._read(data, 0)
                _, _, at = self._read(message, 0)  # version
                _, header, at = self._read(message, at)
                _, msg_id, h = self._read(header, 0)
                _, _, h = self._read(header, h)
                _, flags, h = self._read(header, h)
                _, usm, at = self._read(message, at)
                _, params, _ = self._read(usm, 0)
                u = 0
                for _field in range(3):  # engine ID, boots, time
                    _, _, u = self._read(params, u)
                _, user, _ = self._read(params, u)
                _, scoped, _ = self._read(message, at)
                _, _, s = self._read(scoped, 0)
                _, _, s = self._read(scoped, s)
                _, pdu, _ = self._read(scoped, s)
                _, request_id, _ = self._read(pdu, 0)
            except (IndexError, ValueError):
                continue
            msg, req = (
                int.from_bytes(msg_id, "big", signed=True),
                int.from_bytes(request_id, "big", signed=True),
            )
            if flags[0] & 0x01:
                self.reports["not_in_time"] += 1
                self.socket.sendto(self._report(msg, req, 2, user, authenticated=True), peer)
            else:
                self.reports["unknown_engine"] += 1
                self.socket.sendto(self._report(msg, req, 4, user, authenticated=False), peer)


def test_not_in_time_window_after_one_resynchronisation_is_a_structured_error() -> None:
    agent = NotInTimeAgent("time-auth-pass")
    try:
        usm = snmp_stream.Usm("timeuser", auth=("SHA", "time-auth-pass"))
        started = time.monotonic()
        response = snmp_stream.get(agent.host, usm, "1.3.6.1.2.1.1.5.0", config={"retries": 0, "timeout": 1})
        assert time.monotonic() - started < 1, "reports, not timeouts"
        assert response.status == snmp_stream.FAILED
        assert [e.kind for e in response.errors] == ["not_in_time_window"], response.errors
        message = response.errors[0].message
        assert "timeuser" in message and agent.host in message and "time-auth-pass" not in message
        # discovery, then the request and the one resend after net-snmp resynchronised
        assert agent.reports == {"unknown_engine": 1, "not_in_time": 2}, agent.reports
    finally:
        agent.close()


def test_an_agent_restarted_with_the_same_engine_id_is_resynchronised(tmp_path: Path) -> None:
    """snmpd keeps its engine ID and counts engine boots in its persistent directory when it
    reads it (started without -C, its config search path limited to the test's directories):
    after a restart, requests carry the old boots, the agent answers notInTimeWindow, and
    net-snmp resynchronises and resends, once; no new discovery."""
    config_dir, state = tmp_path / "conf", tmp_path / "state"
    config_dir.mkdir()
    state.mkdir()
    (config_dir / "snmpd.conf").write_text(snmpd.FIXTURE_CONFIG.read_text() + "\n" + USERS_CONF.read_text())
    port = snmpd.free_port()
    host = f"127.0.0.1:{port}"
    environment = {
        **os.environ,
        "MIBS": "",
        "SNMP_PERSISTENT_DIR": str(state),
        "SNMPCONFPATH": f"{config_dir}:{state}",
    }
    command = [
        snmpd.find_snmpd(),
        "-f",
        "-Lf",
        str(tmp_path / "snmpd.log"),
        *snmpd.DEFAULT_OPTIONS,
        f"udp:{host}",
    ]
    engine_oids = ["1.3.6.1.6.3.10.2.1.1.0", "1.3.6.1.6.3.10.2.1.2.0"]  # snmpEngineID, snmpEngineBoots

    def start() -> tuple[subprocess.Popen[bytes], tuple[str, int]]:
        """Starts snmpd; its engine ID (hex) and engine boots once it answers."""
        process = subprocess.Popen(
            command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["snmpget", "-v2c", "-c", "public", "-r0", "-t0.2", "-Oqv", "-Ox", host, engine_oids[0]],
                capture_output=True,
                text=True,
                env=environment,
            )
            if probe.returncode == 0:
                boots = net_snmp("snmpget", "-v2c", "-c", "public", "-Oqv", host, engine_oids[1])
                return process, ("".join(probe.stdout.split()).strip('"'), int(boots[0]))
        process.kill()
        raise AssertionError("snmpd did not start")

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        process.wait(timeout=10)

    usm = credentials(*USERS[8])
    process, first_engine = start()
    try:
        first = snmp_stream.walk(host, usm, SYSTEM)
        assert first.status == snmp_stream.SUCCESSFUL, first.errors
    finally:
        stop(process)
    process, again_engine = start()
    try:
        assert again_engine[0] == first_engine[0], "the same engine ID"
        assert again_engine[1] == first_engine[1] + 1, (first_engine, again_engine)
        before = snmp_stream.usm_counters()
        again = snmp_stream.walk(host, usm, SYSTEM)
        after = snmp_stream.usm_counters()
        assert again.status == snmp_stream.SUCCESSFUL, again.errors
        assert without_uptime(again.text().splitlines()) == without_uptime(first.text().splitlines())
        assert after["discoveries"] == before["discoveries"], (before, after)
        assert after["net_snmp_parsed"] - before["net_snmp_parsed"] >= 1, "the notInTimeWindow report"
    finally:
        stop(process)


def test_v3_from_several_threads_at_once(usm_agent: Agent) -> None:
    """USM state is process-wide in net-snmp: collectors in several threads share it under one
    lock. Four threads walk with different users (two of them sharing a user name with
    different passphrases, one wrong) while the others run."""
    import threading

    good = credentials(*USERS[8])
    wrong = snmp_stream.Usm("v3aes", auth=("SHA-256", "authpass-aes"), priv=("AES", "wrong-priv-pass"))
    other = credentials(*USERS[10])
    outcomes: dict[str, list[str]] = {"good": [], "wrong": [], "other": [], "v2c": []}

    def run(name: str, creds: snmp_stream.Usm | str) -> None:
        config = {"timeout": 0.2, "retries": 0}
        for _ in range(15):
            response = snmp_stream.walk(usm_agent.host, creds, SYSTEM, config=config)
            outcomes[name].append(response.errors[0].kind if response.errors else response.status)

    threads = [
        threading.Thread(target=run, args=args)
        for args in (("good", good), ("wrong", wrong), ("other", other), ("v2c", "public"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes["good"] == ["successful"] * 15, outcomes["good"]
    assert outcomes["other"] == ["successful"] * 15, outcomes["other"]
    assert outcomes["v2c"] == ["successful"] * 15, outcomes["v2c"]
    assert set(outcomes["wrong"]) == {"decryption_error"}, outcomes["wrong"]


def test_v3_over_udp6_and_tcp(usm_agent: Agent) -> None:
    usm = credentials(*USERS[8])
    expected = without_uptime(snmp_stream.walk(usm_agent.host, usm, SYSTEM).text().splitlines())
    for host in (usm_agent.host6, usm_agent.host_tcp):
        response = snmp_stream.walk(host, usm, SYSTEM)
        assert response.status == snmp_stream.SUCCESSFUL, (host, response.errors)
        assert without_uptime(response.text().splitlines()) == expected, host
