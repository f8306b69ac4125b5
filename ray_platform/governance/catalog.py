"""The data catalog: every dataset's schema, owner, zone, retention and column classifications.

Nothing is declared here twice. Columns and their classifications come from where each schema
is declared: the silver contracts (:mod:`ray_platform.contracts`, which also describe the raw
feeds through :func:`ray_platform.lake.bronze.feed_fields`), the gold queries
(:data:`ray_platform.lake.gold.GOLD_TABLES`), the warehouse model
(:data:`ray_platform.warehouse.model.TABLES`) and the feature views
(:data:`features.views.VIEW_SCHEMAS`); the fraud model is described by its inputs, each with
the classification of the feature it reads. The catalog adds only what belongs to a dataset as
a whole: its owner, description and retention class.

A column declared without a classification shows up in :meth:`Catalog.unclassified`; the unit
test ``test_governance_catalog`` fails the build on any.

Datasets are named by their lake path (``silver/customers``, ``gold/warehouse/dim_customer``,
``bronze/core_banking/customers``), features and models as ``features/<view>`` and
``models/<name>``; :meth:`Catalog.get` also takes SQL names (``warehouse.dim_customer``) and an
unambiguous table name (``dim_customer``).

>>> cat = catalog()  # doctest: +SKIP
>>> cat.classification_of("silver/customers", "national_id")  # doctest: +SKIP
'restricted'
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from ray_platform.contracts import SILVER_ORDER, Classification, TableContract
from ray_platform.errors import ConfigError, InvalidArgument, NotFound
from ray_platform.lake.layout import RETENTION_CLASSES
from ray_platform.settings import Settings, get_settings

LEVELS: tuple[Classification, ...] = ("public", "internal", "confidential", "restricted")
"""Classifications from least to most sensitive."""
ZONES = ("bronze", "silver", "gold", "warehouse", "features", "models")
RETENTION_YEARS = {"bronze_7y": 7, "silver_5y": 5, "gold_3y": 3, "warehouse_7y": 7, "model_7y": 7}
"""Retention classes. Warehouse facts back regulatory reports and are kept with bronze (as in
``retention.yaml``); feature tables are derived like gold; a model is kept as long as the
decisions it made can be challenged."""
RETENTION_BY_ZONE = {
    **RETENTION_CLASSES,  # bronze, silver, gold: the lake's own
    "warehouse": "warehouse_7y",
    "features": "gold_3y",
    "models": "model_7y",
}

SOURCE_OWNERS = {
    "core_banking": "core-banking",
    "customer_mgmt": "crm",
    "cards": "card-payments",
    "trading": "markets-technology",
    "market_data": "market-data",
    "interactions": "customer-service",
}
"""The team that owns each source system's raw feeds."""
PLATFORM_OWNER = "data-platform"
WAREHOUSE_OWNER = "bi-warehouse"
RISK_OWNER = "market-risk"
FRAUD_OWNER = "fraud-analytics"

_SILVER_DESCRIPTIONS = {
    "accounts": "Current state of every account (type, status, product, currency, IBAN), from "
    "the extracts and the core-banking database's change events.",
    "cards": "Every payment card issued: number (tokenised), brand, type, owner and account.",
    "card_transactions": "Card authorisations with merchant, amount, channel and fraud label.",
    "instruments": "Tradable instruments (equities, bonds, FX forwards, options) by ISIN.",
    "counterparties": "Trading counterparties by LEI.",
    "trades": "Trade executions of the bank's desks.",
    "positions": "End-of-day positions per desk and instrument.",
    "prices": "Daily closing prices per instrument.",
    "fx_rates": "Daily FX rates: units of each currency per euro.",
    "rates": "Daily interest-rate curves per currency and tenor.",
    "implied_vols": "Daily implied volatilities per underlying and tenor.",
    "indicators": "Macroeconomic indicators per region.",
    "interactions": "Customer interactions at branches, the call centre and in the app.",
}
"""Descriptions of the silver tables whose contract carries none."""

