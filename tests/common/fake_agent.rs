//! A deliberately configurable fake SNMPv1/v2c agent for integration tests.
//!
//! The agent binds a real UDP socket on `127.0.0.1` (a free port chosen by the
//! OS), answers from a background thread and can be told to misbehave in ways a
//! real `snmpd` never does (non-increasing OIDs, loops, `tooBig`, silence).
//!
//! It carries its own minimal BER codec (std only). Anything it cannot decode
//! is counted and dropped: malformed input never panics the agent thread.
//!
//! Supported requests: GET (`0xA0`), GETNEXT (`0xA1`) and, on v2c only,
//! GETBULK (`0xA5`). Other PDU types, other versions and v1 GETBULK are
//! silently ignored, like a real agent would. Any community is accepted; the
//! response echoes the request's version and community.
#![allow(dead_code)]

use std::fmt;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How the fake agent answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behavior {
    /// A correct agent serving one column: OIDs `root.i` for i in 1..=rows, each an INTEGER with value i.
    /// GET answers exact matches (noSuchInstance 0x81 otherwise on v2c; v1 -> error-status noSuchName(2) with error-index),
    /// GETNEXT answers the next OID (v2c endOfMibView 0x82 after the last; v1: noSuchName error),
    /// GETBULK answers up to max-repetitions rows per requested varbind, row-major as RFC 3416 requires
    /// (non-repeaters are honoured too; the response is truncated to fit a UDP datagram).
    Table { root: Vec<u32>, rows: u32 },
    /// Same as Table, but any GETBULK with max-repetitions > `limit` gets error-status tooBig(1), error-index 0,
    /// and the request's varbinds echoed back.
    TooBigAbove { root: Vec<u32>, rows: u32, limit: u32 },
    /// Every GETNEXT/GETBULK is answered with varbinds whose OID equals the requested OID (value INTEGER 1):
    /// a non-increasing agent. (GET answers INTEGER 1 for any OID.)
    NonIncreasing,
    /// GETNEXT/GETBULK answered from a cycle root.1 -> root.2 -> root.3 -> root.1 -> ... (next of anything not in
    /// the cycle is root.1); a looping agent. For GETBULK, max-repetitions consecutive steps of the cycle.
    /// (GET answers `root.k` = INTEGER k for k in 1..=3, like Table.)
    Loop { root: Vec<u32> },
    /// Never answers anything (but reads and counts requests).
    Silent,
}

/// A fake SNMP agent running on a background thread; stopped and joined on drop.
pub struct FakeAgent {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeAgent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeAgent")
            .field("port", &self.port)
            .field("requests_seen", &self.requests_seen())
            .finish()
    }
}

/// Read timeout of the agent socket: bounds how long `Drop` waits for the thread.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

impl FakeAgent {
    /// Binds `127.0.0.1:0` and spawns the agent thread.
    pub fn start(behavior: Behavior) -> FakeAgent {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("fake agent: bind 127.0.0.1:0");
        socket.set_read_timeout(Some(POLL_INTERVAL)).expect("fake agent: set_read_timeout");
        let port = socket.local_addr().expect("fake agent: local_addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            thread::Builder::new()
                .name(format!("fake-snmp-agent-{port}"))
                .spawn(move || serve(&socket, &behavior, &stop, &seen))
                .expect("fake agent: spawn thread")
        };
        FakeAgent { port, stop, seen, thread: Some(thread) }
    }

    /// The UDP port the agent listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1:PORT"`, usable as a net-snmp peer name.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Number of datagrams received so far (including malformed or ignored ones).
    pub fn requests_seen(&self) -> usize {
        self.seen.load(Ordering::SeqCst)
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(handle) = self.thread.take() {
            // A panic in the agent thread is a bug in this fixture: surface it
            // (unless the test is already unwinding).
            if handle.join().is_err() && !thread::panicking() {
                panic!("fake SNMP agent thread on port {} panicked", self.port);
            }
        }
    }
}

