"""One hand-made good and bad record per rule, through parse + validate."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from ray_platform.contracts import contract
from ray_platform.lake.parse import MalformedFile, parse_file
from ray_platform.lake.validate import validate

pytestmark = pytest.mark.unit

DAY = dt.date(2026, 1, 5)
TX = {
    "transaction_id": "T1", "card_id": "CRD1", "account_id": "A1", "customer_id": "C1",
    "merchant_id": "M1", "merchant_name": "Shop", "mcc": "5411", "merchant_country": "GB",
    "amount": "12.50", "currency": "GBP", "timestamp": "2026-01-05T10:00:00+00:00",
    "channel": "pos", "device_id": "D1", "ip_country": "GB", "is_fraud": 0,
    "fraud_pattern": None,
}  # fmt: skip
KNOWN = {
    "cards.card_id": pa.array(["CRD1"]),
    "accounts.account_id": pa.array(["A1"]),
    "customers.customer_id": pa.array(["C1"]),
}


def _jsonl(records: list[dict]) -> bytes:
    import json

    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _rules(name: str, data: bytes, file: str) -> list[tuple[int, str, str | None]]:
    c = contract(name)
    parsed = parse_file(c, data, file)
    _, fails = validate(c, parsed.table, DAY, KNOWN)
    out = [(r, "malformed_row", None) for r, _ in parsed.malformed]
    return sorted(out + [(f.record, f.rule, f.field) for f in fails])


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("amount", None, "missing_required"),
        ("amount", "12,50", "wrong_type"),
        ("is_fraud", "N/A", "wrong_type"),
        ("timestamp", "2026-13-01T25:00:00Z", "wrong_type"),
        ("channel", "UNKNOWN", "invalid_enum"),
        ("currency", "EURO", "invalid_currency"),
        ("currency", "XYZ", "invalid_currency"),
        ("amount", "-12.50", "negative_amount"),
        ("amount", "99999999999.00", "absurd_amount"),
        ("timestamp", "2026-03-01T10:00:00+00:00", "future_timestamp"),
        ("card_id", "CRD9", "unknown_foreign_key"),
    ],
)
def test_card_transaction_rules(field, value, rule):
    good = dict(TX)
    bad = {**TX, "transaction_id": "T2", field: value}
    assert _rules("card_transactions", _jsonl([good, bad]), "t.jsonl") == [(2, rule, field)]


def test_good_records_pass_and_late_local_time_is_not_future():
    late = {**TX, "timestamp": "2026-01-05T23:30:00-05:00"}  # already Jan 6 in UTC
    assert _rules("card_transactions", _jsonl([TX, {**late, "transaction_id": "T3"}]), "t") == []


def test_duplicate_id_and_malformed_json_row():
    data = _jsonl([TX, TX]) + b'{"transaction_id": "T7", "amo\n'
    assert _rules("card_transactions", data, "t.jsonl") == [
        (2, "duplicate_id", "transaction_id"),
        (3, "malformed_row", None),
    ]


@pytest.mark.parametrize(
    ("check", "good", "bad", "rule"),
    [
        ("iban", "GB82WEST12345698765432", "GB83WEST12345698765432", "invalid_iban"),
    ],
)
def test_account_iban_and_short_csv_row(check, good, bad, rule):
    header = "account_id,customer_id,account_type,status,open_date,product_code,currency,iban"
    rows = [
        f"A1,C1,current,active,2020-01-01,CUR-STD,GBP,{good}",
        f"A2,C1,current,active,2020-01-01,CUR-STD,GBP,{bad}",
        "A3,C1,current,active,2020-01-01,CUR-STD,GBP",
    ]
    data = "\n".join([header, *rows]).encode() + b"\n"
    assert _rules("accounts", data, "accounts.csv") == [
        (2, rule, check),
        (3, "malformed_row", None),
    ]


def test_isin_lei_in_xml_and_luhn_in_cards():
    xml = (
        b'<?xml version="1.0"?><counterparties>'
        b"<counterparty><lei>5493001KJTIIGC8Y1R12</lei><name>A</name><country>GB</country>"
        b"<type>bank</type></counterparty>"
        b"<counterparty><lei>5493001KJTIIGC8Y1R13</lei><name>B</name><country>GB</country>"
        b"<type>bank</type></counterparty></counterparties>"
    )
    assert _rules("counterparties", xml, "c.xml") == [(2, "invalid_lei", "lei")]
    card = {"card_id": "CRD1", "card_number": "4539578763621486", "customer_id": "C1",
            "account_id": "A1", "card_type": "debit", "brand": "visa",
            "issue_date": "2025-01-01", "expiry": "2029-01"}  # fmt: skip
    bad = {**card, "card_id": "CRD2", "card_number": "4539578763621487"}
    assert _rules("cards", _jsonl([card, bad]), "c") == [(2, "invalid_luhn", "card_number")]
    header = "date,isin,close,currency\n"
    data = header + "2026-01-05,US0378331005,1.000000,USD\n2026-01-05,US0378331006,1.000000,USD\n"
    known = {"instruments.isin": pa.array(["US0378331005", "US0378331006"])}
    c = contract("prices")
    _, fails = validate(c, parse_file(c, data.encode(), "p.csv").table, DAY, known)
    assert [(f.record, f.rule) for f in fails] == [(2, "invalid_isin")]


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00", "prices.csv.gz", "gzip"),
        (b"date;isin;close;currency\n2026-01-05;X;1;USD\n", "prices.csv", "header"),
        (b"date,isin,close,currency\n\xff\xfe,X,1,USD\n", "prices.csv", "UTF-8"),
    ],
)
def test_unreadable_files(data, name, why):
    with pytest.raises(MalformedFile, match=why):
        parse_file(contract("prices"), data, name)
    with pytest.raises(MalformedFile, match="XML"):
        parse_file(contract("trades"), b"<trades><trade><trade_id>1</trade", "trades.xml")
