//! Result buffers to PostgreSQL's binary COPY format (`COPY table (columns) FROM STDIN (FORMAT
//! BINARY)`, PostgreSQL documentation "COPY", section "Binary Format"), written natively so
//! that a loader sends rows without touching a cell.
//!
//! A binary COPY stream is the 11-byte signature `PGCOPY\n\xff\r\n\0`, an i32 flags word and an
//! i32 header-extension length (both 0 here), then per row an i16 field count and per field an
//! i32 byte length (-1 for NULL) followed by the value in the type's binary "send" format, and
//! finally an i16 -1. Every integer is big-endian (network order), unlike the result buffer.
//!
//! Two shapes of rows are written, both starting with the same per-buffer columns
//! ([`PREFIX_COLUMNS`]: `result_id`, `host`, `req_id`, `collected_at`):
//!
//! - [`copy_table`]: a [`TableSpec`] applied as [`TableSpec::parse`] does (same rows, same
//!   order, same outer join), then one field per index field and column, each written as the
//!   [`PgType`] the caller chose for it;
//! - [`copy_varbinds`]: the "long" table, one row per record of every buffer, no spec needed
//!   ([`VARBIND_COLUMNS`]).
//!
//! Type mismatches between a column's decoded kind and the requested [`PgType`] are spec errors
//! ([`CopyError::Incompatible`]), found before any buffer is decoded; values that do not fit
//! (an INTEGER outside `integer`, a counter above `bigint`) are NULL, as the parser makes
//! values of the wrong SNMP type null: agents send broken values, and one must not stop a load.

use std::fmt;

use crate::encode::{FormatError, Record, ResultBuffer};
use crate::parse::{push_decimal, render_value, ColumnData, ParseError, TableSpec};
use crate::tag::{self, type_name};

/// The first bytes of every binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// The Unix epoch in PostgreSQL's timestamp representation: µs from 2000-01-01 00:00 UTC back to
/// 1970-01-01.
const POSTGRES_EPOCH_US: i64 = 946_684_800_000_000;

/// The columns every row starts with, as (name, SQL type): the buffer's result id and host (given
/// by the caller, per buffer), its request id (NULL when empty) and when its collection started.
pub const PREFIX_COLUMNS: [(&str, &str); 4] =
    [("result_id", "text"), ("host", "text"), ("req_id", "text"), ("collected_at", "timestamptz")];

/// The columns of [`copy_varbinds`]' rows, as (name, SQL type): [`PREFIX_COLUMNS`], then the
/// varbind.
pub const VARBIND_COLUMNS: [(&str, &str); 10] = [
    PREFIX_COLUMNS[0],
    PREFIX_COLUMNS[1],
    PREFIX_COLUMNS[2],
    PREFIX_COLUMNS[3],
    ("oid", "text"),
    ("root", "text"),
    ("index", "text"),
    ("type", "text"),
    ("value", "text"),
    ("value_bytes", "bytea"),
];

/// The PostgreSQL type a table field is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgType {
    /// `integer` (int4), from signed integers; values outside i32 are NULL.
    Int4,
    /// `bigint` (int8), from signed integers, or unsigned ones (above i64::MAX: NULL).
    Int8,
    /// `numeric(20,0)`, from unsigned integers: the whole u64 range, exactly.
    Numeric,
    /// `text`, from text.
    Text,
    /// `bytea`, from octets.
    Bytea,
    /// `interval`, from TimeTicks (hundredths of a second).
    Interval,
}

impl PgType {
    /// Every type, in the order error messages list them.
    const ALL: [PgType; 6] =
        [PgType::Int4, PgType::Int8, PgType::Numeric, PgType::Text, PgType::Bytea, PgType::Interval];

    /// The type called `name`: `"integer"`, `"bigint"`, `"numeric"`, `"text"`, `"bytea"` or
    /// `"interval"`.
    pub fn parse(name: &str) -> Result<PgType, CopyError> {
        PgType::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| CopyError::UnknownType(name.to_owned()))
    }

    /// The name [`PgType::parse`] takes.
    pub fn name(self) -> &'static str {
        match self {
            PgType::Int4 => "integer",
            PgType::Int8 => "bigint",
            PgType::Numeric => "numeric",
            PgType::Text => "text",
            PgType::Bytea => "bytea",
            PgType::Interval => "interval",
        }
    }

    /// The type as a column definition takes it (`numeric(20,0)` holds any u64).
    pub fn sql_name(self) -> &'static str {
        match self {
            PgType::Numeric => "numeric(20,0)",
            other => other.name(),
        }
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a buffer came from, for its rows' first columns (see [`PREFIX_COLUMNS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferSource<'a> {
    /// The caller's id of the result (e.g. the message it arrived in).
    pub result_id: &'a str,
    /// The agent the buffer was collected from.
    pub host: &'a str,
}

