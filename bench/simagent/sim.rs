//! A simulated SNMP agent fleet, for measuring a client where the agents are not the bottleneck
//! (issue 15). Compiled into the bench binary (main.rs) and into tests/simagent.rs.
//!
//! - [`Table`]: one sorted MIB view, every varbind BER-encoded once when the table is built. A
//!   GETNEXT/GETBULK answer is found by a binary search for the first OID after the requested
//!   one; the answer's varbinds are copied from the pre-encoded bytes (for a single repeater,
//!   one contiguous copy), and only the message header is written per response.
//! - [`Server`]: `agents` UDP sockets on consecutive ports of one address, split over `threads`
//!   threads, each with its own epoll; datagrams are read with `recvmmsg` and answered with
//!   `sendmmsg`, up to [`BATCH`] per system call.
//!
//! What it answers, as net-snmp's snmpd does (RFC 3416): SNMPv1 and v2c GET, GETNEXT and GETBULK
//! (GETBULK only on v2c), for one community; past the end of the view v2c gets `endOfMibView`
//! and v1 `noSuchName`; a GET of a missing OID gets `noSuchInstance` (v2c; `noSuchObject` when
//! no table OID shares its parent) or `noSuchName` (v1). GETBULK repetitions are capped at
//! `max_repetitions` varbinds per repeater (snmpd's `maxGetbulkRepeats`) and the message at
//! `max_message` bytes. Anything else (other versions, other communities, SET, garbage) is
//! dropped and counted, as snmpd drops it. Silent agents (`silent`) read and drop everything.
//!
//! [`record`] takes a view from a real agent (walked with snmp-stream), so that the fleet serves
//! what that agent serves; tests/simagent.rs checks the answers against snmpd's and net-snmp's
//! tools, so that a benchmark on the fleet measures the same work as one on snmpd.

#![allow(dead_code)] // shared by the bench binary and the integration test, which use different parts

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use snmp_stream::{
    Community, Config, Oid, RecordValue, Request, ResultBuffer, SessionManager, Status, Version,
};

/// Datagrams read (and answers sent) per `recvmmsg`/`sendmmsg` call.
pub const BATCH: usize = 32;
/// Requests longer than this are dropped (a GETBULK request is a few dozen bytes).
const MAX_REQUEST: usize = 4096;
/// Space before the varbinds for the message header, written once the varbinds' length is known:
/// the four headers (5 bytes each at most), version and error fields, community and request id.
const HEAD_FIXED: usize = 4 * 5 + 3 + 3 + 3;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OBJECT_ID: u8 = 0x06;
const IP_ADDRESS: u8 = 0x40;
const COUNTER32: u8 = 0x41;
const GAUGE32: u8 = 0x42;
const TIMETICKS: u8 = 0x43;
const OPAQUE: u8 = 0x44;
const COUNTER64: u8 = 0x46;
const NO_SUCH_OBJECT: u8 = 0x80;
const NO_SUCH_INSTANCE: u8 = 0x81;
const END_OF_MIB_VIEW: u8 = 0x82;
const GET: u8 = 0xa0;
const GET_NEXT: u8 = 0xa1;
const RESPONSE: u8 = 0xa2;
const GET_BULK: u8 = 0xa5;
const NO_SUCH_NAME: u8 = 2;

/// (OID, value) pairs, in any order.
pub type Varbinds = Vec<(Vec<u32>, Value)>;

/// A varbind's value, as the table is built from (synthetic or recorded from a real agent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Vec<u32>),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
}

// --- BER writing --------------------------------------------------------------------------------

fn push_length(out: &mut Vec<u8>, length: usize) {
    match length {
        0..=0x7f => out.push(length as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, length as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (length >> 8) as u8, length as u8]),
        _ => out.extend_from_slice(&[0x83, (length >> 16) as u8, (length >> 8) as u8, length as u8]),
    }
}

