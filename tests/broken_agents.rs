//! Agents a real snmpd cannot imitate — non-increasing or looping OIDs, tooBig, silence — played
//! by the fake agent on loopback: every request still ends, promptly, with exactly one response
//! carrying a structured error, and what was collected before the trouble is kept.

mod common;

use std::time::{Duration, Instant};

use common::fake_agent::{Behavior, FakeAgent};
use common::{community, lines, oid, run_until_idle, sorted, Line};
use snmp_stream::{
    Config, ErrorKind, OidRange, Request, Response, ResultBuffer, SessionManager, Status, Version,
};

const ROOT: &str = "1.3.6.1.4.1.99999.1";

fn root() -> Vec<u32> {
    oid(ROOT).as_slice().to_vec()
}

/// `ROOT.i = INTEGER: i` for each i, as [`lines`] renders them.
fn rows(indexes: impl IntoIterator<Item = u32>) -> Vec<Line> {
    indexes.into_iter().map(|i| (format!(".{ROOT}.{i}"), format!("INTEGER: {i}"))).collect()
}

/// Runs the requests on one manager; asserts one response per request and returns them with
/// the time each came back, in request order (matched by req_id, which every request must have).
fn run_timed(requests: Vec<Request>, config: Config) -> Vec<(Response, Duration)> {
    let ids: Vec<Vec<u8>> =
        requests.iter().map(|r| r.req_id().expect("tag every request").to_vec()).collect();
    let mut manager = SessionManager::new(config).unwrap();
    for request in requests {
        manager.add_request(request);
    }
    let mut finished = run_until_idle(&mut manager, Instant::now());
    assert!(manager.run().is_empty(), "an idle manager returns nothing");
    assert_eq!(finished.len(), ids.len(), "every request yields exactly one response");
    ids.iter()
        .map(|id| {
            let position = finished
                .iter()
                .position(|(r, _)| r.request.req_id() == Some(id.as_slice()))
                .unwrap_or_else(|| panic!("no response for {}", String::from_utf8_lossy(id)));
            finished.swap_remove(position)
        })
        .collect()
}

fn run_one(request: Request, config: Config) -> (Response, Duration) {
    run_timed(vec![request], config).pop().unwrap()
}

fn walk(agent: &FakeAgent, version: Version, id: &str) -> Request {
    Request::walk(agent.host(), community(version), [oid(ROOT)]).req_id(id).build().unwrap()
}

fn budget(n: u32) -> Config {
    Config::new().max_var_binds_per_pdu(n).unwrap().timeout(Duration::from_millis(500)).unwrap()
}

fn assert_one_non_increasing(response: &Response, host: &str, at: &str) {
    assert_eq!(response.status, Status::DoneWithErrors, "{:?}", response.errors);
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    let error = &response.errors[0];
    assert_eq!(error.kind, ErrorKind::NonIncreasingOid, "{error}");
    assert!(!error.kind.is_fatal());
    assert_eq!(error.err_oid, Some(oid(at)), "{error}");
    assert!(error.message.contains(host), "the message names the host: {}", error.message);
    assert!(error.message.contains(&format!("returned .{at}")), "{}", error.message);
}

#[test]
fn non_increasing_agent_ends_the_walk_with_one_error() {
    for version in [Version::V2c, Version::V1] {
        let agent = FakeAgent::start(Behavior::NonIncreasing);
        let (response, elapsed) = run_one(walk(&agent, version, "non-increasing"), budget(25));
        // The agent echoes the requested OID: the very first answer is not past the root.
        assert_one_non_increasing(&response, &agent.host(), ROOT);
        assert!(lines(&response).is_empty(), "{version:?}: {:?}", lines(&response));
        assert_eq!(ResultBuffer::parse(&response.results).unwrap().record_count, 0);
        assert_eq!(agent.requests_seen(), 1, "{version:?}: one PDU, no retry, no second try");
        assert!(elapsed < Duration::from_millis(400), "{version:?}: took {elapsed:?}");
    }
}

#[test]
fn looping_agent_keeps_the_records_before_the_loop() {
    // (version, varbind budget, PDUs the walk needs before it sees root.1 again)
    for (version, var_binds, pdus) in [(Version::V2c, 25, 1), (Version::V2c, 2, 2), (Version::V1, 10, 4)] {
        let agent = FakeAgent::start(Behavior::Loop { root: root() });
        let (response, elapsed) = run_one(walk(&agent, version, "loop"), budget(var_binds));
        let case = format!("{version:?} budget {var_binds}");
        assert_one_non_increasing(&response, &agent.host(), &format!("{ROOT}.1"));
        assert!(response.errors[0].message.contains(&format!("after .{ROOT}.3")), "{}", response.errors[0]);
        assert_eq!(lines(&response), rows(1..=3), "{case}");
        assert_eq!(agent.requests_seen(), pdus, "{case}");
        assert!(elapsed < Duration::from_millis(400), "{case}: took {elapsed:?}");
    }
}

