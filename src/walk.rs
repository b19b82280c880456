//! The state of one request while it is collected: which PDU to send next, and what to do
//! with each answer. Pure logic, no net-snmp calls, so it is unit-tested with made-up PDUs.
//!
//! - **GET**: the targets (root, or root + point index) are sent `max_var_binds_per_pdu` at a
//!   time. noSuchObject/noSuchInstance values (v2c) and v1 noSuchName error-status are
//!   per-varbind warnings: the value is recorded as an exception, the rest go on.
//! - **WALK**: each (root, index range) pair is a *column* with a cursor. On v2c a GETBULK
//!   carries up to ⌈√N⌉ columns with max-repetitions N / columns (N = the varbind budget); on v1
//!   a GETNEXT carries up to N columns. Columns are served round-robin. A column ends at
//!   endOfMibView (v1: noSuchName), when it leaves its root's subtree or its range, or when the
//!   agent returns an OID not greater than the previous one (recorded as an error: a broken or
//!   looping agent cannot make a walk run forever).
//! - **A leaf root**: a walk column without a range that ends with nothing recorded (its root
//!   has nothing under it) asks for the root itself with a GET, as snmpwalk does, so that a walk
//!   of a scalar instance such as sysName.0 returns it (a record with an empty index). An
//!   exception value (noSuchObject, v1 noSuchName) there just means the subtree is empty.
//! - **tooBig** halves the request's varbind budget and resends; only a single varbind that is
//!   too big fails the request.
//! - **Agents that drop GETBULK** (`WalkMode::Auto`, v2c): when the first GETBULK of a request
//!   gets no answer after all its retries, one GETNEXT is sent with a single try. If it is
//!   answered, the walk goes on with GETNEXT and a `bulk_fallback` warning says so; if not,
//!   the request times out. A dead agent costs one extra try, not a second timeout cycle. The
//!   engine remembers such agents, so later requests to them start with GETNEXT.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ber::{self, PduResponse, Root, Value, VarBind};
use crate::config::{Settings, WalkMode};
use crate::encode::Encoder;
use crate::error::{status, ErrorKind, SnmpError};
use crate::oid::{Oid, MAX_OID_LEN};
use crate::pdu::{Command, PduSpec};
use crate::request::{Request, RequestKind, Version};
use crate::response::Status;

/// A GET target: root, or root + point index.
#[derive(Debug)]
struct Target {
    root_index: u16,
    root_len: usize,
    oid: Vec<u32>,
}

/// Columns per PDU up to which a walk answer's per-column state is kept on the stack.
const STACK_WIDTH: usize = 16;
/// A column's state in one walk answer: it ended, and why.
const ENDED: u8 = 1;
const NON_INCREASING: u8 = 2;

/// A walk column's root: its sub-ids, and its BER contents (see [`Root`]).
#[derive(Debug)]
struct WalkRoot {
    subids: Vec<u32>,
    ber: Option<Vec<u8>>,
}

impl WalkRoot {
    fn new(subids: Vec<u32>) -> Self {
        let ber = ber::write::oid_contents(&subids);
        WalkRoot { subids, ber }
    }

    fn view(&self) -> Root<'_> {
        Root { subids: &self.subids, ber: self.ber.as_deref() }
    }
}

/// A walk column: one root (kept beside it, in [`Work::Walk`]'s `roots`) within one index
/// range.
#[derive(Debug)]
struct Column {
    root_index: u16,
    /// root + range start: OIDs below it are skipped (the walk starts just before it).
    lower: Option<Vec<u32>>,
    /// root + range stop: OIDs after it and outside its subtree end the column.
    upper: Option<Vec<u32>>,
    /// The last OID received (at first, the OID the walk starts after).
    cursor: Vec<u32>,
    /// Whether `cursor` starts with `root` (it came from a varbind under it).
    under_root: bool,
    /// Whether the column recorded a varbind.
    found: bool,
}

enum Step {
    Record,
    Skip,
    End,
    NonIncreasing,
}

impl Column {
    /// The next varbind of the column: `index` is its name after `root` (`None`: the name is
    /// not under the root). The range bounds start with the root, so only the indexes are
    /// compared; so is the cursor once it is under the root (from the first varbind on).
    fn step(&mut self, root: &[u32], index: Option<&[u32]>, value: &Value<'_>) -> Step {
        let Some(index) = index else { return Step::End };
        if matches!(value, Value::EndOfMibView) {
            return Step::End;
        }
        let base = root.len();
        if let Some(upper) = &self.upper {
            let upper = &upper[base..];
            if index > upper && !index.starts_with(upper) {
                return Step::End;
            }
        }
        let increasing = if self.under_root {
            index > &self.cursor[base..]
        } else {
            // The cursor the walk started after may lie before the root.
            let name: Vec<u32> = root.iter().chain(index).copied().collect();
            name > self.cursor
        };
        if !increasing {
            return Step::NonIncreasing;
        }
        self.cursor.truncate(base);
        self.cursor.extend_from_slice(index);
        self.under_root = true;
        let below_range = self.lower.as_ref().is_some_and(|lower| index < &lower[base..]);
        if below_range || matches!(value, Value::NoSuchObject | Value::NoSuchInstance) {
            return Step::Skip;
        }
        self.found = true;
        Step::Record
    }

    /// Whether the column, now ended, should GET its root: it found nothing under the root and
    /// has no index range (a range selects instances below the root, never the root itself).
    fn wants_root(&self) -> bool {
        !self.found && self.lower.is_none() && self.upper.is_none()
    }
}

