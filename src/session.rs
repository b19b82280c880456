//! net-snmp single sessions (`snmp_sess_*`), owned: [`Session`] opens one on construction and
//! closes it on drop; its callback state lives in a box that outlives every callback.
//!
//! One of the two modules that touch raw pointers (with `pdu.rs`). The rules it keeps:
//! - net-snmp is initialised once per process ([`init`]), without reading config files or
//!   loading MIBs (snmp-stream does no MIB processing).
//! - A session is used by one thread at a time (`Session` is `Send` but not `Sync`).
//! - The callback never unwinds into C: its body runs under `catch_unwind`, the panic is
//!   stored and resumed after the net-snmp call returns (curl-rust's `panic.rs` pattern).
//! - v1/v2c over UDP does not use net-snmp at all ([`Channel::Udp`], `udp.rs`). Other v1/v2c
//!   sessions (TCP, peers only net-snmp reads) are opened with `snmp_sess_add_ex` and a parse
//!   hook that reads only the message header; the callback decodes the varbinds from the
//!   datagram itself (`ber.rs`).
//! - v3 sessions build their GET/GETNEXT/GETBULK messages here too (a build hook: BER in
//!   `ber::write`, encryption and digest in `usm_crypto.rs`, engine boots and time from
//!   net-snmp's list); discovery probes and other PDUs are built by net-snmp.
//! - v3 sessions have a parse hook too: a response from the session's own engine and user,
//!   whose digest is right and that is in time, is decrypted (`usm_crypto.rs`) and decoded by
//!   `ber.rs` with the session's localised keys; anything else (reports, messages failing a
//!   check) goes to net-snmp's own parser, which rejects, counts and reports as it always
//!   does, and the callback then reads net-snmp's PDU. The engine ID is discovered without
//!   blocking: the first send is
//!   preceded by a probe, and the PDU goes out when the report with the engine ID is read.
//!   USM keeps process-wide state, so every net-snmp call on a v3 session holds one lock
//!   (`usm.rs`).

use std::any::Any;
use std::ffi::{c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Mutex, Once};
use std::time::Duration;

use netsnmp_sys as sys;

use crate::ber::{self, PduResponse, Value, VarBind};
use crate::error::{ErrorKind, SnmpError};
use crate::pdu::{PduSpec, RequestPdu};
use crate::request::Version;
use crate::usm::Usm;
use crate::usm_crypto::{self, KeyPair};

mod udp;
mod usm;
pub(crate) use udp::{Received, UdpSockets};
pub use usm::{counters as usm_counters, UsmCounters};

static INIT: Once = Once::new();
/// Adding a session touches net-snmp's process-wide counters and lists; serialise it.
static OPEN_LOCK: Mutex<()> = Mutex::new(());

/// Initialises net-snmp once per process. Every constructor that needs it calls this.
pub(crate) fn init() {
    INIT.call_once(|| {
        // SAFETY: these calls only set library defaults and initialise net-snmp's globals; the
        // Once guarantees no other thread is inside net-snmp's init at the same time.
        // `snmp_sess_init` runs `_init_snmp` (transports, request ids) without `init_snmp`'s
        // config-file reading and MIB loading, which snmp-stream does not want.
        unsafe {
            sys::netsnmp_ds_set_boolean(
                sys::NETSNMP_DS_LIBRARY_ID as c_int,
                sys::NETSNMP_DS_LIB_DONT_READ_CONFIGS as c_int,
                1,
            );
            sys::netsnmp_ds_set_boolean(
                sys::NETSNMP_DS_LIBRARY_ID as c_int,
                sys::NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD as c_int,
                1,
            );
            sys::netsnmp_ds_set_boolean(
                sys::NETSNMP_DS_LIBRARY_ID as c_int,
                sys::NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE as c_int,
                1,
            );
            let mut scratch = sys::netsnmp_session::default();
            sys::snmp_sess_init(&mut scratch);
            // SNMPv3: names the application (init_snmp would; USM registers its config
            // handlers under that name), registers USM, then runs what net-snmp runs once its (here skipped)
            // config files are read: random salts for DES/AES IVs, the "" user discovery
            // reports are read with, and a random local engine ID.
            sys::netsnmp_ds_set_string(
                sys::NETSNMP_DS_LIBRARY_ID as c_int,
                sys::NETSNMP_DS_LIB_APPTYPE as c_int,
                c"snmp-stream".as_ptr(),
            );
            sys::init_snmpv3(c"snmp-stream".as_ptr());
            // The same callbacks bootstrap TLS, which logs that it has no certificates (we
            // load none): a log handler that discards keeps that off stderr meanwhile.
            let quiet =
                sys::netsnmp_register_loghandler(sys::NETSNMP_LOGHANDLER_NONE as c_int, libc::LOG_EMERG);
            sys::snmp_call_callbacks(
                sys::SNMP_CALLBACK_LIBRARY as c_int,
                sys::SNMP_CALLBACK_POST_PREMIB_READ_CONFIG as c_int,
                std::ptr::null_mut(),
            );
            if !quiet.is_null() {
                sys::netsnmp_remove_loghandler(quiet);
            }
        }
    });
}

/// What net-snmp tells a session's handler.
pub(crate) enum Event<'a> {
    /// The answer to the PDU in flight: decoded from the datagram by [`ber`] (v1/v2c), or
    /// read from net-snmp's PDU (v3).
    Response(&'a dyn PduResponse),
    /// No answer after all retries.
    TimedOut,
    /// The PDU was retransmitted (its timer restarted).
    Resent,
    /// Sending (or resending) failed.
    SendFailed(SnmpError),
    /// A stream transport was closed by the peer.
    Disconnected,
    /// The network said the agent cannot be reached (ICMP port or host unreachable).
    Unreachable(SnmpError),
    /// SNMPv3: the agent answered with a report PDU (unknown user, wrong digest, ...).
    SecurityError(SnmpError),
}

/// A request's session: v1/v2c over UDP on the engine's shared sockets ([`udp::UdpSession`]),
/// or a net-snmp session (TCP, SNMPv3, peers only net-snmp can read).
#[derive(Debug)]
pub(crate) enum Channel<H: Handler> {
    NetSnmp(Session<H>),
    Udp(udp::UdpSession<H>),
}

impl<H: Handler> Channel<H> {
    /// Opens the session `target` needs (see [`Session::open`] for `transport`). A UDP session
    /// takes a socket of `sockets`; a new socket is given to `register` with its index.
    pub fn open(
        target: &Target<'_>,
        transport: Option<Transport>,
        handler: H,
        sockets: &mut UdpSockets,
        register: impl FnOnce(RawFd, usize) -> std::io::Result<()>,
    ) -> Result<Self, (SnmpError, H)> {
        if let (None, Security::Community(community, version)) = (&transport, &target.security) {
            if let Some(peer) = udp::native_peer(target.peer.unwrap_or(target.host)) {
                return udp::UdpSession::open(
                    target.host,
                    peer,
                    community,
                    *version,
                    target.retries,
                    target.timeout,
                    handler,
                    sockets,
                    register,
                )
                .map(Channel::Udp);
            }
        }
        Session::open(target, transport, handler).map(Channel::NetSnmp)
    }

    /// The socket the loop watches for this session alone (net-snmp's); UDP sessions' shared
    /// sockets are watched under their own tokens.
    pub fn own_fd(&self) -> Option<RawFd> {
        match self {
            Channel::NetSnmp(session) => Some(session.fd()),
            Channel::Udp(_) => None,
        }
    }

    pub fn handler(&mut self) -> &mut H {
        match self {
            Channel::NetSnmp(session) => session.handler(),
            Channel::Udp(session) => session.handler(),
        }
    }

    /// Closes the session and returns its handler; a shared socket left by its last session is
    /// given to `unregister`, then closed.
    pub fn close(self, sockets: &mut UdpSockets, unregister: impl FnOnce(RawFd)) -> H {
        match self {
            Channel::NetSnmp(session) => session.into_handler(),
            Channel::Udp(session) => session.close(sockets, unregister),
        }
    }

    pub fn send(&mut self, spec: &PduSpec, sockets: &mut UdpSockets, slot: usize) {
        match self {
            Channel::NetSnmp(session) => session.send(spec),
            Channel::Udp(session) => session.send(spec, sockets, slot),
        }
    }

    /// Reads a net-snmp session's socket (`ready` is net-snmp's fd-set scratch).
    pub fn read(&mut self, ready: &mut LargeFdSet) {
        if let Channel::NetSnmp(session) = self {
            session.read(ready);
        }
    }

    pub fn check_timeout(&mut self, sockets: &mut UdpSockets) {
        match self {
            Channel::NetSnmp(session) => session.check_timeout(),
            Channel::Udp(session) => session.check_timeout(sockets),
        }
    }
}

