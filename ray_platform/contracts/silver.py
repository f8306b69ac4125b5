"""The declared contract of every silver table, in the order a run must process them.

Limits (``max``) are the bank's declared plausibility rules: a card payment above 1e9 or a
volatility above 1000% is absurd whatever the source says. Entity tables (merged by key) are
small and have no event date, so they are not partitioned; facts are partitioned by the UTC
date of their event (card transactions also by hour); market data, which is a few hundred rows
a day, by year and month only so a day does not become a folder of tiny files.
"""

from __future__ import annotations

from dataclasses import replace

from ray_platform.contracts import reference as ref
from ray_platform.contracts.model import Column, TableContract

YMD = ("year", "month", "day")
YM = ("year", "month")


def _enum(name: str, values: tuple[str, ...], **kw: object) -> Column:
    return Column(name, "enum", values=values, **kw)  # type: ignore[arg-type]


def _cur(name: str = "currency", **kw: object) -> Column:
    return Column(name, "currency", values=ref.ISO_4217, **kw)  # type: ignore[arg-type]


def _pii(name: str, cls: str = "confidential", **kw: object) -> Column:
    return Column(name, classification=cls, pii=True, **kw)  # type: ignore[arg-type]


def _changes(
    name: str, source: str, entity_columns: tuple[Column, ...], description: str, **changed: object
) -> TableContract:
    """The ``cdc`` contract of an entity's change events: op, commit time and the after image.

    Each entity column is read from ``after.<name>`` (a delete has no after image, so every one
    may be absent); ``changed`` maps a column name to the attributes it takes instead, e.g.
    ``customer_id={"fk": ...}``. The first column is the entity's key (``lake.cdc``).
    """
    image = tuple(
        replace(c, source=f"after.{c.name}", **changed.get(c.name, {}))  # type: ignore[arg-type]
        for c in entity_columns
    )
    return TableContract(
        name, source, (f"{name}.jsonl",), "cdc",
        (
            _enum("op", ref.CDC_OPS),
            Column("event_ts", "epoch_ms", not_future=True, source="ts_ms"),
            *image,
        ),
        event_time="event_ts", partition_by=YMD, cluster_by=(entity_columns[0].name,),
        description=description,
    )  # fmt: skip


CUSTOMER_COLUMNS = (
    Column("customer_id"),
    _pii("first_name"),
    _pii("last_name"),
    _pii("email"),
    _pii("phone"),
    _pii("date_of_birth", "restricted", type="date", not_future=True),
    _pii("national_id", "restricted"),
    _pii("address_line"),
    Column("city", classification="confidential"),
    _pii("postcode"),
    _enum("country", ref.COUNTRIES),
    _enum("region", ref.REGIONS),
    _pii("iban", "restricted", check="iban"),
    _enum("segment", ref.SEGMENTS),
    _enum("kyc_risk_rating", ref.KYC_RATINGS, classification="confidential"),
    _enum("status", ref.CUSTOMER_STATUSES),
    Column("created_at", "ts", not_future=True),
)
CUSTOMERS = TableContract(
    "customers", "core_banking", ("customers.csv",), "csv", CUSTOMER_COLUMNS,
    business_key=("customer_id",), kind="entity", cluster_by=("customer_id",),
    description="Current state of every customer: core banking extracts plus CDC changes.",
)  # fmt: skip
CUSTOMER_CHANGES = _changes(
    "customer_changes", "customer_mgmt", CUSTOMER_COLUMNS,
    "Debezium change events of the customer management system (after images).",
    customer_id={"fk": "customers.customer_id"},
)  # fmt: skip


