"""The local schema registry: Apicurio Registry with its Confluent-compatible API.

Apicurio ships its server to Maven Central only as a library jar, so the first start builds a
runnable Quarkus application from ``cluster/registry/pom.xml`` (Maven, about a minute and ~130 MB
of jars, once per pom change) into ``<settings.home>/registry/build``. The server then runs as
``java -jar`` with a small heap and listens on ``settings.schema_registry_url``; its Confluent
API lives under ``/apis/ccompat/v7``::

    with SchemaRegistry().running() as registry:
        registry.ccompat_url  # 'http://127.0.0.1:8081/apis/ccompat/v7'

Storage is Apicurio's SQL storage on an embedded H2 database kept in a file,
``<settings.home>/registry/data/registry.mv.db`` (:attr:`SchemaRegistry.data_dir`): schemas,
their global ids and each subject's compatibility rule survive a restart, so messages framed
with an id days ago still decode, and re-registering a schema returns its old id. Apicurio
creates its tables on the first start and leaves them alone afterwards; removing the data
folder (with the registry stopped) resets it to empty, ids restarting from 1. ``WRITE_DELAY=0``
makes H2 write each commit to the file before the registry answers, so a registry killed with
``kill -9`` keeps every id it handed out (H2's default 500 ms delay lost the last one, and the
next, different schema got its id). H2 locks the file: one registry per home. (The log's
"Using In Memory (H2) SQL storage" is the name of Apicurio's storage class, not the mode.)
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from ray_platform.avro_codec import CCOMPAT_PATH
from ray_platform.errors import ServiceError
from ray_platform.services.base import (
    LocalService,
    folder_lock,
    launch,
    recorded_pid,
    stop_recorded,
    terminate,
)
from ray_platform.services.kafka import _check_java, _last_lines, _maven_reason
from ray_platform.settings import Settings, get_settings

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster" / "registry"
_RUNNER = "gbank-schema-registry-1.0-runner.jar"
# A small heap: the registry holds a handful of schemas; C1 only, since it starts more than it runs.
_JVM_OPTS = ("-Xms64m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1")


class SchemaRegistry(LocalService):
    """Build once, start, stop and probe the local registry; every method is idempotent."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        start_timeout: float = 120.0,
        stop_timeout: float = 20.0,
    ) -> None:
        self.settings = settings or get_settings()
        parts = urlsplit(self.settings.schema_registry_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 8081
        self.url = f"http://{self.host}:{self.port}"
        self.ccompat_url = self.url + CCOMPAT_PATH
        self.dir = self.settings.home / "registry"
        self.build_dir = self.dir / "build"
        self.data_dir = self.dir / "data"
        # Read at run time by Quarkus; the system property outranks the %prod default (in-memory).
        self.jdbc_url = f"jdbc:h2:file:{self.data_dir / 'registry'};WRITE_DELAY=0"
        self.pid_file = self.dir / "registry.pid"
        self.log_file = self.dir / "registry.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout

    def answers(self) -> bool:
        """Whether a registry answers the Confluent API on the configured address."""
        try:
            with urllib.request.urlopen(self.ccompat_url + "/subjects", timeout=2) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def pid(self) -> int | None:
        """The pid of the registry this home started, if it is alive."""
        return recorded_pid(self.pid_file, _is_registry)

    def start(self) -> bool:
        """Start the registry (building it on first use); False if one already answers."""
        with self._lock():
            if self.answers():
                return False
            java = _check_java()
            runner = self.ensure_built()
            if ";" in str(self.data_dir):
                raise ServiceError(f"the registry's data folder {self.data_dir} contains ';'")
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd = [
                java, *_JVM_OPTS,
                f"-Dquarkus.http.host={self.host}", f"-Dquarkus.http.port={self.port}",
                f"-Dquarkus.datasource.jdbc.url={self.jdbc_url}",
                "-Dquarkus.log.level=WARN",
                "-jar", str(runner),
            ]  # fmt: skip
            proc = launch(cmd, self.dir, self.log_file, self.pid_file, append=False)
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    self.pid_file.unlink(missing_ok=True)
                    raise ServiceError(
                        f"schema registry exited during start-up (code {proc.returncode}): "
                        f"{_last_lines(self._log_text(), 5)} (log {self.log_file})"
                    )
                if self.answers():
                    return True
                time.sleep(0.3)
            self._kill(proc.pid)
            raise ServiceError(
                f"schema registry did not answer on {self.url} within "
                f"{self.start_timeout:.0f} s; stopped it (log {self.log_file})"
            )

    def stop(self) -> bool:
        """Stop the registry this home started; False if it was not running."""
        with self._lock():
            return stop_recorded(self.pid_file, _is_registry, self.stop_timeout)

    def ensure_built(self) -> Path:
        """The runnable registry jar, running the Maven/Quarkus build when the pom changed."""
        runner = self.build_dir / _RUNNER
        stamp = self.build_dir / ".sources.sha256"
        digest = _sources_digest()
        if runner.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
            return runner
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "cannot build the schema registry: Maven (mvn) is not on PATH; it fetches "
                "Apicurio Registry's jars once (e.g. `apt-get install maven`)"
            )
        shutil.rmtree(self.build_dir, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(CLUSTER_DIR / "pom.xml"), "package", "-DskipTests"]
        cmd.append(f"-Dgbank.registry.build={self.build_dir}")
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1200)
        if done.returncode != 0 or not runner.is_file():
            raise ServiceError(
                "cannot build the schema registry with Maven: "
                + _maven_reason(done.stdout + done.stderr)
            )
        stamp.write_text(digest + "\n")
        return runner

    def _kill(self, pid: int) -> None:
        terminate(pid, lambda: _is_registry(pid), self.stop_timeout)
        self.pid_file.unlink(missing_ok=True)

    def _log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        # Two test sessions starting at once must not build or launch two registries.
        return folder_lock(self.dir)


def _sources_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in CLUSTER_DIR.rglob("*") if p.is_file()):
        if "target" in path.relative_to(CLUSTER_DIR).parts:
            continue
        digest.update(str(path.relative_to(CLUSTER_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _is_registry(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process launched it and it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):
        return _RUNNER.encode() in cmdline.read_bytes()
    return True