_SILVER_TYPES = {
    "str": "string",
    "enum": "string",
    "currency": "string",
    "int": "int64",
    "epoch_ms": "timestamp[us, tz=UTC]",
    "ts": "timestamp[us, tz=UTC]",
    "date": "date32[day]",
}
_PARTITION_TYPES = {"year": "int16", "month": "int8", "day": "int8", "hour": "int8"}
_LINEAGE_COLUMNS = (
    ("_payload_hash", "int64", "hash of the source record, to recognise a redelivery"),
    ("_run_id", "string", "silver run that wrote the row"),
    ("_ingest_date", "string", "bronze ingest date of the source file"),
    ("_source_file", "string", "bronze file the row came from"),
    ("_source_record", "int64", "record number in that file"),
)


def rank(classification: Classification | None) -> int:
    """Position of a classification in :data:`LEVELS` (``-1`` for none)."""
    return LEVELS.index(classification) if classification else -1


def highest(classes: Iterable[Classification | None]) -> Classification | None:
    """The most sensitive of ``classes`` (``None`` when none is classified)."""
    best: Classification | None = None
    for c in classes:
        if rank(c) > rank(best):
            best = c
    return best


@dataclass(frozen=True)
class DatasetColumn:
    """One column: name, type as declared, classification and whether it holds personal data.

    ``pii`` is the declaration's own flag (silver contracts mark the columns they tokenise);
    discovered PII is :mod:`ray_platform.governance.pii`'s business.
    """

    name: str
    type: str
    classification: Classification | None
    description: str = ""
    pii: bool = False


