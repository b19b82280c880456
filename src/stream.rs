//! Streaming collection: a [`Collector`] runs a [`SessionManager`] on its own thread, takes
//! requests while others are in flight and hands back each response as it completes, on a
//! crossbeam channel.
//!
//! - `submit` blocks when `queue_capacity` requests wait to start (backpressure); the engine
//!   thread holds at most one more, taking requests only as sessions free up, so the
//!   concurrency limit stays full without an unbounded queue.
//! - `close` (or drop) stops intake; everything already submitted still completes and its
//!   response is delivered before the response channel disconnects.
//! - `abort` drops everything in flight at once (its sockets closed, no responses): for a
//!   consumer that is gone, e.g. after Ctrl-C.
//! - An event loop (asyncio's `add_reader`, mio, tokio's `AsyncFd`) can wait on
//!   [`Collector::ready_fd`] instead of blocking a thread in `recv`.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{
    bounded, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError,
};

use crate::config::Config;
use crate::engine::SessionManager;
use crate::error::{Error, Result};
use crate::poller::Waker;
use crate::request::Request;
use crate::response::Response;

/// A collection engine on its own thread.
///
/// ```no_run
/// use snmp_stream::{Collector, Community, Config, Oid, Request, Version};
/// let collector = Collector::new(Config::new(), 1024)?;
/// let community = Community::new("public", Version::V2c)?;
/// for port in 1161..1171 {
///     let oids = [Oid::parse("1.3.6.1.2.1.1")?];
///     collector.submit(Request::walk(format!("127.0.0.1:{port}"), community.clone(), oids).build()?)?;
/// }
/// collector.close();
/// for response in collector.responses() {
///     println!("{} {:?}", response.request.host(), response.status);
/// }
/// # Ok::<(), snmp_stream::Error>(())
/// ```
#[derive(Debug)]
pub struct Collector {
    /// `None` once closed. Behind a lock so `close` works through `&self` while other threads
    /// submit (a submit clones the sender and sends without holding the lock).
    requests: Mutex<Option<Sender<Request>>>,
    responses: Receiver<Response>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What the engine thread and the collector handle share.
#[derive(Debug)]
struct Shared {
    waker: Waker,
    /// Readable once responses were sent (and when the response channel disconnects).
    ready: Waker,
    aborted: AtomicBool,
    /// Set by the engine thread once it has closed every session and ended.
    finished: (Mutex<bool>, Condvar),
}

impl Collector {
    /// Starts the engine thread. `config` is the manager config under each request's own;
    /// `queue_capacity` (at least 1) is how many submitted requests may wait to start (the
    /// engine thread holds one more).
    pub fn new(config: Config, queue_capacity: usize) -> Result<Self> {
        let manager = SessionManager::new(config)?;
        let shared = Arc::new(Shared {
            waker: Waker::new()?,
            ready: Waker::new()?,
            aborted: AtomicBool::new(false),
            finished: (Mutex::new(false), Condvar::new()),
        });
        manager.watch_waker(&shared.waker)?;
        let (request_tx, request_rx) = bounded(queue_capacity.max(1));
        let (response_tx, response_rx) = unbounded();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("snmp-stream-collector".into()).spawn(move || {
            // Returns after dropping the manager: every session and socket is closed.
            engine_loop(manager, &request_rx, &response_tx, &thread_shared);
            // Disconnected: a reader waiting on `ready_fd` must see it.
            drop(response_tx);
            thread_shared.ready.wake();
            let (finished, ended) = &thread_shared.finished;
            *finished.lock().unwrap_or_else(PoisonError::into_inner) = true;
            ended.notify_all();
        })?;
        Ok(Collector {
            requests: Mutex::new(Some(request_tx)),
            responses: response_rx,
            shared,
            thread: Some(thread),
        })
    }

    fn sender(&self) -> Result<Sender<Request>> {
        let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.clone().ok_or(Error::Closed)
    }

    /// Submits a request, blocking while the queue is full. Fails once the collector is closed.
    pub fn submit(&self, request: Request) -> Result<()> {
        self.sender()?.send(request).map_err(|_| Error::Closed)?;
        self.shared.waker.wake();
        Ok(())
    }

