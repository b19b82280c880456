//! The event loop: [`SessionManager`] drives many sessions at once: v1/v2c over UDP on sockets
//! of its own (`session::udp`), SNMPv3 and TCP as net-snmp single sessions.
//!
//! - **Admission**: queued requests start while fewer sessions are in flight than the smallest
//!   `max_sessions` among the requests in flight and the candidate.
//! - **One loop for all sessions**: every session's socket is in one epoll set; a wake-up
//!   costs time in proportion to the ready sockets, each read with `snmp_sess_read2`. A silent
//!   agent only ever costs its own timer.
//! - **Timers**: the session keeps each PDU's retry state (net-snmp's, or the UDP session's own);
//!   the loop keeps one deadline per session in a heap and lets that session alone resend or
//!   time out when it passes.
//! - **Host names** are resolved on resolver threads ([`crate::resolve`]), not by net-snmp on
//!   this loop: a request waits for its address (counted as in flight), then opens its session.
//!   A TCP agent's connection is made on a thread too, and given up after the request's
//!   timeout × tries: a black-holed TCP agent costs only its own request.
//! - **Completion**: a request completes when its [`Collection`] has nothing more to send; its
//!   session is closed and a [`Response`] is queued. Every request admitted yields exactly one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Config, Settings};
use crate::error::{ErrorKind, Result, SnmpError};
use crate::poller::{raise_fd_limit, Poller, Waker};
use crate::request::{Credentials, Request};
use crate::resolve::{self, Outcome, Resolver};
use crate::response::Response;
use crate::session::{
    self, Channel, Event, Handler, LargeFdSet, Received, Security, Target, Transport, UdpSockets,
};
use crate::walk::Collection;

/// The epoll token of the waker; session tokens are slot numbers.
const WAKE_TOKEN: u64 = u64::MAX;
/// The epoll token of the resolver threads' eventfd.
const RESOLVE_TOKEN: u64 = u64::MAX - 1;
/// Shared UDP socket `i` has token `UDP_TOKEN + i` (slots are below it).
const UDP_TOKEN: u64 = 1 << 48;
/// How soon to look again when net-snmp's own clock has not yet seen a deadline pass.
const TIMER_SLACK: Duration = Duration::from_millis(1);
/// How long an agent found not to answer GETBULK is walked with GETNEXT straight away.
const DROPS_BULK_FOR: Duration = Duration::from_secs(3600);
/// Past this many remembered agents, the expired ones are forgotten.
const DROPS_BULK_PRUNE: usize = 4096;

/// A request's collection plus what the loop must know after each net-snmp call.
#[derive(Debug)]
struct Job {
    collection: Collection,
    /// When the request started (was admitted).
    started: Instant,
    /// A PDU was (re)sent: its timer starts now.
    rearm: bool,
}

impl Handler for Job {
    fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Response(response) => self.collection.on_response(response),
            Event::TimedOut => self.collection.on_timeout(),
            Event::Resent => self.rearm = true,
            Event::SendFailed(error) => self.collection.on_error(error),
            Event::Disconnected => self
                .collection
                .on_error(SnmpError::new(ErrorKind::TransportDisconnect, "the agent closed the connection")),
            Event::Unreachable(error) => self.collection.on_error(error),
            Event::SecurityError(error) => self.collection.on_error(error),
        }
    }
}

/// A request waiting for its host name's address or its TCP connection (counted in flight).
#[derive(Debug)]
struct Preparing {
    request: Request,
    settings: Settings,
    /// When the request was admitted.
    started: Instant,
    /// The resolved peer name, once there is one.
    peer: Option<String>,
}

/// A request in flight.
#[derive(Debug)]
struct Active {
    request: Request,
    settings: Settings,
    session: Channel<Job>,
    /// Tells this occupant of the slot from earlier ones in the timer heap.
    occupant: u64,
    /// When the PDU in flight times out (or the request's deadline, if sooner).
    deadline: Option<Instant>,
    /// When the request's own `deadline` passes.
    ends_at: Option<Instant>,
    /// Whether the timer heap holds an entry for this occupant.
    in_heap: bool,
}

