//! `snmp_stream._snmp_stream`: the native half of the Python package. It only converts:
//! Python values in, owned Rust values to the core crate (with the GIL released while the
//! engine runs), and Python objects out. Result buffers become numpy arrays without a copy.
//! The Python half (`python/snmp_stream/`) holds the user-facing classes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use numpy::{IntoPyArray, PyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString, PyTuple};

use snmp_stream as core;

/// How long the engine runs with the GIL released before checking for Ctrl-C.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Raises `snmp_stream.errors.<class>` with `message`.
fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    match py.import("snmp_stream.errors").and_then(|module| module.getattr(class)) {
        Ok(class) => PyErr::from_type(class.cast_into().expect("errors are exception classes"), message),
        Err(import_error) => import_error,
    }
}

/// Raises the `snmp_stream.errors` class that matches a core error.
fn to_py_err(py: Python<'_>, error: core::Error) -> PyErr {
    let class = match &error {
        core::Error::InvalidOid { .. } => "InvalidOidError",
        core::Error::InvalidRange(_) => "InvalidRangeError",
        core::Error::InvalidHost { .. } => "InvalidHostError",
        core::Error::InvalidCommunity(_) => "InvalidCommunityError",
        core::Error::InvalidCredentials(_) => "InvalidCredentialsError",
        core::Error::InvalidConfig { .. } => "InvalidConfigError",
        core::Error::InvalidRequest(_) => "InvalidRequestError",
        core::Error::Closed => "CollectorClosedError",
        _ => "SnmpStreamError",
    };
    raise(py, class, error.to_string())
}

/// An OID given as dotted text or as a sequence of ints.
fn extract_oid(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<core::Oid> {
    if let Ok(text) = value.cast::<PyString>() {
        return core::Oid::parse(&text.to_cow()?).map_err(|e| to_py_err(py, e));
    }
    let subids: Vec<u32> = value.extract().map_err(|_| {
        to_py_err(
            py,
            core::Error::InvalidOid {
                input: value.repr().map(|r| r.to_string()).unwrap_or_default(),
                reason:
                    "expected a dotted string such as \"1.3.6.1\" or a sequence of ints from 0 to 4294967295"
                        .into(),
            },
        )
    })?;
    core::Oid::new(subids).map_err(|e| to_py_err(py, e))
}

/// The attributes of a `snmp_stream.Config` (or any object with them), read by name.
#[derive(FromPyObject)]
struct ConfigAttrs<'py> {
    #[pyo3(attribute)]
    retries: Bound<'py, PyAny>,
    #[pyo3(attribute)]
    timeout: Bound<'py, PyAny>,
    #[pyo3(attribute)]
    max_var_binds_per_pdu: Bound<'py, PyAny>,
    #[pyo3(attribute)]
    max_sessions: Bound<'py, PyAny>,
    #[pyo3(attribute)]
    deadline: Bound<'py, PyAny>,
    #[pyo3(attribute)]
    walk_mode: Bound<'py, PyAny>,
}

/// A Python value as the core's config checks take it (None: the field is unset).
fn field_value<'a>(value: &'a Bound<'_, PyAny>, text: &'a mut String) -> Option<core::FieldValue<'a>> {
    if value.is_none() {
        return None;
    }
    Some(if value.is_instance_of::<PyBool>() {
        core::FieldValue::Other(if value.is_truthy().unwrap_or(false) { "True" } else { "False" })
    } else if value.is_instance_of::<PyInt>() {
        match value.extract::<i128>() {
            Ok(v) => core::FieldValue::Int(v),
            Err(_) => {
                *text = value.repr().map(|r| r.to_string()).unwrap_or_default();
                core::FieldValue::HugeInt(text)
            }
        }
    } else if let Ok(v) = value.cast::<PyFloat>() {
        core::FieldValue::Float(v.value())
    } else if let Ok(v) = value.cast::<PyString>() {
        *text = v.to_string();
        core::FieldValue::Text(text)
    } else {
        *text = value.repr().map(|r| r.to_string()).unwrap_or_default();
        core::FieldValue::Other(text)
    })
}

/// Validated settings (built by `snmp_stream.Config`, which keeps one): the native side checks
/// each field once, here, and requests, managers and collectors take it as it is.
#[pyclass(frozen, module = "snmp_stream._snmp_stream", name = "Config")]
struct Config {
    inner: core::Config,
}

#[pymethods]
impl Config {
    /// Reads `source`'s attributes (retries, timeout, max_var_binds_per_pdu, max_sessions,
    /// deadline, walk_mode; None is unset) and checks them: InvalidConfigError names the field
    /// and the value.
    #[new]
    fn new(py: Python<'_>, source: ConfigAttrs<'_>) -> PyResult<Self> {
        let values = [
            ("retries", &source.retries),
            ("timeout", &source.timeout),
            ("max_var_binds_per_pdu", &source.max_var_binds_per_pdu),
            ("max_sessions", &source.max_sessions),
            ("deadline", &source.deadline),
            ("walk_mode", &source.walk_mode),
        ];
        let mut config = core::Config::new();
        for (field, value) in values {
            let mut text = String::new();
            if let Some(value) = field_value(value, &mut text) {
                config = config.set(field, value).map_err(|e| to_py_err(py, e))?;
            }
        }
        Ok(Config { inner: config })
    }
}

/// Parses dotted OID text into a tuple of ints (raises InvalidOidError).
#[pyfunction]
fn parse_oid(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    Ok(extract_oid(py, text)?.as_slice().to_vec())
}

/// An index range from Python: (start, stop), each an OID or None.
type RangeArg<'py> = (Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>);

