"""The warehouse's dimensional model: every table's name, grain, columns and their meaning.

The tables live in the gold zone under ``gold/warehouse/`` as Delta tables. This module is the
one place their columns are declared; the load casts what it writes to these schemas, and
``docs/warehouse.md`` is generated from the same declarations (:func:`markdown`).

Surrogate keys are deterministic (:func:`surrogate_key`: a 63-bit hash of the natural key and,
for slowly changing dimensions, ``valid_from``), so a rerun gives every row the same key. The
key ``-1`` is the *unknown member* every dimension carries: a fact whose dimension row is missing
points at it until a later load re-keys it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import pyarrow as pa

from ray_platform.contracts.model import Classification
from ray_platform.lake.layout import gold_table

WAREHOUSE = "warehouse"
UNKNOWN_KEY = -1
"""Surrogate key of every dimension's unknown member."""
OPEN_END = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
"""``valid_to`` of a current SCD2 version (an open end keeps range joins simple)."""

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(38, 2)


def warehouse_table(name: str) -> str:
    """The lake path of warehouse table ``name`` (``gold/warehouse/<name>``)."""
    return gold_table(f"{WAREHOUSE}/{name}")


def surrogate_key(*parts: object) -> int:
    """A stable positive 63-bit key for a natural key (and ``valid_from`` for SCD2 rows)."""
    text = "|".join("" if p is None else str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def date_key(day: dt.date) -> int:
    """The ``YYYYMMDD`` integer key of ``dim_date``."""
    return day.year * 10000 + day.month * 100 + day.day


@dataclass(frozen=True)
class Col:
    """One column: name, Arrow type, what it means and how sensitive it is.

    ``classification`` has no default that passes: a column declared without one is reported
    by the catalog's build check (``ray_platform.governance.catalog``) instead of silently
    becoming "internal".
    """

    name: str
    type: pa.DataType
    doc: str
    classification: Classification | None = None


@dataclass(frozen=True)
class TableSpec:
    """One warehouse table: kind, grain, columns and partitioning."""

    name: str
    kind: str  # dimension, fact, aggregate or system
    grain: str
    columns: tuple[Col, ...]
    partition_by: tuple[str, ...] = ()
    written_by: str = "warehouse load"

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema the table is written with."""
        return pa.schema([(c.name, c.type) for c in self.columns])

    @property
    def path(self) -> str:
        """The table's lake path."""
        return warehouse_table(self.name)


def _c(spec: str, type_: pa.DataType, doc: str, cls: Classification | None = None) -> Col:
    return Col(spec, type_, doc, cls)


PUBLIC: Classification = "public"
INTERNAL: Classification = "internal"
CONFIDENTIAL: Classification = "confidential"


S, I64, I32, D, B, F = pa.string(), pa.int64(), pa.int32(), pa.date32(), pa.bool_(), pa.float64()

_SCD2 = (
    _c("valid_from", TS, "instant this version took effect (inclusive)", INTERNAL),
    _c(
        "valid_to",
        TS,
        "instant the next version took effect (exclusive); 9999-12-31 if current",
        INTERNAL,
    ),
    _c(
        "is_current",
        B,
        "true for the version valid now (false for every version of a deleted row)",
        INTERNAL,
    ),
)

DIM_CUSTOMER = TableSpec(
    "dim_customer",
    "dimension",
    "one row per customer version (SCD type 2)",
    (
        _c(
            "customer_sk",
            I64,
            "surrogate key: hash(customer_id, valid_from); -1 unknown member",
            INTERNAL,
        ),
        _c("customer_id", S, "natural key (core banking id)", INTERNAL),
        _c("segment", S, "retail, premier, private, sme or corporate", INTERNAL),
        _c("kyc_risk_rating", S, "low, medium or high", CONFIDENTIAL),
        _c("status", S, "active, dormant or closed", INTERNAL),
        _c("country", S, "home country (ISO 3166-1 alpha-2)", INTERNAL),
        _c("region", S, "us, eu or apac", INTERNAL),
        _c("city", S, "home city", CONFIDENTIAL),
        _c("address_line", S, "address token (PII stays tokenised)", CONFIDENTIAL),
        _c("postcode", S, "postcode token", CONFIDENTIAL),
        _c("created_at", TS, "when the customer was created at the bank", INTERNAL),
        *_SCD2,
        _c(
            "change_op",
            S,
            "what opened the version: snapshot, c (create), u (update), extract",
            INTERNAL,
        ),
        _c(
            "deleted_at",
            TS,
            "instant of the CDC delete that closed the customer, else null",
            INTERNAL,
        ),
    ),
)
DIM_ACCOUNT = TableSpec(
    "dim_account",
    "dimension",
    "one row per account version (SCD type 2, change events, else snapshot diff)",
    (
        _c(
            "account_sk",
            I64,
            "surrogate key: hash(account_id, valid_from); -1 unknown member",
            INTERNAL,
        ),
        _c("account_id", S, "natural key", INTERNAL),
        _c("customer_id", S, "owning customer (natural key)", INTERNAL),
        _c(
            "account_type",
            S,
            "current, savings, credit_card, loan, mortgage or brokerage",
            INTERNAL,
        ),
        _c("status", S, "active, dormant or closed", INTERNAL),
        _c("product_code", S, "product held (joins dim_product.product_code)", INTERNAL),
        _c("currency", S, "account currency", INTERNAL),
        _c("open_date", D, "date the account was opened", INTERNAL),
        *_SCD2,
    ),
)
DIM_PRODUCT = TableSpec(
    "dim_product",
    "dimension",
    "one row per product code",
    (
        _c("product_key", I64, "surrogate key: hash(product_code); -1 unknown member", INTERNAL),
        _c("product_code", S, "natural key, e.g. CUR-STD, CC-GOLD", INTERNAL),
        _c("product_family", S, "account type the product belongs to", INTERNAL),
        _c("product_tier", S, "the code's suffix (STD, PRM, GOLD, ...)", INTERNAL),
    ),
)
DIM_GEOGRAPHY = TableSpec(
    "dim_geography",
    "dimension",
    "one row per country, plus one per branch seen",
    (
        _c(
            "geography_key",
            I64,
            "surrogate key: hash(country, branch_id); -1 unknown member",
            INTERNAL,
        ),
        _c("country", S, "ISO 3166-1 alpha-2", PUBLIC),
        _c("region", S, "us (Americas), eu (EMEA) or apac", PUBLIC),
        _c("currency", S, "the country's currency", PUBLIC),
        _c("utc_offset_min", I32, "standard UTC offset in minutes", PUBLIC),
        _c("branch_id", S, "branch (BR<country><nnn>); null on the country's own row", INTERNAL),
        _c("level", S, "country or branch", PUBLIC),
    ),
)
DIM_MERCHANT = TableSpec(
    "dim_merchant",
    "dimension",
    "one row per merchant (type 1: latest attributes win)",
    (
        _c("merchant_key", I64, "surrogate key: hash(merchant_id); -1 unknown member", INTERNAL),
        _c("merchant_id", S, "natural key", INTERNAL),
        _c("merchant_name", S, "trading name", INTERNAL),
        _c("mcc", S, "merchant category code", INTERNAL),
        _c("mcc_name", S, "category name (Grocery, Gambling, ...)", INTERNAL),
        _c("risky_mcc", B, "category the fraud team treats as high risk", INTERNAL),
        _c("merchant_country", S, "country of the merchant", INTERNAL),
    ),
)
DIM_INSTRUMENT = TableSpec(
    "dim_instrument",
    "dimension",
    "one row per instrument (type 1)",
    (
        _c("instrument_key", I64, "surrogate key: hash(isin); -1 unknown member", INTERNAL),
        _c("isin", S, "natural key", PUBLIC),
        _c("name", S, "instrument name", PUBLIC),
        _c("asset_class", S, "equity, bond, fx or option", INTERNAL),
        _c("currency", S, "quotation currency", INTERNAL),
        _c("country", S, "issuer or market country", INTERNAL),
        _c("sector", S, "issuer sector (equities)", INTERNAL),
        _c("maturity", D, "bond maturity", INTERNAL),
        _c("underlying_isin", S, "option underlying", INTERNAL),
        _c("option_type", S, "call or put", INTERNAL),
    ),
)
DIM_COUNTERPARTY = TableSpec(
    "dim_counterparty",
    "dimension",
    "one row per counterparty (type 1)",
    (
        _c("counterparty_key", I64, "surrogate key: hash(lei); -1 unknown member", INTERNAL),
        _c("lei", S, "natural key (ISO 17442)", PUBLIC),
        _c("name", S, "legal name", PUBLIC),
        _c("country", S, "country of incorporation", INTERNAL),
        _c("type", S, "bank, broker, asset_manager, hedge_fund, corporate or insurer", INTERNAL),
    ),
)
DIM_DATE = TableSpec(
    "dim_date",
    "dimension",
    "one row per calendar date (2020-2030)",
    (
        _c("date_key", I32, "YYYYMMDD", PUBLIC),
        _c("date", D, "the date", PUBLIC),
        _c("year", I32, "calendar year", PUBLIC),
        _c("quarter", I32, "1-4", PUBLIC),
        _c("month", I32, "1-12", PUBLIC),
        _c("month_name", S, "January ...", PUBLIC),
        _c("day_of_month", I32, "1-31", PUBLIC),
        _c("day_of_week", I32, "ISO day of week, Monday = 1", PUBLIC),
        _c("day_name", S, "Monday ...", PUBLIC),
        _c("iso_week", I32, "ISO week number", PUBLIC),
        _c("year_month", S, "YYYY-MM", PUBLIC),
        _c("year_quarter", S, "YYYY-Qn", PUBLIC),
        _c("is_month_end", B, "last day of its month", PUBLIC),
        _c("is_quarter_end", B, "last day of its quarter", PUBLIC),
        _c("is_year_end", B, "31 December", PUBLIC),
    ),
)
DIM_BUSINESS_CALENDAR = TableSpec(
    "dim_business_calendar",
    "dimension",
    "one row per date and country: the business calendars",
    (
        _c("date_key", I32, "YYYYMMDD (joins dim_date)", PUBLIC),
        _c("date", D, "the date", PUBLIC),
        _c("country", S, "ISO 3166-1 alpha-2", PUBLIC),
        _c("is_weekend", B, "the country's weekend (Fri-Sat in SA, QA, EG, IL)", PUBLIC),
        _c("is_holiday", B, "a public holiday in the country", PUBLIC),
        _c("holiday_name", S, "the holiday's name, else null", PUBLIC),
        _c("is_business_day", B, "neither weekend nor holiday", PUBLIC),
    ),
)

_FACT_TIME = (
    _c("business_date", D, "UTC date of the event (partition)", INTERNAL),
    _c("date_key", I32, "joins dim_date", INTERNAL),
    _c("event_ts", TS, "instant of the event (UTC)", INTERNAL),
)
FACT_TRANSACTIONS = TableSpec(
    "fact_transactions",
    "fact",
    "one row per card transaction",
    (
        _c("transaction_id", S, "natural key", INTERNAL),
        _c("transaction_source", S, "card (account transfers are not fed yet)", INTERNAL),
        *_FACT_TIME,
        _c("customer_sk", I64, "customer version current at event_ts; -1 unknown", INTERNAL),
        _c("account_sk", I64, "account version current at event_ts; -1 unknown", INTERNAL),
        _c("merchant_key", I64, "merchant; -1 unknown", INTERNAL),
        _c("product_key", I64, "product of the account version; -1 unknown", INTERNAL),
        _c("geography_key", I64, "merchant country; -1 unknown", INTERNAL),
        _c("customer_id", S, "natural key of the customer (for fix-up and audits)", INTERNAL),
        _c("account_id", S, "natural key of the account", INTERNAL),
        _c("card_id", S, "card used", INTERNAL),
        _c("merchant_id", S, "natural key of the merchant", INTERNAL),
        _c("mcc", S, "merchant category code", INTERNAL),
        _c("merchant_country", S, "merchant country", INTERNAL),
        _c("channel", S, "pos, contactless, ecom or atm", INTERNAL),
        _c("amount", MONEY, "amount in the transaction currency", INTERNAL),
        _c("currency", S, "transaction currency", INTERNAL),
        _c(
            "amount_reporting",
            MONEY,
            "amount in the reporting currency (silver's conversion)",
            INTERNAL,
        ),
        _c("is_fraud", I32, "fraud label (0/1)", INTERNAL),
        _c("fraud_pattern", S, "fraud scheme when is_fraud = 1", INTERNAL),
    ),
    ("business_date",),
)
FACT_TRADES = TableSpec(
    "fact_trades",
    "fact",
    "one row per trade execution",
    (
        _c("trade_id", S, "natural key", INTERNAL),
        *_FACT_TIME,
        _c("instrument_key", I64, "instrument; -1 unknown", INTERNAL),
        _c("counterparty_key", I64, "counterparty; -1 unknown", INTERNAL),
        _c("isin", S, "instrument natural key", INTERNAL),
        _c("counterparty_lei", S, "counterparty natural key", INTERNAL),
        _c("desk", S, "trading desk", INTERNAL),
        _c("trader", S, "trader id", CONFIDENTIAL),
        _c("venue", S, "MIC of the venue", INTERNAL),
        _c("side", S, "BUY or SELL", INTERNAL),
        _c("price", pa.decimal128(18, 6), "execution price", INTERNAL),
        _c("quantity", I64, "quantity (always positive)", INTERNAL),
        _c("signed_quantity", I64, "+quantity for BUY, -quantity for SELL", INTERNAL),
        _c("notional", pa.decimal128(38, 6), "price * quantity in the trade currency", INTERNAL),
        _c("currency", S, "trade currency", INTERNAL),
    ),
    ("business_date",),
)
FACT_CUSTOMER_INTERACTIONS = TableSpec(
    "fact_customer_interactions",
    "fact",
    "one row per customer interaction",
    (
        _c("interaction_id", S, "natural key", INTERNAL),
        *_FACT_TIME,
        _c("customer_sk", I64, "customer version current at event_ts; -1 unknown", INTERNAL),
        _c("geography_key", I64, "branch when at a branch, else the customer's country", INTERNAL),
        _c("customer_id", S, "natural key of the customer", INTERNAL),
        _c("channel", S, "branch, call_centre or app", INTERNAL),
        _c("interaction_type", S, "what the customer wanted", INTERNAL),
        _c("branch_id", S, "branch, for branch visits", INTERNAL),
        _c("duration_s", I64, "duration in seconds", INTERNAL),
        _c("outcome", S, "resolved, escalated, follow_up or abandoned", INTERNAL),
    ),
    ("business_date",),
)
FACT_RISK_METRICS = TableSpec(
    "fact_risk_metrics",
    "fact",
    "one row per date, scope, desk, method, confidence, horizon",
    (
        _c("as_of", D, "business date of the run", INTERNAL),
        _c("scope", S, "firm or desk", INTERNAL),
        _c("desk", S, "desk (null for firm scope)", INTERNAL),
        _c("method", S, "historical, parametric or monte_carlo", INTERNAL),
        _c("confidence", F, "confidence level, e.g. 0.99", INTERNAL),
        _c("horizon_days", I32, "1 or 10", INTERNAL),
        _c("horizon_method", S, "how the horizon was scaled", INTERNAL),
        _c("var", F, "value at risk (positive loss)", CONFIDENTIAL),
        _c("es", F, "expected shortfall", CONFIDENTIAL),
        _c("component_var", F, "desk's component of firm VaR", CONFIDENTIAL),
        _c("currency", S, "reporting currency", INTERNAL),
        _c("paths", I64, "Monte Carlo paths", INTERNAL),
        _c("window", I32, "history window in days", INTERNAL),
        _c("run_id", S, "risk run", INTERNAL),
    ),
    written_by="risk engine (ray_platform.jobs.risk_nightly)",
)

AGG_DAILY_CUSTOMER = TableSpec(
    "agg_daily_customer",
    "aggregate",
    "one row per business date and customer with card spend",
    (
        _c("business_date", D, "UTC date (partition)", INTERNAL),
        _c("customer_id", S, "customer", INTERNAL),
        _c("segment", S, "segment of the version current at the day's last transaction", INTERNAL),
        _c("txn_count", I64, "card transactions", INTERNAL),
        _c("amount_reporting", MONEY, "spend in the reporting currency", INTERNAL),
        _c("max_amount_reporting", MONEY, "largest transaction", INTERNAL),
        _c("distinct_merchants", I64, "merchants used", INTERNAL),
        _c("foreign_txn_count", I64, "transactions outside the home country", INTERNAL),
        _c("fraud_count", I64, "fraud-labelled transactions", INTERNAL),
    ),
    ("business_date",),
)
AGG_MONTHLY_PRODUCT = TableSpec(
    "agg_monthly_product",
    "aggregate",
    "one row per month and product",
    (
        _c("year_month", S, "YYYY-MM (partition)", INTERNAL),
        _c("product_code", S, "product", INTERNAL),
        _c("product_family", S, "account type", INTERNAL),
        _c("active_accounts", I64, "accounts with at least one transaction", INTERNAL),
        _c("txn_count", I64, "card transactions", INTERNAL),
        _c("amount_reporting", MONEY, "spend in the reporting currency", INTERNAL),
        _c("avg_ticket_reporting", MONEY, "average transaction", INTERNAL),
        _c("fraud_count", I64, "fraud-labelled transactions", INTERNAL),
        _c("fraud_rate", F, "fraud_count / txn_count", INTERNAL),
    ),
    ("year_month",),
)
AGG_QUARTERLY_RISK = TableSpec(
    "agg_quarterly_risk",
    "aggregate",
    "one row per quarter, scope, desk, method, confidence, horizon",
    (
        _c("year_quarter", S, "YYYY-Qn (partition)", INTERNAL),
        _c("scope", S, "firm or desk", INTERNAL),
        _c("desk", S, "desk (null for firm)", INTERNAL),
        _c("method", S, "VaR method", INTERNAL),
        _c("confidence", F, "confidence level", INTERNAL),
        _c("horizon_days", I32, "horizon", INTERNAL),
        _c("days", I64, "business dates with a figure", INTERNAL),
        _c("avg_var", F, "mean VaR over the quarter", CONFIDENTIAL),
        _c("max_var", F, "worst VaR", CONFIDENTIAL),
        _c("avg_es", F, "mean expected shortfall", CONFIDENTIAL),
        _c("max_es", F, "worst expected shortfall", CONFIDENTIAL),
        _c("last_var", F, "VaR of the latest date", CONFIDENTIAL),
    ),
    ("year_quarter",),
)
AGG_ANNUAL_REGULATORY = TableSpec(
    "agg_annual_regulatory",
    "aggregate",
    "one row per year and customer home country",
    (
        _c("year", I32, "calendar year (partition)", INTERNAL),
        _c("country", S, "customer home country at the time of each transaction", INTERNAL),
        _c("region", S, "us, eu or apac", INTERNAL),
        _c("active_customers", I64, "customers with at least one card transaction", INTERNAL),
        _c("txn_count", I64, "card transactions", INTERNAL),
        _c("amount_reporting", MONEY, "spend in the reporting currency", INTERNAL),
        _c("large_txn_count", I64, "transactions of 10,000 or more (reporting currency)", INTERNAL),
        _c("large_txn_amount_reporting", MONEY, "their total", INTERNAL),
        _c("cross_border_txn_count", I64, "merchant outside the home country", INTERNAL),
        _c("fraud_count", I64, "fraud-labelled transactions", INTERNAL),
        _c("fraud_amount_reporting", MONEY, "their total", INTERNAL),
    ),
    ("year",),
)

DIMENSIONS = (
    DIM_CUSTOMER,
    DIM_ACCOUNT,
    DIM_PRODUCT,
    DIM_GEOGRAPHY,
    DIM_MERCHANT,
    DIM_INSTRUMENT,
    DIM_COUNTERPARTY,
    DIM_DATE,
    DIM_BUSINESS_CALENDAR,
)
FACTS = (FACT_TRANSACTIONS, FACT_TRADES, FACT_CUSTOMER_INTERACTIONS, FACT_RISK_METRICS)
AGGREGATES = (AGG_DAILY_CUSTOMER, AGG_MONTHLY_PRODUCT, AGG_QUARTERLY_RISK, AGG_ANNUAL_REGULATORY)
TABLES: dict[str, TableSpec] = {t.name: t for t in (*DIMENSIONS, *FACTS, *AGGREGATES)}
"""Every warehouse table by name."""

LARGE_TXN_THRESHOLD = 10_000
"""Reporting-currency amount from which a card transaction counts as large (regulatory)."""


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """``data`` with exactly ``spec``'s columns, in order, cast to its types."""
    return pa.table([data.column(c.name).cast(c.type) for c in spec.columns], schema=spec.schema)


def markdown() -> str:
    """The tables and their columns as Markdown (the reference part of docs/warehouse.md)."""
    out = []
    for kind in ("dimension", "fact", "aggregate"):
        for t in (t for t in TABLES.values() if t.kind == kind):
            part = f" Partitioned by `{', '.join(t.partition_by)}`." if t.partition_by else ""
            out.append(
                f"### `warehouse.{t.name}` ({kind})\n\nGrain: {t.grain}. Written by the "
                f"{t.written_by}.{part}\n\n| column | type | meaning |\n|---|---|---|"
            )
            out += [f"| `{c.name}` | {c.type} | {c.doc} |" for c in t.columns]
            out.append("")
    return "\n".join(out)
