"""Gold run over a small generated bank: figures against independent Python computations."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter
from decimal import Decimal

import pytest

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import GOLD_TABLES, run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.settings import load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit
D1, D2 = dt.date(2026, 1, 5), dt.date(2026, 1, 6)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    home = tmp_path_factory.mktemp("gold_home")
    settings = load_settings(home=home)
    generate_bank(settings.landing_uri, GeneratorConfig(customers=150, days=2, seed=11,
                                                        history_days=5))  # fmt: skip
    for day in (D1, D2):
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day.isoformat(), settings, use_ray=False)
    store = table_store(settings)
    # Make one D2 position unpriced (no close ever) and one stale (no close on D2 itself).
    held = sorted({r["isin"] for r in _rows(store, "positions") if r["as_of"] == D2})
    unpriced, stale = held[0], held[1]
    store.delete("silver/prices", f"isin = '{unpriced}'")
    store.delete("silver/prices", f"isin = '{stale}' AND date = '{D2.isoformat()}'")
    reports = {d: run_gold(d, settings) for d in (D1, D2)}
    return settings, store, reports, unpriced, stale


def _rows(store, table, gold=False):
    return store.read(f"{'gold' if gold else 'silver'}/{table}").to_pylist()


def _gold(store, table, day, **key):
    return [
        r
        for r in _rows(store, table, gold=True)
        if r["business_date"] == day and all(r[k] == v for k, v in key.items())
    ]


def _txns(store, day):
    return [r for r in _rows(store, "card_transactions") if r["timestamp"].date() == day]


def _fx(store, day):
    """Units per EUR of each currency, latest on or before ``day``."""
    latest: dict[str, tuple[dt.date, float]] = {}
    for r in _rows(store, "fx_rates"):
        if r["date"] <= day and (r["quote"] not in latest or r["date"] > latest[r["quote"]][0]):
            latest[r["quote"]] = (r["date"], float(r["rate"]))
    return {"EUR": 1.0} | {c: v for c, (_, v) in latest.items()}


def test_report_lists_inputs_with_versions(lake):
    _, store, reports, *_ = lake
    report = reports[D1]
    assert set(report.tables) == {s.name for s in GOLD_TABLES}
    for name, r in report.tables.items():
        assert r.rows > 0 and r.version is not None and r.skipped is None, name
        assert all(i.version == store.version(i.name) for i in r.inputs)
    assert {i.name for i in report.tables["positions_valued"].inputs} == {
        "silver/positions", "silver/instruments", "silver/prices", "silver/fx_rates"
    }  # fmt: skip
    assert len(report.run_events()) == len(GOLD_TABLES)


def test_daily_customer_summary(lake):
    _, store, *_ = lake
    tx = _txns(store, D1)
    cust = Counter(r["customer_id"] for r in tx).most_common(1)[0][0]
    mine = [r for r in tx if r["customer_id"] == cust]
    home = next(c["country"] for c in _rows(store, "customers") if c["customer_id"] == cust)
    [g] = _gold(store, "daily_customer_summary", D1, customer_id=cust)
    amounts = [r["amount_reporting"] for r in mine]
    assert g["txn_count"] == len(mine)
    assert g["total_amount_reporting"] == sum(amounts)
    assert g["max_amount_reporting"] == max(amounts)
    assert abs(g["avg_amount_reporting"] - sum(amounts) / len(amounts)) <= Decimal("0.005")
    assert g["distinct_merchants"] == len({r["merchant_id"] for r in mine})
    assert g["distinct_countries"] == len({r["merchant_country"] for r in mine})
    assert g["foreign_txn_count"] == sum(r["merchant_country"] != home for r in mine)
    assert g["fraud_count"] == sum(r["is_fraud"] for r in mine)
    for channel, n in Counter(r["channel"] for r in mine).items():
        assert g[f"{channel}_count"] == n
    assert g["first_txn_ts"] == min(r["timestamp"] for r in mine)
    assert g["last_txn_ts"] == max(r["timestamp"] for r in mine)
    assert len(_gold(store, "daily_customer_summary", D1)) == len({r["customer_id"] for r in tx})


def test_merchant_and_mcc_stats(lake):
    _, store, *_ = lake
    tx = _txns(store, D2)
    merchant = Counter(r["merchant_id"] for r in tx).most_common(1)[0][0]
    mine = [r for r in tx if r["merchant_id"] == merchant]
    [g] = _gold(store, "daily_merchant_stats", D2, merchant_id=merchant)
    assert (g["mcc"], g["merchant_country"]) == (mine[0]["mcc"], mine[0]["merchant_country"])
    assert g["txn_count"] == len(mine)
    assert g["total_amount_reporting"] == sum(r["amount_reporting"] for r in mine)
    assert g["fraud_count"] == sum(r["is_fraud"] for r in mine)
    assert g["fraud_rate"] == pytest.approx(g["fraud_count"] / len(mine))
    assert g["distinct_cards"] == len({r["card_id"] for r in mine})
    key = (mine[0]["mcc"], mine[0]["merchant_country"])
    group = [r for r in tx if (r["mcc"], r["merchant_country"]) == key]
    [m] = _gold(store, "daily_mcc_stats", D2, mcc=key[0], merchant_country=key[1])
    assert m["txn_count"] == len(group)
    assert m["total_amount_reporting"] == sum(r["amount_reporting"] for r in group)
    assert m["fraud_rate"] == pytest.approx(sum(r["is_fraud"] for r in group) / len(group))
    assert sum(r["txn_count"] for r in _gold(store, "daily_mcc_stats", D2)) == len(tx)


def test_desk_activity_converts_with_the_days_fx(lake):
    _, store, *_ = lake
    fx = _fx(store, D1)
    trades = [r for r in _rows(store, "trades") if r["execution_ts"].date() == D1]
    desk = Counter(r["desk"] for r in trades).most_common(1)[0][0]
    mine = [r for r in trades if r["desk"] == desk]
    assert any(r["currency"] != "EUR" for r in mine)
    [g] = _gold(store, "daily_desk_activity", D1, desk=desk)
    expected = sum(float(r["price"]) * r["quantity"] / fx[r["currency"]] for r in mine)
    assert float(g["gross_notional_reporting"]) == pytest.approx(expected, abs=0.01 * len(mine))
    assert g["trades"] == len(mine) and g["unconverted_trades"] == 0
    assert g["buy_count"] == sum(r["side"] == "BUY" for r in mine)
    assert g["sell_count"] == sum(r["side"] == "SELL" for r in mine)
    assert g["net_quantity"] == sum(r["quantity"] * (1 if r["side"] == "BUY" else -1) for r in mine)
    assert g["distinct_instruments"] == len({r["isin"] for r in mine})
    assert g["distinct_counterparties"] == len({r["counterparty_lei"] for r in mine})


def test_positions_valued(lake):
    _, store, _, unpriced, stale = lake
    fx = _fx(store, D2)
    pos = [r for r in _rows(store, "positions") if r["as_of"] == D2]
    gold = _gold(store, "positions_valued", D2)
    assert len(gold) == len({(r["desk"], r["isin"]) for r in pos})
    us = [g for g in gold if g["isin"] == unpriced]
    assert us and all(not u["priced"] and u["close"] is None for u in us)
    assert all(u["market_value"] is None and u["market_value_reporting"] is None for u in us)
    d1_close = next(
        p["close"] for p in _rows(store, "prices") if p["isin"] == stale and p["date"] == D1
    )
    ss = [g for g in gold if g["isin"] == stale]
    assert ss and all(s["priced"] and s["stale"] and s["price_date"] == D1 for s in ss)
    assert all(s["close"] == d1_close for s in ss)
    # one non-reporting-currency position, converted independently
    g = next(g for g in gold if g["priced"] and g["currency"] not in ("EUR", None))
    assert g["market_value"] == round(g["quantity"] * g["close"], 2)
    expected = float(g["market_value"]) / fx[g["currency"]]
    assert float(g["market_value_reporting"]) == pytest.approx(expected, abs=0.01)
    assert all(not g["stale"] for g in gold if g["isin"] not in (stale, unpriced))


def test_customer_features(lake):
    _, store, *_ = lake
    tx = [r for r in _rows(store, "card_transactions") if r["timestamp"].date() <= D2]
    cust = Counter(r["customer_id"] for r in tx).most_common(1)[0][0]
    mine = [float(r["amount_reporting"]) for r in tx if r["customer_id"] == cust]
    [g] = _gold(store, "customer_features", D2, customer_id=cust)
    c = next(c for c in _rows(store, "customers") if c["customer_id"] == cust)
    opened = min(a["open_date"] for a in _rows(store, "accounts") if a["customer_id"] == cust)
    assert (g["home_country"], g["segment"], g["kyc_risk_rating"]) == (
        c["country"], c["segment"], c["kyc_risk_rating"]
    )  # fmt: skip
    assert g["account_age_days"] == (D2 - opened).days
    assert g["txn_count_30d"] == len(mine)
    assert float(g["amount_30d"]) == pytest.approx(sum(mine), abs=0.01)
    assert g["avg_amount_30d"] == pytest.approx(statistics.mean(mine))
    assert g["std_amount_30d"] == pytest.approx(statistics.stdev(mine))
    merchants = {r["merchant_id"] for r in tx if r["customer_id"] == cust}
    assert g["distinct_merchants_30d"] == len(merchants)
    assert not math.isnan(g["avg_amount_30d"])


def test_rerun_is_idempotent_and_touches_that_date_only(lake):
    settings, store, reports, *_ = lake

    def snapshot():
        return {s.name: sorted(map(str, _rows(store, s.name, gold=True))) for s in GOLD_TABLES}

    before = snapshot()
    versions = {s.name: store.version(f"gold/{s.name}") for s in GOLD_TABLES}
    again = run_gold(D1, settings)
    assert snapshot() == before
    for name, r in again.tables.items():
        assert r.version > versions[name] and r.rows == reports[D1].tables[name].rows


def test_day_without_input_writes_nothing(lake):
    settings, store, *_ = lake
    versions = {s.name: store.version(f"gold/{s.name}") for s in GOLD_TABLES}
    report = run_gold("2026-03-01", settings)
    for name in ("daily_customer_summary", "daily_merchant_stats", "daily_desk_activity",
                 "positions_valued", "daily_mcc_stats"):  # fmt: skip
        r = report.tables[name]
        assert r.rows == 0 and r.version is None and r.skipped
        assert store.version(f"gold/{name}") == versions[name]
