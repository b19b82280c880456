//! Errors.
//!
//! Two kinds, kept apart on purpose:
//! - [`Error`]: misuse, returned from constructors and calls (a bad OID, host, community, config or
//!   request, or a closed collector). Nothing has been sent when you get one.
//! - [`SnmpError`]: what went wrong while collecting one request (timeout, agent error status,
//!   broken agent). It never becomes an `Err`: it travels in that request's
//!   [`Response`](crate::Response), beside the results that were collected.
//!
//! This is also the one place where SNMP error-status codes (RFC 3416 §3) get their names.

use std::fmt;

use crate::oid::Oid;

/// Misuse: bad input to a constructor or a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An OID that is not dotted-decimal, or is too long.
    InvalidOid {
        /// The text (or sub-ids) given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An index range whose start lies after its stop, or a range a GET cannot take.
    InvalidRange(String),
    /// A host net-snmp cannot take (empty, blanks, bad port, unknown transport).
    InvalidHost {
        /// The host given.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An empty or over-long community string.
    InvalidCommunity(String),
    /// SNMPv3 credentials that cannot be used (unknown protocol, short passphrase, a level
    /// the keys do not allow, an unknown credentials name). Never contains a passphrase.
    InvalidCredentials(String),
    /// A configuration value out of range.
    InvalidConfig {
        /// The setting, e.g. `timeout`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A request that cannot be sent as given (no OIDs, ambiguous roots, ...).
    InvalidRequest(String),
    /// The collector was closed, so it takes no more requests.
    Closed,
    /// The operating system refused a resource (epoll, eventfd, a thread).
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidOid { input, reason } => write!(f, "invalid OID {input:?}: {reason}"),
            Error::InvalidRange(reason) => write!(f, "invalid index range: {reason}"),
            Error::InvalidHost { host, reason } => write!(f, "invalid host {host:?}: {reason}"),
            Error::InvalidCommunity(reason) => write!(f, "invalid community: {reason}"),
            Error::InvalidCredentials(reason) => write!(f, "invalid SNMPv3 credentials: {reason}"),
            Error::InvalidConfig { field, reason } => write!(f, "invalid config {field}: {reason}"),
            Error::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
            Error::Closed => f.write_str("the collector is closed: it takes no more requests"),
            Error::Io(err) => write!(f, "system error: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::Io(err)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of trouble a request met while collecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// net-snmp could not open a session (e.g. unknown host name). Fatal.
    SessionError,
    /// net-snmp could not build the request PDU. Fatal.
    CreateRequestPdu,
    /// Sending failed. Fatal.
    SendError,
    /// The agent answered with an error-status, or with a PDU that does not fit the request. Fatal.
    BadResponsePdu,
    /// No answer after all retries. Fatal.
    Timeout,
    /// The request's `deadline` passed before it completed; what it collected is kept. Fatal.
    Deadline,
    /// A stream transport (TCP) was closed by the peer. Fatal.
    TransportDisconnect,
    /// The network answered that the agent cannot be reached (ICMP port or host unreachable):
    /// the request ends at once instead of waiting for its timeout. Fatal.
    Unreachable,
    /// A walk column returned an OID not greater than the previous one (a broken or looping
    /// agent). That column ends; the others go on.
    NonIncreasingOid,
    /// noSuchObject / noSuchInstance (v2c) or noSuchName (v1) for one GET varbind. The others
    /// go on.
    ValueWarning,
    /// A v2c walk went on with GETNEXT because the agent did not answer GETBULK (see
    /// `WalkMode::Auto`). The results are complete.
    BulkFallback,
    /// SNMPv3: the agent does not know the user (usmStatsUnknownUserNames report). Fatal.
    UnknownUser,
    /// SNMPv3: the agent found the message's digest wrong, i.e. the authentication
    /// passphrase or protocol differs from the agent's (usmStatsWrongDigests). Fatal.
    WrongDigest,
    /// SNMPv3: the agent could not decrypt the message, i.e. the privacy passphrase or
    /// protocol differs from the agent's (usmStatsDecryptionErrors). Fatal.
    DecryptionError,
    /// SNMPv3: the user may not use the requested security level on the agent
    /// (usmStatsUnsupportedSecLevels). Fatal.
    UnsupportedSecurityLevel,
    /// SNMPv3: the message stayed outside the agent's time window even after resynchronising
    /// (usmStatsNotInTimeWindows). Fatal.
    NotInTimeWindow,
    /// SNMPv3: the agent does not know the engine ID the message was sent to
    /// (usmStatsUnknownEngineIDs), or gave none when asked. Fatal.
    UnknownEngineId,
    /// SNMPv3: another report PDU (e.g. snmpUnknownSecurityModels) ended the request. Fatal.
    SecurityError,
}

impl ErrorKind {
    /// True when the error ended the whole request (the response is then `Failed`).
    pub fn is_fatal(self) -> bool {
        !matches!(self, ErrorKind::NonIncreasingOid | ErrorKind::ValueWarning | ErrorKind::BulkFallback)
    }

    /// A stable snake_case name, used in Python and in messages on a bus.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::SessionError => "session_error",
            ErrorKind::CreateRequestPdu => "create_request_pdu",
            ErrorKind::SendError => "send_error",
            ErrorKind::BadResponsePdu => "bad_response_pdu",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Deadline => "deadline",
            ErrorKind::TransportDisconnect => "transport_disconnect",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::NonIncreasingOid => "non_increasing_oid",
            ErrorKind::ValueWarning => "value_warning",
            ErrorKind::BulkFallback => "bulk_fallback",
            ErrorKind::UnknownUser => "unknown_user",
            ErrorKind::WrongDigest => "wrong_digest",
            ErrorKind::DecryptionError => "decryption_error",
            ErrorKind::UnsupportedSecurityLevel => "unsupported_security_level",
            ErrorKind::NotInTimeWindow => "not_in_time_window",
            ErrorKind::UnknownEngineId => "unknown_engine_id",
            ErrorKind::SecurityError => "security_error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A structured error in a [`Response`](crate::Response).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnmpError {
    /// What kind of error.
    pub kind: ErrorKind,
    /// The system `errno` net-snmp reported, or 0.
    pub sys_errno: i32,
    /// net-snmp's own error code (`SNMPERR_*`, negative), or 0.
    pub snmp_errno: i32,
    /// The PDU error-status the agent sent (RFC 3416), or 0.
    pub err_stat: i64,
    /// The PDU error-index the agent sent (1-based), or 0.
    pub err_index: i64,
    /// The OID concerned, when there is one.
    pub err_oid: Option<Oid>,
    /// A readable explanation naming the host and what happened.
    pub message: String,
}

impl SnmpError {
    /// An error with only a kind and a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SnmpError {
            kind,
            sys_errno: 0,
            snmp_errno: 0,
            err_stat: 0,
            err_index: 0,
            err_oid: None,
            message: message.into(),
        }
    }

    /// The error for a system errno that says the agent cannot be reached: ICMP port or host
    /// unreachable on a UDP socket, a refused, unreachable or timed-out TCP connection. `None`
    /// for other errnos.
    pub(crate) fn unreachable(host: &str, sys_errno: i32, snmp_errno: i32) -> Option<Self> {
        if !matches!(sys_errno, libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::ETIMEDOUT)
        {
            return None;
        }
        let reason = std::io::Error::from_raw_os_error(sys_errno);
        Some(
            SnmpError::new(ErrorKind::Unreachable, format!("{host} is unreachable: {reason}"))
                .with_codes(sys_errno, snmp_errno),
        )
    }

    /// The request's own `deadline` passed before it completed.
    pub(crate) fn deadline(host: &str, limit: std::time::Duration) -> Self {
        SnmpError::new(
            ErrorKind::Deadline,
            format!("{host} did not complete within its deadline of {limit:?}"),
        )
    }

    /// No answer after all tries (net-snmp's SNMPERR_TIMEOUT).
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        SnmpError::new(ErrorKind::Timeout, message).with_codes(0, netsnmp_sys::SNMPERR_TIMEOUT)
    }

    /// Adds net-snmp's error codes.
    pub(crate) fn with_codes(mut self, sys_errno: i32, snmp_errno: i32) -> Self {
        self.sys_errno = sys_errno;
        self.snmp_errno = snmp_errno;
        self
    }

    /// Adds the OID concerned.
    pub(crate) fn with_oid(mut self, oid: Oid) -> Self {
        self.err_oid = Some(oid);
        self
    }

    /// An agent's error-status answer; `oid` is the varbind `err_index` points at.
    pub(crate) fn error_status(host: &str, err_stat: i64, err_index: i64, oid: Option<Oid>) -> Self {
        let at = oid.as_ref().map(|o| format!(" at {o}")).unwrap_or_default();
        let mut error = SnmpError::new(
            ErrorKind::BadResponsePdu,
            format!(
                "{host} answered error-status {}({err_stat}), error-index {err_index}{at}",
                error_status_name(err_stat)
            ),
        );
        error.err_stat = err_stat;
        error.err_index = err_index;
        error.err_oid = oid;
        error
    }
}

