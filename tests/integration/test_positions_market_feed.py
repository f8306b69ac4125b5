"""The market-data replay producer against the real broker: rate held, order per key kept."""

from __future__ import annotations

import json
import uuid

import pytest

from ray_platform.market_feed import replay
from ray_platform.streaming import end_offsets, read_from

pytestmark = pytest.mark.integration


def test_replay_holds_the_rate_and_keeps_each_keys_order(kafka_broker):
    topic = f"test-market-{uuid.uuid4().hex[:8]}"
    updates = [
        (
            f"I{i % 7}".encode(),
            json.dumps({"type": "price", "isin": f"I{i % 7}", "seq": i}).encode(),
        )
        for i in range(1500)
    ]
    stats = replay(500, updates=updates, topic=topic)  # creates the topic
    assert stats.sent == 1500
    assert 2.8 < stats.seconds < 4.5  # 3 s at 500/s; a loaded machine may lag, never lead
    got = read_from(topic, {p: 0 for p in end_offsets(topic)}, 1500, timeout_s=30)
    assert len(got) == 1500
    by_key: dict[bytes, list[int]] = {}
    for m in got:
        by_key.setdefault(m.key, []).append(json.loads(m.value)["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values())
    assert replay(None, updates=updates[:100], topic=topic).sent == 100  # flat out
