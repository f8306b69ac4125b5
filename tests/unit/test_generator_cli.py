from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_platform.cli import run

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--customers", "-5"], "--customers"),
        (["--customers", "0"], "--customers"),
        (["--days", "0"], "--days"),
        (["--start-date", "2026-13-01"], "--start-date"),
        (["--start-date", "05/01/2026"], "--start-date"),
        (["--bad-rate", "2"], "--bad-rate"),
        (["--bad-rate", "-0.1"], "--bad-rate"),
        (["--customers", "many"], "--customers"),
    ],
)
def test_bad_arguments_fail_with_one_line(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(["generate", "--out", str(tmp_path), *args])
    err = capsys.readouterr().err
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_generate_writes_feeds_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(
        [
            "generate",
            "--out",
            str(tmp_path),
            "--customers",
            "50",
            "--days",
            "2",
            "--seed",
            "3",
            "--bad-rate",
            "0.01",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "card_transactions.jsonl" in out and "bad records" in out
    manifest = json.loads((tmp_path / "_manifest/run.json").read_text())
    assert manifest["config"]["customers"] == 50 and manifest["seed"] == 3
    assert (tmp_path / "core_banking/2026-01-05/customers.csv").exists()
    assert (tmp_path / "market_data/2026-01-05/prices_history.csv").exists()
