//! Rendering: columns built from the cells of each row, values rendered by kind.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rows::le_u32;
use super::spec::{ColumnData, IndexField, ValueKind};
use crate::tag;

/// A value found for a (row, column): its type tag and bytes, borrowed from a buffer.
pub(super) type Cell<'a> = Option<(u8, &'a [u8])>;

/// Accumulates one column while records arrive in any row order: numbers are decoded at
/// once into their output vectors; text and bytes are rendered at once too when their row
/// comes after the column's last one (as in walks), and kept for the end otherwise.
pub(super) enum Builder<'a> {
    Int { values: Vec<i64>, valid: Vec<bool> },
    UInt { kind: ValueKind, values: Vec<u64>, valid: Vec<bool> },
    Text(TextBuilder<'a>),
}

/// Sets `vec[row]`, growing `vec` (with `fill`) when needed; rows usually come in order, so
/// this is mostly a push into reserved space.
#[inline(always)]
pub(super) fn put<T: Clone>(vec: &mut Vec<T>, row: usize, value: T, fill: T) {
    if let Some(slot) = vec.get_mut(row) {
        *slot = value;
    } else {
        if row > vec.len() {
            vec.resize(row, fill);
        }
        vec.push(value);
    }
}

impl<'a> Builder<'a> {
    pub(super) fn new(kind: ValueKind, expected: usize) -> Self {
        match kind {
            ValueKind::Integer => {
                Builder::Int { values: Vec::with_capacity(expected), valid: Vec::with_capacity(expected) }
            }
            ValueKind::Unsigned | ValueKind::TimeTicks | ValueKind::Counter64 => Builder::UInt {
                kind,
                values: Vec::with_capacity(expected),
                valid: Vec::with_capacity(expected),
            },
            _ => Builder::Text(TextBuilder::new(kind, expected)),
        }
    }

    #[inline(always)]
    pub(super) fn set(&mut self, row: usize, value_type: u8, value: &'a [u8]) {
        match self {
            Builder::Int { values, valid } => {
                if let Some(v) = integer(value_type, value) {
                    put(values, row, v, 0);
                    put(valid, row, true, false);
                }
            }
            Builder::UInt { kind, values, valid } => {
                if let Some(v) = unsigned(*kind, value_type, value) {
                    put(values, row, v, 0);
                    put(valid, row, true, false);
                }
            }
            Builder::Text(text) => text.set(row, value_type, value),
        }
    }

    /// The column for `rows` rows, in `order` when the rows were not already sorted.
    pub(super) fn finish(self, rows: usize, order: Option<&[usize]>) -> ColumnData {
        fn arrange<T: Copy + Default>(mut values: Vec<T>, rows: usize, order: Option<&[usize]>) -> Vec<T> {
            values.resize(rows, T::default());
            match order {
                Some(order) => order.iter().map(|&r| values[r]).collect(),
                None => values,
            }
        }
        match self {
            Builder::Int { values, valid } => {
                ColumnData::Int { values: arrange(values, rows, order), valid: arrange(valid, rows, order) }
            }
            Builder::UInt { values, valid, .. } => {
                ColumnData::UInt { values: arrange(values, rows, order), valid: arrange(valid, rows, order) }
            }
            Builder::Text(text) => text.finish(rows, order),
        }
    }
}

/// A text or bytes column rendered as its rows arrive. Values for rows already behind the
/// column's last one (out-of-order buffers, repeated indexes) are kept in `late` and replace
/// those rows at the end: the last value set for a row wins (and makes it null when of the
/// wrong type).
pub(super) struct TextBuilder<'a> {
    kind: ValueKind,
    /// Row `i` is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    data: Vec<u8>,
    valid: Vec<bool>,
    late: Vec<(usize, u8, &'a [u8])>,
}

impl<'a> TextBuilder<'a> {
    pub(super) fn new(kind: ValueKind, expected: usize) -> Self {
        let mut offsets = Vec::with_capacity(expected + 1);
        offsets.push(0);
        TextBuilder { kind, offsets, data: Vec::new(), valid: Vec::with_capacity(expected), late: Vec::new() }
    }

    /// Appends null rows up to `rows`.
    #[cold]
    pub(super) fn pad(&mut self, rows: usize) {
        if rows > self.valid.len() {
            self.valid.resize(rows, false);
            self.offsets.resize(rows + 1, self.data.len());
        }
    }

    #[inline(always)]
    pub(super) fn set(&mut self, row: usize, value_type: u8, value: &'a [u8]) {
        if row < self.valid.len() {
            self.late.push((row, value_type, value));
            return;
        }
        if row > self.valid.len() {
            self.pad(row);
        }
        let ok = render_cell(self.kind, value_type, value, &mut self.data);
        self.offsets.push(self.data.len());
        self.valid.push(ok);
    }

