"""The lake's path conventions, in one place.

Every path here is relative to a root URI (``settings.lake_uri`` or ``settings.landing_uri``) and
uses ``/``, so the same string works in a local folder and in an S3 bucket::

    bronze/<source>/ingest_date=YYYY-MM-DD/<file>    raw files, byte-exact, kept 7 years
    silver/<table>                                   validated tables (Delta)
    silver/_quarantine/<table>                       rejected rows, with the reason
    gold/<table>                                     aggregates (Delta)
    _system/<table>                                  the platform's own bookkeeping (Delta)

The landing zone (what sources drop) is ``<source>/<business_date>/<file>``, beside the
generator's own ``_manifest/`` folder, which is not a source.
"""

from __future__ import annotations

import datetime as dt

BRONZE = "bronze"
SILVER = "silver"
GOLD = "gold"
SYSTEM = "_system"
QUARANTINE = f"{SILVER}/_quarantine"

RETENTION_CLASSES = {BRONZE: "bronze_7y", SILVER: "silver_5y", GOLD: "gold_3y"}
"""How long each zone keeps data: raw feeds 7 years, silver 5, gold (and the warehouse) 3."""

LANDING_MANIFEST = "_manifest"
"""The generator's folder in the landing zone; never landed as a source."""


def system_table(name: str) -> str:
    """A bookkeeping table under ``_system/``."""
    return f"{SYSTEM}/{name}"


BRONZE_MANIFEST = system_table("bronze_manifest")
"""One row per file landed in bronze (sha256, size, record count, ...)."""
KAFKA_OFFSETS = system_table("kafka_offsets")
"""One row per Kafka micro-batch landed in bronze (topic, partition, offset range)."""
RUNS = system_table("runs")
"""One row per pipeline run."""
LINEAGE = system_table("lineage")
"""Which inputs each output was built from."""


def bronze_dir(source: str, ingest_date: dt.date) -> str:
    """The folder that holds ``source``'s files landed on ``ingest_date``."""
    return f"{BRONZE}/{source}/ingest_date={ingest_date.isoformat()}"


def bronze_file(source: str, ingest_date: dt.date, name: str) -> str:
    """The path of one landed file."""
    return f"{bronze_dir(source, ingest_date)}/{name}"


def silver_table(name: str) -> str:
    """A silver table."""
    return f"{SILVER}/{name}"


def quarantine_table(name: str) -> str:
    """The quarantine table beside silver table ``name``."""
    return f"{QUARANTINE}/{name}"


def gold_table(name: str) -> str:
    """A gold table."""
    return f"{GOLD}/{name}"


def landing_dir(source: str, business_date: dt.date) -> str:
    """The landing-zone folder where ``source`` drops its files for ``business_date``."""
    return f"{source}/{business_date.isoformat()}"