/// Why COPY data could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyError {
    /// A buffer that is not a valid result buffer.
    Buffer {
        /// Which buffer (0-based, in the order given).
        buffer: usize,
        /// What is wrong with it.
        error: FormatError,
    },
    /// A type name [`PgType::parse`] does not know.
    UnknownType(String),
    /// Not one type per index field and column.
    TypeCount {
        /// Index fields plus columns of the spec.
        fields: usize,
        /// Types given.
        types: usize,
    },
    /// A type that cannot hold a column's values (e.g. `text` for an integer column).
    Incompatible {
        /// The index field or column.
        column: String,
        /// What the column holds: "signed integers", "unsigned integers", "text" or "octets".
        kind: &'static str,
        /// The type asked for.
        requested: PgType,
    },
    /// Not one [`BufferSource`] per buffer.
    SourceCount {
        /// Buffers given.
        buffers: usize,
        /// Sources given.
        sources: usize,
    },
    /// A buffer collected for other OIDs than the table's (see [`ParseError::Unrelated`]).
    Unrelated(ParseError),
}

impl From<ParseError> for CopyError {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::Format { buffer, error } => CopyError::Buffer { buffer, error },
            unrelated => CopyError::Unrelated(unrelated),
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Buffer { buffer, error } => write!(f, "buffer {buffer}: {error}"),
            CopyError::Unrelated(error) => write!(f, "{error}"),
            CopyError::UnknownType(name) => {
                let known = PgType::ALL.iter().map(|t| t.name());
                write!(f, "unknown PostgreSQL type {name:?} (expected {})", one_of(known))
            }
            CopyError::TypeCount { fields, types } => {
                write!(f, "{types} PostgreSQL types for {fields} index fields and columns")
            }
            CopyError::Incompatible { column, kind, requested } => {
                let fitting = PgType::ALL.iter().filter(|t| fits(kind, **t)).map(|t| t.name());
                write!(
                    f,
                    "column {column:?} holds {kind}, which cannot be written as {requested} (use {})",
                    one_of(fitting)
                )
            }
            CopyError::SourceCount { buffers, sources } => {
                write!(f, "{buffers} buffers but {sources} result ids and hosts")
            }
        }
    }
}

impl std::error::Error for CopyError {}

