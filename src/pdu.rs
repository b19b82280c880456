//! net-snmp PDUs: building request PDUs (`snmp_pdu_create` + `snmp_add_null_var`) and a
//! borrowed, safe view of a response PDU's varbinds (`netsnmp_variable_list`).
//!
//! One of the two modules that touch raw pointers (with `session.rs`).

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::slice;

use netsnmp_sys as sys;

use crate::encode::Value;
use crate::walk::{Command, PduResponse, PduSpec, VarBind};

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
            name.extend(subids.iter().map(|&s| s as sys::oid));
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

/// A response PDU borrowed for the duration of a net-snmp callback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResponseView<'a> {
    pdu: &'a sys::netsnmp_pdu,
}

impl<'a> ResponseView<'a> {
    /// # Safety
    /// `pdu` must point to a valid PDU that outlives `'a` (net-snmp frees it after the callback).
    pub unsafe fn new(pdu: *const sys::netsnmp_pdu) -> Option<ResponseView<'a>> {
        // SAFETY: the caller guarantees validity for 'a; null is checked by as_ref.
        unsafe { pdu.as_ref() }.map(|pdu| ResponseView { pdu })
    }
}

impl PduResponse for ResponseView<'_> {
    fn error_status(&self) -> i64 {
        self.pdu.errstat
    }

    fn error_index(&self) -> i64 {
        self.pdu.errindex
    }

    fn var_binds(&self) -> impl Iterator<Item = VarBind<'_>> {
        VarBindIter { next: self.pdu.variables, _pdu: PhantomData }
    }
}

/// Walks the PDU's `netsnmp_variable_list` chain.
struct VarBindIter<'a> {
    next: *mut sys::netsnmp_variable_list,
    _pdu: PhantomData<&'a sys::netsnmp_pdu>,
}

impl<'a> Iterator for VarBindIter<'a> {
    type Item = VarBind<'a>;

    fn next(&mut self) -> Option<VarBind<'a>> {
        // SAFETY: the chain belongs to the PDU borrowed for 'a; each node is valid or null.
        let var = unsafe { self.next.as_ref() }?;
        self.next = var.next_variable;
        // SAFETY: net-snmp's parser sets `name` to `name_length` sub-ids (or null with 0).
        let name = unsafe { raw_slice(var.name, var.name_length) };
        Some(VarBind { name, value: decode_value(var) })
    }
}

/// A slice from a C pointer and length; empty when the pointer is null.
///
/// # Safety
/// A non-null `ptr` must point to `len` valid elements that live for `'a`.
unsafe fn raw_slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: non-null and valid for `len` elements, per the caller.
        unsafe { slice::from_raw_parts(ptr, len) }
    }
}

/// Reads a varbind's value according to its type (net-snmp's `netsnmp_vardata` union).
fn decode_value(var: &sys::netsnmp_variable_list) -> Value<'_> {
    let tag = var.type_;
    let len = var.val_len;
    // SAFETY: net-snmp's parser points the union at storage holding `val_len`
    // bytes of the representation that `type` selects: a long for integer types, a
    // struct counter64, oid sub-ids, raw octets, or a float/double. Each read checks for null
    // and, for fixed-size types, that `val_len` is large enough.
    unsafe {
        let fixed = |size: usize| !var.val.string.is_null() && len >= size;
        match tag {
            sys::ASN_INTEGER if fixed(8) => Value::Integer(*var.val.integer),
            sys::ASN_COUNTER | sys::ASN_GAUGE | sys::ASN_TIMETICKS | sys::ASN_UINTEGER if fixed(8) => {
                Value::Unsigned(tag, *var.val.integer as u32)
            }
            sys::ASN_COUNTER64 | sys::ASN_OPAQUE_COUNTER64 | sys::ASN_OPAQUE_U64 | sys::ASN_OPAQUE_I64
                if fixed(std::mem::size_of::<sys::counter64>()) =>
            {
                let c = &*var.val.counter64;
                Value::Unsigned64(tag, (c.high << 32) | (c.low & 0xffff_ffff))
            }
            sys::ASN_OPAQUE_FLOAT if fixed(4) => Value::Float(*var.val.floatVal),
            sys::ASN_OPAQUE_DOUBLE if fixed(8) => Value::Double(*var.val.doubleVal),
            sys::ASN_OBJECT_ID => {
                Value::ObjectId(raw_slice(var.val.objid, len / std::mem::size_of::<sys::oid>()))
            }
            sys::ASN_NULL => Value::Null,
            sys::SNMP_NOSUCHOBJECT => Value::NoSuchObject,
            sys::SNMP_NOSUCHINSTANCE => Value::NoSuchInstance,
            sys::SNMP_ENDOFMIBVIEW => Value::EndOfMibView,
            _ => Value::Bytes(tag, raw_slice(var.val.string, len)),
        }
    }
}
