"""Access control over a lake with encryption at rest on (``gbank keys init``).

Silver stores its Confidential and Restricted columns as ``enc1:`` ciphertext and bronze files
of personal feeds are sealed. Every read path must decrypt before masking: a compliance officer
sees the clear values, an analyst the tokens of the clear values, and nobody ever ciphertext.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from ray_platform.errors import EncryptionError
from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.governance import crypto
from ray_platform.governance.access import (
    UNREADABLE,
    Principal,
    governed_connection,
    read_table,
    readable,
)
from ray_platform.governance.kms import key_manager
from ray_platform.governance.masking import REDACTED
from ray_platform.lake.bronze import land_landing_date
from ray_platform.lake.gold import run_gold
from ray_platform.lake.silver import run_silver
from ray_platform.lake.tokens import token, token_key
from ray_platform.settings import load_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store
from ray_platform.warehouse.load import load_warehouse

pytestmark = pytest.mark.unit
DAY = dt.date(2026, 1, 5)
PLANT = {
    "customer_id": "C-PLANTED-ENC",
    "email": "zz.enc.planted@example.invalid",
    "national_id": "ZZ-ENC-NATID-777",
    "iban": "ZZ99ENCPLANT0005678",
}
SQL = "SELECT email, national_id, iban FROM silver.customers WHERE customer_id = 'C-PLANTED-ENC'"


def who(role: str) -> Principal:
    return Principal(f"u_{role}", role)


def cells(table: pa.Table) -> set[str]:
    return {str(v) for col in table.columns for v in col.to_pylist() if v is not None}


def ciphertext(table: pa.Table) -> set[str]:
    return {v for v in cells(table) if v.startswith(crypto.PREFIX)}


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    s = load_settings(home=tmp_path_factory.mktemp("access_enc_home"))
    key_manager(s).initialise()
    assert crypto.encryption_enabled(s)
    generate_bank(
        s.landing_uri,
        GeneratorConfig(customers=20, days=1, seed=7, history_days=2, interaction_rate=0.05),
    )
    land_landing_date(DAY, ingest_date=DAY, settings=s)
    run_silver(DAY.isoformat(), s, use_ray=False)
    run_gold(DAY, s)
    load_warehouse(DAY, s)
    # Plant clear values, stored encrypted as a silver run stores them.
    store = table_store(s)
    row = crypto.decrypt_columns(store.read("silver/customers").slice(0, 1), settings=s)
    planted = pa.Table.from_pylist(
        [{**row.to_pylist()[0], **PLANT}], schema=store.dataset("silver/customers").schema
    )
    store.merge(
        "silver/customers",
        crypto.encrypt_columns(planted, "silver/customers", s),
        ["customer_id"],
    )
    return s


@pytest.fixture(scope="module")
def landed(lake):
    """The customers extract as the source sent it: clear values by customer id."""
    path = storage_for(lake.landing_uri).path(f"core_banking/{DAY}/customers.csv")
    rows = csv.DictReader(io.StringIO(Path(path).read_text()))
    return {r["customer_id"]: r for r in rows if r["customer_id"] and r["national_id"]}


def _stored_row(s) -> dict:
    t = table_store(s).read("silver/customers")
    return next(r for r in t.to_pylist() if r["customer_id"] == PLANT["customer_id"])


def _planted(t: pa.Table) -> dict:
    rows = [r for r in t.to_pylist() if r["customer_id"] == PLANT["customer_id"]]
    assert len(rows) == 1
    return rows[0]


def test_the_lake_stores_ciphertext(lake):
    stored = _stored_row(lake)
    for col in ("email", "national_id", "iban"):
        assert stored[col].startswith(crypto.PREFIX), col
    bronze = Path(storage_for(lake.lake_uri).path("bronze/core_banking"))
    files = list(bronze.rglob("customers*.csv*"))
    assert files and all(f.read_bytes().startswith(crypto.BRONZE_MAGIC) for f in files)


def test_compliance_reads_clear_values_of_encrypted_columns(lake):
    officer = who("compliance_officer")
    row = _planted(read_table(officer, "silver.customers", settings=lake))
    assert {c: row[c] for c in ("email", "national_id", "iban")} == {
        c: PLANT[c] for c in ("email", "national_id", "iban")
    }
    con = governed_connection(officer, lake)
    try:
        assert con.sql(SQL).fetchall() == [(PLANT["email"], PLANT["national_id"], PLANT["iban"])]
    finally:
        con.close()


def test_analysts_get_tokens_of_clear_values_never_ciphertext(lake):
    analyst = who("analyst")
    key = token_key(lake)
    t = read_table(analyst, "silver.customers", settings=lake)
    assert {"national_id", "iban"}.isdisjoint(t.column_names)
    assert _planted(t)["email"] == token(key, PLANT["email"])
    assert not ciphertext(t) and not cells(t) & set(PLANT.values()) - {PLANT["customer_id"]}
    con = governed_connection(analyst, lake)
    try:
        got = con.sql(
            "SELECT email FROM silver.customers WHERE customer_id = 'C-PLANTED-ENC'"
        ).fetchall()
    finally:
        con.close()
    assert got == [(token(key, PLANT["email"]),)]


def test_engineers_see_partial_and_redacted_clear_values(lake):
    row = _planted(read_table(who("data_engineer"), "silver.customers", settings=lake))
    assert row["national_id"] == REDACTED
    assert row["iban"] == "*" * (len(PLANT["iban"]) - 4) + PLANT["iban"][-4:]
    assert row["email"] == PLANT["email"]


@pytest.mark.parametrize("role", ["compliance_officer", "analyst", "business_user"])
def test_no_dataset_shows_ciphertext_through_the_governed_connection(lake, role):
    con = governed_connection(who(role), lake)
    try:
        seen = {}
        for name in readable(who(role), lake):
            seen[name] = ciphertext(con.sql(f"SELECT * FROM {name}").to_arrow_table())
    finally:
        con.close()
    assert "silver.customers" in seen or role == "business_user"
    assert any(n.startswith("mart_") for n in seen)
    assert {n: v for n, v in seen.items() if v} == {}


@pytest.mark.parametrize("role", ["data_engineer", "compliance_officer"])
def test_bronze_reads_return_the_decrypted_records(lake, landed, role):
    t = read_table(who(role), "bronze.customers", settings=lake)
    ids = set(t["customer_id"].to_pylist())
    assert len(landed) >= 15 and set(landed) <= ids
    assert not ciphertext(t) and UNREADABLE not in (t.schema.metadata or {})
    by_id = {r["customer_id"]: r for r in t.to_pylist()}
    for cid, src in landed.items():
        assert by_id[cid]["email"] == src["email"]
        want = src["national_id"] if role == "compliance_officer" else REDACTED
        assert by_id[cid]["national_id"] == want
    con = governed_connection(who(role), lake, {"bronze.customers"})
    try:
        n = con.sql("SELECT count(*) FROM bronze.customers").fetchall()[0][0]
    finally:
        con.close()
    assert n == t.num_rows


def _extra_bronze_file(lake, data: bytes) -> Path:
    folder = Path(storage_for(lake.lake_uri).path("bronze/core_banking/ingest_date=2026-01-06"))
    folder.mkdir(parents=True)
    (folder / "customers.csv").write_bytes(data)
    return folder


def test_a_bronze_file_that_does_not_parse_is_reported_not_silently_skipped(lake, caplog):
    folder = _extra_bronze_file(lake, b"")  # an empty CSV: no header
    try:
        with caplog.at_level(logging.WARNING, logger="ray_platform.governance.access"):
            t = read_table(who("data_engineer"), "bronze.customers", settings=lake)
    finally:
        shutil.rmtree(folder)
    reported = json.loads(t.schema.metadata[UNREADABLE])
    assert list(reported) == ["bronze/core_banking/ingest_date=2026-01-06/customers.csv"]
    assert "no header" in next(iter(reported.values()))
    assert "1 file(s) left out" in caplog.text
    assert t.num_rows > 0  # the other files are still read


def test_a_sealed_bronze_file_that_cannot_be_opened_fails_naming_it(lake):
    original = next(Path(storage_for(lake.lake_uri).path("bronze/core_banking")).rglob("cust*"))
    tampered = bytearray(original.read_bytes())
    tampered[-5] ^= 0x01
    folder = _extra_bronze_file(lake, bytes(tampered))
    try:
        with pytest.raises(EncryptionError, match=r"ingest_date=2026-01-06/customers\.csv.*auth"):
            read_table(who("compliance_officer"), "bronze.customers", settings=lake)
    finally:
        shutil.rmtree(folder)
