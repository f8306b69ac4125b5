"""GDPR erasure and export over a small real lake: silver, gold, the warehouse, the Feast offline
and SQLite online stores, and sealed bronze; then every store is searched for the person."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import io
import json
import re
import stat
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from features.engineering import run_features
from features.online import online_store_for
from ray_platform.errors import InvalidArgument
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.governance import crypto, gdpr
from ray_platform.governance.audit import audit_trail
from ray_platform.governance.kms import key_manager
from ray_platform.lake.bronze import land_landing_date, read_manifest
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.settings import get_settings, load_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store
from ray_platform.warehouse.load import load_warehouse

pytestmark = pytest.mark.unit
START = dt.date(2026, 1, 5)
DAYS = [START + dt.timedelta(days=i) for i in range(2)]


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("gdpr_home"))
    key_manager(s).initialise()
    generate_bank(s.landing_uri, GeneratorConfig(customers=25, days=len(DAYS), seed=5,
                                                 history_days=3, instruments=10,
                                                 trades_per_day=5, change_rate=0.05,
                                                 interaction_rate=0.1, bad_rate=0.03))  # fmt: skip
    for day in DAYS:
        land_landing_date(day, ingest_date=day, settings=s)
        run_silver(day.isoformat(), s, use_ray=False)
        run_gold(day, s)
        load_warehouse(day, s)
    run_features(DAYS[0], DAYS[-1], s)
    online = online_store_for(s, "sqlite")
    online.apply()
    online.materialize(dt.datetime.combine(DAYS[-1] + dt.timedelta(days=1), dt.time(),
                                           tzinfo=dt.UTC))  # fmt: skip
    online.close()
    return s


def _busiest(s, rank: int) -> str:
    txns = table_store(s).read("silver/card_transactions", columns=["customer_id"])
    counts = collections.Counter(txns.column("customer_id").to_pylist())
    return counts.most_common()[rank][0]


def _identifiers(s, customer_id: str) -> dict[str, set[str]]:
    """Everything that names the person: ids, their tokens, and their raw details."""
    store = table_store(s)
    customers = crypto.decrypt_columns(store.read("silver/customers"), settings=s)
    me = customers.filter(pc.equal(customers.column("customer_id"), customer_id)).to_pylist()
    others = customers.filter(pc.not_equal(customers.column("customer_id"), customer_id))
    shared = {v for row in others.to_pylist() for v in row.values()}  # a surname, a postcode
    tokens = {
        v
        for r in me
        for v in r.values()
        if isinstance(v, str) and v.startswith("tok_") and v not in shared
    }
    cards = store.read("silver/cards").filter(
        pc.equal(store.read("silver/cards").column("customer_id"), customer_id)
    )
    raw: set[str] = set()
    landing = Path(storage_for(s.landing_uri).path())
    for path in landing.glob("core_banking/*/customers.csv"):
        for row in csv.DictReader(io.StringIO(path.read_text())):
            if row["customer_id"] == customer_id:
                raw |= {row[k] for k in ("email", "national_id", "iban") if row.get(k)}
    assert tokens and cards.num_rows and raw
    return {
        "customer_id": {customer_id},
        "card_id": set(cards.column("card_id").to_pylist()),
        "account_id": set(cards.column("account_id").to_pylist()),
        "tokens": tokens,
        "raw": raw,
    }


def _pattern(ids: dict[str, set[str]]) -> re.Pattern[bytes]:
    words = sorted({v for vs in ids.values() for v in vs}, key=len, reverse=True)
    return re.compile(rb"(?<![A-Za-z0-9])(" + b"|".join(re.escape(w.encode()) for w in words)
                      + rb")(?![A-Za-z0-9])")  # fmt: skip


def _files_naming(root: Path, pattern: re.Pattern[bytes], s) -> list[str]:
    """Files under ``root`` naming the person: raw bytes, gunzipped, Parquet values decrypted."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        views = [data]
        if data[:2] == b"\x1f\x8b":
            views.append(gzip.decompress(data))
        if data.startswith(crypto.BRONZE_MAGIC):
            views.append(crypto.open_bronze(data, s).data)
        if path.suffix == ".parquet":
            views.append(repr(crypto.decrypt_columns(pq.read_table(path), settings=s).to_pylist())
                         .encode())  # fmt: skip
        if any(pattern.search(v) for v in views):
            hits.append(str(path.relative_to(root)))
    return hits


def _old_versions_naming(s, pattern) -> list[str]:
    """Earlier versions of every table that can still be read and name the person."""
    from deltalake import DeltaTable

    store = table_store(s)
    found = []
    for name in gdpr.delta_tables(store.storage):
        for version in range(store.version(name) + 1):
            try:
                rows = DeltaTable(store.uri(name), version=version).to_pyarrow_table()
            except Exception:  # vacuumed away: cannot be read at all
                continue
            text = repr(crypto.decrypt_columns(rows, settings=s).to_pylist()).encode()
            if pattern.search(text):
                found.append(f"{name}@{version}")
    return found