/// Receives a session's events.
pub(crate) trait Handler {
    fn on_event(&mut self, event: Event<'_>);
}

/// The state a session's callback reaches through net-snmp's `callback_magic`.
struct CallbackState<H> {
    handler: H,
    host: String,
    /// A panic caught in the callback, resumed once the net-snmp call returns.
    panic: Option<Box<dyn Any + Send>>,
    /// The datagram the parse hook just read: net-snmp keeps it alive while it calls the
    /// callback for it, which decodes the varbinds from it.
    packet: Option<(*const u8, usize)>,
    /// SNMPv3 only.
    v3: Option<V3Callback>,
}

/// What a v3 session's callback needs and leaves behind.
#[derive(Debug)]
struct V3Callback {
    user: String,
    level: &'static str,
    /// An engine-ID probe is in flight.
    probing: bool,
    /// The probe was answered (by a report): the engine ID is in net-snmp's session now.
    probe_answered: bool,
    /// The engine ID came from an earlier discovery: an unknownEngineID report means the
    /// agent changed, and discovery runs again (once) instead of failing the request.
    may_rediscover: bool,
    /// That report came: discover again, then resend.
    rediscover: bool,
    /// The session is authPriv. An agent drops what it cannot decrypt without a report
    /// (a wrong privacy key yields a garbled PDU, counted in snmpInASNParseErrs), so the
    /// first timeout of an agent whose engine ID is known is checked with one authNoPriv
    /// try: an answer to that means the privacy passphrase or protocol is wrong.
    auth_priv: bool,
    /// That check ran (once per session), is due, or is in flight.
    diagnosed: bool,
    diagnose: bool,
    diagnosing: bool,
    /// The session's handle (net-snmp's `session_list`), for its parser (`snmp_parse`).
    handle: *mut c_void,
    /// What the fast path checks responses against, once the engine ID is known.
    fast: Option<FastPath>,
    /// The scoped PDU of the response the parse hook just accepted (decrypted or copied).
    plain: Vec<u8>,
    scoped: bool,
}

/// A v3 session's engine, user, level and localised keys, for its parse hook.
#[derive(Debug)]
struct FastPath {
    engine_id: Vec<u8>,
    user: Vec<u8>,
    /// net-snmp's security level (1 noAuthNoPriv, 2 authNoPriv, 3 authPriv).
    level: i32,
    keys: KeyPair,
}

/// A v3 session's own state.
struct V3Session {
    keys: usm::Keys,
    /// The PDU to send once discovery has found the engine ID.
    pending: Option<PduSpec>,
    /// The PDU last sent (resent after a rediscovery).
    last: Option<PduSpec>,
    /// When `ensure_user` last made sure of the user entry (see `ensure_user_cached`).
    ensured: Option<(u64, usize, usize)>,
    /// The peer name, under which the engine ID is remembered.
    peer: String,
}

/// An open net-snmp single session with its handler.
pub(crate) struct Session<H: Handler> {
    raw: NonNull<c_void>,
    /// Boxed so its address is stable for net-snmp; freed in `drop` after the session is closed
    /// (closing calls the callback for requests still in flight).
    state: NonNull<CallbackState<H>>,
    fd: RawFd,
    /// The target's retries, restored after a single-try PDU.
    retries: c_int,
    /// net-snmp's session is set for single-try PDUs (retries 0).
    single_try: bool,
    /// SNMPv3 only.
    v3: Option<Box<V3Session>>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: a net-snmp single session may move between threads as long as one thread uses it at
// a time (net-snmp README.thread, "single session API"); `Session` is not `Sync` and every
// method takes `&mut self`. The handler moves with it, hence `H: Send`.
unsafe impl<H: Handler + Send> Send for Session<H> {}

impl<H: Handler> std::fmt::Debug for Session<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("fd", &self.fd).finish_non_exhaustive()
    }
}

/// Where and how to reach an agent.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    /// The agent as the request names it (in messages).
    pub host: &'a str,
    /// The peer name net-snmp opens, when not `host` (a host name already resolved).
    pub peer: Option<&'a str>,
    pub security: Security<'a>,
    pub retries: u32,
    pub timeout: Duration,
}

