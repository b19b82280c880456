//! A BER reader for SNMPv1/v2c response messages (RFC 3416 PDUs, X.690 encoding).
//!
//! net-snmp keeps the sessions, sockets, retries and timeouts, but its parser allocates a
//! `netsnmp_variable_list` (and often its value) per varbind. snmp-stream installs a parse hook
//! on each session that reads only the message header with [`parse_message`]; the varbinds are
//! then decoded here, straight from the received datagram, without an allocation per varbind.
//!
//! Values decode as net-snmp decodes them: INTEGER as a sign-extended 64-bit value,
//! Counter32/Gauge32/TimeTicks/UInteger32 as 32-bit unsigned, Counter64 as 64-bit unsigned, and
//! everything else (strings, IpAddress, Opaque, unknown tags) as its octets.

use crate::oid::MAX_OID_LEN;
use crate::tag::{
    COUNTER32, COUNTER64, END_OF_MIB_VIEW, GAUGE32, INTEGER, NO_SUCH_INSTANCE, NO_SUCH_OBJECT, NULL,
    OBJECT_ID, OCTET_STRING, TIMETICKS, UINTEGER32,
};

/// A decoded varbind value, as the engine hands it to the encoder.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Integer(i64),
    /// Counter32, Gauge32, TimeTicks, UInteger32 (tag kept).
    Unsigned(u8, u32),
    /// Counter64 (tag kept).
    Unsigned64(u8, u64),
    /// OCTET STRING, IpAddress, Opaque (with whatever it wraps), NSAP, and unknown types (tag
    /// kept).
    Bytes(u8, &'a [u8]),
    ObjectId(&'a [u32]),
    Null,
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

/// One varbind of a response PDU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VarBind<'a> {
    pub name: &'a [u32],
    pub value: Value<'a>,
}

/// A walk column's root, as [`PduResponse::for_each_under`] compares varbind names with it:
/// its sub-ids, and the BER contents of it as an OBJECT IDENTIFIER (`None` when BER cannot
/// hold it, e.g. an OID of one arc).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Root<'a> {
    pub subids: &'a [u32],
    pub ber: Option<&'a [u8]>,
}

/// What [`PduResponse::for_each_under`] calls for each varbind: its position modulo the
/// roots, its index under its root (if under it), and its value.
pub(crate) type VisitUnder<'v> = dyn FnMut(usize, Option<&[u32]>, &Value<'_>) + 'v;

/// A response PDU (decoded from the datagram, or made up by a test).
pub(crate) trait PduResponse {
    fn error_status(&self) -> i64;
    fn error_index(&self) -> i64;
    /// Calls `visit` with each varbind, in order. Fails, after visiting the varbinds before
    /// it, when the list is malformed.
    fn for_each_var_bind(&self, visit: &mut dyn FnMut(VarBind<'_>)) -> Result<(), &'static str>;

    /// A walk's view of the varbinds: the varbind at position p belongs to `roots[p % n]`
    /// (GETNEXT, and GETBULK without non-repeaters), and `visit(p % n, index, value)` gets its
    /// name after that root, or `None` when the name is not under it. Fails like
    /// [`for_each_var_bind`](Self::for_each_var_bind).
    fn for_each_under(&self, roots: &[Root<'_>], visit: &mut VisitUnder<'_>) -> Result<(), &'static str> {
        for_each_under_decoded(self, roots, visit)
    }
}

/// [`PduResponse::for_each_under`] over the decoded names.
fn for_each_under_decoded<P: PduResponse + ?Sized>(
    response: &P,
    roots: &[Root<'_>],
    visit: &mut VisitUnder<'_>,
) -> Result<(), DecodeError> {
    let mut slot = 0;
    response.for_each_var_bind(&mut |var_bind| {
        let index = roots.get(slot).and_then(|root| var_bind.name.strip_prefix(root.subids));
        visit(slot, index, &var_bind.value);
        slot += 1;
        if slot >= roots.len() {
            slot = 0;
        }
    })
}

/// The fixed part of an SNMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    pub version: i64,
    pub command: u8,
    pub request_id: i64,
    pub error_status: i64,
    pub error_index: i64,
    /// The contents of the varbind-list SEQUENCE.
    pub var_binds: &'a [u8],
}

impl PduResponse for Message<'_> {
    fn error_status(&self) -> i64 {
        self.error_status
    }

    fn error_index(&self) -> i64 {
        self.error_index
    }

    fn for_each_var_bind(&self, visit: &mut dyn FnMut(VarBind<'_>)) -> Result<(), DecodeError> {
        for_each_var_bind(self.var_binds, visit)
    }

    /// Compares each name's BER contents with its root's and decodes only what follows (the
    /// index); a name outside its root is decoded only to check that it is well-formed.
    fn for_each_under(&self, roots: &[Root<'_>], visit: &mut VisitUnder<'_>) -> Result<(), DecodeError> {
        if roots.is_empty() || roots.iter().any(|root| root.ber.is_none()) {
            return for_each_under_decoded(self, roots, visit);
        }
        let mut list = Reader { bytes: self.var_binds };
        let mut index = [0u32; MAX_OID_LEN];
        let mut oid_value = Vec::new();
        let mut slot = 0;
        while !list.bytes.is_empty() {
            let mut var_bind = Reader { bytes: list.expect(SEQUENCE, "expected a varbind")? };
            let name = var_bind.expect(OBJECT_ID, "expected the varbind name")?;
            let root = roots[slot];
            // The root's contents end a sub-identifier (their last byte is below 0x80), so a
            // name whose contents start with them is the root's arcs followed by whole ones.
            let under = match name.strip_prefix(root.ber.unwrap_or_default()) {
                Some(rest) => {
                    let room = index.len().saturating_sub(root.subids.len());
                    Some(0..sub_identifiers_into(rest, &mut index[..room])?)
                }
                None => {
                    // Outside the root, or under it in a non-minimal encoding (which the
                    // decoder accepts): decoded whole to tell, and to check it.
                    let length = object_id_into(name, &mut index)?;
                    index[..length].starts_with(root.subids).then_some(root.subids.len()..length)
                }
            };
            let (tag, contents) = var_bind.tlv()?;
            let value = value_of(tag, contents, &mut oid_value)?;
            visit(slot, under.map(|range| &index[range]), &value);
            slot += 1;
            if slot == roots.len() {
                slot = 0;
            }
        }
        Ok(())
    }
}

/// Why a message or varbind could not be read.
pub(crate) type DecodeError = &'static str;

pub(crate) const SEQUENCE: u8 = 0x30;

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads one TLV: its tag and contents.
    fn tlv(&mut self) -> Result<(u8, &'a [u8]), DecodeError> {
        let (&tag, rest) = self.bytes.split_first().ok_or("truncated tag")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tags are not used by SNMP");
        }
        let (&first, mut rest) = rest.split_first().ok_or("truncated length")?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return Err("bad length");
            }
            let (digits, after) = rest.split_at(count);
            rest = after;
            digits.iter().fold(0usize, |n, &d| (n << 8) | usize::from(d))
        };
        if rest.len() < length {
            return Err("truncated contents");
        }
        let (contents, after) = rest.split_at(length);
        self.bytes = after;
        Ok((tag, contents))
    }

    fn expect(&mut self, tag: u8, what: DecodeError) -> Result<&'a [u8], DecodeError> {
        match self.tlv()? {
            (t, contents) if t == tag => Ok(contents),
            _ => Err(what),
        }
    }

    fn integer(&mut self) -> Result<i64, DecodeError> {
        signed(self.expect(INTEGER, "expected an INTEGER")?)
    }
}

