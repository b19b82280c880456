//! Host names resolved, and TCP connections made, off the event loop.
//!
//! net-snmp resolves a name inside `snmp_sess_open`, on the thread that drives every request in
//! flight: one slow DNS answer would hold them all up. The engine instead hands each name to a
//! few resolver threads and opens the session with the address they find, as net-snmp would
//! have picked it: IPv4 for `udp:`/`tcp:`, IPv6 for `udp6:`/`tcp6:`, and for a bare name IPv4
//! first, then IPv6 (net-snmp's default transports "udp,udp6").
//!
//! net-snmp also connects a TCP transport inside the open, blocking until the agent accepts or
//! refuses: each TCP transport is therefore made on a thread of its own, and the session is
//! opened over it on the loop. The engine gives up on a connection that takes longer than the
//! request's timeout × tries; the thread then closes the transport when it finally returns.

use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::poller::Waker;
use crate::request::is_transport;
use crate::session::Transport;

/// How host names are turned into addresses (see [`SessionManager::set_resolver`]).
///
/// [`SessionManager::set_resolver`]: crate::SessionManager::set_resolver
pub(crate) type Resolve = Arc<dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// Resolver threads, started on the first name.
const THREADS: usize = 4;

/// The system's resolver (`getaddrinfo`, as net-snmp uses it).
pub(crate) fn system(name: &str) -> io::Result<Vec<IpAddr>> {
    Ok((name, 0).to_socket_addrs()?.map(|address| address.ip()).collect())
}

/// A peer name whose address is a host name: what to resolve and how to rebuild the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The transport as given (`udp`, `tcp6`, ...), if any.
    transport: Option<String>,
    pub name: String,
    port: Option<String>,
}

/// The name in a (validated) net-snmp peer name `[transport:]address[:port]`, or `None` when
/// the address is numeric (or not something this module understands: net-snmp then takes the
/// peer name as it is).
pub(crate) fn lookup(host: &str) -> Option<Lookup> {
    let (transport, address) = match host.split_once(':') {
        Some((prefix, rest)) if is_transport(prefix) => (Some(prefix.to_owned()), rest),
        _ => (None, host),
    };
    if address.starts_with('[') {
        return None; // a bracketed IPv6 address
    }
    let (name, port) = match address.split_once(':') {
        Some((name, port)) if !port.contains(':') => (name, Some(port.to_owned())),
        Some(_) => return None, // a bare IPv6 address
        None => (address, None),
    };
    // Only a valid address is left to net-snmp: anything else it would hand to the resolver on
    // the loop thread (`300.1.1.1`, `1.2.3.4.5` and `123-456` look numeric but are not).
    let numeric = name.parse::<IpAddr>().is_ok();
    (!numeric && !name.is_empty()).then(|| Lookup { transport, name: name.to_owned(), port })
}

impl Lookup {
    /// The peer name with `addresses`' address in place of the name, or why none fits.
    pub fn peer(&self, addresses: &[IpAddr]) -> Result<String, String> {
        let transport = self.transport.as_deref().map(str::to_ascii_lowercase);
        let wants_v6 = transport.as_deref().is_some_and(|t| t.contains('6'));
        let v4 = addresses.iter().find(|a| a.is_ipv4());
        let v6 = addresses.iter().find(|a| a.is_ipv6());
        let (transport, address) = match (transport.as_deref(), wants_v6) {
            (Some(t), true) => (t, v6.ok_or("it has no IPv6 address")?),
            (Some(t), false) => (t, v4.ok_or("it has no IPv4 address")?),
            (None, _) => match (v4, v6) {
                (Some(v4), _) => ("udp", v4),
                (None, Some(v6)) => ("udp6", v6),
                (None, None) => return Err("it has no address".into()),
            },
        };
        let address = match address {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        Ok(match &self.port {
            Some(port) => format!("{transport}:{address}:{port}"),
            None => format!("{transport}:{address}"),
        })
    }
}

/// What a resolver or connector thread found.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// A lookup: the numeric peer name, or why there is none.
    Address(Result<String, String>),
    /// A TCP connection: the transport, or the system errno and net-snmp error code.
    Connected(Result<Transport, (i32, i32)>),
}

