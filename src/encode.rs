//! The result buffer: one compact, versioned, little-endian byte buffer per request.
//!
//! The byte-by-byte specification is `docs/FORMAT.md`; this module writes it ([`Encoder`]) and
//! reads it back ([`ResultBuffer`]). Summary:
//!
//! ```text
//! header   magic "SNMS" | version u8 = 1 | kind u8 | reserved u16 | start_us u64
//!          | record_count u32 | root_count u32
//! req id   len u32 | bytes
//! roots    (subid_count u8 | subids u32 × count) × root_count
//! records  (root_index u16 | type u8 | index_len u8 | time_ms u32 | index u32 × index_len
//!          | value_len u32 | value bytes) × record_count
//! ```
//! Values are decodable without the producer's C ABI: INTEGER as i32 (i64 when it does not
//! fit), Counter32/Gauge32/TimeTicks as u32, Counter64 as u64, OIDs as u32 sub-ids, strings and
//! IpAddress as raw octets.

use std::fmt;

use crate::ber::Value;
use crate::request::RequestKind;
use crate::tag;
use crate::value::RecordValue;

/// The four bytes every result buffer starts with.
pub const MAGIC: &[u8; 4] = b"SNMS";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Size of the fixed header.
pub const HEADER_LEN: usize = 24;
const RECORD_COUNT_OFFSET: usize = 16;

/// Writes one request's result buffer.
#[derive(Debug)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
    records: u32,
}

impl Encoder {
    /// Writes the header, request id and roots.
    pub fn new(kind: RequestKind, start_us: u64, req_id: &[u8], roots: &[&[u32]]) -> Self {
        let roots_len: usize = roots.iter().map(|r| 1 + 4 * r.len()).sum();
        // Room for a few records: a request in flight holds this, so it starts small (10,000
        // requests in flight with 4 KiB each would be 40 MiB) and grows by doubling.
        let mut buf = Vec::with_capacity(HEADER_LEN + 4 + req_id.len() + roots_len + 256);
        buf.extend_from_slice(MAGIC);
        buf.push(FORMAT_VERSION);
        buf.push(match kind {
            RequestKind::Get => 0,
            RequestKind::Walk => 1,
        });
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&start_us.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes()); // record count, patched by finish()
        buf.extend_from_slice(&(roots.len() as u32).to_le_bytes());
        buf.extend_from_slice(&(req_id.len() as u32).to_le_bytes());
        buf.extend_from_slice(req_id);
        for root in roots {
            // Request validation caps OIDs at 128 sub-ids, so the count fits a byte.
            buf.push(root.len() as u8);
            for subid in *root {
                buf.extend_from_slice(&subid.to_le_bytes());
            }
        }
        Encoder { buf, records: 0 }
    }

    /// Appends one record. `index` is the response OID minus its root.
    pub fn record(&mut self, root_index: u16, index: &[u32], value: &Value<'_>, time_ms: u32) {
        // The common record (a short index, a number or a string) is put together on the stack
        // and appended with one or two copies.
        let fixed = match *value {
            Value::Integer(v) => match i32::try_from(v) {
                Ok(small) => Some((tag::INTEGER, u64::from(small as u32), 4)),
                Err(_) => Some((tag::INTEGER, v as u64, 8)),
            },
            Value::Unsigned(t, v) => Some((t, u64::from(v), 4)),
            Value::Unsigned64(t, v) => Some((t, v, 8)),
            Value::Bytes(t, _) => Some((t, 0, 0)),
            _ => None,
        };
        if let (Some((value_type, number, width)), true) = (fixed, index.len() <= SHORT_INDEX) {
            let mut record = [0u8; 8 + 4 * SHORT_INDEX + 12];
            record[..2].copy_from_slice(&root_index.to_le_bytes());
            record[2] = value_type;
            record[3] = index.len() as u8;
            record[4..8].copy_from_slice(&time_ms.to_le_bytes());
            let mut at = 8;
            for &subid in index {
                record[at..at + 4].copy_from_slice(&subid.to_le_bytes());
                at += 4;
            }
            let bytes = match *value {
                Value::Bytes(_, bytes) => bytes,
                _ => &[],
            };
            let length = if width > 0 { width } else { bytes.len() };
            record[at..at + 4].copy_from_slice(&(length as u32).to_le_bytes());
            record[at + 4..at + 12].copy_from_slice(&number.to_le_bytes());
            self.buf.extend_from_slice(&record[..at + 4 + width]);
            self.buf.extend_from_slice(bytes);
            self.records += 1;
            return;
        }
        let buf = &mut self.buf;
        buf.reserve(16 + 4 * index.len()); // the fixed fields, the index and a small value
        buf.extend_from_slice(&root_index.to_le_bytes());
        let type_at = buf.len();
        buf.push(0); // the type tag, set below with the value
                     // Index length is at most 128 sub-ids (net-snmp's MAX_OID_LEN), so it fits a byte.
        buf.push(index.len() as u8);
        buf.extend_from_slice(&time_ms.to_le_bytes());
        put_subids(buf, index);
        buf[type_at] = match *value {
            Value::Integer(v) => {
                match i32::try_from(v) {
                    Ok(small) => put_value(buf, &small.to_le_bytes()),
                    Err(_) => put_value(buf, &v.to_le_bytes()),
                }
                tag::INTEGER
            }
            Value::Unsigned(t, v) => {
                put_value(buf, &v.to_le_bytes());
                t
            }
            Value::Unsigned64(t, v) => {
                put_value(buf, &v.to_le_bytes());
                t
            }
            Value::Bytes(t, bytes) => {
                put_value(buf, bytes);
                t
            }
            Value::ObjectId(subids) => {
                buf.extend_from_slice(&((subids.len() * 4) as u32).to_le_bytes());
                put_subids(buf, subids);
                tag::OBJECT_ID
            }
            Value::Null => {
                put_value(buf, &[]);
                tag::NULL
            }
            Value::NoSuchObject => {
                put_value(buf, &[]);
                tag::NO_SUCH_OBJECT
            }
            Value::NoSuchInstance => {
                put_value(buf, &[]);
                tag::NO_SUCH_INSTANCE
            }
            Value::EndOfMibView => {
                put_value(buf, &[]);
                tag::END_OF_MIB_VIEW
            }
        };
        self.records += 1;
    }

    /// Patches the record count and returns the buffer.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf[RECORD_COUNT_OFFSET..RECORD_COUNT_OFFSET + 4].copy_from_slice(&self.records.to_le_bytes());
        self.buf
    }
}

