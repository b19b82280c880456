//! net-snmp request PDUs: `snmp_pdu_create` + `snmp_add_null_var`, owned until sent.
//! (v1/v2c responses are not read through net-snmp's PDUs: see `ber.rs`.)
//!
//! One of the two modules that touch raw pointers (with `session.rs`).

use std::ptr::NonNull;

use netsnmp_sys as sys;

/// The PDU operation to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Get,
    GetNext,
    GetBulk { max_repetitions: u32 },
}

/// The next PDU to send: an operation and the varbind names (values are NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PduSpec {
    pub command: Command,
    pub names: Vec<Vec<u32>>,
    /// Send once, without the session's retries (the GETNEXT that tests a GETBULK fallback).
    pub single_try: bool,
}

/// An owned request PDU; freed on drop unless handed to net-snmp with [`RequestPdu::into_raw`].
#[derive(Debug)]
pub(crate) struct RequestPdu {
    raw: NonNull<sys::netsnmp_pdu>,
}

impl RequestPdu {
    /// Builds the PDU for `spec`; `None` when net-snmp cannot allocate it.
    pub fn build(spec: &PduSpec) -> Option<RequestPdu> {
        let command = match spec.command {
            Command::Get => sys::SNMP_MSG_GET,
            Command::GetNext => sys::SNMP_MSG_GETNEXT,
            Command::GetBulk { .. } => sys::SNMP_MSG_GETBULK,
        };
        // SAFETY: snmp_pdu_create only allocates and initialises a PDU; null means failure.
        let raw = NonNull::new(unsafe { sys::snmp_pdu_create(command) })?;
        let pdu = RequestPdu { raw };
        if let Command::GetBulk { max_repetitions } = spec.command {
            // SAFETY: `raw` is a live PDU we own. In net-snmp, GETBULK's non-repeaters and
            // max-repetitions are stored in the errstat and errindex fields (snmp.h macros).
            unsafe {
                (*raw.as_ptr()).errstat = 0;
                (*raw.as_ptr()).errindex = max_repetitions.into();
            }
        }
        let mut name: Vec<sys::oid> = Vec::with_capacity(sys::MAX_OID_LEN as usize);
        for subids in &spec.names {
            name.clear();
            name.extend(subids.iter().map(|&s| sys::oid::from(s)));
            // SAFETY: `raw` is a live PDU we own; snmp_add_null_var copies `name` (len
            // elements) into a new varbind, so the Vec may be reused afterwards.
            let added = unsafe { sys::snmp_add_null_var(raw.as_ptr(), name.as_ptr(), name.len()) };
            if added.is_null() {
                return None;
            }
        }
        Some(pdu)
    }

    /// An SNMPv3 engine-ID discovery probe: a GET without varbinds, noAuthNoPriv, from the
    /// empty user (RFC 3414 §4, as net-snmp's own `usm_build_probe_pdu`); `None` when net-snmp
    /// cannot allocate it.
    pub fn probe() -> Option<RequestPdu> {
        // SAFETY: snmp_pdu_create only allocates and initialises a PDU; null means failure.
        let raw = NonNull::new(unsafe { sys::snmp_pdu_create(sys::SNMP_MSG_GET) })?;
        let pdu = RequestPdu { raw };
        // SAFETY: `raw` is a live PDU we own. Its security name must be malloc'd (net-snmp
        // frees it with the PDU); a non-null empty name keeps net-snmp from putting the
        // session's user name in its place.
        unsafe {
            let fields = &mut *raw.as_ptr();
            fields.version = sys::SNMP_VERSION_3 as _;
            fields.securityName = libc::strdup(c"".as_ptr());
            if fields.securityName.is_null() {
                return None;
            }
            fields.securityNameLen = 0;
            fields.securityLevel = sys::SNMP_SEC_LEVEL_NOAUTH as _;
            fields.securityModel = sys::SNMP_SEC_MODEL_USM as _;
        }
        Some(pdu)
    }

    /// Sends the PDU at another SNMPv3 security level than its session's.
    pub fn set_security_level(&mut self, level: i32) {
        // SAFETY: `raw` is a live PDU we own.
        unsafe { (*self.raw.as_ptr()).securityLevel = level };
    }

    /// Hands the PDU to net-snmp (which frees it after a successful send).
    pub fn into_raw(self) -> *mut sys::netsnmp_pdu {
        let raw = self.raw.as_ptr();
        std::mem::forget(self);
        raw
    }

    /// Takes back a PDU that net-snmp refused to send (it is then still ours to free).
    ///
    /// # Safety
    /// `raw` must come from [`RequestPdu::into_raw`] and net-snmp must not have kept it.
    pub unsafe fn from_raw(raw: *mut sys::netsnmp_pdu) -> Option<RequestPdu> {
        NonNull::new(raw).map(|raw| RequestPdu { raw })
    }
}

impl Drop for RequestPdu {
    fn drop(&mut self) {
        // SAFETY: we own the PDU (it was never handed over, or was handed back).
        unsafe { sys::snmp_free_pdu(self.raw.as_ptr()) }
    }
}