/// "a", "a or b", "a, b or c".
fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Writes every row of `spec` applied to `buffers` (as [`TableSpec::parse`] decodes them) as one
/// binary COPY stream: [`PREFIX_COLUMNS`] from `sources[buffer]`, then the index fields and
/// columns in spec order, each as `types[i]`.
pub fn copy_table<B: AsRef<[u8]>>(
    spec: &TableSpec,
    buffers: &[B],
    types: &[PgType],
    sources: &[BufferSource<'_>],
) -> Result<Vec<u8>, CopyError> {
    if sources.len() != buffers.len() {
        return Err(CopyError::SourceCount { buffers: buffers.len(), sources: sources.len() });
    }
    let fields = spec.index.len() + spec.columns.len();
    if types.len() != fields {
        return Err(CopyError::TypeCount { fields, types: types.len() });
    }
    // The parser decides which kind each field holds; asking it with no buffers (no rows) checks
    // the types before any decoding, with its own answer rather than a copy of its rules.
    let empty = spec.parse::<&[u8]>(&[])?;
    cells(&empty, types)?;

    let table = spec.parse(buffers)?;
    let cells = cells(&table, types)?;
    let prefixes = Prefixes::new(buffers, sources)?;
    let rows = table.buffer.len();
    let prefix_bytes: usize = table.buffer.iter().map(|&b| prefixes.of(b as usize).len()).sum();
    let cell_bytes: usize = cells.iter().map(|c| c.max_bytes(rows)).sum();
    let mut out = start_copy(2 * rows + prefix_bytes + cell_bytes);
    let field_count = PREFIX_COLUMNS.len() + fields;
    for (row, &buffer) in table.buffer.iter().enumerate() {
        out.put_row(field_count);
        out.extend_from_slice(prefixes.of(buffer as usize));
        for cell in &cells {
            cell.write(row, &mut out);
        }
    }
    Ok(finish_copy(out))
}

/// Writes one row per record of every buffer (the "long" table, [`VARBIND_COLUMNS`]):
/// [`PREFIX_COLUMNS`] from `sources[buffer]`, then `oid` (`.1.3...`: root and index), `root`,
/// `index` (sub-ids without a leading dot, `""` when empty), `type` ([`type_name`]), `value`
/// (numbers in decimal, IpAddress dotted, OIDs `.1.3...`, OCTET STRING as itself when it is
/// UTF-8 text without control characters other than tab, CR and LF, else in lowercase hex, like
/// Opaque and unknown types; NULL for NULL and the exceptions) and `value_bytes` (the octets of
/// OCTET STRING and Opaque values, NULL for other types).
pub fn copy_varbinds<B: AsRef<[u8]>>(
    buffers: &[B],
    sources: &[BufferSource<'_>],
) -> Result<Vec<u8>, CopyError> {
    if sources.len() != buffers.len() {
        return Err(CopyError::SourceCount { buffers: buffers.len(), sources: sources.len() });
    }
    let bad = |buffer: usize| move |error: FormatError| CopyError::Buffer { buffer, error };
    let mut out = start_copy(0);
    let mut prefix = Vec::new();
    // The current buffer's roots rendered `.1.3...`: root `r` is `roots[root_at[r]..root_at[r + 1]]`.
    let (mut roots, mut root_at) = (Vec::new(), Vec::new());
    for (buffer_no, (buffer, source)) in buffers.iter().zip(sources).enumerate() {
        let buffer = buffer.as_ref();
        let header = ResultBuffer::parse_header(buffer).map_err(bad(buffer_no))?;
        prefix.clear();
        push_prefix(&mut prefix, source, &header);
        roots.clear();
        root_at.clear();
        root_at.push(0);
        for root in &header.roots {
            for &subid in root {
                roots.push(b'.');
                push_decimal(&mut roots, u64::from(subid));
            }
            root_at.push(roots.len());
        }
        // Records are at least 12 bytes, so the count is trusted only that far. Index and value
        // bytes take about twice their size rendered (oid and index; value and value_bytes).
        let records = (header.record_count as usize).min(buffer.len() / 12);
        let longest_root = root_at.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        out.reserve(records * (2 + prefix.len() + 4 * 6 + 2 * longest_root + 16) + 2 * buffer.len());
        header
            .visit_records(|record| {
                let root = usize::from(record.root_index);
                write_varbind(&mut out, &prefix, &roots[root_at[root]..root_at[root + 1]], &record);
            })
            .map_err(bad(buffer_no))?;
    }
    Ok(finish_copy(out))
}

/// One [`copy_varbinds`] row.
#[inline]
fn write_varbind(out: &mut Vec<u8>, prefix: &[u8], root: &[u8], record: &Record<'_>) {
    out.put_row(VARBIND_COLUMNS.len());
    out.extend_from_slice(prefix);
    let oid = out.begin_field();
    out.extend_from_slice(root);
    for subid in record.index() {
        out.push(b'.');
        push_decimal(out, u64::from(subid));
    }
    out.end_field(oid);
    out.put_bytes(root);
    let index = out.begin_field();
    for (i, subid) in record.index().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_decimal(out, u64::from(subid));
    }
    out.end_field(index);
    out.put_bytes(type_name(record.value_type).as_bytes());
    let (t, value) = (record.value_type, record.value);
    match t {
        tag::NULL | tag::NO_SUCH_OBJECT | tag::NO_SUCH_INSTANCE | tag::END_OF_MIB_VIEW => out.put_null(),
        _ => {
            let text = out.begin_field();
            render_value(t, value, out);
            out.end_field(text);
        }
    }
    match t {
        tag::OCTET_STRING | tag::OPAQUE => out.put_bytes(value),
        _ => out.put_null(),
    }
}

/// Appends the [`PREFIX_COLUMNS`] fields of a buffer.
fn push_prefix(out: &mut Vec<u8>, source: &BufferSource<'_>, header: &ResultBuffer<'_>) {
    out.put_bytes(source.result_id.as_bytes());
    out.put_bytes(source.host.as_bytes());
    if header.req_id.is_empty() {
        out.put_null();
    } else {
        out.put_bytes(String::from_utf8_lossy(header.req_id).as_bytes());
    }
    out.put_timestamptz(header.start_us);
}

/// Every buffer's [`PREFIX_COLUMNS`] fields, encoded once: buffer `b`'s are
/// `bytes[at[b]..at[b + 1]]`.
struct Prefixes {
    bytes: Vec<u8>,
    at: Vec<usize>,
}

impl Prefixes {
    fn new<B: AsRef<[u8]>>(buffers: &[B], sources: &[BufferSource<'_>]) -> Result<Self, CopyError> {
        let mut prefixes = Prefixes { bytes: Vec::new(), at: Vec::with_capacity(buffers.len() + 1) };
        prefixes.at.push(0);
        for (buffer_no, (buffer, source)) in buffers.iter().zip(sources).enumerate() {
            let header = ResultBuffer::parse_header(buffer.as_ref())
                .map_err(|error| CopyError::Buffer { buffer: buffer_no, error })?;
            push_prefix(&mut prefixes.bytes, source, &header);
            prefixes.at.push(prefixes.bytes.len());
        }
        Ok(prefixes)
    }

    fn of(&self, buffer: usize) -> &[u8] {
        &self.bytes[self.at[buffer]..self.at[buffer + 1]]
    }
}

/// One field of a [`copy_table`] row: a decoded column, borrowed, and how it is written.
enum Cells<'a> {
    Int4(&'a [i64], &'a [bool]),
    Int8(&'a [i64], &'a [bool]),
    UnsignedInt8(&'a [u64], &'a [bool]),
    Numeric(&'a [u64], &'a [bool]),
    Interval(&'a [u64], &'a [bool]),
    /// Text as `text`, octets as `bytea`: the same bytes on the wire.
    Bytes {
        offsets: &'a [usize],
        data: &'a [u8],
        valid: &'a [bool],
    },
}

/// What a decoded column holds, in words (for [`CopyError::Incompatible`]).
fn kind_of(column: &ColumnData) -> &'static str {
    match column {
        ColumnData::Int { .. } => "signed integers",
        ColumnData::UInt { .. } => "unsigned integers",
        ColumnData::Text { .. } => "text",
        ColumnData::Bytes { .. } => "octets",
    }
}

