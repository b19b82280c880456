//! Verifies the fake SNMP agent fixture (tests/common/fake_agent.rs) against
//! net-snmp's own command-line tools (snmpget, snmpwalk, snmpbulkwalk,
//! snmpbulkget from Debian's `snmp` package), plus a few raw-UDP checks of the
//! BER codec and of its robustness against malformed datagrams.
//!
//! All traffic goes to 127.0.0.1.

#[path = "common/fake_agent.rs"]
mod fake_agent;

use fake_agent::{Behavior, FakeAgent};
use std::io::Read;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const ROOT: &str = "1.3.6.1.4.1.99999.1";

fn root() -> Vec<u32> {
    vec![1, 3, 6, 1, 4, 1, 99999, 1]
}

// ---------------------------------------------------------------------------
// Running net-snmp tools
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct ToolOutput {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs a net-snmp tool with a hard wall-clock limit (a misbehaving agent must
/// not be able to hang the test suite).
fn run_tool(program: &str, args: &[&str]) -> ToolOutput {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} (install Debian's `snmp` package): {e}"));
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} {args:?} did not finish within 10 s");
        }
        thread::sleep(Duration::from_millis(5));
    };
    ToolOutput {
        success: status.success(),
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    }
}

/// `tool -vVERSION -c public -On -t 1 -r 0 [extra...] HOST [oids...]`
fn snmp(tool: &str, version: &str, agent: &FakeAgent, extra: &[&str], oids: &[&str]) -> ToolOutput {
    let host = agent.host();
    let mut args = vec![version, "-c", "public", "-On", "-t", "1", "-r", "0"];
    args.extend_from_slice(extra);
    args.push(&host);
    args.extend_from_slice(oids);
    run_tool(tool, &args)
}

fn integer_line(oid: &str, i: u32) -> String {
    format!(".{oid}.{i} = INTEGER: {i}")
}

/// The 50 lines of the table, then the line net-snmp prints for the closing
/// endOfMibView (the table is the whole MIB view of the fake agent).
fn expected_v2c_walk(rows: u32) -> String {
    let mut lines: Vec<String> = (1..=rows).map(|i| integer_line(ROOT, i)).collect();
    lines.push(format!(
        ".{ROOT}.{rows} = No more variables left in this MIB View (It is past the end of the MIB tree)"
    ));
    lines.join("\n") + "\n"
}

fn integer_lines(stdout: &str) -> usize {
    stdout.lines().filter(|l| l.contains("= INTEGER: ")).count()
}

// ---------------------------------------------------------------------------
// Table
// ---------------------------------------------------------------------------

#[test]
fn table_snmpbulkwalk_v2c_returns_every_row() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let out = snmp("snmpbulkwalk", "-v2c", &agent, &["-Cr10"], &[ROOT]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected_v2c_walk(50));
    assert_eq!(integer_lines(&out.stdout), 50);
    assert_eq!(out.stderr, "");
    // 5 full pages of 10 rows, then at least the page carrying endOfMibView.
    assert!(agent.requests_seen() >= 6, "{}", agent.requests_seen());

    // One page larger than the whole table: a response over 255 bytes, so
    // the agent must use 0x82 long-form lengths; and the degenerate -Cr1.
    for reps in ["-Cr60", "-Cr1"] {
        let out = snmp("snmpbulkwalk", "-v2c", &agent, &[reps], &[ROOT]);
        assert!(out.success, "{reps}: {out:?}");
        assert_eq!(out.stdout, expected_v2c_walk(50), "{reps}");
    }
}

#[test]
fn table_snmpwalk_v1_uses_getnext_and_ends_on_nosuchname() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let out = snmp("snmpwalk", "-v1", &agent, &[], &[ROOT]);
    assert!(out.success, "{out:?}");
    let mut expected: Vec<String> = (1..=50).map(|i| integer_line(ROOT, i)).collect();
    // snmpwalk's rendering of the v1 noSuchName answer to the last GETNEXT.
    expected.push("End of MIB".to_string());
    assert_eq!(out.stdout, expected.join("\n") + "\n");
    assert_eq!(out.stderr, "");
    // One GETNEXT per row plus the one that hits the end.
    assert_eq!(agent.requests_seen(), 51);
}

