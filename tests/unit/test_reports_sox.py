"""SOX control evidence, the registry, the CLI and the daily job."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ray_platform import lineage
from ray_platform.cli import run as gbank
from ray_platform.errors import InvalidArgument
from ray_platform.reports import REPORTS, run_report
from tests.unit import reports_lake as lake

pytestmark = pytest.mark.unit


def _csv(built, name):
    text = lake.read_file(built["settings"], f"reports/sox/{lake.D2}/{name}").decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_every_lineage_step_of_the_date_appears():
    built = lake.build()
    sox_run = built["daily"]["run_id"]
    expected = {
        (e.run_id, e.job, e.step, e.triggered_by, e.code_version)
        for e in lineage.events(built["store"])
        if e.business_date == lake.D2.isoformat() and (e.run_id, e.step) != (sox_run, "report.sox")
    }
    runs = _csv(built, "runs.csv")
    got = {(r["run_id"], r["job"], r["step"], r["triggered_by"], r["code_version"]) for r in runs}
    assert got == expected and len(runs) == len(expected)
    assert ("silver.trades" in {r["step"] for r in runs}) and all(
        r["status"] == "COMPLETE" for r in runs
    )
    # Table outputs carry the version the pipeline recorded.
    pipeline = built["runs"][lake.D2].run_id
    written = {
        (d["dataset"], d["version"])
        for d in _csv(built, "datasets.csv")
        if d["run_id"] == pipeline and d["direction"] == "output"
    }
    gold = built["runs"][lake.D2].gold.tables["positions_valued"]
    assert ("gold/positions_valued", str(gold.version)) in written


def test_unbalanced_reconciliation_is_a_control_exception():
    built = lake.build()
    exceptions = _csv(built, "exceptions.csv")
    assert [(e["control"], e["subject"]) for e in exceptions] == [("SOX-2 unbalanced", "positions")]
    assert "read 10 != written 7" in exceptions[0]["detail"]
    recon = _csv(built, "reconciliation.csv")
    silver = built["runs"][lake.D2].silver.tables
    assert len(recon) == len(silver) + 1
    summary = built["daily"]["reports"]["sox"]["summary"]
    assert summary["controls_passed"] is False and summary["unbalanced"] == 1
    bronze = _csv(built, "bronze.csv")
    assert sum(int(b["files"]) for b in bronze) == built["runs"][lake.D2].landed.get("landed", 0)


def test_unknown_report_is_one_line_error(capsys):
    assert set(REPORTS) == {"basel3", "mifid2", "sox"}
    with pytest.raises(InvalidArgument, match="basel3, mifid2, sox"):
        run_report("nope", lake.D2)
    assert gbank(["report", "nope", "--date", "2026-01-06"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valid: basel3, mifid2, sox, all" in err[0]


def test_daily_job_prints_result_with_seconds(monkeypatch, capsys):
    from ray_platform.jobs import reports_daily
    from ray_platform.settings import get_settings

    built = lake.build()
    monkeypatch.setenv("GBANK_HOME", str(built["settings"].home))
    get_settings.cache_clear()
    try:
        assert reports_daily.main(["--date", lake.D1.isoformat()]) == 0
        assert gbank(["report", "sox", "--date", lake.D1.isoformat()]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    result = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:])
    assert result["ok"] and set(result["reports"]) == {"basel3", "mifid2", "sox"}
    assert all(r["seconds"] > 0 for r in result["reports"].values())