fn serve(socket: &UdpSocket, behavior: &Behavior, stop: &AtomicBool, seen: &AtomicUsize) {
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        match socket.recv_from(&mut buf) {
            Ok((n, src)) => {
                // Count before answering, so a client that got a reply sees it counted.
                seen.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = handle_datagram(behavior, &buf[..n]) {
                    reply_to(socket, &reply, src);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // E.g. a stray ICMP error reported on the socket: don't spin.
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
}

fn reply_to(socket: &UdpSocket, reply: &[u8], src: SocketAddr) {
    // Best effort, like UDP itself.
    let _ = socket.send_to(reply, src);
}

// ---------------------------------------------------------------------------
// Agent logic
// ---------------------------------------------------------------------------

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const PDU_GET: u8 = 0xA0;
const PDU_GETNEXT: u8 = 0xA1;
const PDU_RESPONSE: u8 = 0xA2;
const PDU_GETBULK: u8 = 0xA5;
const TAG_NO_SUCH_INSTANCE: u8 = 0x81;
const TAG_END_OF_MIB_VIEW: u8 = 0x82;

const VERSION_1: i64 = 0;
const VERSION_2C: i64 = 1;

const ERR_TOO_BIG: i64 = 1;
const ERR_NO_SUCH_NAME: i64 = 2;

/// Largest UDP payload over IPv4, minus a little slack.
const MAX_DATAGRAM: usize = 65_000;

struct Request<'a> {
    version: i64,
    community: &'a [u8],
    pdu_type: u8,
    request_id: i64,
    /// error-status, or non-repeaters for GETBULK.
    field2: i64,
    /// error-index, or max-repetitions for GETBULK.
    field3: i64,
    varbinds: Vec<RequestVarBind<'a>>,
}

struct RequestVarBind<'a> {
    oid: Vec<u32>,
    /// The complete value TLV as received (tag, length, content).
    raw_value: &'a [u8],
}

enum Value<'a> {
    Integer(i64),
    NoSuchInstance,
    EndOfMibView,
    /// A complete TLV, echoed verbatim.
    Raw(&'a [u8]),
}

/// Decodes a datagram and computes the response, if any is due.
fn handle_datagram(behavior: &Behavior, datagram: &[u8]) -> Option<Vec<u8>> {
    if *behavior == Behavior::Silent {
        return None;
    }
    let req = decode_request(datagram)?;
    match (req.pdu_type, req.version) {
        (PDU_GET, VERSION_1 | VERSION_2C) => Some(handle_get(behavior, &req)),
        (PDU_GETNEXT, VERSION_1 | VERSION_2C) => Some(handle_getnext(behavior, &req)),
        (PDU_GETBULK, VERSION_2C) => Some(handle_getbulk(behavior, &req)),
        _ => None,
    }
}

fn handle_get(behavior: &Behavior, req: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(req.varbinds.len());
    for (i, vb) in req.varbinds.iter().enumerate() {
        match lookup_get(behavior, &vb.oid) {
            Some(v) => out.push((vb.oid.clone(), Value::Integer(v))),
            None if req.version == VERSION_1 => return v1_error(req, ERR_NO_SUCH_NAME, i),
            None => out.push((vb.oid.clone(), Value::NoSuchInstance)),
        }
    }
    encode_response(req, 0, 0, &out)
}

fn handle_getnext(behavior: &Behavior, req: &Request<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(req.varbinds.len());
    for (i, vb) in req.varbinds.iter().enumerate() {
        match lookup_next(behavior, &vb.oid) {
            Some((oid, v)) => out.push((oid, Value::Integer(v))),
            None if req.version == VERSION_1 => return v1_error(req, ERR_NO_SUCH_NAME, i),
            None => out.push((vb.oid.clone(), Value::EndOfMibView)),
        }
    }
    encode_response(req, 0, 0, &out)
}

fn handle_getbulk(behavior: &Behavior, req: &Request<'_>) -> Vec<u8> {
    if let Behavior::TooBigAbove { limit, .. } = behavior {
        if req.field3 > i64::from(*limit) {
            return encode_response(req, ERR_TOO_BIG, 0, &echo(req));
        }
    }
    let n = req.varbinds.len();
    let non_repeaters = usize::try_from(req.field2.max(0)).unwrap_or(usize::MAX).min(n);
    let max_repetitions = req.field3.max(0);
    let budget = MAX_DATAGRAM.saturating_sub(req.community.len() + 64);

    let mut enc = BulkEncoder::new(budget);
    for vb in &req.varbinds[..non_repeaters] {
        let full = match lookup_next(behavior, &vb.oid) {
            Some((oid, v)) => enc.push(&oid, &Value::Integer(v)),
            None => enc.push(&vb.oid, &Value::EndOfMibView),
        };
        if full {
            return encode_response_raw(req, 0, 0, &enc.bytes);
        }
    }

    // Row-major: repetition after repetition, each covering every repeater.
    let mut cursors: Vec<(Vec<u32>, bool)> =
        req.varbinds[non_repeaters..].iter().map(|vb| (vb.oid.clone(), false)).collect();
    if !cursors.is_empty() {
        let mut rep = 0i64;
        // Stop early once every column is exhausted (allowed by RFC 3416 4.2.3).
        'reps: while rep < max_repetitions && !cursors.iter().all(|(_, ended)| *ended) {
            for (oid, ended) in cursors.iter_mut() {
                let full = if *ended {
                    enc.push(oid, &Value::EndOfMibView)
                } else if let Some((next, v)) = lookup_next(behavior, oid) {
                    *oid = next;
                    enc.push(oid, &Value::Integer(v))
                } else {
                    *ended = true;
                    enc.push(oid, &Value::EndOfMibView)
                };
                if full {
                    break 'reps;
                }
            }
            rep += 1;
        }
    }
    encode_response_raw(req, 0, 0, &enc.bytes)
}