    /// The column for `rows` rows, in `order` when the rows were not already sorted.
    pub(super) fn finish(mut self, rows: usize, order: Option<&[usize]>) -> ColumnData {
        self.pad(rows);
        let TextBuilder { kind, offsets, data, valid, late } = self;
        if late.is_empty() && order.is_none() {
            return text_column(kind, offsets, data, valid);
        }
        // Which entry of `late` (the last one) replaces each row.
        let mut replaced = vec![usize::MAX; rows];
        for (at, &(row, _, _)) in late.iter().enumerate() {
            replaced[row] = at;
        }
        let mut out = TextBuilder::new(kind, rows);
        out.data.reserve(data.len());
        for i in 0..rows {
            let row = order.map_or(i, |order| order[i]);
            if let Some(&(_, value_type, value)) = late.get(replaced[row]) {
                out.set(i, value_type, value);
            } else {
                out.data.extend_from_slice(&data[offsets[row]..offsets[row + 1]]);
                out.offsets.push(out.data.len());
                out.valid.push(valid[row]);
            }
        }
        text_column(kind, out.offsets, out.data, out.valid)
    }
}

pub(super) fn text_column(
    kind: ValueKind,
    offsets: Vec<usize>,
    data: Vec<u8>,
    valid: Vec<bool>,
) -> ColumnData {
    match kind {
        ValueKind::Octets => ColumnData::Bytes { offsets, data, valid },
        _ => ColumnData::Text { offsets, data, valid },
    }
}

/// Accumulates one index field in output row order.
pub(super) enum IndexBuilder<'a> {
    Int { values: Vec<u64>, valid: Vec<bool> },
    Parts(Vec<Option<&'a [u8]>>),
}

impl<'a> IndexBuilder<'a> {
    pub(super) fn new(field: IndexField, rows: usize) -> Self {
        match field {
            IndexField::Integer => {
                IndexBuilder::Int { values: Vec::with_capacity(rows), valid: Vec::with_capacity(rows) }
            }
            _ => IndexBuilder::Parts(Vec::with_capacity(rows)),
        }
    }

    #[inline]
    pub(super) fn push(&mut self, part: Option<&'a [u8]>) {
        match self {
            IndexBuilder::Int { values, valid } => {
                values.push(part.map_or(0, |p| u64::from(le_u32(p))));
                valid.push(part.is_some());
            }
            IndexBuilder::Parts(parts) => parts.push(part),
        }
    }

    pub(super) fn finish(self, field: IndexField) -> ColumnData {
        match self {
            IndexBuilder::Int { values, valid } => ColumnData::UInt { values, valid },
            IndexBuilder::Parts(parts) => index_column(field, parts.into_iter()),
        }
    }
}

pub(super) fn integer(value_type: u8, bytes: &[u8]) -> Option<i64> {
    match (value_type, bytes.len()) {
        (tag::INTEGER, 4) => Some(i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))),
        (tag::INTEGER, 8) => bytes.try_into().ok().map(i64::from_le_bytes),
        _ => None,
    }
}

pub(super) fn unsigned(kind: ValueKind, value_type: u8, bytes: &[u8]) -> Option<u64> {
    let accepted = match kind {
        ValueKind::Unsigned => {
            matches!(value_type, tag::COUNTER32 | tag::GAUGE32 | tag::TIMETICKS | tag::UINTEGER32)
        }
        ValueKind::TimeTicks => value_type == tag::TIMETICKS,
        _ => value_type == tag::COUNTER64,
    };
    match bytes.len() {
        4 if accepted => Some(u64::from(le_u32(bytes))),
        8 if accepted => bytes.try_into().ok().map(u64::from_le_bytes),
        _ => None,
    }
}

pub(super) fn index_column<'a>(
    field: IndexField,
    parts: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
) -> ColumnData {
    match field {
        IndexField::Integer => {
            let (mut values, mut valid) = (Vec::new(), Vec::new());
            for part in parts {
                values.push(part.map_or(0, |p| u64::from(le_u32(p))));
                valid.push(part.is_some());
            }
            ColumnData::UInt { values, valid }
        }
        IndexField::Octets(_, kind) => {
            // Each sub-id is one octet; a sub-id above 255 makes the field null.
            let octets: Vec<Option<Vec<u8>>> = parts
                .map(|part| part?.chunks_exact(4).map(|s| u8::try_from(le_u32(s)).ok()).collect())
                .collect();
            let tag = if kind == ValueKind::IpAddress { tag::IP_ADDRESS } else { tag::OCTET_STRING };
            let bytes = octets.iter().flatten().map(Vec::len).sum();
            value_column(kind, bytes, octets.iter().map(|o| o.as_deref().map(|bytes| (tag, bytes))))
        }
        IndexField::ObjectId(_) => {
            value_column(ValueKind::ObjectId, 0, parts.map(|part| part.map(|p| (tag::OBJECT_ID, p))))
        }
    }
}

