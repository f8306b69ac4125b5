"""A standalone Kafka Connect worker running Debezium's PostgreSQL connector.

Everything lives under ``<settings.home>/connect/``: ``libs/`` (the worker's and Debezium's jars,
copied from ``~/.m2`` by ``cluster/connect/pom.xml``), ``worker.properties`` (rendered from
``cluster/connect/``), ``offsets.dat`` (the connector's source offsets: the last LSN handed to
Kafka), ``connect.log`` and ``connect.pid``. The worker's REST API listens on
``settings.connect_address`` (127.0.0.1:8083).

``start()`` launches the worker against the broker of ``settings.kafka_bootstrap``, creates the
CDC topics and registers the connector of ``cluster/connect/connector.json`` against the
core-banking PostgreSQL (``settings.postgres_address``), which must already be running::

    with PostgresServer().running(), ConnectWorker().running() as connect:
        connect.connector_state()  # ('RUNNING', ['RUNNING'])

Changes to ``core.customers`` and ``core.accounts`` then appear on ``cdc.core.customers`` and
``cdc.core.accounts`` (``<topic.prefix>.<schema>.<table>``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from string import Template
from typing import Any

from ray_platform.errors import ServiceError
from ray_platform.services.base import (
    LocalService,
    folder_lock,
    launch,
    recorded_pid,
    stop_recorded,
)
from ray_platform.services.kafka import KafkaBroker, _check_java, _maven_reason
from ray_platform.services.postgres import DATABASE, USER
from ray_platform.settings import Settings, get_settings

CDC_TOPICS: tuple[str, ...] = ("cdc.core.customers", "cdc.core.accounts")
"""The topics the connector writes: ``cdc.<schema>.<table>`` of the captured tables."""
CONNECTOR = "core-banking-cdc"
"""The connector's name in ``cluster/connect/connector.json``."""

CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster" / "connect"
_MAIN_CLASS = "org.apache.kafka.connect.cli.ConnectStandalone"
_JVM_OPTS = ("-Xms64m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")


