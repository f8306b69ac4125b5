"""One business date through the lake: landing -> bronze -> silver -> gold, with lineage.

Every step is idempotent, so the whole day is: landing a file twice keeps one copy, the Kafka
landing resumes after the last landed offset, silver replaces the date's rows, and gold replaces
the date's aggregates. Each step appends an OpenLineage-style event naming what it read and wrote
(bronze files by sha256, tables by version), and its rows per table are the ``gbank_etl_rows``
metric.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from ray_platform import lineage, metrics
from ray_platform.lake import bronze, kafka_landing, layout
from ray_platform.lake.gold import GoldReport, run_gold
from ray_platform.lake.silver import SilverReport, run_silver
from ray_platform.lineage import DatasetRef, RunEvent
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import table_store

log = logging.getLogger(__name__)
JOB = "lake_etl"


@dataclass
class LakeDayReport:
    """What one business date's run did."""

    run_id: str
    business_date: str
    landed: dict[str, int] = field(default_factory=dict)  # status -> files
    kafka_by_topic: dict[str, int] = field(default_factory=dict)  # records landed per topic
    silver: SilverReport | None = None
    gold: GoldReport | None = None

    @property
    def kafka_records(self) -> int:
        """Records landed from Kafka, every topic together."""
        return sum(self.kafka_by_topic.values())

    def summary(self) -> dict[str, object]:
        """Headline counts, JSON-ready (what the job prints on its RESULT line)."""
        s = self.silver
        return {
            "run_id": self.run_id,
            "business_date": self.business_date,
            "bronze_files": self.landed,
            "kafka_records": self.kafka_records,
            "silver": {
                t: {
                    "read": r.read,
                    "written": r.written,
                    "quarantined": r.quarantined,
                    "duplicates_dropped": r.duplicates_dropped,
                }
                for t, r in (s.tables.items() if s else [])
                if r.read or r.held
            },
            "held": s.held if s else {},
            "malformed_files": s.malformed_files if s else {},
            "gold": {t: r.rows for t, r in self.gold.tables.items()} if self.gold else {},
        }


def run_lake_day(
    business_date: dt.date,
    settings: Settings | None = None,
    *,
    run_id: str | None = None,
    kafka_topics: Sequence[str] = kafka_landing.CARD_TOPICS,
    use_ray: bool = True,
    cdc: bool = False,
) -> LakeDayReport:
    """Run bronze, silver and gold for ``business_date``; raises if silver does not reconcile.

    ``kafka_topics`` are the card-transaction topics landed beside the files (none: files only).

    ``cdc`` also lands the core-banking database's Debezium topics and applies their customer
    and account changes (``lake.debezium``, ``docs/cdc.md``), beside any change files.
    """
    s = settings or get_settings()
    run_id = run_id or bronze.new_run_id()
    day = business_date.isoformat()
    store = table_store(s)
    report = LakeDayReport(run_id, day)

    landed = bronze.land_landing_date(
        business_date, ingest_date=business_date, run_id=run_id, settings=s
    )
    for f in landed:
        report.landed[f.status] = report.landed.get(f.status, 0) + 1
    events = [
        RunEvent(
            run_id, JOB, "bronze", "COMPLETE",
            inputs=tuple(DatasetRef(f.landing_path, sha256=f.sha256) for f in landed),
            outputs=tuple(
                DatasetRef(f.bronze_path, rows=f.record_count, sha256=f.sha256) for f in landed
            ),
            business_date=day,
        )
    ]  # fmt: skip
    if kafka_topics:
        batches, event = kafka_landing.land_topics(
            kafka_topics, ingest_date=business_date, run_id=run_id, job=JOB, settings=s
        )
        for b in batches:
            report.kafka_by_topic[b.topic] = report.kafka_by_topic.get(b.topic, 0) + b.record_count
        events.append(event)
    if cdc:
        from ray_platform.lake.debezium import land_core_changes

        land_core_changes(business_date, s, run_id)
    report.silver = run_silver(
        business_date, s, run_id=run_id, use_ray=use_ray,
        stream_topics=silver_streams(kafka_topics, cdc=cdc),
    )  # fmt: skip
    for name, r in report.silver.tables.items():
        if not r.files:
            continue
        events.append(
            RunEvent(
                run_id, JOB, f"silver.{name}", "COMPLETE",
                inputs=tuple(DatasetRef(p) for p in r.files),
                outputs=(
                    DatasetRef(layout.silver_table(name), r.version, r.written),
                    DatasetRef(layout.quarantine_table(name), rows=r.quarantined),
                ),
                business_date=day,
            )
        )  # fmt: skip

    report.gold = run_gold(business_date, s, run_id=run_id)
    events += report.gold.run_events(job=JOB)
    lineage.record(events, store)
    _record_rows(report, landed)
    return report


def silver_streams(kafka_topics: Sequence[str], *, cdc: bool) -> dict[str, Sequence[str]]:
    """Silver table -> the Kafka topics whose landed batches feed it, for ``run_silver``."""
    streams: dict[str, Sequence[str]] = {"card_transactions": tuple(kafka_topics)}
    if cdc:
        from ray_platform.lake.debezium import CDC_STREAMS

        streams.update({table: (topic,) for table, topic in CDC_STREAMS.items()})
    return streams


def _record_rows(report: LakeDayReport, landed: list[bronze.LandedFile]) -> None:
    """Rows per step and table as the ``gbank_etl_rows`` metric (this date's run)."""
    by_source: dict[str, int] = {}
    for f in landed:
        if f.status != "skipped_duplicate":
            by_source[f.source] = by_source.get(f.source, 0) + (f.record_count or 0)
    rows = [("bronze", src, "landed", n) for src, n in by_source.items()]
    rows += [("bronze", topic, "landed", n) for topic, n in report.kafka_by_topic.items()]
    summary = report.summary()
    for table, counts in summary["silver"].items():  # type: ignore[union-attr]
        rows += [("silver", table, outcome, n) for outcome, n in counts.items()]
    rows += [("gold", t, "written", n) for t, n in summary["gold"].items()]  # type: ignore[union-attr]
    for step, table, outcome, n in rows:
        metrics.set_gauge("gbank_etl_rows", n, step=step, table=table, outcome=outcome)
