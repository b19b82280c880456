//! The benchmarks' simulated agent fleet (bench/simagent, issue 15) answers as snmpd does: a view
//! recorded from a real snmpd is served by the fleet, and snmp-stream's walks and gets and
//! net-snmp's own tools get the same varbinds from both; the synthetic table decodes the same in
//! net-snmp's tools and in snmp-stream. So a benchmark on the fleet measures the same work as one
//! on snmpd.

#[path = "../bench/simagent/sim.rs"]
mod sim;

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::snmpd::Snmpd;
use common::{community, lines, net_snmp, oid, run_until_idle, Line};
use sim::{Behaviour, FleetConfig, Server, Table};
use snmp_stream::{Config, ErrorKind, Request, Response, SessionManager, Status, Version};

/// Subtrees whose values do not change while the test runs (no counters, no uptimes).
const STABLE_ROOTS: [&str; 10] = [
    "1.3.6.1.2.1.1.1",        // sysDescr
    "1.3.6.1.2.1.1.2",        // sysObjectID
    "1.3.6.1.2.1.1.4",        // sysContact
    "1.3.6.1.2.1.1.5",        // sysName
    "1.3.6.1.2.1.2.2.1.2",    // ifDescr
    "1.3.6.1.2.1.2.2.1.3",    // ifType
    "1.3.6.1.2.1.2.2.1.4",    // ifMtu
    "1.3.6.1.2.1.2.2.1.6",    // ifPhysAddress
    "1.3.6.1.2.1.31.1.1.1.1", // ifName
    "1.3.6.1.2.1.25.6.3.1.2", // hrSWInstalledName: one row per installed package, many PDUs
];

fn fleet(table: Table, agents: usize, silent: usize) -> Server {
    let config = FleetConfig {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        first_port: 0,
        agents,
        silent,
        delayed: 0,
        delay: Duration::ZERO,
        threads: 2,
    };
    Server::start(Arc::new(table), Behaviour::default(), &config).expect("bind the fleet")
}

fn host(server: &Server, agent: u16) -> String {
    format!("127.0.0.1:{}", server.first_port + agent)
}

fn run(requests: Vec<Request>, config: Config) -> Vec<Response> {
    let mut manager = SessionManager::new(config).unwrap();
    for request in requests {
        manager.add_request(request);
    }
    let mut responses: Vec<Response> =
        run_until_idle(&mut manager, std::time::Instant::now()).into_iter().map(|(r, _)| r).collect();
    responses.sort_by(|a, b| a.request.req_id().cmp(&b.request.req_id()));
    responses
}

/// Asserts equal line lists, reporting the first difference (not thousands of lines).
fn assert_same(got: &[Line], expected: &[Line], what: &str) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "{what}: {} lines against {} expected; first difference at {i}: {:?} against {:?}",
            got.len(),
            expected.len(),
            got.get(i),
            expected.get(i)
        );
    }
}

fn walk(host: &str, version: Version, roots: &[&str], budget: u32) -> (Status, Vec<Line>) {
    let request =
        Request::walk(host, community(version), roots.iter().map(|r| oid(r))).req_id("walk").build().unwrap();
    let config = Config::new().max_var_binds_per_pdu(budget).unwrap();
    let response = run(vec![request], config).pop().unwrap();
    (response.status, lines(&response))
}

