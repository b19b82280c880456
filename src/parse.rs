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

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::encode::{FormatError, ResultBuffer};
use crate::oid::Oid;
use crate::tag;

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

/// A fast hasher for index keys (FxHash's multiply-rotate; keys are not attacker-chosen
/// collisions worth defending against here).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A value found for a (row, column): its type tag and bytes, borrowed from a buffer.
type Cell<'a> = Option<(u8, &'a [u8])>;

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

/// Two indexes (u32 LE sub-ids) are the same; one compare for the usual one-sub-id index.
#[inline(always)]
fn same_index(a: &[u8], b: &[u8]) -> bool {
    match (<&[u8; 4]>::try_from(a), <&[u8; 4]>::try_from(b)) {
        (Ok(a), Ok(b)) => u32::from_ne_bytes(*a) == u32::from_ne_bytes(*b),
        _ => a == b,
    }
}

/// The rows found so far, (buffer, index bytes), and how to find one by its index.
///
/// While the rows of the current buffer arrive in increasing index order (walks of columns
/// that share their rows), a new index is simply appended after comparing it with the last
/// one, and a known one is found by binary search: no hashing. The first index that would go
/// between two others switches the buffer to a hash map.
struct Rows<'a> {
    keys: Vec<(u32, &'a [u8])>,
    /// Where the current buffer's rows start.
    start: usize,
    buffer_no: u32,
    /// Every buffer so far kept its rows in increasing index order.
    sorted: bool,
    /// The current buffer's rows are hashed in `row_of` (they are not in order).
    hashed: bool,
    row_of: HashMap<&'a [u8], u32, BuildHasherDefault<FxHasher>>,
}

impl<'a> Rows<'a> {
    fn with_capacity(capacity: usize) -> Self {
        Rows {
            keys: Vec::with_capacity(capacity),
            start: 0,
            buffer_no: 0,
            sorted: true,
            hashed: false,
            row_of: HashMap::default(),
        }
    }

    fn start_buffer(&mut self, buffer_no: u32) {
        self.start = self.keys.len();
        self.buffer_no = buffer_no;
        self.hashed = false;
        self.row_of.clear();
    }

    /// The row of `index` in the current buffer, added when new.
    #[inline]
    fn find_or_add(&mut self, index: &'a [u8]) -> usize {
        if self.hashed {
            return self.find_or_add_hashed(index);
        }
        let end = self.keys.len();
        match self.keys[self.start..].last() {
            Some(&(_, last)) if index_cmp(last, index).is_ge() => {}
            _ => {
                self.keys.push((self.buffer_no, index));
                return end;
            }
        }
        self.search_or_hash(index)
    }

    /// The slower half of [`Rows::find_or_add`]: binary search, or a switch to hashing when
    /// `index` is new and not last.
    #[inline(never)]
    fn search_or_hash(&mut self, index: &'a [u8]) -> usize {
        match self.keys[self.start..].binary_search_by(|&(_, probe)| index_cmp(probe, index)) {
            Ok(found) => self.start + found,
            Err(_) => {
                self.hashed = true;
                self.sorted = false;
                for (row, &(_, known)) in self.keys.iter().enumerate().skip(self.start) {
                    self.row_of.insert(known, row as u32);
                }
                self.find_or_add_hashed(index)
            }
        }
    }

    fn find_or_add_hashed(&mut self, index: &'a [u8]) -> usize {
        let keys = &mut self.keys;
        let buffer_no = self.buffer_no;
        *self.row_of.entry(index).or_insert_with(|| {
            keys.push((buffer_no, index));
            (keys.len() - 1) as u32
        }) as usize
    }
}

/// Accumulates one column while records arrive in any row order: numbers are decoded at
/// once into their output vectors; text and bytes are rendered at once too when their row
/// comes after the column's last one (as in walks), and kept for the end otherwise.
enum Builder<'a> {
    Int { values: Vec<i64>, valid: Vec<bool> },
    UInt { kind: ValueKind, values: Vec<u64>, valid: Vec<bool> },
    Text(TextBuilder<'a>),
}