/// Writes a length-prefixed value.
/// Appends sub-ids as u32 little-endian.
/// Indexes up to this many sub-ids take [`Encoder::record`]'s fast path.
const SHORT_INDEX: usize = 24;

fn put_subids(buf: &mut Vec<u8>, subids: &[u32]) {
    let start = buf.len();
    buf.resize(start + 4 * subids.len(), 0);
    for (out, &subid) in buf[start..].chunks_exact_mut(4).zip(subids) {
        out.copy_from_slice(&subid.to_le_bytes());
    }
}

fn put_value(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// A result buffer that could not be read: what is wrong and at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad result buffer at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for FormatError {}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        match self.pos.checked_add(n).filter(|&end| end <= self.buf.len()) {
            Some(end) => {
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Ok(bytes)
            }
            None => Err(FormatError {
                offset: self.pos,
                message: format!("truncated: {what} needs {n} bytes, {} left", self.buf.len() - self.pos),
            }),
        }
    }
    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.take(2, what)?.try_into().unwrap_or_default()))
    }
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap_or_default()))
    }
    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap_or_default()))
    }
}

/// A parsed, validated view of a result buffer.
#[derive(Debug, Clone)]
pub struct ResultBuffer<'a> {
    /// GET or WALK.
    pub kind: RequestKind,
    /// When collection started, in microseconds since the Unix epoch.
    pub start_us: u64,
    /// The request id bytes (empty when none was given).
    pub req_id: &'a [u8],
    /// The root OIDs, in request order.
    pub roots: Vec<Vec<u32>>,
    /// Number of records.
    pub record_count: u32,
    records_at: usize,
    buf: &'a [u8],
}