fn length_len(length: usize) -> usize {
    match length {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 4,
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    push_length(out, contents.len());
    out.extend_from_slice(contents);
}

/// Two's complement, minimal length (X.690 8.3).
fn signed_contents(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let (first, next) = (bytes[start], bytes[start + 1]);
        if (first == 0 && next & 0x80 == 0) || (first == 0xff && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    bytes[start..].to_vec()
}

/// An unsigned application type: big-endian, minimal, with a leading 0 when the top bit is set.
fn unsigned_contents(value: u64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut out = Vec::with_capacity(9);
    if bytes[start] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[start..]);
    out
}

fn push_subid(out: &mut Vec<u8>, value: u64) {
    let mut shift = 63; // a multiple of 7: the top group holds bit 63
    while shift > 0 && value >> shift == 0 {
        shift -= 7;
    }
    while shift > 0 {
        out.push(0x80 | (value >> shift) as u8 & 0x7f);
        shift -= 7;
    }
    out.push(value as u8 & 0x7f);
}

fn oid_contents(subids: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(subids.len() + 4);
    match subids {
        [] => out.push(0),
        [first] => push_subid(&mut out, u64::from(*first) * 40),
        [first, second, rest @ ..] => {
            push_subid(&mut out, u64::from(*first) * 40 + u64::from(*second));
            for &subid in rest {
                push_subid(&mut out, u64::from(subid));
            }
        }
    }
    out
}

fn push_varbind(out: &mut Vec<u8>, oid: &[u32], tag: u8, contents: &[u8]) {
    let oid = oid_contents(oid);
    let inner = 1 + length_len(oid.len()) + oid.len() + 1 + length_len(contents.len()) + contents.len();
    out.push(SEQUENCE);
    push_length(out, inner);
    push_tlv(out, OBJECT_ID, &oid);
    push_tlv(out, tag, contents);
}

impl Value {
    fn tag_and_contents(&self) -> (u8, Vec<u8>) {
        match self {
            Value::Integer(v) => (INTEGER, signed_contents(*v)),
            Value::OctetString(v) => (OCTET_STRING, v.clone()),
            Value::Null => (NULL, Vec::new()),
            Value::ObjectId(v) => (OBJECT_ID, oid_contents(v)),
            Value::IpAddress(v) => (IP_ADDRESS, v.to_vec()),
            Value::Counter32(v) => (COUNTER32, unsigned_contents(u64::from(*v))),
            Value::Gauge32(v) => (GAUGE32, unsigned_contents(u64::from(*v))),
            Value::TimeTicks(v) => (TIMETICKS, unsigned_contents(u64::from(*v))),
            Value::Opaque(v) => (OPAQUE, v.clone()),
            Value::Counter64(v) => (COUNTER64, unsigned_contents(*v)),
        }
    }
}

// --- BER reading (requests) -------------------------------------------------------------------

/// One TLV at `pos`: (tag, contents start, contents end).
fn read_tlv(buf: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *buf.get(pos)?;
    let first = *buf.get(pos + 1)?;
    let (length, start) = if first < 0x80 {
        (usize::from(first), pos + 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 3 {
            return None;
        }
        let bytes = buf.get(pos + 2..pos + 2 + count)?;
        (bytes.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b)), pos + 2 + count)
    };
    let end = start.checked_add(length)?;
    (end <= buf.len()).then_some((tag, start, end))
}

fn read_integer(contents: &[u8]) -> Option<i64> {
    if contents.is_empty() || contents.len() > 8 {
        return None;
    }
    let init = if contents[0] & 0x80 != 0 { -1i64 } else { 0 };
    Some(contents.iter().fold(init, |acc, &b| acc << 8 | i64::from(b)))
}

/// The sub-ids of an OID's contents into `out`; None when malformed or a sub-id is over 32 bits.
fn read_oid(contents: &[u8], out: &mut Vec<u32>) -> Option<()> {
    out.clear();
    let mut value: u64 = 0;
    for (i, &byte) in contents.iter().enumerate() {
        value = value << 7 | u64::from(byte & 0x7f);
        if value > u64::from(u32::MAX) + 80 {
            return None;
        }
        if byte & 0x80 == 0 {
            if out.is_empty() {
                let first = (value / 40).min(2);
                out.push(first as u32);
                out.push(u32::try_from(value - first * 40).ok()?);
            } else {
                out.push(u32::try_from(value).ok()?);
            }
            value = 0;
        } else if i + 1 == contents.len() {
            return None;
        }
    }
    (!out.is_empty()).then_some(())
}

// --- the table ----------------------------------------------------------------------------------

/// A sorted MIB view with every varbind pre-encoded, contiguously in OID order.
#[derive(Debug, Default)]
pub struct Table {
    oids: Vec<Box<[u32]>>,
    /// Varbind i is `encoded[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    encoded: Vec<u8>,
}

