from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ray_platform.cli import app, run

pytestmark = pytest.mark.unit

GBANK = str(Path(sys.executable).with_name("gbank"))


def _groups_and_commands():
    import typer

    root = typer.main.get_command(app)
    paths = [[]]
    for name, cmd in root.commands.items():
        paths.append([name])
        for sub in getattr(cmd, "commands", {}):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", _groups_and_commands(), ids=lambda p: " ".join(p) or "gbank")
def test_help_on_every_level(path, capsys):
    assert run([*path, "--help"]) == 0
    assert "Usage: gbank" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["cluster", "sideways"],
        ["generate", "--customers", "many"],
        # refused before anything starts: Ray's HAProxy ingress cannot carry TLS
        ["serve", "up", "--tls"],
    ],
)
def test_bad_arguments_give_one_line_and_non_zero_exit(argv):
    done = subprocess.run([GBANK, *argv], capture_output=True, text=True)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gbank: error:")
    assert "Traceback" not in done.stdout + done.stderr


def test_config_error_is_one_line(monkeypatch):
    done = subprocess.run(
        [GBANK, "cluster", "status"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "GBANK_KAFKA_PARTITIONS": "zero"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("gbank: error: invalid setting kafka_partitions")
    assert len(done.stderr.strip().splitlines()) == 1
