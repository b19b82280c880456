//! A record's value read by its type ([`RecordValue`]), and shown as net-snmp's tools show it
//! (`Display`: what `snmpwalk -On` prints after `OID = `).

use std::fmt;
use std::net::Ipv4Addr;

use crate::tag;

/// A record's value, read by its type tag as `docs/FORMAT.md` stores it. `Display` gives
/// net-snmp's format (`STRING: "eth0"`, `Counter32: 5`, `Timeticks: (100) 0:00:01.00`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordValue<'a> {
    /// INTEGER / Integer32.
    Integer(i64),
    /// OCTET STRING.
    OctetString(&'a [u8]),
    /// NULL.
    Null,
    /// OBJECT IDENTIFIER.
    ObjectId(Vec<u32>),
    /// IpAddress.
    IpAddress(Ipv4Addr),
    /// Counter32.
    Counter32(u32),
    /// Gauge32 / Unsigned32.
    Gauge32(u32),
    /// TimeTicks, in hundredths of a second.
    TimeTicks(u32),
    /// Opaque.
    Opaque(&'a [u8]),
    /// Counter64.
    Counter64(u64),
    /// UInteger32 (obsolete).
    UInteger32(u32),
    /// noSuchObject.
    NoSuchObject,
    /// noSuchInstance.
    NoSuchInstance,
    /// endOfMibView.
    EndOfMibView,
    /// A type tag this crate has no name for, or bytes whose length does not fit their type
    /// (never written by this crate's encoder): the tag and the bytes as stored.
    Other(u8, &'a [u8]),
}

impl<'a> RecordValue<'a> {
    /// Reads `bytes` as `docs/FORMAT.md` stores a value of type `value_type`.
    pub fn decode(value_type: u8, bytes: &'a [u8]) -> Self {
        let u32_of = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        match (value_type, bytes.len()) {
            (tag::INTEGER, 4) => RecordValue::Integer(i64::from(u32_of(bytes) as i32)),
            (tag::INTEGER, 8) => {
                RecordValue::Integer(i64::from_le_bytes(bytes.try_into().unwrap_or_default()))
            }
            (tag::OCTET_STRING, _) => RecordValue::OctetString(bytes),
            (tag::NULL, 0) => RecordValue::Null,
            (tag::OBJECT_ID, n) if n % 4 == 0 => {
                RecordValue::ObjectId(bytes.chunks_exact(4).map(u32_of).collect())
            }
            (tag::IP_ADDRESS, 4) => {
                RecordValue::IpAddress(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            }
            (tag::COUNTER32, 4) => RecordValue::Counter32(u32_of(bytes)),
            (tag::GAUGE32, 4) => RecordValue::Gauge32(u32_of(bytes)),
            (tag::TIMETICKS, 4) => RecordValue::TimeTicks(u32_of(bytes)),
            (tag::OPAQUE, _) => RecordValue::Opaque(bytes),
            (tag::COUNTER64, 8) => {
                RecordValue::Counter64(u64::from_le_bytes(bytes.try_into().unwrap_or_default()))
            }
            (tag::UINTEGER32, 4) => RecordValue::UInteger32(u32_of(bytes)),
            (tag::NO_SUCH_OBJECT, 0) => RecordValue::NoSuchObject,
            (tag::NO_SUCH_INSTANCE, 0) => RecordValue::NoSuchInstance,
            (tag::END_OF_MIB_VIEW, 0) => RecordValue::EndOfMibView,
            (t, _) => RecordValue::Other(t, bytes),
        }
    }
}

/// Bytes as net-snmp prints a Hex-STRING: `XX ` per byte, upper case, 16 bytes per line.
fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 16 == 0 {
            f.write_str("\n")?;
        }
        write!(f, "{byte:02X} ")?;
    }
    Ok(())
}

/// net-snmp prints an OCTET STRING as text when every byte is printable ASCII or white space
/// (C's `isprint` or `isspace`), else in hex.
fn is_snmp_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
}

