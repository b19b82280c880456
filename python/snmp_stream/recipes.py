"""Table specs for common MIB-2 tables, ready to use:

```python
from snmp_stream import recipes, walk_many
responses = walk_many(hosts, "public", recipes.INTERFACES.oids)
frame = recipes.INTERFACES.to_pandas(responses)
```
Each is a `snmp_stream.parse.Table`; `.oids` lists the columns to walk (or GET, for SYSTEM).
"""

from __future__ import annotations

from snmp_stream.parse import (
    COUNTER32,
    COUNTER64,
    GAUGE32,
    INTEGER,
    MAC,
    OID,
    TIMETICKS,
    UNSIGNED,
    UTF8,
    Table,
    column,
    inet_address,
    inet_address_type,
    integer,
    ip_address,
    oid,
)

__all__ = [
    "BY_NAME",
    "IF_TABLE",
    "IF_X_TABLE",
    "INET_CIDR_ROUTE",
    "INTERFACES",
    "IP_CIDR_ROUTE",
    "IP_NET_TO_MEDIA",
    "IP_NET_TO_PHYSICAL",
    "SYSTEM",
]

_IF = "1.3.6.1.2.1.2.2.1."
_IFX = "1.3.6.1.2.1.31.1.1.1."

_IF_COLUMNS = [
    column("ifDescr", _IF + "2", UTF8),
    column("ifType", _IF + "3", INTEGER),
    column("ifMtu", _IF + "4", INTEGER),
    column("ifSpeed", _IF + "5", GAUGE32),
    column("ifPhysAddress", _IF + "6", MAC),
    column("ifAdminStatus", _IF + "7", INTEGER),
    column("ifOperStatus", _IF + "8", INTEGER),
    column("ifLastChange", _IF + "9", TIMETICKS),
    column("ifInOctets", _IF + "10", COUNTER32),
    column("ifInUcastPkts", _IF + "11", COUNTER32),
    column("ifInDiscards", _IF + "13", COUNTER32),
    column("ifInErrors", _IF + "14", COUNTER32),
    column("ifOutOctets", _IF + "16", COUNTER32),
    column("ifOutUcastPkts", _IF + "17", COUNTER32),
    column("ifOutDiscards", _IF + "19", COUNTER32),
    column("ifOutErrors", _IF + "20", COUNTER32),
]
_IFX_COLUMNS = [
    column("ifName", _IFX + "1", UTF8),
    column("ifInMulticastPkts", _IFX + "2", COUNTER32),
    column("ifInBroadcastPkts", _IFX + "3", COUNTER32),
    column("ifOutMulticastPkts", _IFX + "4", COUNTER32),
    column("ifOutBroadcastPkts", _IFX + "5", COUNTER32),
    column("ifHCInOctets", _IFX + "6", COUNTER64),
    column("ifHCInUcastPkts", _IFX + "7", COUNTER64),
    column("ifHCOutOctets", _IFX + "10", COUNTER64),
    column("ifHCOutUcastPkts", _IFX + "11", COUNTER64),
    column("ifHighSpeed", _IFX + "15", GAUGE32),
    column("ifAlias", _IFX + "18", UTF8),
]

IF_TABLE = Table([integer("ifIndex")], _IF_COLUMNS)
"""IF-MIB ifTable (RFC 2863), indexed by ifIndex."""
IF_X_TABLE = Table([integer("ifIndex")], _IFX_COLUMNS)
"""IF-MIB ifXTable: names, aliases, 64-bit counters."""
INTERFACES = Table([integer("ifIndex")], _IF_COLUMNS + _IFX_COLUMNS)
"""ifTable and ifXTable joined on ifIndex."""

_NTM = "1.3.6.1.2.1.4.22.1."
IP_NET_TO_MEDIA = Table(
    [integer("ipNetToMediaIfIndex"), ip_address("ipNetToMediaNetAddress")],
    [column("ipNetToMediaPhysAddress", _NTM + "2", MAC), column("ipNetToMediaType", _NTM + "4", INTEGER)],
)
"""IP-MIB ipNetToMediaTable (IPv4 ARP cache)."""