/// Who a session speaks as.
#[derive(Debug)]
pub(crate) enum Security<'a> {
    /// v1 or v2c.
    Community(&'a str, Version),
    /// v3.
    Usm(&'a Usm),
}

/// net-snmp's description of the last error on a session (or the library's, for null).
fn session_error(raw: *mut c_void) -> (i32, i32, String) {
    let (mut sys_errno, mut snmp_errno) = (0, 0);
    let mut text: *mut std::ffi::c_char = std::ptr::null_mut();
    // SAFETY: snmp_sess_error fills the three out-pointers; `text` is malloc'd (or null) and
    // ours to free.
    unsafe {
        sys::snmp_sess_error(raw, &mut sys_errno, &mut snmp_errno, &mut text);
    }
    let message = if text.is_null() {
        String::new()
    } else {
        // SAFETY: non-null `text` is a NUL-terminated C string from net-snmp, freed right after.
        let message = unsafe { CStr::from_ptr(text) }.to_string_lossy().trim().to_owned();
        // SAFETY: allocated by net-snmp with malloc.
        unsafe { libc::free(text.cast()) };
        message
    };
    (sys_errno, snmp_errno, message)
}

/// The message for the library-level error of a failed `snmp_sess_open` (no session exists).
fn library_error(snmp_errno: c_int) -> String {
    // SAFETY: snmp_api_errstring returns a pointer to a static (or thread-static) string.
    let text = unsafe { sys::snmp_api_errstring(snmp_errno) };
    if text.is_null() {
        format!("net-snmp error {snmp_errno}")
    } else {
        // SAFETY: non-null, NUL-terminated, valid until the next call on this thread.
        unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
    }
}

/// A net-snmp transport (socket) not yet given to a session: closed and freed on drop.
#[derive(Debug)]
pub(crate) struct Transport(NonNull<sys::netsnmp_transport>);

// SAFETY: a transport is a socket and its addresses, owned by this value alone until a session
// takes it; net-snmp keeps no other reference to it, so it may move between threads.
unsafe impl Send for Transport {}

impl Transport {
    /// Creates the transport for `peer` as `snmp_sess_open` would (UDP unless the name says
    /// otherwise). For TCP this connects, blocking until the connection is made or refused:
    /// the engine calls it off the loop for TCP peers. On failure, the system errno (e.g.
    /// ECONNREFUSED) and net-snmp's error code.
    pub fn open(peer: &str) -> Result<Transport, (i32, i32)> {
        init();
        let Ok(peer) = CString::new(peer) else { return Err((0, sys::SNMPERR_BAD_ADDRESS)) };
        // SAFETY: the peer name and defaults are valid C strings. Creating a transport reads
        // net-snmp's configuration and domain list (set up once by `init`) and makes a socket;
        // it touches no session list, so it needs no lock.
        let transport = unsafe {
            sys::netsnmp_tdomain_transport_full(
                c"snmp".as_ptr(),
                peer.as_ptr(),
                0,
                c"udp,udp6".as_ptr(),
                std::ptr::null(),
            )
        };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let transport = NonNull::new(transport).map(Transport).ok_or((errno, sys::SNMPERR_BAD_ADDRESS))?;
        // SAFETY: we own the transport; `domain` points at the static OID of its domain, and
        // net-snmp's UDP (IPv4) transport is the one whose `domain` is netsnmpUDPDomain.
        unsafe {
            let raw = transport.0.as_ptr();
            if std::ptr::eq((*raw).domain, std::ptr::addr_of!(sys::netsnmpUDPDomain).cast()) {
                (*raw).f_recv = Some(udp_recv);
            }
        }
        Ok(transport)
    }

    /// Hands the transport over (to `snmp_sess_add_ex`, which closes it if it fails).
    fn into_raw(self) -> *mut sys::netsnmp_transport {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        raw
    }
}

/// The receive function of UDP (IPv4) transports. net-snmp's own (`netsnmp_udpbase_recv`) also
/// asks the kernel for the socket's local address on every datagram (a `getsockname` a client
/// never uses: one system call of the four each PDU costs). This one reads the datagram and
/// its source, and hands net-snmp what its own does: a malloc'd `netsnmp_indexed_addr_pair`
/// (freed by net-snmp; local address left zero), also when reading fails. It never blocks.
unsafe extern "C" fn udp_recv(
    transport: *mut sys::netsnmp_transport,
    buf: *mut c_void,
    size: c_int,
    opaque: *mut *mut c_void,
    olength: *mut c_int,
) -> c_int {
    // Only libc calls and pointer writes below: nothing can unwind into C.
    // SAFETY: net-snmp calls this with its transport, a buffer of `size` bytes and two out
    // pointers; the pair is calloc'd here and handed over with its size, as net-snmp expects.
    unsafe {
        if transport.is_null() || (*transport).sock < 0 || size < 0 {
            return -1;
        }
        let pair = libc::calloc(1, std::mem::size_of::<sys::netsnmp_indexed_addr_pair>())
            .cast::<sys::netsnmp_indexed_addr_pair>();
        if pair.is_null() {
            *opaque = std::ptr::null_mut();
            *olength = 0;
            return -1;
        }
        let from = std::ptr::addr_of_mut!((*pair).remote_addr).cast::<libc::sockaddr>();
        let read = loop {
            let mut from_len = std::mem::size_of_val(&(*pair).remote_addr) as libc::socklen_t;
            let read = libc::recvfrom(
                (*transport).sock,
                buf,
                size as usize,
                libc::MSG_DONTWAIT,
                from,
                &mut from_len,
            );
            if read >= 0 || *libc::__errno_location() != libc::EINTR {
                break read;
            }
        };
        *opaque = pair.cast();
        *olength = std::mem::size_of::<sys::netsnmp_indexed_addr_pair>() as c_int;
        read as c_int
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        // SAFETY: we own the transport; f_close closes its socket, then it is freed once.
        unsafe {
            if let Some(close) = (*self.0.as_ptr()).f_close {
                close(self.0.as_ptr());
            }
            sys::netsnmp_transport_free(self.0.as_ptr());
        }
    }
}

/// The error for a session that could not be opened: `Unreachable` when the system said the
/// agent cannot be reached (a refused or unreachable TCP connection), else `SessionError`.
pub(crate) fn open_error(host: &str, sys_errno: i32, snmp_errno: i32) -> SnmpError {
    if let Some(error) = SnmpError::unreachable(host, sys_errno, snmp_errno) {
        return error;
    }
    let mut detail = library_error(snmp_errno);
    if sys_errno != 0 {
        detail = format!("{detail} ({})", std::io::Error::from_raw_os_error(sys_errno));
    }
    SnmpError::new(ErrorKind::SessionError, format!("cannot open a session to {host:?}: {detail}"))
        .with_codes(sys_errno, snmp_errno)
}

impl<H: Handler> Session<H> {
    /// Opens a session to `target` over `transport`, or over a transport created here (see
    /// [`Transport::open`]; for UDP that only makes a socket). On failure the handler is
    /// returned with the error.
    pub fn open(
        target: &Target<'_>,
        transport: Option<Transport>,
        handler: H,
    ) -> Result<Self, (SnmpError, H)> {
        init();
        let transport = match transport {
            Some(transport) => transport,
            None => match Transport::open(target.peer.unwrap_or(target.host)) {
                Ok(transport) => transport,
                Err((sys_errno, snmp_errno)) => {
                    return Err((open_error(target.host, sys_errno, snmp_errno), handler))
                }
            },
        };
        let peer_name = target.peer.unwrap_or(target.host);
        let mut session = sys::netsnmp_session::default();
        // SAFETY: snmp_sess_init fills a caller-owned struct with defaults.
        unsafe { sys::snmp_sess_init(&mut session) };
        let peer = CString::new(peer_name).unwrap_or_default();
        session.peername = peer.as_ptr().cast_mut();
        // net-snmp copies the community, names and keys into the session it opens.
        let mut strings = Vec::new();
        let mut usm_guard = None;
        let mut v3 = None;
        let mut v3_callback = None;
        let mut engine = None;
        match target.security {
            Security::Community(community, version) => {
                session.version = match version {
                    Version::V1 => sys::SNMP_VERSION_1 as _,
                    _ => sys::SNMP_VERSION_2c as _,
                };
                session.community = community.as_ptr().cast_mut();
                session.community_len = community.len();
            }
            Security::Usm(credentials) => {
                let mut guard = usm::lock();
                let keys = match guard.keys(credentials) {
                    Ok(keys) => keys,
                    Err(message) => {
                        return Err((SnmpError::new(ErrorKind::SessionError, message), handler));
                    }
                };
                let (known, from_cache) = match credentials.security_engine() {
                    Some(id) => (Some(id.to_vec()), false),
                    None => (guard.engine_of(peer_name), true),
                };
                engine = known;
                usm::configure(&mut session, credentials, &keys, engine.as_deref(), &mut strings);
                // SAFETY: `session` is ours and configured; the lock is held.
                unsafe { guard.ensure_user(&mut session, &keys) };
                v3_callback = Some(V3Callback {
                    user: credentials.user().to_owned(),
                    level: credentials.level().name(),
                    probing: false,
                    probe_answered: false,
                    may_rediscover: from_cache && engine.is_some(),
                    rediscover: false,
                    auth_priv: credentials.level() == crate::usm::SecurityLevel::AuthPriv,
                    diagnosed: false,
                    diagnose: false,
                    diagnosing: false,
                    handle: std::ptr::null_mut(),
                    fast: None,
                    plain: Vec::new(),
                    scoped: false,
                });
                v3 = Some(Box::new(V3Session {
                    keys,
                    pending: None,
                    last: None,
                    ensured: None,
                    peer: peer_name.to_owned(),
                }));
                usm_guard = Some(guard);
            }
        }
        let is_v3 = v3.is_some();
        let state = Box::new(CallbackState {
            handler,
            host: target.host.to_owned(),
            panic: None,
            packet: None,
            v3: v3_callback,
        });
        let state = NonNull::from(Box::leak(state));
        session.retries = target.retries.min(c_int::MAX as u32) as c_int;
        session.timeout = target.timeout.as_micros().min(i64::MAX as u128) as _;
        session.callback = Some(callback::<H>);
        session.callback_magic = state.as_ptr().cast();

        let raw = {
            let _guard = OPEN_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // SAFETY: `session` is initialised and the transport ours to give: snmp_sess_add_ex
            // takes it (and closes it on failure), copies what it keeps from `session`, and
            // installs our parse hook for v1/v2c (the other hooks keep net-snmp's defaults).
            // It returns null on failure.
            let raw = unsafe {
                sys::snmp_sess_add_ex(
                    &mut session,
                    transport.into_raw(),
                    None,
                    Some(if is_v3 { parse_hook_v3::<H> } else { parse_hook::<H> }),
                    None,
                    None,
                    if is_v3 { Some(build_hook_v3::<H>) } else { None },
                    None,
                    None,
                )
            };
            NonNull::new(raw).ok_or((session.s_errno, session.s_snmp_errno))
        };
        // The master keys were copied into net-snmp's session: clear ours.
        session.securityAuthKey.fill(0);
        session.securityPrivKey.fill(0);
        drop((strings, engine));
        let raw = match raw {
            Ok(raw) => raw,
            Err((sys_errno, snmp_errno)) => {
                // SAFETY: the session never opened, so no callback can reach `state`.
                let state = unsafe { Box::from_raw(state.as_ptr()) };
                return Err((open_error(target.host, sys_errno, snmp_errno), state.handler));
            }
        };
        if is_v3 {
            // SAFETY: `raw` is open; snmp_sess_add_ex cleared DONT_PROBE on its session, and
            // without it the first send would probe synchronously, blocking the loop.
            if let Some(internal) = unsafe { sys::snmp_sess_session(raw.as_ptr()).as_mut() } {
                internal.flags |= sys::SNMP_FLAGS_DONT_PROBE as sys::u_long;
            }
            // SAFETY: no callback runs before the session's first net-snmp call.
            if let Some(v3) = unsafe { (*state.as_ptr()).v3.as_mut() } {
                v3.handle = raw.as_ptr();
            }
        }
        drop(usm_guard);
        // SAFETY: `raw` is an open session; its transport (and socket) live as long as it does.
        let fd = unsafe { sys::snmp_sess_transport(raw.as_ptr()).as_ref() }.map_or(-1, |t| t.sock);
        report_icmp_errors(fd);
        Ok(Session {
            raw,
            state,
            fd,
            retries: session.retries,
            single_try: false,
            v3,
            _not_sync: PhantomData,
        })
    }

    /// The session's socket.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The handler, between net-snmp calls.
    pub fn handler(&mut self) -> &mut H {
        // SAFETY: `state` is live until drop, and no net-snmp call (hence no callback) is
        // running: those happen only inside `&mut self` methods, which are not active now.
        unsafe { &mut self.state.as_mut().handler }
    }

    /// Resumes a panic caught in the callback during the last net-snmp call.
    fn resume_panic(&mut self) {
        // SAFETY: as in `handler`: no callback is running.
        if let Some(payload) = unsafe { self.state.as_mut() }.panic.take() {
            panic::resume_unwind(payload);
        }
    }

    /// Sends the PDU `spec` describes (`snmp_sess_async_send`). A failure is reported to the
    /// handler as `SendFailed`, like a failure net-snmp reports itself. On a v3 session whose
    /// agent's engine ID is not yet known, a discovery probe goes first and `spec` when it
    /// is answered.
    pub fn send(&mut self, spec: &PduSpec) {
        let mut guard = self.lock_usm();
        if let Some(guard) = guard.as_mut() {
            if !self.engine_known() && !self.adopt_engine(guard) {
                return self.probe(guard, spec, false);
            }
            self.ensure_user(guard);
            self.refresh_fast_path(guard);
        }
        self.send_pdu(spec);
    }

    /// For a v3 session: the USM lock, held across the net-snmp call that follows, with the
    /// user entry made sure of (see `ensure_user`); `None` for v1/v2c.
    fn lock_usm(&mut self) -> Option<usm::Guard> {
        let mut guard = self.v3.as_ref().map(|_| usm::lock())?;
        self.ensure_user(&mut guard);
        Some(guard)
    }

    /// Makes net-snmp's user entry for this session's engine ID and user hold its keys
    /// (`Guard::ensure_user_cached`: a comparison unless something changed).
    fn ensure_user(&mut self, guard: &mut usm::Guard) {
        let Some(v3) = self.v3.as_mut() else { return };
        // SAFETY: `raw` is open; its session holds the USM fields `open` configured, and the
        // lock is held.
        unsafe {
            guard.ensure_user_cached(sys::snmp_sess_session(self.raw.as_ptr()), &v3.keys, &mut v3.ensured)
        };
    }

    /// Takes the session's localised keys from net-snmp's user entry (which `ensure_user` has
    /// just made hold them) for the parse hook, once per engine ID.
    fn refresh_fast_path(&mut self, guard: &mut usm::Guard) {
        // SAFETY: `raw` is open and no callback is running (see `handler`).
        let (session, state) = unsafe { (sys::snmp_sess_session(self.raw.as_ptr()), self.state.as_mut()) };
        let Some(v3) = state.v3.as_mut() else { return };
        if v3.fast.is_some() {
            return; // until a rediscovery clears it
        }
        // SAFETY: `session` is the open session's own, with the lock held.
        let Some(found) = (unsafe { guard.local_keys(session) }) else { return };
        let (engine_id, user, level, keys) = found;
        v3.fast = Some(FastPath { engine_id, user, level, keys });
    }

    /// Whether net-snmp's session knows the agent's engine ID.
    fn engine_known(&self) -> bool {
        // SAFETY: `raw` is open; snmp_sess_session returns its live internal session.
        unsafe { sys::snmp_sess_session(self.raw.as_ptr()).as_ref() }
            .is_some_and(|s| s.securityEngineIDLen > 0)
    }

    /// Takes the agent's engine ID from a discovery another session finished since this one
    /// opened; false when there is none.
    fn adopt_engine(&mut self, guard: &mut usm::Guard) -> bool {
        let Some(v3) = self.v3.as_ref() else { return false };
        let Some(engine) = guard.engine_of(&v3.peer) else { return false };
        // SAFETY: `raw` is open and its engine IDs are unset (null or net-snmp's, freed here
        // before being replaced); the copies are malloc'd, as net-snmp frees them with free().
        unsafe {
            let Some(session) = sys::snmp_sess_session(self.raw.as_ptr()).as_mut() else { return false };
            let copy = |bytes: &[u8]| {
                let memory = libc::malloc(bytes.len()).cast::<u8>();
                if !memory.is_null() {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), memory, bytes.len());
                }
                memory
            };
            let id = copy(&engine);
            if id.is_null() {
                return false;
            }
            libc::free(session.securityEngineID.cast());
            session.securityEngineID = id;
            session.securityEngineIDLen = engine.len();
            if session.contextEngineIDLen == 0 {
                let context = copy(&engine);
                if !context.is_null() {
                    libc::free(session.contextEngineID.cast());
                    session.contextEngineID = context;
                    session.contextEngineIDLen = engine.len();
                }
            }
        }
        true
    }

    /// Sends an engine-ID discovery probe (RFC 3414 §4: an empty noAuthNoPriv GET, answered
    /// by a usmStatsUnknownEngineIDs report) and keeps `spec` for when it is answered.
    fn probe(&mut self, guard: &mut usm::Guard, spec: &PduSpec, single_try: bool) {
        if let Some(v3) = self.v3.as_mut() {
            v3.pending = Some(spec.clone());
        }
        guard.count_discovery();
        let Some(pdu) = RequestPdu::probe() else {
            let error =
                SnmpError::new(ErrorKind::CreateRequestPdu, "net-snmp could not build the discovery PDU");
            self.handler().on_event(Event::SendFailed(error));
            return;
        };
        // SAFETY: no callback is running (see `handler`).
        if let Some(v3) = unsafe { self.state.as_mut() }.v3.as_mut() {
            v3.probing = true;
        }
        self.set_single_try(single_try);
        self.async_send(pdu);
    }

    /// After a net-snmp call on a v3 session, does what its callback asked for: once a probe's
    /// report has been read, remembers the engine ID and sends the PDU that waited for it;
    /// after a timeout or an unknownEngineID report on a remembered engine ID, discovers again;
    /// after an authPriv timeout, sends the authNoPriv check.
    fn after_call(&mut self, guard: &mut usm::Guard) {
        // SAFETY: no callback is running (see `handler`).
        let Some(callback) = unsafe { self.state.as_mut() }.v3.as_mut() else { return };
        let answered = std::mem::take(&mut callback.probe_answered);
        if std::mem::take(&mut callback.rediscover) {
            return self.rediscover(guard);
        }
        if std::mem::take(&mut callback.diagnose) {
            callback.diagnosing = true;
            let spec = PduSpec { command: crate::pdu::Command::Get, names: Vec::new(), single_try: true };
            self.send_pdu_at(&spec, Some(sys::SNMP_SEC_LEVEL_AUTHNOPRIV as i32));
            return self.handler().on_event(Event::Resent);
        }
        if !answered {
            return;
        }
        let Some(v3) = self.v3.as_mut() else { return };
        let Some(spec) = v3.pending.take() else { return };
        // SAFETY: `raw` is open; its internal session is live and holds the engine ID net-snmp
        // took from the report.
        let engine = unsafe {
            sys::snmp_sess_session(self.raw.as_ptr())
                .as_ref()
                .map(|s| raw_slice(s.securityEngineID, s.securityEngineIDLen).to_vec())
                .filter(|id| !id.is_empty())
        };
        let Some(engine) = engine else {
            let host = self.host().to_owned();
            let error = SnmpError::new(
                ErrorKind::UnknownEngineId,
                format!("{host} answered the SNMPv3 discovery without an engine ID"),
            );
            self.handler().on_event(Event::SecurityError(error));
            return;
        };
        guard.set_engine(&v3.peer, Some(&engine));
        self.ensure_user(guard);
        self.refresh_fast_path(guard);
        self.send_pdu(&spec);
        // The engine's timer for this session restarts with this PDU.
        self.handler().on_event(Event::Resent);
    }

    /// Forgets the agent's engine ID (here and in net-snmp's session) and probes again with
    /// the PDU last sent.
    fn rediscover(&mut self, guard: &mut usm::Guard) {
        // SAFETY: no callback is running (see `handler`).
        if let Some(callback) = unsafe { self.state.as_mut() }.v3.as_mut() {
            callback.fast = None;
        }
        let Some(v3) = self.v3.as_mut() else { return };
        guard.set_engine(&v3.peer, None);
        let Some(spec) = v3.last.take() else { return };
        // SAFETY: `raw` is open; its engine IDs were malloc'd by net-snmp (copied from ours or
        // from the report) and are freed once and replaced by null here, which net-snmp reads
        // as "unknown". The context engine ID is the old engine's unless it was given.
        unsafe {
            if let Some(session) = sys::snmp_sess_session(self.raw.as_ptr()).as_mut() {
                if session.contextEngineIDLen == session.securityEngineIDLen
                    && !session.contextEngineID.is_null()
                    && libc::memcmp(
                        session.contextEngineID.cast(),
                        session.securityEngineID.cast(),
                        session.securityEngineIDLen,
                    ) == 0
                {
                    libc::free(session.contextEngineID.cast());
                    session.contextEngineID = std::ptr::null_mut();
                    session.contextEngineIDLen = 0;
                }
                libc::free(session.securityEngineID.cast());
                session.securityEngineID = std::ptr::null_mut();
                session.securityEngineIDLen = 0;
            }
        }
        // One try: if the agent is gone, this costs one timeout more, not its retries again.
        self.probe(guard, &spec, true);
        self.handler().on_event(Event::Resent);
    }

    fn send_pdu(&mut self, spec: &PduSpec) {
        if let Some(v3) = self.v3.as_mut() {
            v3.last = Some(spec.clone());
        }
        self.send_pdu_at(spec, None);
    }

    /// Sends `spec`, at `level` instead of the session's security level when given.
    fn send_pdu_at(&mut self, spec: &PduSpec, level: Option<i32>) {
        let Some(mut pdu) = RequestPdu::build(spec) else {
            let error =
                SnmpError::new(ErrorKind::CreateRequestPdu, "net-snmp could not build the request PDU");
            self.handler().on_event(Event::SendFailed(error));
            return;
        };
        if let Some(level) = level {
            pdu.set_security_level(level);
        }
        self.set_single_try(spec.single_try);
        self.async_send(pdu);
    }

    /// Sets whether the next PDU is sent once, without the session's retries.
    fn set_single_try(&mut self, single_try: bool) {
        if single_try != self.single_try {
            // SAFETY: `raw` is open; snmp_sess_session returns its live internal session, whose
            // `retries` net-snmp reads when this PDU's timer expires.
            if let Some(session) = unsafe { sys::snmp_sess_session(self.raw.as_ptr()).as_mut() } {
                session.retries = if single_try { 0 } else { self.retries };
                self.single_try = single_try;
            }
        }
    }

    fn async_send(&mut self, pdu: RequestPdu) {
        let raw_pdu = pdu.into_raw();
        // SAFETY: `raw` is open, `raw_pdu` a valid PDU; on success net-snmp owns and frees it.
        // The callback may run during this call (send failures); it reaches `state`, which no
        // Rust reference aliases now.
        let request_id = unsafe {
            sys::snmp_sess_async_send(
                self.raw.as_ptr(),
                raw_pdu,
                Some(callback::<H>),
                self.state.as_ptr().cast(),
            )
        };
        self.resume_panic();
        if request_id == 0 {
            // SAFETY: on failure net-snmp leaves the PDU to the caller.
            drop(unsafe { RequestPdu::from_raw(raw_pdu) });
            let (sys_errno, snmp_errno, message) = session_error(self.raw.as_ptr());
            let host = self.host().to_owned();
            let error = SnmpError::new(ErrorKind::SendError, format!("cannot send to {host}: {message}"))
                .with_codes(sys_errno, snmp_errno);
            self.handler().on_event(Event::SendFailed(error));
        }
    }

    fn host(&mut self) -> &str {
        // SAFETY: as in `handler`.
        unsafe { &self.state.as_ref().host }
    }

    /// Reads one datagram (`snmp_sess_read2`), which runs the callback for an answer. `ready`
    /// is scratch space for net-snmp's fd-set interface. An ICMP error the socket received
    /// (port or host unreachable, see [`report_icmp_errors`]) is reported to the handler as
    /// `Unreachable`: nothing will answer, so there is no point waiting for the timeout.
    pub fn read(&mut self, ready: &mut LargeFdSet) {
        let mut guard = self.lock_usm();
        ready.set(self.fd);
        // SAFETY: `raw` is open and `ready` initialised; callbacks reach `state` only.
        let result = unsafe { sys::snmp_sess_read2(self.raw.as_ptr(), ready.as_mut_ptr()) };
        ready.clear(self.fd);
        self.resume_panic();
        if result < 0 {
            let (sys_errno, snmp_errno, _) = session_error(self.raw.as_ptr());
            let host = self.host().to_owned();
            if let Some(error) = SnmpError::unreachable(&host, sys_errno, snmp_errno) {
                drain_error_queue(self.fd);
                self.handler().on_event(Event::Unreachable(error));
            }
        }
        if let Some(guard) = guard.as_mut() {
            self.after_call(guard);
        }
    }

    /// Lets net-snmp retransmit or time out the PDU in flight (`snmp_sess_timeout`).
    pub fn check_timeout(&mut self) {
        let mut guard = self.lock_usm();
        // SAFETY: `raw` is open; callbacks reach `state` only.
        unsafe { sys::snmp_sess_timeout(self.raw.as_ptr()) };
        self.resume_panic();
        if let Some(guard) = guard.as_mut() {
            self.after_call(guard);
        }
    }
}