/// One record of a [`ResultBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Index into [`ResultBuffer::roots`].
    pub root_index: u16,
    /// The SNMP type tag (see [`tag`]).
    pub value_type: u8,
    /// Milliseconds after `start_us` when the varbind arrived.
    pub time_ms: u32,
    index: &'a [u8],
    /// The value bytes, encoded as `docs/FORMAT.md` says for `value_type`.
    pub value: &'a [u8],
}

impl<'a> Record<'a> {
    /// The value, read by its type tag (for display and tools; the parser reads columns in
    /// bulk without this). Its `Display` is net-snmp's.
    pub fn typed_value(&self) -> RecordValue<'a> {
        RecordValue::decode(self.value_type, self.value)
    }

    /// The index sub-ids (the response OID minus its root).
    pub fn index(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.index.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The index as stored: u32 little-endian sub-ids.
    pub(crate) fn index_bytes(&self) -> &'a [u8] {
        self.index
    }
}

impl<'a> ResultBuffer<'a> {
    /// Parses the header only, for a reader that needs only its fields (request id, roots) or
    /// checks the records as it reads them ([`Self::records`]).
    pub fn parse_header(buf: &'a [u8]) -> Result<Self, FormatError> {
        let mut r = Reader { buf, pos: 0 };
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(FormatError { offset: 0, message: format!("magic is {magic:?}, not \"SNMS\"") });
        }
        let version = r.u8("version")?;
        if version != FORMAT_VERSION {
            return Err(FormatError {
                offset: 4,
                message: format!("format version {version}, this reader knows {FORMAT_VERSION}"),
            });
        }
        let kind = match r.u8("kind")? {
            0 => RequestKind::Get,
            1 => RequestKind::Walk,
            other => return Err(FormatError { offset: 5, message: format!("unknown request kind {other}") }),
        };
        r.take(2, "reserved")?;
        let start_us = r.u64("start time")?;
        let record_count = r.u32("record count")?;
        let root_count = r.u32("root count")?;
        let req_id_len = r.u32("request id length")? as usize;
        let req_id = r.take(req_id_len, "request id")?;
        let mut roots = Vec::new();
        for _ in 0..root_count {
            let len = r.u8("root length")? as usize;
            let bytes = r.take(len * 4, "root OID")?;
            roots.push(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
        }
        Ok(ResultBuffer { kind, start_us, req_id, roots, record_count, records_at: r.pos, buf })
    }

    /// Parses the header and checks every record's bounds and root index.
    pub fn parse(buf: &'a [u8]) -> Result<Self, FormatError> {
        let parsed = Self::parse_header(buf)?;
        parsed.visit_records(|_| {})?;
        Ok(parsed)
    }

    /// Calls `visit` with each record in order, checking bounds, root indexes and that nothing
    /// follows the last record (one pass: for readers that decode as they go).
    ///
    /// The hot loop reads each record's fixed fields with one slice and makes three bounds checks
    /// (fixed fields; index and value length; value), without building errors; anything
    /// unexpected goes to [`RecordWalker`], which describes the problem.
    #[inline]
    pub(crate) fn visit_records(&self, mut visit: impl FnMut(Record<'a>)) -> Result<(), FormatError> {
        let buf = self.buf;
        let roots = self.roots.len();
        let mut pos = self.records_at;
        for left in (1..=self.record_count).rev() {
            let (record, end) = match fast_record(buf, pos, roots) {
                Some(found) => found,
                None => slow_record(buf, pos, roots, left)?,
            };
            pos = end;
            visit(record);
        }
        let end = pos;
        if end != self.buf.len() {
            return Err(FormatError {
                offset: end,
                message: format!("{} unexpected bytes after the last record", self.buf.len() - end),
            });
        }
        Ok(())
    }

    fn raw_records(&self) -> RecordWalker<'a> {
        RecordWalker {
            reader: Reader { buf: self.buf, pos: self.records_at },
            roots: self.roots.len(),
            left: self.record_count,
        }
    }

    /// The records, in arrival order.
    pub fn records(&self) -> impl Iterator<Item = Result<Record<'a>, FormatError>> + 'a {
        let mut walker = self.raw_records();
        std::iter::from_fn(move || (walker.left > 0).then(|| walker.next_record()))
    }
}

