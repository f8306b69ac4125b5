"""Debezium change events from the core-banking PostgreSQL, as the lake's CDC records.

The Debezium path sits beside the file-based one (``customer_changes.jsonl`` from the
generator): Kafka Connect streams ``core.customers`` and ``core.accounts`` to the topics
``cdc.core.customers`` and ``cdc.core.accounts`` (``ray_platform.services.connect``),
:func:`land_core_changes` lands their messages byte for byte in bronze
(``lake.kafka_landing``), and the silver run reads those batches as ``customer_changes`` and
``account_changes`` (pass :data:`CDC_STREAMS` as ``run_silver(stream_topics=...)``). Before
parsing, :func:`normalise_lines` rewrites each raw Debezium envelope into the record the file
path produces, so validation, the merge into silver ``customers`` and ``accounts``
(``lake.cdc``) and the SCD2 history of ``dim_customer`` are the same code for both paths.

What the conversion changes (see :func:`to_change_record`):

* ``ts_ms`` becomes ``source.ts_ms``, the commit time in PostgreSQL (Debezium's own ``ts_ms``
  is when the connector read the change);
* ``date`` columns, which Debezium sends as days since 1970-01-01, become ISO dates;
  ``timestamptz`` columns (ISO text with microseconds) lose an all-zero fraction, as the files
  write them;
* ``op`` ``r`` (a row read by the connector's initial snapshot) becomes ``u``: it states the row
  as it is, which the history treats as an update that changes nothing when the extract agrees;
* ``source`` keeps ``connector``, ``db``, ``schema``, ``table``, ``lsn`` and ``txId``.

One line in, one line out: record numbers (quarantine, lineage) stay those of the bronze file.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ray_platform.settings import Settings

CDC_STREAMS: dict[str, str] = {
    "customer_changes": "cdc.core.customers",
    "account_changes": "cdc.core.accounts",
}
"""Silver table -> the Debezium topic whose landed batches feed it (``run_silver`` argument).

Both are ``cdc`` contracts: their events stay in the change table and are applied to silver
``customers`` and ``accounts`` (``lake.cdc.apply_changes``)."""
LANDED_TOPICS: tuple[str, ...] = ("cdc.core.customers", "cdc.core.accounts")
"""Every topic the connector writes; all are landed in bronze, and silver applies both
(:data:`CDC_STREAMS`): account inserts, updates and deletes reach silver ``accounts`` beside
the core-banking extracts, as the customers' changes reach ``customers``."""

DATE_COLUMNS = frozenset({"date_of_birth", "open_date"})
"""Columns of the core-banking tables typed ``date`` (``generator.core_db``)."""

_EPOCH = dt.date(1970, 1, 1)
_SOURCE_KEYS = ("connector", "db", "schema", "table", "lsn", "txId")
_OPS = {"c": "c", "u": "u", "d": "d", "r": "u"}


def is_envelope(record: object) -> bool:
    """Whether ``record`` is a raw Debezium envelope (not yet converted)."""
    if not isinstance(record, dict):
        return False
    source = record.get("source")
    return isinstance(source, dict) and "version" in source and "op" in record


def _image(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = {}
    for name, value in row.items():
        if name in DATE_COLUMNS and isinstance(value, int):
            value = (_EPOCH + dt.timedelta(days=value)).isoformat()
        elif isinstance(value, str) and value.endswith(".000000Z"):
            value = value[: -len(".000000Z")] + "Z"
        out[name] = value
    return out


def to_change_record(envelope: dict[str, Any]) -> dict[str, Any]:
    """The file path's change record for one Debezium envelope (see the module docstring).

    Raises :class:`ValueError` for an op Debezium's PostgreSQL connector does not send
    (``t``, truncate, is not captured: the connector is configured to skip it).
    """
    op = envelope.get("op")
    if op not in _OPS:
        raise ValueError(f"unsupported Debezium op {op!r}")
    source = envelope.get("source") or {}
    return {
        "op": _OPS[op],
        "before": _image(envelope.get("before")),
        "after": _image(envelope.get("after")),
        "ts_ms": source.get("ts_ms", envelope.get("ts_ms")),
        "source": {k: source[k] for k in _SOURCE_KEYS if k in source},
    }


def normalise_lines(data: bytes) -> bytes:
    """``data`` with every raw Debezium envelope line converted; other lines kept byte for byte.

    Lines that are not JSON, or not envelopes, stay as they are so validation reports them as it
    would any malformed record. Files of the file-based path come back unchanged (same object).
    """
    if b'"version"' not in data or b'"source"' not in data:
        return data
    lines = data.split(b"\n")
    changed = False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not is_envelope(record):
            continue
        try:
            converted = to_change_record(record)
        except ValueError:
            continue  # left raw: its op fails the contract's enum rule and is quarantined
        lines[i] = json.dumps(converted, ensure_ascii=False, separators=(",", ":")).encode()
        changed = True
    return b"\n".join(lines) if changed else data


def land_core_changes(
    ingest_date: dt.date | None = None,
    settings: Settings | None = None,
    run_id: str | None = None,
) -> dict[str, int]:
    """Land every new message of the CDC topics in bronze; records landed per topic."""
    from ray_platform.lake.kafka_landing import land_topic

    landed = {}
    for topic in LANDED_TOPICS:
        batches = land_topic(topic, ingest_date=ingest_date, run_id=run_id, settings=settings)
        landed[topic] = sum(b.record_count for b in batches)
    return landed