#[test]
fn table_snmpwalk_v2c_ends_on_end_of_mib_view() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let out = snmp("snmpwalk", "-v2c", &agent, &[], &[ROOT]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected_v2c_walk(50));
    assert_eq!(out.stderr, "");
}

#[test]
fn table_walk_of_unusual_oids() {
    // First arc 2 with a second arc >= 40 (multi-byte first sub-identifier),
    // a sub-identifier of u32::MAX and one of 0.
    let agent = FakeAgent::start(Behavior::Table { root: vec![2, 999, u32::MAX, 0], rows: 3 });
    let expected = ".2.999.4294967295.0.1 = INTEGER: 1\n\
                    .2.999.4294967295.0.2 = INTEGER: 2\n\
                    .2.999.4294967295.0.3 = INTEGER: 3\n\
                    .2.999.4294967295.0.3 = No more variables left in this MIB View \
                    (It is past the end of the MIB tree)\n";
    let out = snmp("snmpwalk", "-v2c", &agent, &[], &["2.999"]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected);
    let out = snmp("snmpbulkwalk", "-v2c", &agent, &["-Cr2"], &["2"]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected);
    // Walking a subtree that sorts after the table: nothing there.
    let out = snmp("snmpwalk", "-v1", &agent, &[], &["2.1000"]);
    assert_eq!(integer_lines(&out.stdout), 0, "{out:?}");
}

#[test]
fn table_snmpget_v2c_existing_and_missing_instances() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let (r7, r50, r51, r0) =
        (format!("{ROOT}.7"), format!("{ROOT}.50"), format!("{ROOT}.51"), format!("{ROOT}.0"));
    let out = snmp("snmpget", "-v2c", &agent, &[], &[&r7, &r50, &r51, &r0, ROOT]);
    assert!(out.success, "{out:?}");
    let missing = "No Such Instance currently exists at this OID";
    assert_eq!(
        out.stdout,
        format!(
            ".{ROOT}.7 = INTEGER: 7\n\
             .{ROOT}.50 = INTEGER: 50\n\
             .{ROOT}.51 = {missing}\n\
             .{ROOT}.0 = {missing}\n\
             .{ROOT} = {missing}\n"
        )
    );
    assert_eq!(agent.requests_seen(), 1);
}

#[test]
fn table_snmpget_v1_missing_instance_is_nosuchname_with_index() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let (r7, r51) = (format!("{ROOT}.7"), format!("{ROOT}.51"));

    let out = snmp("snmpget", "-v1", &agent, &[], &[&r7]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, format!(".{ROOT}.7 = INTEGER: 7\n"));

    // -Cf: don't let snmpget "fix" the PDU and retry; error-index = 2
    // must make net-snmp blame the second varbind.
    let out = snmp("snmpget", "-v1", &agent, &["-Cf"], &[&r7, &r51]);
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("(noSuchName)"), "{out:?}");
    assert!(out.stderr.contains(&format!("Failed object: .{ROOT}.51\n")), "{out:?}");
}

#[test]
fn table_snmpbulkget_is_row_major_with_non_repeaters() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let (r5, r10, r48) = (format!("{ROOT}.5"), format!("{ROOT}.10"), format!("{ROOT}.48"));
    let out = snmp("snmpbulkget", "-v2c", &agent, &["-Cn1", "-Cr3"], &[&r5, &r10, &r48]);
    assert!(out.success, "{out:?}");
    let end = "No more variables left in this MIB View (It is past the end of the MIB tree)";
    assert_eq!(
        out.stdout,
        format!(
            ".{ROOT}.6 = INTEGER: 6\n\
             .{ROOT}.11 = INTEGER: 11\n\
             .{ROOT}.49 = INTEGER: 49\n\
             .{ROOT}.12 = INTEGER: 12\n\
             .{ROOT}.50 = INTEGER: 50\n\
             .{ROOT}.13 = INTEGER: 13\n\
             .{ROOT}.50 = {end}\n"
        )
    );
}

// ---------------------------------------------------------------------------
// Broken agents
// ---------------------------------------------------------------------------

