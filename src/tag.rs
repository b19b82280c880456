//! The SNMP type tags (ASN.1 / SMI, RFC 2578 and RFC 3416): the one table of them, used by the
//! BER decoder, the result buffer's `type` byte, the parser and the COPY writer.

/// INTEGER / Integer32: i32 LE (i64 LE when it does not fit).
pub const INTEGER: u8 = 0x02;
/// OCTET STRING: raw bytes.
pub const OCTET_STRING: u8 = 0x04;
/// NULL: no bytes.
pub const NULL: u8 = 0x05;
/// OBJECT IDENTIFIER: u32 LE per sub-id.
pub const OBJECT_ID: u8 = 0x06;
/// IpAddress: 4 bytes, network order.
pub const IP_ADDRESS: u8 = 0x40;
/// Counter32: u32 LE.
pub const COUNTER32: u8 = 0x41;
/// Gauge32 / Unsigned32: u32 LE.
pub const GAUGE32: u8 = 0x42;
/// TimeTicks (hundredths of a second): u32 LE.
pub const TIMETICKS: u8 = 0x43;
/// Opaque: raw bytes.
pub const OPAQUE: u8 = 0x44;
/// Counter64: u64 LE.
pub const COUNTER64: u8 = 0x46;
/// UInteger32 (obsolete, RFC 1442): u32 LE.
pub const UINTEGER32: u8 = 0x47;
/// noSuchObject (GET only): no bytes.
pub const NO_SUCH_OBJECT: u8 = 0x80;
/// noSuchInstance (GET only; also v1 noSuchName): no bytes.
pub const NO_SUCH_INSTANCE: u8 = 0x81;
/// endOfMibView: no bytes (never stored by walks, which end there).
pub const END_OF_MIB_VIEW: u8 = 0x82;

/// The name net-snmp prints for a record's type tag (`snmpwalk` output: `STRING`, `Counter64`,
/// `noSuchInstance`, ...); `"unknown"` for tags it has no name for.
pub fn type_name(value_type: u8) -> &'static str {
    match value_type {
        INTEGER => "INTEGER",
        OCTET_STRING => "STRING",
        NULL => "NULL",
        OBJECT_ID => "OID",
        IP_ADDRESS => "IpAddress",
        COUNTER32 => "Counter32",
        GAUGE32 => "Gauge32",
        TIMETICKS => "Timeticks",
        OPAQUE => "Opaque",
        COUNTER64 => "Counter64",
        UINTEGER32 => "UInteger32",
        NO_SUCH_OBJECT => "noSuchObject",
        NO_SUCH_INSTANCE => "noSuchInstance",
        END_OF_MIB_VIEW => "endOfMibView",
        _ => "unknown",
    }
}
