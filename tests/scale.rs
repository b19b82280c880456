//! Scale and streaming: thousands of requests in flight on one loop (past FD_SETSIZE), a
//! `Collector` that streams responses while requests are still being submitted, dropping a
//! busy collector, and several engines in different threads at once.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::fake_agent::{Behavior, FakeAgent};
use common::snmpd::Snmpd;
use common::{community, lines, net_snmp, oid, Line};
use snmp_stream::{Collector, Config, Error, ErrorKind, Request, Response, SessionManager, Status, Version};

const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";
const SW_INSTALLED_NAME: &str = "1.3.6.1.2.1.25.6.3.1.2";

/// The tests of this file measure wall-clock time on a small machine: run them one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn id(response: &Response) -> String {
    String::from_utf8_lossy(response.request.req_id().expect("every request has a req_id")).into_owned()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[test]
fn thousands_of_requests_in_flight_at_once() {
    let _serial = serial();
    let agent = Snmpd::start();
    let silent = FakeAgent::start(Behavior::Silent);
    let expected = net_snmp("snmpget", &["-v2c", "-c", "public", &agent.host(), SYS_NAME]);
    let timeout = Duration::from_secs(1);
    let config = Config::new().max_sessions(2500).unwrap().timeout(timeout).unwrap().retries(0).unwrap();
    let mut manager = SessionManager::new(config).unwrap();
    let v2c = community(Version::V2c);
    // Live requests spread among the silent ones, so they start all along the admission.
    let (mut live, mut dead) = (0, 0);
    for i in 0..2500 {
        let (host, tag) = if i % 5 == 0 {
            live += 1;
            (agent.host(), "live")
        } else {
            dead += 1;
            (silent.host(), "silent")
        };
        let request =
            Request::get(host, v2c.clone(), [oid(SYS_NAME)]).req_id(format!("{tag}-{i}")).build().unwrap();
        manager.add_request(request);
    }
    assert_eq!((live, dead), (500, 2000));
    assert_eq!(manager.queued(), 2500);

    let fds_before = open_fds();
    let started = Instant::now();
    let mut finished: Vec<(Response, Duration)> = Vec::new();
    // The first run starts everything (the cap is 2500), then returns with the first answers.
    let first = manager.run();
    let first_at = started.elapsed();
    let in_flight = manager.in_flight();
    let fds_during = open_fds();
    assert!(!first.is_empty());
    assert_eq!(manager.queued(), 0);
    assert_eq!(in_flight + first.len(), 2500, "everything admitted at once");
    assert!(in_flight >= 2000, "only {in_flight} in flight");
    // v1/v2c requests over UDP share sockets, 8 to a socket (the ephemeral ports, about 28,000,
    // would not do for 50,000 requests in flight with one each).
    // (The 2,500 sessions opened took 313 sockets; those finished already leave them to the
    // others.)
    let sockets = fds_during - fds_before;
    assert!(
        (in_flight / 8..=2500 / 8 + 16).contains(&sockets),
        "{fds_before} fds before, {fds_during} with {in_flight} in flight"
    );
    finished.extend(first.into_iter().map(|r| (r, first_at)));
    while !manager.is_idle() {
        let batch = manager.run();
        let at = started.elapsed();
        finished.extend(batch.into_iter().map(|r| (r, at)));
    }
    let total = started.elapsed();
    eprintln!("2500 requests: first answers after {first_at:?}, all done after {total:?}");

    assert_eq!(finished.len(), 2500, "one response per request");
    let ids: HashSet<String> = finished.iter().map(|(r, _)| id(r)).collect();
    assert_eq!(ids.len(), 2500, "each request answered once");
    for (response, at) in &finished {
        let id = id(response);
        if id.starts_with("live") {
            assert_eq!(response.status, Status::Successful, "{id}: {:?}", response.errors);
            assert_eq!(lines(response), expected, "{id}");
            assert!(*at < timeout, "{id} waited for the silent ones: {at:?}");
        } else {
            assert_eq!(response.status, Status::Failed, "{id}");
            assert_eq!(response.errors.len(), 1, "{id}");
            assert_eq!(response.errors[0].kind, ErrorKind::Timeout, "{id}");
            assert!(*at >= timeout, "{id} gave up early: {at:?}");
        }
    }
    // 2000 one-second timeouts in well under 2000 seconds, or even 2: they ran together.
    assert!(total < Duration::from_secs(4), "took {total:?}");
    assert_eq!(manager.in_flight(), 0);
    assert!(open_fds() < fds_during, "sessions closed on completion");
}