#[test]
fn too_big_above_limit() {
    let agent = FakeAgent::start(Behavior::TooBigAbove { root: root(), rows: 50, limit: 5 });
    for reps in ["-Cr10", "-Cr6"] {
        let out = snmp("snmpbulkwalk", "-v2c", &agent, &[reps], &[ROOT]);
        assert!(!out.success, "{reps}: {out:?}");
        assert!(out.stderr.contains("(tooBig)"), "{reps}: {out:?}");
        assert_eq!(integer_lines(&out.stdout), 0, "{reps}: {out:?}");
    }
    for reps in ["-Cr5", "-Cr1"] {
        let out = snmp("snmpbulkwalk", "-v2c", &agent, &[reps], &[ROOT]);
        assert!(out.success, "{reps}: {out:?}");
        assert_eq!(out.stdout, expected_v2c_walk(50), "{reps}");
    }
    // GETNEXT is unaffected.
    let out = snmp("snmpwalk", "-v2c", &agent, &[], &[ROOT]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected_v2c_walk(50));
}

#[test]
fn non_increasing_agent_is_detected() {
    let agent = FakeAgent::start(Behavior::NonIncreasing);
    for tool in ["snmpwalk", "snmpbulkwalk"] {
        let out = snmp(tool, "-v2c", &agent, &[], &[ROOT]);
        assert!(!out.success, "{tool}: {out:?}");
        assert!(out.stderr.contains("OID not increasing"), "{tool}: {out:?}");
        assert!(out.stdout.starts_with(&format!(".{ROOT} = INTEGER: 1\n")), "{tool}: {out:?}");
    }
    let out = snmp("snmpwalk", "-v1", &agent, &[], &[ROOT]);
    assert!(out.stderr.contains("OID not increasing"), "{out:?}");
}

#[test]
fn looping_agent_is_detected() {
    let agent = FakeAgent::start(Behavior::Loop { root: root() });
    let out = snmp("snmpbulkwalk", "-v2c", &agent, &["-Cr10"], &[ROOT]);
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("OID not increasing"), "{out:?}");
    let first: Vec<&str> = out.stdout.lines().take(4).collect();
    assert_eq!(first, [1, 2, 3, 1].map(|i| integer_line(ROOT, i)), "{out:?}");

    let out = snmp("snmpwalk", "-v2c", &agent, &[], &[ROOT]);
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains(&format!("OID not increasing: .{ROOT}.3\n >= .{ROOT}.1")), "{out:?}");
    assert_eq!(out.stdout.lines().count(), 4, "{out:?}");
}

#[test]
fn silent_agent_times_out_but_counts_requests() {
    let agent = FakeAgent::start(Behavior::Silent);
    let host = agent.host();
    let oid = format!("{ROOT}.1");
    let started = Instant::now();
    let out = run_tool("snmpget", &["-v2c", "-c", "public", "-t", "0.3", "-r", "0", &host, &oid]);
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("Timeout: No Response"), "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(agent.requests_seen() >= 1);
}

#[test]
fn drop_stops_the_agent_promptly() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 1 });
    let port = agent.port();
    assert_eq!(agent.host(), format!("127.0.0.1:{port}"));
    let started = Instant::now();
    drop(agent);
    assert!(started.elapsed() < Duration::from_millis(500));
    // The socket is closed: the port can be bound again. (Retry a little: a
    // process spawned meanwhile by a concurrent test may hold an inherited
    // copy of the descriptor for a few ms, until its exec closes it.)
    let deadline = Instant::now() + Duration::from_secs(1);
    while let Err(e) = UdpSocket::bind(("127.0.0.1", port)) {
        assert!(Instant::now() < deadline, "port {port} still in use: {e}");
        thread::sleep(Duration::from_millis(5));
    }
}

// ---------------------------------------------------------------------------
// Raw BER checks (independent of net-snmp's decoder)
// ---------------------------------------------------------------------------

/// Minimal-length TLV (test-side encoder, deliberately tiny).
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// OID 1.3.6.1.4.1.99999.1.i, for i < 128.
fn root_oid(i: u8) -> Vec<u8> {
    tlv(0x06, &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01, i])
}

/// OID 1.3.6.1.4.1.99999.1 itself.
fn root_oid_bare() -> Vec<u8> {
    tlv(0x06, &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01])
}

