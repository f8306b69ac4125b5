"""Labelled examples from silver and their point-in-time features from Feast.

Each silver card transaction is one example: its entity keys, the request data a caller would
send (amount, countries, channel, MCC, time) and its ``is_fraud`` label. The example's
``event_timestamp`` is one microsecond *before* the transaction, so the features joined are
those known before it happened, which is what the online store holds when it is scored.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow.compute as pc

from features.engineering import read_transactions
from features.views import MODEL_FEATURES
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import table_store

LABEL = "is_fraud"


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def examples(
    start: dt.date, end: dt.date, settings: Settings | None = None
) -> tuple[pd.DataFrame, int]:
    """Examples for transactions on ``start..end``, and the silver version they came from."""
    store = table_store(settings or get_settings())
    version = store.version("silver/card_transactions")
    t = read_transactions(store, _utc(start), _utc(end + dt.timedelta(days=1)), version=version)
    ts = t["timestamp"]
    df = pd.DataFrame(
        {
            "transaction_id": t["transaction_id"].to_numpy(zero_copy_only=False),
            "customer_id": t["customer_id"].to_numpy(zero_copy_only=False),
            "card_id": t["card_id"].to_numpy(zero_copy_only=False),
            "merchant_id": t["merchant_id"].to_numpy(zero_copy_only=False),
            "device_id": t["device_id"].to_numpy(zero_copy_only=False),
            "amount": pc.cast(t["amount_reporting"], "float64").to_numpy(zero_copy_only=False),
            "merchant_country": t["merchant_country"].to_numpy(zero_copy_only=False),
            "ip_country": t["ip_country"].to_numpy(zero_copy_only=False),
            "channel": t["channel"].to_numpy(zero_copy_only=False),
            "mcc": t["mcc"].to_numpy(zero_copy_only=False),
            "transaction_ts": ts.to_pandas(),
            LABEL: t[LABEL].to_numpy(zero_copy_only=False).astype("int64"),
        }
    )
    df["transaction_ts"] = pd.to_datetime(df["transaction_ts"], utc=True)
    df["event_timestamp"] = df["transaction_ts"] - pd.Timedelta(microseconds=1)
    return df.sort_values("event_timestamp", kind="stable").reset_index(drop=True), version


def training_frame(entity_df: pd.DataFrame, settings: Settings | None = None) -> pd.DataFrame:
    """``entity_df`` with every model feature joined point-in-time through Feast."""
    from features.online import apply_defaults
    from features.store import historical_features

    joined = historical_features(entity_df, settings)
    joined = joined.sort_values("event_timestamp", kind="stable").reset_index(drop=True)
    return apply_defaults(joined, MODEL_FEATURES)[0]
