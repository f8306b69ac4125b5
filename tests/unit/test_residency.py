"""Data residency over a small three-region bank, in-process (no Ray, no Kafka).

The bank is generated with bad records, routed and run through the lake in us, eu and apac,
and gold replicated; tests/unit/residency_scan.py finds each region's customers' data in files.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from ray_platform.errors import ConfigError, ResidencyViolation
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake.pipeline import run_lake_day
from ray_platform.lake.tokens import token_key
from ray_platform.ops import replication as rep
from ray_platform.ops import residency as res
from ray_platform.ops import routing
from ray_platform.settings import load_settings
from ray_platform.tables import table_store
from tests.unit.residency_scan import REGION_OF, region_root, region_values, scan

pytestmark = pytest.mark.unit
DAYS = [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    home = tmp_path_factory.mktemp("residency_home")
    settings = load_settings(home=home)
    cfg = GeneratorConfig(customers=60, days=len(DAYS), seed=5, bad_rate=0.05, history_days=5,
                          instruments=20, counterparties=5, new_customer_rate=0.05,
                          change_rate=0.05, interaction_rate=0.2)  # fmt: skip
    generate_bank(settings.landing_uri, cfg)
    routes = [routing.route_landing_date(d, settings) for d in DAYS]
    etl = {d: res.run_regions_day(d, settings, use_ray=False) for d in DAYS}
    replication = rep.replicate(settings)
    for d in DAYS:  # the same bank through the one-lake deployment, as the reference
        run_lake_day(d, settings, kafka_topics=(), use_ray=False)
    return settings, Path(home), routes, etl, replication


# -- the tests ---------------------------------------------------------------------------------


def test_no_eu_customer_data_in_us_or_apac_and_it_is_all_in_eu(bank):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    eu = values["eu"]
    assert len(eu) > 500  # ids, contacts, IBANs, card numbers, transactions, tokens
    for region in ("us", "apac"):
        files = [p for p in region_root(settings, region).rglob("*") if p.is_file()]
        assert any(p.suffix == ".parquet" for p in files) and any(
            "_delta_log" in str(p) for p in files
        )
        assert scan(region_root(settings, region), eu) == {}, region
    # The same scan finds Europeans' data where it belongs: raw in bronze, tokens in silver.
    found = set().union(*scan(region_root(settings, "eu"), eu).values())
    ids = {v for v in eu if re.fullmatch(r"C\d{8}", v)}
    assert ids and ids <= found
    assert any(v.startswith("tok_") for v in found) and any("@" in v for v in found)
    assert any(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", v) for v in found)  # IBANs


def test_us_and_apac_customers_stay_out_of_each_other(bank):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    assert scan(region_root(settings, "apac"), values["us"]) == {}
    assert scan(region_root(settings, "us"), values["apac"]) == {}
    assert scan(region_root(settings, "us"), values["us"])


def test_the_scan_catches_a_leaked_file(bank, tmp_path):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    silver = region_root(settings, "eu") / "lake" / "silver" / "customers"
    shutil.copytree(silver, tmp_path / "customers")
    assert scan(tmp_path, values["eu"])


def test_the_regions_together_hold_what_one_lake_holds(bank):
    settings, _, routes, *_ = bank
    one = table_store(settings)
    for table, key in [("customers", "customer_id"), ("accounts", "account_id"),
                       ("cards", "card_id"), ("card_transactions", "transaction_id"),
                       ("interactions", "interaction_id")]:  # fmt: skip
        expected = one.read(f"silver/{table}", columns=[key])[0].to_pylist()
        parts = {
            r: table_store(res.region_settings(settings, r))
            .read(f"silver/{table}", columns=[key])[0]
            .to_pylist()
            for r in res.REGIONS
        }
        assert all(parts.values()), table  # every region got some
        assert sorted(v for part in parts.values() for v in part) == sorted(expected), (
            table
        )  # none twice, none lost
    for r in res.REGIONS:
        countries = table_store(res.region_settings(settings, r)).read(
            "silver/customers", columns=["country"]
        )[0]
        assert {REGION_OF[c] for c in countries.to_pylist()} == {r}
    # Bad records naming nobody known stay in the strictest region.
    assert sum(x.summary()["unattributed"] for x in routes) > 0
    assert res.load_policy().unattributed == "eu"


def test_routing_again_writes_the_same_files(bank):
    settings, *_ = bank
    landing = {r: region_root(settings, r) / "landing" for r in res.REGIONS}
    before = {p: p.read_bytes() for r in landing.values() for p in r.rglob("*") if p.is_file()}
    routing.route_landing_date(DAYS[1], settings)
    after = {p: p.read_bytes() for r in landing.values() for p in r.rglob("*") if p.is_file()}
    assert after == before


def test_replication_copies_only_aggregates_and_replicas_match(bank):
    settings, _, _, _, report = bank
    assert {"daily_customer_summary", "customer_features"} <= set(report.withheld)
    copied = {c.table for c in report.copies}
    assert copied and not copied & set(report.withheld)
    for c in report.copies:
        src = table_store(res.region_settings(settings, c.source))
        dst = table_store(res.region_settings(settings, c.target))
        a = src.read(f"gold/{c.table}", c.version)
        b = dst.read(rep.replica_table(c.source, c.table)).select(a.column_names)
        keys = [(n, "ascending") for n in a.column_names if not pa.types.is_floating(a[n].type)]
        assert b.sort_by(keys).equals(a.sort_by(keys)), (c.table, c.source, c.target)
        assert a.num_rows == c.rows > 0
    assert {(c.source, c.target) for c in report.copies} == {
        (s, t) for s in res.REGIONS for t in res.REGIONS if s != t
    }


def test_replicating_a_personal_table_is_refused(bank):
    settings, *_ = bank
    with pytest.raises(ResidencyViolation, match="customer_id identifies a data subject"):
        rep.replicate(settings, tables=["daily_customer_summary"], sources=("eu",))
    for target in ("us", "apac"):
        store = table_store(res.region_settings(settings, target))
        assert not store.exists(rep.replica_table("eu", "daily_customer_summary"))


def test_a_clean_declaration_does_not_let_personal_values_through(bank, tmp_path):
    _, home, *_ = bank
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    s = load_settings(home=copy)
    store = table_store(res.region_settings(s, "eu"))
    gold = store.read("gold/daily_mcc_stats")
    emails = [f"person{i}.example@mail.example.org" for i in range(gold.num_rows)]
    leaked = gold.set_column(gold.column_names.index("merchant_country"), "merchant_country",
                             pa.array(emails))  # fmt: skip
    store.write("gold/daily_mcc_stats", leaked, mode="overwrite", partition_by=["business_date"])
    us = table_store(res.region_settings(s, "us"))
    before = us.version(rep.replica_table("eu", "daily_mcc_stats"))
    with pytest.raises(ResidencyViolation, match="merchant_country looks like email"):
        rep.replicate_table("daily_mcc_stats", "eu", s)
    assert us.version(rep.replica_table("eu", "daily_mcc_stats")) == before
    replica = us.read(rep.replica_table("eu", "daily_mcc_stats"))
    assert not pc.any(pc.match_substring(replica["merchant_country"], "@")).as_py()


def test_policy_agrees_with_the_sources_and_rejects_bad_files(tmp_path):
    policy = res.load_policy()
    assert policy.countries == REGION_OF
    base = Path("ray_platform/governance/regions.yaml")
    text = res.project_path(base).read_text()
    twice = tmp_path / "twice.yaml"
    twice.write_text(text.replace("countries: US CA", "countries: GB US CA"))
    with pytest.raises(ConfigError, match="GB is in both"):
        res.load_policy(twice)
    missing = tmp_path / "missing.yaml"
    missing.write_text(text.replace(" PK\n", "\n"))
    with pytest.raises(ConfigError, match="without a home region: PK"):
        res.load_policy(missing)


def test_region_roots_need_the_region_in_them(tmp_path):
    s = load_settings(home=tmp_path)
    assert res.region_settings(s, "apac").lake_uri == (tmp_path / "regions/apac/lake").as_uri()
    shared = load_settings(home=tmp_path, region_root_uri="s3://bank/lake")
    with pytest.raises(ConfigError, match="must contain"):
        res.region_settings(shared, "eu")
    custom = load_settings(home=tmp_path, region_root_uri="s3://gbank-{region}/")
    assert res.region_settings(custom, "us").landing_uri == "s3://gbank-us/landing"


def test_cli_refuses_a_personal_table_and_an_unknown_region(capsys):
    from ray_platform.cli import run

    assert run(["regions", "replicate", "--table", "customer_features"]) == 3
    assert run(["regions", "etl", "--date", "2026-01-05", "--region", "mars"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("gbank: error: gold/customer_features stays in its region")
    assert err[1] == "gbank: error: unknown region 'mars'; regions: us, eu, apac"
