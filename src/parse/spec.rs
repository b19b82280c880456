//! The table spec's types, and what decoding gives back.

use crate::oid::Oid;

/// How a value (or an index field's octets) is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    /// INTEGER / Integer32 → i64.
    Integer,
    /// Counter32, Gauge32/Unsigned32, TimeTicks → u64.
    Unsigned,
    /// Counter64 → u64.
    Counter64,
    /// TimeTicks only → u64 hundredths of a second.
    TimeTicks,
    /// OCTET STRING (or Opaque) → the octets.
    Octets,
    /// OCTET STRING → text (UTF-8; invalid sequences become U+FFFD).
    Utf8,
    /// OCTET STRING → lowercase hex, no separators.
    Hex,
    /// OCTET STRING of 6 octets → `00:1a:2b:3c:4d:5e` (other lengths: colon-separated hex).
    Mac,
    /// IpAddress → dotted quad.
    IpAddress,
    /// InetAddress (OCTET STRING) → text by length: 4 IPv4, 16 IPv6, 8 IPv4z, 20 IPv6z
    /// (`addr%zone`), 0 empty, other lengths hex.
    InetAddress,
    /// OBJECT IDENTIFIER → `.1.3.6...`.
    ObjectId,
}

/// How many sub-ids an index field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Length {
    /// Exactly this many sub-ids (e.g. 4 for IpAddress, 6 for a MAC).
    Fixed(usize),
    /// A length sub-id, then that many sub-ids.
    Prefixed,
    /// All remaining sub-ids (IMPLIED; only for the last field).
    Implied,
}

/// One field of a table's INDEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexField {
    /// One sub-id, as an unsigned integer (also enumerations such as InetAddressType).
    Integer,
    /// A string of octets, one per sub-id (each must be ≤ 255), rendered as `kind`.
    Octets(Length, ValueKind),
    /// An OBJECT IDENTIFIER, rendered `.1.3...`.
    ObjectId(Length),
}

/// A table: index fields (name, field) and value columns (name, root OID, kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// The index fields, in INDEX order.
    pub index: Vec<(String, IndexField)>,
    /// The columns: name, root OID (the column's OID, without index), how to render values.
    pub columns: Vec<(String, Oid, ValueKind)>,
}

/// A decoded column. Null rows have `valid[row] == false` (and a zero / empty value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnData {
    /// Signed integers.
    Int {
        /// One per row (0 where null).
        values: Vec<i64>,
        /// False where the row has no value.
        valid: Vec<bool>,
    },
    /// Unsigned integers.
    UInt {
        /// One per row (0 where null).
        values: Vec<u64>,
        /// False where the row has no value.
        valid: Vec<bool>,
    },
    /// UTF-8 text.
    Text {
        /// Row `i` is `data[offsets[i]..offsets[i + 1]]` (rows + 1 entries).
        offsets: Vec<usize>,
        /// All rows' text, concatenated.
        data: Vec<u8>,
        /// False where the row has no value.
        valid: Vec<bool>,
    },
    /// Raw octets.
    Bytes {
        /// Row `i` is `data[offsets[i]..offsets[i + 1]]` (rows + 1 entries).
        offsets: Vec<usize>,
        /// All rows' octets, concatenated.
        data: Vec<u8>,
        /// False where the row has no value.
        valid: Vec<bool>,
    },
}

impl ColumnData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Int { valid, .. }
            | ColumnData::UInt { valid, .. }
            | ColumnData::Text { valid, .. }
            | ColumnData::Bytes { valid, .. } => valid.len(),
        }
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The decoded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedTable {
    /// For each row, which of the input buffers it came from.
    pub buffer: Vec<u32>,
    /// The index fields, then the columns, in spec order.
    pub columns: Vec<(String, ColumnData)>,
}
