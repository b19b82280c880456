"""The snmp-stream command, run as a user runs it (a subprocess), against a real snmpd."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import snmp_stream
from conftest import Agent, agent_packets, net_snmp


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snmp_stream", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def test_get_prints_values_like_snmpget(agent: Agent) -> None:
    name = net_snmp("snmpget", "-v2c", "-c", "public", "-Oqv", agent.host, "1.3.6.1.2.1.1.5.0")[0].strip('"')
    result = cli("get", agent.host, "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.7.0", "-o", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[0]["oid"] == ".1.3.6.1.2.1.1.5.0" and rows[0]["type"] == "STRING" and rows[0]["value"] == name
    assert rows[1] == {"table": "get", "oid": ".1.3.6.1.2.1.1.7.0", "type": "INTEGER", "value": "72"}
    table = cli("get", agent.host, "1.3.6.1.2.1.1.5.0")
    assert name in table.stdout


@pytest.mark.parametrize("version", ["1", "2c"])
def test_walk_csv_matches_snmpbulkwalk(agent: Agent, version: str) -> None:
    expected = net_snmp("snmpbulkwalk", "-v2c", "-c", "public", "-Oq", agent.host, "1.3.6.1.2.1.25.6.3.1.2")
    result = cli("walk", agent.host, "1.3.6.1.2.1.25.6.3.1.2", "-v", version, "-Cr", "40", "-o", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "oid,type,value"
    assert [line.split(",")[0] for line in lines[1:]] == [line.split()[0] for line in expected]


def test_dead_host_and_bad_input_exit_codes(silent_port: int) -> None:
    dead = cli("get", f"127.0.0.1:{silent_port}", "1.3.6.1.2.1.1.5.0", "-t", "0.2", "-r", "0")
    assert dead.returncode == 1 and "timeout: no response" in dead.stderr
    bad = cli("get", "127.0.0.1:161", "1.3.x")
    assert bad.returncode == 2 and 'invalid OID "1.3.x"' in bad.stderr and "Traceback" not in bad.stderr
    for args, message in [
        (["-r", "-1"], "invalid config retries: -1 is outside 0..=100"),
        (["-Cr", "-5"], "invalid config max_var_binds_per_pdu: -5 is outside 1..=10000"),
        (["-Cr", "0"], "invalid config max_var_binds_per_pdu: 0 is outside 1..=10000"),
        (["-t", "0"], "invalid config timeout: 0 is outside 0.001..=3600"),
    ]:
        out = cli("walk", "127.0.0.1:161", "1.3.6.1.2.1.1", *args)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, (
            args,
            out.stderr,
        )


def targets_yaml(agent: Agent, dead_port: int) -> str:
    return f"""
targets:
  - host: "{agent.host}"
    tables: [system, interfaces]
  - host: "{agent.host6}"
    version: v1
    tables: [if_table]
    walk: [1.3.6.1.2.1.1.9]
  - host: "127.0.0.1:{dead_port}"
    timeout: 5
    retries: 0
    deadline: 0.3
