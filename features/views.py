"""The Feast objects of the fraud model: entities, sources, feature views and the service.

Built by :func:`build_definitions` from the settings, because the offline sources live in the
lake, whose root is a setting; ``features/repo/definitions.py`` calls it for the ``feast`` CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd

from features.engineering import feature_uri
from ray_platform.contracts.model import Classification
from ray_platform.settings import Settings, get_settings

PROJECT = "globalbank"
SERVICE = "fraud_model"

WINDOW_KEYS = ("1h", "24h", "7d", "30d")
SPEND = tuple(
    f"cust_{m}_{w}"
    for w in WINDOW_KEYS
    for m in ("txn_count", "amount_sum", "amount_mean", "amount_std")
)
VELOCITY = (
    "card_txn_count_10m",
    "card_txn_count_1h",
    "card_amount_sum_1h",
    "card_ecom_count_1h",
    "card_txn_count_24h",
)
MERCHANT = ("merchant_fraud_rate", "merchant_txn_count")
PROFILE_MODEL = ("segment_code", "kyc_risk_score")
PROFILE = ("home_country", *PROFILE_MODEL, "first_open_day")
ON_DEMAND = (
    "amount_eur",
    "amount_zscore",
    "is_foreign",
    "is_ip_foreign",
    "is_ecommerce",
    "hour_of_day",
    "is_new_merchant",
    "is_new_device",
    "account_age_days",
    "mcc_code",
)
MODEL_FEATURES: tuple[str, ...] = (
    *SPEND,
    *VELOCITY,
    *MERCHANT,
    *PROFILE_MODEL,
    "cm_txn_count",
    "cd_txn_count",
    *ON_DEMAND,
)
"""The model's inputs, in column order."""


@dataclass(frozen=True)
class ViewColumn:
    """One column of a feature view: name, Feast dtype and classification.

    ``dtype`` is ``string``, ``int64``, ``float64`` or ``timestamp``; a ``None`` classification
    fails the catalog's build check.
    """

    name: str
    dtype: str
    classification: Classification | None = None


@dataclass(frozen=True)
class ViewSchema:
    """A feature view as the catalog registers it: entity keys, features and what it holds.

    :func:`build_definitions` builds the Feast objects; a test checks they carry exactly these
    features with these types.
    """

    name: str
    keys: tuple[str, ...]
    features: tuple[ViewColumn, ...]
    description: str
    on_demand: bool = False

    @property
    def columns(self) -> tuple[ViewColumn, ...]:
        """Entity keys, the event timestamp (stored views) and the features."""
        keys = tuple(ViewColumn(k, "string", "internal") for k in self.keys)
        stamp = () if self.on_demand else (ViewColumn("event_timestamp", "timestamp", "internal"),)
        return (*keys, *stamp, *self.features)


def _typed(names: tuple[str, ...], float_if: str, cls: Classification) -> tuple[ViewColumn, ...]:
    return tuple(ViewColumn(n, "float64" if float_if in n else "int64", cls) for n in names)


VIEW_SCHEMAS: dict[str, ViewSchema] = {
    v.name: v
    for v in (
        ViewSchema("customer_spend", ("customer_id",),
                   tuple(ViewColumn(n, "int64" if "count" in n else "float64", "internal")
                         for n in SPEND),
                   "Customer card spend over 1 h, 24 h, 7 d and 30 d: count, sum, mean, std."),
        ViewSchema("card_velocity", ("card_id",), _typed(VELOCITY, "amount", "internal"),
                   "Card velocity: counts over 10 min, 1 h and 24 h, 1 h amount and e-commerce."),
        ViewSchema("merchant_risk", ("merchant_id",), _typed(MERCHANT, "rate", "internal"),
                   "Smoothed fraud-rate prior per merchant, from labels a day late."),
        ViewSchema("customer_profile", ("customer_id",),
                   (ViewColumn("home_country", "string", "internal"),
                    ViewColumn("segment_code", "int64", "internal"),
                    ViewColumn("kyc_risk_score", "int64", "confidential"),
                    ViewColumn("first_open_day", "int64", "internal")),
                   "Home country, segment, KYC risk rating and first account opening day."),
        ViewSchema("customer_merchant", ("customer_id", "merchant_id"),
                   (ViewColumn("cm_txn_count", "int64", "internal"),),
                   "How often a customer paid a merchant in the trailing 30 days."),
        ViewSchema("card_device", ("card_id", "device_id"),
                   (ViewColumn("cd_txn_count", "int64", "internal"),),
                   "How often a card was used on a device in the trailing 30 days."),
        ViewSchema("transaction_context", (),
                   _typed(ON_DEMAND, "amount_", "internal"),
                   "On-demand features of one transaction against the stored features.",
                   on_demand=True),
    )
}  # fmt: skip
"""Every feature view with its columns' classifications (what the catalog registers)."""

REQUEST_FIELDS = ("amount", "merchant_country", "ip_country", "channel", "mcc", "transaction_ts")
"""What the caller sends with each transaction (Feast request data)."""
ENTITY_KEYS = ("customer_id", "card_id", "merchant_id", "device_id")


