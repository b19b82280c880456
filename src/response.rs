//! The outcome of one request: [`Response`].

use std::time::Duration;

use crate::error::SnmpError;
use crate::request::Request;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Everything asked for was collected, without errors or warnings.
    Successful,
    /// The request ran to its end, but some varbinds or columns have warnings or errors
    /// (noSuchInstance on a GET, a column stopped by a non-increasing OID).
    DoneWithErrors,
    /// A fatal error (timeout, session or send failure, agent error-status) ended the request
    /// early. What was collected before it is still in the results.
    Failed,
}

impl Status {
    /// `"successful"`, `"done_with_errors"` or `"failed"`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Successful => "successful",
            Status::DoneWithErrors => "done_with_errors",
            Status::Failed => "failed",
        }
    }
}

/// The result of one [`Request`]: every request submitted yields exactly one response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The request, as submitted.
    pub request: Request,
    /// How it ended.
    pub status: Status,
    /// The result buffer (format in `docs/FORMAT.md`; read it with
    /// [`ResultBuffer`](crate::ResultBuffer)).
    pub results: Vec<u8>,
    /// What went wrong, in the order it happened; empty when `status` is `Successful`.
    pub errors: Vec<SnmpError>,
    /// How long the request took, from when it started (its host name resolved, if it has one,
    /// then its PDUs and retries) to its end: which targets are slow.
    pub elapsed: Duration,
}