/// Accumulates encoded varbinds up to a byte budget.
struct BulkEncoder {
    bytes: Vec<u8>,
    budget: usize,
}

impl BulkEncoder {
    fn new(budget: usize) -> Self {
        BulkEncoder { bytes: Vec::new(), budget }
    }

    /// Appends one varbind; returns true (and drops it) when it doesn't fit.
    fn push(&mut self, oid: &[u32], value: &Value<'_>) -> bool {
        let vb = encode_varbind(oid, value);
        if self.bytes.len() + vb.len() > self.budget {
            return true;
        }
        self.bytes.extend_from_slice(&vb);
        false
    }
}

fn echo<'a>(req: &Request<'a>) -> Vec<(Vec<u32>, Value<'a>)> {
    req.varbinds.iter().map(|vb| (vb.oid.clone(), Value::Raw(vb.raw_value))).collect()
}

/// v1 error response: error-index is 1-based, varbinds echoed unchanged.
fn v1_error(req: &Request<'_>, status: i64, failed: usize) -> Vec<u8> {
    let index = i64::try_from(failed).unwrap_or(i64::MAX - 1) + 1;
    encode_response(req, status, index, &echo(req))
}

fn lookup_get(behavior: &Behavior, oid: &[u32]) -> Option<i64> {
    match behavior {
        Behavior::Table { root, rows } | Behavior::TooBigAbove { root, rows, .. } => {
            table_index(root, *rows, oid).map(i64::from)
        }
        Behavior::Loop { root } => table_index(root, 3, oid).map(i64::from),
        Behavior::NonIncreasing => Some(1),
        Behavior::Silent => None,
    }
}

fn lookup_next(behavior: &Behavior, oid: &[u32]) -> Option<(Vec<u32>, i64)> {
    match behavior {
        Behavior::Table { root, rows } | Behavior::TooBigAbove { root, rows, .. } => {
            let i = table_next(root, *rows, oid)?;
            Some((child(root, i), i64::from(i)))
        }
        Behavior::Loop { root } => {
            let i = match table_index(root, 3, oid) {
                Some(k) => k % 3 + 1,
                None => 1,
            };
            Some((child(root, i), i64::from(i)))
        }
        Behavior::NonIncreasing => Some((oid.to_vec(), 1)),
        Behavior::Silent => None,
    }
}

