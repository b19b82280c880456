"""Fixtures: throwaway servers on 127.0.0.1 for the worker's tests, each on a free port with its
own temporary storage, never the machine's own (NATS on 4222, PostgreSQL on 5432).

- `nats_server`: `nats-server -js`, JetStream ready; `.url` is "nats://127.0.0.1:PORT".
  `own_nats_server` is a test's own (it may `.stop(signal)` and `.start()` it again), and
  `nats_cluster` three of them clustered.
- `postgres`: a fresh PostgreSQL cluster (trust auth on 127.0.0.1) with an empty database `snmp`;
  `.dsn` is a libpq connection string, `.url` the same as a URI; `.restart()` restarts it.

`nats_server` and `postgres` are session-scoped: tests sharing them should use their own
stream and table names. Tests
using them are skipped when the server's binaries are not installed (Debian: nats-server,
postgresql; scripts/setup.sh installs both).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT = 10.0


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """Polls `ready` until it is true (true), or the process exits or time is up (false)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while process.poll() is None and time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.02)
    return False


# --- NATS ----------------------------------------------------------------------------------------


class NatsServer:
    """A nats-server with JetStream on 127.0.0.1, that a test may stop and start again (same
    port, same store: what it had stored survives, as it would on a real restart)."""

    def __init__(
        self,
        binary: str,
        base: Path,
        cluster: list[int] | None = None,
        index: int = 0,
        options: list[str] | None = None,
        scheme: str = "nats",
    ) -> None:
        self.binary = binary
        self.options = options or []  # e.g. authentication or TLS
        self.scheme = scheme
        self.store_dir = base / f"jetstream-{index}"
        self.log = base / f"log-{index}"
        self.name = f"snmp-stream-test-{uuid.uuid4().hex[:12]}-{index}"
        self.cluster = cluster  # every member's cluster port, this one's at `index`
        self.index = index
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts it (on a free port the first time, on the same one after); waits for JetStream."""
        for _ in range(1 if self.port else 5):
            port = self.port or _free_tcp_port()
            command = [self.binary, "-js", "-n", self.name, "-a", "127.0.0.1", "-p", str(port)]
            command += ["-sd", str(self.store_dir), "-l", str(self.log), *self.options]
            if self.cluster:
                routes = ",".join(
                    f"nats://127.0.0.1:{p}" for i, p in enumerate(self.cluster) if i != self.index
                )
                command += ["--cluster_name", "snmp-stream-test", "--cluster"]
                command += [f"nats://127.0.0.1:{self.cluster[self.index]}", "--routes", routes]
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            ready = functools.partial(_jetstream_ready, port, self.name)
            if self.cluster or self.options:
                ready = functools.partial(_listening, port)  # a quorum, or auth: just the port
            if _wait_until(ready, self.process):
                self.port, self.url = port, f"{self.scheme}://127.0.0.1:{port}"
                return
            if self.process.poll() is None:
                self.stop()
                raise RuntimeError(f"nats-server did not get ready:\n{_tail(self.log)}")
            # It exited: most likely the port was taken meanwhile; try another.
        raise RuntimeError(f"nats-server did not start:\n{_tail(self.log)}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _nats_binary() -> str:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not os.access(binary, os.X_OK):
        pytest.skip("nats-server is not installed (Debian package nats-server; see scripts/setup.sh)")
    return binary


def _jetstream_ready(port: int, name: str) -> bool:
    """Asks the server on `port` for its JetStream account info over the plain NATS protocol:
    true once JetStream answers. The server must be ours, by name: were the port taken by another
    one in between, ours would exit while that one answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
            line, data = data.split(b"\r\n", 1)
            if not line.startswith(b"INFO ") or json.loads(line[5:]).get("server_name") != name:
                return False
            s.sendall(
                b'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n'
                b"SUB _INBOX.ready 1\r\n"
                b"PUB $JS.API.INFO _INBOX.ready 0\r\n\r\n"
            )
            while True:
                # MSG <subject> <sid> <size>\r\n<payload>\r\n
                start = data.find(b"MSG _INBOX.ready ")
                header_end = data.find(b"\r\n", start) if start >= 0 else -1
                if header_end >= 0:
                    size = int(data[start:header_end].split()[-1])
                    payload = data[header_end + 2 : header_end + 2 + size]
                    if len(payload) == size:
                        reply = json.loads(payload)
                        return "error" not in reply and (
                            reply.get("type") == "io.nats.jetstream.api.v1.account_info_response"
                        )
                if b"-ERR" in data:
                    return False
                chunk = s.recv(65536)
                if not chunk:
                    return False
                data += chunk
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _one_server() -> Iterator[NatsServer]:
    with tempfile.TemporaryDirectory(prefix="snmp-stream-nats-") as tmp:
        server = NatsServer(_nats_binary(), Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One server for the whole session (tests use their own streams on it)."""
    with _one_server() as server:
        yield server


@pytest.fixture
def own_nats_server() -> Iterator[NatsServer]:
    """A server of the test's own, which it may stop and start again."""
    with _one_server() as server:
        yield server


@pytest.fixture
def nats_cluster() -> Iterator[list[NatsServer]]:
    """A 3-node JetStream cluster on loopback (its servers may be stopped and started again)."""
    with tempfile.TemporaryDirectory(prefix="snmp-stream-nats-") as tmp:
        ports = [_free_tcp_port() for _ in range(3)]
        servers = [NatsServer(_nats_binary(), Path(tmp), ports, i) for i in range(3)]
        try:
            for server in servers:
                server.start()
            yield servers
        finally:
            for server in servers:
                server.stop(signal.SIGKILL)


# --- PostgreSQL ----------------------------------------------------------------------------------


class Postgres:
    def __init__(
        self,
        port: int,
        data_dir: Path,
        restart: Callable[[], None],
        dbname: str = "snmp",
        user: str = "postgres",
    ) -> None:
        self.restart = restart  # fast shutdown (open connections are cut), then start again
        self.host = "127.0.0.1"
        self.port = port
        self.dbname = dbname
        self.user = user
        self.data_dir = data_dir
        self.dsn = f"host={self.host} port={port} dbname={dbname} user={user}"
        self.url = f"postgresql://{user}@{self.host}:{port}/{dbname}"


def _postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = []
    for initdb in glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        version = Path(initdb).parent.parent.name
        if os.access(initdb, os.X_OK):
            found.append((tuple(int(part) for part in version.split(".") if part.isdigit()), initdb))
    if found:
        return Path(max(found)[1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bindir = _postgres_bin()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip("PostgreSQL is not installed (Debian package postgresql; see scripts/setup.sh)")
    # initdb and postgres refuse to run as root: run them as the postgres OS user then.
    as_owner: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres OS user to run PostgreSQL as")
        as_owner = ["runuser", "-u", "postgres", "--"]

    with tempfile.TemporaryDirectory(prefix="snmp-stream-pg-") as tmp:
        base = Path(tmp)
        if owner is not None:
            os.chown(base, owner.pw_uid, owner.pw_gid)
        data, log = base / "data", base / "log"

        def run(*args: str) -> None:
            out = subprocess.run(
                [*as_owner, *args],
                cwd=base,  # the owner may not be able to enter the caller's directory
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                # libpq's PG* variables (PGSSLMODE, PGOPTIONS, ...) are for other servers.
                env={**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "LC_ALL": "C"},
            )
            if out.returncode != 0:
                raise RuntimeError(f"{' '.join(args)} failed:\n{out.stdout}{out.stderr}\n{_tail(log)}")

        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        try:
            for attempt in range(5):
                port = _free_tcp_port()
                options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
                options += " -c synchronous_commit=off -c full_page_writes=off"
                try:
                    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
                    break
                except RuntimeError:
                    if attempt == 4:  # else most likely the port was taken meanwhile: try another
                        raise
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "snmp")
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options]
            yield Postgres(port, data, lambda: run(*pg_ctl, "-m", "fast", "-w", "restart"))
        finally:
            # Whatever happened above: a server left running would outlive the removed directory.
            subprocess.run(
                [*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                cwd=base,
                stdin=subprocess.DEVNULL,
                capture_output=True,
            )
