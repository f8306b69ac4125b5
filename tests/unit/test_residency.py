"""Data residency over a small three-region bank, in-process (no Ray, no Kafka).

The bank is generated with bad records, routed and run through the lake in us, eu and apac,
and gold replicated. Which customers are European is read from the generator's own files
(its per-country region), not from the router's policy, so a wrong policy fails these tests.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import io
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ray_platform.contracts import CONTRACTS
from ray_platform.errors import ConfigError, ResidencyViolation
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.generator import reference as ref
from ray_platform.lake.pipeline import run_lake_day
from ray_platform.lake.tokens import token, token_key
from ray_platform.ops import replication as rep
from ray_platform.ops import residency as res
from ray_platform.settings import load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit
DAYS = [dt.date(2026, 1, 5), dt.date(2026, 1, 6)]
REGION_OF = {c.code: c.region for c in ref.COUNTRIES}
RAW_FIELDS = ("customer_id", "email", "phone", "national_id", "iban", "address_line")
"""Customer values distinctive enough to look for as raw text (names and dates are not)."""


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    home = tmp_path_factory.mktemp("residency_home")
    settings = load_settings(home=home)
    cfg = GeneratorConfig(customers=60, days=len(DAYS), seed=5, bad_rate=0.05, history_days=5,
                          instruments=20, counterparties=5, new_customer_rate=0.05,
                          change_rate=0.05, interaction_rate=0.2)  # fmt: skip
    generate_bank(settings.landing_uri, cfg)
    routes = [res.route_landing_date(d, settings) for d in DAYS]
    etl = {d: res.run_regions_day(d, settings, use_ray=False) for d in DAYS}
    replication = rep.replicate(settings)
    for d in DAYS:  # the same bank through the one-lake deployment, as the reference
        run_lake_day(d, settings, kafka_topic=None, use_ray=False)
    return settings, Path(home), routes, etl, replication


# -- what the generator says each region's customers are ---------------------------------------


def _customer_images(landing: Path) -> list[dict[str, str]]:
    """Every customer record the sources sent: extracts and change images, bad ones included."""
    out = []
    for f in sorted(landing.glob("core_banking/*/customers.csv")):
        lines = f.read_text().splitlines()
        header = lines[0].split(",")
        out += [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    for f in sorted(landing.glob("customer_mgmt/*/customer_changes.jsonl")):
        for line in f.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a truncated bad line; its customer is in an extract too
            out += [img for img in (event.get("before"), event.get("after")) if img]
    return out


def _home(record: dict[str, str]) -> str | None:
    """The generator's own region of a customer record (its country's, else its region field)."""
    return REGION_OF.get(record.get("country", ""), record.get("region"))


def _jsonl(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a truncated bad line
            out.append(json.loads(line))
    return out


def region_values(landing: Path, key: bytes) -> dict[str, set[str]]:
    """Per region: every value that identifies one of its customers, raw and tokenised.

    A value two regions share (a common surname, a birth date) identifies no one and is left
    out of both, so a match always means a particular customer's data.
    """
    pii = [c.name for c in CONTRACTS["customers"].columns if c.pii]
    found: dict[str, set[str]] = {r: set() for r in res.REGIONS}
    owner: dict[str, str] = {}
    for rec in _customer_images(landing):
        region = _home(rec)
        if region not in found:
            continue
        owner[rec["customer_id"]] = region
        found[region] |= {rec[f] for f in RAW_FIELDS if rec.get(f)}
        found[region] |= {token(key, rec[f]) for f in pii if rec.get(f)}
    for f in sorted(landing.glob("core_banking/*/accounts.csv")):
        for row in csv.DictReader(io.StringIO(f.read_text())):
            if row["customer_id"] in owner:
                found[owner[row["customer_id"]]] |= {row["account_id"], row["iban"] or ""}
                found[owner[row["customer_id"]]].add(token(key, row["iban"] or ""))
    for name, fields in [("cards/*/cards.jsonl", ("card_id", "card_number")),
                         ("cards/*/card_transactions.jsonl", ("transaction_id",)),
                         ("interactions/*/interactions.jsonl", ("interaction_id",))]:  # fmt: skip
        for f in sorted(landing.glob(name)):
            for rec in _jsonl(f):
                region = owner.get(rec.get("customer_id"))
                if region:
                    found[region] |= {str(rec[k]) for k in fields if rec.get(k)}
                    if rec.get("card_number"):
                        found[region].add(token(key, rec["card_number"]))
    shared = set()
    for a in res.REGIONS:
        for b in res.REGIONS:
            if a < b:
                shared |= found[a] & found[b]
    return {r: v - shared - {""} for r, v in found.items()}


# -- scanning every file under a root ----------------------------------------------------------


def file_text(path: Path) -> str:
    """Everything a file holds as text: raw bytes (gunzipped), and every Parquet value."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    parts = [raw.decode("latin-1")]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        for col in table.columns:
            parts.append("\n".join(str(v) for v in col.cast(pa.string()).to_pylist()))
    return "\n".join(parts)


def scan(root: Path, needles: set[str]) -> dict[str, set[str]]:
    """The needles found in each file under ``root`` (every file: data, logs, quarantine)."""
    pattern = re.compile(
        r"(?<![A-Za-z0-9_])("
        + "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
        + r")(?![A-Za-z0-9_])"
    )
    hits: dict[str, set[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        got = set(pattern.findall(file_text(path)))
        if got:
            hits[str(path.relative_to(root))] = got
    return hits


def _root(settings, region: str) -> Path:
    return Path(res.region_root(settings, region).removeprefix("file://"))


# -- the tests ---------------------------------------------------------------------------------


def test_no_eu_customer_data_in_us_or_apac_and_it_is_all_in_eu(bank):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    eu = values["eu"]
    assert len(eu) > 500  # ids, contacts, IBANs, card numbers, transactions, tokens
    for region in ("us", "apac"):
        files = [p for p in _root(settings, region).rglob("*") if p.is_file()]
        assert any(p.suffix == ".parquet" for p in files) and any(
            "_delta_log" in str(p) for p in files
        )
        assert scan(_root(settings, region), eu) == {}, region
    # The same scan finds Europeans' data where it belongs: raw in bronze, tokens in silver.
    found = set().union(*scan(_root(settings, "eu"), eu).values())
    ids = {v for v in eu if re.fullmatch(r"C\d{8}", v)}
    assert ids and ids <= found
    assert any(v.startswith("tok_") for v in found) and any("@" in v for v in found)
    assert any(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", v) for v in found)  # IBANs


def test_us_and_apac_customers_stay_out_of_each_other(bank):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    assert scan(_root(settings, "apac"), values["us"]) == {}
    assert scan(_root(settings, "us"), values["apac"]) == {}
    assert scan(_root(settings, "us"), values["us"])


def test_the_scan_catches_a_leaked_file(bank, tmp_path):
    settings, home, *_ = bank
    values = region_values(home / "landing", token_key(settings))
    silver = _root(settings, "eu") / "lake" / "silver" / "customers"
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
    landing = {r: _root(settings, r) / "landing" for r in res.REGIONS}
    before = {p: p.read_bytes() for r in landing.values() for p in r.rglob("*") if p.is_file()}
    res.route_landing_date(DAYS[1], settings)
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