/// The one table of which type takes which kind of column.
fn fits(kind: &str, pg_type: PgType) -> bool {
    matches!(
        (kind, pg_type),
        ("signed integers", PgType::Int4 | PgType::Int8)
            | ("unsigned integers", PgType::Int8 | PgType::Numeric | PgType::Interval)
            | ("text", PgType::Text)
            | ("octets", PgType::Bytea)
    )
}

fn cells<'a>(table: &'a crate::parse::ParsedTable, types: &[PgType]) -> Result<Vec<Cells<'a>>, CopyError> {
    table
        .columns
        .iter()
        .zip(types)
        .map(|((name, column), &pg_type)| {
            if !fits(kind_of(column), pg_type) {
                return Err(CopyError::Incompatible {
                    column: name.clone(),
                    kind: kind_of(column),
                    requested: pg_type,
                });
            }
            Ok(match (column, pg_type) {
                (ColumnData::Int { values, valid }, PgType::Int4) => Cells::Int4(values, valid),
                (ColumnData::Int { values, valid }, _) => Cells::Int8(values, valid),
                (ColumnData::UInt { values, valid }, PgType::Int8) => Cells::UnsignedInt8(values, valid),
                (ColumnData::UInt { values, valid }, PgType::Numeric) => Cells::Numeric(values, valid),
                (ColumnData::UInt { values, valid }, _) => Cells::Interval(values, valid),
                (
                    ColumnData::Text { offsets, data, valid } | ColumnData::Bytes { offsets, data, valid },
                    _,
                ) => Cells::Bytes { offsets, data, valid },
            })
        })
        .collect()
}

impl Cells<'_> {
    /// At most how many bytes `rows` rows of this field take.
    fn max_bytes(&self, rows: usize) -> usize {
        match self {
            Cells::Int4(..) => rows * (4 + 4),
            Cells::Int8(..) | Cells::UnsignedInt8(..) => rows * (4 + 8),
            Cells::Numeric(..) => rows * (4 + NUMERIC_MAX_LEN),
            Cells::Interval(..) => rows * (4 + 16),
            Cells::Bytes { data, .. } => rows * 4 + data.len(),
        }
    }

    #[inline]
    fn write(&self, row: usize, out: &mut Vec<u8>) {
        match *self {
            Cells::Int4(values, valid) => match i32::try_from(values[row]) {
                Ok(value) if valid[row] => out.put_int4(value),
                _ => out.put_null(),
            },
            Cells::Int8(values, valid) if valid[row] => out.put_int8(values[row]),
            Cells::UnsignedInt8(values, valid) => match i64::try_from(values[row]) {
                Ok(value) if valid[row] => out.put_int8(value),
                _ => out.put_null(),
            },
            Cells::Numeric(values, valid) if valid[row] => out.put_numeric(values[row]),
            Cells::Interval(values, valid) => {
                // TimeTicks are hundredths of a second.
                match i64::try_from(values[row]).ok().and_then(|ticks| ticks.checked_mul(10_000)) {
                    Some(micros) if valid[row] => out.put_interval(micros),
                    _ => out.put_null(),
                }
            }
            Cells::Bytes { offsets, data, valid } if valid[row] => {
                out.put_bytes(&data[offsets[row]..offsets[row + 1]])
            }
            Cells::Int8(..) | Cells::Numeric(..) | Cells::Bytes { .. } => out.put_null(),
        }
    }
}

/// The largest numeric this module writes (u64::MAX: 5 base-10000 digits), without its length.
const NUMERIC_MAX_LEN: usize = 8 + 2 * 5;

/// A binary COPY stream's header, with room for `capacity` bytes of rows and the trailer.
fn start_copy(capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNATURE.len() + 8 + capacity + 2);
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    out
}

/// Appends the trailer.
fn finish_copy(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out
}