fn signed(contents: &[u8]) -> Result<i64, DecodeError> {
    if contents.is_empty() || contents.len() > 8 {
        return Err("bad INTEGER length");
    }
    let negative = contents[0] & 0x80 != 0;
    Ok(contents.iter().fold(if negative { -1i64 } else { 0 }, |n, &b| (n << 8) | i64::from(b)))
}

/// An unsigned value of at most `bits` bits, with the optional leading zero byte BER needs
/// when the top bit is set.
fn unsigned(contents: &[u8], bits: u32) -> Result<u64, DecodeError> {
    let max_len = (bits / 8) as usize + 1;
    if contents.is_empty() || contents.len() > max_len || (contents.len() == max_len && contents[0] != 0) {
        return Err("bad unsigned length");
    }
    Ok(contents.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
}

/// Decodes an OBJECT IDENTIFIER's contents into `out` (X.690 §8.19), sub-ids ≤ 2^32-1.
fn object_id(contents: &[u8], out: &mut Vec<u32>) -> Result<(), DecodeError> {
    let mut subids = [0u32; MAX_OID_LEN];
    let length = object_id_into(contents, &mut subids)?;
    out.clear();
    out.extend_from_slice(&subids[..length]);
    Ok(())
}

/// Decodes an OBJECT IDENTIFIER's contents into `out`; returns how many sub-ids it holds. A
/// fixed array, not a `Vec`: no capacity check per sub-id (a varbind name is decoded for every
/// varbind).
fn object_id_into(contents: &[u8], out: &mut [u32; MAX_OID_LEN]) -> Result<usize, DecodeError> {
    if contents.is_empty() {
        return Ok(0);
    }
    let mut at = 0;
    // The first sub-identifier holds the first two arcs: 40 × X + Y.
    let first = sub_identifier(contents, &mut at)?;
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    out[0] = a;
    out[1] = u32::try_from(b).map_err(|_| "OID sub-identifier too large")?;
    Ok(2 + sub_identifiers_into(&contents[at..], &mut out[2..])?)
}

/// Decodes the base-128 sub-identifiers of `contents` (an OID's contents after its first
/// sub-identifier, which holds two arcs) into `out`; returns how many there are.
fn sub_identifiers_into(contents: &[u8], out: &mut [u32]) -> Result<usize, DecodeError> {
    let mut at = 0;
    let mut length = 0;
    while at < contents.len() {
        let subid = sub_identifier(contents, &mut at)?;
        let slot = out.get_mut(length).ok_or("OID too long")?;
        *slot = u32::try_from(subid).map_err(|_| "OID sub-identifier too large")?;
        length += 1;
    }
    Ok(length)
}

/// Reads the base-128 sub-identifier at `*at` (< `contents.len()`) and moves past it. Most are
/// one byte, read without a loop.
#[inline(always)]
fn sub_identifier(contents: &[u8], at: &mut usize) -> Result<u64, DecodeError> {
    let byte = contents[*at];
    *at += 1;
    if byte < 0x80 {
        return Ok(u64::from(byte));
    }
    let mut value = u64::from(byte & 0x7f);
    loop {
        let Some(&next) = contents.get(*at) else { return Err("truncated OID sub-identifier") };
        *at += 1;
        value = (value << 7) | u64::from(next & 0x7f);
        if value > u64::from(u32::MAX) + 80 {
            return Err("OID sub-identifier too large");
        }
        if next < 0x80 {
            return Ok(value);
        }
    }
}

/// Reads a v1/v2c message header: version, community (skipped), PDU type, request-id,
/// error-status, error-index, and locates the varbind list.
pub(crate) fn parse_message(packet: &[u8]) -> Result<Message<'_>, DecodeError> {
    let mut outer = Reader { bytes: packet };
    let mut message = Reader { bytes: outer.expect(SEQUENCE, "not an SNMP message")? };
    let version = message.integer()?;
    message.expect(OCTET_STRING, "expected the community")?;
    pdu(version, &mut message)
}