#[test]
fn a_broken_column_stops_alone_and_its_neighbour_completes() {
    // Two columns of one request, same agent: index range 1..=2 of the loop is a fine walk
    // (root.1, root.2, then root.3 leaves the range); range 3.. starts after root.2.4294967295,
    // and the looping agent answers root.1, which is behind it.
    let range = |start: &str, stop: Option<&str>| OidRange::new(Some(oid(start)), stop.map(oid)).unwrap();
    for version in [Version::V2c, Version::V1] {
        let agent = FakeAgent::start(Behavior::Loop { root: root() });
        let request = Request::walk(agent.host(), community(version), [oid(ROOT)])
            .ranges([range("1", Some("2")), range("3", None)])
            .req_id("two-columns")
            .build()
            .unwrap();
        assert_eq!(request.ranges().len(), 2, "the ranges stay two columns");
        let (response, _) = run_one(request, budget(25));
        assert_one_non_increasing(&response, &agent.host(), &format!("{ROOT}.1"));
        assert!(
            response.errors[0].message.contains(&format!("after .{ROOT}.2.4294967295")),
            "{}",
            response.errors[0]
        );
        assert_eq!(lines(&response), rows(1..=2), "{version:?}");
        assert!(agent.requests_seen() <= 3, "{version:?}: {} PDUs", agent.requests_seen());
    }
}

#[test]
fn too_big_halves_the_budget_until_the_agent_answers() {
    let agent = FakeAgent::start(Behavior::TooBigAbove { root: root(), rows: 200, limit: 5 });
    let (response, _) = run_one(walk(&agent, Version::V2c, "too-big"), budget(40));
    assert_eq!(response.status, Status::Successful, "{:?}", response.errors);
    assert!(response.errors.is_empty());
    assert_eq!(lines(&response), rows(1..=200));
    // max-repetitions 40, 20, 10 refused; then 200 rows 5 at a time, and one PDU that finds
    // the end of the table.
    assert_eq!(agent.requests_seen(), 3 + 40 + 1);

    // Two columns (index ranges) share the budget: 20, then 10 repetitions each are refused;
    // with a budget of 10, each column asks for 5.
    let agent = FakeAgent::start(Behavior::TooBigAbove { root: root(), rows: 200, limit: 5 });
    let range = |start: &str, stop: Option<&str>| OidRange::new(Some(oid(start)), stop.map(oid)).unwrap();
    let request = Request::walk(agent.host(), community(Version::V2c), [oid(ROOT)])
        .ranges([range("1", Some("100")), range("101", None)])
        .req_id("too-big-two-columns")
        .build()
        .unwrap();
    let (response, _) = run_one(request, budget(40));
    assert_eq!(response.status, Status::Successful, "{:?}", response.errors);
    assert_eq!(sorted(lines(&response)), rows(1..=200));
    assert!(agent.requests_seen() < 60, "{} PDUs", agent.requests_seen());
}

#[test]
fn too_big_for_a_single_varbind_fails_the_request() {
    let agent = FakeAgent::start(Behavior::TooBigAbove { root: root(), rows: 200, limit: 0 });
    let (response, elapsed) = run_one(walk(&agent, Version::V2c, "too-big-1"), budget(1));
    assert_eq!(response.status, Status::Failed);
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    let error = &response.errors[0];
    assert_eq!(error.kind, ErrorKind::BadResponsePdu);
    assert!(error.kind.is_fatal());
    assert_eq!(error.err_stat, 1);
    assert_eq!(error.err_index, 0);
    assert!(error.message.contains("tooBig"), "{}", error.message);
    assert!(error.message.contains(&agent.host()), "{}", error.message);
    assert!(lines(&response).is_empty());
    assert_eq!(agent.requests_seen(), 1, "nothing left to halve: no resend");
    assert!(elapsed < Duration::from_millis(400), "took {elapsed:?}");
}

