//! A real net-snmp `snmpd` on 127.0.0.1 and ::1 (UDP) and 127.0.0.1 (TCP), on a free port, with
//! the config in `python/snmp_stream/agent.conf`. Stopped on drop.
//!
//! The agent is started by the project's one snmpd launcher, `python/snmp_stream/snmpd.py serve`
//! (standard-library Python, shared with the Python tests, the demo and the benchmarks): it
//! prints the port once the agent answers and stops the agent when its stdin is closed.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the launcher may take to report a port: its agent answers within 30 s or it fails.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long the launcher may take to stop its agent (SIGTERM, then SIGKILL after 5 s).
const STOP_LIMIT: Duration = Duration::from_secs(15);

pub struct Snmpd {
    launcher: Child,
    /// Closing it (on drop) tells the launcher to stop the agent and exit.
    stdin: Option<ChildStdin>,
    port: u16,
}

trait DieWithParent {
    fn die_with_parent(&mut self) -> &mut Self;
}

impl DieWithParent for Command {
    /// The launcher gets SIGTERM (and stops its agent) when the thread that started it ends,
    /// however the process ends (a killed test run, a demo stopped with `kill`), so no snmpd is
    /// left behind.
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

fn launcher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/snmp_stream/snmpd.py")
}

/// The agents' default config, shipped in the Python package.
fn agent_conf() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/snmp_stream/agent.conf")
}

impl Snmpd {
    /// Starts snmpd with `python/snmp_stream/agent.conf` and waits until it answers.
    pub fn start() -> Snmpd {
        Snmpd::start_with_config(&agent_conf())
    }

    /// Starts snmpd on a given port (for the demo's `--serve`); panics if it cannot bind.
    pub fn start_on_port(port: u16) -> Snmpd {
        Snmpd::launch(&agent_conf(), Some(port))
    }

    pub fn start_with_config(config: &Path) -> Snmpd {
        Snmpd::launch(config, None)
    }

    fn launch(config: &Path, fixed_port: Option<u16>) -> Snmpd {
        let mut command = Command::new("python3");
        command.arg(launcher()).arg("serve").arg("--config").arg(config);
        if let Some(port) = fixed_port {
            command.arg("--port").arg(port.to_string());
        }
        let mut launcher = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .die_with_parent()
            .spawn()
            .unwrap_or_else(|e| panic!("start python3 (the README's setup installs Python 3.11): {e}"));
        let stdout = launcher.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let port = receiver.recv_timeout(START_LIMIT).ok().and_then(|line| line.trim().parse::<u16>().ok());
        match port {
            Some(port) => Snmpd { stdin: launcher.stdin.take(), launcher, port },
            None => {
                let _ = launcher.kill();
                let _ = launcher.wait();
                let mut stderr = String::new();
                if let Some(mut pipe) = launcher.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("snmpd did not start (python3 {} serve):\n{stderr}", self::launcher().display());
            }
        }
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
        drop(self.stdin.take());
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if !matches!(self.launcher.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        // SIGKILL: the agent still gets SIGTERM, since the launcher set its parent-death signal.
        let _ = self.launcher.kill();
        let _ = self.launcher.wait();
    }
}
