"""Recipes against big real tables: snmpd inside a network namespace these tests create, with
hundreds of veth and bridge interfaces, IPv4/IPv6 neighbours and IPv4/IPv6 routes (the
kernel's own tables, served by snmpd). Needs root and iproute2; skipped otherwise."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

import snmp_stream
from snmp_stream import recipes
from snmp_stream.snmpd import NetnsAgent, netns_agent
from test_parse import actual_rows, expected_rows

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2 for network namespaces"
)

NEIGHBOURS = 120
ROUTES = 400


def extra_batch() -> str:
    """A bridge with ports, IPv4 and IPv6 neighbours, IPv6 routes (run inside the namespace)."""
    lines = [
        "link add br0 type bridge",
        "link set br0 up",
        *(f"link set b{i} master br0" for i in range(1, 6)),
        "addr add 2001:db8::1/64 dev a0 nodad",
    ]
    for n in range(NEIGHBOURS):
        mac = f"02:00:00:00:{n // 256:02x}:{n % 256:02x}"
        lines.append(f"neigh add 198.19.254.{n + 1} lladdr {mac} dev a1 nud permanent")
        lines.append(f"neigh add 2001:db8:1::{n + 1:x} lladdr {mac} dev a1 nud permanent")
    lines.append("addr add 198.19.254.254/24 dev a1")
    lines.append("addr add 2001:db8:1::ffff/64 dev a1 nodad")
    for r in range(100):
        lines.append(f"route add 2001:db8:100::{r:x}/128 via 2001:db8::3 dev a0")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def big_agent() -> Iterator[NetnsAgent]:
    with netns_agent(
        "sstest", interfaces=300, routes=ROUTES, ipv6=True, extra_batch=extra_batch(), ready_timeout=120
    ) as agent:
        # snmpd loads its tables on the first request; warm it up before comparing.
        snmp_stream.walk(agent.host, "public", recipes.INTERFACES.oids, config={"timeout": 10})
        yield agent


@pytest.mark.parametrize(
    "name", ["INTERFACES", "IP_NET_TO_MEDIA", "IP_NET_TO_PHYSICAL", "IP_CIDR_ROUTE", "INET_CIDR_ROUTE"]
)
def test_recipes_on_big_kernel_tables(big_agent: NetnsAgent, name: str) -> None:
    table = getattr(recipes, name)
    response = snmp_stream.walk(big_agent.host, "public", table.oids, config={"timeout": 5, "retries": 1})
    assert response.status == "successful", response.errors
    frame = table.to_pandas(response)
    volatile = {c.name for c in table.columns if c.value.kind in ("unsigned", "counter64", "timeticks")}
    expected = expected_rows(table, big_agent.host)
    actual = actual_rows(table, frame)
    assert actual.keys() == expected.keys()
    for key, values in expected.items():
        for column, value in values.items():
            if column not in volatile:
                assert actual[key][column] == value, (key, column)
    minimum: dict[str, Any] = {
        "INTERFACES": 300,
        "IP_NET_TO_MEDIA": NEIGHBOURS,
        "IP_NET_TO_PHYSICAL": 2 * NEIGHBOURS,
        "IP_CIDR_ROUTE": ROUTES,
        "INET_CIDR_ROUTE": ROUTES + 100,
    }
    assert len(frame) >= minimum[name], len(frame)


def test_big_table_has_ipv6_neighbours_and_routes(big_agent: NetnsAgent) -> None:
    neighbours = recipes.IP_NET_TO_PHYSICAL.to_pandas(
        snmp_stream.walk(big_agent.host, "public", recipes.IP_NET_TO_PHYSICAL.oids)
    )
    v6 = neighbours[neighbours["ipNetToPhysicalNetAddressType"] == 2]
    assert "2001:db8:1::1" in set(v6["ipNetToPhysicalNetAddress"])
    assert "02:00:00:00:00:00" in set(v6["ipNetToPhysicalPhysAddress"])
    routes = recipes.INET_CIDR_ROUTE.to_pandas(
        snmp_stream.walk(big_agent.host, "public", recipes.INET_CIDR_ROUTE.oids)
    )
    assert "2001:db8:100::63" in set(routes["inetCidrRouteDest"])
    # net-snmp's policy is .0.0, with the interface's ifIndex appended for some routes.
    assert all(policy.startswith(".0.0") for policy in routes["inetCidrRoutePolicy"])
