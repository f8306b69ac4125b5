"""Consumer bookkeeping without a broker: produced ids survive restarts, malformed input."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from serve.consumer import describe_error, dlq_headers, parse
from serve.dedupe import ProducedIds
from serve.testing import sample_transaction

pytestmark = pytest.mark.unit


def test_produced_ids_persist_across_reopen(tmp_path) -> None:
    path = tmp_path / "p0.db"
    ids = ProducedIds(path)
    ids.add([("T1", "fraud-scores"), ("T1", "fraud-alerts"), ("T2", "fraud-scores")])
    ids.add([("T1", "fraud-scores")])  # a second record of the same result is a no-op
    ids.set_marks({("fraud-scores", 0): 41, ("fraud-alerts", 0): 7})
    ids.close()
    again = ProducedIds(path)  # the restarted consumer
    assert again.produced(["T1", "T2", "T3"], "fraud-scores") == {"T1", "T2"}
    assert again.produced(["T1", "T2"], "fraud-alerts") == {"T1"}
    assert again.marks() == {("fraud-scores", 0): 41, ("fraud-alerts", 0): 7}
    assert len(again) == 3
    assert again.prune(older_than_s=0) == 3 and len(again) == 0


def test_many_ids_are_checked_in_chunks(tmp_path) -> None:
    ids = ProducedIds(tmp_path / "p.db")
    ids.add([(f"T{i}", "s") for i in range(1500)])
    assert len(ids.produced([f"T{i}" for i in range(0, 3000, 2)], "s")) == 750


def test_malformed_messages_are_described_for_the_dlq() -> None:
    assert parse(json.dumps(sample_transaction(1)).encode()).transaction_id == "T000000000001"
    for raw, expect in (
        (b"{not json", "json"),
        (json.dumps(sample_transaction(1, amount="-1")).encode(), "amount"),
        (b"\xff\xfe", "json"),
    ):
        with pytest.raises(ValidationError) as err:
            parse(raw)
        assert expect in describe_error(err.value).lower()
    headers = dict(dlq_headers("amount: bad", "transactions", 3, 99))
    assert headers["source.offset"] == b"99" and headers["error"] == b"amount: bad"


def test_each_source_topic_gets_its_own_dlq_unless_one_is_named() -> None:
    from serve.consumer import CARD_SOURCES, ConsumerConfig

    assert [ConsumerConfig(source=s).dlq for s in CARD_SOURCES] == [
        "transactions.dlq",
        "transactions.json.dlq",
    ]
    assert ConsumerConfig().dlq == "transactions.dlq"
    assert ConsumerConfig(source="a", dlq="b").dlq == "b"
    cfg = ConsumerConfig(source="x")
    assert ConsumerConfig(**cfg.model_dump()) == cfg  # each actor rebuilds it from a dump