fn child(root: &[u32], i: u32) -> Vec<u32> {
    let mut oid = Vec::with_capacity(root.len() + 1);
    oid.extend_from_slice(root);
    oid.push(i);
    oid
}

/// `Some(i)` if `oid` is exactly `root.i` with 1 <= i <= rows.
fn table_index(root: &[u32], rows: u32, oid: &[u32]) -> Option<u32> {
    match oid.strip_prefix(root)? {
        [i] if (1..=rows).contains(i) => Some(*i),
        _ => None,
    }
}

/// Index of the first row `root.i` lexicographically greater than `oid`.
fn table_next(root: &[u32], rows: u32, oid: &[u32]) -> Option<u32> {
    let i = if let Some(rest) = oid.strip_prefix(root) {
        // root < root.0... < root.k < root.k.x < root.(k+1)
        match rest.first() {
            None => 1,
            Some(&k) => k.checked_add(1)?,
        }
    } else if oid < root {
        1
    } else {
        return None;
    };
    (i <= rows).then_some(i)
}

// ---------------------------------------------------------------------------
// BER decoding
// ---------------------------------------------------------------------------

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    /// Tag + length + content.
    raw: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn tlv(&mut self) -> Option<Tlv<'a>> {
        let start = self.pos;
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return None; // high-tag-number form: never used by SNMP
        }
        let first = self.byte()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None; // indefinite length, or absurdly long
            }
            let mut len = 0usize;
            for _ in 0..n {
                len = (len << 8) | usize::from(self.byte()?);
            }
            len
        };
        let end = self.pos.checked_add(len)?;
        let content = self.buf.get(self.pos..end)?;
        let raw = self.buf.get(start..end)?;
        self.pos = end;
        Some(Tlv { tag, content, raw })
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        let tlv = self.tlv()?;
        (tlv.tag == tag).then_some(tlv.content)
    }

    fn integer(&mut self) -> Option<i64> {
        decode_integer(self.expect(TAG_INTEGER)?)
    }
}

fn decode_integer(content: &[u8]) -> Option<i64> {
    let (&first, _) = content.split_first()?;
    if content.len() > 8 {
        return None;
    }
    let mut v: i64 = if first & 0x80 != 0 { -1 } else { 0 };
    for &b in content {
        v = (v << 8) | i64::from(b);
    }
    Some(v)
}

fn decode_oid(content: &[u8]) -> Option<Vec<u32>> {
    if content.is_empty() || content.len() > 1024 {
        return None;
    }
    let mut oid = Vec::with_capacity(content.len() + 1);
    let mut acc: u64 = 0;
    let mut in_subid = false;
    for &b in content {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if acc > u64::from(u32::MAX) + 80 {
            return None;
        }
        in_subid = b & 0x80 != 0;
        if in_subid {
            continue;
        }
        if oid.is_empty() {
            let (a, b) = match acc {
                0..=39 => (0, acc),
                40..=79 => (1, acc - 40),
                _ => (2, acc - 80),
            };
            oid.push(a);
            oid.push(u32::try_from(b).ok()?);
        } else {
            oid.push(u32::try_from(acc).ok()?);
        }
        acc = 0;
    }
    if in_subid {
        return None; // truncated sub-identifier
    }
    Some(oid)
}