impl Table {
    /// Builds the view from varbinds in any order; a repeated OID keeps its last value.
    pub fn new(mut varbinds: Varbinds) -> Table {
        varbinds.sort_by(|a, b| a.0.cmp(&b.0));
        varbinds.reverse();
        varbinds.dedup_by(|a, b| a.0 == b.0); // keeps the first of each run: the last given
        varbinds.reverse();
        let mut table = Table { starts: vec![0], ..Table::default() };
        for (oid, value) in varbinds {
            let (tag, contents) = value.tag_and_contents();
            push_varbind(&mut table.encoded, &oid, tag, &contents);
            table.starts.push(table.encoded.len());
            table.oids.push(oid.into_boxed_slice());
        }
        table
    }

    /// A synthetic interfaces table of `rows` rows: the 10 mixed-type columns of the
    /// benchmarks' table (bench/pipeline.py), 7 of ifTable and 3 of ifXTable, plus sysName.
    pub fn synthetic_interfaces(rows: u32) -> Table {
        let (if_entry, ifx_entry) = ([1, 3, 6, 1, 2, 1, 2, 2, 1], [1, 3, 6, 1, 2, 1, 31, 1, 1, 1]);
        let mut varbinds = vec![(vec![1, 3, 6, 1, 2, 1, 1, 5, 0], Value::OctetString(b"simagent".to_vec()))];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*: counters that look like counters, the same on every run.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for row in 1..=rows {
            let name = format!("veth{}", row - 1).into_bytes();
            let column = |entry: &[u32], column: u32| -> Vec<u32> {
                let mut oid = entry.to_vec();
                oid.extend([column, row]);
                oid
            };
            let mac = [0x02, 0x42, (row >> 24) as u8, (row >> 16) as u8, (row >> 8) as u8, row as u8];
            varbinds.push((column(&if_entry, 2), Value::OctetString(name.clone())));
            varbinds.push((column(&if_entry, 3), Value::Integer(6)));
            varbinds.push((column(&if_entry, 4), Value::Integer(1500)));
            varbinds
                .push((column(&if_entry, 5), Value::Gauge32(if row % 4 == 0 { 0 } else { 4_294_967_295 })));
            varbinds.push((column(&if_entry, 6), Value::OctetString(mac.to_vec())));
            varbinds.push((column(&if_entry, 8), Value::Integer(if row % 7 == 0 { 2 } else { 1 })));
            varbinds.push((column(&if_entry, 10), Value::Counter32(next() as u32)));
            varbinds.push((column(&ifx_entry, 1), Value::OctetString(name)));
            varbinds.push((column(&ifx_entry, 6), Value::Counter64(next() >> 8)));
            varbinds.push((column(&ifx_entry, 10), Value::Counter64(next() >> 8)));
        }
        Table::new(varbinds)
    }

    /// Number of varbinds in the view.
    pub fn len(&self) -> usize {
        self.oids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.oids.is_empty()
    }

    /// The position of the first OID after `oid` (GETNEXT's successor).
    fn successor(&self, oid: &[u32]) -> usize {
        self.oids.partition_point(|o| **o <= *oid)
    }

    fn varbind(&self, i: usize) -> &[u8] {
        &self.encoded[self.starts[i]..self.starts[i + 1]]
    }

    /// The exception for a GET of a missing OID: noSuchInstance when some OID of the view is
    /// under the requested one's parent (the object exists, not the instance), else noSuchObject.
    fn missing(&self, oid: &[u32]) -> u8 {
        let parent = &oid[..oid.len().saturating_sub(1)];
        let i = self.successor(parent);
        match self.oids.get(i) {
            Some(next) if next.starts_with(parent) && !parent.is_empty() => NO_SUCH_INSTANCE,
            _ => NO_SUCH_OBJECT,
        }
    }
}

