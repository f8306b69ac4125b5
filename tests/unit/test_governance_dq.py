"""Data-quality checks on a real small lake (generator -> bronze -> silver -> gold, no Ray), with
defects planted one at a time and an injected alert sink."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from ray_platform.cli.dq import app as dq_cli
from ray_platform.contracts.silver import CONTRACTS
from ray_platform.errors import ServiceError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.governance import dq
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.settings import get_settings, load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 1, 5)
TXNS = "silver/card_transactions"


class ListSink:
    """Collects alerts (the injectable sink)."""

    def __init__(self) -> None:
        self.alerts: list[dq.Alert] = []

    def send(self, alerts):
        self.alerts.extend(alerts)


class BrokenSink:
    def send(self, alerts):
        raise ServiceError("no Kafka broker answers at 127.0.0.1:1")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("dq-lake")
    s = load_settings(home=home)
    generate_bank(s.landing_uri, GeneratorConfig(customers=60, days=1, seed=5, history_days=2))
    land_landing_date(DAY, ingest_date=DAY, settings=s)
    run_silver(DAY.isoformat(), s, use_ray=False)
    run_gold(DAY, s)
    return home


@pytest.fixture
def lake(built, tmp_path):
    """A private copy of the built lake, free to damage."""
    home = tmp_path / "home"
    shutil.copytree(built, home)
    return load_settings(home=home)


def _now(settings) -> dt.datetime:
    """An hour after the lake's last commit (everything fresh)."""
    return dq._last_commit(table_store(settings), TXNS) + dt.timedelta(hours=1)


def _rewrite_day(settings, table: str, change) -> pa.Table:
    """Replace the day's rows of a silver fact table by ``change(rows)``."""
    store = table_store(settings)
    rows = store.dataset(table).to_table(filter=pc.field("_ingest_date") == DAY.isoformat())
    new = change(rows)
    store.write(table, new, mode="overwrite", predicate=f"_ingest_date = '{DAY}'")
    return new


def _set(rows: pa.Table, column: str, index: list[int], value) -> pa.Table:
    values = rows.column(column).to_pylist()
    for i in index:
        values[i] = value
    i = rows.column_names.index(column)
    return rows.set_column(i, column, pa.array(values, rows.schema.field(column).type))


def _failed(run) -> set[tuple[str, str]]:
    return {(r.table, r.check) for r in run.failed}


def test_a_clean_lake_passes_every_check_and_sends_no_alert(lake):
    sink = ListSink()
    run = dq.run_checks(DAY, lake, sinks=[sink], now=_now(lake))
    assert not run.failed, [(r.table, r.check, r.detail) for r in run.failed]
    checks = {(r.table, r.check) for r in run.results}
    cfg = dq.load_config()
    assert {t for t, _ in checks} == {t.table for t in cfg.tables}
    assert {c for t, c in checks if t == TXNS} == {
        "freshness",
        "completeness",
        "validity",
        "uniqueness",
        "reconciliation",
    }
    recon = next(r for r in run.results if r.table == TXNS and r.check == "reconciliation")
    assert recon.total and recon.total > 50  # the bronze manifest's records, all accounted for
    assert sink.alerts == []
    stored = dq.read_results(lake)
    assert len(stored) == len(run.results) and all(r["passed"] for r in stored)
    assert dq.latest_ingest_date(lake) == DAY


