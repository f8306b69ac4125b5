"""GDPR erasure reaches the Redis online store: no key of the person is left, others stay."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from features.online import online_store_for
from ray_platform.governance import gdpr
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from tests.unit.features_contract import END, build_small_lake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(tmp_path_factory, redis_server):
    s = load_settings(home=tmp_path_factory.mktemp("redis_erase_home"), online_store="redis")
    build_small_lake(s)
    store = online_store_for(s, "redis")
    store.apply()
    store.materialize(dt.datetime.combine(END + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC))
    store.close()
    return s


def _keys_naming(s, value: str) -> int:
    import redis

    host, _, port = s.redis_address.partition(":")
    client = redis.Redis(host=host, port=int(port or 6379))
    return sum(value.encode() in key for key in client.scan_iter(count=1000))


def test_erase_removes_the_person_from_redis(settings):
    txns = table_store(settings).read(
        "silver/card_transactions", columns=["customer_id", "card_id"]
    )
    counts = collections.Counter(txns.column("customer_id").to_pylist())
    (victim, _), (other, _) = counts.most_common(2)
    cards = {c for v, c in zip(*(txns.column(n).to_pylist() for n in ("customer_id", "card_id")),
                                strict=True) if v == victim}  # fmt: skip
    assert _keys_naming(settings, victim) and _keys_naming(settings, other)
    cert = gdpr.erase(victim, settings)
    assert cert.online_store["kind"] == "redis" and cert.online_store["entries_deleted"] >= 1
    assert _keys_naming(settings, victim) == 0
    assert all(_keys_naming(settings, c) == 0 for c in cards)
    assert _keys_naming(settings, other)