/// `reqid`, `f2`, `f3`: already-encoded INTEGER contents.
fn message(
    version: u8,
    community: &[u8],
    pdu: u8,
    reqid: &[u8],
    f2: &[u8],
    f3: &[u8],
    vbs: &[u8],
) -> Vec<u8> {
    let pdu = tlv(pdu, &cat(&[&tlv(0x02, reqid), &tlv(0x02, f2), &tlv(0x02, f3), &tlv(0x30, vbs)]));
    tlv(0x30, &cat(&[&tlv(0x02, &[version]), &tlv(0x04, community), &pdu]))
}

fn varbind(oid: &[u8], value: &[u8]) -> Vec<u8> {
    tlv(0x30, &cat(&[oid, value]))
}

fn client() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    sock.set_read_timeout(Some(Duration::from_secs(1))).expect("set_read_timeout");
    sock
}

fn exchange(sock: &UdpSocket, agent: &FakeAgent, request: &[u8]) -> Vec<u8> {
    sock.send_to(request, agent.host()).expect("send");
    let mut buf = vec![0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).expect("no answer from the fake agent");
    buf.truncate(n);
    buf
}

#[test]
fn raw_long_form_lengths_and_integer_encodings() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let sock = client();

    // Hand-built v2c GET of ROOT.7 using non-minimal long-form lengths
    // everywhere (0x84, 0x82, 0x81), request-id -2.
    let request: Vec<u8> = cat(&[
        &[0x30, 0x84, 0x00, 0x00, 0x00, 0x28],
        &[0x02, 0x01, 0x01],
        &[0x04, 0x03, b'p', b'u', b'b'],
        &[0xa0, 0x82, 0x00, 0x1c],
        &[0x02, 0x01, 0xfe, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
        &[0x30, 0x81, 0x10, 0x30, 0x0e],
        &root_oid(7),
        &[0x05, 0x00],
    ]);
    let expected: Vec<u8> = cat(&[
        &[0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x03, b'p', b'u', b'b'],
        &[0xa2, 0x1c, 0x02, 0x01, 0xfe, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
        &[0x30, 0x11, 0x30, 0x0f],
        &root_oid(7),
        &[0x02, 0x01, 0x07],
    ]);
    assert_eq!(exchange(&sock, &agent, &request), expected);

    // Request-ids round-trip with minimal two's-complement encodings.
    let ids: [&[u8]; 9] = [
        &[0x00],
        &[0x7f],
        &[0x00, 0x80],
        &[0x80],
        &[0xff, 0x7f],
        &[0x01, 0x00],
        &[0x7f, 0xff, 0xff, 0xff],
        &[0x80, 0x00, 0x00, 0x00],
        &[0xff],
    ];
    for id in ids {
        let vbs = varbind(&root_oid(1), &[0x05, 0x00]);
        let request = message(1, b"public", 0xa0, id, &[0], &[0], &vbs);
        let answer = varbind(&root_oid(1), &[0x02, 0x01, 0x01]);
        let expected = message(1, b"public", 0xa2, id, &[0], &[0], &answer);
        assert_eq!(exchange(&sock, &agent, &request), expected, "id {id:02x?}");
    }
    // A non-minimal request-id (0x00 0x00 0x05) is decoded as 5 and
    // re-encoded minimally.
    let vbs = varbind(&root_oid(1), &[0x05, 0x00]);
    let request = message(1, b"c", 0xa0, &[0x00, 0x00, 0x05], &[0], &[0], &vbs);
    let answer = varbind(&root_oid(1), &[0x02, 0x01, 0x01]);
    assert_eq!(exchange(&sock, &agent, &request), message(1, b"c", 0xa2, &[0x05], &[0], &[0], &answer));

    // v1 and an empty community are echoed too.
    let vbs = varbind(&root_oid(50), &[0x05, 0x00]);
    let request = message(0, b"", 0xa0, &[0x2a], &[0], &[0], &vbs);
    let answer = varbind(&root_oid(50), &[0x02, 0x01, 0x32]);
    assert_eq!(exchange(&sock, &agent, &request), message(0, b"", 0xa2, &[0x2a], &[0], &[0], &answer));
}

#[test]
fn raw_v1_errors_echo_varbinds_and_index() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 200 });
    let sock = client();
    // v1 GETNEXT past the end on the 2nd varbind: noSuchName(2), index 2,
    // request varbinds echoed verbatim (including a non-NULL value).
    let vbs = cat(&[
        &varbind(&root_oid(3), &[0x05, 0x00]),
        &varbind(&tlv(0x06, &[0x2b, 0x07]), &[0x02, 0x01, 0x63]),
    ]);
    let request = message(0, b"x", 0xa1, &[0x11], &[0], &[0], &vbs);
    assert_eq!(exchange(&sock, &agent, &request), message(0, b"x", 0xa2, &[0x11], &[0x02], &[0x02], &vbs));

    // The same on v2c: per-varbind exception, no error.
    let request = message(1, b"x", 0xa1, &[0x12], &[0], &[0], &vbs);
    let answer = cat(&[
        &varbind(&root_oid(4), &[0x02, 0x01, 0x04]),
        &varbind(&tlv(0x06, &[0x2b, 0x07]), &[0x82, 0x00]),
    ]);
    assert_eq!(exchange(&sock, &agent, &request), message(1, b"x", 0xa2, &[0x12], &[0], &[0], &answer));

    // Integer values >= 128: GETNEXT ROOT.127 -> ROOT.128 = 0x00 0x80,
    // whose OID needs a two-byte sub-identifier.
    let vbs = varbind(&root_oid(127), &[0x05, 0x00]);
    let request = message(1, b"x", 0xa1, &[0x13], &[0], &[0], &vbs);
    let oid128 = tlv(0x06, &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x01, 0x81, 0x00]);
    let answer = varbind(&oid128, &[0x02, 0x02, 0x00, 0x80]);
    assert_eq!(exchange(&sock, &agent, &request), message(1, b"x", 0xa2, &[0x13], &[0], &[0], &answer));

    // v1 GETBULK does not exist: ignored (no answer), but counted.
    let before = agent.requests_seen();
    let vbs = varbind(&root_oid_bare(), &[0x05, 0x00]);
    let request = message(0, b"x", 0xa5, &[0x14], &[0], &[5], &vbs);
    sock.send_to(&request, agent.host()).expect("send");
    let probe = message(1, b"x", 0xa0, &[0x15], &[0], &[0], &vbs);
    let reply = exchange(&sock, &agent, &probe);
    assert_eq!(reply[reply.len() - 2..], [0x81, 0x00], "{reply:02x?}");
    assert_eq!(agent.requests_seen(), before + 2);
}