_NTP = "1.3.6.1.2.1.4.35.1."
IP_NET_TO_PHYSICAL = Table(
    [
        integer("ipNetToPhysicalIfIndex"),
        inet_address_type("ipNetToPhysicalNetAddressType"),
        inet_address("ipNetToPhysicalNetAddress"),
    ],
    [
        column("ipNetToPhysicalPhysAddress", _NTP + "4", MAC),
        column("ipNetToPhysicalLastUpdated", _NTP + "5", TIMETICKS),
        column("ipNetToPhysicalType", _NTP + "6", INTEGER),
        column("ipNetToPhysicalState", _NTP + "7", INTEGER),
    ],
)
"""IP-MIB ipNetToPhysicalTable (ARP and IPv6 neighbours)."""

_CIDR = "1.3.6.1.2.1.4.24.4.1."
IP_CIDR_ROUTE = Table(
    [
        ip_address("ipCidrRouteDest"),
        ip_address("ipCidrRouteMask"),
        integer("ipCidrRouteTos"),
        ip_address("ipCidrRouteNextHop"),
    ],
    [
        column("ipCidrRouteIfIndex", _CIDR + "5", INTEGER),
        column("ipCidrRouteType", _CIDR + "6", INTEGER),
        column("ipCidrRouteProto", _CIDR + "7", INTEGER),
        column("ipCidrRouteAge", _CIDR + "8", INTEGER),
        column("ipCidrRouteInfo", _CIDR + "9", OID),
        column("ipCidrRouteNextHopAS", _CIDR + "10", INTEGER),
        column("ipCidrRouteMetric1", _CIDR + "11", INTEGER),
        column("ipCidrRouteStatus", _CIDR + "16", INTEGER),
    ],
)
"""IP-FORWARD-MIB ipCidrRouteTable (IPv4 routes, deprecated but widely served)."""

_INET = "1.3.6.1.2.1.4.24.7.1."
INET_CIDR_ROUTE = Table(
    [
        inet_address_type("inetCidrRouteDestType"),
        inet_address("inetCidrRouteDest"),
        integer("inetCidrRoutePfxLen"),
        oid("inetCidrRoutePolicy"),
        inet_address_type("inetCidrRouteNextHopType"),
        inet_address("inetCidrRouteNextHop"),
    ],
    [
        column("inetCidrRouteIfIndex", _INET + "7", INTEGER),
        column("inetCidrRouteType", _INET + "8", INTEGER),
        column("inetCidrRouteProto", _INET + "9", INTEGER),
        column("inetCidrRouteAge", _INET + "10", GAUGE32),
        column("inetCidrRouteNextHopAS", _INET + "11", UNSIGNED),
        column("inetCidrRouteMetric1", _INET + "12", INTEGER),
        column("inetCidrRouteStatus", _INET + "17", INTEGER),
    ],
)
"""IP-FORWARD-MIB inetCidrRouteTable (IPv4 and IPv6 routes)."""

_SYS = "1.3.6.1.2.1.1."
SYSTEM = Table(
    [],
    [
        column("sysDescr", _SYS + "1.0", UTF8),
        column("sysObjectID", _SYS + "2.0", OID),
        column("sysUpTime", _SYS + "3.0", TIMETICKS),
        column("sysContact", _SYS + "4.0", UTF8),
        column("sysName", _SYS + "5.0", UTF8),
        column("sysLocation", _SYS + "6.0", UTF8),
        column("sysServices", _SYS + "7.0", INTEGER),
    ],
)
"""SNMPv2-MIB system group: GET `SYSTEM.oids`; one row per agent."""


BY_NAME: dict[str, Table] = {name.lower(): globals()[name] for name in __all__ if name != "BY_NAME"}
"""The recipes by lowercase name (`"interfaces"`, `"if_table"`, ...), as targets files and
request messages name them."""