/// A finished job: its id and outcome.
pub(crate) type Resolved = (u64, Outcome);

/// Whether a (validated) peer name is TCP (`tcp:`, `tcp6:`, ...).
pub(crate) fn is_tcp(peer: &str) -> bool {
    peer.split_once(':')
        .is_some_and(|(prefix, _)| is_transport(prefix) && prefix[..3].eq_ignore_ascii_case("tcp"))
}

/// Resolver threads fed by a channel; each answer wakes the event loop through an eventfd.
pub(crate) struct Resolver {
    resolve: Resolve,
    jobs: Option<Sender<(u64, Lookup)>>,
    results: (Sender<Resolved>, Receiver<Resolved>),
    waker: Arc<Waker>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("started", &self.jobs.is_some()).finish_non_exhaustive()
    }
}

impl Resolver {
    pub fn new() -> io::Result<Self> {
        Ok(Resolver {
            resolve: Arc::new(system),
            jobs: None,
            results: unbounded(),
            waker: Arc::new(Waker::new()?),
        })
    }

    /// The eventfd that becomes readable when lookups have finished.
    pub fn fd(&self) -> RawFd {
        self.waker.fd()
    }

    /// Uses `resolve` for the lookups submitted from now on.
    pub fn set(&mut self, resolve: Resolve) {
        self.resolve = resolve;
        self.jobs = None; // the running threads finish their queue and end
    }

    /// Queues a lookup; its result comes back from [`take`](Self::take) with `id`.
    pub fn submit(&mut self, id: u64, lookup: Lookup) {
        let jobs = self.jobs.get_or_insert_with(|| {
            let (jobs, queue) = unbounded::<(u64, Lookup)>();
            for _ in 0..THREADS {
                let (queue, results, waker) = (queue.clone(), self.results.0.clone(), self.waker.clone());
                let resolve = self.resolve.clone();
                std::thread::Builder::new()
                    .name("snmp-resolve".into())
                    .spawn(move || {
                        for (id, lookup) in queue.iter() {
                            let _ = results.send((id, Outcome::Address(run(&resolve, &lookup))));
                            waker.wake();
                        }
                    })
                    .expect("spawn a resolver thread");
            }
            jobs
        });
        if let Err(crossbeam_channel::SendError((id, lookup))) = jobs.send((id, lookup)) {
            // Cannot happen while the threads hold the queue; answer rather than lose it.
            let message = format!("cannot resolve {}: no resolver", lookup.name);
            let _ = self.results.0.send((id, Outcome::Address(Err(message))));
            self.waker.wake();
        }
    }

    /// Makes the TCP transport for `peer` (numeric) on a thread of its own; the result comes
    /// back from [`take`](Self::take) with `id`. If nobody takes it, it is closed.
    pub fn connect(&self, id: u64, peer: String) {
        let (results, waker) = (self.results.0.clone(), self.waker.clone());
        let spawned = std::thread::Builder::new().name("snmp-tcp-connect".into()).spawn(move || {
            let _ = results.send((id, Outcome::Connected(Transport::open(&peer))));
            waker.wake();
        });
        if spawned.is_err() {
            let _ = self.results.0.send((id, Outcome::Connected(Err((libc::EAGAIN, 0)))));
            self.waker.wake();
        }
    }

    /// The lookups finished so far.
    pub fn take(&self) -> Vec<Resolved> {
        self.waker.drain();
        self.results.1.try_iter().collect()
    }
}

