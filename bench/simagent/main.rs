//! simagent: a fast simulated SNMP agent fleet on loopback, for benchmarks run by hand (issue 15):
//! it answers GET, GETNEXT and GETBULK (v1, v2c) from pre-encoded varbinds, so that a client can
//! be measured where the agents are not the bottleneck. How it answers: `bench/simagent/sim.rs`.
//!
//! ```text
//! cargo run --release --example simagent -- [--agents N] [--port FIRST] [--address 127.0.0.1]
//!     [--threads T] [--silent K] [--delayed D --delay-ms MS] [--community public]
//!     [--max-repetitions 100]
//!     (--rows N | --from HOST --root OID [--root OID ...])
//! ```
//!
//! - `--rows N` (default 1000): a synthetic interfaces table of N rows x 10 mixed-type columns
//!   (the benchmarks' table: text, integers, a MAC, 32- and 64-bit counters), plus sysName.
//! - `--from HOST --root OID...`: the view is recorded first, by walking those subtrees of a real
//!   agent (v2c, community `public`), so that the fleet answers exactly what that agent answers.
//! - `--agents N` UDP sockets on consecutive ports from `--port` (0: a free run is found), on a
//!   loopback address; the last `--silent K` of them never answer, and the `--delayed D` before
//!   those answer `--delay-ms MS` late (an artificial round-trip time, without blocking).
//!
//! `simagent --pingpong HOST:PORT [--count N] [--max-repetitions 25]` is instead the floor of
//! any client on this machine: it sends one pre-encoded GETBULK of 1.3.6.1.2.1 at a time from a
//! blocking socket and reads the answer without decoding it, N times, and prints
//! `pingpong round_trips=N wall_s=W cpu_s=C cpu_us_per_round_trip=U` (its own CPU): what one
//! round trip costs in system calls, sleeping and waking alone. With `--agents A` it is the
//! floor on a fleet: A agents from HOST:PORT on (consecutive ports) each have one GETBULK in
//! flight at all times, sent as snmp-stream sends them (`sendto` on sockets shared by 8 agents,
//! answers read with `recvmmsg` 16 at a time under one epoll), each answer read and not decoded
//! and followed by the next request, until N answers have come: the kernel's and the loop's
//! cost of that many round trips with no SNMP work.
//!
//! Once listening it prints `simagent ready address=A first_port=P agents=N varbinds=V`; on
//! SIGTERM or SIGINT it stops and prints `simagent served requests=R varbinds=V dropped=D
//! cpu_s=C` (its own user + system CPU time).

#[path = "sim.rs"]
mod sim;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sim::{Behaviour, FleetConfig, Server, Table};
use snmp_stream::Oid;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A v2c GETBULK of 1.3.6.1.2.1 (non-repeaters 0), community "public", request id 1.
fn getbulk_request(max_repetitions: u8) -> Vec<u8> {
    let varbind = [0x30, 0x09, 0x06, 0x05, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x05, 0x00];
    let mut pdu = vec![0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, max_repetitions & 0x7f, 0x30, 0x0b];
    pdu.extend(varbind);
    let mut message = vec![0x02, 0x01, 0x01, 0x04, 0x06];
    message.extend(b"public");
    message.extend([0xa5, pdu.len() as u8]);
    message.extend(pdu);
    let mut out = vec![0x30, message.len() as u8];
    out.extend(message);
    out
}

fn pingpong(host: &str, count: usize, max_repetitions: u8) -> Result<(), Box<dyn std::error::Error>> {
    let address: std::net::SocketAddr = host.parse()?;
    if !address.ip().is_loopback() {
        return Err(format!("--pingpong {host}: loopback addresses only").into());
    }
    let socket = std::net::UdpSocket::bind((address.ip(), 0))?;
    socket.connect(address)?;
    socket.set_read_timeout(Some(Duration::from_secs(2)))?;
    let request = getbulk_request(max_repetitions);
    let mut answer = vec![0u8; 65_536];
    let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
    for _ in 0..count {
        socket.send(&request)?;
        socket.recv(&mut answer)?;
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "pingpong round_trips={count} wall_s={wall:.3} cpu_s={cpu:.3} cpu_us_per_round_trip={:.2}",
        cpu * 1e6 / count.max(1) as f64
    );
    Ok(())
}

