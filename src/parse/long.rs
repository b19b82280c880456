//! The long format: one row per varbind of any buffers, no table spec needed (`oid`, `root`,
//! `index`, `type`, `value` as text, and typed `value_int`, `value_uint`, `value_bytes`), for
//! `snmp_stream.to_pandas(responses)` and friends. The same rows as `snmp_varbinds`
//! ([`crate::pgcopy::copy_varbinds`]).

use super::render::{push_decimal, push_hex, render_text};
use super::{ColumnData, ParseError, ParsedTable, ValueKind};
use crate::encode::ResultBuffer;
use crate::tag::{self, type_name};

/// The long format's columns, in order.
pub const VARBIND_FRAME_COLUMNS: [&str; 8] =
    ["oid", "root", "index", "type", "value", "value_int", "value_uint", "value_bytes"];

/// Text cells: row `i` is `data[offsets[i]..offsets[i + 1]]`.
#[derive(Default)]
struct TextColumn {
    offsets: Vec<usize>,
    data: Vec<u8>,
    valid: Vec<bool>,
}

impl TextColumn {
    fn with_rows(rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn { offsets, data: Vec::with_capacity(bytes), valid: Vec::with_capacity(rows) }
    }

    fn push(&mut self, valid: bool, write: impl FnOnce(&mut Vec<u8>)) {
        if valid {
            write(&mut self.data);
        }
        self.offsets.push(self.data.len());
        self.valid.push(valid);
    }

    fn into_text(self) -> ColumnData {
        ColumnData::Text { offsets: self.offsets, data: self.data, valid: self.valid }
    }

    fn into_bytes(self) -> ColumnData {
        ColumnData::Bytes { offsets: self.offsets, data: self.data, valid: self.valid }
    }
}