/// Rows and fields of a binary COPY stream, appended to its bytes.
trait PutField {
    /// Starts a row of `fields` fields (far fewer than i16::MAX: a table's columns).
    fn put_row(&mut self, fields: usize);
    fn put_null(&mut self);
    /// A text or bytea field (values come from result buffers, so below 4 GiB, and in practice
    /// far below PostgreSQL's 1 GiB field limit).
    fn put_bytes(&mut self, bytes: &[u8]);
    /// Starts a field whose bytes are appended next; [`PutField::end_field`] writes its length.
    fn begin_field(&mut self) -> usize;
    fn end_field(&mut self, at: usize);
    fn put_int4(&mut self, value: i32);
    fn put_int8(&mut self, value: i64);
    /// timestamptz: i64 µs since 2000-01-01 00:00 UTC, from µs since the Unix epoch.
    fn put_timestamptz(&mut self, unix_us: u64);
    /// interval: i64 µs, i32 days, i32 months (days and months 0: an exact duration).
    fn put_interval(&mut self, micros: i64);
    /// numeric (PostgreSQL's `numeric_send`): i16 ndigits, i16 weight, i16 sign, i16 dscale,
    /// then ndigits base-10000 digits, most significant first, the value being Σ digit\[i\] ×
    /// 10000^(weight − i). Trailing zero digits are left out (as PostgreSQL does: 10000 is one
    /// digit 1 of weight 1), and zero has no digits.
    fn put_numeric(&mut self, value: u64);
}

impl PutField for Vec<u8> {
    #[inline]
    fn put_row(&mut self, fields: usize) {
        self.extend_from_slice(&(fields as i16).to_be_bytes());
    }

    #[inline]
    fn put_null(&mut self) {
        self.extend_from_slice(&(-1i32).to_be_bytes());
    }