/// The fleet floor (`--pingpong HOST:PORT --agents A`): see the module documentation.
fn fleet_pingpong(
    first: std::net::SocketAddr,
    agents: usize,
    count: usize,
    max_repetitions: u8,
) -> Result<(), Box<dyn std::error::Error>> {
    use std::os::fd::AsRawFd;
    const PER_SOCKET: usize = 8;
    const BATCH: usize = 16;
    let last_port = usize::from(first.port()) + agents.saturating_sub(1);
    if agents == 0 || last_port > usize::from(u16::MAX) {
        return Err(format!("--agents {agents} from port {}: not a port range", first.port()).into());
    }
    let sockets: Vec<std::net::UdpSocket> = (0..agents.div_ceil(PER_SOCKET))
        .map(|_| {
            let socket = std::net::UdpSocket::bind((first.ip(), 0))?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .collect::<std::io::Result<_>>()?;
    let epoll = sim::epoll_of(sockets.iter().map(|socket| socket.as_raw_fd()))?;
    let request = getbulk_request(max_repetitions);
    let mut answers = sim::RecvBatch::new(BATCH, 65_536);
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 256];
    let (wall, cpu) = (std::time::Instant::now(), cpu_seconds());
    let mut sent = 0;
    for agent in 0..agents.min(count) {
        let peer = std::net::SocketAddr::new(first.ip(), first.port() + agent as u16);
        sockets[agent / PER_SOCKET].send_to(&request, peer)?;
        sent += 1;
    }
    let mut received = 0;
    while received < sent {
        // SAFETY: events has room for its length; the epoll descriptor is open.
        let ready =
            unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), events.len() as i32, 2000) };
        if ready == 0 {
            return Err(format!("no answer for 2 s after {received} of {sent} round trips").into());
        }
        for event in events.iter().take(ready.max(0) as usize) {
            let socket = sockets[event.u64 as usize].as_raw_fd();
            loop {
                let got = answers.recv(socket);
                for i in 0..got {
                    received += 1;
                    if sent < count {
                        let (peer, peer_len) = answers.peer(i);
                        // SAFETY: the request and the sender's address (from recvmmsg) are live.
                        let n = unsafe {
                            libc::sendto(
                                socket,
                                request.as_ptr().cast(),
                                request.len(),
                                libc::MSG_DONTWAIT,
                                peer.cast(),
                                peer_len,
                            )
                        };
                        if n < 0 {
                            return Err(std::io::Error::last_os_error().into());
                        }
                        sent += 1;
                    }
                }
                if got < BATCH {
                    break;
                }
            }
        }
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    println!(
        "pingpong agents={agents} round_trips={received} wall_s={wall:.3} cpu_s={cpu:.3} cpu_us_per_round_trip={:.2}",
        cpu * 1e6 / received.max(1) as f64
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut options: Vec<(String, String)> = Vec::new();
    let mut rest = args.iter();
    while let Some(name) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{name} needs a value"))?;
        options.push((name.clone(), value.clone()));
    }
    let known = [
        "--agents",
        "--port",
        "--address",
        "--threads",
        "--silent",
        "--delayed",
        "--delay-ms",
        "--community",
        "--max-repetitions",
        "--rows",
        "--from",
        "--root",
        "--pingpong",
        "--count",
    ];
    if let Some((name, _)) = options.iter().find(|(name, _)| !known.contains(&name.as_str())) {
        return Err(format!("unknown option {name}; options: {}", known.join(" ")).into());
    }
    let option = |name: &str| options.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let number = |name: &str, default: usize| -> Result<usize, String> {
        option(name).map_or(Ok(default), |v| v.parse().map_err(|_| format!("{name}: not a number: {v}")))
    };
    if let Some(host) = option("--pingpong") {
        let max_repetitions = u8::try_from(number("--max-repetitions", 25)?.min(127))?;
        let count = number("--count", 10_000)?;
        if let Some(agents) = option("--agents") {
            let address: std::net::SocketAddr = host.parse()?;
            if !address.ip().is_loopback() {
                return Err(format!("--pingpong {host}: loopback addresses only").into());
            }
            let agents = agents.parse().map_err(|_| format!("--agents: not a number: {agents}"))?;
            return fleet_pingpong(address, agents, count, max_repetitions);
        }
        return pingpong(host, count, max_repetitions);
    }
    let address: IpAddr = option("--address").unwrap_or("127.0.0.1").parse()?;
    if !address.is_loopback() {
        return Err(format!("--address {address}: the fleet listens on loopback addresses only").into());
    }
    let config = FleetConfig {
        address,
        first_port: u16::try_from(number("--port", 0)?)?,
        agents: number("--agents", 1)?,
        silent: number("--silent", 0)?,
        delayed: number("--delayed", 0)?,
        delay: Duration::from_millis(number("--delay-ms", 0)? as u64),
        threads: number("--threads", 1)?,
    };
    let behaviour = Behaviour {
        community: option("--community").unwrap_or("public").as_bytes().to_vec(),
        max_repetitions: number("--max-repetitions", 100)?,
        ..Behaviour::default()
    };
    let table = match option("--from") {
        Some(host) => {
            let roots: Vec<Oid> = options
                .iter()
                .filter(|(n, _)| n == "--root")
                .map(|(_, v)| Oid::parse(v))
                .collect::<Result<_, _>>()?;
            if roots.is_empty() {
                return Err("--from needs at least one --root OID".into());
            }
            Table::new(sim::record(host, &roots)?)
        }
        None => Table::synthetic_interfaces(u32::try_from(number("--rows", 1000)?)?),
    };
    let varbinds = table.len();
    // SAFETY: on_signal only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
    let server = Server::start(Arc::new(table), behaviour, &config)?;
    println!(
        "simagent ready address={address} first_port={} agents={} varbinds={varbinds}",
        server.first_port, config.agents
    );
    let cpu_start = cpu_seconds();
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = server.stats.clone();
    drop(server);
    println!(
        "simagent served requests={} varbinds={} dropped={} cpu_s={:.3}",
        stats.requests.load(Ordering::Relaxed),
        stats.varbinds.load(Ordering::Relaxed),
        stats.dropped.load(Ordering::Relaxed),
        cpu_seconds() - cpu_start
    );
    Ok(())
}
