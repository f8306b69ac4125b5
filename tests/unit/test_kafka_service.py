from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_platform.cli import run
from ray_platform.errors import InvalidArgument, ServiceError
from ray_platform.services import kafka
from ray_platform.services.kafka import KafkaBroker
from ray_platform.settings import get_settings, load_settings

pytestmark = pytest.mark.unit


def free_port_pair() -> int:
    """A port p with p and p + 1 free (the broker's client and controller ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two adjacent free ports")


@pytest.fixture
def broker(tmp_path: Path) -> KafkaBroker:
    port = free_port_pair()
    return KafkaBroker(load_settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{port}"))


@pytest.mark.parametrize("taken", ["client", "controller"])
def test_taken_port_is_named(broker: KafkaBroker, taken: str) -> None:
    port = broker.port if taken == "client" else broker.controller_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        with pytest.raises(ServiceError, match=rf"port {port} .*{taken} listener.*taken"):
            broker.start()
    assert not broker.pid_file.exists()


def test_missing_java_is_named(broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = kafka.shutil.which
    monkeypatch.setattr(
        kafka.shutil, "which", lambda name: None if name == "java" else real_which(name)
    )
    with pytest.raises(ServiceError, match="Java is not on PATH"):
        broker.start()


def test_old_java_is_named(
    broker: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "java"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ServiceError, match="is Java 11; Kafka needs Java 17"):
        broker.start()


def test_missing_maven_is_named(broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = kafka.shutil.which
    monkeypatch.setattr(kafka, "_check_java", lambda: "java")
    monkeypatch.setattr(
        kafka.shutil, "which", lambda name: None if name == "mvn" else real_which(name)
    )
    with pytest.raises(ServiceError, match=r"Maven \(mvn\) is not on PATH"):
        broker.start()


def test_maven_failure_gives_its_reason(
    broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = (
        "\x1b[0m[ERROR] Failed to execute goal on project gbank-kafka-broker: Could not resolve "
        "dependencies: Unknown host repo.maven.apache.org -> [Help 1]\n[ERROR] \n"
        "[ERROR] To see the full stack trace of the errors, re-run Maven with the -e switch.\n"
    )
    failed = subprocess.CompletedProcess(["mvn"], 1, stdout=output, stderr="")
    monkeypatch.setattr(kafka, "_check_java", lambda: "java")
    monkeypatch.setattr(kafka.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kafka.subprocess, "run", lambda *a, **kw: failed)
    with pytest.raises(ServiceError) as err:
        broker.start()
    assert str(err.value).endswith("Unknown host repo.maven.apache.org")
    assert "Failed to execute goal" in str(err.value)


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_java_major(output: str, major: int | None) -> None:
    assert kafka._java_major(output) == major


def test_broker_that_dies_at_start_shows_its_error(
    broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = (
        "[2026-01-01 00:00:00,000] INFO starting (kafka.Kafka$)\n"
        "[2026-01-01 00:00:01,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)\n"
        "java.lang.RuntimeException: Stored node id 2 doesn't match previous node id 1\n"
        "\tat org.apache.kafka.Something(Something.java:1)\n"
    )
    dying = [sys.executable, "-c", f"import sys; sys.stdout.write({log!r}); sys.exit(1)"]
    monkeypatch.setattr(KafkaBroker, "_jvm_args", lambda self: [])
    monkeypatch.setattr(kafka, "_MAIN_CLASS", "")
    real_popen = subprocess.Popen
    monkeypatch.setattr(kafka.subprocess, "Popen", lambda cmd, **kw: real_popen(dying, **kw))
    broker.log_file.parent.mkdir(parents=True)
    with pytest.raises(ServiceError) as err:
        broker._wait_ready(broker._launch("java"))
    message = str(err.value)
    assert message.startswith("Kafka broker exited during start-up (code 1): ERROR Exiting Kafka")
    assert "Stored node id 2 doesn't match previous node id 1" in message
    assert not broker.pid_file.exists()


def test_stop_when_not_running_is_fine(broker: KafkaBroker) -> None:
    assert broker.stop() is False
    assert broker.stop() is False
    assert not broker.status().running


def test_stale_pid_file_is_not_a_running_broker(broker: KafkaBroker) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    broker.dir.mkdir(parents=True)
    broker.pid_file.write_text(f"{gone.pid}\n")
    assert broker.status().running is False
    assert broker.stop() is False
    assert not broker.pid_file.exists()


def test_unrelated_live_process_is_not_the_broker(broker: KafkaBroker) -> None:
    broker.dir.mkdir(parents=True)
    broker.pid_file.write_text(f"{os.getpid()}\n")  # alive, but not kafka.Kafka
    assert broker.status().running is False


def test_bad_bootstrap_is_an_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="host:port"):
        KafkaBroker(load_settings(home=tmp_path, kafka_bootstrap="localhost"))


def test_platform_topics_cover_every_default_topic_a_component_writes() -> None:
    # The broker does not create topics on first use: every topic a component writes by default
    # must be in the list, or its first message fails.
    from ray_platform.governance.dq import DqConfig
    from ray_platform.lake.kafka_landing import CARD_TOPICS
    from ray_platform.market_feed import TOPIC as MARKET
    from ray_platform.ops.sla import ALERT_TOPIC
    from ray_platform.risk import live_monitor
    from serve.consumer import ConsumerConfig

    scoring = [ConsumerConfig(source=s) for s in CARD_TOPICS]
    written = {
        *CARD_TOPICS, *(f"{t}.dlq" for t in CARD_TOPICS), MARKET, ALERT_TOPIC,
        DqConfig.model_fields["alert_topic"].default,
        live_monitor.TRADES_TOPIC, live_monitor.ALERTS_TOPIC,
        *(t for c in scoring for t in (c.source, c.scores, c.alerts, c.dlq)),
    }  # fmt: skip
    assert written <= set(kafka.PLATFORM_TOPICS)
    assert len(set(kafka.PLATFORM_TOPICS)) == len(kafka.PLATFORM_TOPICS)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    port = free_port_pair()
    monkeypatch.setenv("GBANK_HOME", str(tmp_path))
    monkeypatch.setenv("GBANK_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
    get_settings.cache_clear()
    yield port
    get_settings.cache_clear()


def test_cli_start_error_is_one_line(cli_env: int, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cli_env))
        assert run(["kafka", "start"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"gbank: error: cannot start Kafka: port {cli_env} ")


def test_cli_stop_and_status_when_stopped(cli_env: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["kafka", "stop"]) == 0
    run(["kafka", "status"])
    assert capsys.readouterr().out.splitlines() == [
        "Kafka broker was not running",
        f"Kafka broker: stopped (home {get_settings().home / 'kafka'})",
    ]


@pytest.mark.parametrize("command", ["start", "stop", "status", "topics"])
def test_cli_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["kafka", command, "--help"]) == 0
    assert "Usage: gbank kafka" in capsys.readouterr().out