@pytest.fixture(scope="module")
def erased(lake):
    victim = _busiest(lake, 0)
    ids = _identifiers(lake, victim)
    pattern = _pattern(ids)
    before = {
        "lake": _files_naming(Path(storage_for(lake.lake_uri).path()), pattern, lake),
        "online": _files_naming(lake.home / "feast", pattern, lake),
        "versions": _old_versions_naming(lake, pattern),
    }
    export = gdpr.export(victim, lake)
    cert = gdpr.erase(victim, lake, actor="dpo", role="compliance_officer")
    return victim, ids, pattern, before, export, cert


def test_the_search_finds_the_person_before_erasure(erased):
    _, _, _, before, _, _ = erased
    joined = "\n".join(before["lake"])
    for where in ("bronze/core_banking", "bronze/cards", "silver/customers", "silver/cards",
                  "silver/card_transactions", "gold/daily_customer_summary",
                  "gold/warehouse/dim_customer", "gold/warehouse/fact_transactions",
                  "features/customer_spend", "features/card_velocity"):  # fmt: skip
        assert where in joined, where
    assert before["online"] == ["online.db"]
    assert before["versions"]


def test_no_store_names_the_person_after_erasure(erased, lake):
    _, _, pattern, _, _, cert = erased
    assert cert.complete, cert.problems
    assert _files_naming(Path(storage_for(lake.lake_uri).path()), pattern, lake) == []
    assert _files_naming(lake.home / "feast", pattern, lake) == []  # SQLite online store
    assert _files_naming(lake.home / "audit", pattern, lake) == []
    assert _old_versions_naming(lake, pattern) == []  # time travel finds nothing


def test_others_are_untouched(erased, lake):
    victim, _, _, _, _, _ = erased
    other = _busiest(lake, 1)
    assert other != victim
    assert _files_naming(Path(storage_for(lake.lake_uri).path()), _pattern(
        {"c": {other}}), lake)  # fmt: skip
    store = table_store(lake)
    ids = store.read("silver/customers").column("customer_id").to_pylist()
    assert other in ids and victim not in ids
    with online_store_for(lake, "sqlite") as online:
        rows = [{"customer_id": c, "card_id": "none", "merchant_id": "none",
                 "device_id": "none", "merchant_country": "GB", "ip_country": "GB",
                 "channel": "pos", "mcc": "5411", "amount": 1.0,
                 "transaction_ts": dt.datetime(2026, 1, 8, tzinfo=dt.UTC)}
                for c in (other, victim)]  # fmt: skip
        got = online.get_features(rows)
    assert got["cust_txn_count_30d"][0] > 0 and got["cust_txn_count_30d"][1] == 0


def test_bronze_is_kept_but_the_person_is_shredded(erased, lake):
    victim, _, pattern, _, _, cert = erased
    assert cert.bronze["customer_key_destroyed"] and cert.bronze["sealed_files_with_records"]
    assert crypto.KeyRing(lake).destroyed(crypto.customer_key_id(victim, lake))
    lake_storage = storage_for(lake.lake_uri)
    for row in read_manifest(lake).to_pylist():  # every landed file is still there
        assert lake_storage.exists(row["bronze_path"])
        data = crypto.read_bronze(lake_storage, row["bronze_path"], lake)
        text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        assert not pattern.search(text)


def test_certificate_is_in_the_audit_trail_without_the_id(erased, lake):
    victim, _, _, _, _, cert = erased
    trail = audit_trail(lake)
    assert trail.verify().ok
    record = [r for r in trail.records() if r.event == "erasure"][-1]
    assert record.seq == cert.audit_seq and record.outcome == "ok"
    assert record.actor == "dpo" and record.role == "compliance_officer"
    assert record.details["subject_ref"] == gdpr.subject_ref(victim, lake)
    assert record.details["tables"]["silver/customers"]["rows_deleted"] >= 1
    assert record.details["online_store"]["entries_deleted"] >= 1
    assert sum(record.details["features"].values()) >= 1
    assert victim not in trail.path.read_text()


def test_export_holds_everything_about_the_person(erased):
    victim, ids, _, _, path, _ = erased
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["subject"]["customer_id"] == victim
    assert set(doc["subject"]["card_id"]) == ids["card_id"]
    for table in ("silver/customers", "silver/cards", "silver/card_transactions",
                  "gold/warehouse/dim_customer", "gold/warehouse/fact_transactions"):  # fmt: skip
        assert doc["tables"][table], table
        assert all(victim == r.get("customer_id", victim) for r in doc["tables"][table])
    tokens = {v for rows in doc["tables"].values() for r in rows for v in r.values()}
    assert ids["tokens"] <= tokens  # decrypted: the tokens, not ciphertext
    raw = "\n".join(line for f in doc["raw_records"] for line in f["records"])
    assert all(v in raw for v in ids["raw"])  # name and contact details from bronze
    assert doc["features"]


