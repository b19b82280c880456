"""The recipes for hosts, hardware, layer 2 and BGP, checked against net-snmp's own walk of a real
snmpd: HOST-RESOURCES-MIB and IP-MIB from snmpd itself, ENTITY-MIB, LLDP-MIB, BRIDGE-MIB,
Q-BRIDGE-MIB and BGP4-MIB from tests/fixtures/mibs_pass_persist.py (fixed data) through
snmpd's `pass_persist`."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import snmp_stream
from snmp_stream import parse as p
from snmp_stream import recipes, snmpd
from snmp_stream.snmpd import Agent
from test_cli import cli
from test_parse import actual_rows, compare_until_stable
from test_parse import expected_rows as walked_rows

PROGRAM = Path(__file__).resolve().parent.parent / "fixtures" / "mibs_pass_persist.py"
SUBTREES = {  # recipe: the table the pass_persist program serves for it
    "ENT_PHYSICAL": "1.3.6.1.2.1.47.1.1.1",
    "LLDP_REM": "1.0.8802.1.1.2.1.4.1",
    "DOT1D_TP_FDB": "1.3.6.1.2.1.17.4.3",
    "DOT1Q_TP_FDB": "1.3.6.1.2.1.17.7.1.2.2",
    "BGP_PEER": "1.3.6.1.2.1.15.3",
}
LIVE = {  # recipe: its columns that change between two walks (the machine's own values)
    "HR_STORAGE": {"hrStorageSize", "hrStorageUsed", "hrStorageAllocationFailures"},
    "HR_PROCESSOR": {"hrProcessorLoad"},
    "IP_ADDRESS": set(),
}
UNSERVED = {"hrStorageAllocationFailures", "hrProcessorLoad"}  # see test_host_recipes_...

Rows = dict[tuple[Any, ...], dict[str, Any]]


@pytest.fixture(scope="session")
def mibs_agent() -> Iterator[Agent]:
    """A real snmpd (python/snmp_stream/agent.conf) that also serves the five tables of
    tests/fixtures/mibs_pass_persist.py, one `pass_persist` process per table."""
    lines = [f"pass_persist .{root} {sys.executable} {PROGRAM} .{root}" for root in SUBTREES.values()]
    with snmpd.agents(extra_config="\n".join(lines)) as [running]:
        yield running


def expected_rows(table: p.Table, host: str) -> Rows:
    """test_parse.expected_rows (snmpbulkwalk's values, split and rendered independently), HEX
    columns included: its `render` has no HEX, so they are walked as MAC (colon-separated hex)
    and the colons dropped."""
    hexes = {c.name for c in table.columns if c.value is p.HEX}
    as_mac = p.Table(
        table.index, [p.column(c.name, c.oid, p.MAC) if c.name in hexes else c for c in table.columns]
    )
    return {
        key: {name: value.replace(":", "") if name in hexes else value for name, value in row.items()}
        for key, row in walked_rows(as_mac, host).items()
    }


def frame_of(agent: Agent, table: p.Table) -> pd.DataFrame:
    response = snmp_stream.walk(agent.host, "public", table.oids)
    assert response.status == "successful", response
    return table.to_pandas(response)


@pytest.mark.parametrize("name", list(SUBTREES))
def test_recipes_decode_what_snmpbulkwalk_shows(mibs_agent: Agent, name: str) -> None:
    table: p.Table = getattr(recipes, name)
    frame = frame_of(mibs_agent, table)
    expected = expected_rows(table, mibs_agent.host)
    # The fixture serves every column of the recipe in every row: nothing is compared vacuously.
    assert expected and all(len(values) == len(table.columns) for values in expected.values())
    assert actual_rows(table, frame) == expected
    assert len(frame) == len(expected)
    names = [f.name for f in table.index] + [c.name for c in table.columns]
    assert list(frame.columns) == ["req_id", "host", *names]
    assert set(frame["host"]) == {mibs_agent.host}


@pytest.mark.parametrize("name", list(LIVE))
def test_host_recipes_decode_what_snmpbulkwalk_shows(mibs_agent: Agent, name: str) -> None:
    table: p.Table = getattr(recipes, name)
    volatile = LIVE[name]
    frame, expected, actual, differences = compare_until_stable(
        table, lambda: frame_of(mibs_agent, table), lambda: expected_rows(table, mibs_agent.host), volatile
    )
    assert len(frame) == len(expected) > 0
    assert actual.keys() == expected.keys()
    assert not differences, differences
    # Every stable column is served in every row, so each was compared. snmpd 5.9 serves no
    # hrStorageAllocationFailures at all, and hrProcessorLoad only after a minute of samples.
    served = {c.name for c in table.columns} - UNSERVED
    assert all(served <= set(values) for values in expected.values()), expected
    for column in volatile & served:  # present in both walks, a number in the frame
        assert frame[column].notna().all() and frame[column].dtype.kind in "iu", column


def test_walks_of_the_tables_decode_as_walks_of_their_columns(mibs_agent: Agent) -> None:
    # The tables also have columns the recipes leave out (entPhysicalMfgDate, bgpPeerLastError,
    # the read-only index columns bgpPeerRemoteAddr and dot1dTpFdbAddress): skipped.
    for name, root in SUBTREES.items():
        table: p.Table = getattr(recipes, name)
        whole = table.to_pandas(snmp_stream.walk(mibs_agent.host, "public", root))
        assert whole.drop(columns="req_id").equals(frame_of(mibs_agent, table).drop(columns="req_id")), name


def test_ent_physical_inventory(mibs_agent: Agent) -> None:
    frame = frame_of(mibs_agent, recipes.ENT_PHYSICAL).set_index("entPhysicalIndex")
    assert len(frame) == 20
    chassis = frame.loc[1]
    assert chassis.entPhysicalClass == 3 and chassis.entPhysicalParentRelPos == -1  # chassis, no position
    assert chassis.entPhysicalContainedIn == 0  # in nothing
    assert (chassis.entPhysicalModelName, chassis.entPhysicalSerialNum) == ("EXN-9404", "EXN2231Q1AB")
    assert (chassis.entPhysicalAlias, chassis.entPhysicalAssetID) == ("core-sw1", "ASSET-004711")
    # A port up to the chassis through entPhysicalContainedIn: port, line card, slot, chassis.
    chain, at = [], 2003
    while at:
        chain.append(frame.loc[at, "entPhysicalName"])
        at = frame.loc[at, "entPhysicalContainedIn"]
    assert chain == ["Ethernet2/3", "Linecard2", "Slot 2", "Chassis"]
    # chassis, containers, power supplies, fans, sensor, modules, ports
    assert frame["entPhysicalClass"].value_counts().to_dict() == {3: 1, 5: 4, 6: 2, 7: 2, 8: 1, 9: 3, 10: 7}
    supply = frame.loc[101]
    assert supply.entPhysicalVendorType == ".1.3.6.1.4.1.32473.3.30" and supply.entPhysicalIsFRU == 1
    assert (supply.entPhysicalModelName, supply.entPhysicalMfgName) == ("EXN-PWR-3000-AC", "Example Networks")
    assert frame.loc[30, "entPhysicalSoftwareRev"] == "EXOS 17.9.4"
    port = frame.loc[2001]
    assert port.entPhysicalIsFRU == 2 and port.entPhysicalSerialNum == ""  # empty, not null


def test_lldp_neighbours(mibs_agent: Agent) -> None:
    frame = frame_of(mibs_agent, recipes.LLDP_REM)
    rows = {row.lldpRemSysName: row for row in frame.itertuples(index=False)}
    assert len(frame) == 4 and len(rows) == 4
    spine = rows["spine1.dc1.example.net"]
    assert (spine.lldpRemTimeMark, spine.lldpRemLocalPortNum, spine.lldpRemIndex) == (0, 49, 1)
    assert spine.lldpRemChassisIdSubtype == 4  # a MAC
    assert bytes.fromhex(spine.lldpRemChassisId).hex(":") == "00:1c:73:aa:10:01"
    assert spine.lldpRemPortIdSubtype == 5 and bytes.fromhex(spine.lldpRemPortId).decode() == "Ethernet1/49"
    assert spine.lldpRemPortDesc == "leaf3 uplink 1" and spine.lldpRemSysCapEnabled == "28"  # bridge, router
    server = rows["db01.example.net"]  # lldpd: a MAC as port id, kept exact by HEX
    assert (server.lldpRemTimeMark, server.lldpRemLocalPortNum, server.lldpRemIndex) == (4512345, 3, 7)
    assert server.lldpRemPortIdSubtype == 3 and server.lldpRemPortId == "3cecef123458"
    assert (server.lldpRemSysCapSupported, server.lldpRemSysCapEnabled) == ("29", "01")  # station only on
    phone = rows["SEP0004F2AABBCC"]  # a network address as chassis id: IPv4 (family 1) 10.20.30.40
    assert phone.lldpRemChassisIdSubtype == 5 and phone.lldpRemChassisId == "010a141e28"
    assert phone.lldpRemPortDesc == "" and bytes.fromhex(phone.lldpRemPortId) == b"PORT1"


def test_bridge_forwarding_databases(mibs_agent: Agent) -> None:
    dot1d = frame_of(mibs_agent, recipes.DOT1D_TP_FDB)
    ports = dict(zip(dot1d["dot1dTpFdbAddress"], dot1d["dot1dTpFdbPort"]))
    assert len(dot1d) == len(ports) == 31
    assert ports["3c:ec:ef:12:34:58"] == 3 and ports["00:04:f2:aa:bb:cc"] == 12
    assert ports["52:54:00:3e:05:15"] == 6
    own = dot1d[dot1d["dot1dTpFdbStatus"] == 4]  # self
    assert own["dot1dTpFdbAddress"].tolist() == ["00:1c:73:bb:00:01"]
    assert own["dot1dTpFdbPort"].tolist() == [0]
    assert dot1d.set_index("dot1dTpFdbAddress").loc["00:00:5e:00:01:0a", "dot1dTpFdbStatus"] == 5  # mgmt
    dot1q = frame_of(mibs_agent, recipes.DOT1Q_TP_FDB)
    assert dot1q.groupby("dot1qFdbId").size().to_dict() == {1: 1, 10: 5, 20: 2, 100: 24, 4000: 4}
    trunk = dot1q[dot1q["dot1qTpFdbAddress"] == "3c:ec:ef:12:34:58"]
    assert trunk["dot1qFdbId"].tolist() == [10, 100] and trunk["dot1qTpFdbPort"].tolist() == [3, 3]
    # Every station's port is the same in both tables.
    assert all(ports[row.dot1qTpFdbAddress] == row.dot1qTpFdbPort for row in dot1q.itertuples())


def test_bgp_peers(mibs_agent: Agent) -> None:
    frame = frame_of(mibs_agent, recipes.BGP_PEER).set_index("bgpPeerRemoteAddr")
    states = {"10.0.0.2": 1, "192.0.2.1": 6, "198.51.100.7": 6, "203.0.113.9": 3}  # idle, established, active
    assert frame["bgpPeerState"].to_dict() == states
    assert frame["bgpPeerAdminStatus"].tolist() == [1, 2, 2, 2]  # the idle one stopped
    peer = frame.loc["192.0.2.1"]
    assert (peer.bgpPeerIdentifier, peer.bgpPeerLocalAddr) == ("10.255.0.1", "192.0.2.2")
    assert peer.bgpPeerRemoteAs == 65001
    assert (peer.bgpPeerLocalPort, peer.bgpPeerRemotePort, peer.bgpPeerNegotiatedVersion) == (179, 51234, 4)
    # Counter32 values above 2^31 stay positive (unsigned).
    assert peer.bgpPeerInUpdates == 3123456789 and peer.bgpPeerInTotalMessages == 3987654321 > 2**31
    assert peer.bgpPeerOutTotalMessages == 2345678901
    assert str(frame["bgpPeerInTotalMessages"].dtype) == "UInt64"
    assert (peer.bgpPeerFsmEstablishedTransitions, peer.bgpPeerFsmEstablishedTime) == (3, 8640000)
    assert frame.loc["198.51.100.7", "bgpPeerRemoteAs"] == 23456  # AS_TRANS: a 4-byte AS
    flapping = frame.loc["203.0.113.9"]
    assert flapping.bgpPeerIdentifier == "0.0.0.0" and flapping.bgpPeerFsmEstablishedTransitions == 12


def test_host_resources_and_addresses(mibs_agent: Agent) -> None:
    storage = frame_of(mibs_agent, recipes.HR_STORAGE)
    ram = storage[storage["hrStorageType"] == ".1.3.6.1.2.1.25.2.1.2"]  # hrStorageRam
    assert ram["hrStorageDescr"].tolist() == ["Physical memory"] and ram["hrStorageSize"].iloc[0] > 0
    assert (storage["hrStorageAllocationUnits"] > 0).all()
    assert (storage["hrStorageUsed"] <= storage["hrStorageSize"]).all()
    cpus = frame_of(mibs_agent, recipes.HR_PROCESSOR)
    # snmpd numbers devices (type << 16) + n: processors are type 3; no firmware id (zeroDotZero).
    assert len(cpus) > 0 and (cpus["hrDeviceIndex"] // 2**16 == 3).all()
    assert set(cpus["hrProcessorFrwID"]) == {".0.0"}
    assert cpus["hrProcessorLoad"].dropna().between(0, 100).all()
    addresses = frame_of(mibs_agent, recipes.IP_ADDRESS)
    rows = {(row.ipAddressAddrType, row.ipAddressAddr): row for row in addresses.itertuples(index=False)}
    interfaces = frame_of(mibs_agent, recipes.IF_TABLE)
    lo = interfaces.loc[interfaces["ifDescr"] == "lo", "ifIndex"].tolist()
    v4, v6 = rows[(1, "127.0.0.1")], rows[(2, "::1")]
    assert lo == [v4.ipAddressIfIndex] == [v6.ipAddressIfIndex]
    assert v4.ipAddressType == 1 and v4.ipAddressStatus == 1  # unicast, preferred
    assert v4.ipAddressPrefix == f".1.3.6.1.2.1.4.32.1.5.{lo[0]}.1.4.127.0.0.0.8"  # ipAddressPrefixTable row
    for (kind, address), row in rows.items():
        assert ipaddress.ip_address(address).version == {1: 4, 2: 6}[kind], row


def test_collect_targets_naming_the_recipes(mibs_agent: Agent, tmp_path: Path) -> None:
    fixed = ["ent_physical", "lldp_rem", "bgp_peer", "dot1d_tp_fdb", "dot1q_tp_fdb"]
    names = [*fixed, "hr_storage", "ip_address"]
    targets = tmp_path / "targets.yaml"
    targets.write_text(f'targets:\n  - host: "{mibs_agent.host}"\n    tables: [{", ".join(names)}]\n')
    result = cli("collect", str(targets), "--no-progress", "-o", "csv", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "1 targets: 1 ok, 0 failed" in result.stderr and "Traceback" not in result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == sorted(f"{n}.csv" for n in names)

    def csv(name: str) -> pd.DataFrame:
        return pd.read_csv(tmp_path / "out" / f"{name}.csv", dtype=str, keep_default_na=False)

    # The fixed tables: the files hold what the library decodes, as text.
    for name in fixed:
        table = recipes.BY_NAME[name]
        expected = frame_of(mibs_agent, table).drop(columns="req_id").astype(str)
        assert csv(name).to_dict("list") == expected.to_dict("list"), name
    neighbours = csv("lldp_rem").set_index("lldpRemSysName")
    assert neighbours.loc["spine2.dc1.example.net", "lldpRemLocalPortNum"] == "50"
    assert bytes.fromhex(neighbours.loc["spine2.dc1.example.net", "lldpRemPortId"]) == b"Ethernet1/49"
    peers = csv("bgp_peer").set_index("bgpPeerRemoteAddr")
    assert peers.loc["192.0.2.1", "bgpPeerInTotalMessages"] == "3987654321"
    assert peers.loc["192.0.2.1", "bgpPeerState"] == "6" and peers.loc["10.0.0.2", "bgpPeerState"] == "1"
    # The machine's own tables: the rows that do not change.
    assert "Physical memory" in csv("hr_storage")["hrStorageDescr"].tolist()
    addresses = csv("ip_address")
    assert {"127.0.0.1", "::1"} <= set(addresses["ipAddressAddr"])
    assert set(addresses["host"]) == {mibs_agent.host}


def test_pass_persist_program_answers_within_its_subtree_only() -> None:
    root = SUBTREES["BGP_PEER"]
    first = f".{root}.1.1.10.0.0.2"  # bgpPeerIdentifier of the first peer
    last = f".{root}.1.24.203.0.113.9"  # bgpPeerInUpdateElapsedTime of the last peer
    session = [
        "PING",
        *("get", f".{root}.1.10.192.0.2.1"),
        *("get", f".{root}.1.10.192.0.2"),  # no such instance
        *("getnext", f".{root}"),
        *("getnext", ".1.3.6.1.2.1"),  # before the subtree: its first OID
        *("getnext", last),  # the end of the subtree: nothing after it here
        *("get", f".{SUBTREES['ENT_PHYSICAL']}.1.2.1"),  # another table's OID
        *("getnext", "1.3.x"),
        *("getnext", f".{root}.1.1.{2**32}"),
        *("set", f".{root}.1.3.10.0.0.2", "integer 2"),
        "bogus",
    ]
    result = subprocess.run(
        [sys.executable, str(PROGRAM), f".{root}"],
        input="\n".join(session) + "\n",  # then EOF: the program ends
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines() == [
        "PONG",
        *(f".{root}.1.10.192.0.2.1", "counter", "3123456789"),
        "NONE",
        *(first, "ipaddress", "0.0.0.0"),
        *(first, "ipaddress", "0.0.0.0"),
        "NONE",
        "NONE",
        "NONE",
        "NONE",
        "not-writable",
        "NONE",
    ]
    usage = subprocess.run([sys.executable, str(PROGRAM)], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 2 and "usage" in usage.stderr