ACCOUNT_COLUMNS = (
    Column("account_id"),
    Column("customer_id", fk="customers.customer_id"),
    _enum("account_type", ref.ACCOUNT_TYPES),
    _enum("status", ref.ACCOUNT_STATUSES),
    Column("open_date", "date", not_future=True),
    Column("product_code"),
    _cur(),
    _pii("iban", "restricted", check="iban"),
)
ACCOUNTS = TableContract(
    "accounts", "core_banking", ("accounts.csv",), "csv", ACCOUNT_COLUMNS,
    business_key=("account_id",), kind="entity", cluster_by=("customer_id",),
)  # fmt: skip
# No foreign key on account_id: an insert brings an account silver does not know yet (the
# account's customer must be known, as for any account).
ACCOUNT_CHANGES = _changes(
    "account_changes", "core_banking", ACCOUNT_COLUMNS,
    "Debezium change events of core.accounts (after images), applied to accounts.",
)  # fmt: skip
CARDS = TableContract(
    "cards", "cards", ("cards.jsonl",), "jsonl",
    (
        Column("card_id"),
        _pii("card_number", "restricted", check="luhn"),
        Column("customer_id", fk="customers.customer_id"),
        Column("account_id", fk="accounts.account_id"),
        _enum("card_type", ref.CARD_TYPES),
        _enum("brand", ref.CARD_BRANDS),
        Column("issue_date", "date", not_future=True),
        Column("expiry"),
    ),
    business_key=("card_id",), kind="entity", cluster_by=("customer_id",),
)  # fmt: skip
CARD_TRANSACTIONS = TableContract(
    "card_transactions", "cards", ("card_transactions.jsonl",), "jsonl",
    (
        Column("transaction_id"),
        Column("card_id", fk="cards.card_id"),
        Column("account_id", fk="accounts.account_id"),
        Column("customer_id", fk="customers.customer_id"),
        Column("merchant_id"),
        Column("merchant_name"),
        _enum("mcc", ref.MCCS),
        _enum("merchant_country", ref.COUNTRIES),
        Column("amount", "dec", min=0, max=1e9, minor_units=True, currency_column="currency"),
        _cur(),
        Column("timestamp", "ts", not_future=True),
        _enum("channel", ref.CARD_CHANNELS),
        Column("device_id"),
        _enum("ip_country", ref.COUNTRIES),
        Column("is_fraud", "int"),
        _enum("fraud_pattern", ref.FRAUD_PATTERNS, required=False),
    ),
    business_key=("transaction_id",), event_time="timestamp", partition_by=(*YMD, "hour"),
    cluster_by=("customer_id",),
    # Card switches publish Avro under the registry; simple clients send JSON on their own topic.
    stream_topics=("transactions", "transactions.json"),
)  # fmt: skip
INSTRUMENTS = TableContract(
    "instruments", "trading", ("instruments.xml",), "xml",
    (
        Column("isin", check="isin", classification="public"),
        Column("name", classification="public"),
        _enum("asset_class", ref.ASSET_CLASSES),
        _cur(),
        _enum("country", ref.INSTRUMENT_COUNTRIES),
        _enum("sector", ref.SECTORS, required=False),
        Column("coupon", "dec", required=False, min=0, max=100, dp=3),
        Column("maturity", "date", required=False),
        Column("underlying_isin", required=False, check="isin", fk="instruments.isin"),
        Column("strike", "dec", required=False, min=0, max=1e8, dp=4),
        Column("expiry", "date", required=False),
        _enum("option_type", ref.OPTION_TYPES, required=False),
        _cur("base_currency", required=False),
        _cur("quote_currency", required=False),
    ),
    business_key=("isin",), kind="entity", record_tag="instrument",
)  # fmt: skip
COUNTERPARTIES = TableContract(
    "counterparties", "trading", ("counterparties.xml",), "xml",
    (
        Column("lei", check="lei", classification="public"),
        Column("name", classification="public"),
        _enum("country", ref.COUNTRIES),
        _enum("type", ref.COUNTERPARTY_TYPES),
    ),
    business_key=("lei",), kind="entity", record_tag="counterparty",
)  # fmt: skip
TRADES = TableContract(
    "trades", "trading", ("trades.xml",), "xml",
    (
        Column("trade_id"),
        Column("isin", check="isin", fk="instruments.isin"),
        Column("counterparty_lei", check="lei", fk="counterparties.lei"),
        _enum("venue", ref.VENUES),
        Column("execution_ts", "ts", not_future=True),
        _enum("side", ref.SIDES),
        Column("price", "dec", min=0, max=1e8, dp=6),
        Column("quantity", "int", min=0, max=1e9),
        _cur(),
        Column("trader", classification="confidential"),
        _enum("desk", ref.DESKS),
    ),
    business_key=("trade_id",), event_time="execution_ts", partition_by=YMD,
    record_tag="trade",
)  # fmt: skip
POSITIONS = TableContract(
    "positions", "trading", ("positions.csv",), "csv",
    (
        _enum("desk", ref.DESKS),
        Column("isin", check="isin", fk="instruments.isin"),
        Column("quantity", "int"),
        Column("as_of", "date", not_future=True),
    ),
    business_key=("desk", "isin", "as_of"), event_time="as_of", partition_by=YMD,
)  # fmt: skip
_MARKET = {"source": "market_data", "format": "csv", "partition_by": YM}
PRICES = TableContract(
    "prices", file_names=("prices.csv", "prices_history.csv"),
    columns=(
        Column("date", "date", not_future=True, classification="public"),
        Column("isin", check="isin", fk="instruments.isin", classification="public"),
        Column("close", "dec", min=0, max=1e8, dp=6, classification="public"),
        _cur(classification="public"),
    ),
    business_key=("date", "isin"), event_time="date", **_MARKET,  # type: ignore[arg-type]
)  # fmt: skip
FX_RATES = TableContract(
    "fx_rates", file_names=("fx_rates.csv", "fx_history.csv"),
    columns=(
        Column("date", "date", not_future=True, classification="public"),
        _enum("base", ref.FX_BASES, classification="public"),
        _cur("quote", classification="public"),
        Column("rate", "dec", min=0, max=1e6, dp=6, classification="public"),
    ),
    business_key=("date", "base", "quote"), event_time="date", **_MARKET,  # type: ignore[arg-type]
)  # fmt: skip
RATES = TableContract(
    "rates", file_names=("rates.csv", "rates_history.csv"),
    columns=(
        Column("date", "date", not_future=True, classification="public"),
        _cur(classification="public"),
        _enum("tenor", ref.TENORS, classification="public"),
        Column("rate", "dec", dp=4, classification="public"),
    ),
    business_key=("date", "currency", "tenor"), event_time="date", **_MARKET,  # type: ignore[arg-type]
)  # fmt: skip
IMPLIED_VOLS = TableContract(
    "implied_vols", file_names=("implied_vols.csv",),
    columns=(
        Column("date", "date", not_future=True),
        Column("underlying_isin", check="isin", fk="instruments.isin"),
        _enum("tenor", ref.VOL_TENORS),
        Column("vol", "dec", min=0, max=10, dp=4),
    ),
    business_key=("date", "underlying_isin", "tenor"), event_time="date", **_MARKET,  # type: ignore[arg-type]
)  # fmt: skip
INDICATORS = TableContract(
    "indicators", file_names=("indicators.csv",),
    columns=(
        Column("date", "date", not_future=True, classification="public"),
        _enum("region", ref.REGIONS, classification="public"),
        _enum("indicator", ref.INDICATORS, classification="public"),
        Column("value", "dec", dp=2, classification="public"),
    ),
    business_key=("date", "region", "indicator"), event_time="date", **_MARKET,  # type: ignore[arg-type]
)  # fmt: skip
INTERACTIONS = TableContract(
    "interactions", "interactions", ("interactions.jsonl",), "jsonl",
    (
        Column("interaction_id"),
        Column("customer_id", fk="customers.customer_id"),
        _enum("channel", ref.INTERACTION_CHANNELS),
        _enum("type", ref.INTERACTION_TYPES),
        Column("timestamp", "ts", not_future=True),
        Column("branch_id", required=False),
        Column("duration_s", "int", min=0, max=86400),
        _enum("outcome", ref.INTERACTION_OUTCOMES),
    ),
    business_key=("interaction_id",), event_time="timestamp", partition_by=YMD,
    cluster_by=("customer_id",),
)  # fmt: skip

# Dependency order: referenced tables before the tables whose keys point at them; FX rates
# first because standardisation converts amounts with the day's rates.
SILVER_ORDER: tuple[TableContract, ...] = (
    FX_RATES, INSTRUMENTS, COUNTERPARTIES, PRICES, RATES, IMPLIED_VOLS, INDICATORS,
    CUSTOMERS, CUSTOMER_CHANGES, ACCOUNTS, ACCOUNT_CHANGES, CARDS, CARD_TRANSACTIONS, INTERACTIONS,
    TRADES, POSITIONS,
)  # fmt: skip
CONTRACTS: dict[str, TableContract] = {c.name: c for c in SILVER_ORDER}


def contract(name: str) -> TableContract:
    """The contract of silver table ``name``."""
    try:
        return CONTRACTS[name]
    except KeyError:
        from ray_platform.errors import NotFound

        raise NotFound(f"no silver contract {name!r}; known: {', '.join(CONTRACTS)}") from None