/// An OID as `snmp_stream` shows it: dotted with a leading dot.
fn dotted(oid: &core::Oid) -> String {
    oid.to_string()
}

/// SNMPv3 USM credentials, checked natively (built by `snmp_stream.Usm`). Never shows a
/// passphrase.
#[pyclass(frozen, module = "snmp_stream._snmp_stream", name = "Usm")]
struct Usm {
    inner: core::Usm,
}

#[pymethods]
impl Usm {
    #[new]
    #[pyo3(signature = (user, auth=None, privacy=None, level=None, context="", context_engine_id=None, security_engine_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        user: String,
        auth: Option<(String, Vec<u8>)>,
        privacy: Option<(String, Vec<u8>)>,
        level: Option<&str>,
        context: &str,
        context_engine_id: Option<Vec<u8>>,
        security_engine_id: Option<Vec<u8>>,
    ) -> PyResult<Self> {
        let build = || -> core::Result<core::Usm> {
            let mut usm = core::Usm::new(user)?;
            if let Some((protocol, passphrase)) = auth {
                usm = usm.auth(core::AuthProtocol::parse(&protocol)?, passphrase)?;
            }
            if let Some((protocol, passphrase)) = privacy {
                usm = usm.privacy(core::PrivProtocol::parse(&protocol)?, passphrase)?;
            }
            if let Some(level) = level {
                usm = usm.with_level(core::SecurityLevel::parse(level)?);
            }
            usm = usm.context(context)?;
            if let Some(id) = context_engine_id {
                usm = usm.context_engine_id(id)?;
            }
            if let Some(id) = security_engine_id {
                usm = usm.security_engine_id(id)?;
            }
            usm.check()?;
            Ok(usm)
        };
        Ok(Usm { inner: build().map_err(|e| to_py_err(py, e))? })
    }

    /// The security level: "noAuthNoPriv", "authNoPriv" or "authPriv".
    #[getter]
    fn level(&self) -> &'static str {
        self.inner.level().name()
    }

    /// The authentication protocol's canonical name, or None.
    #[getter]
    fn auth_protocol(&self) -> Option<&'static str> {
        self.inner.auth_protocol().map(|p| p.name())
    }

    /// The privacy protocol's canonical name, or None.
    #[getter]
    fn priv_protocol(&self) -> Option<&'static str> {
        self.inner.priv_protocol().map(|p| p.name())
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.inner)
    }
}

/// A request's credentials as the Python layer passes them: a community and its version, or
/// native USM credentials.
#[derive(FromPyObject)]
enum CredentialsArg<'py> {
    Usm(PyRef<'py, Usm>),
    Community((String, String)),
}

/// USM counters of this process: (key derivations, localisations, discoveries, responses
/// read by snmp-stream, messages parsed by net-snmp, requests built by snmp-stream, requests
/// built by net-snmp).
#[pyfunction]
fn usm_counters() -> (u64, u64, u64, u64, u64, u64, u64) {
    let c = core::usm_counters();
    (
        c.key_derivations,
        c.localizations,
        c.discoveries,
        c.fast_responses,
        c.net_snmp_parsed,
        c.fast_requests,
        c.net_snmp_built,
    )
}

/// A validated request (built by `snmp_stream.SnmpRequest`, which takes its canonical OIDs and
/// ranges from it: each OID is parsed once, here).
#[pyclass(frozen, module = "snmp_stream._snmp_stream", name = "Request")]
struct Request {
    inner: core::Request,
    /// The ranges as given (canonical text), before the core sorts and merges them.
    given_ranges: Vec<(Option<String>, Option<String>)>,
}

#[pymethods]
impl Request {
    #[new]
    #[pyo3(signature = (kind, host, credentials, oids, ranges, req_id, config))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        kind: &str,
        host: String,
        credentials: CredentialsArg<'_>,
        oids: Vec<Bound<'_, PyAny>>,
        ranges: Vec<RangeArg<'_>>,
        req_id: Option<Vec<u8>>,
        config: &Config,
    ) -> PyResult<Self> {
        let err = |e| to_py_err(py, e);
        let credentials: core::Credentials = match credentials {
            CredentialsArg::Usm(usm) => usm.inner.clone().into(),
            CredentialsArg::Community((community, version)) => {
                let version = core::Version::parse(&version).map_err(err)?;
                core::Community::new(community, version).map_err(err)?.into()
            }
        };
        let oids = oids.iter().map(|o| extract_oid(py, o)).collect::<PyResult<Vec<_>>>()?;
        let mut parsed_ranges = Vec::with_capacity(ranges.len());
        let mut given_ranges = Vec::with_capacity(ranges.len());
        for (start, stop) in &ranges {
            let start = start.as_ref().map(|s| extract_oid(py, s)).transpose()?;
            let stop = stop.as_ref().map(|s| extract_oid(py, s)).transpose()?;
            given_ranges.push((start.as_ref().map(dotted), stop.as_ref().map(dotted)));
            parsed_ranges.push(core::OidRange::new(start, stop).map_err(err)?);
        }
        let builder = match kind {
            "get" => core::Request::get(host, credentials, oids),
            "walk" => core::Request::walk(host, credentials, oids),
            other => {
                return Err(err(core::Error::InvalidRequest(format!(
                    "unknown request kind {other:?} (expected \"get\" or \"walk\")"
                ))))
            }
        };
        let mut builder = builder.ranges(parsed_ranges).config(config.inner);
        if let Some(req_id) = req_id {
            builder = builder.req_id(req_id);
        }
        Ok(Request { inner: builder.build().map_err(err)?, given_ranges })
    }

    /// The root OIDs as dotted text (".1.3.6.1...").
    #[getter]
    fn oids(&self) -> Vec<String> {
        self.inner.oids().iter().map(dotted).collect()
    }

    /// The index ranges as given, as (start, stop) dotted texts or None.
    #[getter]
    fn ranges(&self) -> Vec<(Option<String>, Option<String>)> {
        self.given_ranges.clone()
    }

    /// The index ranges after sorting and merging, as (start, stop) tuples of ints or None.
    #[allow(clippy::type_complexity)]
    fn normalized_ranges(&self) -> Vec<(Option<Vec<u32>>, Option<Vec<u32>>)> {
        self.inner
            .ranges()
            .iter()
            .map(|r| (r.start().map(|o| o.as_slice().to_vec()), r.stop().map(|o| o.as_slice().to_vec())))
            .collect()
    }
}

