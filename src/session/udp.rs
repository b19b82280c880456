//! SNMPv1/v2c over UDP without net-snmp: the engine's path for the common case.
//!
//! net-snmp's single sessions cost, per request, a session, a transport and a socket of their
//! own (about 8 KiB with their buffers, and one of the ~28,000 ephemeral ports), and per PDU a
//! `netsnmp_pdu` built and freed on each side, its generic BER builder and its request list.
//! For community requests over UDP none of that serves. Here:
//! - [`UdpSockets`]: the engine's sockets, each shared by up to [`SESSIONS_PER_SOCKET`]
//!   sessions and read with `recvmmsg`; an answer finds its session by request id.
//! - [`UdpSession`]: encodes its requests itself (without allocating) and keeps net-snmp's
//!   rules: one PDU in flight, resent as it was (the same request id) `retries` times, each
//!   after `timeout`, and an answer to any of the tries taken ([`Event::Resent`] and
//!   [`Event::TimedOut`] as net-snmp's callback reports them); an answer is a Response PDU of
//!   the session's version with the request id in flight, anything else is dropped.
//! - ICMP port or host unreachable (`IP_RECVERR`, as on net-snmp's sockets) ends the PDUs in
//!   flight to that destination at once ([`Event::Unreachable`]): the socket's error queue
//!   names the destination each error came back from.
//!
//! TCP, SNMPv3 and peer names it cannot read (link-local scopes, other transports) stay on
//! net-snmp ([`super::Session`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{report_icmp_errors, Event, Handler};

use crate::ber::write::{length_len, oid_contents_len, push_arcs, push_header};
use crate::ber::{self, write, SEQUENCE};
use crate::error::{ErrorKind, SnmpError};
use crate::pdu::{Command, PduSpec};
use crate::request::Version;
use crate::tag::{INTEGER, NULL, OBJECT_ID};

/// The default SNMP port.
const SNMP_PORT: u16 = 161;
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

/// Sessions that share one socket at most: the sockets' ephemeral ports are a finite
/// resource (about 28,000 by default), and one socket read with `recvmmsg` serves several
/// sessions per system call; few enough that their answers fit its receive buffer.
pub(crate) const SESSIONS_PER_SOCKET: usize = 8;
/// Datagrams read per `recvmmsg` call.
const BATCH: usize = 16;
/// Largest datagram read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// One shared socket and how many sessions use it.
#[derive(Debug)]
struct Shared {
    socket: UdpSocket,
    users: usize,
    /// Its family's index in `filling` (0 IPv4, 1 IPv6).
    family: usize,
}

/// The engine's UDP sockets, shared by its v1/v2c sessions ([`SESSIONS_PER_SOCKET`] each), and
/// the PDUs in flight on them by request id.
#[derive(Debug, Default)]
pub(crate) struct UdpSockets {
    sockets: Vec<Option<Shared>>,
    /// Indexes in `sockets` that hold no socket.
    vacant: Vec<usize>,
    /// The socket taking new sessions, per family (IPv4, IPv6).
    filling: [Option<usize>; 2],
    /// Request id in flight -> (the session's slot, its peer).
    in_flight: HashMap<i64, (usize, SocketAddr)>,
    /// `recvmmsg` buffers, allocated on the first read.
    buffers: Vec<Vec<u8>>,
}

/// What a read of a shared socket found.
pub(crate) enum Received<'a> {
    /// An answer for the session in `slot`: it returns whether it took it.
    Answer(usize, &'a ber::Message<'a>),
    /// The network said `slot`'s peer is unreachable (ICMP), for the PDU in flight.
    Unreachable(usize, SnmpError),
}

