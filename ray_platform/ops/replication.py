"""Cross-region replication of gold aggregates that hold no personal data.

A gold table may leave its region only when the catalog says it holds no personal data, judged
from the declarations the catalog is built from, with no list of its own:

- no column classified at or above the lowest class personal data has
  (:data:`ray_platform.governance.pii.KINDS`: ``confidential``), and none declared PII;
- no column that identifies a data subject: the key of a silver table holding PII columns
  (``customers.customer_id``, ``accounts.account_id``, ``cards.card_id``) or a column of one of
  the gold table's inputs that references such a key. A per-customer row is personal data
  even with no name in it;
- and, checked on the data itself at copy time, nothing the PII scanner
  (:func:`ray_platform.governance.pii.scan_table`) recognises in a sample of the rows.

A table that fails raises :class:`ResidencyViolation` when asked for by name and is listed as
withheld when replicating everything. Replicas are written, whole, at
``<target lake>/replica/<source region>/gold/<table>`` (Delta), so a region's own gold tables
and its copies of the others' never mix.

>>> replicate(settings).summary()["withheld"]  # doctest: +SKIP
{'daily_customer_summary': ['customer_id identifies a data subject (...)'], ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ray_platform.contracts import CONTRACTS, SILVER_ORDER
from ray_platform.errors import ResidencyViolation
from ray_platform.governance.catalog import Catalog, Dataset, catalog, rank
from ray_platform.lake import layout
from ray_platform.ops.residency import REGIONS, region_settings
from ray_platform.settings import Settings, get_settings
from ray_platform.tables import table_store

REPLICA = "replica"
SAMPLE_ROWS = 2000
"""Rows of each table the PII scanner looks at before a copy."""


def replica_table(source_region: str, table: str) -> str:
    """Where another region keeps its copy of ``source_region``'s gold ``table``."""
    return f"{REPLICA}/{source_region}/{layout.gold_table(table)}"


def personal_floor() -> str:
    """The lowest classification any kind of personal data requires."""
    from ray_platform.governance.pii import KINDS

    return min(KINDS.values(), key=rank)


def subject_keys() -> dict[str, str]:
    """Silver ``table.column`` names that identify a person, with the key each stands for."""
    personal = {c.name for c in SILVER_ORDER if any(col.pii for col in c.columns)}
    keys = {f"{t}.{k}": f"{t}.{k}" for t in personal for k in CONTRACTS[t].business_key}
    for c in SILVER_ORDER:
        for col in c.columns:
            if col.fk in keys:
                keys[f"{c.name}.{col.name}"] = col.fk
    return keys


def reasons_withheld(dataset: Dataset) -> list[str]:
    """Why ``dataset`` (a gold table in the catalog) may not leave its region; [] if it may."""
    floor = personal_floor()
    subjects = subject_keys()
    inputs = [i.removeprefix(f"{layout.SILVER}/") for i in dataset.inputs]
    out = []
    for col in dataset.columns:
        if col.pii:
            out.append(f"{col.name} is declared PII")
        elif rank(col.classification) >= rank(floor):  # type: ignore[arg-type]
            out.append(f"{col.name} is {col.classification}")
        for t in inputs:
            key = subjects.get(f"{t}.{col.name}")
            if key:
                out.append(f"{col.name} identifies a data subject (silver {t}: {key})")
                break
    return out


@dataclass
class ReplicaCopy:
    """One table copied from one region to another."""

    table: str
    source: str
    target: str
    version: int
    rows: int


@dataclass
class ReplicationReport:
    """What a replication run copied and what it kept home, and why."""

    copies: list[ReplicaCopy] = field(default_factory=list)
    withheld: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "copies": [c.__dict__ for c in self.copies],
            "withheld": self.withheld,
        }


def check_replicable(table: str, cat: Catalog) -> Dataset:
    """The catalog's gold ``table``; :class:`ResidencyViolation` if it holds personal data."""
    ds = cat.get(layout.gold_table(table))
    why = reasons_withheld(ds) if ds.zone == "gold" else [f"{ds.name} is not a gold table"]
    if why:
        raise ResidencyViolation(f"{ds.name} stays in its region: {'; '.join(why)}")
    return ds


def replicate_table(
    table: str,
    source: str,
    settings: Settings | None = None,
    *,
    targets: tuple[str, ...] | None = None,
    cat: Catalog | None = None,
) -> list[ReplicaCopy]:
    """Copy ``source``'s gold ``table`` into every other region's replica area.

    Raises :class:`ResidencyViolation` when the catalog or the PII scanner finds personal data;
    returns [] when the source region has not written the table yet.
    """
    from ray_platform.governance.crypto import decrypt_columns
    from ray_platform.governance.pii import sample_table, scan_table

    s = settings or get_settings()
    check_replicable(table, cat or catalog(s))
    src = table_store(region_settings(s, source))
    path = layout.gold_table(table)
    if not src.exists(path):
        return []
    version = src.version(path)
    sample = decrypt_columns(sample_table(src.dataset(path, version), SAMPLE_ROWS), path, s)
    found = scan_table(path, sample)
    if found:
        kinds = ", ".join(f"{f.column} looks like {f.kind}" for f in found)
        raise ResidencyViolation(f"{path} in {source} stays there: {kinds}")
    data = src.read(path, version)
    out = []
    for target in targets or tuple(r for r in REGIONS if r != source):
        if target == source:
            continue
        dst = table_store(region_settings(s, target))
        partitions = ["business_date"] if "business_date" in data.column_names else None
        dst.write(replica_table(source, table), data, mode="overwrite", partition_by=partitions)
        out.append(ReplicaCopy(table, source, target, version, data.num_rows))
    return out


def replicate(
    settings: Settings | None = None,
    *,
    tables: list[str] | None = None,
    sources: tuple[str, ...] = REGIONS,
) -> ReplicationReport:
    """Replicate gold tables out of every region in ``sources`` to the others.

    With ``tables`` given, each must be replicable (:class:`ResidencyViolation` otherwise);
    without, every gold table the catalog allows is copied and the rest listed as withheld.
    """
    s = settings or get_settings()
    cat = catalog(s)
    report = ReplicationReport()
    if tables is None:
        tables = []
        for ds in cat.list("gold"):
            name = ds.name.removeprefix(f"{layout.GOLD}/")
            why = reasons_withheld(ds)
            if why:
                report.withheld[name] = why
            else:
                tables.append(name)
    for table in tables:
        for source in sources:
            report.copies += replicate_table(table, source, s, cat=cat)
    return report