/// The Python objects submitted with requests, by the tag their request carries through the
/// engine: each response is handed back with the object it was submitted with. The lock is
/// taken only with the GIL held and never held across a wait.
#[derive(Default)]
struct Submitted {
    objects: Mutex<HashMap<u64, Py<PyAny>>>,
    next_tag: AtomicU64,
}

impl Submitted {
    /// Keeps `object` and returns `request` tagged for it.
    fn put(&self, request: &Request, object: Py<PyAny>) -> core::Request {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(tag, object);
        request.inner.clone().with_tag(tag)
    }

    /// Takes back the object kept for `tag` (its response came, or it was not submitted).
    fn take(&self, tag: u64) -> Option<Py<PyAny>> {
        self.lock().remove(&tag)
    }

    fn clear(&self) -> HashMap<u64, Py<PyAny>> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Py<PyAny>>> {
        // Nothing panics while holding it: a poisoned map is still consistent.
        self.objects.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One response as a tuple: (submitted object, status, results, errors, elapsed seconds);
/// errors are tuples of (kind, sys_errno, snmp_errno, err_stat, err_index, err_oid, message).
fn response_tuple<'py>(
    py: Python<'py>,
    submitted: &Submitted,
    response: core::Response,
) -> PyResult<Bound<'py, PyTuple>> {
    let object = submitted.take(response.request.tag()).unwrap_or_else(|| py.None());
    let errors: Vec<_> = response
        .errors
        .iter()
        .map(|e| {
            (
                e.kind.name(),
                e.sys_errno,
                e.snmp_errno,
                e.err_stat,
                e.err_index,
                e.err_oid.as_ref().map(|o| o.to_string()),
                e.message.clone(),
            )
        })
        .collect();
    // Hands the Vec's allocation to numpy: no copy (rust-numpy keeps the Vec as the base).
    let results: Bound<'py, PyArray1<u8>> = response.results.into_pyarray(py);
    (object, response.status.name(), results, errors, response.elapsed.as_secs_f64()).into_pyobject(py)
}

/// The engine (`snmp_stream.SessionManager` wraps it), shareable between Python threads: the
/// engine's lock is only ever taken with the GIL released, and requests added while another
/// thread runs the engine wait in an inbox that the running thread takes in between slices.
#[pyclass(module = "snmp_stream._snmp_stream", name = "SessionManager")]
struct SessionManager {
    engine: Mutex<core::SessionManager>,
    inbox: Mutex<Vec<core::Request>>,
    submitted: Submitted,
}

impl SessionManager {
    /// The engine, waited for with the GIL released (another thread may be running it).
    fn with_engine<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut core::SessionManager) -> T + Send,
    ) -> T {
        py.detach(|| {
            let mut engine = self.engine.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let inbox = std::mem::take(&mut *self.inbox.lock().unwrap_or_else(|p| p.into_inner()));
            for request in inbox {
                engine.add_request(request);
            }
            f(&mut engine)
        })
    }
}

#[pymethods]
impl SessionManager {
    #[new]
    fn new(py: Python<'_>, config: &Config) -> PyResult<Self> {
        let manager = core::SessionManager::new(config.inner).map_err(|e| to_py_err(py, e))?;
        Ok(SessionManager {
            engine: Mutex::new(manager),
            inbox: Mutex::default(),
            submitted: Submitted::default(),
        })
    }

    /// Queues a request; its response comes back with `submitted` (any object).
    fn add_request(&self, request: &Request, submitted: Py<PyAny>) {
        let request = self.submitted.put(request, submitted);
        self.inbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(request);
    }

    /// Runs until at least one request completes (GIL released; Ctrl-C raises
    /// KeyboardInterrupt). Returns the completed responses, or None when idle.
    fn run<'py>(&self, py: Python<'py>) -> PyResult<Option<Vec<Bound<'py, PyTuple>>>> {
        loop {
            let (responses, idle) = self.with_engine(py, |engine| {
                if engine.is_idle() {
                    return (Vec::new(), true);
                }
                let responses = engine.run_for(SIGNAL_CHECK);
                (responses, false)
            });
            if idle {
                return Ok(None);
            }
            if !responses.is_empty() {
                return responses
                    .into_iter()
                    .map(|r| response_tuple(py, &self.submitted, r))
                    .collect::<PyResult<_>>()
                    .map(Some);
            }
            py.check_signals()?;
        }
    }

    /// Requests queued and not yet started.
    fn queued(&self, py: Python<'_>) -> usize {
        self.with_engine(py, |engine| engine.queued())
    }

    /// Requests in flight.
    fn in_flight(&self, py: Python<'_>) -> usize {
        self.with_engine(py, |engine| engine.in_flight())
    }
}

