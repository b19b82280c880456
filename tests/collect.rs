//! GET and WALK against a real snmpd on loopback, checked against net-snmp's own tools.

mod common;

use std::time::{Duration, Instant};

use common::fake_agent::{Behavior, FakeAgent};
use common::snmpd::Snmpd;
use common::{community, lines, net_snmp, oid, run_until_idle, sorted};
use snmp_stream::{
    Community, Config, ErrorKind, OidRange, Request, ResultBuffer, SessionManager, Status, Version,
};

fn run(requests: Vec<Request>, config: Config) -> Vec<snmp_stream::Response> {
    let count = requests.len();
    let mut manager = SessionManager::new(config).unwrap();
    for request in requests {
        manager.add_request(request);
    }
    let responses = manager.run_all();
    assert_eq!(responses.len(), count, "every request yields exactly one response");
    assert!(manager.run().is_empty(), "an idle manager returns nothing");
    responses
}

fn run_one(request: Request) -> snmp_stream::Response {
    run(vec![request], Config::new()).pop().unwrap()
}

const SYSTEM_SCALARS: [&str; 6] = [
    "1.3.6.1.2.1.1.1.0",
    "1.3.6.1.2.1.1.2.0",
    "1.3.6.1.2.1.1.4.0",
    "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0",
    "1.3.6.1.2.1.1.7.0",
];

#[test]
fn get_system_group_v1_and_v2c_matches_snmpget() {
    let agent = Snmpd::start();
    let expected =
        net_snmp("snmpget", &[&["-v2c", "-c", "public", &agent.host()][..], &SYSTEM_SCALARS[..]].concat());
    assert_eq!(expected.len(), 6);
    for version in [Version::V1, Version::V2c] {
        let request = Request::get(agent.host(), community(version), SYSTEM_SCALARS.map(oid))
            .req_id(format!("system-{}", version.name()))
            .build()
            .unwrap();
        let response = run_one(request);
        assert_eq!(response.status, Status::Successful, "{version:?}: {:?}", response.errors);
        assert_eq!(lines(&response), expected, "{version:?}");
        let buffer = ResultBuffer::parse(&response.results).unwrap();
        assert_eq!(buffer.req_id, format!("system-{}", version.name()).as_bytes());
        // One PDU answered: all records share one receive time, within the request's elapsed
        // time after the start time (which is now, give or take the test's own run time).
        let start = std::time::SystemTime::UNIX_EPOCH + Duration::from_micros(buffer.start_us);
        assert!(start.elapsed().unwrap() < Duration::from_secs(60));
        let times: Vec<u32> = buffer.records().map(|r| r.unwrap().time_ms).collect();
        assert_eq!(times.len(), 6);
        assert!(times.iter().all(|&t| t == times[0]), "one PDU, one receive time: {times:?}");
        assert!(u128::from(times[0]) <= response.elapsed.as_millis(), "{times:?} vs {:?}", response.elapsed);
    }
}