#[test]
fn collector_streams_responses_while_requests_are_submitted() {
    let _serial = serial();
    let agent = Snmpd::start();
    let subtrees = ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2", SW_INSTALLED_NAME];
    let reference = net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &agent.host(), SW_INSTALLED_NAME]);
    assert!(reference.len() >= 40, "the agent serves the installed-software table");
    // 16 in flight, 16 queued in the engine, 64 in the channel: 300 submits must wait for
    // answers, so answers flow while the submitting goes on.
    let config = Config::new().max_sessions(16).unwrap();
    let collector = Collector::new(config, 64).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let responses = collector.responses().clone();
        let received = Arc::clone(&received);
        thread::spawn(move || {
            let mut all = Vec::new();
            for response in responses.iter() {
                received.fetch_add(1, Ordering::SeqCst);
                // Decode here, while the engine goes on.
                let decoded = lines(&response);
                all.push((response, decoded));
            }
            all
        })
    };
    let started = Instant::now();
    let mut received_before_last_submit = 0;
    for i in 0..300 {
        let subtree = subtrees[i % subtrees.len()];
        let request = Request::walk(agent.host(), community(Version::V2c), [oid(subtree)])
            .req_id(format!("{i}:{subtree}"))
            .build()
            .unwrap();
        if i == 299 {
            received_before_last_submit = received.load(Ordering::SeqCst);
        }
        collector.submit(request).unwrap();
    }
    let submitted_at = started.elapsed();
    assert!(received_before_last_submit >= 1, "no response arrived while submitting");
    collector.close();
    let all = receiver.join().expect("receiver thread");
    eprintln!(
        "300 walks: submitted in {submitted_at:?} ({received_before_last_submit} answered by then), \
         all received in {:?}",
        started.elapsed()
    );
    assert_eq!(all.len(), 300);
    let ids: HashSet<String> = all.iter().map(|(r, _)| id(r)).collect();
    assert_eq!(ids.len(), 300, "distinct req_ids");
    for (response, got) in &all {
        let id = id(response);
        assert_eq!(response.status, Status::Successful, "{id}: {:?}", response.errors);
        assert!(!got.is_empty(), "{id}");
        if id.ends_with(SW_INSTALLED_NAME) {
            assert_eq!(*got, reference, "{id}");
        }
    }

    let late = Request::get(agent.host(), community(Version::V2c), [oid(SYS_NAME)]).build().unwrap();
    assert!(matches!(collector.submit(late), Err(Error::Closed)));
    assert!(collector.try_recv().is_none());
    assert!(matches!(collector.recv_timeout(Duration::from_millis(10)), Err(Error::Closed)));
    let rest = collector.join();
    assert!(rest.recv_timeout(Duration::from_secs(1)).is_err(), "everything was received already");
}

#[test]
fn join_finishes_everything_submitted() {
    let _serial = serial();
    let agent = Snmpd::start();
    let collector = Collector::new(Config::new().max_sessions(4).unwrap(), 2).unwrap();
    for i in 0..40 {
        let request = Request::get(agent.host(), community(Version::V1), [oid(SYS_NAME)])
            .req_id(format!("get-{i}"))
            .build()
            .unwrap();
        collector.submit(request).unwrap();
    }
    let responses: Vec<Response> = collector.join().iter().collect();
    assert_eq!(responses.len(), 40);
    assert_eq!(responses.iter().map(id).collect::<HashSet<_>>().len(), 40);
    assert!(responses.iter().all(|r| r.status == Status::Successful));
}