def test_export_after_erasure_finds_nothing(erased, lake, tmp_path):
    victim = erased[0]
    doc = json.loads(gdpr.export(victim, lake, out=tmp_path / "again.json").read_text())
    assert doc["tables"] == {} and doc["raw_records"] == [] and doc["features"] == {}


def test_scorers_forget_the_person_from_the_erasure_notice(erased, lake):
    # A scoring replica's in-memory windows, holding the person's cards and someone else's:
    # the erasure's notice (keyed references only) makes the scorer drop the person's.
    from serve.erasures import ErasureWatch
    from serve.velocity import VelocityState

    victim, ids, _, _, _, _ = erased
    cards = sorted(ids["card_id"])
    at = dt.datetime(2026, 1, 8, 12, tzinfo=dt.UTC)
    state = VelocityState()
    for card in cards:
        state.record(card, victim, at, 10.0, False)
    state.record("K-OTHER", "C-OTHER", at, 10.0, False)
    notices = (lake.home / "gdpr" / "erasures.jsonl").read_text()
    assert victim not in notices and not any(c in notices for c in cards)
    assert ErasureWatch(lake).apply(state) == len(cards) + 1
    later = at + dt.timedelta(minutes=1)
    assert state.features(cards[0], victim, later)["card_txn_count_1h"] == 0
    assert state.features("K-OTHER", "C-OTHER", later)["card_txn_count_1h"] == 1


def test_a_customer_under_legal_hold_is_not_erased(erased, lake):
    from ray_platform.errors import AccessDenied
    from ray_platform.governance.retention import place_hold, release_hold

    held = _busiest(lake, 3)
    hold = place_hold(scope="customer", customer_id=held, reason="case 2026/117",
                      placed_by="legal", settings=lake)  # fmt: skip
    try:
        with pytest.raises(AccessDenied, match=hold.id):
            gdpr.erase(held, lake, actor="dpo")
    finally:
        release_hold(hold.id, released_by="legal", reason="test over", settings=lake)
    assert held in table_store(lake).read("silver/customers").column("customer_id").to_pylist()
    refusal = [r for r in audit_trail(lake).records() if r.event == "erasure"][-1]
    assert refusal.outcome == "denied" and refusal.details["subject_ref"] == gdpr.subject_ref(
        held, lake
    )


def test_a_failing_store_is_reported_and_the_others_still_erased(erased, lake, monkeypatch):
    from features import online

    def broken(self, entities):
        raise online.ServiceError("online store unreachable")

    monkeypatch.setattr(online.SqliteOnlineStore, "erase", broken)
    target = _busiest(lake, 4)
    cert = gdpr.erase(target, lake)
    assert not cert.complete and any("online store unreachable" in p for p in cert.problems)
    assert (
        target not in table_store(lake).read("silver/customers").column("customer_id").to_pylist()
    )
    record = [r for r in audit_trail(lake).records() if r.event == "erasure"][-1]
    assert record.outcome == "failed" and record.details["problems"] == cert.problems


def test_bad_ids_are_refused(lake):
    for bad in ("", "C1' OR '1'='1", "x" * 200):
        with pytest.raises(InvalidArgument):
            gdpr.erase(bad, lake)


@pytest.fixture
def cli_home(lake, monkeypatch):
    monkeypatch.setenv("GBANK_HOME", str(lake.home))
    get_settings.cache_clear()
    yield lake
    get_settings.cache_clear()


def test_cli_export_and_erase(cli_home, tmp_path):
    from typer.testing import CliRunner

    from ray_platform.cli.gdpr import app

    other = _busiest(cli_home, 2)
    out = tmp_path / "sar.json"
    got = CliRunner().invoke(app, ["export", "--customer-id", other, "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert str(out) in got.output and json.loads(out.read_text())["tables"]["silver/customers"]
    got = CliRunner().invoke(app, ["erase", "--customer-id", other], input="n\n")
    assert got.exit_code != 0  # not confirmed: nothing erased
    assert other in table_store(cli_home).read("silver/customers").column("customer_id").to_pylist()
    got = CliRunner().invoke(app, ["erase", "--customer-id", other, "--yes"])
    assert got.exit_code == 0, got.output
    assert "rows in" in got.output
    assert other not in (
        table_store(cli_home).read("silver/customers").column("customer_id").to_pylist()
    )


def test_cli_keys(cli_home):
    from typer.testing import CliRunner

    from ray_platform.cli.keys import app

    got = CliRunner().invoke(app, ["status"])
    assert got.exit_code == 0 and "encryption at rest: on" in got.output
    got = CliRunner().invoke(app, ["rotate", "--destroy-old"])
    assert got.exit_code == 0 and "data keys re-wrapped" in got.output
    assert table_store(cli_home).read("silver/customers").num_rows
    assert crypto.decrypt_columns(table_store(cli_home).read("silver/customers"),
                                  settings=cli_home).num_rows  # fmt: skip
