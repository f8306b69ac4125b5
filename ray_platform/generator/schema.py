r"""The contract of every file the generator writes: fields, types and validity rules.

``docs/sources.md`` documents the same rules for the lake's parsers. A record is *bad* when it
breaks one of them; :mod:`ray_platform.generator.bad` injects such records on purpose.

Field types and their text forms (CSV cell, JSON value, XML element text):

- ``str``: free text; JSON string.
- ``int``: decimal integer; JSON number.
- ``epoch_ms``: milliseconds since 1970-01-01T00:00:00Z, an integer; JSON number.
- ``dec``: decimal with exactly ``dp`` places, ``-?[0-9]+\.[0-9]{dp}``; JSON string.
- ``date``: ``YYYY-MM-DD``; JSON string.
- ``ts``: ISO 8601 timestamp with ``Z`` or a ``+HH:MM``/``-HH:MM`` offset; JSON string.
- ``enum``: one of ``values``; ``country`` and ``currency`` are enums over reference lists.
- ``iban``, ``isin``, ``lei``, ``pan``: identifiers with check digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ray_platform.generator import reference as ref


@dataclass(frozen=True)
class Field:
    """One column (CSV), key (JSON) or child element (XML) of a record."""

    name: str
    type: str = "str"
    required: bool = True
    values: tuple[str, ...] = ()  # allowed values for enum types
    fk: str | None = None  # entity whose id this field references
    not_future: bool = False  # must not lie after the file's business date
    non_negative: bool = False
    max: float | None = None  # values above are absurd
    dp: int = 2  # decimal places of a dec


@dataclass(frozen=True)
class FileSpec:
    """One kind of file a source system drops."""

    source: str
    name: str
    fields: tuple[Field, ...]
    id_field: str | None = None
    defines: str | None = None  # entity whose ids this file's id_field defines
    record_tag: str = ""  # XML element of one record
    root_tag: str = ""

    @property
    def fmt(self) -> str:
        """``csv``, ``jsonl`` or ``xml``, from the file name."""
        return self.name.rsplit(".", 1)[1]

    def field(self, name: str) -> Field:
        """The field called ``name``."""
        return next(f for f in self.fields if f.name == name)


COUNTRY = ref.COUNTRY_CODES
FRAUD_PATTERNS = (
    "card_testing",
    "account_takeover",
    "high_value_risky_mcc",
    "merchant_compromise",
    "normal_looking",
)


def _enum(name: str, values: tuple[str, ...], required: bool = True) -> Field:
    return Field(name, "enum", values=values, required=required)


def _cur(name: str = "currency") -> Field:
    return Field(name, "currency", values=ref.CURRENCIES)


_CUSTOMER_FIELDS = (
    Field("customer_id"),
    Field("first_name"),
    Field("last_name"),
    Field("email"),
    Field("phone"),
    Field("date_of_birth", "date", not_future=True),
    Field("national_id"),
    Field("address_line"),
    Field("city"),
    Field("postcode"),
    _enum("country", COUNTRY),
    _enum("region", ref.REGIONS),
    Field("iban", "iban"),
    _enum("segment", ref.SEGMENTS),
    _enum("kyc_risk_rating", ref.KYC_RATINGS),
    _enum("status", ref.CUSTOMER_STATUSES),
    Field("created_at", "ts", not_future=True),
)
CUSTOMERS = FileSpec(
    "core_banking", "customers.csv", _CUSTOMER_FIELDS, "customer_id", defines="customer"
)
ACCOUNTS = FileSpec(
    "core_banking",
    "accounts.csv",
    (
        Field("account_id"),
        Field("customer_id", fk="customer"),
        _enum("account_type", ref.ACCOUNT_TYPES),
        _enum("status", ref.ACCOUNT_STATUSES),
        Field("open_date", "date", not_future=True),
        Field("product_code"),
        _cur(),
        Field("iban", "iban"),
    ),
    "account_id",
    defines="account",
)
# CDC events are nested: these are the fields of the ``after`` (and ``before``) images.
CUSTOMER_CHANGES = FileSpec(
    "customer_mgmt",
    "customer_changes.jsonl",
    (
        _enum("op", ("c", "u", "d")),
        Field("ts_ms", "epoch_ms", not_future=True),
        *(
            Field(
                f"after.{f.name}",
                f.type,
                values=f.values,
                not_future=f.not_future,
                fk="customer" if f.name == "customer_id" else None,
            )
            for f in _CUSTOMER_FIELDS
        ),
    ),
)
CARDS = FileSpec(
    "cards",
    "cards.jsonl",
    (
        Field("card_id"),
        Field("card_number", "pan"),
        Field("customer_id", fk="customer"),
        Field("account_id", fk="account"),
        _enum("card_type", ref.CARD_TYPES),
        _enum("brand", tuple(ref.CARD_BRANDS)),
        Field("issue_date", "date", not_future=True),
        Field("expiry"),
    ),
    "card_id",
    defines="card",
)
CARD_TRANSACTIONS = FileSpec(
    "cards",
    "card_transactions.jsonl",
    (
        Field("transaction_id"),
        Field("card_id", fk="card"),
        Field("account_id", fk="account"),
        Field("customer_id", fk="customer"),
        Field("merchant_id"),
        Field("merchant_name"),
        _enum("mcc", tuple(m.code for m in ref.MCCS)),
        _enum("merchant_country", COUNTRY),
        Field("amount", "dec", non_negative=True, max=1e9),
        _cur(),
        Field("timestamp", "ts", not_future=True),
        _enum("channel", ref.CHANNELS),
        Field("device_id"),
        _enum("ip_country", COUNTRY),
        Field("is_fraud", "int"),
        _enum("fraud_pattern", FRAUD_PATTERNS, required=False),
    ),
    "transaction_id",
)
INSTRUMENTS = FileSpec(
    "trading",
    "instruments.xml",
    (
        Field("isin", "isin"),
        Field("name"),
        _enum("asset_class", ref.ASSET_CLASSES),
        _cur(),
        _enum("country", ref.INSTRUMENT_COUNTRIES),
        _enum("sector", ref.SECTORS, required=False),
        Field("coupon", "dec", required=False, non_negative=True, max=100, dp=3),
        Field("maturity", "date", required=False),
        Field("underlying_isin", "isin", required=False, fk="instrument"),
        Field("strike", "dec", required=False, non_negative=True, max=1e8, dp=4),
        Field("expiry", "date", required=False),
        _enum("option_type", ("call", "put"), required=False),
        Field("base_currency", "currency", required=False, values=ref.CURRENCIES),
        Field("quote_currency", "currency", required=False, values=ref.CURRENCIES),
    ),
    "isin",
    defines="instrument",
    record_tag="instrument",
    root_tag="instruments",
)
COUNTERPARTIES = FileSpec(
    "trading",
    "counterparties.xml",
    (
        Field("lei", "lei"),
        Field("name"),
        _enum("country", COUNTRY),
        _enum("type", ("bank", "broker", "asset_manager", "hedge_fund", "corporate", "insurer")),
    ),
    "lei",
    defines="counterparty",
    record_tag="counterparty",
    root_tag="counterparties",
)
_VENUES = tuple(sorted({m for ms in ref.MICS.values() for m in ms} | set(ref.OTC_VENUES)))
TRADES = FileSpec(
    "trading",
    "trades.xml",
    (
        Field("trade_id"),
        Field("isin", "isin", fk="instrument"),
        Field("counterparty_lei", "lei", fk="counterparty"),
        _enum("venue", _VENUES),
        Field("execution_ts", "ts", not_future=True),
        _enum("side", ref.SIDES),
        Field("price", "dec", non_negative=True, max=1e8, dp=6),
        Field("quantity", "int", non_negative=True, max=1e9),
        _cur(),
        Field("trader"),
        _enum("desk", ref.DESKS),
    ),
    "trade_id",
    record_tag="trade",
    root_tag="trades",
)
POSITIONS = FileSpec(
    "trading",
    "positions.csv",
    (
        _enum("desk", ref.DESKS),
        Field("isin", "isin", fk="instrument"),
        Field("quantity", "int"),
        Field("as_of", "date", not_future=True),
    ),
)
_PRICE_FIELDS = (
    Field("date", "date", not_future=True),
    Field("isin", "isin", fk="instrument"),
    Field("close", "dec", non_negative=True, max=1e8, dp=6),
    _cur(),
)
PRICES = FileSpec("market_data", "prices.csv", _PRICE_FIELDS)
PRICES_HISTORY = FileSpec("market_data", "prices_history.csv", _PRICE_FIELDS)
_FX_FIELDS = (
    Field("date", "date", not_future=True),
    _enum("base", (ref.FX_BASE,)),
    _cur("quote"),
    Field("rate", "dec", non_negative=True, max=1e6, dp=6),
)
FX_RATES = FileSpec("market_data", "fx_rates.csv", _FX_FIELDS)
FX_HISTORY = FileSpec("market_data", "fx_history.csv", _FX_FIELDS)
_RATE_FIELDS = (
    Field("date", "date", not_future=True),
    _cur(),
    _enum("tenor", ref.TENORS),
    Field("rate", "dec", dp=4),
)
RATES = FileSpec("market_data", "rates.csv", _RATE_FIELDS)
RATES_HISTORY = FileSpec("market_data", "rates_history.csv", _RATE_FIELDS)
IMPLIED_VOLS = FileSpec(
    "market_data",
    "implied_vols.csv",
    (
        Field("date", "date", not_future=True),
        Field("underlying_isin", "isin", fk="instrument"),
        _enum("tenor", ref.VOL_TENORS),
        Field("vol", "dec", non_negative=True, max=10, dp=4),
    ),
)
INDICATORS = FileSpec(
    "market_data",
    "indicators.csv",
    (
        Field("date", "date", not_future=True),
        _enum("region", ref.REGIONS),
        _enum("indicator", ref.INDICATORS),
        Field("value", "dec", dp=2),
    ),
)
INTERACTIONS = FileSpec(
    "interactions",
    "interactions.jsonl",
    (
        Field("interaction_id"),
        Field("customer_id", fk="customer"),
        _enum("channel", ref.INTERACTION_CHANNELS),
        _enum("type", ref.INTERACTION_TYPES),
        Field("timestamp", "ts", not_future=True),
        Field("branch_id", required=False),
        Field("duration_s", "int", non_negative=True, max=86400),
        _enum("outcome", ref.INTERACTION_OUTCOMES),
    ),
    "interaction_id",
)

ALL_SPECS: tuple[FileSpec, ...] = (
    CUSTOMERS,
    ACCOUNTS,
    CUSTOMER_CHANGES,
    CARDS,
    CARD_TRANSACTIONS,
    INSTRUMENTS,
    COUNTERPARTIES,
    TRADES,
    POSITIONS,
    PRICES,
    PRICES_HISTORY,
    FX_RATES,
    FX_HISTORY,
    RATES,
    RATES_HISTORY,
    IMPLIED_VOLS,
    INDICATORS,
    INTERACTIONS,
)
SPEC_BY_NAME = {spec.name: spec for spec in ALL_SPECS}

BAD_KINDS = (
    "malformed_row",
    "wrong_type",
    "missing_required",
    "invalid_iban",
    "invalid_isin",
    "invalid_lei",
    "invalid_luhn",
    "negative_amount",
    "absurd_amount",
    "future_timestamp",
    "duplicate_id",
    "unknown_foreign_key",
    "invalid_currency",
    "invalid_enum",
)