/// Sets `vec[row]`, growing `vec` (with `fill`) when needed; rows usually come in order, so
/// this is mostly a push into reserved space.
#[inline(always)]
fn put<T: Clone>(vec: &mut Vec<T>, row: usize, value: T, fill: T) {
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
    fn new(kind: ValueKind, expected: usize) -> Self {
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
    fn set(&mut self, row: usize, value_type: u8, value: &'a [u8]) {
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
    fn finish(self, rows: usize, order: Option<&[usize]>) -> ColumnData {
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
struct TextBuilder<'a> {
    kind: ValueKind,
    /// Row `i` is `data[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    data: Vec<u8>,
    valid: Vec<bool>,
    late: Vec<(usize, u8, &'a [u8])>,
}

impl<'a> TextBuilder<'a> {
    fn new(kind: ValueKind, expected: usize) -> Self {
        let mut offsets = Vec::with_capacity(expected + 1);
        offsets.push(0);
        TextBuilder { kind, offsets, data: Vec::new(), valid: Vec::with_capacity(expected), late: Vec::new() }
    }

    /// Appends null rows up to `rows`.
    #[cold]
    fn pad(&mut self, rows: usize) {
        if rows > self.valid.len() {
            self.valid.resize(rows, false);
            self.offsets.resize(rows + 1, self.data.len());
        }
    }

    #[inline(always)]
    fn set(&mut self, row: usize, value_type: u8, value: &'a [u8]) {
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
    fn finish(mut self, rows: usize, order: Option<&[usize]>) -> ColumnData {
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

fn text_column(kind: ValueKind, offsets: Vec<usize>, data: Vec<u8>, valid: Vec<bool>) -> ColumnData {
    match kind {
        ValueKind::Octets => ColumnData::Bytes { offsets, data, valid },
        _ => ColumnData::Text { offsets, data, valid },
    }
}

/// Accumulates one index field in output row order.
enum IndexBuilder<'a> {
    Int { values: Vec<u64>, valid: Vec<bool> },
    Parts(Vec<Option<&'a [u8]>>),
}

impl<'a> IndexBuilder<'a> {
    fn new(field: IndexField, rows: usize) -> Self {
        match field {
            IndexField::Integer => {
                IndexBuilder::Int { values: Vec::with_capacity(rows), valid: Vec::with_capacity(rows) }
            }
            _ => IndexBuilder::Parts(Vec::with_capacity(rows)),
        }
    }

    #[inline]
    fn push(&mut self, part: Option<&'a [u8]>) {
        match self {
            IndexBuilder::Int { values, valid } => {
                values.push(part.map_or(0, |p| u64::from(le_u32(p))));
                valid.push(part.is_some());
            }
            IndexBuilder::Parts(parts) => parts.push(part),
        }
    }

    fn finish(self, field: IndexField) -> ColumnData {
        match self {
            IndexBuilder::Int { values, valid } => ColumnData::UInt { values, valid },
            IndexBuilder::Parts(parts) => index_column(field, parts.into_iter()),
        }
    }
}

fn integer(value_type: u8, bytes: &[u8]) -> Option<i64> {
    match (value_type, bytes.len()) {
        (tag::INTEGER, 4) => Some(i64::from(i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))),
        (tag::INTEGER, 8) => bytes.try_into().ok().map(i64::from_le_bytes),
        _ => None,
    }
}

fn unsigned(kind: ValueKind, value_type: u8, bytes: &[u8]) -> Option<u64> {
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

/// The order that sorts rows by buffer, then index (numerically); `None` when they already
/// are, as they usually are.
fn row_order(rows: &[(u32, &[u8])]) -> Option<Vec<usize>> {
    let key_cmp = |a: &(u32, &[u8]), b: &(u32, &[u8])| a.0.cmp(&b.0).then_with(|| index_cmp(a.1, b.1));
    if rows.windows(2).all(|w| key_cmp(&w[0], &w[1]).is_le()) {
        return None;
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| key_cmp(&rows[a], &rows[b]));
    Some(order)
}

/// Compares two indexes (u32 LE sub-ids) numerically.
#[inline]
fn index_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if let (Ok(a), Ok(b)) = (<&[u8; 4]>::try_from(a), <&[u8; 4]>::try_from(b)) {
        return u32::from_le_bytes(*a).cmp(&u32::from_le_bytes(*b));
    }
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        if x != y {
            return le_u32(x).cmp(&le_u32(y));
        }
    }
    a.len().cmp(&b.len())
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Where each index field lies in an index (byte ranges), for up to [`MAX_INDEX_FIELDS`].
#[derive(Debug, Clone, Copy)]
struct Split {
    ranges: [(u32, u32); MAX_INDEX_FIELDS],
}

/// More index fields than any MIB table uses; a longer spec makes every index null.
const MAX_INDEX_FIELDS: usize = 16;

impl Split {
    fn part<'a>(&self, index: &'a [u8], position: usize) -> &'a [u8] {
        let (start, end) = self.ranges[position];
        &index[start as usize..end as usize]
    }
}

/// Splits an index (u32 LE sub-ids) into the spec's fields; `None` when it does not fit.
fn split_index(fields: &[(String, IndexField)], index: &[u8]) -> Option<Split> {
    if fields.len() > MAX_INDEX_FIELDS {
        return None;
    }
    let mut split = Split { ranges: [(0, 0); MAX_INDEX_FIELDS] };
    let mut at = 0usize;
    for (position, (_, field)) in fields.iter().enumerate() {
        let last = position + 1 == fields.len();
        let length = match field {
            IndexField::Integer => Length::Fixed(1),
            IndexField::Octets(length, _) | IndexField::ObjectId(length) => *length,
        };
        let take = match length {
            Length::Fixed(n) => n,
            Length::Prefixed => {
                let count = le_u32(index.get(at..at + 4)?) as usize;
                at += 4;
                count
            }
            Length::Implied if last => (index.len() - at) / 4,
            Length::Implied => return None,
        };
        let end = at.checked_add(take.checked_mul(4)?)?;
        if end > index.len() {
            return None;
        }
        split.ranges[position] = (at as u32, end as u32);
        at = end;
    }
    (at == index.len()).then_some(split)
}

fn index_column<'a>(field: IndexField, parts: impl ExactSizeIterator<Item = Option<&'a [u8]>>) -> ColumnData {
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
fn value_column<'a>(
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
fn render_cell(kind: ValueKind, t: u8, bytes: &[u8], out: &mut Vec<u8>) -> bool {
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

const HEX: &[u8; 16] = b"0123456789abcdef";

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
struct Utf8Out<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Utf8Out<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// InetAddress by length (INET-ADDRESS-MIB): ipv4(4), ipv6(16), ipv4z(8), ipv6z(20).
fn render_inet(bytes: &[u8], out: &mut impl std::fmt::Write) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ber::Value;
    use crate::encode::Encoder;
    use crate::request::RequestKind;

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

    /// Iterations of the mutation tests: `default` in CI; a long run sets
    /// `SNMP_STREAM_FUZZ_ITERATIONS` (e.g. `SNMP_STREAM_FUZZ_ITERATIONS=2000000 cargo test
    /// --release --lib -- never_panic`).
    pub(crate) fn fuzz_iterations(default: u64) -> u64 {
        std::env::var("SNMP_STREAM_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
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
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
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
