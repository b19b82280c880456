//! SNMPv1/v2c over UDP without net-snmp: the engine's fast path for the common case.
//!
//! net-snmp's single sessions cost, per request, a session and transport of their own (about
//! 8 KiB with their buffers), and per PDU a `netsnmp_pdu` built and freed on each side, its
//! generic BER builder and its request list. For community requests over UDP none of that
//! serves: [`UdpSession`] encodes the request itself (`ber::write`), sends it from a
//! non-blocking socket of its own, and matches the answer by request id, decoding it with
//! `ber.rs` as the net-snmp sessions' parse hook does. It keeps net-snmp's rules:
//! - one PDU in flight; it is resent as it was (the same request id) `retries` times, each
//!   after `timeout`, and an answer to any of the tries is taken ([`Event::Resent`] and
//!   [`Event::TimedOut`] as net-snmp's callback reports them);
//! - an answer is a Response PDU of the session's version with the request id in flight; any
//!   other datagram (malformed, stale, another version) is dropped;
//! - ICMP port or host unreachable (`IP_RECVERR`, as on net-snmp's sockets) ends the PDU at
//!   once with [`Event::Unreachable`].
//!
//! TCP, SNMPv3 and peer names it cannot read (link-local scopes, other transports) stay on
//! net-snmp ([`super::Session`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{drain_error_queue, report_icmp_errors, Event, Handler};

use crate::ber::{self, write};
use crate::error::{ErrorKind, SnmpError};
use crate::pdu::{Command, PduSpec};
use crate::request::Version;
use crate::tag::NULL;

/// The default SNMP port.
const SNMP_PORT: u16 = 161;
/// Datagrams read per [`UdpSession::read`] at most (the rest wait for the next wake-up).
const READS_PER_CALL: usize = 16;
const SEQUENCE: u8 = 0x30;
const GET: u8 = 0xa0;
const GET_NEXT: u8 = 0xa1;
const RESPONSE: u8 = 0xa2;
const GET_BULK: u8 = 0xa5;

/// The UDP address of a (validated, resolved) peer name `[udp:|udp6:]address[:port]`, or
/// `None` when net-snmp should open it: another transport, a name, a scoped IPv6 address, a
/// bare IPv6 address (whose port net-snmp reads its own way), or a transport that does not
/// match the address family (net-snmp reports that).
pub(crate) fn native_peer(peer: &str) -> Option<SocketAddr> {
    let (transport, rest) = match peer.split_once(':') {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("udp") => (Some(false), rest),
        Some((prefix, rest))
            if prefix.eq_ignore_ascii_case("udp6") || prefix.eq_ignore_ascii_case("udpv6") =>
        {
            (Some(true), rest)
        }
        Some((prefix, _)) if prefix.chars().all(|c| c.is_ascii_alphabetic()) && !prefix.is_empty() => {
            return None; // tcp:, tcp6:, unix:, ... (or a host name with a port: not numeric)
        }
        _ => (None, peer),
    };
    let parse_port = |port: &str| port.parse::<u16>().ok().filter(|&p| p != 0);
    let address = if let Some(bracketed) = rest.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']')?;
        let port = match after {
            "" => SNMP_PORT,
            _ => parse_port(after.strip_prefix(':')?)?,
        };
        SocketAddr::new(IpAddr::V6(address.parse::<Ipv6Addr>().ok()?), port)
    } else {
        let (address, port) = match rest.split_once(':') {
            Some((address, port)) => (address, parse_port(port)?),
            None => (rest, SNMP_PORT),
        };
        SocketAddr::new(IpAddr::V4(address.parse::<Ipv4Addr>().ok()?), port)
    };
    match transport {
        Some(v6) if v6 != address.is_ipv6() => None,
        _ => Some(address),
    }
}

/// Request ids: one sequence per process from a time-derived start (net-snmp's start at a
/// random value), positive 31-bit values.
fn next_request_id() -> i64 {
    static START: OnceLock<u32> = OnceLock::new();
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let start = *START.get_or_init(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        (now.subsec_nanos() ^ now.as_secs() as u32).wrapping_mul(2_654_435_761)
    });
    let id = start.wrapping_add(COUNT.fetch_add(1, Ordering::Relaxed)) & 0x7fff_ffff;
    i64::from(id.max(1))
}

