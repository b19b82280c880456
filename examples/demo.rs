//! The README's first command (`scripts/demo.sh`): starts a real snmpd on loopback, streams
//! many WALK and GET requests through one [`Collector`] (IPv4 and IPv6, v1 and v2c, plus a few
//! dead targets), and prints a table per subtree and a summary.
//!
//! `cargo run --release --example demo -- [--requests N] [--sessions N] [--serve [PORT]]`
//!
//! `--serve` keeps the agent running afterwards on 127.0.0.1 and ::1 (port 11161 unless
//! given) until Ctrl-C, for trying the README's Python and Rust snippets against it.

#[path = "../tests/common/snmpd.rs"]
#[allow(dead_code)]
mod snmpd;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use snmp_stream::{Collector, Community, Config, Oid, Request, ResultBuffer, Status, Version};

const SUBTREES: [(&str, &str); 5] = [
    ("system", "1.3.6.1.2.1.1"),
    ("interfaces", "1.3.6.1.2.1.2"),
    ("ifXTable", "1.3.6.1.2.1.31.1.1"),
    ("ip", "1.3.6.1.2.1.4"),
    ("hrSWInstalled", "1.3.6.1.2.1.25.6.3"),
];

#[derive(Default)]
struct Row {
    requests: usize,
    ok: usize,
    failed: usize,
    varbinds: u64,
    bytes: usize,
    slowest: Duration,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number, not {v:?}")))
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let requests = arg("--requests", 200);
    let sessions = arg("--sessions", 64) as u32;
    let args: Vec<String> = std::env::args().collect();
    let serve = args
        .iter()
        .position(|a| a == "--serve")
        .map(|i| args.get(i + 1).and_then(|p| p.parse::<u16>().ok()).unwrap_or(11161));
    eprintln!("starting snmpd on 127.0.0.1 and ::1 ...");
    let agent = match serve {
        Some(port) => snmpd::Snmpd::start_on_port(port),
        None => snmpd::Snmpd::start(),
    };
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();

    let config = Config::new().max_sessions(sessions)?.timeout(Duration::from_millis(500))?.retries(1)?;
    let collector = Collector::new(config, 1024)?;
    let started = Instant::now();
    let mut submitted_at = BTreeMap::new();
    for i in 0..requests {
        let (name, subtree) = SUBTREES[i % SUBTREES.len()];
        let version = if i % 4 == 3 { Version::V1 } else { Version::V2c };
        let host = if i % 2 == 0 { agent.host() } else { agent.host6() };
        let request = Request::walk(host, Community::new("public", version)?, [Oid::parse(subtree)?])
            .req_id(format!("{name}/{i}"))
            .build()?;
        submitted_at.insert(request.req_id().unwrap_or_default().to_vec(), Instant::now());
        collector.submit(request)?;
    }
    for i in 0..3 {
        let request = Request::get(
            format!("127.0.0.1:{dead}"),
            Community::new("public", Version::V2c)?,
            [Oid::parse("1.3.6.1.2.1.1.5.0")?],
        )
        .req_id(format!("dead-target/{i}"))
        .build()?;
        submitted_at.insert(request.req_id().unwrap_or_default().to_vec(), Instant::now());
        collector.submit(request)?;
    }
    collector.close();

    let mut table: BTreeMap<String, Row> = BTreeMap::new();
    let mut failures = Vec::new();
    for response in collector.responses() {
        let req_id = response.request.req_id().unwrap_or_default();
        let name = String::from_utf8_lossy(req_id).split('/').next().unwrap_or("?").to_owned();
        let buffer = ResultBuffer::parse(&response.results)?;
        let row = table.entry(name).or_default();
        row.requests += 1;
        row.varbinds += u64::from(buffer.record_count);
        row.bytes += response.results.len();
        row.slowest = row.slowest.max(submitted_at[req_id].elapsed());
        match response.status {
            Status::Failed => {
                row.failed += 1;
                failures.push(format!("{}: {}", response.request.host(), response.errors[0]));
            }
            _ => row.ok += 1,
        }
    }
    let elapsed = started.elapsed();

    println!(
        "{:<15} {:>8} {:>6} {:>7} {:>10} {:>12} {:>12}",
        "subtree", "requests", "ok", "failed", "varbinds", "buffer bytes", "slowest ms"
    );
    let mut total = Row::default();
    for (name, row) in &table {
        println!(
            "{:<15} {:>8} {:>6} {:>7} {:>10} {:>12} {:>12}",
            name,
            row.requests,
            row.ok,
            row.failed,
            row.varbinds,
            row.bytes,
            row.slowest.as_millis()
        );
        total.requests += row.requests;
        total.ok += row.ok;
        total.failed += row.failed;
        total.varbinds += row.varbinds;
        total.bytes += row.bytes;
    }
    println!(
        "\n{} requests ({} ok, {} failed) in {:.2} s, {} sessions at once: {} varbinds, {:.0} varbinds/s, {:.1} bytes/varbind",
        total.requests,
        total.ok,
        total.failed,
        elapsed.as_secs_f64(),
        sessions,
        total.varbinds,
        total.varbinds as f64 / elapsed.as_secs_f64(),
        total.bytes as f64 / total.varbinds.max(1) as f64
    );
    if let Some(first) = failures.first() {
        println!("{} failed on purpose (dead target), e.g. {first}", failures.len());
    }
    if serve.is_some() {
        println!(
            "\nsnmpd (community \"public\") keeps serving on {} and {} until Ctrl-C",
            agent.host(),
            agent.host6()
        );
        loop {
            std::thread::park();
        }
    }
    Ok(())
}