/// One lookup; a panicking resolver is an error for that name, not a lost request.
fn run(resolve: &Resolve, lookup: &Lookup) -> Result<String, String> {
    let name = &lookup.name;
    match panic::catch_unwind(AssertUnwindSafe(|| resolve(name))) {
        Ok(Ok(addresses)) => lookup.peer(&addresses).map_err(|why| format!("cannot resolve {name}: {why}")),
        Ok(Err(error)) => Err(format!("cannot resolve {name}: {error}")),
        Err(_) => Err(format!("cannot resolve {name}: the resolver panicked")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_of(host: &str) -> Option<(Option<&str>, String, Option<&str>)> {
        let found = lookup(host)?;
        let transport = found.transport.as_deref().map(|t| &host[..t.len()]);
        let port = found.port.as_deref().map(|p| &host[host.len() - p.len()..]);
        Some((transport, found.name.clone(), port))
    }

    #[test]
    fn finds_names_and_leaves_addresses_alone() {
        assert_eq!(lookup_of("router1"), Some((None, "router1".into(), None)));
        assert_eq!(
            lookup_of("router1.example.net:1161"),
            Some((None, "router1.example.net".into(), Some("1161")))
        );
        assert_eq!(lookup_of("tcp:core-1:161"), Some((Some("tcp"), "core-1".into(), Some("161"))));
        assert_eq!(lookup_of("UDP6:edge:161"), Some((Some("UDP6"), "edge".into(), Some("161"))));
        // Not addresses, so not for net-snmp (which would resolve them on the loop thread).
        for not_an_address in ["300.1.1.1", "1.2.3.4.5", "123-456", "127.1"] {
            assert_eq!(lookup_of(not_an_address), Some((None, not_an_address.into(), None)));
        }
        assert_eq!(lookup_of("udp:300.1.1.1:161"), Some((Some("udp"), "300.1.1.1".into(), Some("161"))));
        assert!(is_tcp("tcp:127.0.0.1:161") && is_tcp("TCP6:[::1]:161") && is_tcp("tcpv6:[::1]"));
        assert!(!is_tcp("udp:127.0.0.1:161") && !is_tcp("127.0.0.1:161") && !is_tcp("tcphost:161"));
        for numeric in [
            "127.0.0.1",
            "127.0.0.1:161",
            "udp:10.0.0.1:161",
            "udp6:[::1]:161",
            "[::1]:161",
            "::1",
            "udp6:::1",
        ] {
            assert_eq!(lookup(numeric), None, "{numeric}");
        }
    }

    #[test]
    fn rebuilds_the_peer_with_the_address_net_snmp_would_pick() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        let peer = |host: &str, addresses: &[IpAddr]| lookup(host).unwrap().peer(addresses);
        assert_eq!(peer("r1:1161", &[v6, v4]), Ok("udp:192.0.2.7:1161".into()), "IPv4 first");
        assert_eq!(peer("r1", &[v6]), Ok("udp6:[2001:db8::7]".into()), "then IPv6");
        assert_eq!(peer("tcp:r1:161", &[v6, v4]), Ok("tcp:192.0.2.7:161".into()));
        assert_eq!(peer("udp6:r1:161", &[v4, v6]), Ok("udp6:[2001:db8::7]:161".into()));
        assert_eq!(peer("udp6:r1:161", &[v4]), Err("it has no IPv6 address".into()));
        assert_eq!(peer("r1", &[]), Err("it has no address".into()));
    }

    #[test]
    fn a_failing_or_panicking_resolver_is_an_error_for_that_name() {
        let lookup = lookup("r1:161").unwrap();
        let failing: Resolve = Arc::new(|_| Err(io::Error::new(io::ErrorKind::NotFound, "no such name")));
        assert_eq!(run(&failing, &lookup), Err("cannot resolve r1: no such name".into()));
        let panicking: Resolve = Arc::new(|_| panic!("a resolver bug (this panic is part of the test)"));
        assert_eq!(run(&panicking, &lookup), Err("cannot resolve r1: the resolver panicked".into()));
    }
}