    /// Submits a request, waiting at most `timeout` for room in the queue. Returns the request
    /// back (`Ok(Some(request))`) when the queue stayed full, so a caller can check for
    /// interrupts and try again.
    pub fn submit_timeout(&self, request: Request, timeout: Duration) -> Result<Option<Request>> {
        match self.sender()?.send_timeout(request, timeout) {
            Ok(()) => {
                self.shared.waker.wake();
                Ok(None)
            }
            Err(SendTimeoutError::Timeout(request)) => Ok(Some(request)),
            Err(SendTimeoutError::Disconnected(_)) => Err(Error::Closed),
        }
    }

    /// The response channel: receive, iterate, or use it in `crossbeam_channel::select!`. It
    /// disconnects after `close` once every submitted request has been answered.
    pub fn responses(&self) -> &Receiver<Response> {
        &self.responses
    }

    /// Waits up to `timeout` for the next response. `Ok(None)` on timeout; `Err(Closed)` when
    /// the collector is closed and every response has been received.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Response>> {
        match self.responses.recv_timeout(timeout) {
            Ok(response) => Ok(Some(response)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// Takes a response if one is ready.
    pub fn try_recv(&self) -> Option<Response> {
        self.responses.try_recv().ok()
    }

    /// Takes a response if one is ready: `Ok(None)` when none is, `Err(Closed)` when the
    /// collector is closed and every response has been received.
    pub fn try_receive(&self) -> Result<Option<Response>> {
        match self.responses.try_recv() {
            Ok(response) => Ok(Some(response)),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Error::Closed),
        }
    }

    /// An eventfd that becomes readable when responses may be waiting, for an event loop to
    /// watch instead of blocking a thread in `recv`. On readiness, call
    /// [`clear_ready`](Self::clear_ready) first, then [`try_receive`](Self::try_receive) until
    /// it returns `Ok(None)` (or `Err(Closed)`: then stop watching). The descriptor lives as
    /// long as the collector.
    pub fn ready_fd(&self) -> RawFd {
        self.shared.ready.fd()
    }

    /// Makes [`ready_fd`](Self::ready_fd) unreadable until the next responses are sent.
    pub fn clear_ready(&self) {
        self.shared.ready.drain();
    }

    /// Stops taking requests. Requests already submitted complete; their responses stay
    /// receivable, then the channel disconnects.
    pub fn close(&self) {
        let sender = self.requests.lock().unwrap_or_else(PoisonError::into_inner).take();
        if sender.is_some() {
            drop(sender);
            self.shared.waker.wake();
        }
    }

    /// Closes, and drops every request queued or in flight without a response: their sessions
    /// and sockets are closed when this returns (it waits for the engine thread to end, which
    /// takes one turn of its loop). The response channel disconnects after the responses
    /// already delivered.
    pub fn abort(&self) {
        self.shared.aborted.store(true, Ordering::SeqCst);
        self.close();
        self.shared.waker.wake();
        let (finished, ended) = &self.shared.finished;
        let mut done = finished.lock().unwrap_or_else(PoisonError::into_inner);
        // (A thread that ended without setting `finished` panicked: stop waiting then.)
        while !*done && self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            done =
                ended.wait_timeout(done, Duration::from_millis(50)).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Closes and waits for the engine thread to finish every submitted request.
    pub fn join(mut self) -> Receiver<Response> {
        self.close();
        if let Some(thread) = self.thread.take() {
            // A panic on the engine thread is a bug; surface it here rather than hide it.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        self.responses.clone()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn engine_loop(
    mut manager: SessionManager,
    requests: &Receiver<Request>,
    responses: &Sender<Response>,
    shared: &Shared,
) {
    let mut open = true;
    loop {
        if shared.aborted.load(Ordering::SeqCst) {
            return; // dropping the manager closes every session
        }
        // Take requests off the channel only while they can start at once: the one that cannot
        // stays in the manager's queue, the rest wait in the bounded channel, so `submit`
        // blocks once `queue_capacity` requests (plus that one) wait to start.
        loop {
            manager.admit();
            if !open || manager.queued() > 0 {
                break;
            }
            match requests.try_recv() {
                Ok(request) => manager.add_request(request),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        let completed = manager.take_completed();
        if !completed.is_empty() {
            for response in completed {
                // The receiver may have been dropped; the requests still run to completion.
                let _ = responses.send(response);
            }
            shared.ready.wake();
        }
        if !open && manager.is_idle() {
            return;
        }
        if manager.turn(None) {
            shared.waker.drain();
        }
    }
}