/// The OID a walk of `[start, ...)` must GETNEXT from so that `start` itself comes back first.
fn walk_start(start: &[u32]) -> Vec<u32> {
    match start.split_last() {
        // Nothing lies between P and P.0, so GETNEXT(P) returns P.0 or later.
        Some((0, parent)) => parent.to_vec(),
        // Between P.(k-1).MAX and P.k lie only P.(k-1).MAX.*: skipped by the lower bound.
        Some((&last, parent)) => {
            let mut oid = parent.to_vec();
            oid.push(last - 1);
            if oid.len() < MAX_OID_LEN {
                oid.push(u32::MAX);
            }
            oid
        }
        None => Vec::new(),
    }
}

#[derive(Debug)]
enum Work {
    Get {
        targets: Vec<Target>,
        pending: VecDeque<usize>,
    },
    /// `leaves`: columns that ended empty, waiting for the GET of their root. `roots[c]` is
    /// column c's root.
    Walk {
        columns: Vec<Column>,
        roots: Vec<WalkRoot>,
        pending: VecDeque<usize>,
        leaves: VecDeque<usize>,
    },
}

/// What the PDU in flight asked for: target or column numbers, in varbind order.
#[derive(Debug)]
struct InFlight {
    items: Vec<usize>,
    /// A walk's GET of the roots of columns that ended empty.
    leaves: bool,
}

/// One request being collected.
#[derive(Debug)]
pub(crate) struct Collection {
    host: String,
    retries: u32,
    /// Walk PDUs are GETBULKs (v2c, unless GETNEXT was asked for or fallen back to).
    bulk: bool,
    /// The walk may fall back to GETNEXT (v2c, `WalkMode::Auto`, no answer seen yet).
    may_fall_back: bool,
    /// The PDU in flight is the single-try GETNEXT that tests the fallback.
    probing: bool,
    /// That GETNEXT was answered: the agent drops GETBULK.
    found_no_bulk: bool,
    timeout: Duration,
    /// Varbinds per PDU; halved on tooBig.
    budget: u32,
    work: Work,
    in_flight: Option<InFlight>,
    encoder: Encoder,
    errors: Vec<SnmpError>,
    failed: bool,
    started: Instant,
    /// The vectors of the last PDU, filled again for the next (see [`Collection::recycle`]).
    spare_items: Vec<usize>,
    spare_names: Vec<Vec<u32>>,
}

/// Makes `names` hold copies of `sources`, reusing its vectors.
fn refill<'s>(names: &mut Vec<Vec<u32>>, sources: impl Iterator<Item = &'s [u32]>) {
    let mut count = 0;
    for source in sources {
        match names.get_mut(count) {
            Some(name) => {
                name.clear();
                name.extend_from_slice(source);
            }
            None => names.push(source.to_vec()),
        }
        count += 1;
    }
    names.truncate(count);
}

fn subids(oid: &Oid) -> Vec<u32> {
    oid.as_slice().to_vec()
}

fn to_oid(subids: &[u32]) -> Oid {
    // Names come from the decoder (≤ 128 sub-ids, checked) or from our requests.
    Oid::new(subids.to_vec()).unwrap_or_default()
}

impl Collection {
    /// `drops_bulk`: the engine knows that this agent does not answer GETBULK.
    pub fn new(
        request: &Request,
        settings: &Settings,
        start_us: u64,
        started: Instant,
        drops_bulk: bool,
    ) -> Self {
        let roots: Vec<&[u32]> = request.oids().iter().map(Oid::as_slice).collect();
        let encoder = Encoder::new(request.kind(), start_us, request.req_id().unwrap_or_default(), &roots);
        let work = match request.kind() {
            RequestKind::Get => {
                let mut targets = Vec::new();
                for (root_index, root) in request.oids().iter().enumerate() {
                    let root_index = root_index as u16; // ≤ MAX_ROOTS, checked by the builder
                    if request.ranges().is_empty() {
                        targets.push(Target { root_index, root_len: root.len(), oid: subids(root) });
                    }
                    for range in request.ranges() {
                        let index = range.start().map(Oid::as_slice).unwrap_or_default();
                        targets.push(Target {
                            root_index,
                            root_len: root.len(),
                            oid: subids(&root.join(index)),
                        });
                    }
                }
                Work::Get { pending: (0..targets.len()).collect(), targets }
            }
            RequestKind::Walk => {
                let (mut columns, mut roots) = (Vec::new(), Vec::new());
                for (root_index, root) in request.oids().iter().enumerate() {
                    let root_index = root_index as u16;
                    let root_subids = subids(root);
                    let unbounded = [crate::oid::OidRange::default()];
                    let ranges = if request.ranges().is_empty() { &unbounded[..] } else { request.ranges() };
                    for range in ranges {
                        let lower = range.start().map(|s| subids(&root.join(s.as_slice())));
                        let upper = range.stop().map(|s| subids(&root.join(s.as_slice())));
                        let cursor = lower.as_deref().map_or_else(|| root_subids.clone(), walk_start);
                        roots.push(WalkRoot::new(root_subids.clone()));
                        columns.push(Column {
                            root_index,
                            lower,
                            upper,
                            cursor,
                            under_root: false,
                            found: false,
                        });
                    }
                }
                Work::Walk { pending: (0..columns.len()).collect(), columns, roots, leaves: VecDeque::new() }
            }
        };
        let v2c = request.version() != Version::V1;
        let auto = settings.walk_mode == WalkMode::Auto;
        let bulk = v2c && settings.walk_mode != WalkMode::GetNext && !(auto && drops_bulk);
        let mut errors = Vec::new();
        if v2c && auto && drops_bulk && request.kind() == RequestKind::Walk {
            let message = format!(
                "{} did not answer GETBULK in an earlier request: walked with GETNEXT \
                 (set walk_mode to \"getnext\" for this agent)",
                request.host()
            );
            errors.push(SnmpError::new(ErrorKind::BulkFallback, message));
        }
        Collection {
            host: request.host().to_owned(),
            retries: settings.retries,
            bulk,
            may_fall_back: bulk && auto && request.kind() == RequestKind::Walk,
            probing: false,
            found_no_bulk: false,
            timeout: settings.timeout,
            budget: settings.max_var_binds_per_pdu,
            work,
            in_flight: None,
            encoder,
            errors,
            failed: false,
            started,
            spare_items: Vec::new(),
            spare_names: Vec::new(),
        }
    }

