"""Real servers for tests, started on free ports and stopped in `finally`: PostgreSQL (Debian's
`postgresql`), Redis (Debian's `redis-server`), an S3 API (moto's server), and network namespaces that
stand for separate hosts (`ip netns`, where it works).

Every server runs in its own process group (start_new_session) with its files inside `base_dir`; waits
are bounded. `make test` installs the Debian packages when they are missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited with code {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f} s")


def stop_group(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)


# ---------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    db: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.db}"

    def env(self) -> dict[str, str]:
        """The variables resources/dagster-postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return found


def _as_postgres(argv: list[str]) -> list[str]:
    return argv if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *argv]


def _ensure_postgres_user() -> None:
    """Postgres refuses to run as root: as root, initdb and the server run as `postgres` (made if missing)."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)


@contextlib.contextmanager
def start_postgres(base_dir: Path, host: str = LOOPBACK) -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster in `base_dir` listening on `host` (a free port), a password user
    and a database; stopped with `pg_ctl stop -m immediate`."""
    _ensure_postgres_user()
    base = Path(base_dir) / f"pg-{uuid.uuid4().hex[:6]}"
    private = None
    if os.geteuid() == 0:
        # As root the cluster runs as `postgres`, which must reach its files for the server's lifetime. Under
        # pytest's basetemp that fails: every new pytest session resets /tmp/pytest-of-root to 0700 (seen:
        # the checkpointer PANICs mid-test). So the cluster lives in its own /tmp folder, linked from base_dir.
        private = Path(tempfile.mkdtemp(prefix="codecvdc-pg-"))
        private.chmod(0o755)
        base.parent.mkdir(parents=True, exist_ok=True)
        base.symlink_to(private, target_is_directory=True)
    data, sock = base / "data", base / "socket"
    sock.mkdir(parents=True)
    server = PostgresServer(host, free_port(host), "codecvdc", uuid.uuid4().hex, "codecvdc")
    pwfile = base / "pwfile"
    pwfile.write_text(server.password + "\n")
    if private is not None:
        for path in (private, sock, pwfile):
            shutil.chown(path, "postgres")
        data, sock, pwfile = private / "data", private / "socket", private / "pwfile"
    initdb = [_pg_bin("initdb"), "-D", str(data), "-U", server.user, f"--pwfile={pwfile}"]
    initdb += ["--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync"]
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    with open(data / "pg_hba.conf", "a") as hba:  # initdb allows loopback only; `host` may be a bridge address
        hba.write(f"host all all {host}/32 scram-sha-256\nhost all all samenet scram-sha-256\n")
    options = f"-c listen_addresses={host} -p {server.port} -k {sock} -c fsync=off -c max_connections=200"
    pg_ctl = _pg_bin("pg_ctl")
    log = (private or base) / "server.log"
    try:
        start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        subprocess.run(_as_postgres(start), check=True, capture_output=True, timeout=90, start_new_session=True)
        createdb = [_pg_bin("createdb"), "-h", str(sock), "-p", str(server.port), "-U", server.user, server.db]
        subprocess.run(_as_postgres(createdb), check=True, capture_output=True, timeout=60)
        yield server
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"]
        subprocess.run(_as_postgres(stop), capture_output=True, timeout=60)
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


# ---------------------------------------------------------------- Redis


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def db_url(self, db: int) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


@contextlib.contextmanager
def start_redis(base_dir: Path, host: str = LOOPBACK) -> Iterator[RedisServer]:
    """redis-server on `host` (a free port), no persistence, its files in `base_dir`."""
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError("redis-server not found: install Debian's redis-server (make test does)")
    folder = Path(base_dir) / f"redis-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    server = RedisServer(host, free_port(host))
    argv = [binary, "--bind", host, "--port", str(server.port), "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(folder), "--daemonize", "no", "--protected-mode", "no"]
    with open(folder / "server.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(host, server.port, 30, proc)
        yield server
    finally:
        stop_group(proc)


# ---------------------------------------------------------------- S3 (moto)


@dataclass(frozen=True)
class S3Server:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def start_s3(base_dir: Path, host: str = LOOPBACK) -> Iterator[S3Server]:
    """moto's S3 server as its own process (workers in other processes and namespaces reach it)."""
    server = S3Server(host, free_port(host))
    folder = Path(base_dir) / f"s3-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    argv = [sys.executable, "-m", "moto.server", "-H", host, "-p", str(server.port)]
    with open(folder / "server.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=folder)
    try:
        wait_for_port(host, server.port, 60, proc)
        yield server
    finally:
        stop_group(proc)


# ---------------------------------------------------------------- hosts as network namespaces


@dataclass
class Hosts:
    """Hosts the tests start workers on. With namespaces, `address` is the root namespace's address on a
    bridge that every namespace reaches (servers listen there) and `prefix(name)` runs a command inside
    host `name`'s namespace with its own hostname; without, everything is one host on loopback."""

    address: str = LOOPBACK
    names: list[str] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)

    @property
    def isolated(self) -> bool:
        return bool(self.namespaces)

    def prefix(self, name: str) -> list[str]:
        if name not in self.namespaces:
            return []
        # unshare --uts: the namespace's own hostname, so host:pid names the "host" as well as the process.
        shell = f'hostname {name} && exec "$@"'
        return ["ip", "netns", "exec", self.namespaces[name], "unshare", "--uts", "sh", "-c", shell, "--"]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def netns_available() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        return False
    probe = f"cvdc-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError):
        return False
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", probe)
    return True


@contextlib.contextmanager
def start_hosts(names: list[str]) -> Iterator[Hosts]:
    """One network namespace per name, joined to the root namespace by a bridge on a private /24 (veth
    pairs); everything is removed in `finally`. Without `ip netns` (not root, no kernel support): one
    host on loopback, and the tests run the workers as plain processes."""
    if not netns_available():
        yield Hosts(names=list(names))
        return
    tag = f"{os.getpid() % 10000:04d}"
    subnet = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    bridge = f"cvbr{tag}"
    made_links: list[str] = []
    namespaces: dict[str, str] = {}
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made_links.append(bridge)
        _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for i, name in enumerate(names, 2):
            ns, outer, inner = f"cvdc-{tag}-{name}", f"cv{tag}h{i}", f"cv{tag}n{i}"
            _ip("netns", "add", ns)
            namespaces[name] = ns
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            made_links.append(outer)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", ns, "addr", "add", f"{subnet}.{i}/24", "dev", inner)
            _ip("-n", ns, "link", "set", inner, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield Hosts(address=f"{subnet}.1", names=list(names), namespaces=namespaces)
    finally:
        for ns in namespaces.values():
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("netns", "del", ns)
        for link in reversed(made_links):
            with contextlib.suppress(subprocess.CalledProcessError):
                _ip("link", "del", link)
