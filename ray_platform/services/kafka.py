"""The local single-node Kafka broker (KRaft), run from the jars that Maven resolves.

Everything lives under ``<settings.home>/kafka/``: ``libs/`` (the broker's classpath, copied from
``~/.m2`` by ``cluster/kafka/pom.xml``), ``data/`` (the formatted log directory), ``logs/``
(``broker.log``), ``server.properties`` (rendered from ``cluster/kafka/server.properties``),
``cluster.id`` and ``broker.pid``.

The broker listens for clients on the first address of ``settings.kafka_bootstrap`` and runs its
controller on the next port up (9092 and 9093 by default)::

    with KafkaBroker().running() as broker:
        broker.topics()  # {'fraud-alerts': 4, 'fraud-scores': 4, ...}
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ray_platform.contracts.silver import CARD_TRANSACTIONS
from ray_platform.errors import InvalidArgument, ServiceError
from ray_platform.services.base import (
    LocalService,
    folder_lock,
    launch,
    recorded_pid,
    stop_recorded,
)
from ray_platform.settings import Settings, get_settings

PLATFORM_TOPICS: tuple[str, ...] = (
    *CARD_TRANSACTIONS.stream_topics,
    "fraud-scores",
    "fraud-alerts",
    *(f"{topic}.dlq" for topic in CARD_TRANSACTIONS.stream_topics),
    "dq-alerts",
    "ops-alerts",
    "trades",
    "market-data",
    "risk-alerts",
)
"""Topics the platform reads and writes; ``start()`` creates them."""

MIN_JAVA = 17  # Kafka 4.x brokers refuse older runtimes.
CLUSTER_DIR = Path(__file__).resolve().parents[2] / "cluster" / "kafka"
_MAIN_CLASS = "kafka.Kafka"
_JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:+UseG1GC", "-Djava.awt.headless=true")
_LOG_TAIL_LINES = 8


@dataclass(frozen=True)
class BrokerStatus:
    """What ``KafkaBroker.status()`` found."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path
    log_file: Path

    def __str__(self) -> str:
        if not self.running:
            return f"Kafka broker: stopped (home {self.home})"
        return f"Kafka broker: running on {self.bootstrap} (pid {self.pid}, log {self.log_file})"