impl<H: Handler> Session<H> {
    /// Closes the session and returns its handler.
    pub fn into_handler(self) -> H {
        let mut session = std::mem::ManuallyDrop::new(self);
        let guard = session.v3.take().map(|_| usm::lock());
        // SAFETY: `session` is never used or dropped again; `close` closes it and frees nothing
        // else, then the state box is taken back exactly once.
        let handler = unsafe {
            close(session.raw);
            Box::from_raw(session.state.as_ptr()).handler
        };
        drop(guard);
        handler
    }
}

/// Closes a session. Closing may call the callback (TIMED_OUT for a PDU in flight), so the
/// callback state must still be alive.
///
/// # Safety
/// `raw` must be open and is closed exactly once.
unsafe fn close(raw: NonNull<c_void>) {
    // SAFETY: per the caller.
    unsafe { sys::snmp_sess_close(raw.as_ptr()) };
}

impl<H: Handler> Drop for Session<H> {
    fn drop(&mut self) {
        // Order matters: the state is freed only after the session is closed.
        let guard = self.v3.is_some().then(usm::lock);
        // SAFETY: `raw` is open and closed exactly once, here.
        unsafe { close(self.raw) };
        drop(guard);
        // SAFETY: `state` came from Box::leak in `open`; no callback can run any more.
        let state = unsafe { Box::from_raw(self.state.as_ptr()) };
        drop(state);
    }
}

