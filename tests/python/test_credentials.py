"""Named SNMPv3 credentials: a credentials file and SNMP_STREAM_USM_* variables on the
collecting machine, named by targets files (`collect`) and bus request messages (`worker`),
against a real snmpd with the demo v3 user (python/snmp_stream/agent.conf)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import snmp_stream
from conftest import Agent
from snmp_stream.credentials import load_credentials
from snmp_stream.targets import UsageError, bus_messages, load_targets

AUTH, PRIV = "demo-auth-pass", "demo-priv-pass"
CREDENTIALS_YAML = f"""
core:
  user: demo
  auth: [SHA-256, {AUTH}]
  priv: {{protocol: AES, passphrase_env: DEMO_PRIV}}
reader:
  user: demo
  auth: {{protocol: SHA-256, passphrase: {AUTH}}}
  level: authNoPriv
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "snmp_stream", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def credentials_file(tmp_path: Path) -> Path:
    path = tmp_path / "credentials.yaml"
    path.write_text(CREDENTIALS_YAML)
    return path


def test_a_file_and_variables_give_named_credentials(credentials_file: Path, tmp_path: Path) -> None:
    store = load_credentials(str(credentials_file), {"DEMO_PRIV": PRIV})
    assert sorted(store) == ["core", "reader"]
    assert repr(store["CORE"]) == 'Usm("demo", authPriv, auth=SHA-256, priv=AES)'
    assert store["reader"].level == "authNoPriv"
    environ = {
        "SNMP_STREAM_CREDENTIALS": str(credentials_file),
        "DEMO_PRIV": PRIV,
        "SNMP_STREAM_USM_EDGE_USER": "edge",
        "SNMP_STREAM_USM_EDGE_AUTH_PROTOCOL": "SHA",
        "SNMP_STREAM_USM_EDGE_AUTH_PASSPHRASE": "edge-auth-pass",
        "SNMP_STREAM_USM_READER_USER": "other",  # variables win over the file
    }
    store = load_credentials(None, environ)
    assert sorted(store) == ["core", "edge", "reader"]
    assert repr(store["edge"]) == 'Usm("edge", authNoPriv, auth=SHA)'
    assert store["reader"].user == "other" and store["reader"].level == "noAuthNoPriv"
    as_json = tmp_path / "c.json"
    as_json.write_text(json.dumps({"j": {"user": "u", "auth": ["MD5", "json-pass-1"]}}))
    assert load_credentials(str(as_json), {})["j"].level == "authNoPriv"
    with pytest.raises(
        snmp_stream.InvalidCredentialsError, match=r"unknown credentials 'nope' \(known here: core"
    ):
        store.resolve("nope")


@pytest.mark.parametrize(
    ("content", "environ", "message"),
    [
        ("core: {user: u, auth: [SHA, short]}", {}, "core: invalid SNMPv3 credentials: the authentication"),
        ("core: {auth: [SHA, long-enough-pass]}", {}, "core: 'user' is missing"),
        ("core: {user: u, colour: red}", {}, "core: unknown field(s) colour"),
        ("core: {user: u, auth: [SHA3, long-enough-pass]}", {}, 'unknown authentication protocol "SHA3"'),
        ("core: {user: u, auth: {protocol: SHA, passphrase_env: NOPE}}", {}, "the variable NOPE is not set"),
        ("'bad name': {user: u}", {}, "'bad name' is not a name"),
        ("core: {user: u, auth: [SHA, 'long-enough-pass'", {}, "not valid YAML (line 1)"),
        ("- u", {}, "expected a mapping of names to credentials"),
    ],
)
def test_bad_credentials_are_named_without_their_secrets(
    tmp_path: Path, content: str, environ: dict[str, str], message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(content)
    with pytest.raises(snmp_stream.InvalidCredentialsError) as error:
        load_credentials(str(path), environ)
    assert message in str(error.value), str(error.value)
    assert "long-enough-pass" not in str(error.value) and "short" not in str(error.value).replace(
        "shorter", ""
    )
    with pytest.raises(snmp_stream.InvalidCredentialsError, match="without a passphrase"):
        load_credentials(None, {"SNMP_STREAM_USM_X_USER": "u", "SNMP_STREAM_USM_X_AUTH_PROTOCOL": "SHA"})


def test_targets_name_credentials_and_collect_resolves_them(
    agent: Agent, credentials_file: Path, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"- host: {agent.host}\n  credentials: core\n  tables: [system]\n"
        f"- host: {agent.host6}\n  community: public\n  tables: [system]\n"
    )
    out = tmp_path / "out"
    result = cli(
        "collect",
        str(targets),
        "--credentials",
        str(credentials_file),
        "--no-progress",
        "-o",
        "csv",
        "--out",
        str(out),
        env={"DEMO_PRIV": PRIV},
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out / "system.csv")
    assert sorted(frame["host"]) == sorted([agent.host, agent.host6])
    assert set(frame["sysName"]) == {"snmp-stream-test"}
    assert AUTH not in result.stderr + result.stdout and PRIV not in result.stderr + result.stdout
    # Without the credentials here: a usage error naming the target's line and the name.
    missing = cli("collect", str(targets), "--no-progress", env={"SNMP_STREAM_CREDENTIALS": ""})
    assert missing.returncode == 2
    assert "targets.yaml: line 2: unknown credentials 'core' (known here: none" in missing.stderr
    # Publishing needs only the names: the messages carry the name, never a secret.
    loaded = load_targets(targets.read_text(), "yaml", "targets.yaml")
    messages = [m for target in loaded for _, m in bus_messages(target, "slot-1")]
    assert json.loads(messages[0])["credentials"] == "core" and "community" not in json.loads(messages[0])
    assert all(AUTH.encode() not in m and PRIV.encode() not in m for m in messages)
    with pytest.raises(UsageError, match="not both"):
        load_targets("- host: h\n  credentials: core\n  community: public\n", "yaml")