#[test]
fn get_with_point_ranges_and_missing_instances() {
    let agent = Snmpd::start();
    // sysName.0, a missing sysName.7, and sysLocation.0 via the index range.
    let request =
        Request::get(agent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5"), oid("1.3.6.1.2.1.1.6")])
            .ranges([OidRange::point(oid("0")), OidRange::point(oid("7"))])
            .build()
            .unwrap();
    let response = run_one(request);
    assert_eq!(response.status, Status::DoneWithErrors);
    let got = lines(&response);
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].0, ".1.3.6.1.2.1.1.5.0");
    assert_eq!(got[1], (".1.3.6.1.2.1.1.5.7".into(), "No Such Instance currently exists at this OID".into()));
    assert_eq!(got[2].0, ".1.3.6.1.2.1.1.6.0");
    let warnings: Vec<_> = response.errors.iter().map(|e| (e.kind, e.err_oid.clone())).collect();
    assert_eq!(
        warnings,
        vec![
            (ErrorKind::ValueWarning, Some(oid("1.3.6.1.2.1.1.5.7"))),
            (ErrorKind::ValueWarning, Some(oid("1.3.6.1.2.1.1.6.7")))
        ]
    );

    // v1: the agent answers noSuchName for the whole PDU; only that varbind is lost.
    let v1 = Request::get(
        agent.host(),
        community(Version::V1),
        [oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.5.9"), oid("1.3.6.1.2.1.1.6.0")],
    )
    .build()
    .unwrap();
    let response = run_one(v1);
    assert_eq!(response.status, Status::DoneWithErrors, "{:?}", response.errors);
    let got = lines(&response);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().any(|(name, value)| name == ".1.3.6.1.2.1.1.6.0" && value.starts_with("Hex-STRING")));
    assert_eq!(response.errors.len(), 1);
    assert_eq!(response.errors[0].kind, ErrorKind::ValueWarning);
    assert_eq!(response.errors[0].err_stat, 2);
    assert_eq!(response.errors[0].err_oid, Some(oid("1.3.6.1.2.1.1.5.9")));
}

/// Subtrees whose values do not change while the tests run (installed packages, the
/// sysORTable, interface names and types).
const STATIC_SUBTREES: [&str; 4] =
    ["1.3.6.1.2.1.25.6.3", "1.3.6.1.2.1.1.9", "1.3.6.1.2.1.2.2.1.2", "1.3.6.1.2.1.2.2.1.3"];

