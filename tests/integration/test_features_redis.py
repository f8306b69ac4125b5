"""The Redis online store passes the same contract as SQLite."""

from __future__ import annotations

import pytest

from ray_platform.settings import load_settings
from tests.unit.features_contract import OnlineStoreContract, build_small_lake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings(tmp_path_factory, redis_server):
    s = load_settings(home=tmp_path_factory.mktemp("redis_home"), online_store="redis")
    build_small_lake(s)
    return s


class TestRedisOnlineStore(OnlineStoreContract):
    __test__ = True
    kind = "redis"