/// Reads a PDU (its type, request-id, error-status, error-index, and where its varbind list
/// is) from `reader`.
fn pdu<'a>(version: i64, reader: &mut Reader<'a>) -> Result<Message<'a>, DecodeError> {
    let (command, pdu) = reader.tlv()?;
    if command & 0xe0 != 0xa0 {
        return Err("not a PDU");
    }
    let mut pdu = Reader { bytes: pdu };
    let request_id = pdu.integer()?;
    let error_status = pdu.integer()?;
    let error_index = pdu.integer()?;
    let var_binds = pdu.expect(SEQUENCE, "expected the varbind list")?;
    Ok(Message { version, command, request_id, error_status, error_index, var_binds })
}

/// An SNMPv3 message with the User-based Security Model (RFC 3412 §6, RFC 3414 §2.4), read but
/// not yet checked or decrypted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V3Message<'a> {
    pub msg_id: i64,
    pub max_size: i64,
    pub flags: u8,
    pub security_model: i64,
    pub engine_id: &'a [u8],
    pub boots: i64,
    pub time: i64,
    pub user: &'a [u8],
    pub auth_params: &'a [u8],
    /// Where `auth_params` starts in the message (its digest is computed with them zeroed).
    pub auth_offset: usize,
    pub priv_params: &'a [u8],
    /// The scopedPDU: encrypted (the encryptedPDU's contents) or in clear (the whole SEQUENCE).
    pub data: &'a [u8],
    pub encrypted: bool,
}

/// Reads an SNMPv3 message's header and USM security parameters.
pub(crate) fn parse_v3_message(packet: &[u8]) -> Result<V3Message<'_>, DecodeError> {
    let mut outer = Reader { bytes: packet };
    let mut message = Reader { bytes: outer.expect(SEQUENCE, "not an SNMP message")? };
    if message.integer()? != 3 {
        return Err("not SNMPv3");
    }
    let mut global = Reader { bytes: message.expect(SEQUENCE, "expected msgGlobalData")? };
    let msg_id = global.integer()?;
    let max_size = global.integer()?;
    let flags = match global.expect(OCTET_STRING, "expected msgFlags")? {
        [flags] => *flags,
        _ => return Err("msgFlags is not one octet"),
    };
    let security_model = global.integer()?;
    let mut usm = Reader { bytes: message.expect(OCTET_STRING, "expected msgSecurityParameters")? };
    let mut usm = Reader { bytes: usm.expect(SEQUENCE, "expected UsmSecurityParameters")? };
    let engine_id = usm.expect(OCTET_STRING, "expected msgAuthoritativeEngineID")?;
    let boots = usm.integer()?;
    let time = usm.integer()?;
    let user = usm.expect(OCTET_STRING, "expected msgUserName")?;
    let auth_params = usm.expect(OCTET_STRING, "expected msgAuthenticationParameters")?;
    let priv_params = usm.expect(OCTET_STRING, "expected msgPrivacyParameters")?;
    let auth_offset = auth_params.as_ptr() as usize - packet.as_ptr() as usize;
    let rest = message.bytes;
    let (tag, contents) = message.tlv()?;
    let (data, encrypted) = match tag {
        OCTET_STRING => (contents, true),
        SEQUENCE => (&rest[..rest.len() - message.bytes.len()], false),
        _ => return Err("expected msgData"),
    };
    Ok(V3Message {
        msg_id,
        max_size,
        flags,
        security_model,
        engine_id,
        boots,
        time,
        user,
        auth_params,
        auth_offset,
        priv_params,
        data,
        encrypted,
    })
}

/// A ScopedPDU (RFC 3412 §6): its context and its PDU.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScopedPdu<'a> {
    pub context_engine_id: &'a [u8],
    pub context_name: &'a [u8],
    pub pdu: Message<'a>,
}

/// Reads a ScopedPDU (a decrypted one may be followed by padding, which is ignored).
pub(crate) fn parse_scoped_pdu(bytes: &[u8]) -> Result<ScopedPdu<'_>, DecodeError> {
    let mut outer = Reader { bytes };
    let mut scoped = Reader { bytes: outer.expect(SEQUENCE, "not a ScopedPDU")? };
    let context_engine_id = scoped.expect(OCTET_STRING, "expected contextEngineID")?;
    let context_name = scoped.expect(OCTET_STRING, "expected contextName")?;
    let pdu = pdu(3, &mut scoped)?;
    Ok(ScopedPdu { context_engine_id, context_name, pdu })
}