/// The varbinds under `roots` of a real agent, walked with snmp-stream.
pub fn record(host: &str, roots: &[Oid]) -> Result<Varbinds, Box<dyn std::error::Error>> {
    let community = Community::new("public", Version::V2c)?;
    let mut manager = SessionManager::new(Config::new())?;
    manager.add_request(Request::walk(host, community, roots.iter().cloned()).build()?);
    let response = manager.run_all().pop().ok_or("no response")?;
    if response.status != Status::Successful {
        return Err(format!("recording {host} failed: {:?}", response.errors).into());
    }
    let buffer = ResultBuffer::parse(&response.results)?;
    let mut varbinds = Vec::new();
    for record in buffer.records() {
        let record = record?;
        let mut oid = buffer.roots[usize::from(record.root_index)].clone();
        oid.extend(record.index());
        let value = match record.typed_value() {
            RecordValue::Integer(v) => Value::Integer(v),
            RecordValue::OctetString(v) => Value::OctetString(v.to_vec()),
            RecordValue::Null => Value::Null,
            RecordValue::ObjectId(v) => Value::ObjectId(v),
            RecordValue::IpAddress(v) => Value::IpAddress(v.octets()),
            RecordValue::Counter32(v) => Value::Counter32(v),
            RecordValue::Gauge32(v) | RecordValue::UInteger32(v) => Value::Gauge32(v),
            RecordValue::TimeTicks(v) => Value::TimeTicks(v),
            RecordValue::Opaque(v) => Value::Opaque(v.to_vec()),
            RecordValue::Counter64(v) => Value::Counter64(v),
            other => return Err(format!("cannot serve {other:?} at {oid:?}").into()),
        };
        varbinds.push((oid, value));
    }
    Ok(varbinds)
}

// --- answering one request --------------------------------------------------------------------

/// How the fleet answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub community: Vec<u8>,
    /// GETBULK varbinds per repeater at most (snmpd's maxGetbulkRepeats).
    pub max_repetitions: usize,
    /// Largest answer in bytes (the rest of a GETBULK is left out, as snmpd does).
    pub max_message: usize,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { community: b"public".to_vec(), max_repetitions: 100, max_message: 65_000 }
    }
}

/// Counts kept by a fleet while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub varbinds: AtomicU64,
    pub dropped: AtomicU64,
}

struct Incoming<'a> {
    version: &'a [u8],
    community: &'a [u8],
    kind: u8,
    request_id: &'a [u8],
    non_repeaters: usize,
    max_repetitions: usize,
    /// The varbind list's contents (each a SEQUENCE of OID and value).
    varbinds: &'a [u8],
}

fn parse_request(buf: &[u8]) -> Option<Incoming<'_>> {
    let (tag, start, end) = read_tlv(buf, 0)?;
    if tag != SEQUENCE || end != buf.len() {
        return None;
    }
    let (tag, v_start, v_end) = read_tlv(buf, start)?;
    let version = read_integer(&buf[v_start..v_end])?;
    if tag != INTEGER || !(version == 0 || version == 1) {
        return None;
    }
    let (tag, c_start, c_end) = read_tlv(buf, v_end)?;
    if tag != OCTET_STRING {
        return None;
    }
    let (kind, p_start, p_end) = read_tlv(buf, c_end)?;
    if !matches!(kind, GET | GET_NEXT | GET_BULK) || (kind == GET_BULK && version == 0) {
        return None;
    }
    let (tag, r_start, r_end) = read_tlv(buf, p_start)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, n_start, n_end) = read_tlv(buf, r_end)?;
    let first = read_integer(&buf[n_start..n_end])?;
    if tag != INTEGER {
        return None;
    }
    let (tag, m_start, m_end) = read_tlv(buf, n_end)?;
    let second = read_integer(&buf[m_start..m_end])?;
    if tag != INTEGER {
        return None;
    }
    let (tag, l_start, l_end) = read_tlv(buf, m_end)?;
    if tag != SEQUENCE || l_end != p_end {
        return None;
    }
    if buf[v_start - 1] >= 0x80 || buf[r_start - 1] >= 0x80 {
        return None; // echoed whole below: only short-form lengths (as every agent sends them)
    }
    let (non_repeaters, max_repetitions) =
        if kind == GET_BULK { (first.max(0) as usize, second.max(0) as usize) } else { (0, 0) };
    Some(Incoming {
        version: &buf[v_start - 2..v_end],
        community: &buf[c_start..c_end],
        kind,
        request_id: &buf[r_start - 2..r_end], // the whole TLV, echoed as it came (short lengths only)
        non_repeaters,
        max_repetitions,
        varbinds: &buf[l_start..l_end],
    })
}