/// The record at `pos` and where it ends, when it is well-formed (`None` otherwise, for
/// [`slow_record`] to say why).
#[inline(always)]
fn fast_record(buf: &[u8], pos: usize, roots: usize) -> Option<(Record<'_>, usize)> {
    let &[r0, r1, value_type, index_len, t0, t1, t2, t3] = buf.get(pos..pos.wrapping_add(8))? else {
        return None;
    };
    let root_index = u16::from_le_bytes([r0, r1]);
    let index_at = pos + 8;
    // At most 8 + 4 × 255 + 4 bytes past `pos`: cannot overflow.
    let value_len_at = index_at + 4 * usize::from(index_len);
    let &[l0, l1, l2, l3] = buf.get(value_len_at..value_len_at + 4)? else { return None };
    let value_at = value_len_at + 4;
    let value_len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    if usize::from(root_index) >= roots || value_len > buf.len() - value_at {
        return None;
    }
    let end = value_at + value_len;
    let record = Record {
        root_index,
        value_type,
        time_ms: u32::from_le_bytes([t0, t1, t2, t3]),
        index: &buf[index_at..value_len_at],
        value: &buf[value_at..end],
    };
    Some((record, end))
}

/// The record at `pos` read field by field: the error that says what does not fit.
#[cold]
#[inline(never)]
fn slow_record(buf: &[u8], pos: usize, roots: usize, left: u32) -> Result<(Record<'_>, usize), FormatError> {
    let mut walker = RecordWalker { reader: Reader { buf, pos }, roots, left };
    let record = walker.next_record()?;
    Ok((record, walker.reader.pos))
}

struct RecordWalker<'a> {
    reader: Reader<'a>,
    roots: usize,
    left: u32,
}

impl<'a> RecordWalker<'a> {
    fn next_record(&mut self) -> Result<Record<'a>, FormatError> {
        let r = &mut self.reader;
        let at = r.pos;
        let root_index = r.u16("record root index")?;
        if usize::from(root_index) >= self.roots {
            self.left = 0;
            return Err(FormatError {
                offset: at,
                message: format!("record root index {root_index} but only {} roots", self.roots),
            });
        }
        let value_type = r.u8("record type")?;
        let index_len = r.u8("record index length")? as usize;
        let time_ms = r.u32("record time")?;
        let index = r.take(index_len * 4, "record index")?;
        let value_len = r.u32("record value length")? as usize;
        let value = r.take(value_len, "record value")?;
        self.left = self.left.saturating_sub(1);
        Ok(Record { root_index, value_type, time_ms, index, value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let roots: [&[u32]; 2] = [&[1, 3, 6, 1, 2, 1, 2, 2, 1, 2], &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6]];
        let mut enc = Encoder::new(RequestKind::Walk, 1_700_000_000_000_000, b"job-7", &roots);
        enc.record(0, &[1], &Value::Bytes(tag::OCTET_STRING, b"lo"), 3);
        enc.record(1, &[1], &Value::Unsigned64(tag::COUNTER64, u64::MAX - 1), 3);
        enc.record(0, &[2], &Value::Integer(-5), 4);
        enc.record(0, &[3], &Value::Integer(i64::from(i32::MAX) + 1), 4);
        enc.record(0, &[4, 1], &Value::ObjectId(&[1, 3, 6, 1]), 5);
        enc.record(0, &[5], &Value::Unsigned(tag::TIMETICKS, 12345), 5);
        enc.record(0, &[6], &Value::Bytes(tag::IP_ADDRESS, &[10, 0, 0, 1]), 6);
        enc.record(0, &[7], &Value::NoSuchInstance, 6);
        enc.finish()
    }