def test_planted_defects_fail_their_checks_and_alert(lake):
    n = table_store(lake).dataset(TXNS).count_rows(filter=pc.field("_ingest_date") == str(DAY))
    bad_share = max(2, n // 100 + 1)  # > 0.5 % of the rows

    def plant(rows):
        rows = _set(rows, "merchant_id", list(range(bad_share)), None)  # completeness
        rows = _set(rows, "currency", [n - 1], "XXX")  # one invalid value: financial, < 99.9 %
        return pa.concat_tables([rows, rows.slice(n // 2, 1)])  # a duplicated transaction

    _rewrite_day(lake, TXNS, plant)
    sink = ListSink()
    run = dq.run_checks(DAY, lake, sinks=[sink], now=_now(lake), tables=[TXNS])
    assert _failed(run) == {
        (TXNS, "completeness"),
        (TXNS, "validity"),
        (TXNS, "uniqueness"),
        (TXNS, "reconciliation"),
    }
    by_check = {r.check: r for r in run.results}
    assert by_check["completeness"].observed == bad_share
    assert "merchant_id" in by_check["completeness"].detail
    # A missing required value is invalid too: validity counts rows, whatever they fail.
    assert by_check["validity"].observed == bad_share + 1
    assert f"currency: 1, merchant_id: {bad_share}" in by_check["validity"].detail
    assert by_check["uniqueness"].observed == 1
    assert f"silver holds {n + 1} rows" in by_check["reconciliation"].detail
    assert by_check["freshness"].passed
    assert sorted(a.check for a in sink.alerts) == sorted(c for _, c in _failed(run))
    alert = json.loads(next(a for a in sink.alerts if a.check == "validity").to_json())
    assert alert["table"] == TXNS and alert["threshold"] == 0.999 and alert["day"] == str(DAY)
    failed = dq.read_results(lake, failed_only=True)
    assert {(r["table"], r["check"]) for r in failed} == _failed(run)


def _interactions(n: int) -> pa.Table:
    """``n`` valid interaction rows, values taken from the contract."""
    c = CONTRACTS["interactions"]
    first = {col: sorted(c.column(col).values)[0] for col in ("channel", "type", "outcome")}
    return pa.table(
        {
            "interaction_id": [f"I{i}" for i in range(n)],
            "customer_id": ["C"] * n,
            "channel": [first["channel"]] * n,
            "type": [first["type"]] * n,
            "timestamp": pa.array([dt.datetime(2026, 1, 5, tzinfo=dt.UTC)] * n),
            "duration_s": [60] * n,
            "outcome": [first["outcome"]] * n,
        }
    )


def test_validity_threshold_is_stricter_for_financial_tables():
    contract = CONTRACTS["interactions"]
    now = dt.datetime(2026, 1, 6, tzinfo=dt.UTC)
    rows = _set(_interactions(500), "type", [7], "nonsense")
    th = dq.Thresholds()
    plain = dq.validity(rows, contract, 0, th.validity_min, DAY, now)
    financial = dq.validity(rows, contract, 0, th.validity_min_financial, DAY, now)
    assert plain.metric == pytest.approx(0.998) and plain.passed
    assert not financial.passed and financial.detail.endswith("type: 1)")
    # Quarantined records of the date count against validity.
    with_quarantine = dq.validity(rows, contract, 10, th.validity_min, DAY, now)
    assert with_quarantine.observed == 11 and with_quarantine.total == 510
    # A timestamp in the future, or a negative duration, is invalid whatever the source said.
    future = _set(_interactions(500), "timestamp", [0, 1], dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    future = _set(future, "duration_s", [1, 2], -5)
    assert dq.validity(future, contract, 0, 0.99, DAY, now).observed == 3
    assert dq.validity(_interactions(500), contract, 0, 0.999, DAY, now).observed == 0


def test_stale_table_fails_freshness(lake):
    late = _now(lake) + dt.timedelta(hours=26)
    run = dq.run_checks(DAY, lake, sinks=[], now=late, tables=[TXNS])
    fresh = next(r for r in run.results if r.check == "freshness")
    assert not fresh.passed and fresh.metric == pytest.approx(27, abs=0.01)
    assert "max 26" in fresh.detail


def test_reconciliation_catches_rows_lost_after_the_run(lake):
    _rewrite_day(lake, TXNS, lambda rows: rows.slice(1))
    run = dq.run_checks(DAY, lake, sinks=[], now=_now(lake), tables=[TXNS])
    assert _failed(run) == {(TXNS, "reconciliation")}
    recon = next(r for r in run.results if r.check == "reconciliation")
    assert "the run wrote" in recon.detail


def test_reconciliation_catches_records_landed_but_not_processed(lake):
    store = table_store(lake)
    store.delete(dq.RECONCILIATION, "\"table\" = 'trades'")
    run = dq.run_checks(DAY, lake, sinks=[], now=_now(lake), tables=["silver/trades"])
    recon = next(r for r in run.results if r.check == "reconciliation")
    assert not recon.passed and "no silver run recorded" in recon.detail


def test_alerts_go_to_log_and_metric_and_a_broken_sink_does_not_stop_the_others(lake, caplog):
    _rewrite_day(lake, TXNS, lambda rows: pa.concat_tables([rows, rows.slice(0, 1)]))
    before = dq.failure_counts().get((TXNS, "uniqueness"), 0)
    sink = ListSink()
    with caplog.at_level(logging.WARNING, logger="ray_platform.governance.dq"):
        run = dq.run_checks(
            DAY,
            lake,
            sinks=[BrokenSink(), dq.LogSink(), dq.MetricSink(), sink],
            now=_now(lake),
            tables=[TXNS],
        )
    assert (TXNS, "uniqueness") in _failed(run)
    assert run.delivery_errors == {"BrokenSink": "no Kafka broker answers at 127.0.0.1:1"}
    assert len(sink.alerts) == len(run.failed)
    assert any(f"table={TXNS} check=uniqueness" in r.message for r in caplog.records)
    assert dq.failure_counts()[(TXNS, "uniqueness")] == before + 1
    assert f'{dq.METRIC}{{table="{TXNS}",check="uniqueness"}} {before + 1}' in dq.metrics_text()


def test_missing_table_or_column_is_a_failed_check(lake):
    cfg = dq.DqConfig(tables=[dq.TableChecks(table="silver/nope", completeness=["x"])])
    run = dq.run_checks(DAY, lake, config=cfg, sinks=[], now=_now(lake))
    assert [(r.check, r.passed) for r in run.results] == [("exists", False)]
    # A check that cannot run (a key column the table lacks) fails, and the others still run.
    cfg = dq.DqConfig(
        tables=[
            dq.TableChecks(
                table=TXNS, uniqueness=["no_such_column"], completeness=["transaction_id"]
            )
        ]
    )
    run = dq.run_checks(DAY, lake, config=cfg, sinks=[], now=_now(lake))
    assert [(r.check, r.passed) for r in run.results] == [
        ("freshness", True),
        ("completeness", True),
        ("uniqueness_error", False),
    ]
    with pytest.raises(ValueError, match="need a silver table"):
        dq.TableChecks(table="gold/daily_mcc_stats", validity=True)


def test_cli_run_and_results(lake, monkeypatch):
    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = runner.invoke(dq_cli, ["run", "--table", TXNS, "--no-alerts"])
        assert out.exit_code == 0, out.output
        assert "0 of 5 checks failed for 2026-01-05" in out.output
        _rewrite_day(lake, TXNS, lambda rows: pa.concat_tables([rows, rows.slice(0, 1)]))
        out = runner.invoke(dq_cli, ["run", "--table", TXNS, "--no-alerts"])
        assert out.exit_code == 1 and "FAIL silver/card_transactions uniqueness" in out.output
        out = runner.invoke(dq_cli, ["results", "--failed"])
        assert out.exit_code == 0 and "uniqueness" in out.output
    finally:
        get_settings.cache_clear()


def test_hourly_job_prints_its_result(lake, monkeypatch, capsys):
    from ray_platform.jobs import dq_hourly

    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    try:
        code = dq_hourly.main(["--no-ray", "--table", TXNS])
    finally:
        get_settings.cache_clear()
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert code == 0 and result["job"] == "dq_hourly" and result["day"] == str(DAY)
    assert result["checks"] == 5 and result["failed"] == 0
