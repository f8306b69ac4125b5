"""PII discovery: detectors on valid and invalid check digits, and a scan of a generated bank
scored against the generator's known PII columns (precision and recall both 1.0)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyarrow as pa
import pytest

from ray_platform.governance import pii
from ray_platform.governance.catalog import Catalog, catalog
from ray_platform.settings import load_settings

pytestmark = pytest.mark.unit
ON = dt.date(2026, 1, 10)


# -- detectors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("GB82WEST12345698765432", True),
        ("GB82 WEST 1234 5698 7654 32", True),
        ("DE89370400440532013000", True),
        ("GB82WEST12345698765433", False),  # check digits fail
        ("GB82WEST1234569876543", False),  # wrong length for GB
        ("ZZ82WEST12345698765432", False),  # no such IBAN country
    ],
)
def test_iban(value, ok):
    assert pii.is_iban(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("5555555555554444", True),
        ("378282246310005", True),  # 15-digit Amex
        ("4111111111111112", False),  # Luhn fails
        ("1234567812345670", False),  # passes Luhn, but no card issuer starts with 1
        ("41111111111", False),  # too short
    ],
)
def test_card_number(value, ok):
    assert pii.is_card_number(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("GB123456789", True),  # the bank's core-banking id: ISO country + 9 digits
        ("DV000000001", False),  # same shape, no such country (the generator's device ids)
        ("123-45-6789", True),  # US SSN
        ("000-12-3456", False),
        ("666-12-3456", False),
        ("AB123456C", True),  # UK NINO
        ("GB123456A", False),  # NINO prefixes never issued
        ("111222333", True),  # Dutch BSN passing the 11-test
        ("111222334", False),
        ("12345678Z", True),  # Spanish DNI: 12345678 mod 23 -> Z
        ("12345678A", False),
        ("X1234567L", True),  # NIE
        ("X1234567A", False),
    ],
)
def test_national_id(value, ok):
    assert pii.is_national_id(value) is ok


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (pii.is_email, "ana.lopez12@mail.example.org", "ana.lopez12@localhost"),
        (pii.is_phone, "+441234567890", "+12"),
        (pii.is_phone, "020 7946 0958", "2026-01-05"),
        (pii.is_token, "tok_" + "0123456789abcdef" * 2, "tok_xyz"),
        (pii.is_street_address, "12 High Street", "Blue Grocery"),
        (pii.is_street_address, "Hauptstrasse 5", "Treasury 3.250 2031"),
    ],
)
def test_pattern_detectors(check, good, bad):
    assert check(good) and not check(bad)


def _col(values):
    return pa.array(values, pa.string())


def test_column_profiles_tell_people_from_businesses_and_places():
    people = ["Ana", "John", "Yuki", "Kwame", "Ji-woo", "Lars", "Priya", "Omar"]
    assert pii.detect_column("given", _col(people), ON)[0] == "person_name"
    surnames = ["Okafor", "DeVries", "Zlatan", "Smith", "Novak", "Quux", "Brown", "Lee"]
    assert pii.detect_column("last_name", _col(surnames), ON)[0] == "person_name"
    merchants = ["Blue Grocery", "Royal Fast Food", "Star Hotel", "Nova Taxi", "Sun Fuel"] * 2
    assert pii.detect_column("merchant_name", _col(merchants), ON) is None
    firms = ["Alpha Nova Bank", "Oak Cedar Capital", "Prime Star Holdings", "Sun Moon Group"] * 2
    assert pii.detect_column("name", _col(firms), ON) is None
    cities = ["London", "New York", "Paris", "Tokyo", "Berlin", "Cape Town", "Lagos", "Lima"]
    assert pii.detect_column("city", _col(cities), ON) is None


def test_dates_of_birth_by_range_and_spread():
    births = [dt.date(1950 + 3 * i, 1 + i % 12, 1 + i) for i in range(15)]
    assert pii.detect_column("dob", pa.array(births), ON)[0] == "date_of_birth"
    as_text = _col([d.isoformat() for d in births])
    assert pii.detect_column("x", as_text, ON)[0] == "date_of_birth"
    recent = [dt.date(2012 + i % 14, 1 + i % 12, 1) for i in range(30)]  # accounts opened
    assert pii.detect_column("open_date", pa.array(recent), ON) is None
    few = births[:8]  # a small sample (nine change events) still counts if spread over years
    assert pii.detect_column("before.date_of_birth", pa.array(few), ON)[0] == "date_of_birth"
    one_year = [dt.date(1980, 1 + i % 12, 1 + i % 28) for i in range(30)]  # a fixed event
    assert pii.detect_column("founded", pa.array(one_year), ON) is None


def test_postcodes_need_a_distinctive_shape_or_a_postcode_column():
    zips = _col([f"{i * 7919 % 100000:05d}" for i in range(20)])
    assert pii.detect_column("postcode", zips, ON)[0] == "postcode"
    assert pii.detect_column("quantity", zips, ON) is None
    uk = _col(["SW1A 1AA", "EC1A 1BB", "W1A 0AX", "M1 1AE", "B33 8TH", "CR2 6XH"])
    assert pii.detect_column("anything", uk, ON)[0] == "postcode"


def test_too_few_values_are_not_judged_and_other_types_hold_nothing():
    assert pii.detect_column("email", _col(["a@b.com", None, None]), ON) is None
    assert pii.detect_column("amount", pa.array([1.5] * 20), ON) is None


# -- a generated bank, scored ----------------------------------------------------------------------

DAYS = (dt.date(2026, 1, 5), dt.date(2026, 1, 6))
CUSTOMER_PII = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "national_id",
    "address_line",
    "postcode",
    "iban",
)
"""The personal fields ray_platform/generator/customers.py writes for every customer
(``new_customers`` and ``_address``). ``city`` is not among them: a city alone does not single
out a person, and the contract declares it confidential but not PII."""
KIND = {
    "first_name": "person_name",
    "last_name": "person_name",
    "email": "email",
    "phone": "phone",
    "date_of_birth": "date_of_birth",
    "national_id": "national_id",
    "address_line": "street_address",
    "postcode": "postcode",
    "iban": "iban",
    "card_number": "card_number",
}


def expected_bronze() -> dict[tuple[str, str], str]:
    """Raw feeds: the customer fields in the extract and in both images of a change event,
    the accounts' IBANs (generator ``new_accounts``) and the card numbers (``cards.py``)."""
    out = {("bronze/core_banking/customers", c): KIND[c] for c in CUSTOMER_PII}
    for image in ("after", "before"):
        out |= {
            ("bronze/customer_mgmt/customer_changes", f"{image}.{c}"): KIND[c] for c in CUSTOMER_PII
        }
    out[("bronze/core_banking/accounts", "iban")] = "iban"
    out[("bronze/cards/cards", "card_number")] = "card_number"
    return out