    /// The next PDU to send, or `None` when the request is complete (or has failed).
    pub fn next_pdu(&mut self) -> Option<PduSpec> {
        if self.failed || self.in_flight.is_some() {
            return None;
        }
        let budget = self.budget as usize;
        let mut leaf_get = false;
        // The vectors of the previous PDU are filled again (a walk sends many).
        let (mut items, mut names) =
            (std::mem::take(&mut self.spare_items), std::mem::take(&mut self.spare_names));
        items.clear();
        let command = match &mut self.work {
            Work::Get { targets, pending } => {
                items.extend(pending.drain(..budget.min(pending.len())));
                refill(&mut names, items.iter().map(|&t| targets[t].oid.as_slice()));
                Command::Get
            }
            Work::Walk { roots, pending, leaves, .. } if pending.is_empty() => {
                leaf_get = true;
                items.extend(leaves.drain(..budget.min(leaves.len())));
                refill(&mut names, items.iter().map(|&c| roots[c].subids.as_slice()));
                Command::Get
            }
            Work::Walk { columns, pending, .. } => {
                let (command, width) = match self.bulk {
                    false => (Command::GetNext, budget.min(pending.len())),
                    true => {
                        // ⌈√N⌉ columns per GETBULK keeps both the column count and the
                        // repetitions reasonable for any budget N.
                        let width = (budget as f64).sqrt().ceil() as usize;
                        let width = width.clamp(1, pending.len().max(1));
                        let max_repetitions = (budget / width).max(1) as u32;
                        (Command::GetBulk { max_repetitions }, width.min(pending.len()))
                    }
                };
                items.extend(pending.drain(..width));
                refill(&mut names, items.iter().map(|&c| columns[c].cursor.as_slice()));
                command
            }
        };
        if items.is_empty() {
            (self.spare_items, self.spare_names) = (items, names);
            return None;
        }
        self.in_flight = Some(InFlight { items, leaves: leaf_get });
        Some(PduSpec { command, names, single_try: self.probing })
    }

    /// Takes back a sent PDU's vectors, for the next one.
    pub fn recycle(&mut self, spec: PduSpec) {
        self.spare_names = spec.names;
    }

    /// True while a PDU is in flight.
    pub fn awaiting(&self) -> bool {
        self.in_flight.is_some()
    }

    fn elapsed_ms(&self) -> u32 {
        u32::try_from(self.started.elapsed().as_millis()).unwrap_or(u32::MAX)
    }

    fn fail(&mut self, error: SnmpError) {
        if self.failed {
            // Already ended (e.g. unreachable); closing the session then reports the PDU that
            // was in flight as timed out, which is not news.
            return;
        }
        self.failed = true;
        self.in_flight = None;
        self.errors.push(error);
    }

    /// Puts the items of a PDU back at the front of their queue, in order, except `skip`.
    fn requeue(&mut self, items: &[usize], leaves: bool, skip: Option<usize>) {
        let pending = match &mut self.work {
            Work::Walk { leaves: queue, .. } if leaves => queue,
            Work::Get { pending, .. } | Work::Walk { pending, .. } => pending,
        };
        for &item in items.iter().rev() {
            if Some(item) != skip {
                pending.push_front(item);
            }
        }
    }

    /// The OID the agent's error-index points at (1-based), if it points at one we sent.
    fn oid_at(&self, items: &[usize], leaves: bool, err_index: i64) -> Option<Oid> {
        let item = *items.get(usize::try_from(err_index).ok()?.checked_sub(1)?)?;
        Some(match &self.work {
            Work::Get { targets, .. } => to_oid(&targets[item].oid),
            Work::Walk { roots, .. } if leaves => to_oid(&roots[item].subids),
            Work::Walk { columns, .. } => to_oid(&columns[item].cursor),
        })
    }

    /// Whether this request found that the agent does not answer GETBULK (its GETNEXT try was
    /// answered), for the engine to remember. A walk that started with GETNEXT because the
    /// engine already knew does not renew that: after an hour GETBULK is tried again.
    pub fn fell_back(&self) -> bool {
        self.found_no_bulk
    }

    /// Handles the agent's answer to the PDU in flight.
    pub fn on_response(&mut self, response: &(impl PduResponse + ?Sized)) {
        let Some(InFlight { items, leaves }) = self.in_flight.take() else { return };
        self.on_answer(&items, leaves, response);
        self.spare_items = items;
    }