class KafkaBroker(LocalService):
    """Start, stop and inspect the local broker; every method is safe to call repeatedly."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        start_timeout: float = 90.0,
        stop_timeout: float = 30.0,
    ) -> None:
        self.settings = settings or get_settings()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.host, self.port = _first_address(self.settings.kafka_bootstrap)
        self.controller_port = self.port + 1
        self.bootstrap = f"{self.host}:{self.port}"
        self.dir = self.settings.home / "kafka"
        self.libs = self.dir / "libs"
        self.data = self.dir / "data"
        self.log_file = self.dir / "logs" / "broker.log"
        self.pid_file = self.dir / "broker.pid"
        self.config_file = self.dir / "server.properties"

    # -- lifecycle ------------------------------------------------------------------------------

    def status(self) -> BrokerStatus:
        """Whether the broker this home started is alive, from its pid file."""
        pid = self._live_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.dir, self.log_file)

    def start(self) -> bool:
        """Start the broker and create the platform topics; False if it was already running.

        Raises :class:`ServiceError` saying why when the broker cannot start.
        """
        with self._lock():
            # A broker this home did not start (Docker, another checkout) may already serve the
            # bootstrap address: use it rather than fail on the taken port.
            started = self._live_pid() is None and not self._foreign_broker_answers()
            if started:
                self._check_ports()
                java = _check_java()
                self._ensure_libs()
                self._render_config()
                self._ensure_formatted(java)
                self._wait_ready(self._launch(java))
        try:
            self.ensure_topics(PLATFORM_TOPICS)
        except ServiceError:
            if started:  # the caller gets no handle on a half-ready broker to stop later
                self.stop()
            raise
        return started

    def stop(self) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_timeout``); False if not running."""
        with self._lock():
            return stop_recorded(self.pid_file, _is_broker, self.stop_timeout)

    # -- topics ---------------------------------------------------------------------------------

    def ensure_topics(self, names: Iterable[str], partitions: int | None = None) -> list[str]:
        """Create the missing topics among ``names``; returns those it created."""
        count = partitions or self.settings.kafka_partitions
        with self._admin() as admin:
            missing = sorted(set(names) - set(admin.list_topics()))
            if missing:
                spec = {
                    name: {"num_partitions": count, "replication_factor": 1} for name in missing
                }
                # Another process may create the same topic between the list and the create.
                response = admin.create_topics(spec, raise_errors=False, wait_for_metadata=True)
                for topic in response["topics"]:
                    if topic["error_code"] not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                        raise ServiceError(
                            f"cannot create Kafka topic {topic['name']}: {topic['error_message']}"
                        )
        return missing

    def topics(self) -> dict[str, int]:
        """Every non-internal topic with its partition count, sorted by name."""
        with self._admin() as admin:
            described = admin.describe_topics(admin.list_topics())
        return {
            t["name"]: len(t["partitions"])
            for t in sorted(described, key=lambda t: t["name"])
            if not t.get("is_internal")
        }

    @contextlib.contextmanager
    def _admin(self, timeout: float = 10.0) -> Iterator[object]:
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        ms = int(timeout * 1000)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.settings.kafka_bootstrap,
                client_id="gbank-kafka-admin",
                request_timeout_ms=ms,
                bootstrap_timeout_ms=ms,
            )
        except KafkaError as exc:
            raise ServiceError(
                f"no Kafka broker answers on {self.settings.kafka_bootstrap} ({exc}); "
                "run `gbank kafka start`"
            ) from None
        try:
            yield admin
        finally:
            admin.close()

    # -- start-up steps -------------------------------------------------------------------------

    def _foreign_broker_answers(self) -> bool:
        from kafka.errors import KafkaError

        if not _accepts(self.host, self.port):
            return False
        try:
            with self._admin(timeout=3.0) as admin:
                admin.list_topics()
        except (ServiceError, KafkaError):
            return False
        return True

    def _check_ports(self) -> None:
        for port, role in ((self.port, "client"), (self.controller_port, "controller")):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((self.host, port))
                except OSError as exc:
                    raise ServiceError(
                        f"cannot start Kafka: port {port} on {self.host} (the {role} listener) "
                        f"is taken by another process ({exc.strerror}); stop it, or point "
                        "GBANK_KAFKA_BOOTSTRAP at a free port (the controller uses the next one)"
                    ) from None

    def _ensure_libs(self) -> None:
        pom = CLUSTER_DIR / "pom.xml"
        stamp = self.libs / ".pom.sha256"
        digest = hashlib.sha256(pom.read_bytes()).hexdigest()
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "cannot start Kafka: Maven (mvn) is not on PATH; it fetches the broker's jars "
                "once (install Maven 3.8+, e.g. `apt-get install maven`)"
            )
        # Copy into a fresh folder and swap it in, so an interrupted or upgraded download never
        # leaves a mixed classpath behind.
        staging = self.dir / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(pom)]
        cmd += ["dependency:copy-dependencies", "-DincludeScope=runtime"]
        cmd += [f"-DoutputDirectory={staging}"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(staging.glob("kafka_*.jar")):
            raise ServiceError(
                "cannot start Kafka: Maven could not fetch the broker's jars: "
                + _maven_reason(result.stdout + result.stderr)
            )
        shutil.rmtree(self.libs, ignore_errors=True)
        staging.rename(self.libs)
        stamp.write_text(digest + "\n")

    def _render_config(self) -> None:
        template = Template((CLUSTER_DIR / "server.properties").read_text())
        self.config_file.write_text(
            template.substitute(
                broker_host=self.host,
                broker_port=self.port,
                controller_host=self.host,
                controller_port=self.controller_port,
                data_dir=self.data,
                partitions=self.settings.kafka_partitions,
            )
        )

    def _ensure_formatted(self, java: str) -> None:
        if (self.data / "meta.properties").is_file():
            return
        id_file = self.dir / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(_new_cluster_id() + "\n")
        cmd = [java, *self._jvm_args(), "kafka.tools.StorageTool", "format"]
        cmd += ["--cluster-id", id_file.read_text().strip(), "--config", str(self.config_file)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.dir)
        if result.returncode != 0:
            tail = _last_lines(result.stdout + result.stderr, 3)
            raise ServiceError(f"cannot format Kafka storage in {self.data}: {tail}")

    def _launch(self, java: str) -> subprocess.Popen[bytes]:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_suffix(".log.1"))
        cmd = [java, *self._jvm_args(), _MAIN_CLASS, str(self.config_file)]
        return launch(cmd, self.dir, self.log_file, self.pid_file)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise ServiceError(
                    f"Kafka broker exited during start-up (code {proc.returncode}): "
                    f"{_log_reason(self._log_text())} (full log: {self.log_file})"
                )
            # A plain connect fails fast while the JVM boots; the admin client would instead
            # wait out its whole bootstrap timeout on every try.
            if _accepts(self.host, self.port):
                try:
                    with self._admin(timeout=2.0) as admin:
                        admin.list_topics()
                    return
                except (ServiceError, KafkaError):
                    pass
            time.sleep(0.2)
        self._kill(proc)
        raise ServiceError(
            f"Kafka broker did not answer on {self.bootstrap} within {self.start_timeout:.0f} s; "
            f"stopped it. Last log lines: {_log_reason(self._log_text())} "
            f"(full log: {self.log_file})"
        )

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(timeout=10)
        self.pid_file.unlink(missing_ok=True)

    # -- helpers --------------------------------------------------------------------------------

    def _jvm_args(self) -> list[str]:
        return [
            *_JVM_OPTS,
            f"-Dlog4j2.configurationFile={CLUSTER_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp",
            str(self.libs / "*"),
        ]

    def _live_pid(self) -> int | None:
        return recorded_pid(self.pid_file, _is_broker)

    def _log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        # Two test sessions or shells starting at once must not launch two brokers.
        return folder_lock(self.dir)