class ConnectWorker(LocalService):
    """Start, stop and inspect the Connect worker; every method is safe to call repeatedly."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        start_timeout: float = 120.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.settings = settings or get_settings()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        host, _, port = self.settings.connect_address.partition(":")
        self.host, self.port = host or "127.0.0.1", int(port or 8083)
        self.url = f"http://{self.host}:{self.port}"
        self.dir = self.settings.home / "connect"
        self.libs = self.dir / "libs"
        self.log_file = self.dir / "connect.log"
        self.pid_file = self.dir / "connect.pid"
        self.config_file = self.dir / "worker.properties"
        self.offsets_file = self.dir / "offsets.dat"

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> bool:
        """Start the worker and register the connector; False if the worker was already up.

        Raises :class:`ServiceError` saying why when the worker or the connector cannot start.
        """
        with self._lock():
            started = not self._answers()
            if started:
                java = _check_java()
                self._ensure_libs()
                self._render_config()
                self._wait_ready(self._launch(java))
        try:
            KafkaBroker(self.settings).ensure_topics(CDC_TOPICS)
            self.register()
            self.wait_running()
        except ServiceError:
            if started:
                self.stop()
            raise
        return started

    def stop(self) -> bool:
        """Stop the worker (SIGTERM, which flushes offsets; SIGKILL after ``stop_timeout``)."""
        with self._lock():
            return stop_recorded(self.pid_file, _is_worker, self.stop_timeout)

    # -- the connector --------------------------------------------------------------------------

    def connector_config(self) -> dict[str, str]:
        """The connector's configuration, rendered from ``cluster/connect/connector.json``."""
        host, _, port = self.settings.postgres_address.partition(":")
        text = Template((CLUSTER_DIR / "connector.json").read_text()).substitute(
            pg_host=host or "127.0.0.1",
            pg_port=port or "5433",
            pg_user=USER,
            pg_database=DATABASE,
            partitions=self.settings.kafka_partitions,
        )
        return json.loads(text)["config"]

    def register(self) -> None:
        """Create or update the connector (idempotent: PUT of its configuration)."""
        self._request("PUT", f"/connectors/{CONNECTOR}/config", self.connector_config())

    def connector_state(self) -> tuple[str, list[str]]:
        """``(connector state, [task states])``, e.g. ``('RUNNING', ['RUNNING'])``."""
        try:
            status = self._request("GET", f"/connectors/{CONNECTOR}/status")
        except ServiceError:
            return "UNASSIGNED", []
        return status["connector"]["state"], [t["state"] for t in status.get("tasks", [])]

    def wait_running(self, timeout: float = 60.0) -> None:
        """Wait until the connector and its task run; raise with the task's trace if one fails."""
        deadline = time.monotonic() + timeout
        while True:
            state, tasks = self.connector_state()
            if state == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
                return
            if "FAILED" in (state, *tasks) or time.monotonic() > deadline:
                trace = ""
                with contextlib.suppress(ServiceError, KeyError, IndexError):
                    status = self._request("GET", f"/connectors/{CONNECTOR}/status")
                    failed = [t for t in status["tasks"] if t.get("trace")] or [status["connector"]]
                    trace = failed[0].get("trace", "").strip().splitlines()[0]
                raise ServiceError(
                    f"Debezium connector {CONNECTOR} is {state} (tasks {tasks}): {trace} "
                    f"(log {self.log_file})"
                )
            time.sleep(0.5)

    # -- start-up steps -------------------------------------------------------------------------

    def _ensure_libs(self) -> None:
        pom = CLUSTER_DIR / "pom.xml"
        stamp = self.libs / ".pom.sha256"
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "cannot start Kafka Connect: Maven (mvn) is not on PATH; it fetches the worker's "
                "and Debezium's jars once (e.g. `apt-get install maven`)"
            )
        staging = self.dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        cmd += ["-DincludeScope=runtime", f"-DoutputDirectory={staging}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("debezium-connector-postgres-*.jar")):
            raise ServiceError(
                "cannot start Kafka Connect: Maven could not fetch the jars: "
                + _maven_reason(result.stdout + result.stderr)
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        stamp.write_text(digest + "\n")

    def _render_config(self) -> None:
        template = Template((CLUSTER_DIR / "worker.properties").read_text())
        self.config_file.write_text(
            template.substitute(
                bootstrap=self.settings.kafka_bootstrap,
                offsets_file=self.offsets_file,
                rest_host=self.host,
                rest_port=self.port,
            )
        )

    def _launch(self, java: str) -> subprocess.Popen[bytes]:
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        cmd = [
            java, *_JVM_OPTS,
            f"-Dlog4j2.configurationFile={CLUSTER_DIR / 'log4j2.properties'}",
            "-cp", str(self.libs / "*"), _MAIN_CLASS, str(self.config_file),
        ]  # fmt: skip
        return launch(cmd, self.dir, self.log_file, self.pid_file)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServiceError(
                    f"Kafka Connect exited during start-up (code {proc.returncode}): "
                    f"{_log_tail(self.log_file)} (full log: {self.log_file})"
                )
            if self._answers():
                return
            time.sleep(0.5)
        proc.kill()
        proc.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)
        raise ServiceError(
            f"Kafka Connect did not answer on {self.url} within {self.start_timeout:.0f} s; "
            f"stopped it: {_log_tail(self.log_file)}"
        )

    # -- helpers --------------------------------------------------------------------------------

    def _answers(self) -> bool:
        try:
            self._request("GET", "/connectors", timeout=2.0)
        except ServiceError:
            return False
        return True

    def _request(self, method: str, path: str, body: object = None, timeout: float = 10.0) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # loopback only
                text = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ServiceError(f"Kafka Connect {method} {path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(f"no Kafka Connect worker answers on {self.url} ({exc})") from None
        return json.loads(text) if text else None

    def _live_pid(self) -> int | None:
        return recorded_pid(self.pid_file, _is_worker)

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return folder_lock(self.dir)


def _is_worker(pid: int) -> bool:
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
        return _MAIN_CLASS.encode() in cmdline.read_bytes().split(b"\0")
    return True


def _log_tail(path: Path, count: int = 6) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in lines if " ERROR " in line]
    picked = errors[:2] or lines[-count:]
    return " | ".join(line.strip()[:300] for line in picked) or "(empty log)"
