//! Decode throughput of the native parser: collects WALK buffers from an agent, then times
//! `TableSpec::parse` over them (bench/ runs the Python-side comparison).
//!
//! `cargo run --release --example decode -- HOST [--walks N] [--repeat N] [--numeric]
//! [--save FILE | --load FILE]`
//!
//! The table is hrSWInstalledTable: five columns, three of them text. `--numeric` walks and
//! decodes only its INTEGER columns (hrSWInstalledIndex, hrSWInstalledType). `--save FILE`
//! keeps the collected buffers and `--load FILE` decodes them again without an agent (HOST is
//! then ignored), for profilers and repeatable comparisons.

use std::time::Instant;

use snmp_stream::{
    Community, Config, IndexField, Oid, Request, ResultBuffer, SessionManager, TableSpec, ValueKind, Version,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: decode HOST [--walks N] [--repeat N] [--numeric] [--save FILE | --load FILE]";
    let host = args.get(1).ok_or(usage)?;
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().unwrap())
    };
    let (walks, repeat) = (flag("--walks", 256), flag("--repeat", 5));
    let numeric = args.iter().any(|a| a == "--numeric");
    let column = |n: u32| Oid::parse(&format!("1.3.6.1.2.1.25.6.3.1.{n}"));
    let mut columns = vec![
        ("index".to_string(), column(1)?, ValueKind::Integer),
        ("name".into(), column(2)?, ValueKind::Utf8),
        ("id".into(), column(3)?, ValueKind::ObjectId),
        ("type".into(), column(4)?, ValueKind::Integer),
        ("date".into(), column(5)?, ValueKind::Octets),
    ];
    if numeric {
        columns.retain(|c| c.2 == ValueKind::Integer);
    }
    let spec = TableSpec { index: vec![("hrSWInstalledIndex".into(), IndexField::Integer)], columns };
    let path = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let buffers = match path("--load") {
        Some(file) => load(file)?,
        None => {
            let community = Community::new("public", Version::V2c)?;
            let mut manager = SessionManager::new(Config::new().max_var_binds_per_pdu(50)?)?;
            for _ in 0..walks {
                let oids: Vec<Oid> = spec.columns.iter().map(|c| c.1.clone()).collect();
                manager.add_request(Request::walk(host.as_str(), community.clone(), oids).build()?);
            }
            manager.run_all().into_iter().map(|r| r.results).collect()
        }
    };
    if let Some(file) = path("--save") {
        save(file, &buffers)?;
    }
    let varbinds: u64 = buffers.iter().map(|b| u64::from(ResultBuffer::parse(b).unwrap().record_count)).sum();
    // The first decode also pays for fresh memory (page faults); later ones mostly reuse it.
    let started = Instant::now();
    let mut rows = spec.parse(&buffers)?.buffer.len();
    let first = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for _ in 0..repeat {
        rows = spec.parse(&buffers)?.buffer.len();
    }
    let seconds = started.elapsed().as_secs_f64() / repeat.max(1) as f64;
    println!(
        "{} varbinds={varbinds} rows={rows} decode_s={seconds:.4} varbinds_per_s={:.0} first_decode_s={first:.4}",
        if numeric { "numeric" } else { "full" },
        varbinds as f64 / seconds
    );
    Ok(())
}

/// Buffers as a file: for each, its length (u64 LE), then its bytes.
fn save(file: &str, buffers: &[Vec<u8>]) -> std::io::Result<()> {
    let mut out = Vec::new();
    for buffer in buffers {
        out.extend_from_slice(&(buffer.len() as u64).to_le_bytes());
        out.extend_from_slice(buffer);
    }
    std::fs::write(file, out)
}

fn load(file: &str) -> Result<Vec<Vec<u8>>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(file)?;
    let (mut buffers, mut at) = (Vec::new(), 0);
    while at < bytes.len() {
        let len = u64::from_le_bytes(bytes.get(at..at + 8).ok_or("truncated file")?.try_into()?) as usize;
        buffers.push(bytes.get(at + 8..at + 8 + len).ok_or("truncated file")?.to_vec());
        at += 8 + len;
    }
    Ok(buffers)
}
