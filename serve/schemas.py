"""Request and response models of the fraud API, with field-level validation.

A transaction is the generator's card feed record (``docs/sources.md``, contract
``CARD_TRANSACTIONS``) less the label. Validation errors become a 422 whose body lists each bad
field (:func:`field_errors`); a body over :data:`MAX_BODY_BYTES` is a 413. Unknown customers and
cards are *not* validation errors: they are scored with default features and flagged.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ray_platform.contracts.reference import CARD_CHANNELS, COUNTRIES, ISO_4217

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted (a batch of the default 256 transactions is about 120 kB)."""
MAX_AMOUNT = Decimal("1000000000")

Decision = Literal["approve", "review", "decline"]
_CURRENCIES = frozenset(ISO_4217)
_COUNTRIES = frozenset(COUNTRIES)
_ID = {"min_length": 1, "max_length": 64}


class Transaction(BaseModel):
    """One card transaction as the card feed carries it."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    transaction_id: str = Field(
        description="Unique id; results are keyed and deduped by it.", **_ID
    )
    card_id: str = Field(description="Card id (tokenised as in silver).", **_ID)
    account_id: str = Field(description="Account the card draws on.", **_ID)
    customer_id: str = Field(description="Customer id (tokenised as in silver).", **_ID)
    merchant_id: str = Field(description="Merchant id.", **_ID)
    merchant_name: str | None = Field(None, max_length=200, description="Merchant name.")
    mcc: str = Field(description="Merchant category code (one of the bank's MCCs).")
    merchant_country: str = Field(description="ISO 3166-1 alpha-2 country of the merchant.")
    amount: Decimal = Field(description="Positive amount, a decimal string or a number.")
    currency: str = Field(description="ISO 4217 currency code.")
    timestamp: dt.datetime = Field(description="ISO 8601 instant with its UTC offset.")
    channel: str = Field(description="pos, ecom, atm or contactless.")
    device_id: str | None = Field(None, max_length=64, description="Device or terminal id.")
    ip_country: str | None = Field(None, description="Country of the IP address, if online.")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, str | int | float | Decimal):
            raise ValueError("amount must be a decimal string or a number")
        try:
            d = Decimal(str(v))
        except InvalidOperation:
            raise ValueError(f"amount {v!r} is not a decimal number") from None
        if not d.is_finite():
            raise ValueError("amount must be finite")
        if d <= 0:
            raise ValueError("amount must be positive")
        if d > MAX_AMOUNT:
            raise ValueError(f"amount must be at most {MAX_AMOUNT}")
        return d

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if v not in _CURRENCIES:
            raise ValueError(f"unknown currency {v!r}: not an active ISO 4217 code")
        return v

    @field_validator("merchant_country", "ip_country")
    @classmethod
    def _country(cls, v: str | None) -> str | None:
        if v is not None and v not in _COUNTRIES:
            raise ValueError(f"unknown country {v!r}")
        return v

    @field_validator("mcc", mode="before")
    @classmethod
    def _mcc(cls, v: Any) -> str:
        s = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
        if not isinstance(s, str) or not (len(s) == 4 and s.isdigit()):
            raise ValueError("mcc must be a 4-digit merchant category code")
        return s

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in CARD_CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CARD_CHANNELS)}")
        return v

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, v: Any) -> dt.datetime:
        if not isinstance(v, str):
            raise ValueError("timestamp must be an ISO 8601 string with an offset")
        try:
            ts = dt.datetime.fromisoformat(v)
        except ValueError:
            raise ValueError(f"timestamp {v!r} is not ISO 8601") from None
        if ts.tzinfo is None:
            raise ValueError("timestamp needs a UTC offset (Z or +HH:MM)")
        return ts.astimezone(dt.UTC)


class Reason(BaseModel):
    """One feature's push on the score (TreeSHAP, in log-odds)."""

    feature: str
    value: float | None
    contribution: float


class Score(BaseModel):
    """The answer for one transaction."""

    transaction_id: str
    fraud_probability: float
    decision: Decision
    reasons: list[Reason]
    model_version: str
    latency_ms: float
    flags: list[str] = Field(
        default_factory=list,
        description="Why the score is less certain or was escalated: unknown_customer, "
        "no_card_history, no_fx_rate, rule:<name>.",
    )


class BatchRequest(BaseModel):
    """Up to the configured batch limit of transactions."""

    model_config = ConfigDict(extra="forbid")
    transactions: list[Transaction] = Field(min_length=1)


class BatchResponse(BaseModel):
    """Scores in the order of the request."""

    scores: list[Score]
    model_version: str
    latency_ms: float


class FieldError(BaseModel):
    """One bad field of a request."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """A 4xx body: what was wrong, field by field."""

    error: str
    fields: list[FieldError] = Field(default_factory=list)


def field_errors(errors: list[dict[str, Any]]) -> list[FieldError]:
    """Pydantic/FastAPI validation errors as ``field``/``message`` pairs."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ()) if p not in ("body",)]
        msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append(FieldError(field=".".join(loc) or "body", message=msg))
    return out