def _first_address(bootstrap: str) -> tuple[str, int]:
    first = bootstrap.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise InvalidArgument(f"kafka_bootstrap must look like host:port, got {bootstrap!r}")
    return host, int(port)


def _check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            f"cannot start Kafka: Java is not on PATH; install Java {MIN_JAVA}+ "
            "(e.g. `apt-get install openjdk-17-jre-headless`)"
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    major = _java_major(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = f"Java {major}" if major else "an unrecognised Java"
        raise ServiceError(
            f"cannot start Kafka: {java} is {found}; Kafka needs Java {MIN_JAVA} or newer"
        )
    return java


def _java_major(version_output: str) -> int | None:
    """Read the major version from ``java -version`` output: '1.8.0_392' is 8, '17.0' is 17."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _maven_reason(output: str) -> str:
    """Pick the line of Maven's output that says what went wrong, without its boilerplate."""
    boilerplate = ("To see the full", "Re-run Maven", "For more information", "[Help", "-> [Help")
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)  # Maven colours even with -B
    lines = [re.sub(r"^\[(ERROR|WARNING)\]\s*", "", line).strip() for line in plain.splitlines()]
    lines = [line for line in lines if line and not line.startswith(boilerplate)]
    errors = [line for line in lines if "Failed to execute" in line or "Could not" in line]
    reason = (errors or lines or ["mvn failed without output"])[0]
    return re.sub(r"\s*->\s*\[Help \d+\]$", "", reason)[:400]


def _new_cluster_id() -> str:
    # Kafka's Uuid.randomUuid(): URL-safe base64 of 16 random bytes, never starting with '-'
    # (the tools would read it as an option).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _is_broker(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if this process launched it and it has exited
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # After a reboot the pid may belong to something else entirely.
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        with contextlib.suppress(OSError):
            return _MAIN_CLASS.encode() in cmdline.read_bytes().split(b"\0")
    return True


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        return False
    return True


def _log_reason(log: str) -> str:
    """Pick the broker's first error (with the exception under it) from its log, else its end."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if " ERROR " in line or line.startswith(("Error:", "Exception in thread")):
            reason = re.sub(r"^\[[^]]*\]\s*", "", line.strip())
            cause = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if re.match(r"^[\w.$]+(Exception|Error)\b", cause):
                reason += f": {cause}"
            return reason[:600]
    return _last_lines(log, _LOG_TAIL_LINES)


def _last_lines(text: str, count: int) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "(no output)"