#[test]
fn raw_getbulk_long_responses_and_huge_max_repetitions() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let sock = client();
    let vbs = varbind(&root_oid_bare(), &[0x05, 0x00]);

    // 20 rows: > 255 bytes, so 0x82 two-byte lengths on the outer layers.
    let request = message(1, b"public", 0xa5, &[0x01], &[0], &[20], &vbs);
    let rows: Vec<u8> = (1..=20u8).flat_map(|i| varbind(&root_oid(i), &[0x02, 0x01, i])).collect();
    let expected = message(1, b"public", 0xa2, &[0x01], &[0], &[0], &rows);
    assert_eq!(expected[..2], [0x30, 0x82]);
    assert_eq!(exchange(&sock, &agent, &request), expected);

    // max-repetitions i32::MAX on a 50-row table: all rows then one
    // endOfMibView, and the agent stops there.
    let request = message(1, b"public", 0xa5, &[0x02], &[0], &[0x7f, 0xff, 0xff, 0xff], &vbs);
    let mut rows: Vec<u8> = (1..=50u8).flat_map(|i| varbind(&root_oid(i), &[0x02, 0x01, i])).collect();
    rows.extend(varbind(&root_oid(50), &[0x82, 0x00]));
    let expected = message(1, b"public", 0xa2, &[0x02], &[0], &[0], &rows);
    assert_eq!(exchange(&sock, &agent, &request), expected);

    // An agent that never ends: the response is truncated to fit a datagram.
    let agent = FakeAgent::start(Behavior::NonIncreasing);
    let request = message(1, b"public", 0xa5, &[0x03], &[0], &[0x7f, 0xff, 0xff, 0xff], &vbs);
    let reply = exchange(&sock, &agent, &request);
    assert!(reply.len() > 60_000 && reply.len() <= 65_507, "{}", reply.len());
    assert_eq!(reply[..2], [0x30, 0x82]);
}