def expected_silver() -> dict[tuple[str, str], str]:
    """Silver holds the same columns, tokenised: found as pseudonymised personal data."""
    out = {("silver/customers", c): "token" for c in CUSTOMER_PII}
    out |= {("silver/customer_changes", c): "token" for c in CUSTOMER_PII}
    out[("silver/accounts", "iban")] = "token"
    out[("silver/cards", "card_number")] = "token"
    return out


@pytest.fixture(scope="module", params=["clear", "encrypted"])
def bank(request, tmp_path_factory):
    """The bank as landed and processed; ``encrypted``: with encryption at rest on, so bronze
    files are sealed and silver's PII columns hold ciphertext the scan must open."""
    from ray_platform.generator import GeneratorConfig, generate_bank
    from ray_platform.governance.kms import key_manager
    from ray_platform.lake.bronze import land_landing_date
    from ray_platform.lake.silver import run_silver

    settings = load_settings(home=tmp_path_factory.mktemp("pii_home"))
    if request.param == "encrypted":
        key_manager(settings).initialise()
    config = GeneratorConfig(customers=120, days=len(DAYS), seed=5, history_days=3,
                             change_rate=0.1, interaction_rate=0.1, instruments=20,
                             counterparties=8)  # fmt: skip
    generate_bank(settings.landing_uri, config)
    for day in DAYS:
        land_landing_date(day, ingest_date=day, settings=settings)
        run_silver(day.isoformat(), settings, use_ray=False)
    if request.param == "encrypted":  # the scan has to open what it reads
        from ray_platform.governance.crypto import BRONZE_MAGIC, PREFIX
        from ray_platform.tables import table_store

        sealed = next((settings.home / "lake/bronze/core_banking").rglob("customers.csv"))
        assert sealed.read_bytes().startswith(BRONZE_MAGIC)
        emails = table_store(settings).read("silver/customers", columns=["email"]).column(0)
        assert emails[0].as_py().startswith(PREFIX)
    report = pii.scan(settings, sample_rows=400, on=ON)
    return settings, report


