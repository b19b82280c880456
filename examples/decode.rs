//! Decode throughput of the native parser: collects WALK buffers from an agent, then times
//! `TableSpec::parse` over them (bench/ runs the Python-side comparison).
//!
//! `cargo run --release --example decode -- HOST [--walks N] [--repeat N]`

use std::time::Instant;

use snmp_stream::{
    Community, Config, IndexField, Oid, Request, ResultBuffer, SessionManager, TableSpec, ValueKind, Version,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let host = args.get(1).ok_or("usage: decode HOST [--walks N] [--repeat N]")?;
    let flag = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().unwrap())
    };
    let (walks, repeat) = (flag("--walks", 256), flag("--repeat", 5));
    let column = |n: u32| Oid::parse(&format!("1.3.6.1.2.1.25.6.3.1.{n}"));
    let spec = TableSpec {
        index: vec![("hrSWInstalledIndex".into(), IndexField::Integer)],
        columns: vec![
            ("index".into(), column(1)?, ValueKind::Integer),
            ("name".into(), column(2)?, ValueKind::Utf8),
            ("id".into(), column(3)?, ValueKind::ObjectId),
            ("type".into(), column(4)?, ValueKind::Integer),
            ("date".into(), column(5)?, ValueKind::Octets),
        ],
    };
    let community = Community::new("public", Version::V2c)?;
    let mut manager = SessionManager::new(Config::new().max_var_binds_per_pdu(50)?)?;
    for _ in 0..walks {
        let oids: Vec<Oid> = spec.columns.iter().map(|c| c.1.clone()).collect();
        manager.add_request(Request::walk(host.as_str(), community.clone(), oids).build()?);
    }
    let buffers: Vec<Vec<u8>> = manager.run_all().into_iter().map(|r| r.results).collect();
    let varbinds: u64 = buffers.iter().map(|b| u64::from(ResultBuffer::parse(b).unwrap().record_count)).sum();
    let started = Instant::now();
    let mut rows = 0;
    for _ in 0..repeat {
        rows = spec.parse(&buffers).map_err(|(_, e)| e)?.buffer.len();
    }
    let seconds = started.elapsed().as_secs_f64() / repeat as f64;
    println!(
        "varbinds={varbinds} rows={rows} decode_s={seconds:.4} varbinds_per_s={:.0}",
        varbinds as f64 / seconds
    );
    Ok(())
}