/// The streaming engine on its own thread (`snmp_stream.Collector` wraps it).
#[pyclass(module = "snmp_stream._snmp_stream", name = "Collector")]
struct Collector {
    inner: core::Collector,
    submitted: Submitted,
}

#[pymethods]
impl Collector {
    #[new]
    #[pyo3(signature = (config, queue_capacity=1024))]
    fn new(py: Python<'_>, config: &Config, queue_capacity: usize) -> PyResult<Self> {
        let inner = core::Collector::new(config.inner, queue_capacity).map_err(|e| to_py_err(py, e))?;
        Ok(Collector { inner, submitted: Submitted::default() })
    }

    /// Submits a request, whose response comes back with `submitted` (any object), waiting
    /// (GIL released, Ctrl-C checked) while the queue is full. Raises CollectorClosedError once
    /// closed.
    fn submit(&self, py: Python<'_>, request: &Request, submitted: Py<PyAny>) -> PyResult<()> {
        let inner = &self.inner;
        let mut pending = self.submitted.put(request, submitted);
        let tag = pending.tag();
        loop {
            match py.detach(move || inner.submit_timeout(pending, SIGNAL_CHECK)) {
                Ok(None) => return Ok(()),
                Ok(Some(back)) => {
                    pending = back;
                    if let Err(interrupt) = py.check_signals() {
                        self.submitted.take(tag);
                        return Err(interrupt);
                    }
                }
                Err(error) => {
                    self.submitted.take(tag);
                    return Err(to_py_err(py, error));
                }
            }
        }
    }

    /// Submits a request if the queue has room, without waiting: False when it is full.
    /// Raises CollectorClosedError once closed.
    fn try_submit(&self, py: Python<'_>, request: &Request, submitted: Py<PyAny>) -> PyResult<bool> {
        let tagged = self.submitted.put(request, submitted);
        let tag = tagged.tag();
        let result = self.inner.submit_timeout(tagged, Duration::ZERO);
        if !matches!(result, Ok(None)) {
            self.submitted.take(tag);
        }
        match result {
            Ok(None) => Ok(true),
            Ok(Some(_)) => Ok(false),
            Err(error) => Err(to_py_err(py, error)),
        }
    }

    /// The next response, waiting up to `timeout` seconds (None: as long as it takes), with
    /// the GIL released and Ctrl-C checked. None on timeout; raises CollectorClosedError once
    /// closed and every response has been received.
    #[pyo3(signature = (timeout=None))]
    fn receive<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let deadline = match timeout {
            Some(seconds) => Some(
                Instant::now()
                    + Duration::try_from_secs_f64(seconds.max(0.0)).map_err(|_| {
                        PyValueError::new_err(format!("timeout {seconds} is not a number of seconds"))
                    })?,
            ),
            None => None,
        };
        let inner = &self.inner;
        loop {
            let slice = deadline
                .map_or(SIGNAL_CHECK, |d| d.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK));
            match py.detach(move || inner.recv_timeout(slice)) {
                Ok(Some(response)) => return response_tuple(py, &self.submitted, response).map(Some),
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(None),
                Ok(None) => py.check_signals()?,
                Err(error) => return Err(to_py_err(py, error)),
            }
        }
    }

    /// A descriptor that becomes readable when responses may be waiting (for
    /// `loop.add_reader`): on readiness call `clear_ready()`, then `try_receive()` until None.
    fn fileno(&self) -> i32 {
        self.inner.ready_fd()
    }

    /// Makes `fileno()` unreadable until the next responses are sent.
    fn clear_ready(&self) {
        self.inner.clear_ready();
    }

    /// The next response if one is ready, else None, without waiting; raises
    /// CollectorClosedError once closed and every response has been received.
    fn try_receive<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        match self.inner.try_receive() {
            Ok(Some(response)) => response_tuple(py, &self.submitted, response).map(Some),
            Ok(None) => Ok(None),
            Err(error) => Err(to_py_err(py, error)),
        }
    }

    /// Stops taking requests; those submitted still complete.
    fn close(&self) {
        self.inner.close();
    }

    /// Stops taking requests and drops those queued or in flight without responses; their
    /// sockets are closed when it returns (GIL released while the engine thread ends).
    fn abort(&self, py: Python<'_>) {
        let inner = &self.inner;
        py.detach(|| inner.abort());
        drop(self.submitted.clear());
    }

    /// The submitted objects, for Python's garbage collector (an asyncio future submitted
    /// with a request refers back, through its task, to whoever holds the collector).
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // Never wait here: a map in use is skipped this round.
        if let Ok(objects) = self.submitted.objects.try_lock() {
            for object in objects.values() {
                visit.call(object)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        drop(self.submitted.clear());
    }
}

impl Drop for Collector {
    /// Nobody can receive from a collector Python has freed: drop its work at once rather than
    /// block the freeing thread (which holds the GIL) until the last timeout.
    fn drop(&mut self) {
        self.inner.abort();
    }
}

fn value_kind(py: Python<'_>, name: &str) -> PyResult<core::ValueKind> {
    Ok(match name {
        "integer" => core::ValueKind::Integer,
        "unsigned" => core::ValueKind::Unsigned,
        "counter64" => core::ValueKind::Counter64,
        "timeticks" => core::ValueKind::TimeTicks,
        "bytes" => core::ValueKind::Octets,
        "utf8" => core::ValueKind::Utf8,
        "hex" => core::ValueKind::Hex,
        "mac" => core::ValueKind::Mac,
        "ip_address" => core::ValueKind::IpAddress,
        "inet_address" => core::ValueKind::InetAddress,
        "oid" => core::ValueKind::ObjectId,
        other => return Err(raise(py, "InvalidSpecError", format!("unknown value kind {other:?}"))),
    })
}