/// The C callback for every session (`snmp_callback`). Returns 1: "handled, drop the request".
extern "C" fn callback<H: Handler>(
    operation: c_int,
    session: *mut sys::netsnmp_session,
    _request_id: c_int,
    pdu: *mut sys::netsnmp_pdu,
    magic: *mut c_void,
) -> c_int {
    let Some(state) = NonNull::new(magic.cast::<CallbackState<H>>()) else { return 1 };
    let state = state.as_ptr();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `magic` is the CallbackState this session was opened with; it lives until
        // the session is closed, and no Rust reference to it is held during net-snmp calls.
        let state = unsafe { &mut *state };
        if state.v3.is_some() {
            // SAFETY: net-snmp passes its live session and, for messages, the PDU it parsed;
            // both outlive this call.
            return unsafe { v3_event(state, operation, session, pdu) };
        }
        let event = match operation as u32 {
            sys::NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE => {
                let Some((data, length)) = state.packet.take() else { return };
                // SAFETY: the parse hook stored this datagram for the PDU net-snmp is now
                // delivering; net-snmp frees it only after this callback returns.
                let packet = unsafe { std::slice::from_raw_parts(data, length) };
                match ber::parse_message(packet) {
                    Ok(message) => return state.handler.on_event(Event::Response(&message)),
                    Err(_) => return, // the parse hook accepted it, so this cannot happen
                }
            }
            _ => match transport_event(operation, &state.host) {
                Some(event) => event,
                None => return,
            },
        };
        state.handler.on_event(event);
    }));
    if let Err(payload) = result {
        // SAFETY: as above; the closure's borrow has ended.
        unsafe { (*state).panic = Some(payload) };
    }
    1
}

/// A v3 session's callback. Reports are not answers: after notInTimeWindow net-snmp
/// resynchronises and resends by itself, otherwise it calls again with `SEC_ERROR`, which
/// ends the request with the report's error (or, for a discovery probe, completes it).
///
/// # Safety
/// `session` and `pdu` are what net-snmp passes its callback: null or live for the call.
unsafe fn v3_event<H: Handler>(
    state: &mut CallbackState<H>,
    operation: c_int,
    session: *mut sys::netsnmp_session,
    pdu: *mut sys::netsnmp_pdu,
) {
    let Some(v3) = state.v3.as_mut() else { return };
    // SAFETY: per the caller.
    let (session, pdu) = unsafe { (session.as_ref(), pdu.as_ref()) };
    let event = match operation as u32 {
        sys::NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE => {
            let Some(pdu) = pdu else { return };
            // An answer that failed our own authentication check (net-snmp reports it through
            // here) is dropped like a forged one: the PDU stays in flight.
            if session.is_some_and(|s| s.s_snmp_errno == sys::SNMPERR_USM_AUTHENTICATIONFAILURE) {
                return;
            }
            if pdu.command == sys::SNMP_MSG_REPORT {
                return;
            }
            if std::mem::take(&mut v3.probing) {
                v3.probe_answered = true;
                return;
            }
            if std::mem::take(&mut v3.diagnosing) {
                let error = SnmpError::new(
                    ErrorKind::DecryptionError,
                    format!(
                        "{} answers user {:?} at authNoPriv but not at authPriv: wrong privacy passphrase \
                         or protocol (the agent drops what it cannot decrypt)",
                        state.host, v3.user
                    ),
                )
                .with_codes(0, sys::SNMPERR_DECRYPTION_ERR);
                return state.handler.on_event(Event::SecurityError(error));
            }
            if std::mem::take(&mut v3.scoped) {
                // The parse hook checked and decrypted it: decode it as a v2c PDU.
                if let Ok(scoped) = ber::parse_scoped_pdu(&v3.plain) {
                    return state.handler.on_event(Event::Response(&scoped.pdu));
                }
                return;
            }
            let response = NetsnmpResponse(pdu);
            return state.handler.on_event(Event::Response(&response));
        }
        sys::NETSNMP_CALLBACK_OP_SEC_ERROR => {
            if std::mem::take(&mut v3.probing) {
                v3.probe_answered = true;
                return;
            }
            v3.diagnosing = false;
            let report = pdu.map_or(sys::SNMPERR_UNKNOWN_REPORT, |pdu| {
                // SAFETY: a live PDU; snmpv3_get_report_type only reads its first varbind.
                unsafe {
                    sys::snmpv3_get_report_type(pdu as *const sys::netsnmp_pdu as *mut sys::netsnmp_pdu)
                }
            });
            if report == sys::SNMPERR_UNKNOWN_ENG_ID && std::mem::take(&mut v3.may_rediscover) {
                v3.rediscover = true;
                return;
            }
            Event::SecurityError(report_error(&state.host, v3, report))
        }
        sys::NETSNMP_CALLBACK_OP_TIMED_OUT => {
            let engine_known = session.is_some_and(|s| s.securityEngineIDLen > 0);
            // A remembered engine ID may be stale: an agent that restarted with a new one
            // answers with an unknownEngineIDs report net-snmp cannot read (it names our user
            // at an engine net-snmp has no entry for), so a timeout is checked with one
            // discovery try first.
            if engine_known && !v3.probing && std::mem::take(&mut v3.may_rediscover) {
                v3.rediscover = true;
                return;
            }
            if v3.auth_priv && engine_known && !v3.probing && !std::mem::replace(&mut v3.diagnosed, true) {
                v3.diagnose = true;
                return;
            }
            v3.probing = false;
            v3.diagnosing = false;
            Event::TimedOut
        }
        _ => match transport_event(operation, &state.host) {
            Some(event) => event,
            None => return,
        },
    };
    state.handler.on_event(event);
}

/// The events every session reports alike: a timeout, a resend, a lost connection, a failed
/// send.
fn transport_event(operation: c_int, host: &str) -> Option<Event<'static>> {
    Some(match operation as u32 {
        sys::NETSNMP_CALLBACK_OP_TIMED_OUT => Event::TimedOut,
        sys::NETSNMP_CALLBACK_OP_RESEND => Event::Resent,
        sys::NETSNMP_CALLBACK_OP_DISCONNECT => Event::Disconnected,
        sys::NETSNMP_CALLBACK_OP_SEND_FAILED => Event::SendFailed(SnmpError::new(
            ErrorKind::SendError,
            format!("net-snmp could not send to {host}"),
        )),
        _ => return None,
    })
}

