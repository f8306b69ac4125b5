"""The core-banking PostgreSQL (Debian's ``postgresql`` package), run from project code.

The cluster lives in ``<settings.home>/postgres/data`` (created with ``initdb`` on first start;
under ``/var/lib/postgresql/gbank/`` when root runs it from a home the postgres user cannot
reach, such as a checkout under ``/root``),
listens on ``settings.postgres_address`` (127.0.0.1:5433; 5432 is left to a system server) and
logs to ``<settings.home>/postgres/postgres.log``. It is configured for Debezium: ``wal_level =
logical`` and room for replication slots; every start applies ``cluster/postgres/schema.sql``
(the ``core`` schema of database ``core``). Authentication is ``trust`` on loopback only, the
same trade as the other embedded services: a development database, never a production one.

PostgreSQL refuses to run as root (CI runs as root), so the server then runs as the
``postgres`` OS user that Debian's package creates; started by any other user, it runs as that
user. When the binaries are missing, :meth:`start` installs the package with ``apt-get``::

    with PostgresServer().running() as pg:
        pg.dsn()  # 'host=127.0.0.1 port=5433 user=gbank dbname=core'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService, folder_lock
from ray_platform.settings import Settings, get_settings

USER = "gbank"
"""The superuser ``initdb`` creates; Debezium needs its REPLICATION right."""
DATABASE = "core"
"""The core-banking database."""

SCHEMA_SQL = Path(__file__).resolve().parents[2] / "cluster" / "postgres" / "schema.sql"
"""The core-banking schema, applied at every start (idempotent)."""

_PG_ROOT = Path("/usr/lib/postgresql")
_PG_HOME = Path("/var/lib/postgresql")  # the postgres user's home in Debian's package
_SERVER_CONF = """
# Written by ray_platform.services.postgres; Debezium's pgoutput needs logical decoding.
listen_addresses = '{host}'
port = {port}
unix_socket_directories = '{socket_dir}'
wal_level = logical
max_wal_senders = 8
max_replication_slots = 8
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def postgres_bin() -> Path:
    """The folder of ``initdb``/``pg_ctl``, installing Debian's package if none is there."""
    found = _newest_bin()
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise ServiceError("PostgreSQL is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [apt, "install", "-y", "--no-install-recommends", "postgresql"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run([apt, "update"], capture_output=True, timeout=600, env=env)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    found = _newest_bin()
    if done.returncode != 0 or found is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ServiceError(
            "could not install PostgreSQL with apt-get (run `apt-get update && apt-get install "
            f"-y postgresql` as root): {' | '.join(tail)}"
        )
    return found


def _newest_bin() -> Path | None:
    if not _PG_ROOT.is_dir():
        return None
    versions = [p for p in _PG_ROOT.iterdir() if p.name.isdigit() and (p / "bin/pg_ctl").exists()]
    return max(versions, key=lambda p: int(p.name)) / "bin" if versions else None


class PostgresServer(LocalService):
    """Start, stop and reach the core-banking PostgreSQL; every method is idempotent."""

    def __init__(self, settings: Settings | None = None, *, start_timeout: float = 60.0) -> None:
        self.settings = settings or get_settings()
        host, _, port = self.settings.postgres_address.partition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 5433)
        self.dir = _cluster_dir(self.settings.home / "postgres")
        self.data = self.dir / "data"
        self.log_file = self.dir / "postgres.log"
        self.start_timeout = start_timeout

    def dsn(self, dbname: str = DATABASE) -> str:
        """A libpq connection string for ``dbname`` (psycopg and ``psql`` take it as is)."""
        return f"host={self.host} port={self.port} user={USER} dbname={dbname}"

    def ready(self) -> bool:
        """Whether a server accepts connections on the configured address."""
        try:
            socket.create_connection((self.host, self.port), timeout=1.0).close()
        except OSError:
            return False
        try:
            import psycopg

            with psycopg.connect(self.dsn("postgres"), connect_timeout=3):
                return True
        except Exception:  # still starting up, or another server holds the port
            return False

    def start(self) -> bool:
        """Create the cluster if needed and start it; False if one already answers."""
        with self._lock():
            if self.ready():
                self._ensure_database()
                return False
            binaries = postgres_bin()
            self._ensure_cluster(binaries)
            self.log_file.touch(exist_ok=True)
            _chown(self.log_file)
            cmd = [str(binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file)]
            cmd += ["-w", "-t", str(int(self.start_timeout)), "start"]
            done = self._as_owner(cmd, timeout=self.start_timeout + 10)
            if done.returncode != 0 or not self._wait_ready():
                raise ServiceError(
                    f"PostgreSQL did not start on {self.host}:{self.port}: "
                    f"{_tail(done.stdout + done.stderr + self._log_text())} (log {self.log_file})"
                )
            self._ensure_database()
            return True

    def stop(self) -> bool:
        """Stop the server this home runs (fast shutdown); False if it was not running."""
        if not (self.data / "postmaster.pid").exists():
            return False
        binaries = postgres_bin()
        cmd = [str(binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
        done = self._as_owner(cmd, timeout=60)
        if done.returncode != 0 and (self.data / "postmaster.pid").exists():
            raise ServiceError(f"PostgreSQL did not stop: {_tail(done.stdout + done.stderr)}")
        return done.returncode == 0

    def connect(self, dbname: str = DATABASE, **kwargs: object) -> object:
        """A psycopg connection to ``dbname`` (autocommit unless the caller says otherwise)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.dsn(dbname), **kwargs)  # type: ignore[arg-type]

    # -- start-up steps -------------------------------------------------------------------------

    def _ensure_cluster(self, binaries: Path) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _chown(self.dir)
        staging = self.dir / "data.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [str(binaries / "initdb"), "-D", str(staging), "-U", USER, "--auth=trust"]
        cmd += ["-E", "UTF8", "--locale=C.UTF-8"]
        done = self._as_owner(cmd, timeout=120)
        if done.returncode != 0:
            raise ServiceError(f"initdb failed in {staging}: {_tail(done.stdout + done.stderr)}")
        conf = _SERVER_CONF.format(host=self.host, port=self.port, socket_dir=self.dir)
        with (staging / "postgresql.conf").open("a") as handle:
            handle.write(conf)
        staging.rename(self.data)

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            found = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if found.fetchone() is None:
                con.execute(f"CREATE DATABASE {DATABASE}")
        # Debezium's publication lists the captured tables, so they must exist before it starts.
        with psycopg.connect(self.dsn(), autocommit=True) as con:
            con.execute(SCHEMA_SQL.read_text())

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.ready():
                return True
            time.sleep(0.2)
        return False

    def _as_owner(self, cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # initdb and postgres refuse root: drop to the postgres user Debian's package creates.
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ServiceError("PostgreSQL cannot run as root and runuser is missing")
            cmd = [runuser, "-u", "postgres", "--", *cmd]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )

    def _log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        # Two test sessions starting at once must not run initdb twice.
        return folder_lock(self.dir)


def _cluster_dir(wanted: Path) -> Path:
    """``wanted``, unless root runs it and the postgres user could not reach it.

    A checkout under ``/root`` (mode 700) is out of the postgres user's reach; the cluster then
    lives under that user's home, ``/var/lib/postgresql/gbank/<hash of wanted>``, one per
    GBANK_HOME. Decided from permission bits alone, so the answer is the same before and after
    the package (and its user) is installed.
    """
    if os.geteuid() != 0:
        return wanted
    full = wanted.resolve()
    for folder in (full, *full.parents):
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            digest = hashlib.sha256(str(full).encode()).hexdigest()[:12]
            return _PG_HOME / "gbank" / digest
    return wanted


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def _tail(text: str, count: int = 4) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"