fn decode_request(datagram: &[u8]) -> Option<Request<'_>> {
    let message = Reader::new(datagram).expect(TAG_SEQUENCE)?;
    let mut msg = Reader::new(message);
    let version = msg.integer()?;
    let community = msg.expect(TAG_OCTET_STRING)?;
    let pdu = msg.tlv()?;

    let mut p = Reader::new(pdu.content);
    let request_id = p.integer()?;
    let field2 = p.integer()?;
    let field3 = p.integer()?;
    let mut list = Reader::new(p.expect(TAG_SEQUENCE)?);
    let mut varbinds = Vec::new();
    while !list.is_empty() {
        let mut vb = Reader::new(list.expect(TAG_SEQUENCE)?);
        let oid = decode_oid(vb.expect(TAG_OID)?)?;
        let raw_value = vb.tlv()?.raw;
        varbinds.push(RequestVarBind { oid, raw_value });
    }
    Some(Request { version, community, pdu_type: pdu.tag, request_id, field2, field3, varbinds })
}

// ---------------------------------------------------------------------------
// BER encoding
// ---------------------------------------------------------------------------

fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = &bytes[skip..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_length(out, content.len());
    out.extend_from_slice(content);
}

/// Minimal two's-complement content octets.
fn integer_content(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

fn push_base128(out: &mut Vec<u8>, v: u64) {
    let mut groups = [0u8; 10];
    let mut n = 0;
    let mut rest = v;
    loop {
        groups[n] = (rest & 0x7f) as u8;
        n += 1;
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        let more = if i > 0 { 0x80 } else { 0 };
        out.push(groups[i] | more);
    }
}

fn oid_content(oid: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(oid.len() + 4);
    let first = match oid {
        [] => 0,
        [a] => u64::from(*a) * 40,
        [a, b, ..] => u64::from(*a) * 40 + u64::from(*b),
    };
    push_base128(&mut out, first);
    for &sub in oid.iter().skip(2) {
        push_base128(&mut out, u64::from(sub));
    }
    out
}

fn encode_varbind(oid: &[u32], value: &Value<'_>) -> Vec<u8> {
    let mut content = Vec::new();
    push_tlv(&mut content, TAG_OID, &oid_content(oid));
    match value {
        Value::Integer(v) => push_tlv(&mut content, TAG_INTEGER, &integer_content(*v)),
        Value::NoSuchInstance => push_tlv(&mut content, TAG_NO_SUCH_INSTANCE, &[]),
        Value::EndOfMibView => push_tlv(&mut content, TAG_END_OF_MIB_VIEW, &[]),
        Value::Raw(raw) if !raw.is_empty() => content.extend_from_slice(raw),
        Value::Raw(_) => push_tlv(&mut content, TAG_NULL, &[]),
    }
    let mut out = Vec::with_capacity(content.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &content);
    out
}

fn encode_response(
    req: &Request<'_>,
    error_status: i64,
    error_index: i64,
    varbinds: &[(Vec<u32>, Value<'_>)],
) -> Vec<u8> {
    let mut list = Vec::new();
    for (oid, value) in varbinds {
        list.extend_from_slice(&encode_varbind(oid, value));
    }
    encode_response_raw(req, error_status, error_index, &list)
}

/// `encoded_varbinds`: the concatenated varbind SEQUENCEs (content of the list).
fn encode_response_raw(
    req: &Request<'_>,
    error_status: i64,
    error_index: i64,
    encoded_varbinds: &[u8],
) -> Vec<u8> {
    let mut pdu = Vec::with_capacity(encoded_varbinds.len() + 32);
    push_tlv(&mut pdu, TAG_INTEGER, &integer_content(req.request_id));
    push_tlv(&mut pdu, TAG_INTEGER, &integer_content(error_status));
    push_tlv(&mut pdu, TAG_INTEGER, &integer_content(error_index));
    push_tlv(&mut pdu, TAG_SEQUENCE, encoded_varbinds);

    let mut msg = Vec::with_capacity(pdu.len() + req.community.len() + 16);
    push_tlv(&mut msg, TAG_INTEGER, &integer_content(req.version));
    push_tlv(&mut msg, TAG_OCTET_STRING, req.community);
    push_tlv(&mut msg, PDU_RESPONSE, &pdu);

    let mut out = Vec::with_capacity(msg.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &msg);
    out
}
