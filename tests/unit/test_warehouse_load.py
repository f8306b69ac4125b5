"""Warehouse load over a small generated bank: SCD2 against the CDC feed, point-in-time joins,
late-arriving facts, reconciliation and idempotent reloads."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from ray_platform.errors import DataQualityError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.silver import run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store
from ray_platform.warehouse import dates
from ray_platform.warehouse import model as m
from ray_platform.warehouse.load import load_warehouse

pytestmark = pytest.mark.unit
DAYS = [dt.date(2026, 1, 5) + dt.timedelta(days=i) for i in range(4)]
TRACKED = ("segment", "status", "kyc_risk_rating", "city", "country")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    settings = load_settings(home=tmp_path_factory.mktemp("wh_home"))
    config = GeneratorConfig(
        customers=150,
        days=len(DAYS),
        seed=7,
        history_days=5,
        change_rate=0.06,
        interaction_rate=0.05,
    )
    generate_bank(settings.landing_uri, config)
    reports = {}
    for day in DAYS:
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day.isoformat(), settings, use_ray=False)
        reports[day] = load_warehouse(day, settings)
    return settings, table_store(settings), reports


def _rows(store, name, **where):
    return [
        r
        for r in store.read(m.warehouse_table(name)).to_pylist()
        if all(r[k] == v for k, v in where.items())
    ]


def _replay(settings):
    """Each customer's history from the landing files: [(from_ts, state or None)] in order."""
    landing = storage_for(settings.landing_uri)
    start = DAYS[0].isoformat()
    with landing.open(f"core_banking/{start}/customers.csv", "rb") as f:
        extract = list(csv.DictReader(io.TextIOWrapper(f, "utf-8")))
    history = {r["customer_id"]: [(dt.datetime.min.replace(tzinfo=dt.UTC), r)] for r in extract}
    for day in DAYS:
        with landing.open(f"customer_mgmt/{day.isoformat()}/customer_changes.jsonl", "rb") as f:
            for line in f:
                ev = json.loads(line)
                at = dt.datetime.fromtimestamp(ev["ts_ms"] / 1000, dt.UTC)
                cid = (ev["after"] or ev["before"])["customer_id"]
                history.setdefault(cid, []).append((at, ev["after"]))
    return history


def _state_at(history, at):
    state = None
    for since, s in history:
        if since <= at:
            state = s
    return state


def test_scd2_matches_cdc_replay(lake):
    settings, store, _ = lake
    history = _replay(settings)
    key = token_key(settings)
    versions: dict[str, list[dict]] = {}
    for v in _rows(store, "dim_customer"):
        if v["customer_sk"] != m.UNKNOWN_KEY:
            versions.setdefault(v["customer_id"], []).append(v)
    changed = [c for c, h in history.items() if len(h) > 1]
    assert len(changed) >= 10
    checked = 0
    for cid in sorted(changed)[:40]:
        instants = [DAYS[0]] + [since for since, _ in history[cid][1:]]
        for at in instants:
            at = at if isinstance(at, dt.datetime) else dt.datetime.combine(at, dt.time(), dt.UTC)
            for probe in (at - dt.timedelta(milliseconds=1), at, at + dt.timedelta(seconds=1)):
                want = _state_at(history[cid], probe)
                got = [v for v in versions.get(cid, []) if v["valid_from"] <= probe < v["valid_to"]]
                if want is None:  # before creation or after a delete
                    assert got == [] or probe < got[0]["valid_from"], (cid, probe)
                    continue
                if probe < dt.datetime.fromisoformat(want["created_at"].replace("Z", "+00:00")):
                    continue
                assert len(got) == 1, (cid, probe, got)
                for col in TRACKED:
                    assert got[0][col] == want[col], (cid, probe, col)
                assert got[0]["address_line"] == token(key, want["address_line"])
                checked += 1
    assert checked > 30
    # exactly one current version for every customer not deleted
    for cid, vs in versions.items():
        assert sum(v["is_current"] for v in vs) == (0 if vs[-1]["deleted_at"] else 1), cid


