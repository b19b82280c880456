//! Result buffers to columns: a [`TableSpec`] (how the index sub-ids split into fields, and
//! which root OIDs are the table's columns) applied to one or many buffers gives one row per
//! (buffer, index) and one column per field, outer-joined: a row exists when any column has a
//! value at that index, and the others are null there.
//!
//! There is no MIB: the spec is the description of the table (SNMPv2-SMI INDEX clause rules,
//! RFC 2578 §7.7: integers are one sub-id, fixed-size strings N sub-ids, variable-size strings
//! and OIDs are length-prefixed unless IMPLIED and last).
//!
//! Decoding makes one pass over the records, borrowing index and value bytes from the
//! buffers, then renders each column in row order; nothing is allocated per record.

mod long;
mod rates;
mod render;
mod rows;
mod spec;

use crate::encode::{FormatError, ResultBuffer};
use crate::oid::Oid;
pub(crate) use long::render_value;
pub use long::{varbind_rows, VARBIND_FRAME_COLUMNS};
pub use rates::{counter_rates, CounterRates, Discontinuity, Poll};
pub(crate) use render::push_decimal;
use render::{Builder, IndexBuilder};
use rows::{row_order, same_index, split_index, Rows};
pub use spec::{ColumnData, IndexField, Length, ParsedTable, TableSpec, ValueKind};