/// Renders one column from its cells in row order; `bytes` is the cells' total size (or 0 when
/// unknown), to reserve the data once.
pub(super) fn value_column<'a>(
    kind: ValueKind,
    bytes: usize,
    cells: impl ExactSizeIterator<Item = Cell<'a>>,
) -> ColumnData {
    let rows = cells.len();
    match kind {
        ValueKind::Integer => {
            let (mut values, mut valid) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
            for cell in cells {
                let value = match cell {
                    Some((t, bytes)) => integer(t, bytes),
                    None => None,
                };
                values.push(value.unwrap_or(0));
                valid.push(value.is_some());
            }
            ColumnData::Int { values, valid }
        }
        ValueKind::Unsigned | ValueKind::TimeTicks | ValueKind::Counter64 => {
            let (mut values, mut valid) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
            for cell in cells {
                let value = match cell {
                    Some((t, bytes)) => unsigned(kind, t, bytes),
                    None => None,
                };
                values.push(value.unwrap_or(0));
                valid.push(value.is_some());
            }
            ColumnData::UInt { values, valid }
        }
        _ => {
            let mut text = TextBuilder::new(kind, rows);
            text.data.reserve(bytes);
            for (row, cell) in cells.enumerate() {
                if let Some((t, bytes)) = cell {
                    text.set(row, t, bytes);
                }
            }
            text.finish(rows, None)
        }
    }
}

/// Appends a value of type `t` to a column of `kind` (text or bytes); false when the type does
/// not fit (a null).
#[inline]
pub(super) fn render_cell(kind: ValueKind, t: u8, bytes: &[u8], out: &mut Vec<u8>) -> bool {
    match kind {
        ValueKind::Octets => {
            let ok = matches!(t, tag::OCTET_STRING | tag::OPAQUE | tag::IP_ADDRESS);
            if ok {
                out.extend_from_slice(bytes);
            }
            ok
        }
        _ => render_text(kind, t, bytes, out),
    }
}

/// Appends `bytes` (of SNMP type `t`) rendered as `kind` to `out` (always UTF-8); false on a
/// type mismatch.
pub(crate) fn render_text(kind: ValueKind, t: u8, bytes: &[u8], out: &mut Vec<u8>) -> bool {
    let hex = |out: &mut Vec<u8>, separator: Option<u8>| match separator {
        None => push_hex(out, bytes),
        Some(separator) => {
            for (i, &byte) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(separator);
                }
                out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
            }
        }
    };
    match (kind, t) {
        (ValueKind::Utf8, tag::OCTET_STRING) => {
            if bytes.is_ascii() {
                out.extend_from_slice(bytes);
            } else {
                out.extend_from_slice(String::from_utf8_lossy(bytes).as_bytes());
            }
        }
        (ValueKind::Hex, tag::OCTET_STRING | tag::OPAQUE) => hex(out, None),
        (ValueKind::Mac, tag::OCTET_STRING) => hex(out, Some(b':')),
        (ValueKind::IpAddress, tag::IP_ADDRESS | tag::OCTET_STRING) if bytes.len() == 4 => {
            for (i, &byte) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_decimal(out, u64::from(byte));
            }
        }
        (ValueKind::InetAddress, tag::OCTET_STRING | tag::IP_ADDRESS) => {
            render_inet(bytes, &mut Utf8Out(out))
        }
        (ValueKind::ObjectId, tag::OBJECT_ID) => {
            for subid in bytes.chunks_exact(4).map(le_u32) {
                out.push(b'.');
                push_decimal(out, u64::from(subid));
            }
        }
        _ => return false,
    }
    true
}

pub(super) const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex, no separators.
pub(crate) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 * bytes.len());
    for &byte in bytes {
        out.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
}

/// Appends `n` in decimal (by hand: `write!` costs more than the rest of the row).
#[inline]
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        out.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while n > 0 {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[at..]);
}

/// Text appended to bytes (so that `write!` can render into a column's data).
pub(super) struct Utf8Out<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Out<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// InetAddress by length (INET-ADDRESS-MIB): ipv4(4), ipv6(16), ipv4z(8), ipv6z(20).
pub(super) fn render_inet(bytes: &[u8], out: &mut impl std::fmt::Write) {
    let zone = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let v6 = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default());
    let _ = match bytes.len() {
        0 => Ok(()),
        4 => write!(out, "{}", Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => write!(out, "{}", v6(bytes)),
        8 => write!(out, "{}%{}", Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]), zone(&bytes[4..])),
        20 => write!(out, "{}%{}", v6(&bytes[..16]), zone(&bytes[16..])),
        _ => {
            for byte in bytes {
                let _ = write!(out, "{byte:02x}");
            }
            Ok(())
        }
    };
}
