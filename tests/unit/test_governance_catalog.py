"""The data catalog: every dataset registered and classified (the build check), lookups, search,
JSON export, the CLI, and the declarations checked against the tables a real run writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pyarrow as pa
import pytest

from ray_platform.errors import InvalidArgument, NotFound
from ray_platform.governance import catalog as catalog_mod
from ray_platform.governance.catalog import (
    LEVELS,
    RETENTION_YEARS,
    Catalog,
    DatasetColumn,
    catalog,
)
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def cat(tmp_path_factory):
    return catalog(load_settings(home=tmp_path_factory.mktemp("cat_home")))


def build_check(c: Catalog) -> None:
    """What the build enforces: no column of any dataset without a classification."""
    missing = c.unclassified()
    assert not missing, f"columns without a classification: {missing}"


def test_build_check_every_column_is_classified(cat):
    build_check(cat)
    for d in cat.list():
        assert d.columns, d.name
        assert all(col.classification in LEVELS for col in d.columns), d.name


def test_build_check_fails_on_an_unclassified_column(cat):
    d = cat.get("silver/customers")
    broken = dataclasses.replace(
        d, columns=(*d.columns, DatasetColumn("loyalty_tier", "string", None))
    )
    copy = Catalog.of([broken if x.name == d.name else x for x in cat.list()])
    assert copy.unclassified() == [("silver/customers", "loyalty_tier")]
    with pytest.raises(AssertionError, match="loyalty_tier"):
        build_check(copy)


def test_a_warehouse_column_declared_without_classification_is_caught(monkeypatch, tmp_path):
    from ray_platform.warehouse import model as m

    spec = m.TABLES["dim_customer"]
    forgot = m._c("loyalty_tier", m.S, "a column someone added without a classification")
    assert forgot.classification is None  # the declaration's default does not pass
    monkeypatch.setitem(
        m.TABLES, "dim_customer", dataclasses.replace(spec, columns=(*spec.columns, forgot))
    )
    found = catalog(load_settings(home=tmp_path)).unclassified()
    assert found == [("gold/warehouse/dim_customer", "loyalty_tier")]


def test_a_gold_column_declared_without_classification_is_caught(monkeypatch, tmp_path):
    from ray_platform.lake import gold

    first = gold.GOLD_TABLES[0]
    changed = dataclasses.replace(
        first, columns=(*first.columns, gold.GoldColumn("tier", pa.string()))
    )
    monkeypatch.setattr(gold, "GOLD_TABLES", (changed, *gold.GOLD_TABLES[1:]))
    found = catalog(load_settings(home=tmp_path)).unclassified()
    assert found == [(f"gold/{first.name}", "tier")]


def test_every_zone_and_dataset_is_registered(cat):
    from features.views import VIEW_SCHEMAS
    from ray_platform.contracts import CONTRACTS
    from ray_platform.lake.bronze import SCHEMA_VERSIONS
    from ray_platform.lake.gold import GOLD_TABLES
    from ray_platform.warehouse.model import TABLES

    names = {d.name for d in cat.list()}
    feeds = {f"bronze/{s}/{stem}" for s, stems in SCHEMA_VERSIONS.items() for stem in stems}
    streams = {
        f"bronze/card_transactions_stream/{t}" for t in ("transactions", "transactions.json")
    }
    assert feeds | streams == {d.name for d in cat.list("bronze")}
    assert {f"silver/{t}" for t in CONTRACTS} <= names
    assert {f"silver/_quarantine/{t}" for t in CONTRACTS} <= names
    assert {f"gold/{g.name}" for g in GOLD_TABLES} == {d.name for d in cat.list("gold")}
    assert {f"gold/warehouse/{t}" for t in TABLES} == {d.name for d in cat.list("warehouse")}
    assert {f"features/{v}" for v in VIEW_SCHEMAS} == {d.name for d in cat.list("features")}
    assert [d.name for d in cat.list("models")] == ["models/fraud-xgb"]
    expected_retention = {"bronze": "bronze_7y", "silver": "silver_5y", "gold": "gold_3y"}
    for d in cat.list():
        assert d.owner and d.description and d.location, d.name
        assert d.retention_class in RETENTION_YEARS, d.name
        if d.zone in expected_retention:
            assert d.retention_class == expected_retention[d.zone], d.name


def test_classifications_come_from_the_declarations(cat):
    assert cat.classification_of("silver/customers", "national_id") == "restricted"
    assert cat.classification_of("silver/customers", "email") == "confidential"
    assert cat.get("silver/customers").column("email").pii
    assert cat.classification_of("silver/prices", "close") == "public"
    # Derived silver columns take their source's classification; lineage columns are internal.
    assert cat.classification_of("silver/card_transactions", "amount_reporting") == "internal"
    assert cat.classification_of("silver/trades", "_source_file") == "internal"
    # The raw change events carry both images and the Debezium source block.
    changes = "bronze/customer_mgmt/customer_changes"
    assert cat.classification_of(changes, "before.iban") == "restricted"
    assert cat.classification_of(changes, "after.date_of_birth") == "restricted"
    assert cat.classification_of(changes, "source.lsn") == "internal"
    # A quarantined record's payload is the raw record: as sensitive as its worst field.
    assert cat.classification_of("silver/_quarantine/customers", "payload") == "restricted"
    assert cat.classification_of("gold/warehouse/fact_trades", "trader") == "confidential"
    assert cat.classification_of("gold/customer_features", "kyc_risk_rating") == "confidential"
    assert cat.get("gold/warehouse/dim_date").classification == "public"


def test_the_model_is_described_by_its_inputs(cat):
    from features.views import MODEL_FEATURES, VIEW_SCHEMAS

    model = cat.get("models/fraud-xgb")
    assert [c.name for c in model.columns] == list(MODEL_FEATURES)
    kyc = VIEW_SCHEMAS["customer_profile"].features[2]
    assert kyc.name == "kyc_risk_score"
    assert model.column("kyc_risk_score").classification == kyc.classification == "confidential"
    assert model.classification == "confidential"
    assert "features/customer_profile" in model.inputs


def test_lookup_by_path_sql_name_or_table_name(cat):
    dim = cat.get("gold/warehouse/dim_customer")
    assert cat.get("warehouse.dim_customer") is dim
    assert cat.get("dim_customer") is dim
    assert cat.get("silver.customers") is cat.get("silver/customers")
    assert cat.get("bronze.customer_changes").name == "bronze/customer_mgmt/customer_changes"
    with pytest.raises(NotFound, match="ambiguous"):
        cat.get("customers")
    with pytest.raises(NotFound, match="did you mean"):
        cat.get("silver/customer")
    with pytest.raises(NotFound, match="no column"):
        cat.classification_of("silver/customers", "shoe_size")
    with pytest.raises(InvalidArgument):
        cat.list("lakehouse")


def test_search_names_descriptions_and_columns(cat):
    iban = {d.name for d in cat.search("iban")}
    assert {"silver/customers", "silver/accounts", "bronze/core_banking/accounts"} <= iban
    assert "gold/daily_mcc_stats" not in iban
    assert "gold/warehouse/fact_risk_metrics" in {d.name for d in cat.search("Expected Shortfall")}
    assert {d.name for d in cat.search("kafka topic")} == {
        "bronze/card_transactions_stream/transactions",
        "bronze/card_transactions_stream/transactions.json",
    }
    assert cat.search("no-such-word-anywhere") == []
    with pytest.raises(InvalidArgument):
        cat.search("  ")


def test_json_export_round_trips(cat):
    data = json.loads(cat.to_json())
    assert len(data["datasets"]) == len(cat.list())
    by_name = {d["name"]: d for d in data["datasets"]}
    cust = by_name["silver/customers"]
    assert cust["zone"] == "silver" and cust["classification"] == "restricted"
    cols = {c["name"]: c for c in cust["columns"]}
    assert cols["iban"]["classification"] == "restricted" and cols["iban"]["pii"] is True
    assert by_name["models/fraud-xgb"]["retention_class"] == "model_7y"


def test_a_dataset_registered_twice_is_refused(cat):
    from ray_platform.errors import ConfigError

    d = cat.get("silver/customers")
    with pytest.raises(ConfigError, match="twice"):
        Catalog.of([d, d])


def test_feature_views_match_the_feast_definitions(tmp_path):
    """The catalog's view schemas are the Feast objects' (names and types)."""
    from features.views import VIEW_SCHEMAS, build_definitions

    defs = build_definitions(load_settings(home=tmp_path))
    for name, schema in VIEW_SCHEMAS.items():
        fv = defs[name]
        feast = {f.name: str(f.dtype).lower() for f in fv.features}
        declared = {c.name: c.dtype for c in schema.features}
        assert feast == declared, name
        if not schema.on_demand:
            assert sorted(defs[e].join_key for e in fv.entities) == sorted(schema.keys), name


# -- the declarations against what a real run writes --------------------------------------------

DAY = dt.date(2026, 1, 5)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    from ray_platform.generator import GeneratorConfig, generate_bank
    from ray_platform.lake.bronze import land_landing_date
    from ray_platform.lake.gold import run_gold
    from ray_platform.lake.silver import run_silver

    settings = load_settings(home=tmp_path_factory.mktemp("cat_lake"))
    config = GeneratorConfig(customers=40, days=1, seed=5, history_days=3, change_rate=0.2,
                             interaction_rate=0.2, instruments=20, counterparties=5)  # fmt: skip
    generate_bank(settings.landing_uri, config)
    land_landing_date(DAY, ingest_date=DAY, settings=settings)
    run_silver(DAY.isoformat(), settings, use_ray=False)
    run_gold(DAY, settings)
    return settings


def _schema(store, name):
    return {f.name: str(f.type) for f in store.dataset(name).schema}


def test_silver_and_gold_declarations_match_the_written_tables(lake):
    from ray_platform.tables import table_store

    store = table_store(lake)
    cat = catalog(lake)
    checked = 0
    for d in [*cat.list("silver"), *cat.list("gold")]:
        if "/_quarantine/" in d.name or not store.exists(d.name):
            continue
        declared = {c.name: c.type for c in d.columns}
        assert _schema(store, d.name) == declared, d.name
        checked += 1
    assert checked >= 18  # every silver table the day feeds, and the gold tables


def test_bronze_declarations_cover_every_field_of_the_raw_files(lake):
    from ray_platform.governance.pii import sample_bronze
    from ray_platform.storage import storage_for

    storage = storage_for(lake.lake_uri)
    root = lake.lake_uri.rstrip("/") + "/"
    seen = 0
    for d in catalog(lake).list("bronze"):
        sample = sample_bronze(storage, d.location.removeprefix(root), 200, lake)
        if sample is None:
            continue
        seen += 1
        declared = {c.name for c in d.columns}
        assert set(sample.column_names) <= declared, (d.name, set(sample.column_names) - declared)
    assert seen >= 15


# -- the CLI -------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ray_platform.cli.catalog import app
    from ray_platform.settings import get_settings

    monkeypatch.setenv("GBANK_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_cli_list_show_search_export(cli, tmp_path):
    listed = cli("list", "--zone", "warehouse")
    assert listed.exit_code == 0, listed.output
    assert "gold/warehouse/fact_trades" in listed.output and "silver/" not in listed.output
    shown = cli("show", "silver.customers")
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("national_id"))
    assert "restricted" in line and "yes" in line
    found = cli("search", "card", "number")
    assert "bronze/cards/cards" in found.output and found.exit_code == 0
    assert cli("search", "nothing-like-this").exit_code == 1
    out = tmp_path / "export" / "catalog.json"
    assert cli("export", "--out", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())["datasets"]) == len(catalog_mod.catalog().list())
    assert isinstance(cli("show", "silver/nope").exception, NotFound)
    assert isinstance(cli("list", "--zone", "moon").exception, InvalidArgument)