/// Drives many GET/WALK requests in parallel: v1/v2c over shared UDP sockets of its own,
/// SNMPv3 and TCP over net-snmp single sessions.
///
/// ```no_run
/// use snmp_stream::{Community, Config, Oid, Request, SessionManager, Version};
/// let mut manager = SessionManager::new(Config::new())?;
/// let community = Community::new("public", Version::V2c)?;
/// for host in ["127.0.0.1:1161", "127.0.0.2:1161"] {
///     let oids = [Oid::parse("1.3.6.1.2.1.2.2.1")?];
///     manager.add_request(Request::walk(host, community.clone(), oids).build()?);
/// }
/// while !manager.is_idle() {
///     for response in manager.run() {
///         println!("{} {:?} {} bytes", response.request.host(), response.status, response.results.len());
///     }
/// }
/// # Ok::<(), snmp_stream::Error>(())
/// ```
#[derive(Debug)]
pub struct SessionManager {
    config: Config,
    queue: VecDeque<Request>,
    slots: Vec<Option<Active>>,
    free_slots: Vec<usize>,
    in_flight: usize,
    /// `max_sessions` of each request in flight → how many have it.
    session_caps: BTreeMap<u32, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    next_occupant: u64,
    poller: Poller,
    ready: LargeFdSet,
    /// The v1/v2c sessions' shared UDP sockets.
    udp: UdpSockets,
    /// The slots answered by one read of a shared socket (kept for the next read).
    udp_answered: Vec<usize>,
    completed: Vec<Response>,
    resolver: Resolver,
    /// Requests waiting for a lookup or a TCP connection, by job id.
    preparing: HashMap<u64, Preparing>,
    next_job: u64,
    /// When each TCP connection in progress is given up, by job id.
    connect_timers: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Agents (by host as requested) that did not answer GETBULK, and when that was seen.
    drops_bulk: HashMap<String, Instant>,
}

impl SessionManager {
    /// A manager whose `config` applies under each request's own.
    pub fn new(config: Config) -> Result<Self> {
        let config = config.validate()?;
        // net-snmp is initialised by the first session that needs it (TCP, SNMPv3, a peer
        // only net-snmp reads), not here: v1/v2c over UDP never touches it, so a process
        // that only polls those does not pay its start-up (OpenSSL's random generator, the
        // transports, USM: about 2 ms of CPU).
        raise_fd_limit();
        let poller = Poller::new(1024)?;
        let resolver = Resolver::new()?;
        poller.add(resolver.fd(), RESOLVE_TOKEN)?;
        Ok(SessionManager {
            config,
            queue: VecDeque::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            in_flight: 0,
            session_caps: BTreeMap::new(),
            timers: BinaryHeap::new(),
            next_occupant: 0,
            poller,
            ready: LargeFdSet::new(),
            udp: UdpSockets::default(),
            udp_answered: Vec::new(),
            completed: Vec::new(),
            resolver,
            preparing: HashMap::new(),
            next_job: 0,
            connect_timers: BinaryHeap::new(),
            drops_bulk: HashMap::new(),
        })
    }

    /// The manager's config.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Replaces how host names are resolved (by default the system's resolver, `getaddrinfo`,
    /// as net-snmp would call it), e.g. with a DNS cache of your own. It runs on the resolver
    /// threads, never on the loop; an error or a panic fails that request with a session error.
    /// Requests given as addresses never call it.
    pub fn set_resolver(
        &mut self,
        resolve: impl Fn(&str) -> std::io::Result<Vec<IpAddr>> + Send + Sync + 'static,
    ) {
        self.resolver.set(Arc::new(resolve));
    }

    /// Queues a request; it starts on a later [`run`](Self::run).
    pub fn add_request(&mut self, request: Request) {
        self.queue.push_back(request);
    }

