"""MiFID II / MiFIR transaction reports (RTS 22) for one business date, as auth.016-style XML.

Every trade of the date in ``silver/trades`` (by UTC execution date) becomes one candidate
record. Each record is validated first: ISIN and LEI check digits (the vectorised rules of
:mod:`ray_platform.contracts.checks`), MIC format, ISO 4217 currency, positive price and
quantity, required fields, known instrument. Valid records go into ``transactions.xml``,
which is checked for well-formedness and against ``rts22.xsd`` before it is written; invalid
ones go to ``invalid_trades.csv`` with every reason, never into the XML.

The bank is the executing and submitting entity and a party to every trade: for a BUY it is
the buyer and the counterparty the seller, for a SELL the other way round.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.checks import valid_isin, valid_lei
from ray_platform.contracts.reference import COUNTRIES, ISO_4217
from ray_platform.errors import ConfigError, DataQualityError, NotFound
from ray_platform.lake import layout
from ray_platform.reports._base import ReportContext, csv_text, load_config
from ray_platform.reports.html import Section

NS = "urn:iso:std:iso:20022:tech:xsd:auth.016.001.01"
XSD_PATH = Path(__file__).resolve().parent / "rts22.xsd"
TRADER_SCHEME = "INTERNAL"  # internal trader ids, not national ids (see docs/reports.md)
INVALID_COLUMNS = ["trade_id", "isin", "counterparty_lei", "venue", "side", "reasons"]


@cache
def _schema() -> Any:
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def _trades(ctx: ReportContext) -> pa.Table:
    if not ctx.use(layout.silver_table("trades"), "trades"):
        raise NotFound("silver/trades does not exist: run the lake for the date first")
    has_inst = ctx.use(layout.silver_table("instruments"), "instruments")
    inst = (
        "instruments"
        if has_inst
        else ("(SELECT NULL::VARCHAR AS isin, NULL::VARCHAR AS asset_class WHERE false)")
    )
    d = ctx.day
    return ctx.sql(
        f"""
        SELECT t.trade_id, t.isin, t.counterparty_lei, t.venue, t.side,
               t.price::VARCHAR AS price, t.price::DOUBLE AS price_num, t.quantity,
               t.currency, t.trader, t.desk, i.asset_class,
               strftime(t.execution_ts, '%Y-%m-%dT%H:%M:%S.%fZ') AS execution_ts
        FROM trades t LEFT JOIN {inst} i ON i.isin = t.isin
        WHERE t.year = $y AND t.month = $m AND t.day = $dd
          AND t.execution_ts >= $d::TIMESTAMPTZ AND t.execution_ts < ($d + 1)::TIMESTAMPTZ
        ORDER BY t.execution_ts, t.trade_id
        """,
        y=d.year,
        m=d.month,
        dd=d.day,
        d=d,
    )


def _firm() -> dict[str, Any]:
    firm = load_config("firm")
    if not valid_lei(pa.array([firm["firm_lei"]]))[0]:
        raise ConfigError(f"firm.yaml: firm_lei {firm['firm_lei']!r} is not a valid LEI")
    bad = {d: c for d, c in firm["desk_branch_country"].items() if c not in COUNTRIES}
    if firm["home_country"] not in COUNTRIES or bad:
        raise ConfigError(f"firm.yaml: unknown branch country in {bad or firm['home_country']}")
    return firm


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False).astype(bool)


def validate(trades: pa.Table) -> list[list[str]]:
    """Every record's reasons for being invalid (an empty list means valid)."""
    n = trades.num_rows
    checks: list[tuple[str, np.ndarray]] = [
        (
            "missing or malformed transaction reference (1-52 A-Z0-9)",
            _np(pc.match_substring_regex(trades["trade_id"], r"^[A-Z0-9]{1,52}$")),
        ),
        ("invalid ISIN (format or check digit)", valid_isin(trades["isin"])),
        ("instrument not in reference data", _np(pc.is_valid(trades["asset_class"]))),
        (
            "invalid counterparty LEI (format or check digits)",
            valid_lei(trades["counterparty_lei"]),
        ),
        (
            "venue is not a 4-character MIC",
            _np(pc.match_substring_regex(trades["venue"], r"^[A-Z0-9]{4}$")),
        ),
        ("side is not BUY or SELL", _np(pc.is_in(trades["side"], pa.array(["BUY", "SELL"])))),
        ("price missing or not positive", _np(pc.greater(trades["price_num"], 0))),
        ("quantity missing or not positive", _np(pc.greater(trades["quantity"], 0))),
        ("currency is not ISO 4217", _np(pc.is_in(trades["currency"], pa.array(ISO_4217)))),
        ("execution timestamp missing", _np(pc.is_valid(trades["execution_ts"]))),
        ("trader missing", _np(pc.greater(pc.utf8_length(trades["trader"]), 0))),
        ("desk missing", _np(pc.is_valid(trades["desk"]))),
    ]
    reasons: list[list[str]] = [[] for _ in range(n)]
    for reason, ok in checks:
        for i in np.flatnonzero(~ok):
            reasons[i].append(reason)
    return reasons


