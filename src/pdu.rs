//! net-snmp request PDUs: `snmp_pdu_create` + `snmp_add_null_var`, owned until sent.
//! (Responses are not read through net-snmp's PDUs: see `ber.rs`.)
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
