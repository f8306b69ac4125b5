"""MiFID II RTS 22 report: every valid trade once with exact fields; invalid ones listed."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from lxml import etree

from ray_platform.errors import DataQualityError
from ray_platform.reports._base import load_config
from ray_platform.reports.mifid import NS, check_xml, validate
from tests.unit import reports_lake as lake

pytestmark = pytest.mark.unit
N = {"a": NS}


def _files():
    built = lake.build()
    base = f"reports/mifid2/{lake.D2}"
    xml = lake.read_file(built["settings"], f"{base}/transactions.xml")
    invalid = lake.read_file(built["settings"], f"{base}/invalid_trades.csv").decode()
    return built, xml, list(csv.DictReader(io.StringIO(invalid)))


def _text(el, path):
    return el.findtext(path, namespaces=N)


def test_every_valid_trade_appears_once_with_exact_fields():
    built, xml, _ = _files()
    firm = load_config("firm")["firm_lei"]
    inst = {
        r["isin"]: r["asset_class"] for r in built["store"].read("silver/instruments").to_pylist()
    }
    expected = {
        t["trade_id"]: t
        for t in built["store"].read("silver/trades").to_pylist()
        if t["execution_ts"].date() == lake.D2
        and t["trade_id"] not in (lake.BAD_ISIN_TRADE, lake.BAD_LEI_TRADE)
    }
    doc = etree.fromstring(xml)
    txs = doc.findall("a:FinInstrmRptgTxRpt/a:Tx/a:New", N)
    ids = [_text(t, "a:TxId") for t in txs]
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == set(expected)
    for tx in txs:
        t = expected[_text(tx, "a:TxId")]
        buyer, seller = (
            (firm, t["counterparty_lei"]) if t["side"] == "BUY" else (t["counterparty_lei"], firm)
        )
        assert _text(tx, "a:Buyr/a:AcctOwnr/a:Id/a:LEI") == buyer
        assert _text(tx, "a:Sellr/a:AcctOwnr/a:Id/a:LEI") == seller
        assert _text(tx, "a:FinInstrm/a:Id") == t["isin"]
        assert _text(tx, "a:Tx/a:TradVn") == t["venue"]
        assert _text(tx, "a:Tx/a:TradDt") == t["execution_ts"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert _text(tx, "a:ExctgPrsn/a:Prsn/a:Othr/a:Id") == t["trader"]
        if inst[t["isin"]] == "bond":
            assert _text(tx, "a:Tx/a:Pric/a:Pric/a:Pctg") == str(t["price"])
            qty = tx.find("a:Tx/a:Qty/a:NmnlVal", N)
        else:
            amt = tx.find("a:Tx/a:Pric/a:Pric/a:MntryVal/a:Amt", N)
            assert amt.text == str(t["price"]) and amt.get("Ccy") == t["currency"]
            qty = tx.find("a:Tx/a:Qty/a:Unit", N)
        assert int(qty.text) == t["quantity"]
    check_xml(xml)  # well-formed and valid against rts22.xsd


def test_planted_invalid_trades_are_listed_with_reasons_and_not_reported():
    _, xml, invalid = _files()
    by_id = {r["trade_id"]: r["reasons"] for r in invalid}
    assert set(by_id) == {lake.BAD_ISIN_TRADE, lake.BAD_LEI_TRADE}
    assert "invalid ISIN" in by_id[lake.BAD_ISIN_TRADE]
    assert "invalid counterparty LEI" in by_id[lake.BAD_LEI_TRADE]
    assert lake.BAD_ISIN_TRADE.encode() not in xml and lake.BAD_LEI_TRADE.encode() not in xml


def test_validation_rules():
    rows = pa.table(
        {
            "trade_id": ["T1", "T2", ""],
            "isin": ["US0378331005"] * 3,
            "asset_class": ["equity", None, "equity"],
            "counterparty_lei": ["5493000GBANK0000RP37"] * 3,
            "venue": ["XLON", "XOF", "XOFF"],
            "side": ["BUY", "SELL", "HOLD"],
            "price_num": [1.0, -1.0, 2.0],
            "quantity": [1, 0, 5],
            "currency": ["EUR", "EUX", "USD"],
            "execution_ts": ["x", "x", None],
            "trader": ["A", "", "B"],
            "desk": ["FX"] * 3,
        }
    )
    reasons = validate(rows)
    assert reasons[0] == []
    assert set(reasons[1]) == {
        "instrument not in reference data",
        "venue is not a 4-character MIC",
        "price missing or not positive",
        "quantity missing or not positive",
        "currency is not ISO 4217",
        "trader missing",
    }
    assert len(reasons[2]) == 3  # reference, side, timestamp


def test_broken_documents_are_refused():
    with pytest.raises(DataQualityError, match="well-formed"):
        check_xml(b"<Document><unclosed></Document>")
    bad = f'<Document xmlns="{NS}"><FinInstrmRptgTxRpt><Tx/></FinInstrmRptgTxRpt></Document>'
    with pytest.raises(DataQualityError, match=r"rts22\.xsd"):
        check_xml(bad.encode())