#[test]
fn walk_matches_snmpbulkwalk_varbind_by_varbind() {
    let agent = Snmpd::start();
    let mut expected = Vec::new();
    for subtree in STATIC_SUBTREES {
        expected.extend(net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", "-Cr25", &agent.host(), subtree]));
    }
    assert!(expected.len() > 100, "the agent serves the installed-software table");
    for (version, budget) in [(Version::V2c, 25), (Version::V2c, 7), (Version::V1, 10)] {
        let request =
            Request::walk(agent.host(), community(version), STATIC_SUBTREES.map(oid)).build().unwrap();
        let config = Config::new().max_var_binds_per_pdu(budget).unwrap();
        let response = run(vec![request], config).pop().unwrap();
        assert_eq!(response.status, Status::Successful, "{version:?}: {:?}", response.errors);
        // Columns are interleaved in the buffer; sorted by OID they equal the walk.
        assert_eq!(sorted(lines(&response)), sorted(expected.clone()), "{version:?} budget {budget}");
    }
}

#[test]
fn walks_of_leaves_get_them_as_snmpwalk_does() {
    // sysName.0 and sysContact.0 have nothing under them: like snmpwalk, the walk falls back to
    // a GET of the root. A subtree that does not exist stays empty, without an error.
    let agent = Snmpd::start();
    let leaves = ["1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.4.0"];
    let mut expected = Vec::new();
    for leaf in leaves {
        let walked = net_snmp("snmpwalk", &["-v2c", "-c", "public", &agent.host(), leaf]);
        assert_eq!(walked.len(), 1, "snmpwalk gets the leaf: {walked:?}");
        expected.extend(walked);
    }
    for version in [Version::V1, Version::V2c] {
        let roots = [leaves[0], leaves[1], "1.3.6.1.2.1.1.99", "1.3.6.1.2.1.1.9.1.3"].map(oid);
        let response = run_one(Request::walk(agent.host(), community(version), roots).build().unwrap());
        assert_eq!(response.status, Status::Successful, "{version:?}: {:?}", response.errors);
        let got = lines(&response);
        // The two leaves, and the sysORDescr column, which is a walk as usual.
        let leaves_got: Vec<_> =
            got.iter().filter(|line| !line.0.starts_with(".1.3.6.1.2.1.1.9.")).cloned().collect();
        assert_eq!(sorted(leaves_got), sorted(expected.clone()), "{version:?}");
        assert!(got.len() > 2, "{version:?}: sysORDescr rows too: {got:?}");
        let buffer = ResultBuffer::parse(&response.results).unwrap();
        let empty_index = buffer.records().filter(|r| r.as_ref().unwrap().index().count() == 0).count();
        assert_eq!(empty_index, 2, "{version:?}: a leaf's record has an empty index");
    }
}

#[test]
fn walk_of_a_whole_mib2_subtree_has_the_same_oids_and_types() {
    let agent = Snmpd::start();
    // The interfaces and IP subtrees mix every SNMP type; counters may tick between the two
    // walks, so names and types are compared, and values where they are static.
    for subtree in ["1.3.6.1.2.1.2", "1.3.6.1.2.1.4", "1.3.6.1.2.1.31"] {
        let expected = net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", "-Cr25", &agent.host(), subtree]);
        let request = Request::walk(agent.host(), community(Version::V2c), [oid(subtree)]).build().unwrap();
        let response = run_one(request);
        assert_eq!(response.status, Status::Successful);
        let got = lines(&response);
        assert_eq!(got.len(), expected.len(), "{subtree}");
        for (ours, theirs) in got.iter().zip(&expected) {
            assert_eq!(ours.0, theirs.0);
            let kind = |v: &str| v.split(':').next().unwrap().to_owned();
            assert_eq!(kind(&ours.1), kind(&theirs.1), "{}", ours.0);
            if !theirs.1.starts_with("Counter")
                && !theirs.1.starts_with("Gauge")
                && !theirs.0.contains(".2.1.4.31")
            {
                assert_eq!(ours.1, theirs.1, "{}", ours.0);
            }
        }
    }
}

#[test]
fn ranges_restrict_a_walk() {
    let agent = Snmpd::start();
    let table = "1.3.6.1.2.1.25.6.3.1.2"; // hrSWInstalledName, indexed 1..N
    let all = net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &agent.host(), table]);
    assert!(all.len() >= 40);
    let in_range = |name: &str| {
        let index: u32 = name.rsplit('.').next().unwrap().parse().unwrap();
        (5..=9).contains(&index) || (20..=22).contains(&index)
    };
    let expected: Vec<_> = all.iter().filter(|(name, _)| in_range(name)).cloned().collect();
    let r = |a: &str, b: &str| OidRange::new(Some(oid(a)), Some(oid(b))).unwrap();
    let request = Request::walk(agent.host(), community(Version::V2c), [oid(table)])
        .ranges([r("20", "22"), r("5", "9")])
        .build()
        .unwrap();
    let response = run_one(request);
    assert_eq!(response.status, Status::Successful);
    // Each range is its own column, so their records interleave; sorted, they equal the walk.
    assert_eq!(sorted(lines(&response)), expected);
    // Open-ended ranges.
    let tail = Request::walk(agent.host(), community(Version::V2c), [oid(table)])
        .ranges([OidRange::new(Some(oid("30")), None).unwrap()])
        .build()
        .unwrap();
    let got = lines(&run_one(tail));
    let expected_tail: Vec<_> = all
        .iter()
        .filter(|(n, _)| n.rsplit('.').next().unwrap().parse::<u32>().unwrap() >= 30)
        .cloned()
        .collect();
    assert_eq!(got, expected_tail);
}

#[test]
fn ipv6_agent() {
    let agent = Snmpd::start();
    let expected = net_snmp("snmpget", &["-v2c", "-c", "public", &agent.host6(), "1.3.6.1.2.1.1.5.0"]);
    for host in [agent.host6(), format!("udp6:[::1]:{}", agent.port())] {
        let request =
            Request::get(host, community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")]).build().unwrap();
        let response = run_one(request);
        assert_eq!(response.status, Status::Successful, "{:?}", response.errors);
        assert_eq!(lines(&response), expected);
    }
    let walk =
        Request::walk(agent.host6(), community(Version::V2c), [oid("1.3.6.1.2.1.1.9")]).build().unwrap();
    assert_eq!(
        lines(&run_one(walk)).len(),
        net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &agent.host6(), "1.3.6.1.2.1.1.9"]).len()
    );
}