impl UdpSockets {
    /// A socket for a new session to an agent of `peer`'s family: the filling one, or a new one
    /// (`register`ed with the event loop under its index). Returns the index.
    pub fn assign(
        &mut self,
        peer: &SocketAddr,
        register: impl FnOnce(RawFd, usize) -> io::Result<()>,
    ) -> io::Result<usize> {
        let family = usize::from(peer.is_ipv6());
        if let Some(index) = self.filling[family] {
            if let Some(shared) = self.sockets[index].as_mut() {
                shared.users += 1;
                if shared.users == SESSIONS_PER_SOCKET {
                    self.filling[family] = None;
                }
                return Ok(index);
            }
        }
        let local: SocketAddr = match peer {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_nonblocking(true)?;
        report_icmp_errors(socket.as_raw_fd());
        let index = self.vacant.pop().unwrap_or_else(|| {
            self.sockets.push(None);
            self.sockets.len() - 1
        });
        if let Err(error) = register(socket.as_raw_fd(), index) {
            self.vacant.push(index);
            return Err(error);
        }
        self.sockets[index] = Some(Shared { socket, users: 1, family });
        self.filling[family] = (SESSIONS_PER_SOCKET > 1).then_some(index);
        Ok(index)
    }

    /// A session leaves socket `index`; the last one closes it (`unregister`ed first).
    pub fn release(&mut self, index: usize, unregister: impl FnOnce(RawFd)) {
        let Some(shared) = self.sockets.get_mut(index).and_then(Option::as_mut) else { return };
        shared.users -= 1;
        if shared.users > 0 {
            self.filling[shared.family].get_or_insert(index);
            return;
        }
        unregister(shared.socket.as_raw_fd());
        self.sockets[index] = None;
        self.vacant.push(index);
        for filling in &mut self.filling {
            if *filling == Some(index) {
                *filling = None;
            }
        }
    }

    /// Sends `packet` to `peer` from socket `index`. An error the socket holds for another
    /// datagram (an ICMP error, reported on the next call) is left for the next read, and the
    /// send tried again.
    fn send(&mut self, index: usize, packet: &[u8], peer: SocketAddr) -> io::Result<()> {
        let Some(shared) = self.sockets.get(index).and_then(Option::as_ref) else {
            return Err(io::Error::new(io::ErrorKind::NotConnected, "the session's socket is closed"));
        };
        let mut pending_errors = 0;
        loop {
            match shared.socket.send_to(packet, peer) {
                Ok(_) => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if is_icmp_errno(&error) && pending_errors < 4 => pending_errors += 1,
                Err(error) => return Err(error),
            }
        }
    }

    /// Reads socket `index` until it is empty (or a few batches were read), handing each
    /// answer to its session and ICMP errors to the sessions waiting on their peer.
    pub fn receive(&mut self, index: usize, mut deliver: impl FnMut(Received<'_>) -> bool) {
        if self.buffers.is_empty() {
            self.buffers = (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect();
        }
        let Some(fd) = self.sockets.get(index).and_then(Option::as_ref).map(|s| s.socket.as_raw_fd()) else {
            return;
        };
        for _ in 0..8 {
            let (read, lengths) = match receive_batch(fd, &mut self.buffers) {
                Ok(batch) => batch,
                Err(error) if is_icmp_errno(&error) => {
                    self.unreachable(fd, &mut deliver);
                    continue;
                }
                Err(_) => {
                    // Empty. A wake-up with nothing to read may be for an ICMP error whose
                    // pending flag a send already took: its message is still queued.
                    return self.unreachable(fd, &mut deliver);
                }
            };
            for (buffer, &length) in self.buffers.iter().zip(&lengths[..read]) {
                let Ok(message) = ber::parse_message(&buffer[..length]) else { continue };
                if message.command != RESPONSE {
                    continue;
                }
                let Some(&(slot, _)) = self.in_flight.get(&message.request_id) else { continue };
                if deliver(Received::Answer(slot, &message)) {
                    self.in_flight.remove(&message.request_id);
                }
            }
            if read < BATCH {
                return;
            }
        }
    }

    /// Reads the socket's ICMP errors: each names the destination it came back from; the PDUs
    /// in flight to it end as unreachable.
    fn unreachable(&mut self, fd: RawFd, deliver: &mut impl FnMut(Received<'_>) -> bool) {
        for (peer, errno) in drain_icmp_errors(fd) {
            let ids: Vec<(i64, usize)> = self
                .in_flight
                .iter()
                .filter(|(_, (_, to))| *to == peer)
                .map(|(&id, &(slot, _))| (id, slot))
                .collect();
            for (id, slot) in ids {
                let Some(error) = SnmpError::unreachable(&peer.to_string(), errno, 0) else { continue };
                if deliver(Received::Unreachable(slot, error)) {
                    self.in_flight.remove(&id);
                }
            }
        }
    }
}

fn is_icmp_errno(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN)
    )
}

/// One `recvmmsg` into `buffers`: how many datagrams were read, and their lengths in buffer
/// order (0 for a truncated one, which is then dropped as malformed).
fn receive_batch(fd: RawFd, buffers: &mut [Vec<u8>]) -> io::Result<(usize, [usize; BATCH])> {
    let count = buffers.len().min(BATCH);
    let mut iovecs: [libc::iovec; BATCH] =
        std::array::from_fn(|_| libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 });
    // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths); the pointers are set
    // below to buffers that outlive the call.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..count {
        iovecs[i] = libc::iovec { iov_base: buffers[i].as_mut_ptr().cast(), iov_len: buffers[i].len() };
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    let read = loop {
        // SAFETY: `headers[..count]` point at live iovecs and buffers of the given lengths; no
        // addresses are asked for (msg_name null).
        let read = unsafe {
            libc::recvmmsg(fd, headers.as_mut_ptr(), count as u32, libc::MSG_DONTWAIT, std::ptr::null_mut())
        };
        if read >= 0 {
            break read as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let mut lengths = [0; BATCH];
    for (length, header) in lengths.iter_mut().zip(&headers[..read]) {
        if header.msg_hdr.msg_flags & libc::MSG_TRUNC == 0 {
            *length = header.msg_len as usize;
        }
    }
    Ok((read, lengths))
}

/// Empties a socket's error queue (`IP_RECVERR`): the destination and errno of each ICMP error.
fn drain_icmp_errors(fd: RawFd) -> Vec<(SocketAddr, i32)> {
    let mut found = Vec::new();
    let mut data = [0u8; 512];
    let mut control = [0u64; 64];
    for _ in 0..256 {
        // SAFETY: an all-zero sockaddr_storage and msghdr are valid; the msghdr points at local
        // buffers that outlive the call.
        let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
        // SAFETY: as above.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        message.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: recvmsg writes at most the sizes given into the buffers above.
        if unsafe { libc::recvmsg(fd, &mut message, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) } < 0 {
            return found;
        }
        let mut errno = libc::ECONNREFUSED;
        // SAFETY: the kernel filled msg_control with well-formed cmsgs of msg_controllen bytes;
        // CMSG_FIRSTHDR/NXTHDR stay inside it, and an IP(V6)_RECVERR cmsg holds a
        // sock_extended_err (read unaligned).
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&message);
            while !cmsg.is_null() {
                let (level, kind) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type);
                if (level == libc::SOL_IP && kind == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && kind == libc::IPV6_RECVERR)
                {
                    let error =
                        std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>());
                    errno = error.ee_errno as i32;
                }
                cmsg = libc::CMSG_NXTHDR(&message, cmsg);
            }
        }
        if let Some(peer) = socket_address(&name) {
            found.push((peer, errno));
        }
    }
    found
}

