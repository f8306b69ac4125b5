from __future__ import annotations

import pytest

from ray_platform.services.base import LocalService
from ray_platform.services.kafka import KafkaBroker
from ray_platform.services.ray_cluster import LocalRayCluster
from ray_platform.services.redis import RedisServer
from ray_platform.services.s3 import LocalS3Server

pytestmark = pytest.mark.unit


class _Fake(LocalService):
    def __init__(self, up: bool) -> None:
        self.up, self.stops = up, 0

    def start(self) -> bool:
        if self.up:
            return False
        self.up = True
        return True

    def stop(self) -> None:
        self.stops += 1
        self.up = False


def test_running_stops_only_what_it_started():
    mine = _Fake(up=False)
    with mine.running() as svc:
        assert svc is mine and mine.up
    assert mine.stops == 1 and not mine.up

    theirs = _Fake(up=True)
    with theirs.running():
        pass
    assert theirs.stops == 0 and theirs.up


def test_running_stops_on_error_too():
    svc = _Fake(up=False)
    with pytest.raises(RuntimeError), svc.running():
        raise RuntimeError("boom")
    assert svc.stops == 1


@pytest.mark.parametrize("cls", [KafkaBroker, RedisServer, LocalS3Server, LocalRayCluster])
def test_every_local_service_has_the_shared_lifecycle(cls):
    assert issubclass(cls, LocalService)
    assert cls.running is LocalService.running