    #[test]
    fn round_trips_header_and_records() {
        let buf = sample();
        let parsed = ResultBuffer::parse(&buf).unwrap();
        assert_eq!(parsed.kind, RequestKind::Walk);
        assert_eq!(parsed.req_id, b"job-7");
        assert_eq!(parsed.start_us, 1_700_000_000_000_000);
        assert_eq!(parsed.roots[1], vec![1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6]);
        assert_eq!(parsed.record_count, 8);
        let records: Vec<Record<'_>> = parsed.records().map(Result::unwrap).collect();
        assert_eq!(records[0].value, b"lo");
        assert_eq!(records[1].value, (u64::MAX - 1).to_le_bytes());
        assert_eq!(records[1].value_type, tag::COUNTER64);
        assert_eq!(records[2].value, (-5i32).to_le_bytes());
        assert_eq!(records[3].value, (i64::from(i32::MAX) + 1).to_le_bytes());
        assert_eq!(records[4].index().collect::<Vec<_>>(), vec![4, 1]);
        assert_eq!(
            records[4].value,
            [1u32, 3, 6, 1].iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<_>>()
        );
        assert_eq!(records[5].value, 12345u32.to_le_bytes());
        assert_eq!(records[6].value, [10, 0, 0, 1]);
        assert_eq!((records[7].value_type, records[7].value), (tag::NO_SUCH_INSTANCE, &[][..]));
        let typed: Vec<RecordValue<'_>> = records.iter().map(Record::typed_value).collect();
        assert_eq!(
            typed,
            [
                RecordValue::OctetString(b"lo"),
                RecordValue::Counter64(u64::MAX - 1),
                RecordValue::Integer(-5),
                RecordValue::Integer(i64::from(i32::MAX) + 1),
                RecordValue::ObjectId(vec![1, 3, 6, 1]),
                RecordValue::TimeTicks(12345),
                RecordValue::IpAddress(std::net::Ipv4Addr::new(10, 0, 0, 1)),
                RecordValue::NoSuchInstance,
            ]
        );
        assert_eq!(records[7].time_ms, 6);
    }

    #[test]
    fn golden_bytes_are_stable() {
        // Changing these bytes means changing the format: bump FORMAT_VERSION and docs/FORMAT.md.
        let roots: [&[u32]; 1] = [&[1, 3]];
        let mut enc = Encoder::new(RequestKind::Get, 0x0102030405060708, b"r", &roots);
        enc.record(0, &[0], &Value::Integer(1), 2);
        let expected: Vec<u8> = [
            &b"SNMS"[..],
            &[1, 0, 0, 0],
            &[8, 7, 6, 5, 4, 3, 2, 1],
            &[1, 0, 0, 0],
            &[1, 0, 0, 0],
            &[1, 0, 0, 0, b'r'],
            &[2, 1, 0, 0, 0, 3, 0, 0, 0],
            &[0, 0, 0x02, 1, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0],
        ]
        .concat();
        assert_eq!(enc.finish(), expected);
    }

    /// `tests/fixtures/golden/all-types-v1.bin` is `sample()`: shared with other readers' tests
    /// (the Python parser), it pins format version 1. Regenerate it only with a version bump:
    /// `SNMP_STREAM_WRITE_GOLDEN=1 cargo test --lib golden_file`.
    #[test]
    fn golden_file_matches_the_encoder() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/all-types-v1.bin");
        if std::env::var_os("SNMP_STREAM_WRITE_GOLDEN").is_some() {
            std::fs::write(path, sample()).unwrap();
        }
        let golden = std::fs::read(path).unwrap();
        assert_eq!(golden, sample());
        assert_eq!(ResultBuffer::parse(&golden).unwrap().record_count, 8);
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        let buf = sample();
        for cut in 0..buf.len() {
            let err = ResultBuffer::parse(&buf[..cut]).unwrap_err();
            assert!(err.offset <= cut, "cut {cut}: {err}");
        }
        let mut extra = buf.clone();
        extra.push(0);
        assert!(ResultBuffer::parse(&extra).unwrap_err().message.contains("unexpected bytes"));
        let mut wrong_version = buf.clone();
        wrong_version[4] = 9;
        assert!(ResultBuffer::parse(&wrong_version).unwrap_err().to_string().contains("format version 9"));
        let mut bad_root = buf;
        let first_record = ResultBuffer::parse(&sample()).unwrap().records_at;
        bad_root[first_record] = 7;
        assert!(ResultBuffer::parse(&bad_root).unwrap_err().message.contains("root index 7"));
    }
}