/// The error a report PDU of type `report` (net-snmp's `SNMPERR_*` for it) stands for.
fn report_error(host: &str, v3: &V3Callback, report: c_int) -> SnmpError {
    let user = &v3.user;
    let (kind, message) = match report {
        sys::SNMPERR_UNKNOWN_USER_NAME => {
            (ErrorKind::UnknownUser, format!("{host} does not know user {user:?} (usmStatsUnknownUserNames)"))
        }
        sys::SNMPERR_AUTHENTICATION_FAILURE => (
            ErrorKind::WrongDigest,
            format!(
                "{host} rejected the digest of user {user:?}: wrong authentication passphrase or \
                 protocol (usmStatsWrongDigests)"
            ),
        ),
        sys::SNMPERR_DECRYPTION_ERR => (
            ErrorKind::DecryptionError,
            format!(
                "{host} could not decrypt the message of user {user:?}: wrong privacy passphrase or \
                 protocol (usmStatsDecryptionErrors)"
            ),
        ),
        sys::SNMPERR_UNSUPPORTED_SEC_LEVEL => (
            ErrorKind::UnsupportedSecurityLevel,
            format!(
                "{host} does not allow user {user:?} security level {} (usmStatsUnsupportedSecLevels)",
                v3.level
            ),
        ),
        sys::SNMPERR_NOT_IN_TIME_WINDOW => (
            ErrorKind::NotInTimeWindow,
            format!(
                "messages of user {user:?} stayed outside {host}'s time window after resynchronising \
                 (usmStatsNotInTimeWindows)"
            ),
        ),
        sys::SNMPERR_UNKNOWN_ENG_ID => (
            ErrorKind::UnknownEngineId,
            format!("{host} does not know the engine ID user {user:?} sent to (usmStatsUnknownEngineIDs)"),
        ),
        other => (
            ErrorKind::SecurityError,
            format!("{host} answered user {user:?} with a report: {}", library_error(other)),
        ),
    };
    SnmpError::new(kind, message).with_codes(0, report)
}

/// A response net-snmp parsed (v3), read the way the walk reads a datagram.
struct NetsnmpResponse<'a>(&'a sys::netsnmp_pdu);

impl PduResponse for NetsnmpResponse<'_> {
    fn error_status(&self) -> i64 {
        self.0.errstat
    }

    fn error_index(&self) -> i64 {
        self.0.errindex
    }

    fn for_each_var_bind(&self, visit: &mut dyn FnMut(VarBind<'_>)) -> Result<(), &'static str> {
        const MAX: usize = sys::MAX_OID_LEN as usize;
        let (mut name, mut objid) = ([0u32; MAX], [0u32; MAX]);
        let mut next = self.0.variables;
        // SAFETY: the list and every varbind in it belong to net-snmp's PDU, live for `self`.
        while let Some(var) = unsafe { next.as_ref() } {
            // SAFETY: net-snmp keeps `name` at `name_length` sub-ids.
            let length = copy_subids(unsafe { raw_slice(var.name, var.name_length) }, &mut name)?;
            // SAFETY: net-snmp keeps the value in the union member its type says, `val_len`
            // bytes long.
            let value = unsafe { var_value(var, &mut objid) }?;
            visit(VarBind { name: &name[..length], value });
            next = var.next_variable;
        }
        Ok(())
    }
}

/// `len` items at `data` (empty for null).
///
/// # Safety
/// Non-null `data` points at `len` initialised items alive for `'a`.
unsafe fn raw_slice<'a, T>(data: *const T, len: usize) -> &'a [T] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: per the caller.
        unsafe { std::slice::from_raw_parts(data, len) }
    }
}

/// net-snmp's 64-bit sub-ids into `out`; their count.
fn copy_subids(subids: &[sys::oid], out: &mut [u32]) -> Result<usize, &'static str> {
    if subids.len() > out.len() {
        return Err("an OID longer than 128 sub-identifiers");
    }
    for (to, from) in out.iter_mut().zip(subids) {
        *to = u32::try_from(*from).map_err(|_| "a sub-identifier above 4294967295")?;
    }
    Ok(subids.len())
}

/// A varbind's value as `ber` would have decoded it.
///
/// # Safety
/// `var` is a varbind of a PDU net-snmp parsed, its value in the member its type names.
unsafe fn var_value<'a>(
    var: &'a sys::netsnmp_variable_list,
    objid: &'a mut [u32],
) -> Result<Value<'a>, &'static str> {
    use crate::tag;
    let tag = var.type_;
    let value = match tag {
        tag::INTEGER => {
            // SAFETY: per the caller, INTEGER values are in `integer` (null only when empty).
            Value::Integer(unsafe { var.val.integer.as_ref() }.map_or(0, |v| *v))
        }
        tag::COUNTER32 | tag::GAUGE32 | tag::TIMETICKS | tag::UINTEGER32 => {
            // SAFETY: per the caller, net-snmp keeps 32-bit unsigned values in `integer` too.
            Value::Unsigned(tag, unsafe { var.val.integer.as_ref() }.map_or(0, |v| *v as u32))
        }
        tag::COUNTER64 => {
            // SAFETY: per the caller, Counter64 values are in `counter64`.
            let counter = unsafe { var.val.counter64.as_ref() };
            Value::Unsigned64(tag, counter.map_or(0, |c| (c.high << 32) | (c.low & 0xFFFF_FFFF)))
        }
        tag::OBJECT_ID => {
            let count = var.val_len / std::mem::size_of::<sys::oid>();
            // SAFETY: per the caller, OIDs are in `objid`, `val_len` bytes long.
            let subids = unsafe { raw_slice(var.val.objid, count) };
            let length = copy_subids(subids, objid)?;
            Value::ObjectId(&objid[..length])
        }
        tag::NULL => Value::Null,
        tag::NO_SUCH_OBJECT => Value::NoSuchObject,
        tag::NO_SUCH_INSTANCE => Value::NoSuchInstance,
        tag::END_OF_MIB_VIEW => Value::EndOfMibView,
        // SAFETY: per the caller, every other type net-snmp parses is kept as octets in
        // `string`, `val_len` bytes long.
        _ => Value::Bytes(tag, unsafe { raw_slice(var.val.string, var.val_len) }),
    };
    Ok(value)
}

/// Asks the kernel to report ICMP errors (port or host unreachable) on a UDP session socket.
/// net-snmp's sockets are unconnected (so multi-homed agents answering from another address
/// still work), and an unconnected UDP socket hears about ICMP errors only with
/// `IP_RECVERR`/`IPV6_RECVERR` set; the next receive then fails with the error.
fn report_icmp_errors(fd: RawFd) {
    let on: libc::c_int = 1;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let (mut domain, mut kind): (libc::c_int, libc::c_int) = (0, 0);
    let mut len = size;
    // SAFETY: getsockopt/setsockopt on a socket we own, with valid int-sized buffers; failures
    // only mean the option does not apply (e.g. a TCP or UNIX socket), which is fine.
    unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        );
        len = size;
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        );
        if kind == libc::SOCK_DGRAM {
            let (level, option) = match domain {
                libc::AF_INET6 => (libc::IPPROTO_IPV6, libc::IPV6_RECVERR),
                _ => (libc::IPPROTO_IP, libc::IP_RECVERR),
            };
            libc::setsockopt(fd, level, option, (&on as *const libc::c_int).cast(), size);
        }
    }
}