impl fmt::Display for RecordValue<'_> {
    /// The value as `snmpwalk -On` prints it (net-snmp 5.9, no MIBs loaded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordValue::Integer(v) => write!(f, "INTEGER: {v}"),
            RecordValue::OctetString([]) => f.write_str("\"\""),
            RecordValue::OctetString(bytes) if is_snmp_text(bytes) => {
                f.write_str("STRING: \"")?;
                for &byte in *bytes {
                    if byte == b'"' || byte == b'\\' {
                        f.write_str("\\")?;
                    }
                    write!(f, "{}", char::from(byte))?;
                }
                f.write_str("\"")
            }
            RecordValue::OctetString(bytes) => {
                f.write_str("Hex-STRING: ")?;
                write_hex(f, bytes)
            }
            RecordValue::Null => f.write_str("NULL"),
            RecordValue::ObjectId(subids) => {
                f.write_str("OID: ")?;
                subids.iter().try_for_each(|s| write!(f, ".{s}"))
            }
            RecordValue::IpAddress(ip) => write!(f, "IpAddress: {ip}"),
            RecordValue::Counter32(v) => write!(f, "Counter32: {v}"),
            RecordValue::Gauge32(v) => write!(f, "Gauge32: {v}"),
            RecordValue::TimeTicks(ticks) => {
                let (centis, seconds) = (ticks % 100, ticks / 100);
                let (days, hours) = (seconds / 86_400, seconds % 86_400 / 3600);
                let (minutes, secs) = (seconds % 3600 / 60, seconds % 60);
                write!(f, "Timeticks: ({ticks}) ")?;
                match days {
                    0 => {}
                    1 => f.write_str("1 day, ")?,
                    _ => write!(f, "{days} days, ")?,
                }
                write!(f, "{hours}:{minutes:02}:{secs:02}.{centis:02}")
            }
            RecordValue::Opaque(bytes) => {
                f.write_str("OPAQUE: ")?;
                write_hex(f, bytes)
            }
            RecordValue::Counter64(v) => write!(f, "Counter64: {v}"),
            RecordValue::UInteger32(v) => write!(f, "UInteger32: {v}"),
            RecordValue::NoSuchObject => f.write_str("No Such Object available on this agent at this OID"),
            RecordValue::NoSuchInstance => f.write_str("No Such Instance currently exists at this OID"),
            RecordValue::EndOfMibView => {
                f.write_str("No more variables left in this MIB View (It is past the end of the MIB tree)")
            }
            RecordValue::Other(t, bytes) => {
                write!(f, "Wrong Type (0x{t:02x}): ")?;
                write_hex(f, bytes)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(t: u8, bytes: &[u8]) -> String {
        RecordValue::decode(t, bytes).to_string()
    }

    // Each expected text is what snmpget -On printed for the same value from a real snmpd
    // (`pass` script values; the Python tests compare whole walks with snmpbulkwalk).
    #[test]
    fn values_print_as_net_snmp_prints_them() {
        let hex20: Vec<u8> = (0..20).collect();
        assert_eq!(
            shown(tag::OCTET_STRING, &hex20),
            "Hex-STRING: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F \n10 11 12 13 "
        );
        assert_eq!(
            shown(tag::OCTET_STRING, &hex20[..16]),
            "Hex-STRING: 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F "
        );
        assert_eq!(
            shown(tag::OCTET_STRING, b"tab\there \"q\" back\\slash"),
            r#"STRING: "tab	here \"q\" back\\slash""#
        );
        assert_eq!(shown(tag::OCTET_STRING, "\u{e9}t\u{e9}".as_bytes()), "Hex-STRING: C3 A9 74 C3 A9 ");
        assert_eq!(shown(tag::OCTET_STRING, b"AB\0"), "Hex-STRING: 41 42 00 ");
        assert_eq!(shown(tag::OCTET_STRING, b""), "\"\"");
        assert_eq!(
            shown(tag::TIMETICKS, &8_640_123u32.to_le_bytes()),
            "Timeticks: (8640123) 1 day, 0:00:01.23"
        );
        assert_eq!(
            shown(tag::TIMETICKS, &17_280_000u32.to_le_bytes()),
            "Timeticks: (17280000) 2 days, 0:00:00.00"
        );
        assert_eq!(shown(tag::TIMETICKS, &100u32.to_le_bytes()), "Timeticks: (100) 0:00:01.00");
        assert_eq!(shown(tag::INTEGER, &(-5i32).to_le_bytes()), "INTEGER: -5");
        assert_eq!(shown(tag::COUNTER64, &u64::MAX.to_le_bytes()), "Counter64: 18446744073709551615");
        assert_eq!(shown(tag::IP_ADDRESS, &[192, 0, 2, 1]), "IpAddress: 192.0.2.1");
        let oid: Vec<u8> = [1u32, 3, 6, 1].iter().flat_map(|s| s.to_le_bytes()).collect();
        assert_eq!(shown(tag::OBJECT_ID, &oid), "OID: .1.3.6.1");
        assert_eq!(shown(tag::NO_SUCH_OBJECT, &[]), "No Such Object available on this agent at this OID");
        assert_eq!(shown(tag::GAUGE32, &7u32.to_le_bytes()), "Gauge32: 7");
        assert_eq!(shown(tag::COUNTER32, &[1, 2]), "Wrong Type (0x41): 01 02 ");
    }
}