/// Every record of every buffer as a row of the long format ([`VARBIND_FRAME_COLUMNS`]):
/// `oid` (`.1.3...`), `root` (its root OID), `index` (sub-ids after the root, `2.1`; empty for
/// none), `type` (net-snmp's name, [`type_name`]), `value` (its text as `snmpwalk -On`
/// prints it; null for NULL and the exceptions), `value_int` (INTEGER), `value_uint` (Counter32, Gauge32,
/// TimeTicks, UInteger32, Counter64) and `value_bytes` (OCTET STRING and Opaque octets).
pub fn varbind_rows(buffers: &[&[u8]]) -> Result<ParsedTable, ParseError> {
    let headers = buffers
        .iter()
        .enumerate()
        .map(|(buffer, b)| {
            ResultBuffer::parse_header(b).map_err(|error| ParseError::Format { buffer, error })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let rows: usize =
        headers.iter().zip(buffers).map(|(h, b)| (h.record_count as usize).min(b.len() / 12)).sum();
    let bytes: usize = buffers.iter().map(|b| b.len()).sum();
    let mut buffer_of = Vec::with_capacity(rows);
    let (mut oid, mut root, mut index) = (
        TextColumn::with_rows(rows, 3 * bytes),
        TextColumn::with_rows(rows, 2 * bytes),
        TextColumn::with_rows(rows, bytes),
    );
    let (mut kind, mut value) =
        (TextColumn::with_rows(rows, 8 * rows), TextColumn::with_rows(rows, 2 * bytes));
    let mut octets = TextColumn::with_rows(rows, bytes);
    let (mut ints, mut ints_valid) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let (mut uints, mut uints_valid) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let mut roots_text: Vec<Vec<u8>> = Vec::new();
    for (number, header) in headers.iter().enumerate() {
        roots_text.clear();
        for subids in &header.roots {
            let mut text = Vec::new();
            for &subid in subids {
                text.push(b'.');
                push_decimal(&mut text, u64::from(subid));
            }
            roots_text.push(text);
        }
        header
            .visit_records(|record| {
                buffer_of.push(number as u32);
                let this_root = &roots_text[usize::from(record.root_index)];
                oid.push(true, |out| {
                    out.extend_from_slice(this_root);
                    for subid in record.index() {
                        out.push(b'.');
                        push_decimal(out, u64::from(subid));
                    }
                });
                root.push(true, |out| out.extend_from_slice(this_root));
                index.push(true, |out| {
                    for (i, subid) in record.index().enumerate() {
                        if i > 0 {
                            out.push(b'.');
                        }
                        push_decimal(out, u64::from(subid));
                    }
                });
                let (t, v) = (record.value_type, record.value);
                kind.push(true, |out| out.extend_from_slice(type_name(t).as_bytes()));
                let empty = matches!(
                    t,
                    tag::NULL | tag::NO_SUCH_OBJECT | tag::NO_SUCH_INSTANCE | tag::END_OF_MIB_VIEW
                );
                value.push(!empty, |out| render_value(t, v, out));
                octets.push(matches!(t, tag::OCTET_STRING | tag::OPAQUE), |out| out.extend_from_slice(v));
                let (int, uint) = match record.typed_value() {
                    crate::RecordValue::Integer(n) => (Some(n), None),
                    crate::RecordValue::Counter32(n)
                    | crate::RecordValue::Gauge32(n)
                    | crate::RecordValue::TimeTicks(n)
                    | crate::RecordValue::UInteger32(n) => (None, Some(u64::from(n))),
                    crate::RecordValue::Counter64(n) => (None, Some(n)),
                    _ => (None, None),
                };
                ints.push(int.unwrap_or(0));
                ints_valid.push(int.is_some());
                uints.push(uint.unwrap_or(0));
                uints_valid.push(uint.is_some());
            })
            .map_err(|error| ParseError::Format { buffer: number, error })?;
    }
    let columns = vec![
        oid.into_text(),
        root.into_text(),
        index.into_text(),
        kind.into_text(),
        value.into_text(),
        ColumnData::Int { values: ints, valid: ints_valid },
        ColumnData::UInt { values: uints, valid: uints_valid },
        octets.into_bytes(),
    ];
    Ok(ParsedTable {
        buffer: buffer_of,
        columns: VARBIND_FRAME_COLUMNS.iter().map(|name| (*name).to_owned()).zip(columns).collect(),
    })
}

/// A value as text, the `value` of the long format (`snmp_varbinds`, `snmp_stream.to_pandas`):
/// numbers in decimal, IpAddress dotted, OIDs `.1.3...`, readable OCTET STRINGs as they are, other
/// octets in lowercase hex. A value whose length does not fit its type (not
/// written by this crate's encoder) is shown in hex, like unknown types: nothing is lost.
pub(crate) fn render_value(t: u8, value: &[u8], out: &mut Vec<u8>) {
    let unsigned =
        matches!(t, tag::COUNTER32 | tag::GAUGE32 | tag::TIMETICKS | tag::UINTEGER32 | tag::COUNTER64);
    match (t, value) {
        (tag::INTEGER, &[a, b, c, d]) => push_signed(out, i64::from(i32::from_le_bytes([a, b, c, d]))),
        (tag::INTEGER, &[a, b, c, d, e, f, g, h]) => {
            push_signed(out, i64::from_le_bytes([a, b, c, d, e, f, g, h]))
        }
        (_, &[a, b, c, d]) if unsigned => push_decimal(out, u64::from(u32::from_le_bytes([a, b, c, d]))),
        (_, &[a, b, c, d, e, f, g, h]) if unsigned => {
            push_decimal(out, u64::from_le_bytes([a, b, c, d, e, f, g, h]))
        }
        (tag::IP_ADDRESS, &[_, _, _, _]) => {
            render_text(ValueKind::IpAddress, t, value, out);
        }
        (tag::OBJECT_ID, _) if value.len() % 4 == 0 => {
            render_text(ValueKind::ObjectId, t, value, out);
        }
        (tag::OCTET_STRING, _) if is_display_text(value) => out.extend_from_slice(value),
        _ => push_hex(out, value),
    }
}

/// UTF-8 without control characters other than tab, CR and LF: text a person can read as is.
fn is_display_text(bytes: &[u8]) -> bool {
    let plain = |b: u8| (0x20..0x7f).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r');
    if bytes.iter().all(|&b| plain(b)) {
        return true;
    }
    std::str::from_utf8(bytes)
        .is_ok_and(|text| !text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')))
}

fn push_signed(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_decimal(out, n.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(column: &ColumnData) -> Vec<Option<String>> {
        match column {
            ColumnData::Text { offsets, data, valid } | ColumnData::Bytes { offsets, data, valid } => (0
                ..valid.len())
                .map(|i| {
                    valid[i].then(|| String::from_utf8_lossy(&data[offsets[i]..offsets[i + 1]]).into_owned())
                })
                .collect(),
            ColumnData::Int { values, valid } => {
                values.iter().zip(valid).map(|(v, ok)| ok.then(|| v.to_string())).collect()
            }
            ColumnData::UInt { values, valid } => {
                values.iter().zip(valid).map(|(v, ok)| ok.then(|| v.to_string())).collect()
            }
        }
    }

    #[test]
    fn golden_buffer_rows() {
        // The golden buffer (docs/FORMAT.md), twice: rows of both, in order.
        let golden =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/all-types-v1.bin"))
                .unwrap();
        let table = varbind_rows(&[&golden, &golden]).unwrap();
        assert_eq!(table.buffer, [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
        let column =
            |name: &str| text(&table.columns.iter().find(|(n, _)| n == name).unwrap().1)[..8].to_vec();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(column("oid")[0], s(".1.3.6.1.2.1.2.2.1.2.1"));
        assert_eq!(column("root")[1], s(".1.3.6.1.2.1.31.1.1.1.6"));
        assert_eq!(column("index")[4], s("4.1"));
        assert_eq!(
            column("type"),
            ["STRING", "Counter64", "INTEGER", "INTEGER", "OID", "Timeticks", "IpAddress", "noSuchInstance"]
                .map(s)
        );
        let value = column("value");
        assert_eq!(
            value,
            [
                s("lo"),
                s("18446744073709551614"),
                s("-5"),
                s("2147483648"),
                s(".1.3.6.1"),
                s("12345"),
                s("10.0.0.1"),
                None
            ]
        );
        assert_eq!(column("value_int"), [None, None, s("-5"), s("2147483648"), None, None, None, None]);
        assert_eq!(
            column("value_uint"),
            [None, s("18446744073709551614"), None, None, None, s("12345"), None, None]
        );
        assert_eq!(column("value_bytes")[0], s("lo"));
        assert!(column("value_bytes")[1..].iter().all(Option::is_none));
        assert!(matches!(varbind_rows(&[&golden, b"junk"]), Err(ParseError::Format { buffer: 1, .. })));
    }
}