#[test]
fn a_view_recorded_from_snmpd_is_answered_as_snmpd_answers_it() {
    let agent = Snmpd::start();
    let roots: Vec<_> = STABLE_ROOTS.iter().map(|r| oid(r)).collect();
    let recorded = sim::record(&agent.host(), &roots).unwrap();
    assert!(recorded.len() > 50, "the view is big enough for many PDUs: {}", recorded.len());
    let server = fleet(Table::new(recorded), 3, 0);

    // snmp-stream's walks: GETBULK (several budgets) and GETNEXT (v1), varbind by varbind.
    for (version, budget) in [(Version::V2c, 7), (Version::V2c, 100), (Version::V1, 1)] {
        let expected = walk(&agent.host(), version, &STABLE_ROOTS, budget);
        let answered = walk(&host(&server, 1), version, &STABLE_ROOTS, budget);
        assert_eq!(expected.0, Status::Successful);
        assert_eq!(answered.0, expected.0, "{version:?}, budget {budget}");
        assert_same(&answered.1, &expected.1, &format!("{version:?}, budget {budget}"));
    }

    // net-snmp's own tools (an independent BER decoder) see the same.
    for root in ["1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.25.6.3.1.2"] {
        let tool = |host: &str| net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", "-Cr9", host, root]);
        let expected: Vec<Line> = tool(&agent.host())
            .into_iter()
            .filter(|(name, _)| STABLE_ROOTS.iter().any(|r| name.starts_with(&format!(".{r}."))))
            .collect();
        assert!(!expected.is_empty());
        assert_same(&tool(&host(&server, 2)), &expected, &format!("snmpbulkwalk {root}"));
    }
    let bulk = |host: &str| {
        net_snmp(
            "snmpbulkget",
            &[
                "-v2c",
                "-c",
                "public",
                "-Cn1",
                "-Cr2",
                host,
                "1.3.6.1.2.1.1.4",
                "1.3.6.1.2.1.2.2.1.2",
                "1.3.6.1.2.1.2.2.1.3",
            ],
        )
    };
    assert_eq!(bulk(&host(&server, 0)), bulk(&agent.host()), "GETBULK with a non-repeater and two repeaters");
    let get_args =
        ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.2.2.1.2.1", "1.3.6.1.2.1.2.2.1.2.9999", "1.3.6.1.2.1.2.2.1.9"];
    let get =
        |host: &str| net_snmp("snmpget", &[&["-v2c", "-c", "public", host][..], &get_args[..]].concat());
    assert_eq!(
        get(&host(&server, 0)),
        get(&agent.host()),
        "GET, with a missing instance and a missing object"
    );

    // GETs through snmp-stream, v1 and v2c, with a missing OID: the same varbinds and errors.
    for version in [Version::V1, Version::V2c] {
        let responses: Vec<Response> = [agent.host(), host(&server, 0)]
            .iter()
            .map(|h| {
                let request = Request::get(h.as_str(), community(version), get_args.iter().map(|o| oid(o)))
                    .build()
                    .unwrap();
                run(vec![request], Config::new()).pop().unwrap()
            })
            .collect();
        assert_eq!(lines(&responses[1]), lines(&responses[0]), "{version:?} GET");
        assert_eq!(responses[1].status, responses[0].status, "{version:?} GET");
        let kinds = |r: &Response| r.errors.iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&responses[1]), kinds(&responses[0]), "{version:?} GET");
    }
    assert!(server.stats.requests.load(Ordering::Relaxed) > 20);
    assert_eq!(server.stats.dropped.load(Ordering::Relaxed), 0);
}

#[test]
fn the_synthetic_table_decodes_the_same_in_net_snmp_and_snmp_stream() {
    let rows = 500;
    let server = fleet(Table::synthetic_interfaces(rows), 1, 0);
    let (status, walked) = walk(&host(&server, 0), Version::V2c, &["1.3.6.1.2.1"], 25);
    assert_eq!(status, Status::Successful);
    assert_eq!(walked.len(), rows as usize * 10 + 1, "10 columns per row and sysName");
    let mut expected =
        net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", "-Cr50", &host(&server, 0), "1.3.6.1.2.1"]);
    let end = expected.pop().expect("lines");
    assert!(
        end.1.starts_with("No more variables left in this MIB View"),
        "the walk ends at the view's end: {end:?}"
    );
    assert_same(&walked, &expected, "snmpbulkwalk of the synthetic table");
    let types: std::collections::BTreeSet<_> =
        walked.iter().map(|(_, value)| value.split(':').next().unwrap().to_owned()).collect();
    for kind in ["Counter32", "Counter64", "Gauge32", "Hex-STRING", "INTEGER"] {
        assert!(types.contains(kind), "{kind} in {types:?}");
    }
    // One GETBULK per 25 (snmp-stream) or 50 (snmpbulkwalk) varbinds: the last PDU holds the
    // 5001st varbind and endOfMibView, which ends both walks.
    assert_eq!(
        server.stats.requests.load(Ordering::Relaxed),
        5001usize.div_ceil(25) as u64 + 5001usize.div_ceil(50) as u64
    );
}