/// An index field: (name, "integer" | "octets" | "oid", length, kind), where length is an int
/// (fixed sub-ids), "prefixed" or "implied".
type IndexArg<'py> = (String, String, Bound<'py, PyAny>, String);

fn index_field(
    py: Python<'_>,
    (name, field, length, kind): &IndexArg<'_>,
) -> PyResult<(String, core::IndexField)> {
    let length = if let Ok(n) = length.extract::<usize>() {
        core::Length::Fixed(n)
    } else {
        match length.extract::<String>().ok().as_deref() {
            Some("prefixed") => core::Length::Prefixed,
            Some("implied") => core::Length::Implied,
            _ => {
                let message =
                    format!("index field {name:?}: length must be a count, \"prefixed\" or \"implied\"");
                return Err(raise(py, "InvalidSpecError", message));
            }
        }
    };
    let field = match field.as_str() {
        "integer" => core::IndexField::Integer,
        "octets" => core::IndexField::Octets(length, value_kind(py, kind)?),
        "oid" => core::IndexField::ObjectId(length),
        other => {
            return Err(raise(
                py,
                "InvalidSpecError",
                format!("index field {name:?}: unknown type {other:?}"),
            ))
        }
    };
    Ok((name.clone(), field))
}

/// A buffer given as a numpy uint8 array or any bytes-like object.
enum BufferArg<'py> {
    Array(numpy::PyReadonlyArray1<'py, u8>),
    Bytes(Bound<'py, pyo3::types::PyBytes>),
}

impl BufferArg<'_> {
    fn as_slice(&self) -> PyResult<&[u8]> {
        match self {
            BufferArg::Array(array) => array.as_slice().map_err(|e| PyValueError::new_err(e.to_string())),
            BufferArg::Bytes(bytes) => Ok(bytes.as_bytes()),
        }
    }
}

fn buffer_arg<'py>(value: &Bound<'py, PyAny>) -> PyResult<BufferArg<'py>> {
    if let Ok(array) = value.extract::<numpy::PyReadonlyArray1<'py, u8>>() {
        return Ok(BufferArg::Array(array));
    }
    if let Ok(bytes) = value.cast::<pyo3::types::PyBytes>() {
        return Ok(BufferArg::Bytes(bytes.clone()));
    }
    let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "a result buffer is a numpy uint8 array or bytes, not {type_name}"
    )))
}

/// A column of a table spec: (name, OID, value kind).
type ColumnArg<'py> = (String, Bound<'py, PyAny>, String);

/// The table spec that `parse_table` and `copy_table` take as (index fields, columns).
fn table_spec(
    py: Python<'_>,
    index: &[IndexArg<'_>],
    columns: &[ColumnArg<'_>],
) -> PyResult<core::TableSpec> {
    Ok(core::TableSpec {
        index: index.iter().map(|field| index_field(py, field)).collect::<PyResult<_>>()?,
        columns: columns
            .iter()
            .map(|(name, oid, kind)| Ok((name.clone(), extract_oid(py, oid)?, value_kind(py, kind)?)))
            .collect::<PyResult<_>>()?,
    })
}

/// Decodes result buffers with a table spec (GIL released while decoding). Returns
/// (row → buffer number, [req_id per buffer], [(name, kind, values, valid)]), where kind is
/// "int", "uint", "text" or "bytes"; text and bytes values are object arrays (None if null),
/// or with `raw`, (offsets int64, data uint8) arrays as Arrow's large_string/large_binary
/// hold them: no Python object per row.
#[pyfunction]
#[pyo3(signature = (index, columns, buffers, raw=false))]
fn parse_table<'py>(
    py: Python<'py>,
    index: Vec<IndexArg<'py>>,
    columns: Vec<ColumnArg<'py>>,
    buffers: Vec<Bound<'py, PyAny>>,
    raw: bool,
) -> PyResult<Decoded<'py>> {
    let spec = table_spec(py, &index, &columns)?;
    let args = buffers.iter().map(buffer_arg).collect::<PyResult<Vec<_>>>()?;
    let slices = args.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let parsed = py.detach(|| spec.parse(&slices)).map_err(|error| match error {
        core::ParseError::Format { .. } => raise(py, "BufferFormatError", error.to_string()),
        _ => raise(py, "InvalidSpecError", error.to_string()),
    })?;
    Ok(decoded(py, &slices, parsed, raw))
}

/// What `parse_table` and `parse_varbinds` return: (row → buffer number, [req_id per buffer],
/// [(name, kind, values, valid)]).
type Decoded<'py> = (
    Bound<'py, PyArray1<u32>>,
    Vec<Vec<u8>>,
    Vec<(String, &'static str, Bound<'py, PyAny>, Bound<'py, PyAny>)>,
);

fn decoded<'py>(py: Python<'py>, buffers: &[&[u8]], parsed: core::ParsedTable, raw: bool) -> Decoded<'py> {
    let req_ids = buffers
        .iter()
        // The header alone: decoding has already checked every record.
        .map(|s| core::ResultBuffer::parse_header(s).map(|b| b.req_id.to_vec()).unwrap_or_default())
        .collect();
    (parsed.buffer.into_pyarray(py), req_ids, py_columns(py, parsed.columns, raw))
}