#[test]
fn tcp_agent() {
    let agent = Snmpd::start();
    let expected =
        net_snmp("snmpbulkwalk", &["-v2c", "-c", "public", &agent.host_tcp(), "1.3.6.1.2.1.25.6.3.1.2"]);
    for version in [Version::V2c, Version::V1] {
        let walk = Request::walk(agent.host_tcp(), community(version), [oid("1.3.6.1.2.1.25.6.3.1.2")])
            .build()
            .unwrap();
        let response = run_one(walk);
        assert_eq!(response.status, Status::Successful, "{version:?}: {:?}", response.errors);
        assert_eq!(lines(&response), expected, "{version:?}");
    }
}

#[test]
fn dead_agents_time_out_on_time_while_live_ones_complete() {
    let agent = Snmpd::start();
    // A host that never answers (a bound socket nobody reads: no ICMP error either).
    let silent = FakeAgent::start(Behavior::Silent);
    let timeout = Duration::from_millis(300);
    let retries = 2;
    let config = Config::new().timeout(timeout).unwrap().retries(retries).unwrap();
    let wrong_community = Community::new("not-the-community", Version::V2c).unwrap();
    let mut requests = vec![
        Request::walk(agent.host(), wrong_community, [oid("1.3.6.1.2.1.1")])
            .req_id("wrong-community")
            .build()
            .unwrap(),
        Request::get(silent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .req_id("silent-host")
            .build()
            .unwrap(),
    ];
    for i in 0..20 {
        requests.push(
            Request::walk(agent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.25.6.3.1.2")])
                .req_id(format!("live-{i}"))
                .build()
                .unwrap(),
        );
    }
    let started = Instant::now();
    let mut manager = SessionManager::new(config).unwrap();
    for request in requests {
        manager.add_request(request);
    }
    let finished = run_until_idle(&mut manager, started);
    assert_eq!(finished.len(), 22);
    let budget = timeout * (retries + 1);
    for (response, elapsed) in &finished {
        let id = String::from_utf8_lossy(response.request.req_id().unwrap()).into_owned();
        if id.starts_with("live") {
            assert_eq!(response.status, Status::Successful, "{id}");
            assert!(*elapsed < budget, "{id} waited for the dead agents: {elapsed:?}");
        } else {
            // The walk (v2c, unanswered) also tries one GETNEXT: the agent may drop GETBULK.
            let (budget, said) = match id.as_str() {
                "wrong-community" => (budget + timeout, "(3 tries of 300ms each) nor to one GETNEXT"),
                _ => (budget, "after 3 tries of 300ms each"),
            };
            assert_eq!(response.status, Status::Failed, "{id}");
            assert_eq!(response.errors.len(), 1);
            assert_eq!(response.errors[0].kind, ErrorKind::Timeout);
            assert!(response.errors[0].message.contains(said), "{}", response.errors[0].message);
            assert!(*elapsed >= budget, "{id} gave up early: {elapsed:?}");
            assert!(*elapsed < budget + Duration::from_millis(400), "{id} overran: {elapsed:?}");
            assert_eq!(ResultBuffer::parse(&response.results).unwrap().record_count, 0);
        }
        // The response's own account of its time: from its start to its end.
        assert!(response.elapsed <= *elapsed, "{id}: {:?} > {elapsed:?}", response.elapsed);
        if !id.starts_with("live") {
            assert!(response.elapsed >= budget, "{id}: {:?}", response.elapsed);
        }
    }
}

#[test]
fn a_deadline_ends_a_request_with_what_it_collected() {
    // A walk of MIB-2 one varbind per PDU, timed whole; then the same walk with a third of
    // that time as its deadline, and a silent host (5 s x 4 tries) with 200 ms. Both end at
    // their deadline, the walk with the records it had.
    let agent = Snmpd::start();
    let silent = FakeAgent::start(Behavior::Silent);
    let walk = |name: &str, limit: Duration| {
        let config = Config::new().deadline(limit).unwrap().max_var_binds_per_pdu(1).unwrap();
        Request::walk(agent.host(), community(Version::V2c), [oid("1.3.6.1.2.1")])
            .config(config)
            .req_id(name)
            .build()
            .unwrap()
    };
    let whole_started = Instant::now();
    let whole = run_one(walk("whole", Duration::from_secs(600)));
    let whole_took = whole_started.elapsed();
    assert_eq!(whole.status, Status::Successful, "{:?}", whole.errors);
    let limit = (whole_took / 3).max(Duration::from_millis(2));
    let get = Request::get(silent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
        .config(Config::new().deadline(Duration::from_millis(200)).unwrap())
        .req_id("silent")
        .build()
        .unwrap();
    let started = Instant::now();
    let mut manager = SessionManager::new(Config::new().timeout(Duration::from_secs(5)).unwrap()).unwrap();
    for request in [walk("cut", limit), get] {
        manager.add_request(request);
    }
    let mut finished = std::collections::HashMap::new();
    while !manager.is_idle() {
        for response in manager.run() {
            let name = String::from_utf8(response.request.req_id().unwrap().to_vec()).unwrap();
            finished.insert(name, (response, started.elapsed()));
        }
    }
    let (cut, cut_at) = &finished["cut"];
    assert_eq!(cut.status, Status::Failed, "{:?} (whole walk: {whole_took:?})", cut.errors);
    assert_eq!(cut.errors[0].kind, ErrorKind::Deadline);
    assert!(cut.errors[0].message.contains(&format!("deadline of {limit:?}")), "{}", cut.errors[0].message);
    let count =
        |response: &snmp_stream::Response| ResultBuffer::parse(&response.results).unwrap().record_count;
    assert!(0 < count(cut) && count(cut) < count(&whole), "{} of {} records kept", count(cut), count(&whole));
    assert!(*cut_at >= limit && *cut_at < limit + Duration::from_millis(300), "{cut_at:?} for {limit:?}");
    let (silent_response, silent_at) = &finished["silent"];
    assert_eq!(
        silent_response.errors[0].kind,
        ErrorKind::Deadline,
        "not a timeout: {:?}",
        silent_response.errors
    );
    assert!(
        *silent_at >= Duration::from_millis(200) && *silent_at < Duration::from_millis(700),
        "{silent_at:?}"
    );
}

#[test]
fn closed_ports_fail_at_once_as_unreachable() {
    // Nothing listens there: the kernel answers ICMP port unreachable, which ends the request
    // without waiting for its timeout (IPv4 and IPv6).
    let config = Config::new().timeout(Duration::from_secs(5)).unwrap().retries(3).unwrap();
    let port = common::closed_port();
    let hosts = [
        format!("127.0.0.1:{port}"),
        format!("udp6:[::1]:{port}"),
        // TCP: the connection is refused (RST), on the connector thread.
        format!("tcp:127.0.0.1:{port}"),
        format!("tcp6:[::1]:{port}"),
    ];
    let requests = hosts
        .iter()
        .map(|host| {
            Request::walk(host.as_str(), community(Version::V2c), [oid("1.3.6.1.2.1.1")]).build().unwrap()
        })
        .collect();
    let started = Instant::now();
    let responses = run(requests, config);
    assert!(started.elapsed() < Duration::from_secs(1), "waited {:?}", started.elapsed());
    for response in responses {
        assert_eq!(response.status, Status::Failed);
        assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
        assert_eq!(response.errors[0].kind, ErrorKind::Unreachable);
        assert_eq!(response.errors[0].sys_errno, libc::ECONNREFUSED);
        assert!(
            response.errors[0].message.contains("is unreachable: Connection refused"),
            "{}",
            response.errors[0]
        );
    }
}

#[test]
fn host_names_are_resolved_off_the_loop() {
    // "localhost" through the system resolver (/etc/hosts); names of a resolver of our own,
    // one of which takes 800 ms to answer: the 20 walks to the others finish long before it,
    // then it completes too. IPv6 and TCP through names, and a name that does not resolve.
    let agent = Snmpd::start();
    let port = agent.host().rsplit_once(':').unwrap().1.to_owned();
    let by_default = run_one(
        Request::get(format!("localhost:{port}"), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .build()
            .unwrap(),
    );
    assert_eq!(by_default.status, Status::Successful, "the system resolver: {:?}", by_default.errors);
    let mut manager = SessionManager::new(Config::new()).unwrap();
    manager.set_resolver(|name| match name {
        "fast.test" => Ok(vec!["127.0.0.1".parse().unwrap()]),
        "v6.test" => Ok(vec!["::1".parse().unwrap()]),
        "slow.test" => {
            std::thread::sleep(Duration::from_millis(800));
            Ok(vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()])
        }
        "localhost" => Ok(vec!["127.0.0.1".parse().unwrap()]),
        _ => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not in this test's zone")),
    });
    let get = |host: String| {
        Request::get(host.clone(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .req_id(host)
            .build()
            .unwrap()
    };
    // Also a slow lookup that outlasts its request's deadline: it ends with that deadline.
    manager.add_request(
        Request::get(format!("slow.test:{port}"), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .config(Config::new().deadline(Duration::from_millis(300)).unwrap())
            .req_id("overdue")
            .build()
            .unwrap(),
    );
    let mut hosts = vec![
        format!("slow.test:{port}"),
        format!("localhost:{port}"),
        format!("udp6:v6.test:{port}"),
        format!("tcp:fast.test:{port}"),
        format!("missing.test:{port}"),
    ];
    hosts.extend((0..20).map(|i| format!("fast.test:{port}#{i}")));
    let started = Instant::now();
    for host in &hosts {
        let host = host.split('#').next().unwrap().to_owned();
        manager.add_request(get(host));
    }
    let mut finished = run_until_idle(&mut manager, started);
    assert_eq!(finished.len(), hosts.len() + 1);
    let overdue_at = finished.iter().position(|(r, _)| r.request.req_id() == Some(&b"overdue"[..])).unwrap();
    let (overdue, _) = finished.remove(overdue_at);
    assert_eq!(overdue.errors[0].kind, ErrorKind::Deadline, "{:?}", overdue.errors);
    assert_eq!(ResultBuffer::parse(&overdue.results).unwrap().record_count, 0);
    let (slow, slow_at) = finished.iter().find(|(r, _)| r.request.host().starts_with("slow.test")).unwrap();
    assert!(*slow_at >= Duration::from_millis(800), "{slow_at:?}");
    assert!(slow.elapsed >= Duration::from_millis(800), "the lookup counts: {:?}", slow.elapsed);
    for (response, at) in &finished {
        let host = response.request.host();
        if host.starts_with("missing.test") {
            assert_eq!(response.errors[0].kind, ErrorKind::SessionError);
            assert!(
                response.errors[0].message.contains("cannot resolve missing.test"),
                "{:?}",
                response.errors
            );
            continue;
        }
        assert_eq!(response.status, Status::Successful, "{host}: {:?}", response.errors);
        assert_eq!(lines(response)[0].0, ".1.3.6.1.2.1.1.5.0");
        if !host.starts_with("slow.test") {
            assert!(*at < Duration::from_millis(600), "{host} waited for the slow lookup: {at:?}");
        }
    }
}

#[test]
fn unresolvable_host_is_a_structured_session_error() {
    // A name with an empty label: the resolver refuses it without sending a DNS query, so the
    // test sends nothing beyond loopback (a plain unknown name would go to the nameserver).
    let name = "no-such-host..invalid".to_owned();
    let request = Request::get(format!("{name}:161"), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
        .req_id("nohost")
        .build()
        .unwrap();
    let response = run_one(request);
    assert_eq!(response.status, Status::Failed);
    assert_eq!(response.errors[0].kind, ErrorKind::SessionError);
    assert!(response.errors[0].message.contains(&name), "{}", response.errors[0].message);
    let buffer = ResultBuffer::parse(&response.results).unwrap();
    assert_eq!((buffer.req_id, buffer.record_count), (&b"nohost"[..], 0));
}

#[test]
fn numeric_looking_hosts_that_are_not_addresses_go_to_the_resolver_threads() {
    // net-snmp would resolve these on the loop thread; here a resolver that takes 800 ms for
    // each (as a slow DNS server would) must hold up only them.
    let agent = Snmpd::start();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut manager = SessionManager::new(Config::new()).unwrap();
    let seen = asked.clone();
    manager.set_resolver(move |name| {
        seen.lock().unwrap().push(name.to_owned());
        std::thread::sleep(Duration::from_millis(800));
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, "not an address, not a name"))
    });
    let odd = ["300.1.1.1:161", "1.2.3.4.5", "udp:123-456:161"];
    for host in odd {
        manager.add_request(
            Request::get(host, community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
                .req_id(host)
                .build()
                .unwrap(),
        );
    }
    for i in 0..10 {
        manager.add_request(
            Request::get(agent.host(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
                .req_id(format!("live-{i}"))
                .build()
                .unwrap(),
        );
    }
    let started = Instant::now();
    let finished = run_until_idle(&mut manager, started);
    assert_eq!(finished.len(), 13);
    for (response, at) in &finished {
        if response.request.host() == agent.host() {
            assert_eq!(response.status, Status::Successful, "{:?}", response.errors);
            assert!(*at < Duration::from_millis(500), "a live request waited for a lookup: {at:?}");
        } else {
            assert_eq!(response.errors[0].kind, ErrorKind::SessionError, "{:?}", response.errors);
            assert!(response.errors[0].message.contains("cannot resolve"), "{:?}", response.errors);
        }
    }
    let mut asked = asked.lock().unwrap().clone();
    asked.sort();
    assert_eq!(asked, ["1.2.3.4.5", "123-456", "300.1.1.1"]);
}

#[test]
fn agents_that_drop_getbulk_are_walked_with_getnext() {
    // A relay in front of the real snmpd drops every GETBULK, as some embedded agents and
    // firewalls do; snmpwalk (GETNEXT) gets the table through it.
    let agent = Snmpd::start();
    let relay = common::proxy::BulkDroppingRelay::start(agent.host().parse().unwrap());
    let subtree = "1.3.6.1.2.1.25.6.3.1.2";
    let expected = net_snmp("snmpwalk", &["-v2c", "-c", "public", &relay.host(), subtree]);
    assert!(expected.len() > 50);
    assert_eq!(relay.dropped(), 0);
    let (timeout, retries) = (Duration::from_millis(200), 1);
    let config = Config::new().timeout(timeout).unwrap().retries(retries).unwrap();
    let walk = |config: Config| {
        Request::walk(relay.host(), community(Version::V2c), [oid(subtree)]).config(config).build().unwrap()
    };
    let mut manager = SessionManager::new(config).unwrap();
    manager.add_request(walk(Config::new()));
    let started = Instant::now();
    let first = manager.run_all().pop().unwrap();
    let took = started.elapsed();
    assert_eq!(first.status, Status::DoneWithErrors, "{:?}", first.errors);
    assert_eq!(lines(&first), expected, "the whole table, with GETNEXT");
    assert_eq!(first.errors.len(), 1);
    assert_eq!(first.errors[0].kind, ErrorKind::BulkFallback);
    assert!(
        first.errors[0].message.contains("did not answer GETBULK (2 tries of 200ms each)"),
        "{:?}",
        first.errors
    );
    assert_eq!(relay.dropped(), 2, "the GETBULK's two tries, then GETNEXT only");
    assert!(took >= timeout * 2 && took < timeout * 2 + Duration::from_secs(2), "{took:?}");

    // The engine remembers the agent: the next walk starts with GETNEXT at once (no GETBULK
    // reaches the relay).
    manager.add_request(walk(Config::new()));
    let second = manager.run_all().pop().unwrap();
    assert_eq!(lines(&second), expected);
    assert_eq!(second.errors[0].kind, ErrorKind::BulkFallback);
    assert_eq!(relay.dropped(), 2);

    // Forced modes: GETBULK only times out; GETNEXT only is clean.
    let forced = Config::new().walk_mode(snmp_stream::WalkMode::GetBulk);
    manager.add_request(walk(forced));
    let bulk_only = manager.run_all().pop().unwrap();
    assert_eq!(bulk_only.status, Status::Failed);
    assert_eq!(bulk_only.errors[0].kind, ErrorKind::Timeout);
    assert_eq!(relay.dropped(), 4);
    manager.add_request(walk(Config::new().walk_mode(snmp_stream::WalkMode::GetNext)));
    let next_only = manager.run_all().pop().unwrap();
    assert_eq!((next_only.status, lines(&next_only)), (Status::Successful, expected));

    // A dead agent costs one extra single try, not a second timeout cycle.
    let silent = FakeAgent::start(Behavior::Silent);
    let dead = Request::walk(silent.host(), community(Version::V2c), [oid(subtree)]).build().unwrap();
    let started = Instant::now();
    let response = run(vec![dead], config).pop().unwrap();
    let took = started.elapsed();
    assert_eq!(response.errors[0].kind, ErrorKind::Timeout);
    assert!(response.errors[0].message.contains("nor to one GETNEXT"), "{:?}", response.errors);
    assert_eq!(silent.requests_seen(), 3, "two GETBULK tries and one GETNEXT");
    assert!(took >= timeout * 3 && took < timeout * 3 + Duration::from_millis(400), "{took:?}");
}

#[test]
fn a_black_holed_tcp_agent_costs_only_its_own_request() {
    // A listener whose accept queue is full drops further SYNs: connecting to it blocks, as to
    // an agent behind a firewall that drops packets. The UDP and TCP requests to the real
    // snmpd beside it finish at once; the black-holed one gives up after timeout × tries.
    let agent = Snmpd::start();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    while queued.len() < 2000 {
        match std::net::TcpStream::connect_timeout(&address, Duration::from_millis(100)) {
            Ok(stream) => queued.push(stream),
            Err(_) => break, // the queue is full: SYNs are dropped now
        }
    }
    assert!(queued.len() < 2000, "the accept queue never filled");
    let (timeout, retries) = (Duration::from_millis(300), 1);
    let config = Config::new().timeout(timeout).unwrap().retries(retries).unwrap();
    let get = |host: String| {
        Request::get(host.clone(), community(Version::V2c), [oid("1.3.6.1.2.1.1.5.0")])
            .req_id(host)
            .build()
            .unwrap()
    };
    let hole = format!("tcp:{address}");
    let mut manager = SessionManager::new(config).unwrap();
    manager.add_request(get(hole.clone()));
    for host in [agent.host(), agent.host_tcp(), agent.host6()] {
        manager.add_request(get(host));
    }
    let started = Instant::now();
    let finished = run_until_idle(&mut manager, started);
    assert_eq!(finished.len(), 4);
    for (response, at) in &finished {
        if response.request.host() == hole {
            assert_eq!(response.status, Status::Failed);
            assert_eq!(response.errors[0].kind, ErrorKind::Timeout, "{:?}", response.errors);
            assert!(response.errors[0].message.contains("no TCP connection to"), "{:?}", response.errors);
            assert_eq!(response.errors[0].sys_errno, libc::ETIMEDOUT);
            assert!(*at >= timeout * 2 && *at < timeout * 2 + Duration::from_secs(1), "{at:?}");
        } else {
            assert_eq!(
                response.status,
                Status::Successful,
                "{}: {:?}",
                response.request.host(),
                response.errors
            );
            assert!(*at < timeout, "{} waited for the black hole: {at:?}", response.request.host());
        }
    }
    drop(listener);
}