"""


def test_collect_yaml_with_a_dead_agent_reports_it_and_exits_1(
    agent: Agent, silent_port: int, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(targets_yaml(agent, silent_port))
    result = cli("collect", str(targets), "--no-progress", "-o", "csv", "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "3 targets: 2 ok, 1 failed" in result.stderr
    slowest = next(line for line in result.stderr.splitlines() if line.startswith("  slowest: "))
    assert agent.host in slowest and agent.host6 in slowest and f":{silent_port}" not in slowest
    assert (
        f"FAILED 127.0.0.1:{silent_port}: 127.0.0.1:{silent_port} did not complete within its deadline"
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr
    system = pd.read_csv(tmp_path / "out" / "system.csv")
    assert list(system["sysName"]) == ["snmp-stream-test"]
    if_table = pd.read_csv(tmp_path / "out" / "if_table.csv")
    assert set(if_table["host"]) == {agent.host6}
    interfaces = pd.read_csv(tmp_path / "out" / "interfaces.csv")
    assert len(interfaces) == len(if_table) and "ifName" in interfaces.columns
    walked = pd.read_csv(tmp_path / "out" / "walk.csv")
    assert all(walked["oid"].str.startswith(".1.3.6.1.2.1.1.9."))
    allowed = cli(
        "collect",
        str(targets),
        "--no-progress",
        "--allow-failures",
        "-o",
        "jsonl",
        "--out",
        str(tmp_path / "rows.jsonl"),
    )
    assert allowed.returncode == 0, allowed.stderr
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert {row["table"] for row in rows} == {"system", "interfaces", "if_table", "walk"}


def test_collect_csv_and_jsonl_from_stdin_and_parquet(agent: Agent, tmp_path: Path) -> None:
    csv_targets = (
        f"host,community,version,tables\n{agent.host},public,2c,system\n{agent.host6},public,v2c,system\n"
    )
    path = tmp_path / "targets.csv"
    path.write_text(csv_targets)
    result = cli("collect", str(path), "--no-progress", "-o", "parquet", "--out", str(tmp_path / "pq"))
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(tmp_path / "pq" / "system.parquet")
    assert list(frame["host"]) == [agent.host, agent.host6]
    jsonl = json.dumps({"host": agent.host, "get": ["1.3.6.1.2.1.1.5.0"]}) + "\n"
    piped = cli("collect", "-", "--no-progress", "-o", "jsonl", stdin=jsonl)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout.splitlines()[0])["value"] == "snmp-stream-test"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("t.yaml", "targets: [{community: x}]", "t.yaml: line 1: 'host' is missing"),
        ("t.yaml", "- host: h\n  tables: [nope]", "unknown table 'nope'"),
        ("t.yaml", "- host: h\n  walk: [1.3.x]", "t.yaml: line 1: invalid OID"),
        ("t.csv", "host,colour\nh,red\n", "t.csv: line 2: unknown field(s) colour"),
        ("t.jsonl", '{"host": "h"}\nnot json\n', "t.jsonl: line 2: not JSON"),
        ("t.yaml", "- host: 'bad host'", "invalid host"),
        ("t.txt", "h", "unknown targets format 'txt'"),
        (
            "t.yaml",
            "- host: h\n  retries: -1",
            "t.yaml: line 2: invalid config retries: -1 is outside 0..=100",
        ),
        ("t.csv", "host,timeout\nh,abc\n", "t.csv: line 2: timeout 'abc' is not a number"),
        ("t.yaml", "- host: h\n  walk_mode: nope", 'invalid config walk_mode: "nope" is not'),
    ],
)
def test_bad_targets_files_exit_2_naming_the_problem(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = cli("collect", str(path), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_collect_runs_end_to_end() -> None:
    result = cli("collect", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "4 targets: 3 ok, 1 failed" in result.stderr and "dead target on purpose" in result.stderr
    assert "demo-agent-1" in result.stdout and "ifName" in result.stdout
    assert "targets:" not in result.stdout and "more columns" not in result.stdout  # status on stderr


def test_collect_into_postgres(agent: Agent, postgres: object, tmp_path: Path) -> None:
    import psycopg

    dsn = postgres.dsn  # type: ignore[attr-defined]
    path = tmp_path / "targets.jsonl"
    target = {"host": agent.host, "tables": ["system", "if_table"], "walk": ["1.3.6.1.2.1.1.9"]}
    path.write_text(json.dumps(target) + "\n")
    for _ in range(2):
        result = cli("collect", str(path), "--no-progress", "-o", "postgres", "--dsn", dsn)
        assert result.returncode == 0, result.stderr
    assert "wrote" in result.stderr and result.stdout == ""
    with psycopg.connect(dsn) as connection:
        collected = "result_id LIKE 'collect:%'"
        names = connection.execute(f"SELECT host, sysName, sysServices FROM snmp_system WHERE {collected}")
        assert names.fetchall() == [(agent.host, "snmp-stream-test", 72)] * 2  # two collections, two rows
        counts = f"SELECT count(*), count(DISTINCT collected_at) FROM snmp_if_table WHERE {collected}"
        interfaces = connection.execute(counts).fetchone()
        assert interfaces is not None and interfaces[1] == 2 and interfaces[0] >= 2
        walked = connection.execute(
            f"SELECT count(DISTINCT result_id), min(root) FROM snmp_varbinds WHERE {collected}"
        ).fetchone()
        assert walked == (2, ".1.3.6.1.2.1.1.9")
        kinds = dict(
            connection.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'snmp_if_table'"
            ).fetchall()
        )
        assert kinds["ifindex"] == "bigint" and kinds["iftype"] == "integer" and kinds["ifdescr"] == "text"


def test_demo_agent_starts_again_when_its_port_was_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    from snmp_stream import demo, snmpd

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken_port = taken.getsockname()[1]
        handed: list[int] = []
        real = snmpd.free_port

        def first_the_taken_port() -> int:
            handed.append(real() if handed else taken_port)
            return handed[-1]

        monkeypatch.setattr(snmpd, "free_port", first_the_taken_port)
        with demo.local_agents(1) as hosts:
            assert handed[0] == taken_port and len(handed) == 2, handed
            assert hosts == [f"127.0.0.1:{handed[1]}"]
            assert snmp_stream.get(hosts[0], "public", "1.3.6.1.2.1.1.5.0").status == "successful"


def test_version_is_the_packages_version() -> None:
    from importlib.metadata import version

    import snmp_stream

    # One version: Cargo.toml's, given to the wheel's metadata by maturin and to the module.
    assert snmp_stream.__version__ == version("snmp-stream")
    out = cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"snmp-stream {snmp_stream.__version__}"


VALUES = "1.3.6.1.4.1.99998"


def test_text_output_is_net_snmps(values_agent: Agent) -> None:
    # Every value kind net-snmp formats specially (long and binary strings in hex, quotes and
    # backslashes escaped, Timeticks of many days, ...): byte for byte as snmpbulkwalk -On and
    # snmpget -On print them, with net-snmp's spelling -Cr50 as well.
    host = values_agent.host
    expected = net_snmp("snmpbulkwalk", "-On", "-v2c", "-c", "public", host, VALUES)
    assert len(expected) > 15 and any("Hex-STRING" in line for line in expected)
    walked = cli("walk", host, VALUES, "-Cr50")
    assert walked.returncode == 0, walked.stderr
    assert walked.stdout.splitlines() == expected
    oids = [f"{VALUES}.1", f"{VALUES}.3", f"{VALUES}.9", "1.3.6.1.2.1.1.99.0", "1.3.6.1.2.1.1.5.0"]
    got = cli("get", host, *oids)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == net_snmp("snmpget", "-On", "-v2c", "-c", "public", host, *oids)
    # The same values in the other outputs: text, hex for binary, never a b'...' literal.
    rows = [json.loads(line) for line in cli("walk", host, VALUES, "-o", "jsonl").stdout.splitlines()]
    assert rows[0]["value"] == bytes(range(20)).hex() and rows[2]["value"] == 'tab\there "quoted" back\\slash'
    assert rows[3]["value"] == "été" and rows[4]["value"] == "414200"
    csv_out = cli("walk", host, VALUES, "-o", "csv").stdout
    assert "b'" not in csv_out and bytes(range(20)).hex() in csv_out


def test_walk_without_oid_walks_mib2_like_snmpwalk(agent: Agent) -> None:
    walked = cli("walk", agent.host)
    assert walked.returncode == 0, walked.stderr
    ours = dict(line.split(" = ", 1) for line in walked.stdout.splitlines() if " = " in line)
    theirs = dict(
        line.split(" = ", 1)
        for line in net_snmp("snmpbulkwalk", "-On", "-v2c", "-c", "public", agent.host)
        if " = " in line
    )
    assert next(iter(ours)) == ".1.3.6.1.2.1.1.1.0" and all(oid.startswith(".1.3.6.1.2.1.") for oid in ours)
    # The agent's own tables change between two walks (processes, counters): compare what both
    # saw, by OID and type.
    both = set(ours) & set(theirs)
    assert len(both) > 0.9 * max(len(ours), len(theirs)) > 100
    kind = lambda value: value.split(":", 1)[0] if ":" in value else value  # noqa: E731
    assert [oid for oid in both if kind(ours[oid]) != kind(theirs[oid])] == []


def test_exit_codes_follow_net_snmp(values_agent: Agent) -> None:
    host = values_agent.host
    # A walk stopped at a non-increasing OID: 1, what it got on stdout, the error on stderr.
    looping = cli("walk", host, f"{VALUES}.100")
    assert looping.returncode == 1
    assert looping.stdout.splitlines() == [f".{VALUES}.100.1 = INTEGER: 1"]
    assert "non_increasing_oid" in looping.stderr
    # A v1 GET answered with an error status (noSuchName): 2, as snmpget exits.
    missing = cli("get", host, "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.99.0", "-v1")
    assert missing.returncode == 2 and "noSuchName" in missing.stderr
    assert (
        subprocess.run(
            ["snmpget", "-v1", "-c", "public", host, "1.3.6.1.2.1.1.99.0"], capture_output=True
        ).returncode
        == 2
    )
    # v2c reports the missing object in the varbind instead: 0, as snmpget.
    assert cli("get", host, "1.3.6.1.2.1.1.99.0").returncode == 0


@pytest.mark.parametrize("output", ["table", "csv", "jsonl", "parquet", "postgres"])
def test_collect_every_output_takes_every_target_kind_and_type(
    values_agent: Agent, output: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Recipe tables, a raw walk over every value kind (binary, text, Timeticks, Counter32,
    # IpAddress, OID, ...), a raw GET with a missing object; and a target that fails.
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"- host: '{values_agent.host}'\n  tables: [system, interfaces]\n  walk: [{VALUES}]\n"
        f"  get: [1.3.6.1.2.1.1.5.0, 1.3.6.1.2.1.1.99.0, {VALUES}.1]\n"
        "- host: 127.0.0.1:9\n  timeout: 0.2\n  retries: 0\n  tables: [system]\n  walk: [1.3.6.1.2.1.1]\n"
    )
    out = tmp_path / "out"
    args = ["collect", str(targets), "--no-progress", "-o", output]
    if output == "postgres":
        args += ["--dsn", request.getfixturevalue("postgres").dsn]
    elif output != "table":
        args += ["--out", str(out / "rows.jsonl" if output == "jsonl" else out)]
    result = cli(*args)
    assert result.returncode == 1, result.stderr  # the dead target
    assert "Traceback" not in result.stderr and "2 targets: 1 ok, 1 failed" in result.stderr
    assert "dead target on purpose" not in result.stderr  # only the demo's own dead target says so
    binary = bytes(range(20)).hex()
    if output == "table":
        assert "(0 rows)" not in result.stdout and "targets:" not in result.stdout
        assert all(f"{name} (" in result.stdout for name in ("system", "interfaces", "walk", "get"))
        return
    assert result.stdout == ""
    if output == "postgres":
        import psycopg

        with psycopg.connect(request.getfixturevalue("postgres").dsn) as connection:
            rows = connection.execute(
                "SELECT oid, type, value, value_bytes FROM snmp_varbinds WHERE root = %s ORDER BY oid",
                (f".{VALUES}",),
            ).fetchall()
        values = {oid: (kind, value, raw) for oid, kind, value, raw in rows}
        assert values[f".{VALUES}.1"] == ("STRING", binary, bytes(range(20)))
        assert values[f".{VALUES}.7"] == ("Timeticks", "8640123", None)
        return
    frames: dict[str, pd.DataFrame] = {}
    if output == "jsonl":
        rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
        for table in {row["table"] for row in rows}:
            frames[table] = pd.DataFrame(
                [{k: v for k, v in r.items() if k != "table"} for r in rows if r["table"] == table]
            )
    else:
        for path in out.iterdir():
            frames[path.stem] = pd.read_csv(path, dtype=str) if output == "csv" else pd.read_parquet(path)
    assert set(frames) == {"system", "interfaces", "walk", "get"}
    walked = dict(zip(frames["walk"]["oid"], zip(frames["walk"]["type"], frames["walk"]["value"])))
    assert walked[f".{VALUES}.1"] == ("STRING", binary)
    assert walked[f".{VALUES}.4"] == ("STRING", "été")
    assert walked[f".{VALUES}.13"] == ("IpAddress", "192.0.2.255")
    assert walked[f".{VALUES}.14"] == ("OID", f".{VALUES}.1.2")
    assert str(walked[f".{VALUES}.7"][1]) == "8640123"
    got = dict(zip(frames["get"]["oid"], frames["get"]["type"]))
    assert got[".1.3.6.1.2.1.1.99.0"] == "noSuchObject" and got[f".{VALUES}.1"] == "STRING"


def test_collect_checks_its_output_before_collecting(values_agent: Agent, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(f"- host: '{values_agent.host}'\n  tables: [system]\n  walk: [{VALUES}]\n")
    before = agent_packets(values_agent)
    bad_dsn = cli("collect", str(targets), "-o", "postgres", "--dsn", "host=127.0.0.1 port=1 password=s3cret")
    assert bad_dsn.returncode == 2 and "cannot connect to PostgreSQL" in bad_dsn.stderr
    assert "Traceback" not in bad_dsn.stderr and "s3cret" not in bad_dsn.stderr
    two_tables = cli("collect", str(targets), "-o", "csv")
    assert two_tables.returncode == 2 and "give --out DIRECTORY" in two_tables.stderr
    assert cli("collect", str(targets), "-o", "parquet").returncode == 2
    assert agent_packets(values_agent) == before + 1, "nothing was collected"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- host: h\n  timeout: abc\n", "t.yaml: line 2: timeout 'abc' is not a number"),
        (
            "targets:\n  - host: h\n  - host: g\n    retries: [1]\n",
            "t.yaml: line 4: retries [1] is not an integer",
        ),
        ("- host: h\n  walk: {a: 1}\n", "t.yaml: line 2: walk takes names or OIDs"),
        ("- host: h\n\n  tables: [nope]\n", "t.yaml: line 3: unknown table 'nope'"),
        ("- host: h\n  walk: 5\n", "t.yaml: line 1: invalid OID"),
    ],
)
def test_yaml_targets_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(content)
    result = cli("collect", str(path), "--no-progress")
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


STORAGE_TABLE = """\
  storage:
    index: {hrStorageIndex: integer}
    columns:
      hrStorageDescr: [1.3.6.1.2.1.25.2.3.1.3, utf8]
      hrStorageSize: [1.3.6.1.2.1.25.2.3.1.5, integer]
      hrStorageUsed: [1.3.6.1.2.1.25.2.3.1.6, integer]