/// A `sockaddr_storage` the kernel filled, as a `SocketAddr`.
fn socket_address(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let v4 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(v4.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let v6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(v6.sin6_addr.s6_addr);
            Some(SocketAddr::new(IpAddr::V6(ip), u16::from_be(v6.sin6_port)))
        }
        _ => None,
    }
}

/// The PDU in flight.
#[derive(Debug)]
struct InFlight {
    request_id: i64,
    /// Resends left.
    resends: u32,
    deadline: Instant,
}

/// A v1/v2c session on a shared socket of [`UdpSockets`] (see the module doc).
#[derive(Debug)]
pub(crate) struct UdpSession<H> {
    /// Its socket's index in [`UdpSockets`].
    socket: usize,
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
    /// A session to `peer` on a socket of `sockets` (`register` adds a new socket to the loop).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        host: &str,
        peer: SocketAddr,
        community: &str,
        version: Version,
        retries: u32,
        timeout: Duration,
        handler: H,
        sockets: &mut UdpSockets,
        register: impl FnOnce(RawFd, usize) -> io::Result<()>,
    ) -> Result<Self, (SnmpError, H)> {
        let socket = match sockets.assign(&peer, register) {
            Ok(socket) => socket,
            Err(error) => {
                let message = format!("cannot open a session to {host:?}: {error}");
                let error = SnmpError::new(ErrorKind::SessionError, message)
                    .with_codes(error.raw_os_error().unwrap_or(0), 0);
                return Err((error, handler));
            }
        };
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
            packet: Vec::new(),
            in_flight: None,
            handler,
        })
    }

    pub fn handler(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Leaves its socket (closed with its last session) and returns the handler.
    pub fn close(mut self, sockets: &mut UdpSockets, unregister: impl FnOnce(RawFd)) -> H {
        if let Some(in_flight) = self.in_flight.take() {
            sockets.in_flight.remove(&in_flight.request_id);
        }
        sockets.release(self.socket, unregister);
        self.handler
    }

    /// Encodes and sends the PDU `spec` describes, for the session in `slot`.
    pub fn send(&mut self, spec: &PduSpec, sockets: &mut UdpSockets, slot: usize) {
        if let Some(old) = self.in_flight.take() {
            sockets.in_flight.remove(&old.request_id);
        }
        let request_id = next_request_id();
        if encode(&mut self.packet, self.version, &self.community, request_id, spec).is_none() {
            let error = SnmpError::new(ErrorKind::CreateRequestPdu, "cannot encode the request PDU");
            return self.handler.on_event(Event::SendFailed(error));
        }
        let resends = if spec.single_try { 0 } else { self.retries };
        self.in_flight = Some(InFlight { request_id, resends, deadline: Instant::now() + self.timeout });
        sockets.in_flight.insert(request_id, (slot, self.peer));
        self.transmit(sockets);
    }

    /// Sends the packet in flight; a failure ends it.
    fn transmit(&mut self, sockets: &mut UdpSockets) {
        let Err(error) = sockets.send(self.socket, &self.packet, self.peer) else { return };
        if let Some(in_flight) = self.in_flight.take() {
            sockets.in_flight.remove(&in_flight.request_id);
        }
        let errno = error.raw_os_error().unwrap_or(0);
        if let Some(unreachable) = SnmpError::unreachable(&self.host, errno, 0) {
            return self.handler.on_event(Event::Unreachable(unreachable));
        }
        let message = format!("cannot send to {}: {error}", self.host);
        self.handler
            .on_event(Event::SendFailed(SnmpError::new(ErrorKind::SendError, message).with_codes(errno, 0)));
    }

    /// Takes what [`UdpSockets::receive`] found for this session; false when it is not for
    /// the PDU in flight (another version, a stale request id).
    pub fn accept(&mut self, received: Received<'_>) -> bool {
        let Some(in_flight) = &self.in_flight else { return false };
        match received {
            Received::Answer(_, message) => {
                if message.request_id != in_flight.request_id || message.version != self.version {
                    return false;
                }
                self.in_flight = None;
                self.handler.on_event(Event::Response(message));
            }
            Received::Unreachable(_, error) => {
                // Named as the request names the agent.
                let error = SnmpError::unreachable(&self.host, error.sys_errno, 0).unwrap_or(error);
                self.in_flight = None;
                self.handler.on_event(Event::Unreachable(error));
            }
        }
        true
    }

    /// When the PDU in flight is past its deadline: resends it, or reports the timeout.
    pub fn check_timeout(&mut self, sockets: &mut UdpSockets) {
        let Some(in_flight) = self.in_flight.as_mut() else { return };
        let now = Instant::now();
        if now < in_flight.deadline {
            return;
        }
        if in_flight.resends == 0 {
            let request_id = in_flight.request_id;
            self.in_flight = None;
            sockets.in_flight.remove(&request_id);
            return self.handler.on_event(Event::TimedOut);
        }
        in_flight.resends -= 1;
        in_flight.deadline = now + self.timeout;
        self.transmit(sockets);
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
        let oid = oid_contents_len(name)?;
        let var_bind = 1 + length_len(oid) + oid + 2;
        list += 1 + length_len(var_bind) + var_bind;
    }
    let integers = [request_id, a, b].map(write::integer_contents);
    let pdu = integers.iter().map(|(_, n)| 2 + n).sum::<usize>() + 1 + length_len(list) + list;
    let message = 3 + 1 + length_len(community.len()) + community.len() + 1 + length_len(pdu) + pdu;
    out.clear();
    out.reserve(1 + length_len(message) + message);
    push_header(out, SEQUENCE, message);
    write::integer(out, version);
    write::octets(out, community);
    push_header(out, tag, pdu);
    for (bytes, n) in &integers {
        push_header(out, INTEGER, *n);
        out.extend_from_slice(&bytes[8 - n..]);
    }
    push_header(out, SEQUENCE, list);
    for name in &spec.names {
        let oid = oid_contents_len(name)?;
        push_header(out, SEQUENCE, 1 + length_len(oid) + oid + 2);
        push_header(out, OBJECT_ID, oid);
        push_arcs(out, name)?;
        out.extend_from_slice(&[NULL, 0]);
    }
    Some(())
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