#[test]
fn correct_table_agent_walks_completely_on_v1_and_v2c() {
    let rows_served = 50;
    for (version, var_binds) in [(Version::V1, 25), (Version::V2c, 25), (Version::V2c, 7), (Version::V2c, 1)]
    {
        let agent = FakeAgent::start(Behavior::Table { root: root(), rows: rows_served });
        let (response, _) = run_one(walk(&agent, version, "table"), budget(var_binds));
        let case = format!("{version:?} budget {var_binds}");
        assert_eq!(response.status, Status::Successful, "{case}: {:?}", response.errors);
        assert!(response.errors.is_empty(), "{case}");
        assert_eq!(lines(&response), rows(1..=rows_served), "{case}");
        let expected_pdus = match version {
            // GETNEXT, one column: one PDU per row, and the noSuchName that ends it.
            Version::V1 => rows_served as usize + 1,
            // GETBULK: ⌊rows / repetitions⌋ full PDUs, then one that reaches endOfMibView.
            Version::V2c | Version::V3 => (rows_served / var_binds) as usize + 1,
        };
        assert_eq!(agent.requests_seen(), expected_pdus, "{case}");
    }
}

#[test]
fn silent_agent_times_out_after_the_retries() {
    let agent = FakeAgent::start(Behavior::Silent);
    let config = Config::new().timeout(Duration::from_millis(200)).unwrap().retries(1).unwrap();
    let request = Request::get(agent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
        .req_id("silent")
        .build()
        .unwrap();
    let (response, elapsed) = run_one(request, config);
    assert_eq!(response.status, Status::Failed);
    assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
    let error = &response.errors[0];
    assert_eq!(error.kind, ErrorKind::Timeout);
    assert!(error.message.contains(&agent.host()), "{}", error.message);
    assert!(error.message.contains("after 2 tries of 200ms each"), "{}", error.message);
    assert!(elapsed >= Duration::from_millis(400), "gave up early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(1000), "overran: {elapsed:?}");
    assert_eq!(agent.requests_seen(), 2, "the first try and one retry");
    assert_eq!(ResultBuffer::parse(&response.results).unwrap().record_count, 0);
}

#[test]
fn broken_and_silent_agents_do_not_delay_a_good_one() {
    let silent = FakeAgent::start(Behavior::Silent);
    let broken = FakeAgent::start(Behavior::NonIncreasing);
    let good = FakeAgent::start(Behavior::Table { root: root(), rows: 100 });
    let timeout = Duration::from_millis(300);
    let config = Config::new().timeout(timeout).unwrap().retries(1).unwrap();
    let sys_name = [oid("1.3.6.1.2.1.1.5.0")];
    // The silent one first, so it is in flight before the others start.
    let requests = vec![
        Request::get(silent.host(), community(Version::V2c), sys_name).req_id("silent").build().unwrap(),
        walk(&broken, Version::V2c, "broken"),
        walk(&good, Version::V2c, "good"),
    ];
    let responses = run_timed(requests, config);
    let [(silent_response, silent_at), (broken_response, broken_at), (good_response, good_at)] =
        <[_; 3]>::try_from(responses).unwrap();

    assert_eq!(good_response.status, Status::Successful, "{:?}", good_response.errors);
    assert_eq!(lines(&good_response), rows(1..=100));
    assert!(good_at < timeout / 2, "the good agent waited for the silent one: {good_at:?}");

    assert_one_non_increasing(&broken_response, &broken.host(), ROOT);
    assert!(broken_at < timeout / 2, "the broken agent waited for the silent one: {broken_at:?}");

    assert_eq!(silent_response.status, Status::Failed);
    assert_eq!(silent_response.errors.len(), 1);
    assert_eq!(silent_response.errors[0].kind, ErrorKind::Timeout);
    assert!(silent_at >= timeout * 2, "gave up early: {silent_at:?}");
    assert!(silent_at < timeout * 2 + Duration::from_millis(400), "overran: {silent_at:?}");
    assert_eq!(silent.requests_seen(), 2);
}

#[test]
fn errors_stay_per_request_when_many_broken_walks_run_together() {
    // Many requests to the same broken agents at once: each one still ends on its own.
    let looping = FakeAgent::start(Behavior::Loop { root: root() });
    let broken = FakeAgent::start(Behavior::NonIncreasing);
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.push(walk(&looping, Version::V2c, &format!("loop-{i}")));
        requests.push(walk(&broken, Version::V1, &format!("broken-{i}")));
    }
    let responses = run_timed(requests, budget(4));
    for (response, _) in &responses {
        let id = String::from_utf8_lossy(response.request.req_id().unwrap()).into_owned();
        assert_eq!(response.status, Status::DoneWithErrors, "{id}");
        assert_eq!(response.errors.len(), 1, "{id}");
        assert_eq!(response.errors[0].kind, ErrorKind::NonIncreasingOid, "{id}");
        let expected = if id.starts_with("loop") { rows(1..=3) } else { Vec::new() };
        assert_eq!(lines(response), expected, "{id}");
    }
    // Budget 4 on v2c: [1,2,3,1] in one PDU; v1: one GETNEXT.
    assert_eq!(looping.requests_seen(), 20);
    assert_eq!(broken.requests_seen(), 20);
}
