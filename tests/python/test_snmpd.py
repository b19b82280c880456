"""The one snmpd launcher (snmp_stream.snmpd): ports, configs, and its command line as the Rust
tests use it (standard library only, stopped by EOF or a signal, its agent never outliving it)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import net_snmp
from snmp_stream import snmpd

LAUNCHER = Path(snmpd.__file__)
SYS_NAME = "1.3.6.1.2.1.1.5.0"


def sys_name(host: str) -> str:
    [line] = net_snmp("snmpget", "-v2c", "-c", "public", "-t", "2", host, SYS_NAME)
    return line.split(" = STRING: ")[1].strip('"')


def alive(pid: int) -> bool:
    """False once `pid` has exited (a zombie waiting for init to reap it counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_dead(pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still running"
        time.sleep(0.02)


def test_free_port_taken_before_snmpd_binds_it_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        handed: list[int] = []
        real = snmpd.free_port

        def first_the_taken_port() -> int:
            handed.append(real() if handed else taken.getsockname()[1])
            return handed[-1]

        monkeypatch.setattr(snmpd, "free_port", first_the_taken_port)
        with snmpd.agents() as [agent]:
            assert handed[0] == taken.getsockname()[1] and agent.port == handed[1], handed
            assert sys_name(agent.host) == "snmp-stream-test"


def test_a_fixed_port_that_is_taken_fails_with_the_log() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        expected = re.escape(f'Error opening specified endpoint "udp:127.0.0.1:{port}"')
        with pytest.raises(snmpd.SnmpdError, match=expected), snmpd.agents(ports=[port]):
            pass


def test_config_text_and_extra_lines_outside_the_state_dir() -> None:
    text = "rocommunity public default\nrocommunity6 public default\nsysName first-name\n"
    with snmpd.agents(2, config_text=text, extra_config="sysContact someone@example.net") as started:
        assert len({agent.port for agent in started}) == 2
        for agent in started:
            assert sys_name(agent.host) == sys_name(agent.host6) == sys_name(agent.host_tcp) == "first-name"
            [contact] = net_snmp("snmpget", "-v2c", "-c", "public", agent.host, "1.3.6.1.2.1.1.4.0")
            assert contact.endswith('"someone@example.net"')
            # snmpd writes a snmpd.conf of its own into its state dir on exit: ours is elsewhere.
            command = Path(f"/proc/{agent.process.pid}/cmdline").read_bytes().split(b"\0")
            config = Path(os.fsdecode(command[command.index(b"-c") + 1]))
            assert config.read_text().startswith(text) and agent.state_dir not in config.parents
    assert all(agent.process.returncode is not None for agent in started)
    assert not agent.state_dir.exists()


def serve(*args: str) -> tuple[subprocess.Popen[str], int, int]:
    """The launcher run as the Rust tests run it, but with `python3 -S`: no site-packages, so
    neither this package nor numpy can be imported. Returns it, its port and its snmpd's pid."""
    launcher = subprocess.Popen(
        ["python3", "-S", str(LAUNCHER), "serve", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    line = launcher.stdout.readline()
    assert line.strip().isdigit(), (line, launcher.stderr.read() if launcher.stderr else "")
    [child] = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    return launcher, int(line), int(child)


def test_serve_runs_until_stdin_ends() -> None:
    launcher, port, agent = serve()
    assert sys_name(f"127.0.0.1:{port}") == sys_name(f"udp6:[::1]:{port}") == "snmp-stream-test"
    assert sys_name(f"tcp:127.0.0.1:{port}") == "snmp-stream-test"
    assert launcher.poll() is None
    assert launcher.stdin is not None
    launcher.stdin.close()
    assert launcher.wait(timeout=10) == 0
    assert not alive(agent)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_its_agent_on_a_signal(sig: signal.Signals) -> None:
    launcher, _, agent = serve()
    launcher.send_signal(sig)
    assert launcher.wait(timeout=10) == 128 + sig
    assert not alive(agent)


def test_serve_killed_takes_its_agent_along() -> None:
    launcher, _, agent = serve()
    command = Path(f"/proc/{agent}/cmdline").read_bytes().split(b"\0")
    files = Path(os.fsdecode(command[command.index(b"-Lf") + 1])).parents[1]  # the launcher's own
    launcher.kill()
    launcher.wait()
    try:
        wait_dead(agent)  # its parent-death signal
    finally:
        if alive(agent):
            os.kill(agent, signal.SIGKILL)
        shutil.rmtree(files)  # a launcher killed with SIGKILL cannot remove them


def test_serve_on_a_given_port_and_config(tmp_path: Path) -> None:
    config = tmp_path / "agent.conf"
    config.write_text("rocommunity public default\nsysName given-config\n")
    port = snmpd.free_port()
    launcher, reported, _ = serve("--config", str(config), "--port", str(port))
    try:
        assert reported == port
        assert sys_name(f"127.0.0.1:{port}") == "given-config"
    finally:
        launcher.terminate()
        launcher.wait()


def test_serve_reports_why_snmpd_did_not_start() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(LAUNCHER), "serve", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and result.stdout == ""
    assert f'Error opening specified endpoint "udp:127.0.0.1:{port}"' in result.stderr