/// Sends a lot of malformed datagrams; the agent must survive all of them
/// (a panic of its thread fails the test when the agent is dropped) and keep
/// answering correctly.
#[test]
fn malformed_datagrams_are_ignored() {
    let agent = FakeAgent::start(Behavior::Table { root: root(), rows: 50 });
    let noise = client();
    let sync = client();
    let vbs = varbind(&root_oid(7), &[0x05, 0x00]);
    let good_get = message(1, b"public", 0xa0, &[0x01], &[0], &[0], &vbs);
    let expected_get =
        message(1, b"public", 0xa2, &[0x01], &[0], &[0], &varbind(&root_oid(7), &[0x02, 0x01, 0x07]));

    let mut corpus: Vec<Vec<u8>> = Vec::new();
    let seeds = [
        good_get.clone(),
        message(0, b"public", 0xa1, &[0x02], &[0], &[0], &vbs),
        message(1, b"public", 0xa5, &[0x03], &[0x05], &[0x0a], &vbs),
        message(1, b"public", 0xa5, &[0x04], &[0x80], &[0x80], &vbs),
        message(1, b"public", 0xa5, &[0x05], &[0x7f, 0xff, 0xff, 0xff], &[0xff], &vbs),
    ];
    for seed in &seeds {
        for len in 0..seed.len() {
            corpus.push(seed[..len].to_vec());
        }
        for pos in 0..seed.len() {
            for b in [0x00, 0x01, 0x7f, 0x80, 0x81, 0x84, 0x85, 0xff] {
                let mut m = seed.clone();
                m[pos] = b;
                corpus.push(m);
            }
        }
    }
    // Hand-picked nasties.
    corpus.extend([
        vec![],
        vec![0x30],
        vec![0x30, 0x80, 0x00, 0x00],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0x30, 0x89, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09],
        vec![0x1f, 0xff, 0xff, 0xff, 0x7f, 0x00],
        // Integer of 9 octets.
        tlv(0x30, &cat(&[&tlv(0x02, &[1; 9]), &tlv(0x04, b"x")])),
        // OID ending inside a sub-identifier, and one overflowing u32.
        message(1, b"x", 0xa1, &[1], &[0], &[0], &varbind(&tlv(0x06, &[0x2b, 0xff]), &[0x05, 0x00])),
        message(
            1,
            b"x",
            0xa1,
            &[1],
            &[0],
            &[0],
            &varbind(&tlv(0x06, &[0x2b, 0x9f, 0xff, 0xff, 0xff, 0x7f]), &[0x05, 0x00]),
        ),
        // Empty OID, missing value, GETBULK with no varbinds.
        message(1, b"x", 0xa1, &[1], &[0], &[0], &tlv(0x30, &tlv(0x06, &[]))),
        message(1, b"x", 0xa1, &[1], &[0], &[0], &tlv(0x30, &root_oid(1))),
        message(1, b"x", 0xa5, &[1], &[0], &[0x7f, 0xff, 0xff, 0xff], &[]),
        // Unknown version and PDU types.
        message(3, b"x", 0xa0, &[1], &[0], &[0], &vbs),
        message(1, b"x", 0xa3, &[1], &[0], &[0], &vbs),
        message(1, b"x", 0xa2, &[1], &[0], &[0], &vbs),
    ]);
    // Pseudo-random garbage (xorshift), some of it starting like a message.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for n in 0..300usize {
        let mut m = Vec::with_capacity(n % 97);
        for _ in 0..n % 97 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            m.push(state as u8);
        }
        if n % 2 == 0 && m.len() >= 2 {
            m[0] = 0x30;
            m[1] = (m.len() - 2).min(0x7f) as u8;
        }
        corpus.push(m);
    }

    // Send in batches, synchronising with a good request after each batch so
    // the agent's receive buffer never overflows (and counts are exact).
    let mut sent = 0;
    for batch in corpus.chunks(64) {
        for m in batch {
            noise.send_to(m, agent.host()).expect("send");
            sent += 1;
        }
        assert_eq!(exchange(&sync, &agent, &good_get), expected_get);
        sent += 1;
        assert_eq!(agent.requests_seen(), sent);
    }
    // Still a correct agent for net-snmp.
    let out = snmp("snmpbulkwalk", "-v2c", &agent, &["-Cr10"], &[ROOT]);
    assert!(out.success, "{out:?}");
    assert_eq!(out.stdout, expected_v2c_walk(50));
}
