"""Silver runs over a generated bank and over hand-made bronze files (no Ray: use_ray=False)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from ray_platform.errors import DataQualityError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.lake import silver as silver_mod
from ray_platform.lake.silver import RECONCILIATION, run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import load_settings
from ray_platform.tables import table_store

pytestmark = pytest.mark.unit
DAYS = ["2026-01-05", "2026-01-06", "2026-01-07"]


def land(landing: Path, lake_home: Path) -> None:
    """Copy the generator's files into the bronze layout (the bronze module's job in prod)."""
    for f in landing.glob("*/*/*"):
        source, day, name = f.parts[-3:]
        if source.startswith("_"):
            continue
        dest = lake_home / "lake" / "bronze" / source / f"ingest_date={day}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest / name)


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    landing = tmp_path_factory.mktemp("landing")
    generate_bank(
        str(landing),
        GeneratorConfig(customers=200, days=3, seed=3, bad_rate=0.05, history_days=10),
    )
    home = tmp_path_factory.mktemp("home")
    land(landing, home)
    settings = load_settings(home=home)
    reports = [run_silver(d, settings, use_ray=False) for d in DAYS]
    return landing, settings, reports


def _quarantined(store, tables) -> set[tuple[str, int, str]]:
    out = set()
    for t in tables:
        name = f"silver/_quarantine/{t}"
        if store.exists(name):
            for r in store.read(name).to_pylist():
                src, rest = r["source_file"].removeprefix("bronze/").split("/ingest_date=")
                out.add((f"{src}/{rest}", r["record"], r["rule"]))
    return out


def test_quarantine_matches_the_generator_manifest_exactly(bank):
    landing, settings, reports = bank
    store = table_store(settings)
    entries = [
        json.loads(x) for x in (landing / "_manifest/bad_records.jsonl").read_text().splitlines()
    ]
    expected = {(e["file"], e.get("line", e.get("element")), e["kind"]) for e in entries}
    assert expected and _quarantined(store, reports[0].tables) == expected
    # no bad record's id reached silver (duplicates share the good original's id)
    for table, key in [("card_transactions", "transaction_id"), ("trades", "trade_id"),
                       ("customers", "customer_id"), ("accounts", "account_id")]:  # fmt: skip
        ids = set(store.read(f"silver/{table}", columns=[key]).column(0).to_pylist())
        bad_ids = {e["id"] for e in entries if e["kind"] != "duplicate_id"
                   and e["file"].split("/")[-1].startswith(table)}  # fmt: skip
        assert not ids & bad_ids, table
    recon = store.read(RECONCILIATION).to_pylist()
    assert len(recon) == 3 * len(reports[0].tables)
    for r in recon:
        assert (
            r["balanced"] and r["read"] == r["written"] + r["quarantined"] + r["duplicates_dropped"]
        )


def test_rerun_is_idempotent(bank):
    _, settings, _ = bank
    store = table_store(settings)
    tables = ["card_transactions", "customers", "prices"]

    def rows(t):
        data = store.read(f"silver/{t}").drop_columns(["_run_id"])
        return sorted(map(str, data.to_pylist()))

    before = {t: (rows(t), store.version(f"silver/{t}")) for t in tables}
    q_before = _quarantined(store, tables)
    report = run_silver(DAYS[-1], settings, use_ray=False)
    for t in tables:
        assert rows(t) == before[t][0], t
    assert store.version("silver/card_transactions") > before["card_transactions"][1]
    assert _quarantined(store, tables) == q_before
    assert all(r.balanced for r in report.tables.values())


def test_reporting_amounts_and_partitions(bank):
    _, settings, _ = bank
    tx = table_store(settings).read("silver/card_transactions")
    assert str(tx.schema.field("amount").type) == "decimal128(18, 2)"
    assert tx.schema.field("timestamp").type.tz == "UTC"
    assert pc.min(tx.column("amount_reporting")).as_py() is not None
    eur = tx.filter(pc.equal(tx.column("currency"), "EUR"))
    assert eur.column("amount_reporting").to_pylist() == eur.column("amount").to_pylist()
    assert {"year", "month", "day", "hour", "amount_minor"} <= set(tx.column_names)


def test_tokenisation_is_deterministic_and_joins_work(bank):
    landing, settings, _ = bank
    store = table_store(settings)
    key = token_key(settings)
    assert (Path(settings.home) / "keys/token.key").stat().st_mode & 0o777 == 0o600
    customers = store.read("silver/customers")
    raw = (landing / "core_banking/2026-01-05/customers.csv").read_text().splitlines()
    header = raw[0].split(",")
    first = dict(zip(header, raw[1].split(","), strict=True))
    row = customers.filter(pc.equal(customers.column("customer_id"), first["customer_id"]))
    assert row.column("email")[0].as_py() == token(key, first["email"])
    assert row.column("iban")[0].as_py().startswith("tok_")
    cards = store.read("silver/cards", columns=["customer_id", "card_number"])
    joined = cards.join(customers.select(["customer_id", "segment"]), "customer_id")
    assert joined.num_rows == cards.num_rows


def _write(home: Path, source: str, day: str, name: str, data: bytes) -> Path:
    d = home / "lake" / "bronze" / source / f"ingest_date={day}"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)
    return d / name


CUST_HEADER = ("customer_id,first_name,last_name,email,phone,date_of_birth,national_id,"
               "address_line,city,postcode,country,region,iban,segment,kyc_risk_rating,status,"
               "created_at")  # fmt: skip


def _customer(cid: str, **kw: str) -> dict[str, str]:
    base = dict(zip(CUST_HEADER.split(","), [
        cid, "Ann", "Lee", "ann@example.com", "+44123", "1980-01-01", "GB1", "1 High Street",
        "London", "00001", "GB", "eu", "GB82WEST12345698765432", "retail", "low", "active",
        "2020-01-01T00:00:00Z"], strict=True))  # fmt: skip
    return {**base, **kw}


def test_cdc_updates_and_deletes_customers(tmp_path):
    settings = load_settings(home=tmp_path)
    rows = [_customer("C1"), _customer("C2", status="closed")]
    csv = "\n".join([CUST_HEADER] + [",".join(r.values()) for r in rows]) + "\n"
    _write(tmp_path, "core_banking", "2026-01-05", "customers.csv", csv.encode())
    c1 = rows[0]
    moved = {**c1, "address_line": "9 Oak Avenue", "segment": "premier"}
    events = [
        {
            "op": "u",
            "before": c1,
            "after": {**c1, "address_line": "5 Mill Road"},
            "ts_ms": 1767607200000,
        },
        {"op": "u", "before": c1, "after": moved, "ts_ms": 1767610800000},
        {"op": "d", "before": rows[1], "after": None, "ts_ms": 1767614400000},
    ]
    body = "".join(json.dumps(e) + "\n" for e in events).encode()
    _write(tmp_path, "customer_mgmt", "2026-01-05", "customer_changes.jsonl", body)
    report = run_silver("2026-01-05", settings, use_ray=False)
    assert report.tables["customer_changes"].written == 3
    store = table_store(settings)
    customers = store.read("silver/customers").to_pylist()
    assert [c["customer_id"] for c in customers] == ["C1"]
    key = token_key(settings)
    assert customers[0]["address_line"] == token(key, "9 Oak Avenue")
    assert customers[0]["segment"] == "premier"
    assert store.read("silver/customer_changes").num_rows == 3


PRICE_HEADER = "date,isin,close,currency"


def _instruments(home: Path) -> None:
    xml = ('<?xml version="1.0"?><instruments><instrument><isin>US0378331005</isin>'
           "<name>Apple</name><asset_class>equity</asset_class><currency>USD</currency>"
           "<country>US</country></instrument></instruments>\n")  # fmt: skip
    _write(home, "trading", "2026-01-05", "instruments.xml", xml.encode())


def test_schema_evolution_adds_nullable_column_and_refuses_dropped_required(tmp_path):
    settings = load_settings(home=tmp_path)
    store = table_store(settings)
    _instruments(tmp_path)
    _write(tmp_path, "market_data", "2026-01-05", "prices.csv",
           f"{PRICE_HEADER}\n2026-01-05,US0378331005,10.000000,USD\n".encode())  # fmt: skip
    run_silver("2026-01-05", settings, use_ray=False)
    v0 = store.version("silver/prices")
    evolved = f"{PRICE_HEADER},venue\n2026-01-06,US0378331005,11.000000,USD,XNAS\n"
    _write(tmp_path, "market_data", "2026-01-06", "prices.csv", evolved.encode())
    report = run_silver("2026-01-06", settings, use_ray=False)
    assert report.tables["prices"].evolved_columns == ["venue"]
    prices = store.read("silver/prices").sort_by("date").to_pylist()
    assert [p["venue"] for p in prices] == [None, "XNAS"]
    assert "venue" not in store.read("silver/prices", version=v0).column_names  # history intact
    dropped = _write(tmp_path, "market_data", "2026-01-07", "prices.csv",
                     b"date,isin,currency\n2026-01-07,US0378331005,USD\n")  # fmt: skip
    digest = hashlib.sha256(dropped.read_bytes()).hexdigest()
    version = store.version("silver/prices")
    report = run_silver("2026-01-07", settings, use_ray=False)
    assert "close" in report.held["prices"]
    assert store.version("silver/prices") == version
    assert hashlib.sha256(dropped.read_bytes()).hexdigest() == digest


def test_malformed_files_are_quarantined_whole_and_the_run_goes_on(tmp_path):
    settings = load_settings(home=tmp_path)
    _instruments(tmp_path)
    day = "2026-01-05"
    good = gzip.compress(b"date,base,quote,rate\n2026-01-05,EUR,USD,1.090000\n")
    _write(tmp_path, "market_data", day, "fx_rates.csv.gz", good[: len(good) // 2])
    _write(
        tmp_path,
        "market_data",
        day,
        "prices.csv",
        b"date;isin;close;currency\n2026-01-05;x;1;USD\n",
    )
    _write(
        tmp_path,
        "market_data",
        day,
        "indicators.csv",
        b"date,region,indicator,value\n\xff,eu,cpi,1.00\n",
    )
    _write(tmp_path, "trading", day, "trades.xml", b"<trades><trade><trade_id>1</trade_id>")
    _write(
        tmp_path,
        "market_data",
        day,
        "rates.csv",
        b"date,currency,tenor,rate\n2026-01-05,EUR,1Y,2.1000\n",
    )
    report = run_silver(day, settings, use_ray=False)
    reasons = report.malformed_files
    assert len(reasons) == 4
    assert any("gzip" in r for r in reasons.values()) and any(
        "UTF-8" in r for r in reasons.values()
    )
    assert any("XML" in r for r in reasons.values()) and any(
        "header" in r for r in reasons.values()
    )
    store = table_store(settings)
    assert (
        store.read("silver/rates").num_rows == 1 and store.read("silver/instruments").num_rows == 1
    )
    q = store.read("silver/_quarantine/trades").to_pylist()
    assert q[0]["rule"] == "malformed_file" and q[0]["record"] == 0


def test_unbalanced_reconciliation_fails_loudly(tmp_path, monkeypatch):
    settings = load_settings(home=tmp_path)
    _instruments(tmp_path)
    _write(tmp_path, "market_data", "2026-01-05", "prices.csv",
           f"{PRICE_HEADER}\n2026-01-05,US0378331005,-1.000000,USD\n".encode())  # fmt: skip
    real = silver_mod.process_file

    def lossy(*args, **kwargs):
        out = real(*args, **kwargs)
        out.quarantine = []  # a record silently lost
        return out

    monkeypatch.setattr(silver_mod, "process_file", lossy)
    with pytest.raises(DataQualityError, match="prices"):
        run_silver("2026-01-05", settings, use_ray=False)
    recon = table_store(settings).read(RECONCILIATION).to_pylist()
    assert any(r["table"] == "prices" and not r["balanced"] for r in recon)