def test_scan_finds_every_pii_column_and_nothing_else(bank):
    _, report = bank
    expected = expected_bronze() | expected_silver()
    found = {(f.dataset, f.column): f.kind for f in report.findings}
    true_pos = set(found) & set(expected)
    precision = len(true_pos) / len(found)
    recall = len(true_pos) / len(expected)
    assert (precision, recall) == (1.0, 1.0), (
        f"false alarms {sorted(set(found) - set(expected))}, "
        f"missed {sorted(set(expected) - set(found))}"
    )
    assert found == expected  # and each column as the right kind
    # The scan looked at every raw feed landed and every silver table written.
    assert sum(1 for d in report.sampled if d.startswith("bronze/")) == 18
    assert sum(1 for d in report.sampled if d.startswith("silver/")) == 15
    assert "bronze/card_transactions_stream/transactions" in report.skipped  # no Kafka here


def test_declared_classifications_hold_what_was_found(bank):
    settings, report = bank
    assert pii.findings_vs_declared(report.findings, catalog(settings)) == []
    assert not [f for f in report.findings if f.under_classified]
    dob = next(f for f in report.findings if f.column == "date_of_birth")
    assert dob.implied == "restricted" and dob.declared == "restricted"


def _declare(cat: Catalog, dataset: str, column: str, cls: str | None) -> Catalog:
    d = cat.get(dataset)
    cols = tuple(
        dataclasses.replace(c, classification=cls) if c.name == column else c for c in d.columns
    )
    if cls is None:
        cols = tuple(c for c in cols if c.name != column)
    return Catalog.of([dataclasses.replace(d, columns=cols) if x is d else x for x in cat.list()])


def test_under_classified_and_undeclared_columns_are_reported(bank):
    settings, report = bank
    cat = _declare(catalog(settings), "bronze/core_banking/customers", "national_id", "internal")
    cat = _declare(cat, "silver/cards", "card_number", None)  # a column the catalog lacks
    under = pii.findings_vs_declared(report.findings, cat)
    assert {(f.dataset, f.column, f.kind, f.declared, f.implied) for f in under} == {
        ("bronze/core_banking/customers", "national_id", "national_id", "internal", "restricted"),
        ("silver/cards", "card_number", "token", None, "confidential"),
    }


def test_cli_scan_pii_exit_codes(bank, monkeypatch):
    import json

    from typer.testing import CliRunner

    from ray_platform.cli.catalog import app

    _, report = bank
    monkeypatch.setattr(pii, "scan", lambda **_: report)
    ok = CliRunner().invoke(app, ["scan-pii", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["under_classified"] == 0
    flagged = dataclasses.replace(report.findings[0], declared="public")
    bad = pii.ScanReport([flagged, *report.findings[1:]], report.sampled, report.skipped)
    monkeypatch.setattr(pii, "scan", lambda **_: bad)
    out = CliRunner().invoke(app, ["scan-pii"])
    assert out.exit_code == 1
    assert f"UNDER-CLASSIFIED\t{flagged.dataset}\t{flagged.column}" in out.output


def test_sampling_raw_files_reads_resent_copies_and_flattens_events(tmp_path):
    from ray_platform.storage import storage_for

    settings = load_settings(home=tmp_path)
    root = tmp_path / "lake" / "bronze"
    (root / "core_banking/ingest_date=2026-01-07").mkdir(parents=True)
    # A second file under the same name lands as name.<sha8>.ext.
    (root / "core_banking/ingest_date=2026-01-07/customers.0a1b2c3d.csv").write_text(
        "customer_id,email\nC1,ana@example.com\nC2,\n"
    )
    (root / "customer_mgmt/ingest_date=2026-01-07").mkdir(parents=True)
    (root / "customer_mgmt/ingest_date=2026-01-07/customer_changes.jsonl").write_text(
        '{"op":"c","before":null,"after":{"email":"x@example.com"},"source":{"lsn":7}}\n'
    )
    storage = storage_for(settings.lake_uri)
    pattern = "bronze/{}/ingest_date=*/{}[.gz]"
    got = pii.sample_bronze(storage, pattern.format("core_banking", "customers.csv"), 10, settings)
    assert got.to_pylist() == [
        {"customer_id": "C1", "email": "ana@example.com"},
        {"customer_id": "C2", "email": None},
    ]
    events = pii.sample_bronze(
        storage, pattern.format("customer_mgmt", "customer_changes.jsonl"), 10, settings
    )
    assert events.to_pylist() == [{"op": "c", "after.email": "x@example.com", "source.lsn": "7"}]