"""


def test_collect_tables_declared_in_yaml(agent: Agent, tmp_path: Path) -> None:
    # A table no recipe has, declared in the targets file itself, and in a --tables file.
    inline = tmp_path / "targets.yaml"
    inline.write_text(
        f"tables:\n{STORAGE_TABLE}targets:\n  - host: '{agent.host}'\n    tables: [storage, system]\n"
    )
    result = cli("collect", str(inline), "--no-progress", "-o", "csv", "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    storage = pd.read_csv(tmp_path / "a" / "storage.csv")
    descr = net_snmp("snmpbulkwalk", "-On", "-v2c", "-c", "public", agent.host, "1.3.6.1.2.1.25.2.3.1.3")
    assert list(storage.columns) == [
        "host",
        "hrStorageIndex",
        "hrStorageDescr",
        "hrStorageSize",
        "hrStorageUsed",
    ]
    assert [int(line.split(" = ")[0].rsplit(".", 1)[1]) for line in descr] == list(storage["hrStorageIndex"])
    declared = tmp_path / "tables.yaml"
    declared.write_text(f"tables:\n{STORAGE_TABLE}")
    plain = tmp_path / "targets.jsonl"
    plain.write_text(json.dumps({"host": agent.host, "tables": ["storage"]}) + "\n")
    result = cli("collect", str(plain), "--tables", str(declared), "--no-progress", "-o", "jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["hrStorageIndex"] for row in rows] == list(storage["hrStorageIndex"])
    # Without the declaration the name is unknown; a bad declaration names its table and entry.
    assert "unknown table 'storage'" in cli("collect", str(plain), "--no-progress").stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "tables:\n  storage:\n    index: {i: nope}\n    columns: {c: [1.3.6.1.2, utf8]}\ntargets: [h]\n"
    )
    result = cli("collect", str(bad), "--no-progress")
    assert result.returncode == 2 and "storage" in result.stderr and "nope" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_demo_agent_serves_until_ctrl_c() -> None:
    import signal

    # What a Python-only user runs (no checkout, no cargo): agents, their addresses on stdout.
    process = subprocess.Popen(
        [sys.executable, "-m", "snmp_stream.demo", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    hosts = [process.stdout.readline().strip() for _ in range(2)]
    names = [snmp_stream.get(host, "public", "1.3.6.1.2.1.1.5.0").varbinds()[0].value for host in hosts]
    assert names == [b"demo-agent-1", b"demo-agent-2"] and hosts[1].startswith("udp6:[::1]:")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 0 and "Ctrl-C stops them" in err and "Traceback" not in err
    gone = snmp_stream.get(hosts[0], "public", "1.3.6.1.2.1.1.5.0", config={"timeout": 0.2, "retries": 0})
    assert gone.status == "failed"


HIDE = "import sys\nfor name in sys.argv[1].split(','):\n    sys.modules[name] = None\n"


def without(modules: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as it runs where `modules` are not installed (a plain `pip install`)."""
    script = HIDE + "from snmp_stream.cli import main\nsys.exit(main(sys.argv[2:]))\n"
    return subprocess.run(
        [sys.executable, "-c", script, modules, *args], capture_output=True, text=True, timeout=60
    )


