//! SNMPv3 (USM) against a real snmpd with a user per security level and protocol
//! (`tests/fixtures/usm_users.conf`), checked against `snmpbulkwalk -v3` / `snmpget -v3`.

mod common;

use std::path::{Path, PathBuf};

use common::snmpd::Snmpd;
use common::{lines, net_snmp, oid, sorted};
use snmp_stream::{
    usm_counters, AuthProtocol, Config, ErrorKind, PrivProtocol, Request, SessionManager, Status, Usm,
};

/// (user, auth, auth passphrase, privacy, privacy passphrase) as in usm_users.conf.
type User = (&'static str, Option<&'static str>, &'static str, Option<&'static str>, &'static str);
const USERS: [User; 12] = [
    ("v3none", None, "", None, ""),
    ("v3md5", Some("MD5"), "authpass-md5", None, ""),
    ("v3sha", Some("SHA"), "authpass-sha", None, ""),
    ("v3sha224", Some("SHA-224"), "authpass-sha224", None, ""),
    ("v3sha256", Some("SHA-256"), "authpass-sha256", None, ""),
    ("v3sha384", Some("SHA-384"), "authpass-sha384", None, ""),
    ("v3sha512", Some("SHA-512"), "authpass-sha512", None, ""),
    ("v3des", Some("SHA"), "authpass-des", Some("DES"), "privpass-des"),
    ("v3aes", Some("SHA-256"), "authpass-aes", Some("AES"), "privpass-aes"),
    ("v3aes192", Some("SHA"), "authpass-aes192", Some("AES-192"), "privpass-aes192"),
    ("v3aes256", Some("SHA-512"), "authpass-aes256", Some("AES-256"), "privpass-aes256"),
    ("v3md5aes256", Some("MD5"), "authpass-md5aes256", Some("AES-256"), "privpass-md5aes256"),
];

/// The default agent config plus the v3 users, in a file of this test run's own.
fn usm_agent() -> Snmpd {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(root.join("python/snmp_stream/agent.conf")).unwrap();
    let users = std::fs::read_to_string(root.join("tests/fixtures/usm_users.conf")).unwrap();
    let dir = std::env::temp_dir().join(format!("snmp-stream-usm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config: PathBuf = dir.join(format!("agent-{:?}.conf", std::thread::current().id()));
    std::fs::write(&config, format!("{base}\n{users}\n")).unwrap();
    Snmpd::start_with_config(&config)
}

fn usm(user: &str, auth: Option<&str>, auth_pass: &str, privacy: Option<&str>, priv_pass: &str) -> Usm {
    let mut usm = Usm::new(user).unwrap();
    if let Some(protocol) = auth {
        usm = usm.auth(AuthProtocol::parse(protocol).unwrap(), auth_pass).unwrap();
    }
    if let Some(protocol) = privacy {
        usm = usm.privacy(PrivProtocol::parse(protocol).unwrap(), priv_pass).unwrap();
    }
    usm
}

/// net-snmp's command-line flags for the same credentials.
fn flags(
    user: &str,
    auth: Option<&str>,
    auth_pass: &str,
    privacy: Option<&str>,
    priv_pass: &str,
) -> Vec<String> {
    let mut args = vec!["-v3".to_owned(), "-u".to_owned(), user.to_owned()];
    match (auth, privacy) {
        (None, _) => args.extend(["-l".to_owned(), "noAuthNoPriv".to_owned()]),
        (Some(a), None) => args.extend(["-l", "authNoPriv", "-a", a, "-A", auth_pass].map(str::to_owned)),
        (Some(a), Some(x)) => args.extend(
            ["-l", "authPriv", "-a", a, "-A", auth_pass, "-x", x, "-X", priv_pass].map(str::to_owned),
        ),
    }
    args
}

fn run(requests: Vec<Request>) -> Vec<snmp_stream::Response> {
    let count = requests.len();
    let mut manager = SessionManager::new(Config::new()).unwrap();
    for request in requests {
        manager.add_request(request);
    }
    let responses = manager.run_all();
    assert_eq!(responses.len(), count, "every request yields exactly one response");
    responses
}

#[test]
fn walk_and_get_at_every_level_and_protocol_match_net_snmp() {
    let agent = usm_agent();
    let system = "1.3.6.1.2.1.1";
    let mut requests = Vec::new();
    for (index, &(user, auth, auth_pass, privacy, priv_pass)) in USERS.iter().enumerate() {
        let credentials = usm(user, auth, auth_pass, privacy, priv_pass);
        requests.push(
            Request::walk(agent.host(), credentials.clone(), [oid(system), oid("1.3.6.1.2.1.2.2.1")])
                .req_id(format!("walk {index}"))
                .build()
                .unwrap(),
        );
        requests.push(
            Request::get(agent.host(), credentials, [oid("1.3.6.1.2.1.1.5.0"), oid("1.3.6.1.2.1.1.3.0")])
                .req_id(format!("get {index}"))
                .build()
                .unwrap(),
        );
    }
    let before = usm_counters();
    let responses = run(requests);
    let after = usm_counters();
    // Every response was checked, decrypted and decoded by snmp-stream itself (other tests
    // running meanwhile only add to the counters).
    assert!(after.fast_responses - before.fast_responses >= 2 * USERS.len() as u64, "{before:?} {after:?}");
    for response in &responses {
        let id = String::from_utf8_lossy(response.request.req_id().unwrap()).into_owned();
        let index: usize = id.split_once(' ').unwrap().1.parse().unwrap();
        let (user, auth, auth_pass, privacy, priv_pass) = USERS[index];
        assert_eq!(response.status, Status::Successful, "{id} ({user}): {:?}", response.errors);
        let args = flags(user, auth, auth_pass, privacy, priv_pass);
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        let host = agent.host();
        args.push(&host);
        let got = sorted(lines(response));
        if id.starts_with("walk") {
            let mut expected = net_snmp("snmpbulkwalk", &[&args[..], &[system]].concat());
            expected.extend(net_snmp("snmpbulkwalk", &[&args[..], &["1.3.6.1.2.1.2.2.1"]].concat()));
            let expected = sorted(expected);
            // sysUpTime moves between the two walks; compare names, and values elsewhere.
            assert_eq!(got.len(), expected.len(), "{id} ({user})");
            for (g, e) in got.iter().zip(&expected) {
                assert_eq!(g.0, e.0, "{id} ({user})");
                if g.0 == ".1.3.6.1.2.1.1.3.0" {
                    // sysUpTime moves between the walks.
                } else if g.0.starts_with(".1.3.6.1.2.1.2.2.1") {
                    // So do the interface counters: compare their types.
                    assert_eq!(g.1.split(':').next(), e.1.split(':').next(), "{id} ({user})");
                } else {
                    assert_eq!(g, e, "{id} ({user})");
                }
            }
        } else {
            let expected = net_snmp("snmpget", &[&args[..], &["1.3.6.1.2.1.1.5.0"]].concat());
            assert_eq!(got.len(), 2, "{id} ({user})");
            assert_eq!(got[1], expected[0], "{id} ({user})");
        }
    }
}

#[test]
fn report_pdus_become_structured_errors() {
    let agent = usm_agent();
    let cases: Vec<(Usm, ErrorKind)> = vec![
        (usm("nobody", Some("SHA"), "authpass-xyz", None, ""), ErrorKind::UnknownUser),
        (usm("v3sha", Some("SHA"), "wrong-auth-pass", None, ""), ErrorKind::WrongDigest),
        (
            usm("v3aes", Some("SHA-256"), "authpass-aes", Some("AES"), "wrong-priv-pass"),
            ErrorKind::DecryptionError,
        ),
        (
            usm("v3sha", Some("SHA"), "authpass-sha", Some("AES"), "privpass-sha"),
            ErrorKind::UnsupportedSecurityLevel,
        ),
    ];
    let requests = cases
        .iter()
        .enumerate()
        .map(|(i, (credentials, _))| {
            Request::walk(agent.host(), credentials.clone(), [oid("1.3.6.1.2.1.1")])
                .req_id(i.to_string())
                .build()
                .unwrap()
        })
        .collect();
    let responses = run(requests);
    for response in &responses {
        let index: usize = String::from_utf8_lossy(response.request.req_id().unwrap()).parse().unwrap();
        let (credentials, kind) = &cases[index];
        assert_eq!(response.status, Status::Failed, "{credentials:?}");
        assert_eq!(response.errors.len(), 1, "{credentials:?}: {:?}", response.errors);
        let error = &response.errors[0];
        assert_eq!(error.kind, *kind, "{credentials:?}: {error:?}");
        assert!(error.message.contains(credentials.user()), "{}", error.message);
        assert!(error.message.contains(&agent.host()), "{}", error.message);
        for secret in ["authpass", "wrong-auth-pass", "wrong-priv-pass", "privpass"] {
            assert!(!error.message.contains(secret), "{}", error.message);
        }
        assert!(lines(response).is_empty(), "a failed v3 request keeps nothing: {:?}", lines(response));
    }
}

#[test]
fn keys_are_derived_once_per_passphrase_and_localised_once_per_engine() {
    let agents = [usm_agent(), usm_agent()];
    let before = usm_counters();
    let credentials = usm("v3aes", Some("SHA-256"), "authpass-aes", Some("AES"), "privpass-aes");
    let requests = (0..40)
        .map(|i| {
            Request::get(agents[i % 2].host(), credentials.clone(), [oid("1.3.6.1.2.1.1.5.0")])
                .build()
                .unwrap()
        })
        .collect();
    let responses = run(requests);
    assert!(responses.iter().all(|r| r.status == Status::Successful), "{:?}", responses[0].errors);
    let after = usm_counters();
    // Other tests in this binary may derive the same keys first: at most the two here.
    assert!(after.key_derivations - before.key_derivations <= 2, "{before:?} -> {after:?}");
    assert!(after.localizations - before.localizations <= 2, "{before:?} -> {after:?}");
}