/// Decodes result buffers into the long format, one row per varbind (`snmp_stream.to_pandas`;
/// GIL released while decoding): the same shape as `parse_table`, with the columns oid, root,
/// index, type, value (text), value_int, value_uint and value_bytes.
#[pyfunction]
#[pyo3(signature = (buffers, raw=false))]
fn parse_varbinds<'py>(
    py: Python<'py>,
    buffers: Vec<Bound<'py, PyAny>>,
    raw: bool,
) -> PyResult<Decoded<'py>> {
    let args = buffers.iter().map(buffer_arg).collect::<PyResult<Vec<_>>>()?;
    let slices = args.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let parsed = py
        .detach(|| core::varbind_rows(&slices))
        .map_err(|error| raise(py, "BufferFormatError", error.to_string()))?;
    Ok(decoded(py, &slices, parsed, raw))
}

/// Counter deltas and rates between two polls, each a list of (host, buffer) (GIL released
/// while computing): (row → current buffer number, [(name, values)]) with oid, root, index,
/// type (object arrays of str), previous, current (uint64), delta (uint64) and delta_valid
/// (bool), seconds and rate (float64, NaN without a rate), discontinuity (str or None).
#[pyfunction]
#[pyo3(signature = (previous, current, max_rate=None))]
#[allow(clippy::type_complexity)]
fn counter_rates<'py>(
    py: Python<'py>,
    previous: Vec<(String, Bound<'py, PyAny>)>,
    current: Vec<(String, Bound<'py, PyAny>)>,
    max_rate: Option<f64>,
) -> PyResult<(Bound<'py, PyArray1<u32>>, Vec<(&'static str, Bound<'py, PyAny>)>)> {
    let args = |poll: &[(String, Bound<'py, PyAny>)]| -> PyResult<Vec<BufferArg>> {
        poll.iter().map(|(_, buffer)| buffer_arg(buffer)).collect()
    };
    let (before, after) = (args(&previous)?, args(&current)?);
    let before_slices = before.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let after_slices = after.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let before_poll: Vec<(&str, &[u8])> =
        previous.iter().map(|(host, _)| host.as_str()).zip(before_slices.iter().copied()).collect();
    let after_poll: Vec<(&str, &[u8])> =
        current.iter().map(|(host, _)| host.as_str()).zip(after_slices.iter().copied()).collect();
    let rates = py
        .detach(|| core::counter_rates(&before_poll, &after_poll, max_rate))
        .map_err(|error| raise(py, "BufferFormatError", error.to_string()))?;
    let texts = |values: Vec<String>| {
        PyArray1::from_vec(
            py,
            values.into_iter().map(|v| PyString::new(py, &v).into_any().unbind()).collect(),
        )
        .into_any()
    };
    let types =
        rates.value_type.iter().map(|&t| PyString::new(py, core::type_name(t)).into_any().unbind()).collect();
    let discontinuities = rates
        .discontinuity
        .iter()
        .map(|d| match d {
            Some(d) => PyString::new(py, d.name()).into_any().unbind(),
            None => py.None(),
        })
        .collect();
    let delta_valid: Vec<bool> = rates.delta.iter().map(Option::is_some).collect();
    let delta: Vec<u64> = rates.delta.iter().map(|d| d.unwrap_or(0)).collect();
    let rate: Vec<f64> = rates.rate.iter().map(|r| r.unwrap_or(f64::NAN)).collect();
    let columns = vec![
        ("oid", texts(rates.oid)),
        ("root", texts(rates.root)),
        ("index", texts(rates.index)),
        ("type", PyArray1::from_vec(py, types).into_any()),
        ("previous", rates.previous.into_pyarray(py).into_any()),
        ("current", rates.current.into_pyarray(py).into_any()),
        ("delta", delta.into_pyarray(py).into_any()),
        ("delta_valid", delta_valid.into_pyarray(py).into_any()),
        ("seconds", rates.seconds.into_pyarray(py).into_any()),
        ("rate", rate.into_pyarray(py).into_any()),
        ("discontinuity", PyArray1::from_vec(py, discontinuities).into_any()),
    ];
    Ok((rates.buffer.into_pyarray(py), columns))
}

/// Decoded columns as (name, kind, values, valid): kind "int", "uint", "text" or "bytes"; text
/// and bytes values are object arrays (None where null), or with `raw` a tuple of (offsets
/// int64, data uint8) numpy arrays, Arrow's layout of large_string and large_binary.
fn py_columns<'py>(
    py: Python<'py>,
    columns: Vec<(String, core::ColumnData)>,
    raw: bool,
) -> Vec<(String, &'static str, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mut out = Vec::with_capacity(columns.len());
    for (name, column) in columns {
        let entry: (&'static str, Bound<'py, PyAny>, Bound<'py, PyAny>) = match column {
            core::ColumnData::Text { offsets, data, valid } if raw => {
                ("text", raw_strings(py, offsets, data), valid.into_pyarray(py).into_any())
            }
            core::ColumnData::Bytes { offsets, data, valid } if raw => {
                ("bytes", raw_strings(py, offsets, data), valid.into_pyarray(py).into_any())
            }
            core::ColumnData::Int { values, valid } => {
                ("int", values.into_pyarray(py).into_any(), valid.into_pyarray(py).into_any())
            }
            core::ColumnData::UInt { values, valid } => {
                ("uint", values.into_pyarray(py).into_any(), valid.into_pyarray(py).into_any())
            }
            core::ColumnData::Text { offsets, data, valid } => {
                let objects = (0..valid.len())
                    .map(|i| {
                        if valid[i] {
                            // Rendered by the core as UTF-8.
                            let text =
                                std::str::from_utf8(&data[offsets[i]..offsets[i + 1]]).unwrap_or_default();
                            PyString::new(py, text).into_any().unbind()
                        } else {
                            py.None()
                        }
                    })
                    .collect::<Vec<_>>();
                ("text", PyArray1::from_vec(py, objects).into_any(), valid.into_pyarray(py).into_any())
            }
            core::ColumnData::Bytes { offsets, data, valid } => {
                let objects = (0..valid.len())
                    .map(|i| {
                        if valid[i] {
                            pyo3::types::PyBytes::new(py, &data[offsets[i]..offsets[i + 1]])
                                .into_any()
                                .unbind()
                        } else {
                            py.None()
                        }
                    })
                    .collect::<Vec<_>>();
                ("bytes", PyArray1::from_vec(py, objects).into_any(), valid.into_pyarray(py).into_any())
            }
        };
        out.push((name, entry.0, entry.1, entry.2));
    }
    out
}

/// Variable-length values as Arrow lays them out: (offsets as int64, the bytes).
fn raw_strings<'py>(py: Python<'py>, offsets: Vec<usize>, data: Vec<u8>) -> Bound<'py, PyAny> {
    let offsets: Vec<i64> = offsets.into_iter().map(|o| o as i64).collect();
    let pair = (offsets.into_pyarray(py), data.into_pyarray(py));
    pyo3::types::PyTuple::new(py, [pair.0.into_any(), pair.1.into_any()]).expect("a tuple of two").into_any()
}

