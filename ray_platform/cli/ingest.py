"""``gbank ingest`` and ``gbank ingest-kafka``: land raw feeds in the lake's bronze zone."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import typer

from ray_platform.errors import InvalidArgument


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{option} must be a date like 2024-03-01, got {value!r}") from None


def ingest(
    source: str = typer.Option(..., "--source", help="Source system, e.g. cards or trading."),
    path: str = typer.Option(
        ..., "--path", help="File or folder to land: a local path, file:// or s3:// URI."
    ),
    ingest_date: str | None = typer.Option(
        None, "--ingest-date", help="Bronze partition date (YYYY-MM-DD); default today (UTC)."
    ),
) -> None:
    """Land a file, or every file under a folder, byte-exact in bronze with a manifest entry."""
    from ray_platform.lake import bronze

    results = bronze.land_path(path, source, ingest_date=_date(ingest_date, "--ingest-date"))
    for f in results:
        records = "?" if f.record_count is None else f.record_count
        note = f" (count error: {f.count_error})" if f.count_error else ""
        typer.echo(f"{f.status}\t{f.bronze_path}\t{records} records{note}")
    tally = Counter(f.status for f in results)
    typer.echo(", ".join(f"{n} {status}" for status, n in sorted(tally.items())) or "no files")


def ingest_kafka(
    topics: list[str] = typer.Option(  # noqa: B008 (a repeatable option)
        None,
        "--topic",
        help="Kafka topic to land (repeatable; default: the card topics, Avro then JSON).",
    ),
    max_records: int | None = typer.Option(
        None, "--max-records", min=1, help="Cap on each partition's batch; default no cap."
    ),
) -> None:
    """Land the topics' messages not landed yet, up to now, as JSONL micro-batches in bronze."""
    from ray_platform.lake.kafka_landing import CARD_TOPICS, land_topic

    for topic in topics or CARD_TOPICS:
        batches = land_topic(topic, max_records=max_records)
        for b in batches:
            typer.echo(
                f"p{b.partition}\t{b.start_offset}-{b.end_offset}\t{b.record_count} records\t"
                f"{b.bronze_path}"
            )
        total = sum(b.record_count for b in batches)
        typer.echo(f"landed {total} records in {len(batches)} batches from {topic}")