#[test]
fn dropping_a_busy_collector_does_not_hang() {
    let _serial = serial();
    let agent = Snmpd::start();
    let silent = FakeAgent::start(Behavior::Silent);
    let host = agent.host();
    let silent_host = silent.host();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let started = Instant::now();
    thread::spawn(move || {
        let config = Config::new().timeout(Duration::from_millis(200)).unwrap().retries(0).unwrap();
        let collector = Collector::new(config, 8).unwrap();
        for i in 0..50 {
            let (host, subtree) = match i % 10 {
                0 => (&silent_host, SYS_NAME),
                1..=4 => (&host, SW_INSTALLED_NAME),
                _ => (&host, "1.3.6.1.2.1.1"),
            };
            let request = Request::walk(host.as_str(), community(Version::V2c), [oid(subtree)])
                .req_id(format!("drop-{i}"))
                .build()
                .unwrap();
            collector.submit(request).unwrap();
        }
        drop(collector); // no response read: Drop closes and joins the engine thread
        done_tx.send(()).unwrap();
    });
    done_rx.recv_timeout(Duration::from_secs(5)).expect("dropping the collector hung");
    let elapsed = started.elapsed();
    eprintln!("50 requests submitted and collector dropped in {elapsed:?}");
    // Drop finished what was submitted: every silent walk was sent and timed out (its GETBULK,
    // then the one GETNEXT that tells a dead agent from one that drops GETBULK).
    assert_eq!(silent.requests_seen(), 10);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
}

enum Engine {
    Manager,
    Collector,
}

/// Walks `times` times on its own engine; returns the responses, decoded (in this thread).
fn walk_repeatedly(
    engine: &Engine,
    host: &str,
    times: usize,
    thread_no: usize,
) -> Vec<(Response, Vec<Line>)> {
    let requests = (0..times).map(|i| {
        Request::walk(host, community(Version::V2c), [oid(SW_INSTALLED_NAME)])
            .req_id(format!("thread-{thread_no}-walk-{i}"))
            .build()
            .unwrap()
    });
    let responses: Vec<Response> = match engine {
        Engine::Manager => {
            let mut manager = SessionManager::new(Config::new().max_sessions(5).unwrap()).unwrap();
            for request in requests {
                manager.add_request(request);
            }
            manager.run_all()
        }
        Engine::Collector => {
            let collector = Collector::new(Config::new().max_sessions(5).unwrap(), 4).unwrap();
            for request in requests {
                collector.submit(request).unwrap();
            }
            collector.join().iter().collect()
        }
    };
    responses
        .into_iter()
        .map(|response| {
            let decoded = lines(&response);
            (response, decoded)
        })
        .collect()
}

#[test]
fn several_engines_in_different_threads_at_once() {
    let _serial = serial();
    let agent = Snmpd::start();
    let reference = net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &agent.host(), SW_INSTALLED_NAME]);
    assert!(reference.len() >= 40);
    // Half the threads walk over TCP: their transports are made on connector threads while
    // the other engines open UDP sessions.
    let (udp, tcp) = (agent.host(), agent.host_tcp());
    let started = Instant::now();
    let results: Vec<Vec<(Response, Vec<Line>)>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let engine = if t % 2 == 0 { Engine::Manager } else { Engine::Collector };
                let host = if t % 4 < 2 { udp.as_str() } else { tcp.as_str() };
                scope.spawn(move || walk_repeatedly(&engine, host, 20, t))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("engine thread")).collect()
    });
    eprintln!("8 threads × 20 walks of {} rows, decoded, in {:?}", reference.len(), started.elapsed());
    for (t, responses) in results.iter().enumerate() {
        assert_eq!(responses.len(), 20, "thread {t}");
        let ids: HashSet<String> = responses.iter().map(|(r, _)| id(r)).collect();
        assert_eq!(ids.len(), 20, "thread {t}");
        for (response, got) in responses {
            let id = id(response);
            assert!(id.starts_with(&format!("thread-{t}-")), "{id} came back to thread {t}");
            assert_eq!(response.status, Status::Successful, "{id}: {:?}", response.errors);
            assert_eq!(*got, reference, "{id}");
        }
    }
}