/// Empties a socket's error queue (where `IP_RECVERR` puts ICMP errors), so epoll stops
/// reporting it.
fn drain_error_queue(fd: RawFd) {
    let mut buffer = [0u8; 512];
    let mut control = [0u8; 512];
    for _ in 0..64 {
        let mut iov = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: buffer.len() };
        // SAFETY: a zeroed msghdr is valid; it points at our local buffers for the call.
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        message.msg_iov = &mut iov;
        message.msg_iovlen = 1;
        message.msg_control = control.as_mut_ptr().cast();
        message.msg_controllen = control.len();
        // SAFETY: recvmsg writes at most the buffer sizes given; non-blocking on the error queue.
        let read = unsafe { libc::recvmsg(fd, &mut message, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if read < 0 {
            return;
        }
    }
}

/// The session's parse hook (net-snmp's `hook_parse`): reads the message header into `pdu`
/// (what net-snmp needs to match the answer to its request) and leaves the varbinds in the
/// datagram, which the callback decodes. Returns non-zero to make net-snmp drop the datagram.
unsafe extern "C" fn parse_hook<H: Handler>(
    session: *mut sys::netsnmp_session,
    pdu: *mut sys::netsnmp_pdu,
    data: *mut u8,
    length: usize,
) -> c_int {
    guarded_hook(session, pdu, data, || {
        // SAFETY: net-snmp passes the received datagram (`length` bytes), alive until it has
        // handled the PDU, and the PDU it created for it.
        let (packet, pdu) = unsafe { (std::slice::from_raw_parts(data, length), &mut *pdu) };
        let Ok(message) = ber::parse_message(packet) else { return DROP };
        if i32::from(message.command) != sys::SNMP_MSG_RESPONSE {
            return DROP;
        }
        pdu.version = message.version;
        pdu.command = sys::SNMP_MSG_RESPONSE;
        pdu.reqid = message.request_id;
        pdu.errstat = message.error_status;
        pdu.errindex = message.error_index;
        pdu.flags |= sys::UCD_MSG_FLAG_RESPONSE_PDU as sys::u_long;
        // SAFETY: `callback_magic` of our sessions is their CallbackState<H>, alive while the
        // session is open; no Rust reference to it is held during net-snmp calls.
        if let Some(state) = unsafe { (*session).callback_magic.cast::<CallbackState<H>>().as_mut() } {
            state.packet = Some((data.cast_const(), length));
        }
        0
    })
}

/// What a parse hook returns to make net-snmp drop a datagram.
const DROP: c_int = sys::SNMPERR_ASN_PARSE_ERR;

/// Runs a parse hook's `body` when net-snmp gave it a session, a PDU and a datagram, never
/// letting a panic unwind into C; returns non-zero (drop the datagram) otherwise.
fn guarded_hook(
    session: *mut sys::netsnmp_session,
    pdu: *mut sys::netsnmp_pdu,
    data: *mut u8,
    body: impl FnOnce() -> c_int,
) -> c_int {
    if data.is_null() || pdu.is_null() || session.is_null() {
        return DROP;
    }
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(DROP)
}

/// The parse hook of v3 sessions: the fast path for responses (see the module doc), net-snmp's
/// own parser (`snmp_parse`) for everything else.
unsafe extern "C" fn parse_hook_v3<H: Handler>(
    session: *mut sys::netsnmp_session,
    pdu: *mut sys::netsnmp_pdu,
    data: *mut u8,
    length: usize,
) -> c_int {
    guarded_hook(session, pdu, data, || {
        // SAFETY: `callback_magic` of our sessions is their CallbackState<H>, alive while the
        // session is open; no Rust reference to it is held during net-snmp calls. net-snmp
        // passes the received datagram (`length` bytes) and the PDU it made for it.
        let (state, packet) = unsafe {
            (
                (*session).callback_magic.cast::<CallbackState<H>>().as_mut(),
                std::slice::from_raw_parts(data, length),
            )
        };
        let Some(v3) = state.and_then(|state| state.v3.as_mut()) else { return DROP };
        v3.scoped = false;
        if let Some(fast) = &v3.fast {
            if let Some(fields) = fast_response(fast, packet, &mut v3.plain) {
                // SAFETY: `pdu` is the live PDU net-snmp made for this datagram.
                unsafe { fill_response(&mut *pdu, &fields) };
                v3.scoped = true;
                usm::FAST_RESPONSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return 0;
            }
        }
        usm::NET_SNMP_PARSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: `handle` is this open session's session_list, `session` its session; this
        // is what net-snmp calls when a session has no parse hook.
        unsafe { sys::snmp_parse(v3.handle.cast(), session, pdu, data, length) }
    })
}

/// The build hook of v3 sessions (net-snmp's `hook_realloc_build`): requests at the session's
/// level to its known engine are built here (`build_request`), anything else by net-snmp's
/// `snmp_build`. The packet goes at the start of `*packet` (grown with realloc if needed),
/// `*offset` bytes long, as net-snmp expects from this hook.
unsafe extern "C" fn build_hook_v3<H: Handler>(
    session: *mut sys::netsnmp_session,
    pdu: *mut sys::netsnmp_pdu,
    packet: *mut *mut u8,
    capacity: *mut usize,
    offset: *mut usize,
) -> c_int {
    const FAIL: c_int = -1;
    if session.is_null() || pdu.is_null() || packet.is_null() || capacity.is_null() || offset.is_null() {
        return FAIL;
    }
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: net-snmp passes its session (whose `callback_magic` is our CallbackState<H>,
        // alive while the session is open), the PDU to send, and its packet buffer (malloc'd,
        // `*capacity` bytes, or null).
        unsafe {
            let state = (*session).callback_magic.cast::<CallbackState<H>>().as_mut();
            let fast = state.and_then(|state| state.v3.as_ref()).and_then(|v3| v3.fast.as_ref());
            if let Some(bytes) = fast.and_then(|fast| build_request(fast, &mut *session, &mut *pdu)) {
                if *capacity < bytes.len() || (*packet).is_null() {
                    let grown = libc::realloc((*packet).cast(), bytes.len()).cast::<u8>();
                    if grown.is_null() {
                        return FAIL;
                    }
                    *packet = grown;
                    *capacity = bytes.len();
                }
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), *packet, bytes.len());
                *offset = bytes.len();
                usm::FAST_REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return 0;
            }
            // net-snmp's builder encodes backwards, at the end of the buffer: moved to its start.
            *offset = 0;
            let status = sys::snmp_build(packet, capacity, offset, session, pdu);
            if status == 0 && !(*packet).is_null() && *offset <= *capacity {
                std::ptr::copy((*packet).add(*capacity - *offset), *packet, *offset);
            }
            usm::NET_SNMP_BUILT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            status
        }
    }));
    result.unwrap_or(FAIL)
}

/// A v3 request as net-snmp would build it (RFC 3412 §7.1, RFC 3414 §3.1): the scoped PDU,
/// encrypted with a fresh salt at authPriv, the USM parameters with the engine's boots and
/// time as net-snmp estimates them, the digest. Fills the PDU's security fields as
/// `snmp_build` does (net-snmp matches the answer against them). `None` for what only net-snmp
/// builds (discovery probes, another level, values other than NULL, an unknown engine).
///
/// # Safety
/// `session` and `pdu` are the live session and PDU net-snmp passed its build hook.
unsafe fn build_request(
    fast: &FastPath,
    session: &mut sys::netsnmp_session,
    pdu: &mut sys::netsnmp_pdu,
) -> Option<Vec<u8>> {
    let level = if pdu.securityLevel == 0 { session.securityLevel } else { pdu.securityLevel };
    let command = u8::try_from(pdu.command).ok()?;
    let supported = [sys::SNMP_MSG_GET, sys::SNMP_MSG_GETNEXT, sys::SNMP_MSG_GETBULK].contains(&pdu.command);
    // SAFETY: per the caller, the session's and PDU's buffers are net-snmp's, `len` long.
    let (engine, name) = unsafe {
        (
            raw_slice(session.securityEngineID, session.securityEngineIDLen),
            raw_slice(pdu.securityName.cast::<u8>(), pdu.securityNameLen),
        )
    };
    if pdu.version != sys::SNMP_VERSION_3 as std::ffi::c_long
        || level != fast.level
        || !supported
        || !(pdu.securityModel == -1 || pdu.securityModel == sys::SNMP_SEC_MODEL_USM as c_int)
        || engine != fast.engine_id.as_slice()
        || (!pdu.securityName.is_null() && name != fast.user.as_slice())
    {
        return None;
    }
    let mut names: Vec<&[u64]> = Vec::new();
    let mut next = pdu.variables;
    // SAFETY: the PDU's varbind list, each name `name_length` sub-ids.
    while let Some(var) = unsafe { next.as_ref() } {
        if var.type_ != crate::tag::NULL {
            return None;
        }
        // SAFETY: as above.
        names.push(unsafe { raw_slice(var.name, var.name_length) });
        next = var.next_variable;
    }
    let (mut boots, mut time) = (0u32, 0u32);
    // SAFETY: reads net-snmp's engine time list; the USM lock is held (every net-snmp call on
    // a v3 session holds it).
    if unsafe { sys::get_enginetime(engine.as_ptr(), engine.len() as u32, &mut boots, &mut time, 0) }
        != sys::SNMPERR_SUCCESS as c_int
    {
        return None;
    }
    // SAFETY: the PDU's security fields are unset (null) or net-snmp's malloc'd copies, which
    // are kept; the ones set here are malloc'd, as snmp_free_pdu frees them.
    unsafe {
        let copy = |bytes: &[u8]| fill_copy(bytes);
        if pdu.securityEngineIDLen == 0 {
            libc::free(pdu.securityEngineID.cast());
            pdu.securityEngineID = copy(engine);
            pdu.securityEngineIDLen = engine.len();
        }
        if pdu.contextEngineIDLen == 0 {
            let context = raw_slice(session.contextEngineID, session.contextEngineIDLen);
            let context = if context.is_empty() { engine } else { context };
            libc::free(pdu.contextEngineID.cast());
            pdu.contextEngineID = copy(context);
            pdu.contextEngineIDLen = context.len();
        }
        if pdu.contextName.is_null() {
            let context = raw_slice(session.contextName.cast::<u8>(), session.contextNameLen);
            pdu.contextName = copy(context).cast();
            pdu.contextNameLen = context.len();
        }
        if pdu.securityName.is_null() {
            pdu.securityName = copy(&fast.user).cast();
            pdu.securityNameLen = fast.user.len();
        }
    }
    pdu.securityLevel = level;
    pdu.securityModel = sys::SNMP_SEC_MODEL_USM as c_int;
    let (a, b) = match pdu.command {
        sys::SNMP_MSG_GETBULK => (pdu.errstat, pdu.errindex),
        _ => (pdu.errstat.max(0), pdu.errindex.max(0)),
    };
    // SAFETY: as above; the strings just set are non-null unless malloc failed (then empty).
    let (context_engine, context_name) = unsafe {
        (
            raw_slice(pdu.contextEngineID, pdu.contextEngineIDLen),
            raw_slice(pdu.contextName.cast::<u8>(), pdu.contextNameLen),
        )
    };
    let scoped = ber::write::scoped_request(
        context_engine,
        context_name,
        command,
        pdu.reqid,
        a,
        b,
        names.into_iter(),
    )?;
    let mut sealed = Vec::new();
    let mut salt = [0u8; 8];
    let encrypted = level == sys::SNMP_SEC_LEVEL_AUTHPRIV as c_int;
    if encrypted {
        let (protocol, key) = fast.keys.privacy.as_ref()?;
        salt = usm_crypto::encrypt(*protocol, key, boots, time, &scoped, &mut sealed)?;
    }
    let auth = fast.keys.auth.as_ref().filter(|_| level >= sys::SNMP_SEC_LEVEL_AUTHNOPRIV as c_int);
    let fields = ber::write::V3Fields {
        msg_id: pdu.msgid,
        max_size: pdu.msgMaxSize,
        flags: 0x04 | if auth.is_some() { 0x01 } else { 0 } | if encrypted { 0x02 } else { 0 },
        engine_id: engine,
        boots: i64::from(boots),
        time: i64::from(time),
        user: &fast.user,
        auth_length: auth.map_or(0, |(protocol, _)| usm_crypto::mac_length(*protocol)),
        priv_params: if encrypted { &salt } else { &[] },
        data: if encrypted { &sealed } else { &scoped },
        encrypted,
    };
    let (mut message, auth_offset) = ber::write::v3_message(&fields);
    if let Some((protocol, key)) = auth {
        usm_crypto::sign(*protocol, key, &mut message, auth_offset)?;
    }
    Some(message)
}