@dataclass(frozen=True)
class Dataset:
    """One registered dataset."""

    name: str
    zone: str
    owner: str
    description: str
    retention_class: str
    columns: tuple[DatasetColumn, ...]
    location: str = ""
    inputs: tuple[str, ...] = ()

    @property
    def classification(self) -> Classification | None:
        """The dataset's classification: that of its most sensitive column."""
        return highest(c.classification for c in self.columns)

    def column(self, name: str) -> DatasetColumn:
        """The column called ``name``; :class:`NotFound` when there is none."""
        for c in self.columns:
            if c.name == name:
                return c
        names = ", ".join(c.name for c in self.columns)
        raise NotFound(f"{self.name} has no column {name!r}; columns: {names}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the dataset's classification."""
        return {**asdict(self), "classification": self.classification}

    def text(self) -> str:
        """Everything :meth:`Catalog.search` looks in, lower-cased."""
        parts = [self.name, self.description, *(f"{c.name} {c.description}" for c in self.columns)]
        return "\n".join(parts).lower()


@dataclass
class Catalog:
    """Every dataset by name, with lookups, search and the build check."""

    datasets: dict[str, Dataset] = field(default_factory=dict)

    @classmethod
    def of(cls, datasets: Iterable[Dataset]) -> Catalog:
        """A catalog of ``datasets``; two datasets with one name are a configuration error."""
        out = cls()
        for d in datasets:
            if d.name in out.datasets:
                raise ConfigError(f"dataset {d.name!r} is registered twice")
            if d.zone not in ZONES:
                raise ConfigError(f"dataset {d.name!r} has unknown zone {d.zone!r}")
            out.datasets[d.name] = d
        return out

    def list(self, zone: str | None = None) -> list[Dataset]:
        """Datasets (of one zone), in path order: bronze to models, then by name."""
        if zone is not None and zone not in ZONES:
            raise InvalidArgument(f"unknown zone {zone!r}; zones: {', '.join(ZONES)}")
        found = [d for d in self.datasets.values() if zone is None or d.zone == zone]
        return sorted(found, key=lambda d: (ZONES.index(d.zone), d.name))

    def get(self, name: str) -> Dataset:
        """The dataset called ``name``: its lake path, SQL name or unambiguous table name."""
        n = name.strip().strip("/")
        candidates = [n, n.replace(".", "/", 1), "gold/" + n.replace(".", "/", 1)]
        for c in candidates:
            if c in self.datasets:
                return self.datasets[c]
        zone, _, table = n.partition(".")
        if zone in ZONES and table:  # SQL style: bronze.customers, features.card_velocity
            tail = [d.name for d in self.list(zone) if d.name.rsplit("/", 1)[-1] == table]
        else:
            tail = [d for d in self.datasets if d.rsplit("/", 1)[-1] == n]
        if len(tail) == 1:
            return self.datasets[tail[0]]
        if tail:
            raise NotFound(f"{name!r} is ambiguous: {', '.join(sorted(tail))}")
        close = difflib.get_close_matches(n, list(self.datasets), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see `gbank catalog list`)"
        raise NotFound(f"no dataset {name!r} in the catalog{hint}")

    def search(self, text: str) -> list[Dataset]:
        """Datasets whose name, description or columns contain every word of ``text``.

        Column names and column descriptions both count; matching ignores case.
        """
        words = text.lower().split()
        if not words:
            raise InvalidArgument("search for what? give one or more words")
        return [d for d in self.list() if all(w in d.text() for w in words)]

    def classification_of(self, dataset: str, column: str) -> Classification | None:
        """The declared classification of ``column`` in ``dataset`` (None if undeclared)."""
        return self.get(dataset).column(column).classification

    def unclassified(self) -> list[tuple[str, str]]:
        """Every ``(dataset, column)`` declared without a classification: the build check."""
        return [
            (d.name, c.name) for d in self.list() for c in d.columns if c.classification is None
        ]

    def to_json(self, indent: int | None = 2) -> str:
        """The whole catalog as JSON: ``{"datasets": [...]}`` in :meth:`list` order."""
        return json.dumps({"datasets": [d.as_dict() for d in self.list()]}, indent=indent)


def catalog(settings: Settings | None = None) -> Catalog:
    """The platform's catalog, with locations under ``settings``' lake and model registry."""
    s = settings or get_settings()
    lake = s.lake_uri.rstrip("/")
    return Catalog.of(
        [
            *bronze_datasets(lake),
            *silver_datasets(lake),
            *gold_datasets(lake),
            *warehouse_datasets(lake),
            *feature_datasets(lake),
            model_dataset(s.mlflow_uri),
        ]
    )


# -- one builder per zone ----------------------------------------------------------------------


def bronze_datasets(lake: str) -> list[Dataset]:
    """One dataset per raw feed (source and file stem), plus the Kafka topics landed as files."""
    from ray_platform.lake.bronze import SCHEMA_VERSIONS, feed_contract
    from ray_platform.lake.kafka_landing import stream_source

    out = []
    for source, stems in SCHEMA_VERSIONS.items():
        for stem in stems:
            contract = feed_contract(source, stem)
            file = next(f for f in contract.file_names if f.split(".", 1)[0] == stem)
            out.append(
                Dataset(
                    f"bronze/{source}/{stem}",
                    "bronze",
                    SOURCE_OWNERS.get(source, PLATFORM_OWNER),
                    f"Raw {file} files from {source}, byte-exact as the source dropped them "
                    f"(read into silver/{contract.name}).",
                    RETENTION_BY_ZONE["bronze"],
                    _feed_columns(source, stem),
                    f"{lake}/bronze/{source}/ingest_date=*/{file}[.gz]",
                )
            )
    for contract in SILVER_ORDER:
        for topic in contract.stream_topics:
            folder = stream_source(topic)
            stem = contract.file_names[0].split(".", 1)[0]
            out.append(
                Dataset(
                    f"bronze/{folder}/{topic}",
                    "bronze",
                    SOURCE_OWNERS.get(contract.source, PLATFORM_OWNER),
                    f"Messages of the Kafka topic {topic!r} as JSON lines (Avro values decoded "
                    f"by schema id, JSON values byte-exact), one file per partition and offset "
                    f"range (read into silver/{contract.name}).",
                    RETENTION_BY_ZONE["bronze"],
                    _feed_columns(contract.source, stem),
                    f"{lake}/bronze/{folder}/ingest_date=*/{topic}-p*.jsonl",
                )
            )
    return out


def _feed_columns(source: str, stem: str) -> tuple[DatasetColumn, ...]:
    """A raw feed's fields as columns (typed ``text:<contract type>``: raw files are text)."""
    from ray_platform.lake.bronze import feed_contract, feed_fields

    pii = {c.path: c.pii for c in feed_contract(source, stem).columns}
    return tuple(
        DatasetColumn(
            f.path,
            f"text:{f.type}",
            f.classification,
            pii=pii.get(f.path.replace("before.", "after.", 1), False),
        )
        for f in feed_fields(source, stem)
    )


def silver_columns(contract: TableContract) -> tuple[DatasetColumn, ...]:
    """The columns a silver run writes for ``contract``: its own plus the derived ones.

    Derived columns take the classification of what they derive from: ``<amount>_minor`` and
    ``<amount>_reporting`` that of the amount, ``<event>_offset_min`` that of the event time;
    partitions and lineage columns are internal.
    """
    out: list[DatasetColumn] = []
    for col in contract.columns:
        kind = f"decimal128(18, {col.dp})" if col.type == "dec" else _SILVER_TYPES[col.type]
        out.append(
            DatasetColumn(
                col.name,
                "string" if col.pii else kind,
                col.classification,
                "tokenised (HMAC) in silver" if col.pii else "",
                col.pii,
            )
        )
        if col.type == "ts" and col.name == contract.event_time and contract.partition_by:
            out.append(
                DatasetColumn(
                    f"{col.name}_offset_min",
                    "int32",
                    col.classification,
                    f"UTC offset of {col.name} as sent",
                )
            )
    for col in contract.columns:
        if col.minor_units:
            out.append(
                DatasetColumn(
                    f"{col.name}_minor",
                    "int64",
                    col.classification,
                    f"{col.name} in minor units",
                )
            )
            if col.currency_column and contract.event_time:
                out.append(
                    DatasetColumn(
                        f"{col.name}_reporting",
                        f"decimal128(18, {col.dp})",
                        col.classification,
                        f"{col.name} in the reporting currency",
                    )
                )
    for p in contract.partition_by:
        out.append(DatasetColumn(p, _PARTITION_TYPES[p], "internal", "partition"))
    for name, kind, doc in _LINEAGE_COLUMNS:
        out.append(DatasetColumn(name, kind, "internal", doc))
    return tuple(out)


def silver_datasets(lake: str) -> list[Dataset]:
    """Every silver table, and beside each its quarantine of rejected records."""
    from ray_platform.lake import layout

    out = []
    for c in SILVER_ORDER:
        files = ", ".join(c.file_names)
        inputs = tuple(f"bronze/{c.source}/{f.split('.', 1)[0]}" for f in c.file_names)
        out.append(
            Dataset(
                layout.silver_table(c.name),
                "silver",
                PLATFORM_OWNER,
                c.description or _SILVER_DESCRIPTIONS.get(c.name, f"Silver {c.name}."),
                RETENTION_BY_ZONE["silver"],
                silver_columns(c),
                f"{lake}/{layout.silver_table(c.name)}",
                inputs,
            )
        )
        payload = highest(col.classification for col in c.columns)
        key = highest(col.classification for col in c.columns if col.name in c.business_key)
        out.append(
            Dataset(
                layout.quarantine_table(c.name),
                "silver",
                PLATFORM_OWNER,
                f"Records of {files} that failed validation: the rule, the field and the raw "
                "payload, which holds the record's values untokenised.",
                RETENTION_BY_ZONE["silver"],
                (
                    DatasetColumn("run_id", "string", "internal", "silver run"),
                    DatasetColumn("ingest_date", "string", "internal", "bronze ingest date"),
                    DatasetColumn("source_file", "string", "internal", "bronze file"),
                    DatasetColumn("record", "int64", "internal", "record number (0: the file)"),
                    DatasetColumn("record_id", "string", key or "internal", "business key"),
                    DatasetColumn("rule", "string", "internal", "rule the record broke"),
                    DatasetColumn("field", "string", "internal", "field at fault"),
                    DatasetColumn("reason", "string", "internal", "why"),
                    DatasetColumn("payload", "string", payload, "the raw record", True),
                ),
                f"{lake}/{layout.quarantine_table(c.name)}",
                inputs,
            )
        )
    return out


def gold_datasets(lake: str) -> list[Dataset]:
    """Every gold table of the daily gold run."""
    from ray_platform.lake import layout
    from ray_platform.lake.gold import GOLD_TABLES

    return [
        Dataset(
            layout.gold_table(g.name),
            "gold",
            PLATFORM_OWNER,
            g.description,
            RETENTION_BY_ZONE["gold"],
            tuple(DatasetColumn(c.name, str(c.type), c.classification) for c in g.columns),
            f"{lake}/{layout.gold_table(g.name)}",
            tuple(layout.silver_table(t) for t in g.inputs),
        )
        for g in GOLD_TABLES
    ]


def warehouse_datasets(lake: str) -> list[Dataset]:
    """Every table of the warehouse's dimensional model."""
    from ray_platform.warehouse.model import TABLES

    return [
        Dataset(
            t.path,
            "warehouse",
            RISK_OWNER if "risk" in t.name else WAREHOUSE_OWNER,
            f"{t.kind.capitalize()}, {t.grain}. Written by the {t.written_by}.",
            RETENTION_BY_ZONE["warehouse"],
            tuple(DatasetColumn(c.name, str(c.type), c.classification, c.doc) for c in t.columns),
            f"{lake}/{t.path}",
        )
        for t in TABLES.values()
    ]


def feature_datasets(lake: str) -> list[Dataset]:
    """Every Feast feature view (stored views point at ``<lake>/features/<view>``)."""
    from features.views import VIEW_SCHEMAS

    return [
        Dataset(
            f"features/{v.name}",
            "features",
            FRAUD_OWNER,
            v.description,
            RETENTION_BY_ZONE["features"],
            tuple(DatasetColumn(c.name, c.dtype, c.classification) for c in v.columns),
            "computed at request time (Feast on-demand view)"
            if v.on_demand
            else f"{lake}/features/{v.name}",
            ("silver/card_transactions", "silver/customers", "silver/accounts"),
        )
        for v in VIEW_SCHEMAS.values()
    ]


def model_dataset(mlflow_uri: str) -> Dataset:
    """The fraud model as a dataset: its inputs, each classified as the feature it reads."""
    from features.views import MODEL_FEATURES, VIEW_SCHEMAS
    from models.registry import MODEL_NAME

    source = {f.name: (v.name, f) for v in VIEW_SCHEMAS.values() for f in v.features}
    columns = []
    for name in MODEL_FEATURES:
        view, feat = source.get(name, (None, None))
        columns.append(
            DatasetColumn(
                name,
                "float64",
                feat.classification if feat else None,
                f"input, from features/{view}" if view else "input of unknown origin",
            )
        )
    views = sorted({source[n][0] for n in MODEL_FEATURES if n in source})
    return Dataset(
        f"models/{MODEL_NAME}",
        "models",
        FRAUD_OWNER,
        "XGBoost card-fraud model, retrained daily and registered in MLflow (aliases "
        "champion and challenger); its columns are its inputs, classified as the features "
        "they are read from.",
        RETENTION_BY_ZONE["models"],
        tuple(columns),
        f"models:/{MODEL_NAME} in the MLflow registry at {mlflow_uri}",
        tuple(f"features/{v}" for v in views),
    )
