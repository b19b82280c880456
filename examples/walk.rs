//! Walks one subtree like `snmpbulkwalk` and reports varbinds, wall time and this process's
//! CPU time (used by `bench/quick.sh` to compare with net-snmp's tool on the same agent).
//!
//! `cargo run --release --example walk -- HOST OID [-v 1|2c] [-c COMMUNITY] [-Cr N] [--repeat N] [--parallel N]`
//!
//! `--parallel N` walks the subtree N times at once (N sessions); `--repeat` runs that N times.
//! `--fleet N` walks N agents on consecutive ports from HOST's (the simulated fleet,
//! `bench/simagent`), once each, `--parallel` at a time.

use std::time::{Duration, Instant};

use snmp_stream::{Community, Config, Oid, Request, ResultBuffer, SessionManager, Status, Version};

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with('-') && (*i == 0 || !args[i - 1].starts_with('-')))
        .map(|(_, a)| a)
        .collect();
    let [host, oid] = positional[..] else {
        return Err(
            "usage: walk HOST OID [-v 1|2c] [-c COMMUNITY] [-Cr N] [--repeat N] [--parallel N] [--fleet N]"
                .into(),
        );
    };
    let version = Version::parse(&flag("-v").unwrap_or_else(|| "2c".into()))?;
    let community = Community::new(flag("-c").unwrap_or_else(|| "public".into()), version)?;
    let budget: u32 = flag("-Cr").map_or(Ok(25), |v| v.parse())?;
    let repeat: usize = flag("--repeat").map_or(Ok(1), |v| v.parse())?;
    let parallel: usize = flag("--parallel").map_or(Ok(1), |v| v.parse())?;
    let fleet: u16 = flag("--fleet").map_or(Ok(0), |v| v.parse())?;
    let config = Config::new().max_var_binds_per_pdu(budget)?.max_sessions(parallel.max(1) as u32)?;
    let request = Request::walk(host.as_str(), community.clone(), [Oid::parse(oid)?]).build()?;
    let fleet_requests = match host.rsplit_once(':') {
        Some((address, port)) if fleet > 0 => {
            let first: u16 = port.parse()?;
            (0..fleet)
                .map(|i| {
                    Request::walk(format!("{address}:{}", first + i), community.clone(), [Oid::parse(oid)?])
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        _ if fleet > 0 => return Err("--fleet needs HOST as ADDRESS:FIRST_PORT".into()),
        _ => Vec::new(),
    };

    let mut manager = SessionManager::new(config)?;
    let (wall, cpu) = (Instant::now(), cpu_time());
    let mut varbinds = 0u64;
    for _ in 0..repeat {
        if fleet_requests.is_empty() {
            for _ in 0..parallel {
                manager.add_request(request.clone());
            }
        } else {
            for request in &fleet_requests {
                manager.add_request(request.clone());
            }
        }
        for response in manager.run_all() {
            if response.status != Status::Successful {
                return Err(format!("walk failed: {:?}", response.errors).into());
            }
            // The header's count: like the other benchmark clients, no second pass over the records.
            varbinds += u64::from(ResultBuffer::parse_header(&response.results)?.record_count);
        }
    }
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    println!(
        "varbinds={varbinds} wall_s={:.3} cpu_s={:.3} cpu_us_per_varbind={:.3} varbinds_per_s={:.0}",
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / varbinds.max(1) as f64,
        varbinds as f64 / wall.as_secs_f64()
    );
    Ok(())
}