/// The OIDs of a request's varbind list, in order.
fn request_oids(varbinds: &[u8]) -> Option<Vec<Vec<u32>>> {
    let mut oids = Vec::new();
    let mut pos = 0;
    while pos < varbinds.len() {
        let (tag, start, end) = read_tlv(varbinds, pos)?;
        let (oid_tag, o_start, o_end) = read_tlv(varbinds, start)?;
        if tag != SEQUENCE || oid_tag != OBJECT_ID {
            return None;
        }
        let mut oid = Vec::with_capacity(16);
        read_oid(&varbinds[o_start..o_end], &mut oid)?;
        oids.push(oid);
        pos = end;
    }
    Some(oids)
}

/// Answers one request into `out` (cleared first): returns the datagram's range in `out` and
/// the number of varbinds answered, or None to drop the request.
pub fn answer(
    table: &Table,
    behaviour: &Behaviour,
    request: &[u8],
    out: &mut Vec<u8>,
) -> Option<(std::ops::Range<usize>, usize)> {
    let request = parse_request(request)?;
    if request.community != behaviour.community.as_slice() {
        return None;
    }
    let oids = request_oids(request.varbinds)?;
    let head = HEAD_FIXED + request.version.len() + request.community.len() + 5 + request.request_id.len();
    out.clear();
    out.resize(head, 0);
    let v1 = request.version == [INTEGER, 1, 0];
    let limit = behaviour.max_message.max(head);
    let (mut error_status, mut error_index, mut count) = (0u8, 0u8, 0usize);
    let end_of_view = |out: &mut Vec<u8>, oid: &[u32]| push_varbind(out, oid, END_OF_MIB_VIEW, &[]);
    match request.kind {
        GET => {
            let mut last_missing = None;
            for (i, oid) in oids.iter().enumerate() {
                match table.oids.binary_search_by(|o| (**o).cmp(oid.as_slice())) {
                    Ok(at) => out.extend_from_slice(table.varbind(at)),
                    Err(_) => {
                        last_missing = Some(i);
                        push_varbind(out, oid, table.missing(oid), &[]);
                    }
                }
                count += 1;
            }
            // SNMPv1 has noSuchName instead, and snmpd 5.9 names the last missing varbind, not
            // the first (measured with snmpget -v1), so the same one is named here.
            if let (true, Some(i)) = (v1, last_missing) {
                (error_status, error_index) = (NO_SUCH_NAME, (i + 1).min(255) as u8);
            }
        }
        GET_NEXT => {
            for (i, oid) in oids.iter().enumerate() {
                let at = table.successor(oid);
                if at < table.len() {
                    out.extend_from_slice(table.varbind(at));
                } else if v1 {
                    (error_status, error_index) = (NO_SUCH_NAME, (i + 1).min(255) as u8);
                    break;
                } else {
                    end_of_view(out, oid);
                }
                count += 1;
            }
        }
        _ => {
            let non_repeaters = request.non_repeaters.min(oids.len());
            for oid in &oids[..non_repeaters] {
                let at = table.successor(oid);
                if at < table.len() {
                    out.extend_from_slice(table.varbind(at));
                } else {
                    end_of_view(out, oid);
                }
                count += 1;
            }
            let repeaters = &oids[non_repeaters..];
            let repetitions = request.max_repetitions.min(behaviour.max_repetitions);
            if let [oid] = repeaters {
                // One repeater (a walk): the answer is one run of the pre-encoded view.
                let at = table.successor(oid);
                let mut stop = (at + repetitions).min(table.len());
                while stop > at && out.len() + table.starts[stop] - table.starts[at] > limit {
                    stop -= 1;
                }
                out.extend_from_slice(&table.encoded[table.starts[at]..table.starts[stop]]);
                count += stop - at;
                if stop - at < repetitions && stop == table.len() && out.len() + oid.len() * 5 + 8 <= limit {
                    let last = if stop > at { &*table.oids[stop - 1] } else { oid.as_slice() };
                    end_of_view(out, last);
                    count += 1;
                }
            } else if !repeaters.is_empty() {
                let mut cursors: Vec<usize> = repeaters.iter().map(|oid| table.successor(oid)).collect();
                'rows: for _ in 0..repetitions {
                    if cursors.iter().all(|&c| c >= table.len()) {
                        break;
                    }
                    for (j, cursor) in cursors.iter_mut().enumerate() {
                        let mark = out.len();
                        if *cursor < table.len() {
                            out.extend_from_slice(table.varbind(*cursor));
                        } else {
                            // endOfMibView names what this repeater last got (or asked for).
                            let first = table.successor(&repeaters[j]);
                            let last = if table.len() > first {
                                &*table.oids[table.len() - 1]
                            } else {
                                &repeaters[j]
                            };
                            end_of_view(out, last);
                        }
                        if out.len() > limit {
                            out.truncate(mark);
                            break 'rows;
                        }
                        *cursor = (*cursor + 1).min(table.len());
                        count += 1;
                    }
                }
            }
        }
    }
    if error_status != 0 {
        // SNMPv1 error: the request's varbinds come back as they were sent.
        out.truncate(head);
        out.extend_from_slice(request.varbinds);
        count = 0;
    }
    // The header, written backwards into the space left before the varbinds.
    let varbinds_len = out.len() - head;
    let errors = [INTEGER, 1, error_status, INTEGER, 1, error_index];
    let pdu_len = request.request_id.len() + errors.len() + 1 + length_len(varbinds_len) + varbinds_len;
    let message_len = request.version.len()
        + 1
        + length_len(request.community.len())
        + request.community.len()
        + 1
        + length_len(pdu_len)
        + pdu_len;
    let mut header = Vec::with_capacity(head);
    header.push(SEQUENCE);
    push_length(&mut header, message_len);
    header.extend_from_slice(request.version);
    push_tlv(&mut header, OCTET_STRING, request.community);
    header.push(RESPONSE);
    push_length(&mut header, pdu_len);
    header.extend_from_slice(request.request_id);
    header.extend_from_slice(&errors);
    header.push(SEQUENCE);
    push_length(&mut header, varbinds_len);
    let start = head - header.len();
    out[start..head].copy_from_slice(&header);
    Some((start..out.len(), count))
}