/// The PDU in flight.
#[derive(Debug)]
struct InFlight {
    request_id: i64,
    /// Resends left.
    resends: u32,
    deadline: Instant,
}

/// A v1/v2c session over a UDP socket of its own (see the module doc).
#[derive(Debug)]
pub(crate) struct UdpSession<H> {
    socket: UdpSocket,
    peer: SocketAddr,
    /// The agent as the request names it (in messages).
    host: String,
    version: i64,
    community: Vec<u8>,
    retries: u32,
    timeout: Duration,
    /// The encoded request in flight (kept for resends; its allocation reused).
    packet: Vec<u8>,
    in_flight: Option<InFlight>,
    handler: H,
}

impl<H: Handler> UdpSession<H> {
    /// Opens a socket for `peer` (bound to the wildcard address of its family, a free port).
    pub fn open(
        host: &str,
        peer: SocketAddr,
        community: &str,
        version: Version,
        retries: u32,
        timeout: Duration,
        handler: H,
    ) -> Result<Self, (SnmpError, H)> {
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
            Ok(socket) => socket,
            Err(error) => {
                let message = format!("cannot open a session to {host:?}: {error}");
                let error = SnmpError::new(ErrorKind::SessionError, message)
                    .with_codes(error.raw_os_error().unwrap_or(0), 0);
                return Err((error, handler));
            }
        };
        report_icmp_errors(socket.as_raw_fd());
        Ok(UdpSession {
            socket,
            peer,
            host: host.to_owned(),
            version: match version {
                Version::V1 => 0,
                _ => 1,
            },
            community: community.as_bytes().to_vec(),
            retries,
            timeout,
            packet: Vec::with_capacity(128),
            in_flight: None,
            handler,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    pub fn into_handler(self) -> H {
        self.handler
    }

    /// Encodes and sends the PDU `spec` describes.
    pub fn send(&mut self, spec: &PduSpec) {
        let request_id = next_request_id();
        if encode(&mut self.packet, self.version, &self.community, request_id, spec).is_none() {
            let error = SnmpError::new(ErrorKind::CreateRequestPdu, "cannot encode the request PDU");
            return self.handler.on_event(Event::SendFailed(error));
        }
        let resends = if spec.single_try { 0 } else { self.retries };
        self.in_flight = Some(InFlight { request_id, resends, deadline: Instant::now() + self.timeout });
        self.transmit();
    }

    /// Sends the packet in flight; a failure ends it.
    fn transmit(&mut self) {
        let error = loop {
            match self.socket.send_to(&self.packet, self.peer) {
                Ok(_) => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => break error,
            }
        };
        self.in_flight = None;
        let errno = error.raw_os_error().unwrap_or(0);
        if let Some(unreachable) = SnmpError::unreachable(&self.host, errno, 0) {
            drain_error_queue(self.fd());
            return self.handler.on_event(Event::Unreachable(unreachable));
        }
        let message = format!("cannot send to {}: {error}", self.host);
        self.handler
            .on_event(Event::SendFailed(SnmpError::new(ErrorKind::SendError, message).with_codes(errno, 0)));
    }

    /// Reads what the socket holds (up to [`READS_PER_CALL`] datagrams), stopping at the answer
    /// to the PDU in flight, which goes to the handler. `scratch` is the receive buffer.
    pub fn read(&mut self, scratch: &mut Vec<u8>) {
        if scratch.len() < 65_536 {
            scratch.resize(65_536, 0);
        }
        for _ in 0..READS_PER_CALL {
            let length = match self.socket.recv(scratch) {
                Ok(length) => length,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let errno = error.raw_os_error().unwrap_or(0);
                    if let Some(unreachable) = SnmpError::unreachable(&self.host, errno, 0) {
                        drain_error_queue(self.fd());
                        if self.in_flight.take().is_some() {
                            self.handler.on_event(Event::Unreachable(unreachable));
                        }
                    }
                    return; // WouldBlock: nothing more to read
                }
            };
            let Some(in_flight) = &self.in_flight else { continue };
            let Ok(message) = ber::parse_message(&scratch[..length]) else { continue };
            if message.command != RESPONSE
                || message.request_id != in_flight.request_id
                || message.version != self.version
            {
                continue;
            }
            self.in_flight = None;
            return self.handler.on_event(Event::Response(&message));
        }
    }

    /// When the PDU in flight is past its deadline: resends it, or reports the timeout.
    pub fn check_timeout(&mut self) {
        let Some(in_flight) = self.in_flight.as_mut() else { return };
        let now = Instant::now();
        if now < in_flight.deadline {
            return;
        }
        if in_flight.resends == 0 {
            self.in_flight = None;
            return self.handler.on_event(Event::TimedOut);
        }
        in_flight.resends -= 1;
        in_flight.deadline = now + self.timeout;
        self.transmit();
        if self.in_flight.is_some() {
            self.handler.on_event(Event::Resent);
        }
    }
}

/// A v1/v2c message: SEQUENCE { version, community, PDU { request-id, two integers, varbinds
/// of `names` with NULL values } } (RFC 1157, RFC 3416), into `out` (cleared first). The
/// lengths are computed first, so the message is written front to back without allocating.
fn encode(out: &mut Vec<u8>, version: i64, community: &[u8], request_id: i64, spec: &PduSpec) -> Option<()> {
    let (tag, a, b) = match spec.command {
        Command::Get => (GET, 0, 0),
        Command::GetNext => (GET_NEXT, 0, 0),
        Command::GetBulk { max_repetitions } => (GET_BULK, 0, i64::from(max_repetitions)),
    };
    let mut list = 0;
    for name in &spec.names {
        let oid = oid_length(name)?;
        let var_bind = 1 + length_length(oid) + oid + 2;
        list += 1 + length_length(var_bind) + var_bind;
    }
    let integers = [request_id, a, b].map(write::integer_contents);
    let pdu = integers.iter().map(|(_, n)| 2 + n).sum::<usize>() + 1 + length_length(list) + list;
    let message = 3 + 1 + length_length(community.len()) + community.len() + 1 + length_length(pdu) + pdu;
    out.clear();
    out.reserve(1 + length_length(message) + message);
    header(out, SEQUENCE, message);
    write::integer(out, version);
    write::octets(out, community);
    header(out, tag, pdu);
    for (bytes, n) in &integers {
        header(out, INTEGER, *n);
        out.extend_from_slice(&bytes[8 - n..]);
    }
    header(out, SEQUENCE, list);
    for name in &spec.names {
        let oid = oid_length(name)?;
        header(out, SEQUENCE, 1 + length_length(oid) + oid + 2);
        header(out, OBJECT_ID, oid);
        put_oid(out, name);
        out.extend_from_slice(&[NULL, 0]);
    }
    Some(())
}

const INTEGER: u8 = 0x02;
const OBJECT_ID: u8 = 0x06;

/// Bytes of a definite length's encoding.
fn length_length(length: usize) -> usize {
    match length {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 4,
    }
}

fn header(out: &mut Vec<u8>, tag: u8, length: usize) {
    out.push(tag);
    match length {
        0..=0x7f => out.push(length as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, length as u8]),
        0x100..=0xffff => out.extend_from_slice(&[0x82, (length >> 8) as u8, length as u8]),
        _ => out.extend_from_slice(&[0x83, (length >> 16) as u8, (length >> 8) as u8, length as u8]),
    }
}