/// Calls `visit` with each varbind of a varbind list, in order. Stops at the first malformed
/// varbind and returns why.
pub(crate) fn for_each_var_bind(
    var_binds: &[u8],
    visit: &mut dyn FnMut(VarBind<'_>),
) -> Result<(), DecodeError> {
    let mut list = Reader { bytes: var_binds };
    let mut name = [0u32; MAX_OID_LEN];
    let mut oid_value = Vec::new();
    while !list.bytes.is_empty() {
        let mut var_bind = Reader { bytes: list.expect(SEQUENCE, "expected a varbind")? };
        let length = object_id_into(var_bind.expect(OBJECT_ID, "expected the varbind name")?, &mut name)?;
        let (tag, contents) = var_bind.tlv()?;
        let value = value_of(tag, contents, &mut oid_value)?;
        visit(VarBind { name: &name[..length], value });
    }
    Ok(())
}

/// A varbind's value from its tag and contents (an OBJECT IDENTIFIER is decoded into
/// `oid_value`).
#[inline(always)]
fn value_of<'a>(tag: u8, contents: &'a [u8], oid_value: &'a mut Vec<u32>) -> Result<Value<'a>, DecodeError> {
    Ok(match tag {
        INTEGER => Value::Integer(signed(contents)?),
        COUNTER32 | GAUGE32 | TIMETICKS | UINTEGER32 => Value::Unsigned(tag, unsigned(contents, 32)? as u32),
        COUNTER64 => Value::Unsigned64(tag, unsigned(contents, 64)?),
        OBJECT_ID => {
            object_id(contents, oid_value)?;
            Value::ObjectId(oid_value)
        }
        NULL => Value::Null,
        NO_SUCH_OBJECT => Value::NoSuchObject,
        NO_SUCH_INSTANCE => Value::NoSuchInstance,
        END_OF_MIB_VIEW => Value::EndOfMibView,
        _ => Value::Bytes(tag, contents),
    })
}

/// A BER writer for the requests snmp-stream builds itself (v1/v2c over UDP, SNMPv3).
pub(crate) mod write {
    use super::{INTEGER, NULL, OBJECT_ID, OCTET_STRING, SEQUENCE};

    /// Appends a definite length.
    fn length(out: &mut Vec<u8>, length: usize) {
        if length < 0x80 {
            out.push(length as u8);
        } else {
            let bytes = length.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }

    /// Appends a TLV.
    pub fn tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
        out.push(tag);
        length(out, contents.len());
        out.extend_from_slice(contents);
    }

    /// Bytes a definite length takes.
    pub fn length_len(length: usize) -> usize {
        if length < 0x80 {
            1
        } else {
            1 + (usize::BITS - length.leading_zeros()).div_ceil(8) as usize
        }
    }

    /// Appends the header (tag and length) of a TLV whose contents follow.
    pub fn push_header(out: &mut Vec<u8>, tag: u8, contents_length: usize) {
        out.push(tag);
        length(out, contents_length);
    }

    /// The header (tag and length) of a TLV whose contents follow.
    pub fn header(tag: u8, contents_length: usize) -> Vec<u8> {
        let mut out = vec![tag];
        length(&mut out, contents_length);
        out
    }

    /// Appends an INTEGER (minimal two's complement).
    pub fn integer(out: &mut Vec<u8>, value: i64) {
        let (bytes, used) = integer_contents(value);
        tlv(out, INTEGER, &bytes[8 - used..]);
    }

    /// An INTEGER's contents (minimal two's complement, X.690 8.3): the big-endian bytes, of
    /// which the last `.1` are used.
    pub fn integer_contents(value: i64) -> ([u8; 8], usize) {
        let bytes = value.to_be_bytes();
        let mut skip = 0;
        while skip < 7 {
            let (first, next) = (bytes[skip], bytes[skip + 1]);
            if (first == 0 && next & 0x80 == 0) || (first == 0xff && next & 0x80 != 0) {
                skip += 1;
            } else {
                break;
            }
        }
        (bytes, 8 - skip)
    }

    pub fn octets(out: &mut Vec<u8>, value: &[u8]) {
        tlv(out, OCTET_STRING, value);
    }

    /// Appends an OBJECT IDENTIFIER; `None` if it cannot be encoded (fewer than two
    /// sub-identifiers, or a first pair BER cannot hold).
    pub fn object_id<T: Copy + Into<u64>>(out: &mut Vec<u8>, subids: &[T]) -> Option<()> {
        push_header(out, OBJECT_ID, oid_contents_len(subids)?);
        push_arcs(out, subids)
    }

    /// The contents of an OBJECT IDENTIFIER (no tag or length); `None` when BER cannot hold it.
    pub fn oid_contents<T: Copy + Into<u64>>(subids: &[T]) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(oid_contents_len(subids)?);
        push_arcs(&mut out, subids)?;
        Some(out)
    }

    /// Appends an OBJECT IDENTIFIER's contents: each arc in base 128.
    pub fn push_arcs<T: Copy + Into<u64>>(out: &mut Vec<u8>, subids: &[T]) -> Option<()> {
        for value in arcs(subids)? {
            for group in (1..subid_len(value)).rev() {
                out.push(0x80 | (value >> (7 * group)) as u8 & 0x7f);
            }
            out.push(value as u8 & 0x7f);
        }
        Some(())
    }

    /// The length of an OBJECT IDENTIFIER's contents; `None` when BER cannot hold it.
    pub fn oid_contents_len<T: Copy + Into<u64>>(subids: &[T]) -> Option<usize> {
        Some(arcs(subids)?.map(subid_len).sum())
    }

    /// The sub-identifiers BER writes for an OID: the first two arcs as one, then the others;
    /// `None` when BER cannot hold it (fewer than two arcs, a first pair out of range, or a
    /// sub-identifier over 32 bits).
    fn arcs<T: Copy + Into<u64>>(subids: &[T]) -> Option<impl Iterator<Item = u64> + '_> {
        let (first, second) = ((*subids.first()?).into(), (*subids.get(1)?).into());
        if first > 2 || (first < 2 && second >= 40) || subids.iter().any(|&s| s.into() > u64::from(u32::MAX))
        {
            return None;
        }
        Some(std::iter::once(first * 40 + second).chain(subids[2..].iter().map(|&s| s.into())))
    }

    /// Bytes of one base-128 sub-identifier.
    fn subid_len(value: u64) -> usize {
        (64 - value.leading_zeros() as usize).div_ceil(7).max(1)
    }

    /// A ScopedPDU (RFC 3412 §6) holding a request PDU whose varbinds are `names` with NULL
    /// values. `a` and `b` are error-status and error-index (non-repeaters and
    /// max-repetitions for GETBULK).
    pub fn scoped_request<'n>(
        context_engine_id: &[u8],
        context_name: &[u8],
        command: u8,
        request_id: i64,
        a: i64,
        b: i64,
        names: impl Iterator<Item = &'n [u64]>,
    ) -> Option<Vec<u8>> {
        let mut var_binds = Vec::new();
        for name in names {
            let mut var_bind = Vec::with_capacity(name.len() + 8);
            object_id(&mut var_bind, name)?;
            tlv(&mut var_bind, NULL, &[]);
            tlv(&mut var_binds, SEQUENCE, &var_bind);
        }
        let mut pdu = Vec::with_capacity(var_binds.len() + 24);
        integer(&mut pdu, request_id);
        integer(&mut pdu, a);
        integer(&mut pdu, b);
        tlv(&mut pdu, SEQUENCE, &var_binds);
        let mut scoped = Vec::with_capacity(pdu.len() + context_engine_id.len() + context_name.len() + 16);
        octets(&mut scoped, context_engine_id);
        octets(&mut scoped, context_name);
        tlv(&mut scoped, command, &pdu);
        let mut out = Vec::with_capacity(scoped.len() + 4);
        tlv(&mut out, SEQUENCE, &scoped);
        Some(out)
    }

    /// The fields of an SNMPv3 message with USM security parameters.
    pub struct V3Fields<'a> {
        pub msg_id: i64,
        pub max_size: i64,
        pub flags: u8,
        pub engine_id: &'a [u8],
        pub boots: i64,
        pub time: i64,
        pub user: &'a [u8],
        /// Zeros of the digest's length (empty without authentication), filled in afterwards.
        pub auth_length: usize,
        pub priv_params: &'a [u8],
        /// The scopedPDU: an encryptedPDU's octets, or a plaintext ScopedPDU SEQUENCE.
        pub data: &'a [u8],
        pub encrypted: bool,
    }

    /// An SNMPv3 message (RFC 3412 §6) and where its msgAuthenticationParameters are.
    pub fn v3_message(fields: &V3Fields<'_>) -> (Vec<u8>, usize) {
        let mut usm = Vec::with_capacity(fields.engine_id.len() + fields.user.len() + 80);
        octets(&mut usm, fields.engine_id);
        integer(&mut usm, fields.boots);
        integer(&mut usm, fields.time);
        octets(&mut usm, fields.user);
        let mut auth = header(OCTET_STRING, fields.auth_length);
        let auth_in_usm = usm.len() + auth.len();
        auth.resize(auth.len() + fields.auth_length, 0);
        usm.extend_from_slice(&auth);
        octets(&mut usm, fields.priv_params);
        let usm_sequence = header(SEQUENCE, usm.len());
        let usm_octets = header(OCTET_STRING, usm_sequence.len() + usm.len());

        let mut global = Vec::with_capacity(24);
        integer(&mut global, fields.msg_id);
        integer(&mut global, fields.max_size);
        octets(&mut global, &[fields.flags]);
        integer(&mut global, 3); // USM
        let mut body = Vec::with_capacity(global.len() + usm.len() + fields.data.len() + 32);
        integer(&mut body, 3); // SNMPv3
        tlv(&mut body, SEQUENCE, &global);
        let auth_in_body = body.len() + usm_octets.len() + usm_sequence.len() + auth_in_usm;
        body.extend_from_slice(&usm_octets);
        body.extend_from_slice(&usm_sequence);
        body.extend_from_slice(&usm);
        if fields.encrypted {
            octets(&mut body, fields.data);
        } else {
            body.extend_from_slice(fields.data);
        }
        let mut message = header(SEQUENCE, body.len());
        let auth_offset = message.len() + auth_in_body;
        message.extend_from_slice(&body);
        (message, auth_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GETBULK response from snmpd (captured): sysDescr.0 = "Linux", sysObjectID.0,
    /// sysUpTime.0, and a Counter64 / negative INTEGER / IpAddress / endOfMibView built by hand.
    fn message(var_binds: &[u8]) -> Vec<u8> {
        let mut list = vec![0x30];
        push_len(&mut list, var_binds.len());
        list.extend_from_slice(var_binds);
        let mut pdu = vec![0x02, 0x02, 0x30, 0x39, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00];
        pdu.extend_from_slice(&list);
        let mut body = vec![0x02, 0x01, 0x01, 0x04, 0x06];
        body.extend_from_slice(b"public");
        body.push(0xa2);
        push_len(&mut body, pdu.len());
        body.extend_from_slice(&pdu);
        let mut out = vec![0x30];
        push_len(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }

    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
    }

    fn var_bind(name: &[u8], value: &[u8]) -> Vec<u8> {
        let mut inner = vec![0x06, name.len() as u8];
        inner.extend_from_slice(name);
        inner.extend_from_slice(value);
        let mut out = vec![0x30, inner.len() as u8];
        out.extend_from_slice(&inner);
        out
    }

    /// What `for_each_under` visits: (slot, index or None, value), or the error.
    type Visits = Result<Vec<(usize, Option<Vec<u32>>, String)>, DecodeError>;

    /// `for_each_under` of the message over `roots`, through the BER comparison and through
    /// the decoded names.
    fn under_both_ways(packet: &[u8], roots: &[&[u32]]) -> (Visits, Visits) {
        let message = parse_message(packet).unwrap();
        let owned: Vec<(Vec<u32>, Option<Vec<u8>>)> =
            roots.iter().map(|r| (r.to_vec(), write::oid_contents(r))).collect();
        let roots: Vec<Root<'_>> = owned.iter().map(|(s, b)| Root { subids: s, ber: b.as_deref() }).collect();
        let run = |decoded: bool| -> Visits {
            let mut seen = Vec::new();
            let mut visit = |slot: usize, index: Option<&[u32]>, value: &Value<'_>| {
                seen.push((slot, index.map(<[u32]>::to_vec), format!("{value:?}")));
            };
            if decoded {
                for_each_under_decoded(&message, &roots, &mut visit)?;
            } else {
                message.for_each_under(&roots, &mut visit)?;
            }
            Ok(seen)
        };
        (run(false), run(true))
    }

    #[test]
    fn for_each_under_compares_roots_as_ber_and_agrees_with_the_decoded_names() {
        let if_descr = [1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
        let if_type = [1, 3, 6, 1, 2, 1, 2, 2, 1, 3];
        let octets = |text: &str| [vec![0x04, text.len() as u8], text.as_bytes().to_vec()].concat();
        let name = |subids: &[u32]| write::oid_contents(subids).unwrap();
        let mut list = Vec::new();
        for (subids, value) in [
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 1], octets("lo")), // under root 0
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 3, 1], vec![0x02, 0x01, 0x18]), // under root 1
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, 300, 7, 0x8000_0000], octets("x")), // multi-byte
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 4, 1], vec![0x02, 0x01, 0x01]), // past root 1
            (if_descr.to_vec(), vec![0x05, 0x00]),                 // the root itself: empty index
            (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 20], vec![0x05, 0x00]), // 20 is not 2
        ] {
            list.extend(var_bind(&name(&subids), &value));
        }
        // Root 1's arcs with a non-minimal sub-identifier (0x80 0x03 for 3): still under it.
        list.extend(var_bind(&[0x2b, 6, 1, 2, 1, 2, 2, 1, 0x80, 3, 9], &[0x05, 0x00]));
        let packet = message(&list);
        let (ber, decoded) = under_both_ways(&packet, &[&if_descr, &if_type]);
        assert_eq!(ber, decoded);
        let indexes: Vec<(usize, Option<Vec<u32>>)> =
            ber.unwrap().into_iter().map(|(s, i, _)| (s, i)).collect();
        assert_eq!(
            indexes,
            [
                (0, Some(vec![1])),
                (1, Some(vec![1])),
                (0, Some(vec![300, 7, 0x8000_0000])),
                (1, None),
                (0, Some(vec![])),
                (1, None),
                (0, None),
            ]
        );
        // The same list against one root; a two-arc root; a root BER cannot hold (one arc).
        for roots in [&[&if_descr[..]][..], &[&[1, 3][..]], &[&[1][..], &if_type[..]]] {
            let (ber, decoded) = under_both_ways(&packet, roots);
            assert_eq!(ber, decoded, "roots {roots:?}");
        }
    }

    /// A varbind named `name` (contents of any length) with a NULL value.
    fn any_var_bind(name: &[u8]) -> Vec<u8> {
        let mut inner = Vec::new();
        write::tlv(&mut inner, OBJECT_ID, name);
        inner.extend_from_slice(&[0x05, 0x00]);
        let mut out = Vec::new();
        write::tlv(&mut out, SEQUENCE, &inner);
        out
    }

    #[test]
    fn for_each_under_reports_malformed_and_over_long_names_in_and_out_of_the_root() {
        let root = [1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
        let prefix = write::oid_contents(&root).unwrap();
        let truncated_inside = [prefix.clone(), vec![0x81]].concat(); // a sub-id cut short
        let truncated_outside = vec![0x2b, 6, 1, 4, 0x81];
        let too_large = [prefix.clone(), vec![0x90, 0x80, 0x80, 0x80, 0x00]].concat(); // 2^32
        let too_long = [prefix.clone(), vec![1; 119]].concat(); // 10 + 119 = 129 sub-ids
        for (name, why) in [
            (truncated_inside, "truncated OID sub-identifier"),
            (truncated_outside, "truncated OID sub-identifier"),
            (too_large, "OID sub-identifier too large"),
            (too_long, "OID too long"),
        ] {
            let mut list = var_bind(&[prefix.clone(), vec![5]].concat(), &[0x05, 0x00]);
            list.extend(any_var_bind(&name));
            let packet = message(&list);
            let (ber, decoded) = under_both_ways(&packet, &[&root]);
            assert_eq!(ber, Err(why));
            assert_eq!(decoded, Err(why));
        }
        // 128 sub-ids in all is the longest name.
        let longest = [prefix, vec![1; 118]].concat();
        let packet = message(&any_var_bind(&longest));
        let (ber, decoded) = under_both_ways(&packet, &[&root]);
        assert_eq!(ber.as_ref().unwrap()[0].1.as_ref().map(Vec::len), Some(118));
        assert_eq!(ber, decoded);
    }

    fn decode(packet: &[u8]) -> (Message<'_>, Vec<(Vec<u32>, String)>) {
        let message = parse_message(packet).unwrap();
        let mut seen = Vec::new();
        for_each_var_bind(message.var_binds, &mut |vb| {
            seen.push((vb.name.to_vec(), format!("{:?}", vb.value)))
        })
        .unwrap();
        (message, seen)
    }

    #[test]
    fn reads_header_and_every_value_type() {
        let sys_descr = [0x2b, 6, 1, 2, 1, 1, 1, 0];
        let mut list = var_bind(&sys_descr, &[0x04, 0x05, b'L', b'i', b'n', b'u', b'x']);
        list.extend(var_bind(&sys_descr, &[0x06, 0x03, 0x2b, 0x86, 0x01])); // .1.3.769
        list.extend(var_bind(&sys_descr, &[0x43, 0x05, 0x00, 0xff, 0xff, 0xff, 0xff])); // TimeTicks 2^32-1
        list.extend(var_bind(
            &sys_descr,
            &[0x46, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
        ));
        list.extend(var_bind(&sys_descr, &[0x02, 0x02, 0xff, 0x38])); // -200
        list.extend(var_bind(&sys_descr, &[0x40, 0x04, 10, 0, 0, 1]));
        list.extend(var_bind(&[0x2b, 0x06, 0x01, 0x8f, 0xff, 0xff, 0xff, 0x7f], &[0x82, 0x00]));
        let packet = message(&list);
        let (header, seen) = decode(&packet);
        assert_eq!((header.version, header.command, header.request_id), (1, 0xa2, 12345));
        assert_eq!((header.error_status, header.error_index), (0, 0));
        let values: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(
            values,
            [
                "Bytes(4, [76, 105, 110, 117, 120])",
                "ObjectId([1, 3, 769])",
                "Unsigned(67, 4294967295)",
                "Unsigned64(70, 18446744073709551614)",
                "Integer(-200)",
                "Bytes(64, [10, 0, 0, 1])",
                "EndOfMibView",
            ]
        );
        assert_eq!(seen[0].0, vec![1, 3, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(seen[6].0, vec![1, 3, 6, 1, u32::MAX]);
    }

    #[test]
    fn long_lengths_and_first_arc_two() {
        let long_string = vec![b'x'; 300];
        let mut value = vec![0x04, 0x82, 0x01, 0x2c];
        value.extend_from_slice(&long_string);
        let mut inner = vec![0x06, 0x02, 0x88, 0x37]; // 2.999
        inner.extend_from_slice(&value);
        let mut list = vec![0x30, 0x82, (inner.len() >> 8) as u8, inner.len() as u8];
        list.extend_from_slice(&inner);
        let packet = message(&list);
        let (_, seen) = decode(&packet);
        assert_eq!(seen[0].0, vec![2, 999]);
        assert!(seen[0].1.starts_with("Bytes(4, [120, 120"));
    }

    #[test]
    fn object_ids_decode_every_sub_identifier_size() {
        let mut out = Vec::new();
        // 1.3.6.1.2.1.4.24.4.1.1.198.18.255.255.0 then 127, 128, 16383, 16384, 2^32-1.
        let mut contents = vec![0x2b, 6, 1, 2, 1, 4, 24, 4, 1, 1, 0x81, 0x46, 18, 0x81, 0x7f, 0x81, 0x7f, 0];
        contents.extend_from_slice(&[
            0x7f, 0x81, 0x00, 0xff, 0x7f, 0x81, 0x80, 0x00, 0x8f, 0xff, 0xff, 0xff, 0x7f,
        ]);
        object_id(&contents, &mut out).unwrap();
        let want =
            [1, 3, 6, 1, 2, 1, 4, 24, 4, 1, 1, 198, 18, 255, 255, 0, 127, 128, 16383, 16384, 4294967295];
        assert_eq!(out, want);
        assert_eq!(object_id(&[0x8f, 0xff, 0xff, 0xff, 0x7f], &mut out), Ok(()), "first arc 2, large second");
        assert_eq!(out, vec![2, u32::MAX - 80]);
        assert_eq!(
            object_id(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00], &mut out),
            Err("OID sub-identifier too large")
        );
        assert_eq!(object_id(&[0x2b, 0x81], &mut out), Err("truncated OID sub-identifier"));
        assert_eq!(object_id(&[], &mut out), Ok(()));
        assert!(out.is_empty());
    }

    /// Mutated and truncated datagrams (a deterministic xorshift stream) never panic, and what
    /// decodes has sane names.
    #[test]
    fn mutated_datagrams_never_panic() {
        let sys_descr = [0x2b, 6, 1, 2, 1, 1, 1, 0];
        let mut list = var_bind(&sys_descr, &[0x04, 0x05, b'L', b'i', b'n', b'u', b'x']);
        list.extend(var_bind(
            &sys_descr,
            &[0x46, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
        ));
        list.extend(var_bind(&sys_descr, &[0x06, 0x03, 0x2b, 0x86, 0x01]));
        let original = message(&list);
        let mut next = crate::parse::fuzz::xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..crate::parse::fuzz::fuzz_iterations(20_000) {
            let mut packet = original.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % packet.len();
                packet[at] = next() as u8;
            }
            packet.truncate((next() as usize) % (packet.len() + 1));
            if let Ok(message) = parse_message(&packet) {
                let _ = for_each_var_bind(message.var_binds, &mut |vb| {
                    assert!(vb.name.len() <= crate::oid::MAX_OID_LEN);
                });
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        let sys_descr = [0x2b, 6, 1, 2, 1, 1, 1, 0];
        let packet = message(&var_bind(&sys_descr, &[0x02, 0x01, 0x05]));
        for cut in 0..packet.len() {
            if let Ok(message) = parse_message(&packet[..cut]) {
                let _ = for_each_var_bind(message.var_binds, &mut |_| {});
            }
        }
        for bad_value in
            [&[0x02, 0x00][..], &[0x02, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9], &[0x41, 0x05, 1, 0, 0, 0, 0]]
        {
            let packet = message(&var_bind(&sys_descr, bad_value));
            let header = parse_message(&packet).unwrap();
            assert!(for_each_var_bind(header.var_binds, &mut |_| {}).is_err(), "{bad_value:?}");
        }
        let too_big_subid = message(&var_bind(&[0x2b, 0x90, 0x80, 0x80, 0x80, 0x00], &[0x05, 0x00]));
        let header = parse_message(&too_big_subid).unwrap();
        assert!(for_each_var_bind(header.var_binds, &mut |_| {}).is_err());
        assert!(parse_message(b"\x30\x03\x02\x01\x01").is_err());
    }

    #[test]
    fn v3_requests_written_read_back() {
        let scoped = write::scoped_request(
            b"\x80\x00\x1f\x88\x04engine",
            b"ctx",
            0xa5,
            1234567,
            0,
            25,
            [&[1u64, 3, 6, 1, 2, 1, 2, 2, 1, 4_294_967_295][..], &[1, 3, 6, 1, 4, 1, 99999][..]].into_iter(),
        )
        .unwrap();
        let fields = write::V3Fields {
            msg_id: 70000,
            max_size: 65507,
            flags: 0x07,
            engine_id: b"\x80\x00\x1f\x88\x04engine",
            boots: 3,
            time: 1_000_000,
            user: b"monitor",
            auth_length: 24,
            priv_params: &[1, 2, 3, 4, 5, 6, 7, 8],
            data: &scoped,
            encrypted: false,
        };
        let (message, offset) = write::v3_message(&fields);
        let read = parse_v3_message(&message).unwrap();
        assert_eq!(
            (read.msg_id, read.max_size, read.flags, read.boots, read.time),
            (70000, 65507, 7, 3, 1_000_000)
        );
        assert_eq!((read.user, read.engine_id), (&b"monitor"[..], &b"\x80\x00\x1f\x88\x04engine"[..]));
        assert_eq!((read.auth_offset, read.auth_params), (offset, &[0u8; 24][..]));
        assert!(!read.encrypted);
        let pdu = parse_scoped_pdu(read.data).unwrap();
        assert_eq!(
            (pdu.context_name, pdu.pdu.command, pdu.pdu.request_id, pdu.pdu.error_index),
            (&b"ctx"[..], 0xa5, 1234567, 25)
        );
        let mut names = Vec::new();
        pdu.pdu.for_each_var_bind(&mut |vb| names.push((vb.name.to_vec(), vb.value == Value::Null))).unwrap();
        assert_eq!(
            names,
            vec![
                (vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 4_294_967_295], true),
                (vec![1, 3, 6, 1, 4, 1, 99999], true)
            ]
        );
        let mut out = Vec::new();
        write::integer(&mut out, -129);
        write::integer(&mut out, 128);
        write::integer(&mut out, 0);
        assert_eq!(out, [2, 2, 0xff, 0x7f, 2, 2, 0, 0x80, 2, 1, 0]);
        assert!(write::object_id(&mut out, &[1u64, 40]).is_none());
    }
}