impl fmt::Display for SnmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for SnmpError {}

/// The RFC 3416 name of a PDU error-status.
pub fn error_status_name(err_stat: i64) -> &'static str {
    match err_stat {
        0 => "noError",
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        7 => "wrongType",
        8 => "wrongLength",
        9 => "wrongEncoding",
        10 => "wrongValue",
        11 => "noCreation",
        12 => "inconsistentValue",
        13 => "resourceUnavailable",
        14 => "commitFailed",
        15 => "undoFailed",
        16 => "authorizationError",
        17 => "notWritable",
        18 => "inconsistentName",
        _ => "unknown",
    }
}

/// PDU error-status values the engine acts on.
pub(crate) mod status {
    pub const NO_ERROR: i64 = 0;
    pub const TOO_BIG: i64 = 1;
    pub const NO_SUCH_NAME: i64 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_messages_name_host_status_and_oid() {
        let oid = Oid::parse("1.3.6.1.2.1.1.5.0").unwrap();
        let err = SnmpError::error_status("127.0.0.1:161", 5, 1, Some(oid.clone()));
        assert_eq!(err.kind, ErrorKind::BadResponsePdu);
        assert_eq!(err.err_oid, Some(oid));
        assert_eq!(
            err.to_string(),
            "bad_response_pdu: 127.0.0.1:161 answered error-status genErr(5), error-index 1 at .1.3.6.1.2.1.1.5.0"
        );
        assert!(ErrorKind::Timeout.is_fatal());
        assert!(!ErrorKind::ValueWarning.is_fatal());
    }
}