/// The sub-identifiers BER writes for an OID: the first two arcs as one, then the others.
fn arcs(subids: &[u32]) -> Option<impl Iterator<Item = u64> + '_> {
    let (&first, &second) = (subids.first()?, subids.get(1)?);
    if first > 2 || (first < 2 && second >= 40) {
        return None;
    }
    let head = u64::from(first) * 40 + u64::from(second);
    Some(std::iter::once(head).chain(subids[2..].iter().map(|&s| u64::from(s))))
}

fn subid_length(value: u64) -> usize {
    (64 - value.leading_zeros() as usize).div_ceil(7).max(1)
}

/// The length of an OID's contents; `None` when BER cannot hold it.
fn oid_length(subids: &[u32]) -> Option<usize> {
    Some(arcs(subids)?.map(subid_length).sum())
}

fn put_oid(out: &mut Vec<u8>, subids: &[u32]) {
    for value in arcs(subids).into_iter().flatten() {
        for group in (1..subid_length(value)).rev() {
            out.push(0x80 | (value >> (7 * group)) as u8 & 0x7f);
        }
        out.push(value as u8 & 0x7f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names() {
        let v4 = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert_eq!(native_peer("127.0.0.1"), v4("127.0.0.1:161"));
        assert_eq!(native_peer("127.0.0.1:1161"), v4("127.0.0.1:1161"));
        assert_eq!(native_peer("udp:10.1.2.3:1161"), v4("10.1.2.3:1161"));
        assert_eq!(native_peer("UDP:10.1.2.3"), v4("10.1.2.3:161"));
        assert_eq!(native_peer("udp6:[::1]:1161"), v4("[::1]:1161"));
        assert_eq!(native_peer("[::1]"), v4("[::1]:161"));
        assert_eq!(native_peer("[::1]:200"), v4("[::1]:200"));
        for other in [
            "tcp:127.0.0.1:161",
            "tcp6:[::1]:161",
            "router1",
            "router1:161",
            "::1",
            "udp:[::1]:161",
            "udp6:127.0.0.1",
            "[fe80::1%eth0]:161",
            "127.0.0.1:0",
            "127.0.0.1:x",
            "300.1.1.1",
        ] {
            assert_eq!(native_peer(other), None, "{other}");
        }
    }

    #[test]
    fn requests_are_encoded_as_net_snmp_encodes_them() {
        let spec = PduSpec {
            command: Command::GetBulk { max_repetitions: 25 },
            names: vec![vec![1, 3, 6, 1, 2, 1]],
            single_try: false,
        };
        let mut out = Vec::new();
        encode(&mut out, 1, b"public", 0x1234, &spec).unwrap();
        // snmpbulkget -v2c -c public -Cn0 -Cr25 HOST 1.3.6.1.2.1, with request id 0x1234
        let expected = [
            0x30, 0x24, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa5, 0x17, 0x02,
            0x02, 0x12, 0x34, 0x02, 0x01, 0x00, 0x02, 0x01, 0x19, 0x30, 0x0b, 0x30, 0x09, 0x06, 0x05, 0x2b,
            0x06, 0x01, 0x02, 0x01, 0x05, 0x00,
        ];
        assert_eq!(out, expected);
        let message = ber::parse_message(&out).unwrap();
        assert_eq!((message.version, message.command, message.request_id), (1, GET_BULK, 0x1234));
    }

    #[test]
    fn long_sub_identifiers_and_many_names_match_the_reference_writer() {
        let names =
            vec![vec![1, 3, 6, 1, 4, 1, 99999, 1, 2, u32::MAX], vec![2, 100, 128, 16384, 0], vec![0, 39]];
        for command in [Command::Get, Command::GetNext, Command::GetBulk { max_repetitions: 300 }] {
            let spec = PduSpec { command, names: names.clone(), single_try: false };
            let mut out = Vec::new();
            encode(&mut out, 0, b"a-longer-community-string", -5, &spec).unwrap();
            let wide: Vec<Vec<u64>> =
                names.iter().map(|n| n.iter().map(|&s| u64::from(s)).collect()).collect();
            let (tag, b) = match command {
                Command::GetBulk { max_repetitions } => (GET_BULK, i64::from(max_repetitions)),
                Command::Get => (GET, 0),
                Command::GetNext => (GET_NEXT, 0),
            };
            // The v3 writer's ScopedPDU holds the same PDU after its two context strings.
            let scoped =
                write::scoped_request(b"", b"", tag, -5, 0, b, wide.iter().map(Vec::as_slice)).unwrap();
            let pdu = &scoped[2 + 2 + 2..];
            assert!(out.ends_with(pdu), "{command:?}");
            let message = ber::parse_message(&out).unwrap();
            assert_eq!((message.version, message.command, message.request_id), (0, tag, -5));
        }
        let bad = PduSpec { command: Command::Get, names: vec![vec![3, 1]], single_try: false };
        assert!(encode(&mut Vec::new(), 1, b"public", 1, &bad).is_none());
    }

    #[test]
    fn request_ids_are_positive_and_distinct() {
        let ids: Vec<i64> = (0..1000).map(|_| next_request_id()).collect();
        assert!(ids.iter().all(|&id| id > 0 && id <= i64::from(i32::MAX)));
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
