//! A real net-snmp `snmpd` on 127.0.0.1 and ::1, on a free port, with the config in
//! `tests/fixtures/snmpd.conf`. Killed on drop.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Snmpd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

fn snmpd_binary() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain(["/usr/sbin", "/usr/local/sbin"]) {
        let candidate = Path::new(dir).join("snmpd");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("snmpd not found: install Debian's `snmpd` package (the README's setup does)");
}

/// A port free for UDP on 127.0.0.1 and ::1 and for TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let v4 = UdpSocket::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = v4.local_addr().unwrap().port();
        if UdpSocket::bind(("::1", port)).is_ok() && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

trait DieWithParent {
    fn die_with_parent(&mut self) -> &mut Self;
}

impl DieWithParent for Command {
    /// The agent gets SIGTERM when the process that started it dies, however it dies (a
    /// killed test run, a demo stopped with `kill`), so no snmpd is left behind.
    fn die_with_parent(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe and touches only the child being started.
        unsafe {
            self.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            })
        }
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

impl Snmpd {
    /// Starts snmpd with `tests/fixtures/snmpd.conf` and waits until it answers.
    pub fn start() -> Snmpd {
        Snmpd::start_with_config(&fixture("snmpd.conf"))
    }

    /// Starts snmpd on a given port (for the demo's `--serve`); panics if it cannot bind.
    pub fn start_on_port(port: u16) -> Snmpd {
        Snmpd::launch(&fixture("snmpd.conf"), Some(port))
    }

    pub fn start_with_config(config: &Path) -> Snmpd {
        Snmpd::launch(config, None)
    }

    fn launch(config: &Path, fixed_port: Option<u16>) -> Snmpd {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "snmp-stream-snmpd-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for _attempt in 0..5 {
            let port = fixed_port.unwrap_or_else(free_port);
            let child = Command::new(snmpd_binary())
                .args(["-f", "-Lf"])
                .arg(dir.join("snmpd.log"))
                .arg("-C")
                .arg("-c")
                .arg(config)
                .arg("-p")
                .arg(dir.join("snmpd.pid"))
                .arg(format!("udp:127.0.0.1:{port},udp6:[::1]:{port},tcp:127.0.0.1:{port}"))
                .env("SNMP_PERSISTENT_DIR", &dir)
                .env("MIBS", "")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .die_with_parent()
                .spawn()
                .expect("start snmpd");
            let mut agent = Snmpd { child, port, dir: dir.clone() };
            if agent.wait_ready(Duration::from_secs(10)) {
                return agent;
            }
            // Most likely another process took the port between the check and the bind.
            let _ = agent.child.kill();
            let _ = agent.child.wait();
            std::mem::forget(agent);
        }
        panic!("snmpd did not start; see {}", dir.join("snmpd.log").display());
    }

    fn wait_ready(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let probe = Command::new("snmpget")
                .args(["-v2c", "-c", "public", "-t", "0.2", "-r", "0", "-On"])
                .arg(self.host())
                .arg("1.3.6.1.2.1.1.5.0")
                .output();
            if probe.is_ok_and(|out| out.status.success()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `udp6:[::1]:PORT`
    pub fn host6(&self) -> String {
        format!("udp6:[::1]:{}", self.port)
    }

    /// `tcp:127.0.0.1:PORT`
    pub fn host_tcp(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