/// Why buffers could not be decoded with a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A buffer that is not a valid result buffer.
    Format {
        /// Which buffer (0-based, in the order given).
        buffer: usize,
        /// What is wrong with it.
        error: FormatError,
    },
    /// A buffer collected for other OIDs: none of its roots is one of the table's columns or
    /// lies above one (it would decode to no rows, silently).
    Unrelated {
        /// Which buffer (0-based, in the order given).
        buffer: usize,
        /// The buffer's root OIDs.
        roots: Vec<Oid>,
        /// The table's column OIDs.
        columns: Vec<Oid>,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |oids: &[Oid]| oids.iter().map(Oid::to_string).collect::<Vec<_>>().join(", ");
        match self {
            ParseError::Format { buffer, error } => write!(f, "buffer {buffer}: {error}"),
            ParseError::Unrelated { buffer, roots, columns } => write!(
                f,
                "buffer {buffer} holds walks or gets of {}, none of which is a column of this table \
                 or above one: the table expects {} (or a root above them, such as the table's \
                 entry)",
                list(roots),
                list(columns)
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// What the records under one of a buffer's roots feed.
enum Feed {
    /// No column of the spec.
    Nothing,
    /// The column whose OID is the root: the record's index is the row's index.
    Column(usize),
    /// Columns below the root (the table's entry or the table was walked): the index starts
    /// with the column's sub-ids after the root (as u32 LE bytes), the row's index follows.
    Below(Vec<(Vec<u8>, usize)>),
}

impl TableSpec {
    /// Decodes `buffers` (each a result buffer, e.g. one per host) into one table. A buffer may
    /// hold walks of the columns, or of a root above them (the table's entry or the table
    /// itself); a buffer with neither is an error, not an empty table.
    pub fn parse<B: AsRef<[u8]>>(&self, buffers: &[B]) -> Result<ParsedTable, ParseError> {
        // Headers first, to size everything once (a bad header is reported in its turn below,
        // after the records of the buffers before it).
        let mut expected = 0usize;
        let headers: Vec<_> = buffers
            .iter()
            .map(|buffer| {
                let buffer = buffer.as_ref();
                let parsed = ResultBuffer::parse_header(buffer)?;
                let feeds: Vec<Feed> = parsed.roots.iter().map(|root| self.feed(root.as_slice())).collect();
                // Rows are at most the records over the columns present; reserve for that (the
                // count is only trusted as far as the buffer could hold that many 12-byte
                // records).
                let present = feeds
                    .iter()
                    .map(|feed| match feed {
                        Feed::Nothing => 0,
                        Feed::Column(_) => 1,
                        Feed::Below(columns) => columns.len(),
                    })
                    .sum::<usize>()
                    .max(1);
                expected += (parsed.record_count as usize).min(buffer.len() / 12) / present;
                Ok((parsed, feeds))
            })
            .collect();
        let mut rows = Rows::with_capacity(expected);
        let mut builders: Vec<Builder<'_>> =
            self.columns.iter().map(|(_, _, kind)| Builder::new(*kind, expected)).collect();
        let mut next_row: Vec<usize> = vec![usize::MAX; self.columns.len()];
        for (buffer_no, header) in headers.into_iter().enumerate() {
            let (parsed, feeds) = header.map_err(|error| ParseError::Format { buffer: buffer_no, error })?;
            if !parsed.roots.is_empty() && feeds.iter().all(|feed| matches!(feed, Feed::Nothing)) {
                return Err(ParseError::Unrelated {
                    buffer: buffer_no,
                    roots: parsed.roots.iter().map(|r| Oid::new(r.to_vec()).unwrap_or_default()).collect(),
                    columns: self.columns.iter().map(|(_, oid, _)| oid.clone()).collect(),
                });
            }
            rows.start_buffer(buffer_no as u32);
            // Columns of one table come in the same index order, so the row after the last one
            // a column used is usually the next one it needs: try it first.
            next_row.fill(usize::MAX);
            parsed
                .visit_records(|record| {
                    let index = record.index_bytes();
                    let (column, index) = match feeds.get(usize::from(record.root_index)) {
                        Some(Feed::Column(column)) => (*column, index),
                        Some(Feed::Below(columns)) => {
                            let found = columns
                                .iter()
                                .find(|(suffix, _)| index.len() > suffix.len() && index.starts_with(suffix));
                            match found {
                                Some((suffix, column)) => (*column, &index[suffix.len()..]),
                                None => return,
                            }
                        }
                        _ => return,
                    };
                    let guess = next_row[column];
                    let row = match rows.keys.get(guess) {
                        Some(&(_, known)) if same_index(known, index) => guess,
                        _ => rows.find_or_add(index),
                    };
                    next_row[column] = row + 1;
                    builders[column].set(row, record.value_type, record.value);
                })
                .map_err(|error| ParseError::Format { buffer: buffer_no, error })?;
        }
        let count = rows.keys.len();
        let order = if rows.sorted { None } else { row_order(&rows.keys) };
        // Row `i` of the output is row `sorted(i)` as collected.
        let sorted = |i: usize| order.as_ref().map_or(i, |order| order[i]);
        let mut index_builders: Vec<IndexBuilder<'_>> =
            self.index.iter().map(|(_, field)| IndexBuilder::new(*field, count)).collect();
        let mut buffer = Vec::with_capacity(count);
        // An index of integers only splits by its length alone.
        let integers = self.index.iter().all(|(_, field)| *field == IndexField::Integer);
        for i in 0..count {
            let (buffer_no, index) = rows.keys[sorted(i)];
            buffer.push(buffer_no);
            if integers {
                let fits = index.len() == 4 * index_builders.len();
                for (subid, builder) in index_builders.iter_mut().enumerate() {
                    builder.push(fits.then(|| &index[4 * subid..4 * subid + 4]));
                }
            } else {
                let split = split_index(&self.index, index);
                for (position, builder) in index_builders.iter_mut().enumerate() {
                    builder.push(split.map(|s| s.part(index, position)));
                }
            }
        }
        let mut columns = Vec::with_capacity(self.index.len() + self.columns.len());
        for ((name, field), builder) in self.index.iter().zip(index_builders) {
            columns.push((name.clone(), builder.finish(*field)));
        }
        for ((name, _, _), builder) in self.columns.iter().zip(builders) {
            columns.push((name.clone(), builder.finish(count, order.as_deref())));
        }
        Ok(ParsedTable { buffer, columns })
    }

    /// What the records under a buffer's `root` feed.
    fn feed(&self, root: &[u32]) -> Feed {
        if let Some(column) = self.columns.iter().position(|(_, oid, _)| oid.as_slice() == root) {
            return Feed::Column(column);
        }
        let below: Vec<(Vec<u8>, usize)> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, (_, oid, _))| oid.as_slice().starts_with(root))
            .map(|(column, (_, oid, _))| {
                let suffix = oid.as_slice()[root.len()..].iter().flat_map(|s| s.to_le_bytes()).collect();
                (suffix, column)
            })
            .collect();
        if below.is_empty() {
            Feed::Nothing
        } else {
            Feed::Below(below)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render::render_inet;
    use super::*;
    use crate::ber::Value;
    use crate::encode::Encoder;
    use crate::request::RequestKind;
    use crate::tag;

    fn oid(text: &str) -> Oid {
        Oid::parse(text).unwrap()
    }

    fn buffer(roots: &[&str], records: &[(u16, &[u32], Value<'_>)]) -> Vec<u8> {
        let roots: Vec<Oid> = roots.iter().map(|r| oid(r)).collect();
        let slices: Vec<&[u32]> = roots.iter().map(Oid::as_slice).collect();
        let mut encoder = Encoder::new(RequestKind::Walk, 0, b"", &slices);
        for (root, index, value) in records {
            encoder.record(*root, index, value, 0);
        }
        encoder.finish()
    }

    fn text(column: &ColumnData) -> Vec<Option<String>> {
        let ColumnData::Text { offsets, data, valid } = column else { panic!("not text: {column:?}") };
        (0..valid.len())
            .map(|i| valid[i].then(|| String::from_utf8(data[offsets[i]..offsets[i + 1]].to_vec()).unwrap()))
            .collect()
    }

    fn uint(column: &ColumnData) -> Vec<Option<u64>> {
        let ColumnData::UInt { values, valid } = column else { panic!("not uint: {column:?}") };
        values.iter().zip(valid).map(|(v, ok)| ok.then_some(*v)).collect()
    }

    const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";
    const IF_IN_OCTETS: &str = "1.3.6.1.2.1.2.2.1.10";

    fn if_table() -> TableSpec {
        TableSpec {
            index: vec![("ifIndex".into(), IndexField::Integer)],
            columns: vec![
                ("ifDescr".into(), oid(IF_DESCR), ValueKind::Utf8),
                ("ifInOctets".into(), oid(IF_IN_OCTETS), ValueKind::Unsigned),
            ],
        }
    }

    #[test]
    fn outer_joins_columns_sorts_rows_and_nulls_gaps() {
        let host_a = buffer(
            &[IF_DESCR, IF_IN_OCTETS],
            &[
                (0, &[2], Value::Bytes(tag::OCTET_STRING, b"eth0")),
                (1, &[2], Value::Unsigned(tag::COUNTER32, 20)),
                (0, &[1], Value::Bytes(tag::OCTET_STRING, b"lo")),
                (1, &[1], Value::Unsigned(tag::COUNTER32, 10)),
                (0, &[3], Value::Bytes(tag::OCTET_STRING, b"eth1")),
                (1, &[4], Value::Unsigned(tag::COUNTER32, 40)),
            ],
        );
        let host_b = buffer(&[IF_IN_OCTETS], &[(0, &[1], Value::Unsigned(tag::COUNTER32, 7))]);
        let table = if_table().parse(&[host_a, host_b]).unwrap();
        assert_eq!(table.buffer, vec![0, 0, 0, 0, 1]);
        assert_eq!(table.columns[0].0, "ifIndex");
        assert_eq!(uint(&table.columns[0].1), [1, 2, 3, 4, 1].map(Some));
        assert_eq!(
            text(&table.columns[1].1),
            vec![Some("lo".into()), Some("eth0".into()), Some("eth1".into()), None, None]
        );
        assert_eq!(uint(&table.columns[2].1), vec![Some(10), Some(20), None, Some(40), Some(7)]);
    }

    #[test]
    fn type_mismatches_and_exceptions_are_null() {
        let buf = buffer(
            &[IF_DESCR, IF_IN_OCTETS],
            &[
                (0, &[1], Value::Integer(5)),
                (1, &[1], Value::Unsigned64(tag::COUNTER64, 5)),
                (0, &[2], Value::NoSuchInstance),
                (1, &[2], Value::Unsigned(tag::GAUGE32, 9)),
            ],
        );
        let table = if_table().parse(&[buf]).unwrap();
        assert_eq!(text(&table.columns[1].1), vec![None, None]);
        assert_eq!(uint(&table.columns[2].1), vec![None, Some(9)]);
    }

    #[test]
    fn composite_indexes_split_into_fields() {
        // ipNetToPhysicalTable: ifIndex, InetAddressType, InetAddress (length-prefixed).
        let phys = "1.3.6.1.2.1.4.35.1.4";
        let spec = TableSpec {
            index: vec![
                ("ifIndex".into(), IndexField::Integer),
                ("type".into(), IndexField::Integer),
                ("address".into(), IndexField::Octets(Length::Prefixed, ValueKind::InetAddress)),
            ],
            columns: vec![("mac".into(), oid(phys), ValueKind::Mac)],
        };
        let v6: Vec<u32> = [2u32, 16, 0xfe, 0x80].into_iter().chain([0; 13]).chain([1]).collect();
        let buf = buffer(
            &[phys],
            &[
                (
                    0,
                    &[3, 1, 4, 192, 0, 2, 1],
                    Value::Bytes(tag::OCTET_STRING, &[0, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]),
                ),
                (0, &[[3].as_slice(), &v6].concat(), Value::Bytes(tag::OCTET_STRING, &[2, 0, 0, 0, 0, 1])),
                (0, &[3, 1, 4, 300, 0, 0, 1], Value::Bytes(tag::OCTET_STRING, &[1])),
            ],
        );
        let table = spec.parse(&[buf]).unwrap();
        assert_eq!(uint(&table.columns[1].1), vec![Some(1), Some(1), Some(2)]);
        assert_eq!(text(&table.columns[2].1), vec![Some("192.0.2.1".into()), None, Some("fe80::1".into())]);
        assert_eq!(
            text(&table.columns[3].1),
            vec![Some("00:1a:2b:3c:4d:5e".into()), Some("01".into()), Some("02:00:00:00:00:01".into())]
        );

        // ipCidrRouteTable: dest, mask, tos, next hop; IMPLIED and OID fields.
        let route = "1.3.6.1.2.1.4.24.4.1.5";
        let spec = TableSpec {
            index: vec![
                ("dest".into(), IndexField::Octets(Length::Fixed(4), ValueKind::IpAddress)),
                ("mask".into(), IndexField::Octets(Length::Fixed(4), ValueKind::IpAddress)),
                ("tos".into(), IndexField::Integer),
                ("policy".into(), IndexField::ObjectId(Length::Prefixed)),
                ("name".into(), IndexField::Octets(Length::Implied, ValueKind::Utf8)),
            ],
            columns: vec![("ifIndex".into(), oid(route), ValueKind::Integer)],
        };
        let index = [10, 0, 0, 0, 255, 0, 0, 0, 0, 2, 0, 0, u32::from(b'g'), u32::from(b'w')];
        let buf = buffer(&[route], &[(0, &index, Value::Integer(-3))]);
        let table = spec.parse(&[buf]).unwrap();
        assert_eq!(text(&table.columns[0].1), vec![Some("10.0.0.0".into())]);
        assert_eq!(text(&table.columns[1].1), vec![Some("255.0.0.0".into())]);
        assert_eq!(text(&table.columns[3].1), vec![Some(".0.0".into())]);
        assert_eq!(text(&table.columns[4].1), vec![Some("gw".into())]);
        assert_eq!(table.columns[5].1, ColumnData::Int { values: vec![-3], valid: vec![true] });
    }

    #[test]
    fn rows_out_of_order_and_repeated_keep_the_last_value() {
        // Row 3 before row 2 (so the rows are hashed, then sorted), and row 1 set twice: text
        // keeps the last value (null when of the wrong type), numbers the last valid one.
        let buf = buffer(
            &[IF_DESCR, IF_IN_OCTETS],
            &[
                (0, &[1], Value::Bytes(tag::OCTET_STRING, b"lo")),
                (1, &[1], Value::Unsigned(tag::COUNTER32, 10)),
                (0, &[3], Value::Bytes(tag::OCTET_STRING, b"eth1")),
                (0, &[2], Value::Bytes(tag::OCTET_STRING, b"eth0")),
                (0, &[1], Value::Bytes(tag::OCTET_STRING, b"lo0")),
                (1, &[1], Value::Integer(5)),
                (0, &[3], Value::Integer(5)),
                (1, &[2], Value::Unsigned(tag::COUNTER32, 20)),
            ],
        );
        let table = if_table().parse(&[buf]).unwrap();
        assert_eq!(uint(&table.columns[0].1), [1, 2, 3].map(Some));
        assert_eq!(text(&table.columns[1].1), vec![Some("lo0".into()), Some("eth0".into()), None]);
        assert_eq!(uint(&table.columns[2].1), vec![Some(10), Some(20), None]);
    }

    #[test]
    fn bad_buffers_name_the_buffer_and_offset() {
        let good = buffer(&[IF_DESCR], &[]);
        let mut bad = good.clone();
        bad.truncate(10);
        let Err(ParseError::Format { buffer: 1, error }) = if_table().parse(&[good, bad]) else {
            panic!("expected a format error in buffer 1")
        };
        assert!(error.message.contains("truncated"), "{error}");
    }

    #[test]
    fn walks_of_the_entry_or_the_table_decode_like_walks_of_the_columns() {
        // ifEntry walked: records under .1.3.6.1.2.1.2.2.1 with index "column.row".
        let entry = "1.3.6.1.2.1.2.2.1";
        let records = [
            (0u16, &[1u32, 1][..], Value::Integer(1)), // ifIndex: not a column of the spec
            (0, &[2, 1], Value::Bytes(tag::OCTET_STRING, b"lo")),
            (0, &[2, 2], Value::Bytes(tag::OCTET_STRING, b"eth0")),
            (0, &[10, 2], Value::Unsigned(tag::COUNTER32, 20)),
            (0, &[2], Value::Integer(9)), // the column object itself: no row index
        ];
        let by_entry = if_table().parse(&[buffer(&[entry], &records)]).unwrap();
        let table_records: Vec<_> =
            records.iter().map(|(r, i, v)| (*r, [&[1][..], i].concat(), *v)).collect();
        let table_records: Vec<_> = table_records.iter().map(|(r, i, v)| (*r, i.as_slice(), *v)).collect();
        let by_table = if_table().parse(&[buffer(&["1.3.6.1.2.1.2.2"], &table_records)]).unwrap();
        for table in [&by_entry, &by_table] {
            assert_eq!(table.buffer, vec![0, 0]);
            assert_eq!(
                table.columns[1].1,
                ColumnData::Text {
                    offsets: vec![0, 2, 6],
                    data: b"loeth0".to_vec(),
                    valid: vec![true, true]
                }
            );
            assert_eq!(
                table.columns[2].1,
                ColumnData::UInt { values: vec![0, 20], valid: vec![false, true] }
            );
        }
        assert_eq!(by_entry.columns, by_table.columns);
    }

    #[test]
    fn a_buffer_of_other_oids_is_an_error_naming_what_was_expected() {
        let system = buffer(&["1.3.6.1.2.1.1"], &[(0, &[5, 0], Value::Bytes(tag::OCTET_STRING, b"r1"))]);
        let error = if_table().parse(&[buffer(&[IF_DESCR], &[]), system]).unwrap_err();
        assert!(matches!(error, ParseError::Unrelated { buffer: 1, .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with("buffer 1 holds walks or gets of .1.3.6.1.2.1.1, none of which"),
            "{message}"
        );
        assert!(message.contains(".1.3.6.1.2.1.2.2.1.2"), "{message}");
    }

    #[test]
    fn inet_addresses_render_by_length() {
        let mut out = String::new();
        for (bytes, expected) in [
            (&[10, 1, 2, 3][..], "10.1.2.3"),
            (&[10, 1, 2, 3, 0, 0, 0, 7], "10.1.2.3%7"),
            (&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2], "fe80::1%2"),
            (&[1, 2, 3], "010203"),
        ] {
            out.clear();
            render_inet(bytes, &mut out);
            assert_eq!(out, expected);
        }
    }
}

#[cfg(test)]
pub(crate) mod fuzz {
    use super::*;
    use crate::ber::Value;
    use crate::encode::Encoder;
    use crate::request::RequestKind;
    use crate::tag;

    /// Iterations of the mutation tests: `default` in CI; a long run sets
    /// `SNMP_STREAM_FUZZ_ITERATIONS` (e.g. `SNMP_STREAM_FUZZ_ITERATIONS=2000000 cargo test
    /// --release --lib -- never_panic`).
    pub(crate) fn fuzz_iterations(default: u64) -> u64 {
        std::env::var("SNMP_STREAM_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// A deterministic xorshift64 stream from `seed` (non-zero), for the mutation tests.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    /// Corrupted buffers (a deterministic xorshift stream of byte flips and cuts) give a
    /// `FormatError` or a table, never a panic, a hang or an out-of-bounds read.
    #[test]
    fn corrupted_buffers_never_panic() {
        let roots =
            [Oid::parse("1.3.6.1.2.1.4.35.1.4").unwrap(), Oid::parse("1.3.6.1.2.1.4.35.1.7").unwrap()];
        let slices: Vec<&[u32]> = roots.iter().map(Oid::as_slice).collect();
        let mut encoder = Encoder::new(RequestKind::Walk, 1, b"fuzz", &slices);
        for row in 0..50u32 {
            let index = [row % 7, 1, 4, 10, 0, row / 256, row % 256];
            encoder.record(0, &index, &Value::Bytes(tag::OCTET_STRING, &[0, 1, 2, 3, 4, row as u8]), 3);
            encoder.record(1, &index, &Value::Integer(row as i64 - 25), 4);
        }
        let original = encoder.finish();
        let spec = TableSpec {
            index: vec![
                ("if".into(), IndexField::Integer),
                ("type".into(), IndexField::Integer),
                ("addr".into(), IndexField::Octets(Length::Prefixed, ValueKind::InetAddress)),
            ],
            columns: vec![
                ("mac".into(), roots[0].clone(), ValueKind::Mac),
                ("state".into(), roots[1].clone(), ValueKind::Integer),
            ],
        };
        assert_eq!(spec.parse(&[&original]).unwrap().buffer.len(), 50);
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..fuzz_iterations(5_000) {
            let mut buffer = original.clone();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() as usize) % buffer.len();
                buffer[at] = next() as u8;
            }
            if next() % 4 == 0 {
                buffer.truncate((next() as usize) % buffer.len());
            }
            match spec.parse(&[&original, &buffer]) {
                Ok(table) => assert!(table.columns.iter().all(|(_, c)| c.len() == table.buffer.len())),
                Err(ParseError::Format { buffer: which, error }) => {
                    assert_eq!(which, 1);
                    assert!(error.offset <= buffer.len());
                }
                Err(ParseError::Unrelated { buffer: which, .. }) => assert_eq!(which, 1),
            }
        }
    }
}
