//! net-snmp single sessions (`snmp_sess_*`), owned: [`Session`] opens one on construction and
//! closes it on drop; its callback state lives in a box that outlives every callback.
//!
//! One of the two modules that touch raw pointers (with `pdu.rs`). The rules it keeps:
//! - net-snmp is initialised once per process ([`init`]), without reading config files or
//!   loading MIBs (snmp-stream does no MIB processing).
//! - A session is used by one thread at a time (`Session` is `Send` but not `Sync`).
//! - The callback never unwinds into C: its body runs under `catch_unwind`, the panic is
//!   stored and resumed after the net-snmp call returns (curl-rust's `panic.rs` pattern).
//! - Sessions are opened with `snmp_sess_add_ex` and a parse hook that reads only the message
//!   header; the callback decodes the varbinds from the datagram itself (`ber.rs`).

use std::any::Any;
use std::ffi::{c_int, c_void, CStr, CString};
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::{Mutex, Once};
use std::time::Duration;

use netsnmp_sys as sys;

use crate::ber::{self, Message};
use crate::error::{ErrorKind, SnmpError};
use crate::pdu::{PduSpec, RequestPdu};
use crate::request::Version;

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
        }
    });
}

/// What net-snmp tells a session's handler.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// The answer to the PDU in flight, decoded from the datagram by [`ber`].
    Response(Message<'a>),
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
    pub community: &'a str,
    pub version: Version,
    pub retries: u32,
    pub timeout: Duration,
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
        let state =
            Box::new(CallbackState { handler, host: target.host.to_owned(), panic: None, packet: None });
        let state = NonNull::from(Box::leak(state));

        let mut session = sys::netsnmp_session::default();
        // SAFETY: snmp_sess_init fills a caller-owned struct with defaults.
        unsafe { sys::snmp_sess_init(&mut session) };
        session.version = match target.version {
            Version::V1 => sys::SNMP_VERSION_1 as _,
            Version::V2c => sys::SNMP_VERSION_2c as _,
        };
        let peer = CString::new(target.peer.unwrap_or(target.host)).unwrap_or_default();
        session.peername = peer.as_ptr().cast_mut();
        // net-snmp copies the community and peer name into the session it opens.
        session.community = target.community.as_ptr().cast_mut();
        session.community_len = target.community.len();
        session.retries = target.retries.min(c_int::MAX as u32) as c_int;
        session.timeout = target.timeout.as_micros().min(i64::MAX as u128) as _;
        session.callback = Some(callback::<H>);
        session.callback_magic = state.as_ptr().cast();

        let raw = {
            let _guard = OPEN_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // SAFETY: `session` is initialised and the transport ours to give: snmp_sess_add_ex
            // takes it (and closes it on failure), copies what it keeps from `session`, and
            // installs our parse hook (the other hooks keep net-snmp's defaults). It returns
            // null on failure.
            let raw = unsafe {
                sys::snmp_sess_add_ex(
                    &mut session,
                    transport.into_raw(),
                    None,
                    Some(parse_hook::<H>),
                    None,
                    None,
                    None,
                    None,
                    None,
                )
            };
            NonNull::new(raw).ok_or((session.s_errno, session.s_snmp_errno))
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err((sys_errno, snmp_errno)) => {
                // SAFETY: the session never opened, so no callback can reach `state`.
                let state = unsafe { Box::from_raw(state.as_ptr()) };
                return Err((open_error(target.host, sys_errno, snmp_errno), state.handler));
            }
        };
        // SAFETY: `raw` is an open session; its transport (and socket) live as long as it does.
        let fd = unsafe { sys::snmp_sess_transport(raw.as_ptr()).as_ref() }.map_or(-1, |t| t.sock);
        report_icmp_errors(fd);
        Ok(Session { raw, state, fd, retries: session.retries, single_try: false, _not_sync: PhantomData })
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
    /// handler as `SendFailed`, like a failure net-snmp reports itself.
    pub fn send(&mut self, spec: &PduSpec) {
        let Some(pdu) = RequestPdu::build(spec) else {
            let error =
                SnmpError::new(ErrorKind::CreateRequestPdu, "net-snmp could not build the request PDU");
            self.handler().on_event(Event::SendFailed(error));
            return;
        };
        if spec.single_try != self.single_try {
            // SAFETY: `raw` is open; snmp_sess_session returns its live internal session, whose
            // `retries` net-snmp reads when this PDU's timer expires.
            if let Some(session) = unsafe { sys::snmp_sess_session(self.raw.as_ptr()).as_mut() } {
                session.retries = if spec.single_try { 0 } else { self.retries };
                self.single_try = spec.single_try;
            }
        }
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
    }

    /// Lets net-snmp retransmit or time out the PDU in flight (`snmp_sess_timeout`).
    pub fn check_timeout(&mut self) {
        // SAFETY: `raw` is open; callbacks reach `state` only.
        unsafe { sys::snmp_sess_timeout(self.raw.as_ptr()) };
        self.resume_panic();
    }
}