/// Arrow string-view records (16 bytes per value: the length, then the value itself when it
/// has at most 12 bytes, else its first 4 bytes, data buffer 0 and its offset) for values laid
/// out as `offsets` into `data`, so that polars takes text columns without copying them.
/// `None` when `data` is too large for 32-bit offsets.
#[pyfunction]
fn string_views<'py>(
    py: Python<'py>,
    offsets: numpy::PyReadonlyArray1<'py, i64>,
    data: numpy::PyReadonlyArray1<'py, u8>,
) -> PyResult<Option<Bound<'py, PyArray1<u8>>>> {
    let (offsets, data) = (offsets.as_slice()?, data.as_slice()?);
    if i32::try_from(data.len()).is_err() {
        return Ok(None);
    }
    let views = py.detach(|| {
        let mut views = vec![0u8; offsets.len().saturating_sub(1) * 16];
        for (view, pair) in views.chunks_exact_mut(16).zip(offsets.windows(2)) {
            let (start, end) = (pair[0].max(0) as usize, pair[1].max(0) as usize);
            let value = data.get(start..end).unwrap_or_default();
            view[..4].copy_from_slice(&(value.len() as i32).to_le_bytes());
            if value.len() <= 12 {
                view[4..4 + value.len()].copy_from_slice(value);
            } else {
                view[4..8].copy_from_slice(&value[..4]);
                // buffer index 0 (already zero), then the offset
                view[12..16].copy_from_slice(&(start as i32).to_le_bytes());
            }
        }
        views
    });
    Ok(Some(views.into_pyarray(py)))
}

/// Every record of a buffer as (oid, type, value), for `SnmpResponse.varbinds()`: `oid` the
/// full OID (`.1.3...`), `type` net-snmp's type name, `value` an int for numbers, bytes for
/// OCTET STRING and Opaque, text for OIDs (`.1.3...`) and IpAddress (dotted), None for NULL and
/// the exceptions (noSuchObject, noSuchInstance, endOfMibView).
#[pyfunction]
fn decode_varbinds<'py>(
    py: Python<'py>,
    buffer: &Bound<'py, PyAny>,
) -> PyResult<Vec<(String, &'static str, Bound<'py, PyAny>)>> {
    let arg = buffer_arg(buffer)?;
    let bytes = arg.as_slice()?;
    let parsed =
        core::ResultBuffer::parse(bytes).map_err(|e| raise(py, "BufferFormatError", e.to_string()))?;
    let mut out = Vec::with_capacity(parsed.record_count as usize);
    for record in parsed.records() {
        let record = record.map_err(|e| raise(py, "BufferFormatError", e.to_string()))?;
        let value: Bound<'py, PyAny> = match record.typed_value() {
            core::RecordValue::Integer(v) => v.into_pyobject(py)?.into_any(),
            core::RecordValue::Counter32(v)
            | core::RecordValue::Gauge32(v)
            | core::RecordValue::TimeTicks(v)
            | core::RecordValue::UInteger32(v) => v.into_pyobject(py)?.into_any(),
            core::RecordValue::Counter64(v) => v.into_pyobject(py)?.into_any(),
            core::RecordValue::IpAddress(v) => PyString::new(py, &v.to_string()).into_any(),
            core::RecordValue::ObjectId(subids) => {
                PyString::new(py, &core::format_subids(&subids)).into_any()
            }
            core::RecordValue::OctetString(v)
            | core::RecordValue::Opaque(v)
            | core::RecordValue::Other(_, v) => pyo3::types::PyBytes::new(py, v).into_any(),
            _ => py.None().into_bound(py),
        };
        out.push((record_oid(&parsed, &record), core::type_name(record.value_type), value));
    }
    Ok(out)
}

