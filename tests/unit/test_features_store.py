"""Feature tables, point-in-time joins (leakage check) and the SQLite online store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from features.engineering import feature_uri
from features.store import apply, historical_features
from features.views import MODEL_FEATURES
from models.dataset import examples
from ray_platform.settings import load_settings
from tests.unit.features_contract import END, START, OnlineStoreContract, build_small_lake
from tests.unit.pit_reference import point_in_time_join

pytestmark = pytest.mark.unit
PLANTED = 9.99e11


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("features_home"))
    build_small_lake(s)
    apply(s, "sqlite")
    return s


@pytest.fixture(scope="module")
def labels(settings):
    df, _ = examples(START, END, settings)
    return df


def test_leakage_planted_future_value_is_never_joined(settings, labels):
    # A label late on the last day, and a customer_spend row for its customer stamped one
    # second after it with an absurd value: no join may ever return it.
    label = labels.iloc[[-1]].copy()
    planted_ts = label["event_timestamp"].iloc[0] + pd.Timedelta(seconds=1)
    src = pq.read_table(f"{feature_uri('customer_spend', settings)}/date={END}/part-0.parquet")
    row = src.slice(0, 1).to_pylist()[0] | {
        "customer_id": label["customer_id"].iloc[0], "event_timestamp": planted_ts.to_pydatetime(),
        "cust_amount_sum_30d": PLANTED, "cust_amount_mean_30d": PLANTED,
    }  # fmt: skip
    folder = f"{feature_uri('customer_spend', settings)}/date={END}"
    pq.write_table(pa.Table.from_pylist([row], schema=src.schema), f"{folder}/planted.parquet")
    sample = pd.concat([label, labels.sample(40, random_state=1)]).reset_index(drop=True)
    ours = point_in_time_join(sample, settings)
    feast = historical_features(sample, settings)
    for joined in (ours, feast):
        assert not (joined["cust_amount_sum_30d"] == PLANTED).any()
        assert not (joined["cust_amount_mean_30d"] == PLANTED).any()
    # With the label moved after the planted row, both joins see it: the check is live.
    later = label.assign(event_timestamp=planted_ts + pd.Timedelta(seconds=1))
    assert point_in_time_join(later, settings)["cust_amount_sum_30d"].iloc[0] == PLANTED
    # And every feature row joined by our path is stamped at or before the label.
    full = point_in_time_join(labels, settings)
    assert (full["cust_amount_sum_30d"] != PLANTED).all()
    # Feast returns every label and agrees with the independent reference on every feature.
    assert len(feast) == len(sample)
    m = feast.merge(ours, on="transaction_id", suffixes=("_f", "_d"))
    assert len(m) == len(sample)
    for col in MODEL_FEATURES:
        a, b = m[f"{col}_f"].astype(float), m[f"{col}_d"].astype(float)
        assert np.allclose(a.fillna(-7), b.fillna(-7)), col


def test_features_are_stamped_and_windows_include_history(settings, labels):
    joined = point_in_time_join(labels, settings)
    late = joined[pd.to_datetime(joined["transaction_ts"]).dt.date == END]
    assert (late["cust_txn_count_30d"] > 0).mean() > 0.9
    assert joined["hour_of_day"].between(0, 23).all()
    assert set(joined["is_new_merchant"].unique()) <= {0, 1}


class TestSqliteOnlineStore(OnlineStoreContract):
    __test__ = True
    kind = "sqlite"


def test_chunked_retrieval_equals_one_call(settings, labels):
    # Training sends the labels to Feast in chunks to bound memory; the join must not change.
    sample = labels.sample(60, random_state=3).reset_index(drop=True)
    whole = historical_features(sample, settings, chunk_rows=len(sample))
    chunked = historical_features(sample, settings, chunk_rows=7)
    key = ["transaction_id"]
    a = whole.sort_values(key).reset_index(drop=True)[[*key, *MODEL_FEATURES]]
    b = chunked.sort_values(key).reset_index(drop=True)[[*key, *MODEL_FEATURES]]
    assert len(b) == len(sample)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