def test_missing_optional_dependencies_name_the_extra(agent: Agent, tmp_path: Path) -> None:
    optional = "pandas,rich,yaml,pyarrow,polars,psycopg,nats,prometheus_client"
    # get and walk print as snmpwalk does with nothing but the package itself.
    walked = without(optional, "walk", agent.host, "1.3.6.1.2.1.1")
    assert walked.returncode == 0 and walked.stdout.startswith(".1.3.6.1.2.1.1.1.0 = STRING: "), walked.stderr
    targets = tmp_path / "t.yaml"
    targets.write_text(f"- host: '{agent.host}'\n")
    cases = [
        (("collect", str(targets)), "pandas", "snmp-stream[cli]"),
        (("walk", agent.host, "-o", "table"), "rich", "snmp-stream[cli]"),
        (("collect", str(targets)), "yaml", "snmp-stream[cli]"),
        (("collect", str(targets), "-o", "parquet", "--out", str(tmp_path)), "pyarrow", "snmp-stream[cli]"),
        (("collect", str(targets), "-o", "postgres"), "psycopg", "snmp-stream[cli]"),
        (("worker",), "nats", "snmp-stream[bus]"),
    ]
    for args, missing, extra in cases:
        result = without(missing, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert f"pip install '{extra}'" in result.stderr and "No module named" not in result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    # The library too: the error is an ImportError that names the extra.
    library = subprocess.run(
        [sys.executable, "-c", HIDE + "import snmp_stream\nsnmp_stream.to_pandas([])", "pandas"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "MissingDependencyError" in library.stderr and "snmp-stream[pandas]" in library.stderr


def test_progress_bar_goes_to_stderr(agent: Agent, tmp_path: Path) -> None:
    targets = tmp_path / "t.yaml"
    targets.write_text(f"- host: '{agent.host}'\n  tables: [system]\n")
    # FORCE_COLOR makes rich draw as on a terminal: the bar must still stay off stdout.
    result = subprocess.run(
        [sys.executable, "-m", "snmp_stream", "collect", str(targets), "-o", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FORCE_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("host,") and "\x1b" not in result.stdout
    assert "collecting" in result.stderr