def to_xml(records: list[dict[str, Any]], firm: dict[str, Any]) -> bytes:
    """The auth.016-style document for valid records (UTF-8 bytes with an XML declaration)."""
    from lxml import etree

    def sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
        el = etree.SubElement(parent, f"{{{NS}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    def party(parent: Any, tag: str, lei: str, branch: str | None) -> None:
        owner = sub(sub(parent, tag), "AcctOwnr")
        sub(sub(owner, "Id"), "LEI", lei)
        if branch:
            sub(owner, "CtryOfBrnch", branch)

    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    body = sub(root, "FinInstrmRptgTxRpt")
    lei = firm["firm_lei"]
    for r in records:
        branch = firm["desk_branch_country"].get(r["desk"], firm["home_country"])
        new = sub(sub(body, "Tx"), "New")
        sub(new, "TxId", r["trade_id"])
        sub(new, "ExctgPty", lei)
        sub(new, "InvstmtPtyInd", "true")
        sub(new, "SubmitgPty", lei)
        we_buy = r["side"] == "BUY"
        party(new, "Buyr", lei if we_buy else r["counterparty_lei"], branch if we_buy else None)
        party(new, "Sellr", r["counterparty_lei"] if we_buy else lei, None if we_buy else branch)
        tx = sub(new, "Tx")
        sub(tx, "TradDt", r["execution_ts"])
        sub(tx, "TradgCpcty", firm["trading_capacity"])
        bond = r["asset_class"] == "bond"
        qty = sub(tx, "Qty")
        if bond:  # nominal amount, price as a percentage of par
            sub(qty, "NmnlVal", str(r["quantity"]), Ccy=r["currency"])
        else:
            sub(qty, "Unit", str(r["quantity"]))
        price = sub(sub(tx, "Pric"), "Pric")
        if bond:
            sub(price, "Pctg", r["price"])
        else:
            sub(sub(price, "MntryVal"), "Amt", r["price"], Ccy=r["currency"])
        sub(tx, "TradVn", r["venue"])
        sub(tx, "CtryOfBrnch", branch)
        sub(sub(new, "FinInstrm"), "Id", r["isin"])
        person = sub(sub(new, "ExctgPrsn"), "Prsn")
        sub(person, "CtryOfBrnch", branch)
        other = sub(person, "Othr")
        sub(other, "Id", r["trader"])
        sub(sub(other, "SchmeNm"), "Prtry", TRADER_SCHEME)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def check_xml(data: bytes) -> None:
    """Parse ``data`` (well-formed) and validate it against ``rts22.xsd``; raises if not."""
    from lxml import etree

    try:
        doc = etree.fromstring(data)
    except etree.XMLSyntaxError as exc:
        raise DataQualityError(f"RTS 22 document is not well-formed XML: {exc}") from None
    schema = _schema()
    if not schema.validate(doc):
        raise DataQualityError(f"RTS 22 document fails rts22.xsd: {schema.error_log.last_error}")


def build(ctx: ReportContext) -> tuple[dict[str, Any], list[Section]]:
    """Validate every trade of the date, write the XML and the invalid list, return the summary."""
    firm = _firm()
    trades = _trades(ctx)
    reasons = validate(trades)
    rows = trades.to_pylist()
    valid = [r for r, why in zip(rows, reasons, strict=True) if not why]
    invalid = [r | {"reasons": "; ".join(why)} for r, why in zip(rows, reasons, strict=True) if why]
    xml = to_xml(valid, firm)
    check_xml(xml)  # before anything is written
    ctx.write("transactions.xml", xml)
    ctx.write("invalid_trades.csv", csv_text(invalid, INVALID_COLUMNS))
    by_reason: dict[str, int] = {}
    for why in reasons:
        for w in why:
            by_reason[w] = by_reason.get(w, 0) + 1
    summary = {
        "trades": len(rows),
        "reported": len(valid),
        "invalid": len(invalid),
        "invalid_by_reason": by_reason,
        "firm_lei": firm["firm_lei"],
        "xsd": XSD_PATH.name,
        "trades_by_venue": {
            v["values"]: v["counts"] for v in pc.value_counts(trades["venue"]).to_pylist()
        },
    }
    sections = [
        Section(
            "Transaction reports",
            pairs=[
                ("Trades of the date", len(rows)),
                ("Reported (valid)", len(valid)),
                ("Invalid, not reported", len(invalid)),
                ("Reporting firm LEI", firm["firm_lei"]),
                ("Schema", f"auth.016 subset, validated against {XSD_PATH.name}"),
            ],
        ),
        Section(
            "Invalid trades by reason",
            columns=["Reason", "Trades"],
            rows=sorted(by_reason.items()),
            notes=() if invalid else ("Every trade passed validation.",),
        ),
        Section(
            "First invalid trades",
            columns=["Trade", "ISIN", "Counterparty LEI", "Reasons"],
            rows=[
                [r["trade_id"], r["isin"], r["counterparty_lei"], r["reasons"]]
                for r in invalid[:20]
            ],
        ),
    ]
    return summary, sections
