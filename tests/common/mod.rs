//! Shared by the integration tests: the real snmpd fixture, the fake (broken) agent, and helpers
//! that render results the way `snmpbulkwalk -On -Ox -Ot` prints them, for varbind-by-varbind
//! comparison with net-snmp's own tools.
#![allow(dead_code)]

pub mod fake_agent;
pub mod proxy;
pub mod snmpd;

use std::process::Command;
use std::time::{Duration, Instant};

use snmp_stream::{tag, Community, Oid, Response, ResultBuffer, SessionManager, Version};

/// Runs `manager` until it is idle; each response with when it came, measured from `started`.
pub fn run_until_idle(manager: &mut SessionManager, started: Instant) -> Vec<(Response, Duration)> {
    let mut finished = Vec::new();
    while !manager.is_idle() {
        finished.extend(manager.run().into_iter().map(|response| (response, started.elapsed())));
    }
    finished
}

pub fn oid(text: &str) -> Oid {
    Oid::parse(text).unwrap()
}

pub fn community(version: Version) -> Community {
    Community::new("public", version).unwrap()
}

/// One varbind as `snmpbulkwalk -On -Ox -Ot` prints it: (".1.3.6...", "TYPE: value").
pub type Line = (String, String);

fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Runs a net-snmp command-line tool and parses its `-On -Ox -Ot` output into lines.
pub fn net_snmp(tool: &str, args: &[&str]) -> Vec<Line> {
    let output = Command::new(tool)
        .args(["-On", "-Ox", "-Ot", "-Oe"])
        .args(args)
        .env("MIBS", "")
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e} (install Debian's `snmp` package)"));
    assert!(output.status.success(), "{tool} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines: Vec<Line> = Vec::new();
    for line in text.lines() {
        match line.split_once(" = ") {
            Some((name, value)) if line.starts_with('.') => lines.push((name.to_owned(), value.to_owned())),
            _ => {
                if let Some(last) = lines.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line);
                }
            }
        }
    }
    lines.into_iter().map(|(name, value)| (name, normalize(&value))).collect()
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4-byte value"))
}

fn render_value(value_type: u8, value: &[u8]) -> String {
    match value_type {
        tag::INTEGER if value.len() == 4 => {
            format!("INTEGER: {}", i32::from_le_bytes(value.try_into().unwrap()))
        }
        tag::INTEGER => format!("INTEGER: {}", i64::from_le_bytes(value.try_into().unwrap())),
        tag::OCTET_STRING if value.is_empty() => "\"\"".to_owned(),
        tag::OCTET_STRING => {
            format!("Hex-STRING: {}", value.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(" "))
        }
        tag::OBJECT_ID => {
            let subids: Vec<String> = value.chunks_exact(4).map(|c| le_u32(c).to_string()).collect();
            format!("OID: .{}", subids.join("."))
        }
        tag::IP_ADDRESS => format!("IpAddress: {}.{}.{}.{}", value[0], value[1], value[2], value[3]),
        tag::COUNTER32 => format!("Counter32: {}", le_u32(value)),
        tag::GAUGE32 => format!("Gauge32: {}", le_u32(value)),
        tag::TIMETICKS => format!("{}", le_u32(value)),
        tag::COUNTER64 => format!("Counter64: {}", u64::from_le_bytes(value.try_into().unwrap())),
        tag::NO_SUCH_OBJECT => "No Such Object available on this agent at this OID".to_owned(),
        tag::NO_SUCH_INSTANCE => "No Such Instance currently exists at this OID".to_owned(),
        other => format!("type 0x{other:02x}: {value:?}"),
    }
}

/// Decodes a response's buffer into lines comparable with [`net_snmp`]'s.
pub fn lines(response: &Response) -> Vec<Line> {
    let buffer = ResultBuffer::parse(&response.results).expect("the engine writes valid buffers");
    buffer
        .records()
        .map(|record| {
            let record = record.unwrap();
            let mut name =
                Oid::new(buffer.roots[usize::from(record.root_index)].clone()).unwrap().to_string();
            for subid in record.index() {
                name.push('.');
                name.push_str(&subid.to_string());
            }
            (name, render_value(record.value_type, record.value))
        })
        .collect()
}

/// Sorts lines by OID (numerically), as a walk returns them.
pub fn sorted(mut lines: Vec<Line>) -> Vec<Line> {
    lines.sort_by_key(|(name, _)| oid(name));
    lines
}

/// A UDP port where nothing listens on 127.0.0.1 or ::1, for a dead target. It lies below the
/// kernel's ephemeral range, so none of the test's own client sockets can be given it (a
/// datagram to a port one of our unconnected sockets holds is read by that socket instead of
/// drawing an ICMP port unreachable).
pub fn closed_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768)
        .min(32768);
    (1025..low)
        .rev()
        .find(|&port| {
            std::net::UdpSocket::bind(("0.0.0.0", port)).is_ok()
                && std::net::UdpSocket::bind(("::", port)).is_ok()
        })
        .expect("a free UDP port below the ephemeral range")
}