    fn on_answer(&mut self, items: &[usize], leaves: bool, response: &(impl PduResponse + ?Sized)) {
        self.may_fall_back = false;
        if std::mem::take(&mut self.probing) {
            self.found_no_bulk = true;
            let message = format!(
                "{} did not answer GETBULK ({}): walked with GETNEXT (set walk_mode to \"getnext\" \
                 for this agent)",
                self.host,
                self.tries()
            );
            self.errors.push(SnmpError::new(ErrorKind::BulkFallback, message));
        }
        let err_stat = response.error_status();
        let err_index = response.error_index();
        match err_stat {
            status::NO_ERROR => match self.work {
                Work::Get { .. } => self.get_values(items, response),
                Work::Walk { .. } if leaves => self.root_values(items, response),
                Work::Walk { .. } => self.walk_values(items, response),
            },
            status::TOO_BIG if self.budget > 1 => {
                self.budget /= 2;
                self.requeue(items, leaves, None);
            }
            status::NO_SUCH_NAME if self.oid_at(items, leaves, err_index).is_some() => {
                // v1: the varbind at err_index has no value (GET) or no successor (GETNEXT:
                // that column is at the end of the MIB). The others are asked again.
                let item = items[err_index as usize - 1];
                if let Work::Get { targets, .. } = &self.work {
                    let target = &targets[item];
                    let (root_index, index) = (target.root_index, target.oid[target.root_len..].to_vec());
                    let oid = to_oid(&target.oid);
                    let time_ms = self.elapsed_ms();
                    self.encoder.record(root_index, &index, &Value::NoSuchInstance, time_ms);
                    self.errors.push(
                        SnmpError::error_status(&self.host, err_stat, err_index, Some(oid.clone()))
                            .into_warning(oid),
                    );
                }
                if let Work::Walk { columns, leaves: queue, .. } = &mut self.work {
                    if !leaves && columns[item].wants_root() {
                        queue.push_back(item);
                    }
                }
                self.requeue(items, leaves, Some(item));
            }
            _ => {
                let oid = self.oid_at(items, leaves, err_index);
                self.fail(SnmpError::error_status(&self.host, err_stat, err_index, oid));
            }
        }
    }

    fn get_values(&mut self, items: &[usize], response: &(impl PduResponse + ?Sized)) {
        let time_ms = self.elapsed_ms();
        let Work::Get { targets, .. } = &self.work else { return };
        let asked: Vec<&[u32]> = items.iter().map(|&t| targets[t].oid.as_slice()).collect();
        let (host, encoder, errors) = (&self.host, &mut self.encoder, &mut self.errors);
        let failure = match_get_answer(host, &asked, response, |n, var_bind| {
            let target = &targets[items[n]];
            let exception = match var_bind.value {
                Value::NoSuchObject => Some("noSuchObject"),
                Value::NoSuchInstance => Some("noSuchInstance"),
                Value::EndOfMibView => Some("endOfMibView"),
                _ => None,
            };
            if let Some(what) = exception {
                let oid = to_oid(&target.oid);
                let message = format!("{host} has no value for {oid} ({what})");
                errors.push(SnmpError::new(ErrorKind::ValueWarning, message).with_oid(oid));
            }
            encoder.record(target.root_index, &target.oid[target.root_len..], &var_bind.value, time_ms);
        });
        if let Some(error) = failure {
            self.fail(error);
        }
    }

    /// The answer to the GET of the roots of columns that ended empty: a value is recorded with
    /// an empty index; an exception means the root has no value either.
    fn root_values(&mut self, items: &[usize], response: &(impl PduResponse + ?Sized)) {
        let time_ms = self.elapsed_ms();
        let Work::Walk { columns, roots, .. } = &self.work else { return };
        let asked: Vec<&[u32]> = items.iter().map(|&c| roots[c].subids.as_slice()).collect();
        let encoder = &mut self.encoder;
        let failure = match_get_answer(&self.host, &asked, response, |n, var_bind| {
            if !matches!(var_bind.value, Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView) {
                encoder.record(columns[items[n]].root_index, &[], &var_bind.value, time_ms);
            }
        });
        if let Some(error) = failure {
            self.fail(error);
        }
    }