/// The records of a buffer as `snmpwalk -On` prints them: one `OID = TYPE: value` line each
/// (net-snmp's value format), every line ending in a newline.
#[pyfunction]
fn format_varbinds(py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<String> {
    use std::fmt::Write as _;
    let arg = buffer_arg(buffer)?;
    let bytes = arg.as_slice()?;
    let parsed =
        core::ResultBuffer::parse(bytes).map_err(|e| raise(py, "BufferFormatError", e.to_string()))?;
    let mut out = String::with_capacity(bytes.len() * 2);
    for record in parsed.records() {
        let record = record.map_err(|e| raise(py, "BufferFormatError", e.to_string()))?;
        let _ = writeln!(out, "{} = {}", record_oid(&parsed, &record), record.typed_value());
    }
    Ok(out)
}

/// A record's full OID (its root, then its index) as `.1.3.6...`.
fn record_oid(buffer: &core::ResultBuffer<'_>, record: &core::Record<'_>) -> String {
    let mut oid = core::format_subids(&buffer.roots[usize::from(record.root_index)]);
    oid.push_str(&core::format_subids(&record.index().collect::<Vec<_>>()));
    oid
}

/// Raises the Python exception for a COPY error: BufferFormatError for a bad buffer,
/// ValueError for mismatched argument lengths, InvalidSpecError for types that do not fit.
fn copy_error(py: Python<'_>, error: core::CopyError) -> PyErr {
    match error {
        core::CopyError::Buffer { .. } => raise(py, "BufferFormatError", error.to_string()),
        core::CopyError::SourceCount { .. } => PyValueError::new_err(error.to_string()),
        _ => raise(py, "InvalidSpecError", error.to_string()),
    }
}

/// Pairs each buffer's result id and host (the lists must be as long as each other; the core
/// checks that there is one pair per buffer).
fn buffer_sources<'a>(
    result_ids: &'a [String],
    hosts: &'a [String],
) -> PyResult<Vec<core::BufferSource<'a>>> {
    if result_ids.len() != hosts.len() {
        return Err(PyValueError::new_err(format!(
            "{} result_ids but {} hosts: give one of each per buffer",
            result_ids.len(),
            hosts.len()
        )));
    }
    Ok(result_ids.iter().zip(hosts).map(|(result_id, host)| core::BufferSource { result_id, host }).collect())
}

/// Result buffers decoded with a table spec (as `parse_table` takes it) as PostgreSQL binary
/// COPY data: the prefix columns (result_id, host, req_id, collected_at), then one field per
/// index field and column, written as `types` ("integer", "bigint", "numeric", "text",
/// "bytea", "interval"). GIL released while encoding; the bytes become a numpy array without a
/// copy.
#[pyfunction]
fn copy_table<'py>(
    py: Python<'py>,
    index: Vec<IndexArg<'py>>,
    columns: Vec<ColumnArg<'py>>,
    types: Vec<String>,
    buffers: Vec<Bound<'py, PyAny>>,
    result_ids: Vec<String>,
    hosts: Vec<String>,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let spec = table_spec(py, &index, &columns)?;
    let types = types
        .iter()
        .map(|name| core::PgType::parse(name))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| copy_error(py, e))?;
    let sources = buffer_sources(&result_ids, &hosts)?;
    let args = buffers.iter().map(buffer_arg).collect::<PyResult<Vec<_>>>()?;
    let slices = args.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let data =
        py.detach(|| core::copy_table(&spec, &slices, &types, &sources)).map_err(|e| copy_error(py, e))?;
    Ok(data.into_pyarray(py))
}

/// Every record of the buffers as PostgreSQL binary COPY data: the prefix columns, then oid,
/// root, index, type, value (text) and value_bytes (bytea). GIL released while encoding.
#[pyfunction]
fn copy_varbinds<'py>(
    py: Python<'py>,
    buffers: Vec<Bound<'py, PyAny>>,
    result_ids: Vec<String>,
    hosts: Vec<String>,
) -> PyResult<Bound<'py, PyArray1<u8>>> {
    let sources = buffer_sources(&result_ids, &hosts)?;
    let args = buffers.iter().map(buffer_arg).collect::<PyResult<Vec<_>>>()?;
    let slices = args.iter().map(BufferArg::as_slice).collect::<PyResult<Vec<_>>>()?;
    let data = py.detach(|| core::copy_varbinds(&slices, &sources)).map_err(|e| copy_error(py, e))?;
    Ok(data.into_pyarray(py))
}

/// The result buffer format version this module writes and reads.
#[pyfunction]
fn format_version() -> u8 {
    core::FORMAT_VERSION
}

#[pymodule]
fn _snmp_stream(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Config>()?;
    m.add_class::<Request>()?;
    m.add_class::<Usm>()?;
    m.add_function(wrap_pyfunction!(usm_counters, m)?)?;
    m.add_class::<SessionManager>()?;
    m.add_class::<Collector>()?;
    // The package version: the workspace version in Cargo.toml, which maturin also gives the wheel.
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(parse_oid, m)?)?;
    m.add_function(wrap_pyfunction!(format_version, m)?)?;
    m.add_function(wrap_pyfunction!(parse_table, m)?)?;
    m.add_function(wrap_pyfunction!(parse_varbinds, m)?)?;
    m.add_function(wrap_pyfunction!(string_views, m)?)?;
    m.add_function(wrap_pyfunction!(counter_rates, m)?)?;
    m.add_function(wrap_pyfunction!(decode_varbinds, m)?)?;
    m.add_function(wrap_pyfunction!(format_varbinds, m)?)?;
    m.add_function(wrap_pyfunction!(copy_table, m)?)?;
    m.add_function(wrap_pyfunction!(copy_varbinds, m)?)?;
    // The COPY column lists, (name, SQL type) in order, for the loader's COPY statements.
    m.add("COPY_PREFIX_COLUMNS", core::pgcopy::PREFIX_COLUMNS.to_vec())?;
    m.add("COPY_VARBIND_COLUMNS", core::pgcopy::VARBIND_COLUMNS.to_vec())?;
    Ok(())
}