#[test]
fn silent_agents_and_wrong_communities_get_no_answer() {
    let server = fleet(Table::synthetic_interfaces(10), 4, 2);
    let config = Config::new().timeout(Duration::from_millis(300)).unwrap().retries(0).unwrap();
    let requests: Vec<Request> = (0..4u16)
        .map(|agent| {
            Request::walk(host(&server, agent), community(Version::V2c), [oid("1.3.6.1.2.1.2.2.1.2")])
                .req_id(format!("{agent}"))
                .build()
                .unwrap()
        })
        .chain(std::iter::once(
            Request::get(
                host(&server, 0),
                snmp_stream::Community::new("private", Version::V2c).unwrap(),
                [oid("1.3.6.1.2.1.1.5.0")],
            )
            .req_id("wrong-community")
            .build()
            .unwrap(),
        ))
        .collect();
    let responses = run(requests, config);
    let outcome: Vec<(String, Status)> = responses
        .iter()
        .map(|r| (String::from_utf8_lossy(r.request.req_id().unwrap_or_default()).into_owned(), r.status))
        .collect();
    assert_eq!(
        outcome,
        [
            ("0".to_owned(), Status::Successful),
            ("1".to_owned(), Status::Successful),
            ("2".to_owned(), Status::Failed),
            ("3".to_owned(), Status::Failed),
            ("wrong-community".to_owned(), Status::Failed),
        ]
    );
    assert_eq!(responses[0].errors.len(), 0);
    assert!(responses[2].errors.iter().all(|e| e.kind == ErrorKind::Timeout));
    // Walks in walk_mode auto try GETNEXT after a GETBULK timeout: two requests per silent walk.
    assert_eq!(server.stats.dropped.load(Ordering::Relaxed), 5, "two silent walks and one wrong community");
}

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// Issue 15: 50,000 requests in flight in one process, half to agents that answer a second
/// late, half to silent ones; each gets exactly one response, and a request in flight costs
/// at most 4 KiB.
#[test]
fn fifty_thousand_requests_in_flight_get_one_response_each() {
    let config = FleetConfig {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        first_port: 0,
        agents: 1000,
        silent: 500,
        delayed: 500,
        delay: Duration::from_millis(1000),
        threads: 2,
    };
    let server =
        Server::start(Arc::new(Table::synthetic_interfaces(1)), Behaviour::default(), &config).unwrap();
    let count = 50_000u32;
    let config = Config::new()
        .max_sessions(count)
        .unwrap()
        .timeout(Duration::from_secs(3))
        .unwrap()
        .retries(0)
        .unwrap();
    let mut manager = SessionManager::new(config).unwrap();
    for i in 0..count {
        let agent = (i % 1000) as u16; // 0..500 answer late, 500..1000 are silent
        let request = Request::get(host(&server, agent), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .req_id(i.to_string())
            .build()
            .unwrap();
        manager.add_request(request);
    }
    let before = rss_kib();
    let first = manager.run(); // everything is admitted, then the first late answers come
    let during = rss_kib();
    assert_eq!(manager.in_flight() + first.len(), count as usize, "all 50,000 were in flight at once");
    let per_request = (during - before) as f64 / f64::from(count);
    assert!(per_request <= 4.0, "{per_request:.2} KiB per request in flight");
    let mut responses = first;
    responses.extend(manager.run_all());
    let mut seen = vec![0u8; count as usize];
    let (mut answered, mut timed_out) = (0, 0);
    for response in &responses {
        let id: usize = std::str::from_utf8(response.request.req_id().unwrap()).unwrap().parse().unwrap();
        seen[id] += 1;
        match (id % 1000 < 500, response.status) {
            (true, Status::Successful) => answered += 1,
            (false, Status::Failed) if response.errors.iter().all(|e| e.kind == ErrorKind::Timeout) => {
                timed_out += 1
            }
            other => panic!("request {id}: {other:?} {:?}", response.errors),
        }
    }
    assert!(seen.iter().all(|&n| n == 1), "exactly one response each");
    assert_eq!((answered, timed_out), (25_000, 25_000));
}