impl<H: Handler> Session<H> {
    /// Closes the session and returns its handler.
    pub fn into_handler(self) -> H {
        let session = std::mem::ManuallyDrop::new(self);
        // SAFETY: `session` is never used or dropped again; `close` closes it and frees nothing
        // else, then the state box is taken back exactly once.
        unsafe {
            close(session.raw);
            Box::from_raw(session.state.as_ptr()).handler
        }
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
        // SAFETY: `raw` is open and closed exactly once, here.
        unsafe { close(self.raw) };
        // SAFETY: `state` came from Box::leak in `open`; no callback can run any more.
        let state = unsafe { Box::from_raw(self.state.as_ptr()) };
        drop(state);
    }
}

/// The C callback for every session (`snmp_callback`). Returns 1: "handled, drop the request".
extern "C" fn callback<H: Handler>(
    operation: c_int,
    _session: *mut sys::netsnmp_session,
    _request_id: c_int,
    _pdu: *mut sys::netsnmp_pdu,
    magic: *mut c_void,
) -> c_int {
    let Some(state) = NonNull::new(magic.cast::<CallbackState<H>>()) else { return 1 };
    let state = state.as_ptr();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `magic` is the CallbackState this session was opened with; it lives until
        // the session is closed, and no Rust reference to it is held during net-snmp calls.
        let state = unsafe { &mut *state };
        let event = match operation as u32 {
            sys::NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE => {
                let Some((data, length)) = state.packet.take() else { return };
                // SAFETY: the parse hook stored this datagram for the PDU net-snmp is now
                // delivering; net-snmp frees it only after this callback returns.
                let packet = unsafe { std::slice::from_raw_parts(data, length) };
                match ber::parse_message(packet) {
                    Ok(message) => Event::Response(message),
                    Err(_) => return, // the parse hook accepted it, so this cannot happen
                }
            }
            sys::NETSNMP_CALLBACK_OP_TIMED_OUT => Event::TimedOut,
            sys::NETSNMP_CALLBACK_OP_RESEND => Event::Resent,
            sys::NETSNMP_CALLBACK_OP_DISCONNECT => Event::Disconnected,
            sys::NETSNMP_CALLBACK_OP_SEND_FAILED => Event::SendFailed(SnmpError::new(
                ErrorKind::SendError,
                format!("net-snmp could not send to {}", state.host),
            )),
            _ => return,
        };
        state.handler.on_event(event);
    }));
    if let Err(payload) = result {
        // SAFETY: as above; the closure's borrow has ended.
        unsafe { (*state).panic = Some(payload) };
    }
    1
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
    const DROP: c_int = sys::SNMPERR_ASN_PARSE_ERR;
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if data.is_null() || pdu.is_null() || session.is_null() {
            return DROP;
        }
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
    }));
    result.unwrap_or(DROP)
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
