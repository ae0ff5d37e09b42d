"""Real servers for tests, started on loopback by the test itself and always stopped.

`start_postgres(base_dir)`: Debian's PostgreSQL (`make test` installs `postgresql` when missing), a fresh
cluster initialised inside `base_dir`, listening only on 127.0.0.1 at a free port, its unix socket inside
`base_dir` too. PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the
`postgres` system user (created by the Debian package) and every server command runs through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

PG_USER = "codecvdc"
PG_PASSWORD = "codecvdc-test"  # a throwaway cluster on loopback, deleted with the test's folder
PG_DB = "dagster"
START_TIMEOUT_S = 60
COMMAND_TIMEOUT_S = 90


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


def postgres_bin_dir() -> Path:
    """The directory holding initdb/pg_ctl/postgres (Debian keeps them in /usr/lib/postgresql/N/bin)."""
    on_path = shutil.which("initdb")
    candidates = ([str(Path(on_path).resolve().parent)] if on_path else []) + sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), reverse=True
    )
    for folder in candidates:
        if all((Path(folder) / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "createdb")):
            return Path(folder)
    raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make test does it)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _let_server_user_in(path: Path) -> None:
    """Under root, give the postgres user the folders it needs: its own cluster folder, and search (x, not
    read) permission on the ancestors (pytest's temporary folders are 0700)."""
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")


@contextmanager
def start_postgres(base_dir: Path) -> Iterator[PostgresServer]:
    """A running PostgreSQL server with an empty database `PG_DB`; stopped (immediate mode) on exit."""
    bin_dir = postgres_bin_dir()
    root = Path(base_dir) / "postgres"
    root.mkdir(parents=True, exist_ok=True)
    _let_server_user_in(root)
    data, sock, log = root / "data", root / "sock", root / "server.log"
    pwfile = root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
    init = [str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}"]
    _run(_as_server_user([*init, "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"]), "initdb")
    sock.mkdir()
    _let_server_user_in(sock)
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} -c max_connections=200"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    start = [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", str(START_TIMEOUT_S), "start"]
    server = PostgresServer("127.0.0.1", port, PG_USER, PG_PASSWORD, PG_DB)
    try:
        _run(_as_server_user(start), f"pg_ctl start (log {log})")
        env = dict(os.environ, PGPASSWORD=PG_PASSWORD)
        createdb = [str(bin_dir / "createdb"), "-h", server.host, "-p", str(port), "-U", PG_USER, PG_DB]
        _run(createdb, "createdb", env=env)
        yield server
    finally:
        _stop(pg_ctl, data)


def _stop(pg_ctl: list[str], data: Path) -> None:
    pidfile = data / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        _run(_as_server_user([*pg_ctl, "-m", "immediate", "-w", "-t", "30", "stop"]), "pg_ctl stop")
    except (RuntimeError, subprocess.TimeoutExpired):
        if pidfile.exists():  # the postmaster's children follow it down
            with suppress(ProcessLookupError, ValueError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