// --- the fleet ----------------------------------------------------------------------------------

/// Where the fleet listens and how it is run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub address: IpAddr,
    /// The first agent's port; 0 picks a free run of `agents` consecutive ports.
    pub first_port: u16,
    pub agents: usize,
    /// The last `silent` agents read and drop every request (dead hosts).
    pub silent: usize,
    /// The `delayed` agents before the silent ones answer `delay` late (a round-trip time).
    pub delayed: usize,
    pub delay: std::time::Duration,
    pub threads: usize,
}

/// A running fleet: stopped (threads joined, sockets closed) on drop.
#[derive(Debug)]
pub struct Server {
    pub first_port: u16,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn bind_run(address: IpAddr, first_port: u16, count: usize) -> io::Result<Vec<UdpSocket>> {
    (0..count)
        .map(|i| {
            let port = u16::try_from(usize::from(first_port) + i)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "port range past 65535"))?;
            UdpSocket::bind(SocketAddr::new(address, port))
        })
        .collect()
}

fn bind_fleet(address: IpAddr, first_port: u16, agents: usize) -> io::Result<(u16, Vec<UdpSocket>)> {
    if first_port != 0 {
        return bind_run(address, first_port, agents).map(|sockets| (first_port, sockets));
    }
    // A free run: try bases above the ephemeral range first (20000..32767), then inside it.
    let step = u16::try_from(agents.max(1)).unwrap_or(u16::MAX);
    let mut base: u16 = 20_000;
    while usize::from(base) + agents <= 65_535 {
        if let Ok(sockets) = bind_run(address, base, agents) {
            return Ok((base, sockets));
        }
        base = base.saturating_add(step);
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, format!("no run of {agents} free ports on {address}")))
}

impl Server {
    pub fn start(table: Arc<Table>, behaviour: Behaviour, config: &FleetConfig) -> io::Result<Server> {
        let (first_port, sockets) = bind_fleet(config.address, config.first_port, config.agents)?;
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let threads = config.threads.clamp(1, config.agents.max(1));
        let mut groups: Vec<Vec<(UdpSocket, Kind)>> = (0..threads).map(|_| Vec::new()).collect();
        let answering = config.agents.saturating_sub(config.silent);
        let prompt = answering.saturating_sub(config.delayed);
        for (i, socket) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let kind = match i {
                _ if i >= answering => Kind::Silent,
                _ if i >= prompt => Kind::Delayed(config.delay),
                _ => Kind::Prompt,
            };
            groups[i % threads].push((socket, kind));
        }
        let mut handles = Vec::new();
        for group in groups {
            let worker = Worker::new(group, table.clone(), behaviour.clone(), stats.clone(), stop.clone())?;
            handles.push(std::thread::Builder::new().name("simagent".into()).spawn(move || worker.run())?);
        }
        Ok(Server { first_port, stats, stop, threads: handles })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

/// How an agent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prompt,
    Delayed(std::time::Duration),
    Silent,
}