    fn walk_values(&mut self, items: &[usize], response: &(impl PduResponse + ?Sized)) {
        let time_ms = self.elapsed_ms();
        let Work::Walk { columns, roots, pending, leaves } = &mut self.work else { return };
        let (host, encoder, errors) = (&self.host, &mut self.encoder, &mut self.errors);
        let width = items.len();
        // Per column of the PDU: its root, and whether it ended (on the stack for the usual
        // few columns: this runs for every PDU).
        let (mut view_stack, view_heap, mut flags_stack, mut flags_heap);
        let view: &[Root<'_>] = if width <= STACK_WIDTH {
            view_stack = [Root::default(); STACK_WIDTH];
            for (slot, &c) in items.iter().enumerate() {
                view_stack[slot] = roots[c].view();
            }
            &view_stack[..width]
        } else {
            view_heap = items.iter().map(|&c| roots[c].view()).collect::<Vec<_>>();
            &view_heap
        };
        let flags: &mut [u8] = if width <= STACK_WIDTH {
            flags_stack = [0u8; STACK_WIDTH];
            &mut flags_stack[..width]
        } else {
            flags_heap = vec![0u8; width];
            &mut flags_heap
        };
        let mut received = 0usize;
        let decoded = response.for_each_under(view, &mut |slot, index, value| {
            received += 1;
            if flags[slot] & ENDED != 0 {
                return;
            }
            let column = &mut columns[items[slot]];
            let root = view[slot].subids;
            match column.step(root, index, value) {
                Step::Record => {
                    let index = index.unwrap_or_default(); // Record only under the root
                    encoder.record(column.root_index, index, value, time_ms);
                }
                Step::Skip => {}
                Step::End => flags[slot] |= ENDED,
                Step::NonIncreasing => {
                    flags[slot] |= ENDED | NON_INCREASING;
                    // Only a name under the root is compared with the cursor.
                    let name: Vec<u32> = root.iter().chain(index.unwrap_or_default()).copied().collect();
                    let oid = to_oid(&name);
                    let message = format!(
                        "{host} returned {oid} after {}: OID not increasing, walk of {} stopped",
                        to_oid(&column.cursor),
                        to_oid(root)
                    );
                    errors.push(SnmpError::new(ErrorKind::NonIncreasingOid, message).with_oid(oid));
                }
            }
        });
        for (slot, &item) in items.iter().enumerate() {
            if flags[slot] & ENDED == 0 {
                pending.push_back(item);
            } else if columns[item].wants_root() && flags[slot] & NON_INCREASING == 0 {
                leaves.push_back(item);
            }
        }
        if let Err(reason) = decoded {
            self.fail(SnmpError::new(
                ErrorKind::BadResponsePdu,
                format!("{} sent a malformed varbind ({reason})", self.host),
            ));
        } else if received == 0 {
            self.fail(SnmpError::new(
                ErrorKind::BadResponsePdu,
                format!("{} answered a walk request with no varbinds", self.host),
            ));
        }
    }

    /// "3 tries of 1s each".
    fn tries(&self) -> String {
        let tries = self.retries + 1;
        format!("{tries} tr{} of {:?} each", if tries == 1 { "y" } else { "ies" }, self.timeout)
    }

    /// No answer after all retries. A v2c walk that has had no answer at all may fall back to
    /// GETNEXT: the PDU's columns are asked again with one single-try GETNEXT.
    pub fn on_timeout(&mut self) {
        if self.may_fall_back && self.in_flight.as_ref().is_some_and(|f| !f.leaves) {
            if let Some(InFlight { items, leaves }) = self.in_flight.take() {
                self.may_fall_back = false;
                self.bulk = false;
                self.probing = true;
                self.requeue(&items, leaves, None);
                return;
            }
        }
        let message = if self.probing {
            format!("no response from {} to GETBULK ({}) nor to one GETNEXT", self.host, self.tries())
        } else {
            format!("no response from {} after {}", self.host, self.tries())
        };
        self.fail(SnmpError::timeout(message));
    }

    /// The request's deadline passed while it was still collecting.
    pub fn on_deadline(&mut self, deadline: Duration) {
        self.fail(SnmpError::deadline(&self.host, deadline));
    }

    /// A fatal error from the session layer (send failure, disconnect, ...).
    pub fn on_error(&mut self, error: SnmpError) {
        self.fail(error);
    }

    /// The request is done: the encoded results, the errors and the status.
    pub fn finish(self) -> (Vec<u8>, Vec<SnmpError>, Status) {
        let status = if self.failed {
            Status::Failed
        } else if self.errors.is_empty() {
            Status::Successful
        } else {
            Status::DoneWithErrors
        };
        (self.encoder.finish(), self.errors, status)
    }
}