/// Backpressure: with every session busy, `submit` blocks once `queue_capacity` requests wait
/// in the channel (the engine thread holds at most one more that could not start).
#[test]
fn submit_blocks_once_queue_capacity_requests_wait_to_start() {
    let _serial = serial();
    let silent = FakeAgent::start(Behavior::Silent);
    let (max_sessions, queue_capacity) = (4, 2);
    let timeout = Duration::from_millis(1000);
    let config =
        Config::new().max_sessions(max_sessions).unwrap().timeout(timeout).unwrap().retries(0).unwrap();
    let collector = Arc::new(Collector::new(config, queue_capacity).unwrap());
    let returned = Arc::new(AtomicUsize::new(0));
    let submitter = {
        let (collector, returned, host) = (Arc::clone(&collector), Arc::clone(&returned), silent.host());
        thread::spawn(move || {
            for i in 0..12 {
                let request = Request::get(host.as_str(), community(Version::V2c), [oid(SYS_NAME)])
                    .req_id(format!("{i}"))
                    .build()
                    .unwrap();
                collector.submit(request).unwrap();
                returned.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Until the first timeout nothing completes, so nothing frees a session: exactly the
    // requests in flight, the queue, and the one the engine thread holds (it could not start)
    // get in, and the next submit blocks.
    let started = Instant::now();
    let fits = max_sessions as usize + queue_capacity + 1;
    let in_flight = max_sessions as usize;
    while (returned.load(Ordering::SeqCst) < fits || silent.requests_seen() < in_flight)
        && started.elapsed() < timeout / 2
    {
        thread::sleep(Duration::from_millis(1)); // waiting for a condition, bounded
    }
    assert_eq!(returned.load(Ordering::SeqCst), fits, "submits that returned before any completion");
    assert_eq!(silent.requests_seen(), in_flight, "requests in flight");
    // A sleep on purpose: it observes that the next submit does NOT return while nothing
    // completes (no event marks a blocked call); the first timeout is at 1 s.
    thread::sleep(timeout / 2 - started.elapsed().min(timeout / 2));
    assert_eq!(returned.load(Ordering::SeqCst), fits, "a submit returned although the queue was full");
    submitter.join().unwrap();
    assert_eq!(returned.load(Ordering::SeqCst), 12);
    let mut responses = 0;
    while collector.recv_timeout(timeout * 2).unwrap().is_some() {
        responses += 1;
        if responses == 12 {
            break;
        }
    }
    assert_eq!(responses, 12, "every submitted request answered");
}

/// `abort` drops what is in flight at once: no waiting for a silent agent's timeouts.
#[test]
fn abort_drops_requests_in_flight_at_once() {
    let _serial = serial();
    let silent = FakeAgent::start(Behavior::Silent);
    let config = Config::new().timeout(Duration::from_secs(30)).unwrap().retries(0).unwrap();
    let collector = Collector::new(config, 64).unwrap();
    for i in 0..20 {
        let request = Request::get(silent.host(), community(Version::V2c), [oid(SYS_NAME)])
            .req_id(format!("{i}"))
            .build()
            .unwrap();
        collector.submit(request).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while silent.requests_seen() < 20 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(silent.requests_seen(), 20, "all requests were in flight");
    let started = Instant::now();
    collector.abort();
    let responses = collector.join();
    assert!(started.elapsed() < Duration::from_secs(1), "abort waited {:?}", started.elapsed());
    assert_eq!(responses.iter().count(), 0);
}