/// An answer held back by a delayed agent.
struct Held {
    due: std::time::Instant,
    socket: usize,
    peer: libc::sockaddr_storage,
    peer_len: libc::socklen_t,
    bytes: Vec<u8>,
}

/// One thread's share of the fleet: its sockets under one epoll, and its batch buffers.
struct Worker {
    sockets: Vec<(UdpSocket, Kind)>,
    epoll: std::os::fd::OwnedFd,
    table: Arc<Table>,
    behaviour: Behaviour,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
}

/// An epoll instance watching `fds` for reading, each with its position as the event's token.
pub fn epoll_of(fds: impl IntoIterator<Item = std::os::fd::RawFd>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: epoll_create1 has no preconditions; the descriptor is checked before use.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    let epoll = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    for (i, watched) in fds.into_iter().enumerate() {
        let mut event = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        // SAFETY: both descriptors are open; event is a valid epoll_event.
        if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, watched, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(epoll)
}

/// Buffers for reading up to `count` datagrams, with their senders, in one `recvmmsg`.
pub struct RecvBatch {
    buffers: Vec<Vec<u8>>,
    peers: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
}

impl RecvBatch {
    /// Room for `count` datagrams of up to `size` bytes.
    pub fn new(count: usize, size: usize) -> RecvBatch {
        RecvBatch {
            buffers: vec![vec![0; size]; count],
            // SAFETY: all-zero sockaddr_storage, iovec and mmsghdr are valid values (null
            // pointers, zero lengths); the pointers are set before each recvmmsg.
            peers: vec![unsafe { MaybeUninit::zeroed().assume_init() }; count],
            // SAFETY: as above.
            iov: vec![unsafe { MaybeUninit::zeroed().assume_init() }; count],
            // SAFETY: as above.
            msgs: vec![unsafe { MaybeUninit::zeroed().assume_init() }; count],
        }
    }

    /// Reads what `fd` has waiting, up to the batch, without blocking; returns how many
    /// datagrams came (0 when none, or on an error).
    pub fn recv(&mut self, fd: std::os::fd::RawFd) -> usize {
        for i in 0..self.msgs.len() {
            let buffer = &mut self.buffers[i];
            self.iov[i] = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() };
            let header = &mut self.msgs[i].msg_hdr;
            header.msg_name = (&mut self.peers[i] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            header.msg_iov = &mut self.iov[i];
            header.msg_iovlen = 1;
        }
        // SAFETY: every mmsghdr points at a live buffer, address and iovec of `self`, which the
        // call borrows mutably.
        let got = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                self.msgs.len() as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        got.max(0) as usize
    }

    /// Datagram `i` of the last `recv`; `None` when it did not fit its buffer.
    pub fn datagram(&self, i: usize) -> Option<&[u8]> {
        let header = &self.msgs[i];
        (header.msg_hdr.msg_flags & libc::MSG_TRUNC == 0).then(|| &self.buffers[i][..header.msg_len as usize])
    }

    /// The sender of datagram `i`, as a `sendto`/`sendmmsg` destination (valid until the
    /// next `recv`).
    pub fn peer(&mut self, i: usize) -> (*mut libc::sockaddr_storage, libc::socklen_t) {
        (&mut self.peers[i], self.msgs[i].msg_hdr.msg_namelen)
    }

    /// A copy of the sender of datagram `i`.
    pub fn sender(&self, i: usize) -> (libc::sockaddr_storage, libc::socklen_t) {
        (self.peers[i], self.msgs[i].msg_hdr.msg_namelen)
    }
}

impl Worker {
    fn new(
        sockets: Vec<(UdpSocket, Kind)>,
        table: Arc<Table>,
        behaviour: Behaviour,
        stats: Arc<Stats>,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Worker> {
        let epoll = epoll_of(sockets.iter().map(|(socket, _)| socket.as_raw_fd()))?;
        Ok(Worker { sockets, epoll, table, behaviour, stats, stop })
    }

    fn run(self) {
        use std::os::fd::AsRawFd as _;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 256];
        let mut requests = RecvBatch::new(BATCH, MAX_REQUEST);
        let mut answers: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(70_000)).collect();
        // SAFETY: all-zero iovec and mmsghdr are valid values (null pointers, zero lengths); the
        // pointers are set before each call below.
        let mut out_iov: Vec<libc::iovec> = vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH];
        // SAFETY: as above.
        let mut out_msgs: Vec<libc::mmsghdr> = vec![unsafe { MaybeUninit::zeroed().assume_init() }; BATCH];
        let mut held: std::collections::VecDeque<Held> = std::collections::VecDeque::new();
        while !self.stop.load(Ordering::Relaxed) {
            let wait_ms = held.front().map_or(100, |first| {
                let left = first.due.saturating_duration_since(std::time::Instant::now());
                left.as_micros().div_ceil(1000).min(100) as i32
            });
            // SAFETY: events has room for its length; the epoll descriptor is open.
            let ready = unsafe {
                libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, wait_ms)
            };
            let now = std::time::Instant::now();
            while held.front().is_some_and(|first| first.due <= now) {
                let Some(answer) = held.pop_front() else { break };
                let fd = self.sockets[answer.socket].0.as_raw_fd();
                // SAFETY: the answer's bytes and address are live; sendto copies them.
                let sent = unsafe {
                    libc::sendto(
                        fd,
                        answer.bytes.as_ptr().cast(),
                        answer.bytes.len(),
                        libc::MSG_DONTWAIT,
                        (&answer.peer as *const libc::sockaddr_storage).cast(),
                        answer.peer_len,
                    )
                };
                let counter = if sent < 0 { &self.stats.dropped } else { &self.stats.requests };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            for event in events.iter().take(ready.max(0) as usize) {
                let socket_index = event.u64 as usize;
                let (socket, kind) = &self.sockets[socket_index];
                let silent = &(*kind == Kind::Silent);
                let fd = socket.as_raw_fd();
                let received = requests.recv(fd);
                if received == 0 {
                    continue;
                }
                let mut answered = 0;
                let mut varbinds = 0;
                for i in 0..received {
                    let answer = match requests.datagram(i) {
                        Some(request) if !*silent => {
                            answer(&self.table, &self.behaviour, request, &mut answers[answered])
                        }
                        _ => None,
                    };
                    let Some((range, count)) = answer else {
                        self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    varbinds += count;
                    if let Kind::Delayed(delay) = kind {
                        let (peer, peer_len) = requests.sender(i);
                        held.push_back(Held {
                            due: now + *delay,
                            socket: socket_index,
                            peer,
                            peer_len,
                            bytes: answers[answered][range].to_vec(),
                        });
                        continue;
                    }
                    let (peer, peer_len) = requests.peer(i);
                    out_iov[answered] = libc::iovec {
                        iov_base: answers[answered][range.start..].as_mut_ptr().cast(),
                        iov_len: range.len(),
                    };
                    let header = &mut out_msgs[answered].msg_hdr;
                    header.msg_name = peer.cast();
                    header.msg_namelen = peer_len;
                    header.msg_iov = &mut out_iov[answered];
                    header.msg_iovlen = 1;
                    answered += 1;
                }
                let mut sent = 0;
                while sent < answered {
                    // SAFETY: out_msgs[sent..answered] point at live answers, addresses and iovecs.
                    let n = unsafe {
                        libc::sendmmsg(
                            fd,
                            out_msgs[sent..].as_mut_ptr(),
                            (answered - sent) as u32,
                            libc::MSG_DONTWAIT,
                        )
                    };
                    if n <= 0 {
                        // A full socket buffer or a vanished client: the rest is lost, like a
                        // busy agent's, and counted.
                        self.stats.dropped.fetch_add((answered - sent) as u64, Ordering::Relaxed);
                        break;
                    }
                    sent += n as usize;
                }
                self.stats.requests.fetch_add(sent as u64, Ordering::Relaxed);
                self.stats.varbinds.fetch_add(varbinds as u64, Ordering::Relaxed);
            }
        }
    }
}