    /// Requests queued and not yet started.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// True when nothing is queued, in flight or waiting to be returned.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_flight == 0 && self.completed.is_empty()
    }

    /// Drives all sessions until at least one request completes, and returns the completed
    /// responses. Returns an empty list at once when idle.
    pub fn run(&mut self) -> Vec<Response> {
        loop {
            self.admit();
            if !self.completed.is_empty() || self.in_flight == 0 {
                return std::mem::take(&mut self.completed);
            }
            self.turn(None);
        }
    }

    /// Like [`run`](Self::run), but returns after at most `limit` even when nothing completed
    /// (so a caller can check for interrupts, e.g. Python's Ctrl-C, between calls).
    pub fn run_for(&mut self, limit: Duration) -> Vec<Response> {
        let deadline = Instant::now() + limit;
        loop {
            self.admit();
            let now = Instant::now();
            if !self.completed.is_empty() || self.in_flight == 0 || now >= deadline {
                return std::mem::take(&mut self.completed);
            }
            self.turn(Some(deadline - now));
        }
    }

    /// Runs until every queued request has completed; returns all responses.
    pub fn run_all(&mut self) -> Vec<Response> {
        let mut responses = Vec::new();
        while !self.is_idle() {
            responses.extend(self.run());
        }
        responses
    }

    /// Registers the waker of a [`Collector`](crate::Collector) thread.
    pub(crate) fn watch_waker(&self, waker: &Waker) -> Result<()> {
        Ok(self.poller.add(waker.fd(), WAKE_TOKEN)?)
    }

    /// Takes the responses completed so far.
    pub(crate) fn take_completed(&mut self) -> Vec<Response> {
        std::mem::take(&mut self.completed)
    }

    /// Starts queued requests while the session limits allow.
    pub(crate) fn admit(&mut self) {
        while let Some(request) = self.queue.front() {
            let settings = request.config().resolve(self.config);
            let cap = self
                .session_caps
                .keys()
                .next()
                .map_or(settings.max_sessions, |&c| c.min(settings.max_sessions));
            if self.in_flight >= cap as usize {
                return;
            }
            let Some(request) = self.queue.pop_front() else { return };
            let started = Instant::now();
            match resolve::lookup(request.host()) {
                Some(lookup) => {
                    self.hold(&settings);
                    self.next_job += 1;
                    self.resolver.submit(self.next_job, lookup);
                    self.preparing
                        .insert(self.next_job, Preparing { request, settings, started, peer: None });
                }
                None if resolve::is_tcp(request.host()) => {
                    self.hold(&settings);
                    self.connect(Preparing { request, settings, started, peer: None });
                }
                None => self.start(request, settings, None, None, started),
            }
        }
    }

    /// Makes the TCP connection of a (held) request on a thread; it is given up after the
    /// request's timeout × tries, or at its deadline if sooner.
    fn connect(&mut self, preparing: Preparing) {
        self.next_job += 1;
        let peer = preparing.peer.clone().unwrap_or_else(|| preparing.request.host().to_owned());
        self.resolver.connect(self.next_job, peer);
        let settings = &preparing.settings;
        let mut give_up = preparing.started + settings.timeout * (settings.retries + 1);
        if let Some(limit) = settings.deadline {
            give_up = give_up.min(preparing.started + limit);
        }
        self.connect_timers.push(Reverse((give_up, self.next_job)));
        self.preparing.insert(self.next_job, preparing);
    }

    /// Answers a request that ends before its session opens.
    fn fail_preparing(&mut self, preparing: Preparing, error: SnmpError) {
        self.release(&preparing.settings);
        let Preparing { request, settings, started, .. } = preparing;
        let mut collection = Collection::new(&request, &settings, now_us(), started, false);
        collection.on_error(error);
        self.respond(request, Job { collection, started, rearm: false });
    }

    /// Gives up the TCP connections that have taken too long.
    fn expire_connects(&mut self, now: Instant) {
        while let Some(&Reverse((at, id))) = self.connect_timers.peek() {
            if at > now {
                return;
            }
            self.connect_timers.pop();
            let Some(preparing) = self.preparing.remove(&id) else { continue };
            let settings = &preparing.settings;
            let error = match settings.deadline {
                Some(limit) if preparing.started + limit <= at => {
                    SnmpError::deadline(preparing.request.host(), limit)
                }
                _ => {
                    let tries = settings.retries + 1;
                    let message = format!(
                        "no TCP connection to {} within {:?} ({tries} × {:?}, the request's tries)",
                        preparing.request.host(),
                        settings.timeout * tries,
                        settings.timeout
                    );
                    SnmpError::new(ErrorKind::Timeout, message).with_codes(libc::ETIMEDOUT, 0)
                }
            };
            self.fail_preparing(preparing, error);
        }
    }

    /// Counts a request as in flight.
    fn hold(&mut self, settings: &Settings) {
        *self.session_caps.entry(settings.max_sessions).or_default() += 1;
        self.in_flight += 1;
    }

    /// Counts a request as no longer in flight.
    fn release(&mut self, settings: &Settings) {
        self.in_flight -= 1;
        if let Some(count) = self.session_caps.get_mut(&settings.max_sessions) {
            *count -= 1;
            if *count == 0 {
                self.session_caps.remove(&settings.max_sessions);
            }
        }
    }

    /// Goes on with the requests whose host names are resolved or whose TCP connections are
    /// made (or answers them).
    fn resolved(&mut self) {
        for (id, outcome) in self.resolver.take() {
            // A connection given up is no longer here: its transport is dropped (closed).
            let Some(mut preparing) = self.preparing.remove(&id) else { continue };
            let overdue =
                preparing.settings.deadline.is_some_and(|limit| preparing.started.elapsed() >= limit);
            if overdue {
                // The lookup or connection took the whole deadline: no session is opened.
                let limit = preparing.settings.deadline.unwrap_or_default();
                let error = SnmpError::deadline(preparing.request.host(), limit);
                self.fail_preparing(preparing, error);
                continue;
            }
            match outcome {
                Outcome::Address(Ok(peer)) if resolve::is_tcp(&peer) => {
                    preparing.peer = Some(peer);
                    self.connect(preparing);
                }
                Outcome::Address(Ok(peer)) => {
                    self.release(&preparing.settings);
                    let Preparing { request, settings, started, .. } = preparing;
                    self.start(request, settings, Some(peer), None, started);
                }
                Outcome::Connected(Ok(transport)) => {
                    self.release(&preparing.settings);
                    let Preparing { request, settings, started, peer } = preparing;
                    self.start(request, settings, peer, Some(transport), started);
                }
                Outcome::Address(Err(message)) => {
                    self.fail_preparing(preparing, SnmpError::new(ErrorKind::SessionError, message));
                }
                Outcome::Connected(Err((sys_errno, snmp_errno))) => {
                    let error = session::open_error(preparing.request.host(), sys_errno, snmp_errno);
                    self.fail_preparing(preparing, error);
                }
            }
        }
    }

    /// Opens the request's session (with `peer`, a resolved peer name, in place of its host;
    /// over `transport` when it is already made) and sends its first PDU. `started` is when
    /// the request was admitted.
    fn start(
        &mut self,
        request: Request,
        settings: Settings,
        peer: Option<String>,
        transport: Option<Transport>,
        started: Instant,
    ) {
        let drops_bulk =
            self.drops_bulk.get(request.host()).is_some_and(|seen| seen.elapsed() < DROPS_BULK_FOR);
        let collection = Collection::new(&request, &settings, now_us(), Instant::now(), drops_bulk);
        let target = Target {
            host: request.host(),
            peer: peer.as_deref(),
            security: match request.credentials() {
                Credentials::Community(community) => {
                    Security::Community(community.string(), community.version())
                }
                Credentials::Usm(usm) => Security::Usm(usm),
            },
            retries: settings.retries,
            timeout: settings.timeout,
        };
        let (poller, udp) = (&self.poller, &mut self.udp);
        let register = |fd, index: usize| poller.add(fd, UDP_TOKEN + index as u64);
        let job = Job { collection, started, rearm: false };
        let session = match Channel::open(&target, transport, job, udp, register) {
            Ok(session) => session,
            Err((error, mut job)) => {
                job.collection.on_error(error);
                return self.respond(request, job);
            }
        };
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        if let Some(Err(err)) = session.own_fd().map(|fd| self.poller.add(fd, slot as u64)) {
            self.free_slots.push(slot);
            let poller = &self.poller;
            let mut job = session.close(&mut self.udp, |fd| poller.delete(fd));
            let message = format!("cannot watch the socket for {}: {err}", request.host());
            job.collection.on_error(SnmpError::new(ErrorKind::SessionError, message));
            return self.respond(request, job);
        }
        self.next_occupant += 1;
        self.hold(&settings);
        self.slots[slot] = Some(Active {
            request,
            settings,
            session,
            occupant: self.next_occupant,
            deadline: None,
            ends_at: settings.deadline.map(|limit| started + limit),
            in_heap: false,
        });
        self.drive(slot);
    }

    /// Waits for sockets or timers (at most `limit`) and handles what happened. Returns true
    /// when the waker fired.
    pub(crate) fn turn(&mut self, limit: Option<Duration>) -> bool {
        let now = Instant::now();
        let next_timer = match (self.timers.peek(), self.connect_timers.peek()) {
            (Some(Reverse((a, _, _))), Some(Reverse((b, _)))) => Some(*a.min(b)),
            (a, b) => a.map(|Reverse((at, _, _))| *at).or(b.map(|Reverse((at, _))| *at)),
        };
        let until_timer = next_timer.map(|at| at.saturating_duration_since(now));
        let wait = match (until_timer, limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (mut woken, mut resolved) = (false, false);
        let mut ready_slots = Vec::new();
        let mut ready_udp = Vec::new();
        match self.poller.wait(wait) {
            Ok(tokens) => {
                for token in tokens {
                    if token == WAKE_TOKEN {
                        woken = true;
                    } else if token == RESOLVE_TOKEN {
                        resolved = true;
                    } else if token >= UDP_TOKEN {
                        ready_udp.push((token - UDP_TOKEN) as usize);
                    } else {
                        ready_slots.push(token as usize);
                    }
                }
            }
            // epoll_wait on a valid epoll fd fails only on bad arguments; don't spin.
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
        for slot in ready_slots {
            if let Some(active) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                active.session.read(&mut self.ready);
                self.drive(slot);
            }
        }
        for index in ready_udp {
            self.receive_udp(index);
        }
        if resolved {
            self.resolved();
        }
        let now = Instant::now();
        self.expire_connects(now);
        self.expire_timers(now);
        woken
    }

    /// Reads shared UDP socket `index`: each answer (or ICMP error) goes to its session, which
    /// is then driven on.
    fn receive_udp(&mut self, index: usize) {
        let mut answered = std::mem::take(&mut self.udp_answered);
        let slots = &mut self.slots;
        self.udp.receive(index, |received| {
            let slot = match received {
                Received::Answer(slot, _) | Received::Unreachable(slot, _) => slot,
            };
            let Some(Some(active)) = slots.get_mut(slot) else { return false };
            let Channel::Udp(session) = &mut active.session else { return false };
            let taken = session.accept(received);
            if taken {
                answered.push(slot);
            }
            taken
        });
        for &slot in &answered {
            self.drive(slot);
        }
        answered.clear();
        self.udp_answered = answered;
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, occupant))) = self.timers.peek() {
            if at > now {
                return;
            }
            self.timers.pop();
            let Some(active) = self.slots.get_mut(slot).and_then(Option::as_mut) else { continue };
            if active.occupant != occupant {
                continue;
            }
            active.in_heap = false;
            match active.deadline {
                Some(deadline) if deadline <= now => {
                    active.deadline = None;
                    if active.ends_at.is_some_and(|end| end <= now) {
                        let limit = active.settings.deadline.unwrap_or_default();
                        active.session.handler().collection.on_deadline(limit);
                        self.drive(slot);
                        continue;
                    }
                    active.session.check_timeout(&mut self.udp);
                    let job = active.session.handler();
                    if job.collection.awaiting() && !job.rearm {
                        // net-snmp's clock has not passed its own expiry yet: look again soon.
                        self.arm(slot, now + TIMER_SLACK);
                    }
                    self.drive(slot);
                }
                Some(deadline) => {
                    active.in_heap = true;
                    self.timers.push(Reverse((deadline, slot, occupant)));
                }
                None => {}
            }
        }
    }

    fn arm(&mut self, slot: usize, deadline: Instant) {
        let Some(active) = self.slots[slot].as_mut() else { return };
        let deadline = active.ends_at.map_or(deadline, |end| end.min(deadline));
        active.deadline = Some(deadline);
        if !active.in_heap {
            active.in_heap = true;
            self.timers.push(Reverse((deadline, slot, active.occupant)));
        }
    }

    /// After any event on `slot`: restart its timer, send its next PDU, or complete it.
    fn drive(&mut self, slot: usize) {
        loop {
            let Some(active) = self.slots[slot].as_mut() else { return };
            let timeout = active.settings.timeout;
            let job = active.session.handler();
            if job.collection.awaiting() {
                if std::mem::take(&mut job.rearm) {
                    self.arm(slot, Instant::now() + timeout);
                }
                return;
            }
            match job.collection.next_pdu() {
                Some(spec) => {
                    job.rearm = true;
                    active.session.send(&spec, &mut self.udp, slot);
                    active.session.handler().collection.recycle(spec);
                }
                None => return self.complete(slot),
            }
        }
    }

    fn complete(&mut self, slot: usize) {
        let Some(active) = self.slots[slot].take() else { return };
        self.free_slots.push(slot);
        self.release(&active.settings);
        if let Some(fd) = active.session.own_fd() {
            self.poller.delete(fd);
        }
        let poller = &self.poller;
        let job = active.session.close(&mut self.udp, |fd| poller.delete(fd));
        if job.collection.fell_back() {
            if self.drops_bulk.len() >= DROPS_BULK_PRUNE {
                self.drops_bulk.retain(|_, seen| seen.elapsed() < DROPS_BULK_FOR);
            }
            self.drops_bulk.insert(active.request.host().to_owned(), Instant::now());
        }
        self.respond(active.request, job);
    }

    fn respond(&mut self, request: Request, job: Job) {
        let elapsed = job.started.elapsed();
        let (results, errors, status) = job.collection.finish();
        self.completed.push(Response { request, status, results, errors, elapsed });
    }
}

/// The wall-clock time now, in microseconds since the Unix epoch (a buffer's start time).
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}
