"""What the lake and daily jobs land: the card topics by default, others by name, and CDC."""

from __future__ import annotations

import pytest

from ray_platform.jobs import daily, lake_etl
from ray_platform.jobs._runtime import kafka_topics

pytestmark = pytest.mark.unit

CARD = ("transactions", "transactions.json")


@pytest.mark.parametrize("job", [lake_etl, daily])
def test_default_lands_both_card_topics_and_no_cdc(job) -> None:
    args, days = job.parse_args(["--date", "2026-01-05"])
    assert (kafka_topics(args), args.cdc, len(days)) == (CARD, False, 1)


@pytest.mark.parametrize("job", [lake_etl, daily])
def test_named_topics_replace_the_defaults_and_cdc_is_opt_in(job) -> None:
    args, _ = job.parse_args(["--date", "2026-01-05", "--topic", "a", "--topic", "b", "--cdc"])
    assert (kafka_topics(args), args.cdc) == (("a", "b"), True)


@pytest.mark.parametrize("job", [lake_etl, daily])
def test_no_kafka_lands_no_topic(job) -> None:
    args, _ = job.parse_args(["--date", "2026-01-05", "--topic", "a", "--no-kafka"])
    assert kafka_topics(args) == ()


def test_the_card_contract_streams_both_topics_into_one_bronze_folder() -> None:
    from ray_platform.contracts.silver import CARD_TRANSACTIONS
    from ray_platform.lake.kafka_landing import stream_source

    assert CARD_TRANSACTIONS.stream_topics == CARD
    assert {stream_source(t) for t in CARD} == {"card_transactions_stream"}
    assert stream_source("cdc.core.customers") == "cdc_core_customers_stream"