/// Matches the varbinds of a GET answer to the names `asked` (in order), calling `accept` with
/// each one's position; returns the error that ends the request if the answer does not match
/// (another name, too few varbinds, a malformed list).
fn match_get_answer(
    host: &str,
    asked: &[&[u32]],
    response: &(impl PduResponse + ?Sized),
    mut accept: impl FnMut(usize, &VarBind<'_>),
) -> Option<SnmpError> {
    let mut answered = 0;
    let mut failure = None;
    let decoded = response.for_each_var_bind(&mut |var_bind| {
        let Some(&name) = asked.get(answered) else { return };
        if failure.is_some() {
            return;
        }
        if var_bind.name != name {
            let (got, asked) = (to_oid(var_bind.name), to_oid(name));
            let message = format!("{host} answered {got} to a GET of {asked}");
            failure = Some(SnmpError::new(ErrorKind::BadResponsePdu, message).with_oid(asked));
            return;
        }
        accept(answered, &var_bind);
        answered += 1;
    });
    if let Err(reason) = decoded {
        failure.get_or_insert_with(|| {
            SnmpError::new(ErrorKind::BadResponsePdu, format!("{host} sent a malformed varbind ({reason})"))
        });
    }
    if failure.is_none() && answered < asked.len() {
        let message = format!("{host} answered {answered} of the {} varbinds of a GET", asked.len());
        failure = Some(SnmpError::new(ErrorKind::BadResponsePdu, message));
    }
    failure
}

impl SnmpError {
    /// A v1 noSuchName on one GET varbind: a warning, not a failure.
    fn into_warning(mut self, oid: Oid) -> Self {
        self.kind = ErrorKind::ValueWarning;
        self.message = format!("{} (no value for {oid})", self.message);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::encode::ResultBuffer;
    use crate::oid::OidRange;
    use crate::request::Community;
    use crate::tag;

    struct FakePdu {
        err_stat: i64,
        err_index: i64,
        var_binds: Vec<(Vec<u32>, Value<'static>)>,
    }

    impl PduResponse for FakePdu {
        fn error_status(&self) -> i64 {
            self.err_stat
        }
        fn error_index(&self) -> i64 {
            self.err_index
        }
        fn for_each_var_bind(&self, visit: &mut dyn FnMut(VarBind<'_>)) -> Result<(), &'static str> {
            for (name, value) in &self.var_binds {
                visit(VarBind { name, value: *value });
            }
            Ok(())
        }
    }

    fn ok(var_binds: Vec<(Vec<u32>, Value<'static>)>) -> FakePdu {
        FakePdu { err_stat: 0, err_index: 0, var_binds }
    }

    fn oid(text: &str) -> Vec<u32> {
        subids(&Oid::parse(text).unwrap())
    }

    fn collection(request: Request, budget: u32) -> Collection {
        let settings = Config::new().max_var_binds_per_pdu(budget).unwrap().resolve(Config::new());
        Collection::new(&request, &settings, 0, Instant::now(), false)
    }

    fn walk(version: Version, roots: &[&str]) -> crate::request::RequestBuilder {
        let community = Community::new("public", version).unwrap();
        Request::walk("agent", community, roots.iter().map(|r| Oid::parse(r).unwrap()))
    }

    type Rows = Vec<(u16, Vec<u32>, Vec<u8>)>;

    fn records(c: Collection) -> (Rows, Vec<SnmpError>, Status) {
        let (buf, errors, status) = c.finish();
        let parsed = ResultBuffer::parse(&buf).unwrap();
        let rows = parsed
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r.root_index, r.index().collect(), r.value.to_vec()))
            .collect();
        (rows, errors, status)
    }

    #[test]
    fn bulk_walk_packs_sqrt_columns_and_splits_repetitions() {
        let mut c = collection(
            walk(Version::V2c, &["1.3.1", "1.3.2", "1.3.3", "1.3.4", "1.3.5"]).build().unwrap(),
            25,
        );
        let pdu = c.next_pdu().unwrap();
        assert_eq!(pdu.command, Command::GetBulk { max_repetitions: 5 });
        assert_eq!(pdu.names, vec![oid("1.3.1"), oid("1.3.2"), oid("1.3.3"), oid("1.3.4"), oid("1.3.5")]);
        assert!(c.next_pdu().is_none(), "one PDU in flight at a time");
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 25);
        assert_eq!(c.next_pdu().unwrap().command, Command::GetBulk { max_repetitions: 25 });
    }

    #[test]
    fn walk_records_row_major_bulk_answers_and_ends_columns() {
        let mut c = collection(walk(Version::V2c, &["1.3.1", "1.3.2"]).build().unwrap(), 4);
        c.next_pdu().unwrap();
        // Two columns, two repetitions, row-major; column 2 leaves its subtree in row 2.
        c.on_response(&ok(vec![
            (oid("1.3.1.1"), Value::Integer(10)),
            (oid("1.3.2.1"), Value::Integer(20)),
            (oid("1.3.1.2"), Value::Integer(11)),
            (oid("1.3.3.1"), Value::Integer(30)),
        ]));
        let next = c.next_pdu().unwrap();
        assert_eq!(next.names, vec![oid("1.3.1.2")]);
        assert_eq!(next.command, Command::GetBulk { max_repetitions: 4 });
        // endOfMibView in a later repetition ends the column within the same PDU.
        c.on_response(&ok(vec![(oid("1.3.1.3"), Value::Integer(12)), (oid("1.3.1.3"), Value::EndOfMibView)]));
        assert!(c.next_pdu().is_none());
        let (rows, errors, status) = records(c);
        let indexes: Vec<(u16, Vec<u32>)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
        assert_eq!(indexes, vec![(0, vec![1]), (1, vec![1]), (0, vec![2]), (0, vec![3])]);
        assert!(errors.is_empty());
        assert_eq!(status, Status::Successful);
    }

    #[test]
    fn non_increasing_oid_ends_only_that_column() {
        let mut c = collection(walk(Version::V2c, &["1.3.1", "1.3.2"]).build().unwrap(), 4);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![
            (oid("1.3.1.5"), Value::Integer(1)),
            (oid("1.3.2.5"), Value::Integer(2)),
            (oid("1.3.1.5"), Value::Integer(1)),
            (oid("1.3.2.6"), Value::Integer(3)),
        ]));
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.2.6")]);
        c.on_response(&ok(vec![(oid("1.4"), Value::Integer(0))]));
        assert!(c.next_pdu().is_none());
        let (rows, errors, status) = records(c);
        assert_eq!(rows.len(), 3);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, ErrorKind::NonIncreasingOid);
        assert!(errors[0].message.contains("returned .1.3.1.5 after .1.3.1.5"), "{}", errors[0].message);
        assert_eq!(status, Status::DoneWithErrors);
    }

    #[test]
    fn ranges_start_just_before_start_and_stop_after_stop_subtree() {
        let range = OidRange::new(Some(Oid::parse("5").unwrap()), Some(Oid::parse("7").unwrap())).unwrap();
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).ranges([range]).build().unwrap(), 10);
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.1.4.4294967295")]);
        c.on_response(&ok(vec![
            (oid("1.3.1.4.4294967295.1"), Value::Integer(0)),
            (oid("1.3.1.5"), Value::Integer(5)),
            (oid("1.3.1.7.1"), Value::Integer(7)),
            (oid("1.3.1.8"), Value::Integer(8)),
        ]));
        assert!(c.next_pdu().is_none());
        let (rows, _, _) = records(c);
        let indexes: Vec<Vec<u32>> = rows.into_iter().map(|r| r.1).collect();
        assert_eq!(indexes, vec![vec![5], vec![7, 1]]);
        assert_eq!(walk_start(&[1, 0]), vec![1]);
    }

    #[test]
    fn v1_walk_uses_getnext_and_no_such_name_ends_one_column() {
        let mut c = collection(walk(Version::V1, &["1.3.1", "1.3.2"]).build().unwrap(), 10);
        let pdu = c.next_pdu().unwrap();
        assert_eq!(pdu.command, Command::GetNext);
        assert_eq!(pdu.names.len(), 2);
        c.on_response(&FakePdu { err_stat: 2, err_index: 1, var_binds: vec![] });
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.2")]);
        c.on_response(&ok(vec![(oid("1.3.2.1"), Value::Integer(1))]));
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.2.1")]);
        c.on_response(&FakePdu { err_stat: 2, err_index: 1, var_binds: vec![] });
        // Column 1 found nothing: its root is asked for with a GET, which has no value either.
        let pdu = c.next_pdu().unwrap();
        assert_eq!((pdu.command, pdu.names), (Command::Get, vec![oid("1.3.1")]));
        c.on_response(&FakePdu { err_stat: 2, err_index: 1, var_binds: vec![] });
        assert!(c.next_pdu().is_none());
        let (rows, errors, status) = records(c);
        assert_eq!(rows.len(), 1);
        assert!(errors.is_empty());
        assert_eq!(status, Status::Successful);
    }

    #[test]
    fn a_walk_of_a_leaf_gets_the_leaf() {
        // As snmpwalk does: sysName.0 has nothing under it, so the walk GETs it.
        let mut c = collection(walk(Version::V2c, &["1.3.1.5.0", "1.3.1.6.0", "1.3.2"]).build().unwrap(), 9);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![
            (oid("1.3.1.6.0"), Value::Integer(6)),
            (oid("1.3.1.7.0"), Value::Integer(7)),
            (oid("1.3.2.1"), Value::Integer(21)),
            (oid("1.3.1.7.0"), Value::Integer(7)),
            (oid("1.3.1.8.0"), Value::Integer(8)),
            (oid("1.3.3"), Value::Integer(3)),
        ]));
        let pdu = c.next_pdu().unwrap();
        assert_eq!(pdu.command, Command::Get);
        assert_eq!(pdu.names, vec![oid("1.3.1.5.0"), oid("1.3.1.6.0")]);
        c.on_response(&ok(vec![
            (oid("1.3.1.5.0"), Value::Integer(5)),
            (oid("1.3.1.6.0"), Value::NoSuchInstance),
        ]));
        assert!(c.next_pdu().is_none());
        let (rows, errors, status) = records(c);
        let got: Vec<(u16, Vec<u32>)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
        assert_eq!(got, vec![(2, vec![1]), (0, vec![])], "the leaf's record has an empty index");
        assert!(errors.is_empty(), "no value at the root only means an empty subtree: {errors:?}");
        assert_eq!(status, Status::Successful);
    }

    #[test]
    fn leaf_gets_only_for_empty_unranged_columns_and_follow_too_big() {
        // A range selects instances below the root: an empty ranged walk asks nothing more.
        let range = OidRange::new(Some(Oid::parse("5").unwrap()), None).unwrap();
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).ranges([range]).build().unwrap(), 10);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![(oid("1.3.2"), Value::Integer(0))]));
        assert!(c.next_pdu().is_none());
        // tooBig on the leaf GET halves the budget and asks again.
        let mut c = collection(walk(Version::V2c, &["1.3.1", "1.3.2"]).build().unwrap(), 4);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![(oid("1.3.3"), Value::Integer(0)), (oid("1.3.3"), Value::Integer(0))]));
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.1"), oid("1.3.2")]);
        c.on_response(&FakePdu { err_stat: 1, err_index: 0, var_binds: vec![] });
        assert_eq!(c.next_pdu().unwrap().names, vec![oid("1.3.1"), oid("1.3.2")]);
        c.on_response(&ok(vec![(oid("1.3.1"), Value::Integer(1)), (oid("1.3.2"), Value::Integer(2))]));
        assert!(c.next_pdu().is_none());
        let (rows, _, status) = records(c);
        assert_eq!(rows.len(), 2);
        assert_eq!(status, Status::Successful);
    }

    #[test]
    fn too_big_halves_the_budget_and_resends() {
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 40);
        assert_eq!(c.next_pdu().unwrap().command, Command::GetBulk { max_repetitions: 40 });
        c.on_response(&FakePdu { err_stat: 1, err_index: 0, var_binds: vec![] });
        assert_eq!(c.next_pdu().unwrap().command, Command::GetBulk { max_repetitions: 20 });
        let mut single = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 1);
        single.next_pdu().unwrap();
        single.on_response(&FakePdu { err_stat: 1, err_index: 0, var_binds: vec![] });
        assert!(single.next_pdu().is_none());
        let (_, errors, status) = records(single);
        assert_eq!(status, Status::Failed);
        assert!(errors[0].message.contains("tooBig(1)"), "{}", errors[0].message);
    }

    #[test]
    fn get_records_exceptions_as_warnings_and_checks_names() {
        let community = Community::new("public", Version::V2c).unwrap();
        let request = Request::get("agent", community, [Oid::parse("1.3.6.1.2.1.1").unwrap()])
            .ranges([
                OidRange::point(Oid::parse("5.0").unwrap()),
                OidRange::point(Oid::parse("9.0").unwrap()),
            ])
            .build()
            .unwrap();
        let mut c = collection(request.clone(), 10);
        let pdu = c.next_pdu().unwrap();
        assert_eq!(pdu.names, vec![oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.9.0")]);
        c.on_response(&ok(vec![
            (oid("1.3.6.1.2.1.1.5.0"), Value::Bytes(tag::OCTET_STRING, b"box")),
            (oid("1.3.6.1.2.1.1.9.0"), Value::NoSuchInstance),
        ]));
        assert!(c.next_pdu().is_none());
        let (rows, errors, status) = records(c);
        assert_eq!(rows[0], (0, vec![5, 0], b"box".to_vec()));
        assert_eq!(rows[1].1, vec![9, 0]);
        assert_eq!(errors[0].kind, ErrorKind::ValueWarning);
        assert_eq!(status, Status::DoneWithErrors);

        let mut wrong = collection(request, 10);
        wrong.next_pdu().unwrap();
        wrong.on_response(&ok(vec![(oid("1.3.6.1.2.1.1.6.0"), Value::Integer(1))]));
        let (_, errors, status) = records(wrong);
        assert_eq!(status, Status::Failed);
        assert!(errors[0].message.contains("answered .1.3.6.1.2.1.1.6.0 to a GET of .1.3.6.1.2.1.1.5.0"));
    }

    #[test]
    fn unanswered_bulk_walk_falls_back_to_one_getnext_try_then_getnext() {
        let mut c = collection(walk(Version::V2c, &["1.3.1", "1.3.2"]).build().unwrap(), 4);
        assert!(matches!(c.next_pdu().unwrap().command, Command::GetBulk { .. }));
        c.on_timeout();
        let probe = c.next_pdu().expect("a GETNEXT after the GETBULK timed out");
        assert_eq!(probe.command, Command::GetNext);
        assert!(probe.single_try);
        assert_eq!(probe.names, vec![oid("1.3.1"), oid("1.3.2")]);
        c.on_response(&ok(vec![(oid("1.3.1.1"), Value::Integer(1)), (oid("1.3.9"), Value::Integer(2))]));
        let next = c.next_pdu().unwrap();
        assert_eq!((next.command, next.single_try), (Command::GetNext, false));
        c.on_response(&ok(vec![(oid("1.3.9"), Value::Integer(2))]));
        assert!(c.fell_back());
        let (rows, errors, status) = records(c);
        assert_eq!(rows.len(), 1);
        assert_eq!(status, Status::DoneWithErrors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind, ErrorKind::BulkFallback);
        assert!(
            errors[0].message.contains("did not answer GETBULK (4 tries of 1s each)"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn a_dead_agent_costs_one_getnext_try_and_times_out() {
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 4);
        c.next_pdu().unwrap();
        c.on_timeout();
        assert!(c.next_pdu().unwrap().single_try);
        c.on_timeout();
        assert!(c.next_pdu().is_none());
        assert!(!c.fell_back());
        let (_, errors, status) = records(c);
        assert_eq!(status, Status::Failed);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].message,
            "no response from agent to GETBULK (4 tries of 1s each) nor to one GETNEXT"
        );
    }

    #[test]
    fn no_fallback_once_answered_or_when_getbulk_is_forced() {
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 4);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![(oid("1.3.1.1"), Value::Integer(1))]));
        c.next_pdu().unwrap();
        c.on_timeout();
        assert!(c.next_pdu().is_none(), "an agent that answered GETBULK once just timed out");
        let request = walk(Version::V2c, &["1.3.1"]).build().unwrap();
        let forced = Config::new().walk_mode(WalkMode::GetBulk).resolve(Config::new());
        let mut c = Collection::new(&request, &forced, 0, Instant::now(), true);
        assert!(matches!(c.next_pdu().unwrap().command, Command::GetBulk { .. }));
        c.on_timeout();
        assert!(c.next_pdu().is_none());
        let getnext = Config::new().walk_mode(WalkMode::GetNext).resolve(Config::new());
        let mut c = Collection::new(&request, &getnext, 0, Instant::now(), false);
        assert_eq!(c.next_pdu().unwrap().command, Command::GetNext);
        let known = Config::new().resolve(Config::new());
        let mut c = Collection::new(&request, &known, 0, Instant::now(), true);
        assert_eq!(c.next_pdu().unwrap().command, Command::GetNext, "a known GETBULK-dropping agent");
        assert!(!c.fell_back(), "an agent already known is not found again (its hour is not renewed)");
        assert_eq!(records(c).1[0].kind, ErrorKind::BulkFallback);
    }

    #[test]
    fn empty_walk_answer_fails_instead_of_looping() {
        let mut c = collection(walk(Version::V2c, &["1.3.1"]).build().unwrap(), 10);
        c.next_pdu().unwrap();
        c.on_response(&ok(vec![]));
        assert!(c.next_pdu().is_none());
        assert_eq!(records(c).2, Status::Failed);
    }
}
