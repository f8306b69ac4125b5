"""Shared test data and the online-store contract suite (subclassed per implementation)."""

from __future__ import annotations

import datetime as dt

import pytest

from features.engineering import run_features
from features.online import DEFAULTS, online_store_for
from features.views import MODEL_FEATURES
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.silver import run_silver

START, DAYS = dt.date(2026, 1, 5), 5
END = START + dt.timedelta(days=DAYS - 1)


def build_small_lake(settings) -> None:
    """150 customers over five days through silver, then the feature tables."""
    generate_bank(settings.landing_uri, GeneratorConfig(customers=150, days=DAYS, seed=3,
                                                        history_days=5))  # fmt: skip
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day.isoformat(), settings, use_ray=False)
    run_features(START, END, settings)


class OnlineStoreContract:
    """What every online store must do; subclasses provide the ``settings`` fixture."""

    __test__ = False
    kind: str

    @pytest.fixture(scope="class")
    @classmethod
    def store(cls, settings):
        store = online_store_for(settings, cls.kind)
        store.apply()
        store.materialize(dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
        yield store
        store.close()

    def _row(self, settings, **over):
        from ray_platform.tables import table_store

        # The latest transaction of a customer-merchant pair seen more than once: a known
        # merchant for that customer whatever the order the table's files come back in.
        rows = table_store(settings).read("silver/card_transactions").to_pylist()
        pairs: dict[tuple[str, str], int] = {}
        for r in rows:
            pairs[r["customer_id"], r["merchant_id"]] = (
                pairs.get((r["customer_id"], r["merchant_id"]), 0) + 1
            )
        t = max(
            (r for r in rows if pairs[r["customer_id"], r["merchant_id"]] > 1),
            key=lambda r: (r["timestamp"], r["transaction_id"]),
        )
        row = {k: t[k] for k in ("customer_id", "card_id", "merchant_id", "device_id",
                                 "merchant_country", "ip_country", "channel", "mcc")}  # fmt: skip
        row |= {"amount": float(t["amount_reporting"]), "transaction_ts": t["timestamp"]}
        return row | over

    def test_known_entities_get_stored_values(self, store, settings):
        before = store.missing["cust_txn_count_30d"] + store.missing["cm_txn_count"]
        got = store.get_features([self._row(settings)])
        assert set(got) == set(MODEL_FEATURES)
        assert got["cust_txn_count_30d"][0] >= 1
        assert got["cm_txn_count"][0] >= 1 and got["is_new_merchant"][0] == 0
        assert store.missing["cust_txn_count_30d"] + store.missing["cm_txn_count"] == before

    def test_missing_entities_fall_back_to_defaults_and_are_counted(self, store, settings):
        before = store.missing["merchant_fraud_rate"]
        got = store.get_features([self._row(settings, customer_id="CU-NOBODY",
                                            merchant_id="M-NOWHERE")])  # fmt: skip
        assert got["merchant_fraud_rate"][0] == DEFAULTS["merchant_fraud_rate"]
        assert got["cust_txn_count_30d"][0] == 0.0
        assert got["is_new_merchant"][0] == 1
        assert store.missing["merchant_fraud_rate"] == before + 1
        assert store.missing["cust_txn_count_30d"] >= 1

    def test_serving_reads_match_the_feature_store(self, store, settings):
        # The scorer reads each view through the store's own online_read (serve/features.py);
        # it must return exactly what Feast's get_online_features does, unknown entities too.
        from ray_platform.tables import table_store
        from serve.features import FeastFeatures

        feats = FeastFeatures(settings, store)
        known = self._row(settings)
        keys = ("customer_id", "card_id", "merchant_id", "device_id")
        # A batch as Kafka delivers it: many entities, repeats, one unknown in the middle.
        txns = table_store(settings).read("silver/card_transactions").to_pylist()[:60]
        rows = [
            {k: known[k] or "" for k in keys},
            {"customer_id": "NOBODY", "card_id": "NOCARD", "merchant_id": "NOM", "device_id": ""},
            *({k: t[k] or "" for k in keys} for t in txns + txns[:10]),
        ]
        fast, reference = feats.stored(rows), feats.stored_via_feature_store(rows)
        assert len(fast) == len(reference) == len(rows)
        pairs = enumerate(zip(fast, reference, strict=True))
        diff = [(i, k, f.get(k), r.get(k)) for i, (f, r) in pairs
                for k in set(f) | set(r) if f.get(k) != r.get(k)]  # fmt: skip
        assert not diff, diff[:5]
        assert fast[0]["cust_txn_count_30d"] >= 1
        assert all(v is None for v in fast[1].values())
