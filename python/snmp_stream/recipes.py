"""Table specs for common tables, ready to use:

```python
from snmp_stream import recipes, walk_many
responses = walk_many(hosts, "public", recipes.INTERFACES.oids)
frame = recipes.INTERFACES.to_pandas(responses)
```
Each is a `snmp_stream.parse.Table`; `.oids` lists the columns to walk (or GET, for SYSTEM).

- Interfaces: `IF_TABLE`, `IF_X_TABLE`, `INTERFACES` (both joined on ifIndex).
- IP: `IP_ADDRESS` (addresses), `IP_NET_TO_MEDIA`, `IP_NET_TO_PHYSICAL` (ARP and neighbours),
  `IP_CIDR_ROUTE`, `INET_CIDR_ROUTE` (routes).
- Host: `SYSTEM` (a GET, one row per agent), `HR_STORAGE` (memory and file systems),
  `HR_PROCESSOR` (CPU load).
- Hardware: `ENT_PHYSICAL` (chassis, modules, power supplies, fans, ports).
- Layer 2: `LLDP_REM` (LLDP neighbours), `DOT1D_TP_FDB`, `DOT1Q_TP_FDB` (MAC address tables,
  per VLAN for the latter).
- Routing protocols: `BGP_PEER` (BGP sessions).

`IP_ADDRESS` here is the ipAddressTable recipe, not `snmp_stream.parse.IP_ADDRESS` (the value type).
"""

from __future__ import annotations

from snmp_stream.parse import (
    COUNTER32,
    COUNTER64,
    GAUGE32,
    HEX,
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
    mac,
    oid,
)
from snmp_stream.parse import IP_ADDRESS as _IPV4  # the value type: IP_ADDRESS here is a recipe