    #[inline]
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        self.extend_from_slice(bytes);
    }

    #[inline]
    fn begin_field(&mut self) -> usize {
        let at = self.len();
        self.extend_from_slice(&[0; 4]);
        at
    }

    #[inline]
    fn end_field(&mut self, at: usize) {
        let len = (self.len() - at - 4) as i32;
        self[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    #[inline]
    fn put_int4(&mut self, value: i32) {
        let [a, b, c, d] = value.to_be_bytes();
        self.extend_from_slice(&[0, 0, 0, 4, a, b, c, d]);
    }

    #[inline]
    fn put_int8(&mut self, value: i64) {
        self.extend_from_slice(&8i32.to_be_bytes());
        self.extend_from_slice(&value.to_be_bytes());
    }

    fn put_timestamptz(&mut self, unix_us: u64) {
        self.put_int8(i64::try_from(unix_us).unwrap_or(i64::MAX).saturating_sub(POSTGRES_EPOCH_US));
    }

    #[inline]
    fn put_interval(&mut self, micros: i64) {
        self.extend_from_slice(&16i32.to_be_bytes());
        self.extend_from_slice(&micros.to_be_bytes());
        self.extend_from_slice(&[0; 8]);
    }

    #[inline]
    fn put_numeric(&mut self, value: u64) {
        // Base-10000 digits, least significant first.
        let mut digits = [0u16; 5];
        let mut count = 0;
        let mut rest = value;
        while rest > 0 {
            digits[count] = (rest % 10_000) as u16;
            rest /= 10_000;
            count += 1;
        }
        let weight = count.saturating_sub(1) as i16;
        let trailing_zeros = digits[..count].iter().take_while(|&&d| d == 0).count();
        let kept = &digits[trailing_zeros..count];
        self.extend_from_slice(&((8 + 2 * kept.len()) as i32).to_be_bytes());
        self.extend_from_slice(&(kept.len() as i16).to_be_bytes());
        self.extend_from_slice(&weight.to_be_bytes());
        self.extend_from_slice(&[0, 0, 0, 0]); // sign: positive; display scale 0
        for digit in kept.iter().rev() {
            self.extend_from_slice(&digit.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oid::Oid;
    use crate::parse::{IndexField, ValueKind};

    fn field(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out);
        out
    }

    fn numeric(value: u64) -> Vec<u8> {
        field(|w| w.put_numeric(value))
    }

    #[test]
    fn fixed_size_types_encode_big_endian_with_their_length() {
        assert_eq!(field(|w| w.put_int4(-2)), [0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(field(|w| w.put_int8(0x0102_0304_0506_0708)), [0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(field(|w| w.put_null()), [0xff; 4]);
        // 12345 ticks = 123.45 s = 123_450_000 µs = 0x75b_b290 (days and months 0).
        assert_eq!(
            field(|w| w.put_interval(123_450_000)),
            [0, 0, 0, 16, 0, 0, 0, 0, 0x07, 0x5b, 0xb2, 0x90, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // 2000-01-01 00:00 UTC is 0; one second later is 1_000_000 = 0xF4240.
        assert_eq!(field(|w| w.put_timestamptz(946_684_800_000_000)), [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            field(|w| w.put_timestamptz(946_684_801_000_000)),
            [0, 0, 0, 8, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40]
        );
        // Before 2000: negative.
        assert_eq!(
            field(|w| w.put_timestamptz(946_684_799_999_999)),
            [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn text_and_bytea_are_length_and_bytes() {
        assert_eq!(field(|w| w.put_bytes("é".as_bytes())), [0, 0, 0, 2, 0xc3, 0xa9]);
        assert_eq!(field(|w| w.put_bytes(&[0, 0xff])), [0, 0, 0, 2, 0, 0xff]);
        assert_eq!(field(|w| w.put_bytes(b"")), [0, 0, 0, 0]);
        let mut out = Vec::new();
        let at = out.begin_field();
        out.extend_from_slice(b"abc");
        out.end_field(at);
        assert_eq!(out, [0, 0, 0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn numerics_are_base_10000_digits_most_significant_first() {
        // length; ndigits, weight, sign, dscale; digits
        assert_eq!(numeric(0), [0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(numeric(1), [0, 0, 0, 10, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(numeric(9999), [0, 0, 0, 10, 0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x0f]);
        // 10000 = 1 × 10000^1: one digit, weight 1, the trailing zero digit left out.
        assert_eq!(numeric(10_000), [0, 0, 0, 10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1]);
        // 12345678 = 1234 × 10000 + 5678.
        assert_eq!(numeric(12_345_678), [0, 0, 0, 12, 0, 2, 0, 1, 0, 0, 0, 0, 0x04, 0xd2, 0x16, 0x2e]);
        // 18446744073709551615 = 1844 6744 0737 0955 1615.
        let digits = [1844u16, 6744, 737, 955, 1615].map(u16::to_be_bytes).concat();
        let max = [&[0, 0, 0, 18, 0, 5, 0, 4, 0, 0, 0, 0][..], &digits].concat();
        assert_eq!(numeric(u64::MAX), max);
        // A zero digit in the middle stays; 10^8 = 1 × 10000^2.
        assert_eq!(numeric(100_000_000), [0, 0, 0, 10, 0, 1, 0, 2, 0, 0, 0, 0, 0, 1]);
        assert_eq!(numeric(100_000_001), [0, 0, 0, 14, 0, 3, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn type_names_round_trip() {
        for pg_type in PgType::ALL {
            assert_eq!(PgType::parse(pg_type.name()), Ok(pg_type));
        }
        assert_eq!(PgType::Numeric.sql_name(), "numeric(20,0)");
        assert_eq!(PgType::Int4.sql_name(), "integer");
        let error = PgType::parse("int4").unwrap_err();
        assert_eq!(error, CopyError::UnknownType("int4".into()));
        assert!(error.to_string().contains("integer, bigint, numeric, text, bytea or interval"), "{error}");
    }

    /// A reader of binary COPY streams, independent of the writer: rows of fields (None: NULL).
    fn read_copy(stream: &[u8]) -> Vec<Vec<Field>> {
        assert_eq!(&stream[..11], SIGNATURE);
        assert_eq!(&stream[11..19], [0; 8]);
        let mut at = 19;
        let mut take = |n: usize| {
            let bytes = &stream[at..at + n];
            at += n;
            bytes
        };
        let mut rows = Vec::new();
        loop {
            let fields = i16::from_be_bytes(take(2).try_into().unwrap());
            if fields == -1 {
                break;
            }
            let row = (0..fields)
                .map(|_| match i32::from_be_bytes(take(4).try_into().unwrap()) {
                    -1 => None,
                    len => Some(take(len as usize).to_vec()),
                })
                .collect();
            rows.push(row);
        }
        assert_eq!(at, stream.len(), "bytes after the trailer");
        rows
    }

    /// A field read back: its bytes, or None for NULL.
    type Field = Option<Vec<u8>>;

    fn text(field: &Field) -> Option<&str> {
        field.as_deref().map(|bytes| std::str::from_utf8(bytes).unwrap())
    }

    fn golden() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/all-types-v1.bin")).unwrap()
    }

    const SOURCE: BufferSource<'static> = BufferSource { result_id: "msg-1", host: "10.0.0.9:161" };
    /// The golden buffer's start, 1_700_000_000 s after the Unix epoch, in PostgreSQL's epoch.
    const GOLDEN_START: i64 = 1_700_000_000_000_000 - 946_684_800_000_000;

    fn assert_prefix(row: &[Field]) {
        assert_eq!(text(&row[0]), Some("msg-1"));
        assert_eq!(text(&row[1]), Some("10.0.0.9:161"));
        assert_eq!(text(&row[2]), Some("job-7"));
        assert_eq!(row[3].as_deref(), Some(&GOLDEN_START.to_be_bytes()[..]));
    }

    #[test]
    fn no_buffers_is_header_and_trailer() {
        let spec = TableSpec {
            index: vec![],
            columns: vec![("c".into(), Oid::parse("1.3").unwrap(), ValueKind::Utf8)],
        };
        let expected = [&SIGNATURE[..], &[0; 8], &[0xff, 0xff]].concat();
        assert_eq!(copy_table::<&[u8]>(&spec, &[], &[PgType::Text], &[]).unwrap(), expected);
        assert_eq!(copy_varbinds::<&[u8]>(&[], &[]).unwrap(), expected);
    }

    #[test]
    fn varbinds_of_the_golden_buffer() {
        let rows = read_copy(&copy_varbinds(&[golden()], &[SOURCE]).unwrap());
        let if_descr = ".1.3.6.1.2.1.2.2.1.2";
        let hc_in = ".1.3.6.1.2.1.31.1.1.1.6";
        let expected: [(&str, &str, &str, Option<&str>); 8] = [
            ("1", if_descr, "STRING", Some("lo")),
            ("1", hc_in, "Counter64", Some("18446744073709551614")),
            ("2", if_descr, "INTEGER", Some("-5")),
            ("3", if_descr, "INTEGER", Some("2147483648")),
            ("4.1", if_descr, "OID", Some(".1.3.6.1")),
            ("5", if_descr, "Timeticks", Some("12345")),
            ("6", if_descr, "IpAddress", Some("10.0.0.1")),
            ("7", if_descr, "noSuchInstance", None),
        ];
        assert_eq!(rows.len(), expected.len());
        for (row, (index, root, type_name, value)) in rows.iter().zip(expected) {
            assert_eq!(row.len(), VARBIND_COLUMNS.len());
            assert_prefix(row);
            assert_eq!(text(&row[4]), Some(format!("{root}.{index}").as_str()));
            assert_eq!(text(&row[5]), Some(root));
            assert_eq!(text(&row[6]), Some(index));
            assert_eq!(text(&row[7]), Some(type_name));
            assert_eq!(text(&row[8]), value);
            let octets = (type_name == "STRING").then(|| b"lo".to_vec());
            assert_eq!(row[9], octets);
        }
    }

    #[test]
    fn varbind_values_render_by_type() {
        let render = |t: u8, value: &[u8]| {
            let mut out = Vec::new();
            render_value(t, value, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(render(tag::OCTET_STRING, "tab\there\r\n é".as_bytes()), "tab\there\r\n é");
        assert_eq!(render(tag::OCTET_STRING, b"\x00\x1a"), "001a");
        assert_eq!(render(tag::OCTET_STRING, b"bell\x07"), "62656c6c07");
        assert_eq!(render(tag::OCTET_STRING, "\u{85}".as_bytes()), "c285"); // a C1 control
        assert_eq!(render(tag::OCTET_STRING, &[0xff]), "ff");
        assert_eq!(render(tag::OCTET_STRING, b""), "");
        assert_eq!(render(tag::OPAQUE, b"ab"), "6162");
        assert_eq!(render(0x99, &[1, 2]), "0102");
        assert_eq!(render(tag::GAUGE32, &u32::MAX.to_le_bytes()), "4294967295");
        assert_eq!(render(tag::UINTEGER32, &7u32.to_le_bytes()), "7");
        assert_eq!(render(tag::COUNTER32, &[1, 2]), "0102"); // a broken length: hex
        assert_eq!(render(tag::INTEGER, &i64::MIN.to_le_bytes()), "-9223372036854775808");
        assert_eq!(render(tag::OBJECT_ID, &[]), "");
        assert_eq!(render(tag::IP_ADDRESS, &[1, 2, 3]), "010203");
    }

    fn golden_spec(kind: ValueKind, root: &str) -> TableSpec {
        TableSpec {
            index: vec![("ifIndex".into(), IndexField::Integer)],
            columns: vec![("value".into(), Oid::parse(root).unwrap(), kind)],
        }
    }

    /// The golden buffer's rows through a spec of one column: (index, value) fields.
    fn golden_table(kind: ValueKind, root: &str, types: [PgType; 2]) -> Vec<(Field, Field)> {
        let out = copy_table(&golden_spec(kind, root), &[golden()], &types, &[SOURCE]).unwrap();
        read_copy(&out)
            .into_iter()
            .map(|row| {
                assert_eq!(row.len(), 6);
                assert_prefix(&row);
                (row[4].clone(), row[5].clone())
            })
            .collect()
    }

    const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";

    #[test]
    fn tables_of_the_golden_buffer() {
        let int4 = |v: i32| Some(v.to_be_bytes().to_vec());
        let int8 = |v: i64| Some(v.to_be_bytes().to_vec());
        // Rows of root 0 by index: 1 .. 7, where [4.1] is no integer index (NULL).
        let index: Vec<_> = [Some(1), Some(2), Some(3), None, Some(5), Some(6), Some(7)]
            .into_iter()
            .map(|i: Option<i64>| i.and_then(int8))
            .collect();
        let rows = golden_table(ValueKind::Integer, IF_DESCR, [PgType::Int8, PgType::Int4]);
        assert_eq!(rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(), index);
        // -5 fits integer; 2^31 does not, and is NULL.
        let values: Vec<_> = rows.iter().map(|r| r.1.clone()).collect();
        assert_eq!(values, vec![None, int4(-5), None, None, None, None, None]);
        let rows = golden_table(ValueKind::Integer, IF_DESCR, [PgType::Numeric, PgType::Int8]);
        assert_eq!(rows[0].0, Some(numeric(1)[4..].to_vec()));
        assert_eq!(rows[2].1, int8(1 << 31));

        let rows = golden_table(ValueKind::TimeTicks, IF_DESCR, [PgType::Int8, PgType::Interval]);
        assert_eq!(rows[4].1, Some(field(|w| w.put_interval(123_450_000))[4..].to_vec()));
        assert_eq!(rows.iter().filter(|r| r.1.is_some()).count(), 1);

        let rows = golden_table(ValueKind::Utf8, IF_DESCR, [PgType::Int8, PgType::Text]);
        assert_eq!(rows[0].1.as_deref(), Some(&b"lo"[..]));
        let rows = golden_table(ValueKind::Octets, IF_DESCR, [PgType::Int8, PgType::Bytea]);
        // Octets take OCTET STRING and IpAddress values.
        assert_eq!(rows[0].1.as_deref(), Some(&b"lo"[..]));
        assert_eq!(rows[5].1.as_deref(), Some(&[10, 0, 0, 1][..]));

        // Counter64 2^64 - 2: numeric holds it; bigint cannot (NULL).
        let hc_in = "1.3.6.1.2.1.31.1.1.1.6";
        let rows = golden_table(ValueKind::Counter64, hc_in, [PgType::Int8, PgType::Numeric]);
        assert_eq!(rows, vec![(int8(1), Some(numeric(u64::MAX - 1)[4..].to_vec()))]);
        let rows = golden_table(ValueKind::Counter64, hc_in, [PgType::Int8, PgType::Int8]);
        assert_eq!(rows, vec![(int8(1), None)]);
    }

    #[test]
    fn spec_and_argument_errors_come_first_and_name_the_problem() {
        let spec = golden_spec(ValueKind::Utf8, IF_DESCR);
        let mut corrupt = golden();
        corrupt.truncate(40);
        let buffers = [golden(), corrupt];
        let sources = [SOURCE, SOURCE];
        let error = copy_table(&spec, &buffers, &[PgType::Int4, PgType::Text], &sources).unwrap_err();
        assert_eq!(
            error,
            CopyError::Incompatible {
                column: "ifIndex".into(),
                kind: "unsigned integers",
                requested: PgType::Int4
            }
        );
        assert_eq!(
            error.to_string(),
            "column \"ifIndex\" holds unsigned integers, which cannot be written as integer \
             (use bigint, numeric or interval)"
        );
        let error = copy_table(&spec, &buffers, &[PgType::Int8, PgType::Bytea], &sources).unwrap_err();
        assert!(
            matches!(error, CopyError::Incompatible { ref column, kind: "text", .. } if column == "value")
        );
        let error = copy_table(&spec, &buffers, &[PgType::Int8], &sources).unwrap_err();
        assert_eq!(error, CopyError::TypeCount { fields: 2, types: 1 });
        let error = copy_table(&spec, &buffers, &[PgType::Int8, PgType::Text], &sources[..1]).unwrap_err();
        assert_eq!(error, CopyError::SourceCount { buffers: 2, sources: 1 });
        assert_eq!(copy_varbinds(&buffers, &sources[..1]).unwrap_err(), error);

        for error in [
            copy_table(&spec, &buffers, &[PgType::Int8, PgType::Text], &sources).unwrap_err(),
            copy_varbinds(&buffers, &sources).unwrap_err(),
        ] {
            let CopyError::Buffer { buffer, ref error } = error else { panic!("{error}") };
            assert_eq!(buffer, 1);
            assert!(error.message.contains("truncated"), "{error}");
        }
    }

    #[test]
    fn empty_request_ids_are_null_and_invalid_utf8_is_replaced() {
        let mut buffer = golden();
        // The request id "job-7" (5 bytes at offset 24): make it invalid UTF-8.
        buffer[28] = 0xff;
        let rows = read_copy(&copy_varbinds(&[&buffer], &[SOURCE]).unwrap());
        assert_eq!(text(&rows[0][2]), Some("\u{fffd}ob-7"));

        let roots: [&[u32]; 1] = [&[1, 3]];
        let mut encoder = crate::encode::Encoder::new(crate::request::RequestKind::Get, 0, b"", &roots);
        encoder.record(0, &[], &crate::ber::Value::Null, 0);
        let rows = read_copy(&copy_varbinds(&[encoder.finish()], &[SOURCE]).unwrap());
        let row = &rows[0];
        assert_eq!(row[2], None);
        // The Unix epoch, 30 years before PostgreSQL's.
        assert_eq!(row[3].as_deref(), Some(&(-POSTGRES_EPOCH_US).to_be_bytes()[..]));
        assert_eq!((text(&row[4]), text(&row[5]), text(&row[6])), (Some(".1.3"), Some(".1.3"), Some("")));
        assert_eq!((text(&row[7]), &row[8], &row[9]), (Some("NULL"), &None, &None));
    }
}
