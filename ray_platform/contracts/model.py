r"""The contract model: a table is a list of typed, classified columns plus its keys.

Column types and their text forms (what the sources send):

- ``str``: free text.
- ``int``: decimal integer. ``epoch_ms``: milliseconds since the Unix epoch, an integer.
- ``dec``: decimal with exactly ``dp`` places (``-?[0-9]+\\.[0-9]{dp}``).
- ``date``: ``YYYY-MM-DD``. ``ts``: ISO 8601 with ``Z`` or a ``+HH:MM`` offset.
- ``enum``: one of ``values``; ``currency`` is an enum over ISO 4217 codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Classification = Literal["public", "internal", "confidential", "restricted"]
ColumnType = Literal["str", "int", "epoch_ms", "dec", "date", "ts", "enum", "currency"]
Check = Literal["iban", "isin", "lei", "luhn"]


@dataclass(frozen=True)
class Column:
    """One column of a source record and of its silver table.

    ``source`` is where the value sits in the record when it differs from ``name`` (a dotted
    path into a nested JSON record, for example ``after.customer_id``). ``pii`` columns are
    tokenised in silver. ``minor_units`` decimals also get ``<name>_minor`` (int64, the value
    times ``10**dp``) and, with ``currency_column``, ``<name>_reporting`` in the reporting
    currency. ``min`` below zero fails as ``negative_amount``; above ``max`` as
    ``absurd_amount``.
    """

    name: str
    type: ColumnType = "str"
    required: bool = True
    classification: Classification = "internal"
    pii: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    check: Check | None = None
    not_future: bool = False
    fk: str | None = None  # "table.column" of the referenced key
    dp: int = 2
    source: str | None = None
    minor_units: bool = False
    currency_column: str | None = None

    @property
    def path(self) -> str:
        """Where the value is found in a source record."""
        return self.source or self.name


@dataclass(frozen=True)
class TableContract:
    """The contract of one silver table and the source files that feed it.

    ``kind`` decides how a run writes: ``entity`` tables are merged by ``business_key``;
    ``fact`` tables are append-only, replaced per ingest date so reruns are idempotent.
    """

    name: str
    source: str
    file_names: tuple[str, ...]
    format: Literal["csv", "jsonl", "cdc", "xml"]
    columns: tuple[Column, ...]
    business_key: tuple[str, ...] = ()
    kind: Literal["entity", "fact"] = "fact"
    event_time: str | None = None  # column whose UTC date gives the partition
    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    schema_version: int = 1
    record_tag: str = ""  # XML element of one record
    # Kafka topics whose landed batches also feed this table (an Avro topic, a JSON one).
    stream_topics: tuple[str, ...] = ()
    description: str = ""

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        """Column names in declared order."""
        return [c.name for c in self.columns]

    def matches_file(self, file_name: str) -> bool:
        """Whether a bronze file name (optionally ``.gz``) belongs to this table."""
        base = file_name.rsplit("/", 1)[-1]
        base = base[:-3] if base.endswith(".gz") else base
        return base in self.file_names