def test_facts_join_the_version_current_at_event_time(lake):
    _, store, _ = lake
    dim = {v["customer_sk"]: v for v in _rows(store, "dim_customer")}
    facts = _rows(store, "fact_transactions")
    assert facts
    later_versions = 0
    deleted = {v["customer_id"]: v["deleted_at"] for v in dim.values() if v["deleted_at"]}
    for f in facts:
        if f["customer_sk"] == m.UNKNOWN_KEY:  # only payments after the customer's deletion
            assert deleted[f["customer_id"]] <= f["event_ts"]
            continue
        v = dim[f["customer_sk"]]
        assert v["customer_id"] == f["customer_id"]
        assert v["valid_from"] <= f["event_ts"] < v["valid_to"]
        later_versions += v["change_op"] in ("u", "c")
    assert later_versions > 0  # some transactions happened after a change and use the new version
    for f in _rows(store, "fact_customer_interactions"):
        v = dim[f["customer_sk"]]
        assert v["valid_from"] <= f["event_ts"] < v["valid_to"]


def test_unknown_member_is_fixed_up_when_the_dimension_arrives(lake):
    settings, store, _ = lake
    day = DAYS[1]
    fact = _rows(store, "fact_transactions", business_date=day)[0]
    cid, sk = fact["customer_id"], fact["customer_sk"]
    store.delete(m.DIM_CUSTOMER.path, f"customer_id = '{cid}'")  # the dimension row is late
    load_warehouse(day, settings, force=True, dimensions=False)
    mine = _rows(store, "fact_transactions", customer_id=cid)
    assert mine and all(
        f["customer_sk"] == m.UNKNOWN_KEY for f in mine if f["business_date"] == day
    )
    report = load_warehouse(DAYS[-1], settings)  # a later load brings the dimension back
    assert report.tables["dim_customer"].version is not None
    after = {
        f["transaction_id"]: f["customer_sk"]
        for f in _rows(store, "fact_transactions", customer_id=cid)
    }
    assert m.UNKNOWN_KEY not in after.values()
    assert after[fact["transaction_id"]] == sk


def test_reconciliation_fails_on_a_tampered_fact(lake):
    settings, store, _ = lake
    day = DAYS[2]
    victim = _rows(store, "fact_trades", business_date=day)[0]["trade_id"]
    store.delete(m.FACT_TRADES.path, f"trade_id = '{victim}'")
    with pytest.raises(DataQualityError, match=rf"fact_trades {day.isoformat()}"):
        load_warehouse(day, settings)
    recon = store.read("_system/warehouse_reconciliation").to_pylist()
    assert any(not r["ok"] and r["fact_table"] == "fact_trades" for r in recon)
    load_warehouse(day, settings, force=True)  # a forced reload repairs it
    assert any(r["trade_id"] == victim for r in _rows(store, "fact_trades", business_date=day))


def test_rerun_changes_nothing(lake):
    settings, store, _ = lake
    paths = [t.path for t in m.TABLES.values() if store.exists(t.path)]
    before = {p: store.version(p) for p in paths}
    rows = sorted(
        r["transaction_id"] + str(r["customer_sk"]) for r in _rows(store, "fact_transactions")
    )
    for day in DAYS:
        report = load_warehouse(day, settings)
        assert report.summary()["written"] == {}, day
    assert {p: store.version(p) for p in paths} == before
    load_warehouse(DAYS[1], settings, force=True)
    assert (
        sorted(
            r["transaction_id"] + str(r["customer_sk"]) for r in _rows(store, "fact_transactions")
        )
        == rows
    )


def test_reconciled_and_lineage(lake):
    _, store, reports = lake
    first = reports[DAYS[0]]
    assert first.reconciliation and all(
        r["silver_rows"] == r["warehouse_rows"] for r in first.reconciliation
    )
    steps = {e.step for e in first.run_events()}
    assert {
        "warehouse.dim_customer",
        "warehouse.fact_transactions",
        "warehouse.agg_daily_customer",
    } <= steps
    silver = store.read("silver/card_transactions", columns=["transaction_id"]).num_rows
    assert len(_rows(store, "fact_transactions")) == silver


def test_business_calendars():
    assert dates.easter(2026) == dt.date(2026, 4, 5)
    assert not dates.is_business_day("GB", dt.date(2026, 12, 25))
    assert not dates.is_business_day("GB", dt.date(2026, 4, 3))  # Good Friday
    assert dates.is_business_day("SA", dt.date(2026, 1, 4))  # Sunday is a working day there
    assert not dates.is_business_day("SA", dt.date(2026, 1, 9))  # Friday
    assert not dates.is_business_day("US", dt.date(2026, 7, 4))
    cal = dates.business_calendar(dt.date(2026, 1, 1), dt.date(2026, 1, 7), ("DE",))
    assert cal.num_rows == 7 and cal.column("holiday_name")[0].as_py() == "New Year's Day"