def transaction_context(inputs: pd.DataFrame) -> pd.DataFrame:
    """On-demand features of one transaction against the stored features (pandas, vectorised).

    ``amount_zscore`` is the amount against the customer's 30-day mean and standard deviation
    (0 without history); flags are 0/1; ``hour_of_day`` is the UTC hour of the transaction.
    """
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=inputs.index)
    amount = pd.to_numeric(inputs["amount"], errors="coerce").astype("float64")
    mean = pd.to_numeric(inputs["cust_amount_mean_30d"], errors="coerce").astype("float64")
    std = pd.to_numeric(inputs["cust_amount_std_30d"], errors="coerce").astype("float64")
    z = (amount - mean) / std.clip(lower=1.0)
    out["amount_eur"] = amount
    out["amount_zscore"] = z.fillna(0.0).astype("float64")
    home = inputs["home_country"].astype("object")
    out["is_foreign"] = (home.notna() & (inputs["merchant_country"] != home)).astype("int64")
    out["is_ip_foreign"] = (home.notna() & (inputs["ip_country"] != home)).astype("int64")
    out["is_ecommerce"] = (inputs["channel"] == "ecom").astype("int64")
    ts = pd.to_datetime(inputs["transaction_ts"], utc=True)
    out["hour_of_day"] = ts.dt.hour.astype("int64")
    cm = pd.to_numeric(inputs["cm_txn_count"], errors="coerce").fillna(0)
    cd = pd.to_numeric(inputs["cd_txn_count"], errors="coerce").fillna(0)
    out["is_new_merchant"] = (cm <= 0).astype("int64")
    out["is_new_device"] = (cd <= 0).astype("int64")
    first = pd.to_numeric(inputs["first_open_day"], errors="coerce")
    days = (ts - pd.Timestamp("1970-01-01", tz="UTC")).dt.days
    out["account_age_days"] = (days - first).fillna(-1).astype("int64")
    out["mcc_code"] = pd.to_numeric(inputs["mcc"], errors="coerce").fillna(-1).astype("int64")
    return out.replace([np.inf, -np.inf], 0.0)


def _fresh(fn: Any) -> Any:
    """A copy of ``fn``: Feast's decorator renames its function's module to ``__main__``."""
    import types

    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__)
    copy.__doc__ = fn.__doc__
    return copy


_BUILT: dict[tuple[str, str | None], dict[str, Any]] = {}


def build_definitions(settings: Settings | None = None) -> dict[str, Any]:
    """Every Feast object, by name, with sources in ``settings``' lake (built once per lake)."""
    s = settings or get_settings()
    key = (s.lake_uri, s.s3_endpoint_url)
    if key not in _BUILT:
        _BUILT[key] = _build(s)
    return _BUILT[key]


def _build(s: Settings) -> dict[str, Any]:
    from feast import (
        Entity,
        FeatureService,
        FeatureView,
        Field,
        FileSource,
        RequestSource,
        ValueType,
    )
    from feast.on_demand_feature_view import on_demand_feature_view
    from feast.types import Float64, Int64, String, UnixTimestamp

    customer = Entity(
        name="customer",
        join_keys=["customer_id"],
        value_type=ValueType.STRING,
        description="Bank customer",
    )
    card = Entity(
        name="card", join_keys=["card_id"], value_type=ValueType.STRING, description="Payment card"
    )
    merchant = Entity(
        name="merchant",
        join_keys=["merchant_id"],
        value_type=ValueType.STRING,
        description="Card merchant",
    )
    device = Entity(
        name="device",
        join_keys=["device_id"],
        value_type=ValueType.STRING,
        description="Device or terminal",
    )

    def source(name: str) -> FileSource:
        # A glob over the date partitions: the DuckDB offline store reads the path with
        # read_parquet, which takes files or globs, not a folder.
        return FileSource(
            name=f"{name}_source",
            path=f"{feature_uri(name, s)}/*/*.parquet",
            timestamp_field="event_timestamp",
        )

    def fields(names: tuple[str, ...], dtype: Any) -> list[Field]:
        return [Field(name=n, dtype=dtype) for n in names]

    spend_types = [
        Field(name=n, dtype=Int64 if "count" in n else Float64) for n in SPEND
    ]  # fmt: skip
    views = [
        FeatureView(name="customer_spend", entities=[customer], ttl=timedelta(days=30),
                    schema=spend_types, source=source("customer_spend")),
        FeatureView(name="card_velocity", entities=[card], ttl=timedelta(days=1),
                    schema=[Field(name=n, dtype=Float64 if "amount" in n else Int64)
                            for n in VELOCITY],
                    source=source("card_velocity")),
        FeatureView(name="merchant_risk", entities=[merchant], ttl=timedelta(days=90),
                    schema=[Field(name="merchant_fraud_rate", dtype=Float64),
                            Field(name="merchant_txn_count", dtype=Int64)],
                    source=source("merchant_risk")),
        FeatureView(name="customer_profile", entities=[customer], ttl=timedelta(0),
                    schema=[Field(name="home_country", dtype=String),
                            *fields(PROFILE[1:], Int64)],
                    source=source("customer_profile")),
        FeatureView(name="customer_merchant", entities=[customer, merchant],
                    ttl=timedelta(days=30), schema=fields(("cm_txn_count",), Int64),
                    source=source("customer_merchant")),
        FeatureView(name="card_device", entities=[card, device], ttl=timedelta(days=30),
                    schema=fields(("cd_txn_count",), Int64), source=source("card_device")),
    ]  # fmt: skip
    request = RequestSource(
        name="transaction_request",
        schema=[
            Field(name="amount", dtype=Float64),
            *fields(("merchant_country", "ip_country", "channel", "mcc"), String),
            Field(name="transaction_ts", dtype=UnixTimestamp),
        ],
    )
    odfv = on_demand_feature_view(
        name="transaction_context",
        sources=[views[0], views[3], views[4], views[5], request],
        schema=[
            *fields(("amount_eur", "amount_zscore"), Float64),
            *fields(ON_DEMAND[2:], Int64),
        ],
        mode="pandas",
    )(_fresh(transaction_context))
    service = FeatureService(name=SERVICE, features=[*views, odfv])
    objects: dict[str, Any] = {e.name: e for e in (customer, card, merchant, device)}
    objects |= {v.name: v for v in views}
    objects |= {"transaction_context": odfv, "transaction_request": request, SERVICE: service}
    return objects