/// A malloc'd copy of `bytes` with a NUL after it (null if malloc fails).
fn fill_copy(bytes: &[u8]) -> *mut u8 {
    // SAFETY: malloc of len + 1 bytes, written only within them.
    unsafe {
        let memory = libc::malloc(bytes.len() + 1).cast::<u8>();
        if !memory.is_null() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), memory, bytes.len());
            *memory.add(bytes.len()) = 0;
        }
        memory
    }
}

/// What a response accepted by the fast path tells net-snmp (to match it to its request).
struct ResponseFields<'a> {
    msg_id: i64,
    max_size: i64,
    level: i32,
    request_id: i64,
    error_status: i64,
    error_index: i64,
    engine_id: &'a [u8],
    user: &'a [u8],
    context_engine_id: &'a [u8],
    context_name: &'a [u8],
}

/// Checks a datagram as USM would for a response to this session (RFC 3414 §3.2): our
/// engine and user, our security level, the right digest, within the time window net-snmp
/// keeps for the engine; then decrypts it into `plain` and reads its ScopedPDU. `None` for
/// anything else, which net-snmp's parser then handles.
fn fast_response<'a>(
    fast: &FastPath,
    packet: &'a [u8],
    plain: &'a mut Vec<u8>,
) -> Option<ResponseFields<'a>> {
    /// RFC 3414 §2.2.3: the time window, in seconds.
    const WINDOW: i64 = 150;
    let message = ber::parse_v3_message(packet).ok()?;
    let level = match message.flags & 0x07 {
        0 => sys::SNMP_SEC_LEVEL_NOAUTH,
        1 => sys::SNMP_SEC_LEVEL_AUTHNOPRIV,
        3 => sys::SNMP_SEC_LEVEL_AUTHPRIV,
        _ => return None, // reportable (not a response) or priv without auth
    } as i32;
    if message.security_model != i64::from(sys::SNMP_SEC_MODEL_USM)
        || message.engine_id != fast.engine_id.as_slice()
        || message.user != fast.user.as_slice()
        || level != fast.level
    {
        return None;
    }
    if level >= sys::SNMP_SEC_LEVEL_AUTHNOPRIV as i32 {
        let (protocol, key) = fast.keys.auth.as_ref()?;
        if !usm_crypto::verify(*protocol, key, packet, message.auth_offset, message.auth_params) {
            return None;
        }
        let (mut boots, mut time) = (0u32, 0u32);
        // SAFETY: reads net-snmp's engine time list (the USM lock is held: the parse hook runs
        // inside snmp_sess_read2) for an engine ID we pass by pointer and length.
        let known = unsafe {
            sys::get_enginetime(
                fast.engine_id.as_ptr(),
                fast.engine_id.len() as u32,
                &mut boots,
                &mut time,
                1,
            )
        };
        if known != sys::SNMPERR_SUCCESS as i32
            || message.boots != i64::from(boots)
            || message.time + WINDOW < i64::from(time)
        {
            return None;
        }
    }
    if message.encrypted {
        let (protocol, key) = fast.keys.privacy.as_ref()?;
        if level != sys::SNMP_SEC_LEVEL_AUTHPRIV as i32 {
            return None;
        }
        let (boots, time) = (u32::try_from(message.boots).ok()?, u32::try_from(message.time).ok()?);
        usm_crypto::decrypt(*protocol, key, boots, time, message.priv_params, message.data, plain)?;
    } else {
        if level == sys::SNMP_SEC_LEVEL_AUTHPRIV as i32 {
            return None;
        }
        plain.clear();
        plain.extend_from_slice(message.data);
    }
    let scoped = ber::parse_scoped_pdu(plain).ok()?;
    if i32::from(scoped.pdu.command) != sys::SNMP_MSG_RESPONSE {
        return None;
    }
    Some(ResponseFields {
        msg_id: message.msg_id,
        max_size: message.max_size,
        level,
        request_id: scoped.pdu.request_id,
        error_status: scoped.pdu.error_status,
        error_index: scoped.pdu.error_index,
        engine_id: message.engine_id,
        user: message.user,
        context_engine_id: scoped.context_engine_id,
        context_name: scoped.context_name,
    })
}

/// Fills net-snmp's PDU for a response the fast path accepted, as `snmpv3_parse` would (the
/// fields net-snmp matches responses to requests by); the strings are malloc'd, as
/// `snmp_free_pdu` frees them.
///
/// # Safety
/// `pdu` is a PDU net-snmp made for a received datagram, its string fields unset.
unsafe fn fill_response(pdu: &mut sys::netsnmp_pdu, fields: &ResponseFields) {
    // A null copy (malloc failed) is a field that does not match: the answer is dropped.
    let copy = fill_copy;
    pdu.version = sys::SNMP_VERSION_3 as _;
    pdu.command = sys::SNMP_MSG_RESPONSE;
    pdu.msgid = fields.msg_id;
    pdu.msgMaxSize = fields.max_size;
    pdu.msgParseModel = 3; // SNMP_MP_MODEL_SNMPv3
    pdu.securityModel = sys::SNMP_SEC_MODEL_USM as _;
    pdu.securityLevel = fields.level;
    pdu.reqid = fields.request_id;
    pdu.errstat = fields.error_status;
    pdu.errindex = fields.error_index;
    pdu.securityEngineID = copy(fields.engine_id);
    pdu.securityEngineIDLen = fields.engine_id.len();
    pdu.securityName = copy(fields.user).cast();
    pdu.securityNameLen = fields.user.len();
    pdu.contextEngineID = copy(fields.context_engine_id);
    pdu.contextEngineIDLen = fields.context_engine_id.len();
    pdu.contextName = copy(fields.context_name).cast();
    pdu.contextNameLen = fields.context_name.len();
    pdu.flags |= sys::UCD_MSG_FLAG_RESPONSE_PDU as sys::u_long;
}

/// net-snmp's `netsnmp_large_fd_set`: an fd set without FD_SETSIZE's 1024 ceiling, used only
/// to tell `snmp_sess_read2` which socket is readable.
pub(crate) struct LargeFdSet {
    /// Boxed: while the set is small, its `lfs_setptr` points into the struct itself.
    raw: Box<sys::netsnmp_large_fd_set>,
}

impl std::fmt::Debug for LargeFdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LargeFdSet").field("size", &self.raw.lfs_setsize).finish()
    }
}

// SAFETY: the set owns its storage (boxed, so its self-pointer stays valid when moved) and is
// used by one thread at a time (`&mut self`).
unsafe impl Send for LargeFdSet {}

impl LargeFdSet {
    pub fn new() -> Self {
        let mut raw = Box::<sys::netsnmp_large_fd_set>::default();
        // SAFETY: initialises a zeroed set of FD_SETSIZE bits at a stable address;
        // netsnmp_large_fd_setfd grows it on demand.
        unsafe { sys::netsnmp_large_fd_set_init(&mut *raw, libc::FD_SETSIZE as c_int) };
        LargeFdSet { raw }
    }

    fn set(&mut self, fd: RawFd) {
        // SAFETY: the set is initialised; setfd resizes it (zeroing the new part) when `fd` is
        // beyond its size.
        unsafe { sys::netsnmp_large_fd_setfd(fd, &mut *self.raw) }
    }

    fn clear(&mut self, fd: RawFd) {
        // SAFETY: the set is initialised; clearing an fd beyond its size is a no-op.
        unsafe { sys::netsnmp_large_fd_clr(fd, &mut *self.raw) }
    }

    fn as_mut_ptr(&mut self) -> *mut sys::netsnmp_large_fd_set {
        &mut *self.raw
    }
}

impl Drop for LargeFdSet {
    fn drop(&mut self) {
        // SAFETY: frees what netsnmp_large_fd_set_init/resize allocated, once.
        unsafe { sys::netsnmp_large_fd_set_cleanup(&mut *self.raw) }
    }
}