__all__ = [
    "BGP_PEER",
    "BY_NAME",
    "DOT1D_TP_FDB",
    "DOT1Q_TP_FDB",
    "ENT_PHYSICAL",
    "HR_PROCESSOR",
    "HR_STORAGE",
    "IF_TABLE",
    "IF_X_TABLE",
    "INET_CIDR_ROUTE",
    "INTERFACES",
    "IP_ADDRESS",
    "IP_CIDR_ROUTE",
    "IP_NET_TO_MEDIA",
    "IP_NET_TO_PHYSICAL",
    "LLDP_REM",
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

_IPA = "1.3.6.1.2.1.4.34.1."
IP_ADDRESS = Table(
    [inet_address_type("ipAddressAddrType"), inet_address("ipAddressAddr")],
    [
        column("ipAddressIfIndex", _IPA + "3", INTEGER),
        column("ipAddressType", _IPA + "4", INTEGER),
        column("ipAddressPrefix", _IPA + "5", OID),
        column("ipAddressOrigin", _IPA + "6", INTEGER),
        column("ipAddressStatus", _IPA + "7", INTEGER),
        column("ipAddressCreated", _IPA + "8", TIMETICKS),
        column("ipAddressLastChanged", _IPA + "9", TIMETICKS),
        column("ipAddressRowStatus", _IPA + "10", INTEGER),
        column("ipAddressStorageType", _IPA + "11", INTEGER),
    ],
)
"""IP-MIB ipAddressTable (RFC 4293): the agent's IPv4 and IPv6 addresses, their interface and
prefix (an OID into ipAddressPrefixTable)."""

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

_HRS = "1.3.6.1.2.1.25.2.3.1."
HR_STORAGE = Table(
    [integer("hrStorageIndex")],
    [
        column("hrStorageType", _HRS + "2", OID),
        column("hrStorageDescr", _HRS + "3", UTF8),
        column("hrStorageAllocationUnits", _HRS + "4", INTEGER),
        column("hrStorageSize", _HRS + "5", INTEGER),
        column("hrStorageUsed", _HRS + "6", INTEGER),
        column("hrStorageAllocationFailures", _HRS + "7", COUNTER32),
    ],
)
"""HOST-RESOURCES-MIB hrStorageTable (RFC 2790): memory and file systems; sizes are in
hrStorageAllocationUnits (bytes each)."""

_HRP = "1.3.6.1.2.1.25.3.3.1."
HR_PROCESSOR = Table(
    [integer("hrDeviceIndex")],
    [column("hrProcessorFrwID", _HRP + "1", OID), column("hrProcessorLoad", _HRP + "2", INTEGER)],
)
"""HOST-RESOURCES-MIB hrProcessorTable: each CPU's load, in percent over the last minute."""

_ENT = "1.3.6.1.2.1.47.1.1.1.1."
ENT_PHYSICAL = Table(
    [integer("entPhysicalIndex")],
    [
        column("entPhysicalDescr", _ENT + "2", UTF8),
        column("entPhysicalVendorType", _ENT + "3", OID),
        column("entPhysicalContainedIn", _ENT + "4", INTEGER),
        column("entPhysicalClass", _ENT + "5", INTEGER),
        column("entPhysicalParentRelPos", _ENT + "6", INTEGER),
        column("entPhysicalName", _ENT + "7", UTF8),
        column("entPhysicalHardwareRev", _ENT + "8", UTF8),
        column("entPhysicalFirmwareRev", _ENT + "9", UTF8),
        column("entPhysicalSoftwareRev", _ENT + "10", UTF8),
        column("entPhysicalSerialNum", _ENT + "11", UTF8),
        column("entPhysicalMfgName", _ENT + "12", UTF8),
        column("entPhysicalModelName", _ENT + "13", UTF8),
        column("entPhysicalAlias", _ENT + "14", UTF8),
        column("entPhysicalAssetID", _ENT + "15", UTF8),
        column("entPhysicalIsFRU", _ENT + "16", INTEGER),
    ],
)
"""ENTITY-MIB entPhysicalTable (RFC 6933): the hardware inventory. entPhysicalContainedIn is
the index of the containing entity (0: none), entPhysicalClass the PhysicalClass (3 chassis,
5 container, 6 powerSupply, 7 fan, 8 sensor, 9 module, 10 port, ...), entPhysicalIsFRU 1 true,
2 false."""

_LLDP = "1.0.8802.1.1.2.1.4.1.1."
LLDP_REM = Table(
    [integer("lldpRemTimeMark"), integer("lldpRemLocalPortNum"), integer("lldpRemIndex")],
    [
        column("lldpRemChassisIdSubtype", _LLDP + "4", INTEGER),
        column("lldpRemChassisId", _LLDP + "5", HEX),
        column("lldpRemPortIdSubtype", _LLDP + "6", INTEGER),
        column("lldpRemPortId", _LLDP + "7", HEX),
        column("lldpRemPortDesc", _LLDP + "8", UTF8),
        column("lldpRemSysName", _LLDP + "9", UTF8),
        column("lldpRemSysDesc", _LLDP + "10", UTF8),
        column("lldpRemSysCapSupported", _LLDP + "11", HEX),
        column("lldpRemSysCapEnabled", _LLDP + "12", HEX),
    ],
)
"""LLDP-MIB lldpRemTable (IEEE 802.1AB-2005): the LLDP neighbours, by (time mark, local port
number, index). The chassis and port ids are hex, as their subtype says how to read them: a MAC
(chassis subtype 4, port subtype 3: `bytes.fromhex(x).hex(":")`), a network address (an IANA
address family octet first), or text such as an interface name (`bytes.fromhex(x).decode()`);
hex keeps every kind exact. The capabilities are BITS in hex (`"28"`: bridge and router)."""

_DOT1D = "1.3.6.1.2.1.17.4.3.1."
DOT1D_TP_FDB = Table(
    [mac("dot1dTpFdbAddress")],
    [column("dot1dTpFdbPort", _DOT1D + "2", INTEGER), column("dot1dTpFdbStatus", _DOT1D + "3", INTEGER)],
)
"""BRIDGE-MIB dot1dTpFdbTable (RFC 4188): the MAC address table, a bridge port per address
(0: unknown or the bridge itself); status 3 learned, 4 self, 5 mgmt."""

_DOT1Q = "1.3.6.1.2.1.17.7.1.2.2.1."
DOT1Q_TP_FDB = Table(
    [integer("dot1qFdbId"), mac("dot1qTpFdbAddress")],
    [column("dot1qTpFdbPort", _DOT1Q + "2", INTEGER), column("dot1qTpFdbStatus", _DOT1Q + "3", INTEGER)],
)
"""Q-BRIDGE-MIB dot1qTpFdbTable (RFC 4363): the MAC address table per filtering database
(usually the VLAN id)."""

_BGP = "1.3.6.1.2.1.15.3.1."
BGP_PEER = Table(
    [ip_address("bgpPeerRemoteAddr")],
    [
        column("bgpPeerIdentifier", _BGP + "1", _IPV4),
        column("bgpPeerState", _BGP + "2", INTEGER),
        column("bgpPeerAdminStatus", _BGP + "3", INTEGER),
        column("bgpPeerNegotiatedVersion", _BGP + "4", INTEGER),
        column("bgpPeerLocalAddr", _BGP + "5", _IPV4),
        column("bgpPeerLocalPort", _BGP + "6", INTEGER),
        column("bgpPeerRemotePort", _BGP + "8", INTEGER),
        column("bgpPeerRemoteAs", _BGP + "9", INTEGER),
        column("bgpPeerInUpdates", _BGP + "10", COUNTER32),
        column("bgpPeerOutUpdates", _BGP + "11", COUNTER32),
        column("bgpPeerInTotalMessages", _BGP + "12", COUNTER32),
        column("bgpPeerOutTotalMessages", _BGP + "13", COUNTER32),
        column("bgpPeerFsmEstablishedTransitions", _BGP + "15", COUNTER32),
        column("bgpPeerFsmEstablishedTime", _BGP + "16", GAUGE32),
        column("bgpPeerInUpdateElapsedTime", _BGP + "24", GAUGE32),
    ],
)
"""BGP4-MIB bgpPeerTable (RFC 4273): IPv4 BGP sessions. bgpPeerState 1 idle ... 6 established,
bgpPeerAdminStatus 1 stop, 2 start; times in seconds. bgpPeerRemoteAs is 16-bit: a 4-byte AS
shows as 23456 (AS_TRANS)."""


BY_NAME: dict[str, Table] = {name.lower(): globals()[name] for name in __all__ if name != "BY_NAME"}
"""The recipes by lowercase name (`"interfaces"`, `"if_table"`, ...), as targets files and
request messages name them."""
