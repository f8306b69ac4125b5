"""Daily card transactions: normal spend with seasonality, plus labelled fraud patterns.

Everything is vectorised over the day's transactions. Fraud patterns and their share of
transactions (about 0.25 % in all):

- ``card_testing``: bursts of 5-12 small e-commerce payments on one card within minutes.
- ``account_takeover``: 1-4 e-commerce payments from a new device and a foreign IP country.
- ``high_value_risky_mcc``: large amounts at jewellery, electronics, money transfer, gambling
  or crypto merchants, between midnight and 5 am local time.
- ``merchant_compromise``: cards used at a compromised merchant are defrauded 1-4 days later.
- ``normal_looking``: fraud that looks exactly like the card's normal spend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.generator import reference as ref
from ray_platform.generator.cards import Merchants
from ray_platform.generator.schema import CARD_TRANSACTIONS, FRAUD_PATTERNS

# Relative transaction intensity per local hour (weekday); weekends start later.
_HOURS = np.array(
    [
        0.3,
        0.15,
        0.1,
        0.08,
        0.08,
        0.15,
        0.5,
        1.2,
        2.0,
        2.4,
        2.6,
        3.0,
        3.6,
        3.3,
        2.8,
        2.7,
        2.9,
        3.3,
        3.6,
        3.3,
        2.6,
        1.9,
        1.2,
        0.6,
    ]
)
_WEEKEND_HOURS = np.roll(_HOURS, 1) * np.linspace(0.8, 1.2, 24)
_DAY_FACTOR = (1.0, 0.97, 1.0, 1.05, 1.15, 1.2, 0.8)  # Monday .. Sunday
_MCC_MU = np.array([m.mu for m in ref.MCCS])
_MCC_SIGMA = np.array([m.sigma for m in ref.MCCS])
_RISKY = np.array([m.risky for m in ref.MCCS])
_ATM = np.array([m.code == "6011" for m in ref.MCCS])
_OFFSETS = np.array([c.utc_offset_min for c in ref.COUNTRIES])
_OFFSET_TEXT = np.array(
    [f"{'+' if o >= 0 else '-'}{abs(o) // 60:02d}:{abs(o) % 60:02d}" for o in _OFFSETS]
)
_RATE = np.array([ref.EUR_RATES[c.currency] for c in ref.COUNTRIES])
_CURRENCY = np.array([c.currency for c in ref.COUNTRIES])
_CODES = np.array(ref.COUNTRY_CODES)
MAX_EUR = 25_000.0  # keeps every good amount far below the absurd-amount threshold


@dataclass
class CardBook:
    """The issued cards, as arrays for vectorised draws."""

    card_id: list[str] = field(default_factory=list)
    account_id: list[str] = field(default_factory=list)
    customer_id: list[str] = field(default_factory=list)
    country: list[int] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    device: list[str] = field(default_factory=list)

    def add(
        self,
        cards: list[dict[str, Any]],
        customers: dict[str, Any],
        mean: float,
        rng: np.random.Generator,
    ) -> None:
        """Register new cards; each card's daily activity is Gamma-distributed around ``mean``."""
        index = {c: i for i, c in enumerate(ref.COUNTRY_CODES)}
        activity = rng.gamma(2.0, mean / 2.0, size=len(cards))
        for card, act in zip(cards, activity, strict=True):
            cust = customers[card["customer_id"]]
            status = cust["status"]
            self.card_id.append(card["card_id"])
            self.account_id.append(card["account_id"])
            self.customer_id.append(card["customer_id"])
            self.country.append(index[cust["country"]])
            self.rate.append(float(act) if status == "active" else 0.02 * (status == "dormant"))
            self.device.append(f"DV{card['card_id'][3:]}")

    def arrays(self) -> dict[str, np.ndarray]:
        """The book as numpy arrays."""
        return {k: np.asarray(v) for k, v in self.__dict__.items()}


@dataclass
class Day:
    """Column arrays of one day's transactions before ids and formatting."""

    card: np.ndarray
    merchant: np.ndarray
    local_s: np.ndarray  # seconds after local midnight
    eur: np.ndarray
    channel: np.ndarray  # index into ref.CHANNELS
    new_device: np.ndarray  # bool: a device the card has never used
    ip_country: np.ndarray  # index into ref.COUNTRIES
    fraud: np.ndarray  # index into FRAUD_PATTERNS + 1, 0 = genuine

    @staticmethod
    def concat(days: list[Day]) -> Day:
        """All transactions of ``days`` in one."""
        return Day(*(np.concatenate([getattr(d, f) for d in days]) for f in Day.__annotations__))


def _times(n: int, weekend: bool, rng: np.random.Generator) -> np.ndarray:
    curve = _WEEKEND_HOURS if weekend else _HOURS
    hours = rng.choice(24, size=n, p=curve / curve.sum())
    return hours * 3600 + rng.integers(0, 3600, size=n)


def _amount(mcc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    eur = np.exp(rng.normal(_MCC_MU[mcc], _MCC_SIGMA[mcc]))
    return np.clip(eur, 0.5, MAX_EUR)


def normal_day(
    book: dict[str, np.ndarray], merchants: Merchants, day: dt.date, rng: np.random.Generator
) -> Day:
    """Genuine transactions: Poisson counts per card, domestic merchants mostly."""
    weekday = day.weekday()
    counts = rng.poisson(book["rate"] * _DAY_FACTOR[weekday])
    card = np.repeat(np.arange(len(counts)), counts)
    n = len(card)
    home = book["country"][card]
    merchant = merchants.draw(home, rng)
    abroad = rng.random(n) < 0.08
    merchant[abroad] = merchants.draw_any(int(abroad.sum()), rng)
    mcc = merchants.mcc[merchant]
    online = merchants.online[merchant]
    channel = np.where(rng.random(n) < 0.55, 3, 0)  # contactless or chip-and-pin
    channel = np.where(online, 1, channel)
    channel = np.where(_ATM[mcc], 2, channel)
    ip = np.where(channel == 1, home, merchants.country[merchant])
    return Day(
        card=card,
        merchant=merchant,
        local_s=_times(n, weekday >= 5, rng),
        eur=_amount(mcc, rng),
        channel=channel,
        new_device=np.zeros(n, dtype=bool),
        ip_country=ip,
        fraud=np.zeros(n, dtype=np.int8),
    )


def _foreign(home: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    other = rng.integers(0, len(ref.COUNTRIES) - 1, size=len(home))
    return np.where(other >= home, other + 1, other)


def fraud_day(
    normal: Day,
    book: dict[str, np.ndarray],
    merchants: Merchants,
    compromised_cards: np.ndarray,
    rng: np.random.Generator,
) -> Day:
    """The day's fraud; ``compromised_cards`` are cards due for merchant-compromise fraud."""
    n = len(normal.card)
    active = np.flatnonzero(book["rate"] > 0)
    parts: list[Day] = []
    online = merchants.online
    risky_m = _RISKY[merchants.mcc]

    def build(
        cards: np.ndarray,
        merch: np.ndarray,
        local_s: np.ndarray,
        eur: np.ndarray,
        channel: np.ndarray | int,
        new_device: bool,
        ip: np.ndarray,
        pattern: int,
    ) -> None:
        k = len(cards)
        parts.append(
            Day(
                cards,
                merch,
                local_s,
                eur,
                np.broadcast_to(channel, (k,)).copy(),
                np.full(k, new_device),
                ip,
                np.full(k, pattern, dtype=np.int8),
            )
        )

    if len(active) == 0:
        return Day.concat([_empty()])
    # card_testing: bursts of tiny CNP charges within ten minutes at one merchant
    bursts = rng.poisson(n * 0.0009 / 8.5)
    for _ in range(bursts):
        c = active[rng.integers(len(active))]
        k = int(rng.integers(5, 13))
        start = int(rng.integers(0, 86400 - 600))
        m = merchants.draw_any(1, rng, online)[0]
        build(
            np.full(k, c),
            np.full(k, m),
            np.sort(start + rng.integers(0, 600, size=k)),
            rng.uniform(0.5, 5.0, size=k),
            1,
            True,
            np.full(k, _foreign(book["country"][[c]], rng)[0]),
            1,
        )
    # account_takeover: a new device in another country spends online
    for _ in range(rng.poisson(n * 0.0005 / 2.5)):
        c = active[rng.integers(len(active))]
        k = int(rng.integers(1, 5))
        m = merchants.draw_any(k, rng, online)
        build(
            np.full(k, c),
            m,
            np.sort(rng.integers(0, 86400, size=k)),
            np.clip(np.exp(rng.normal(5.5, 0.6, size=k)), 1, MAX_EUR),
            1,
            True,
            np.full(k, _foreign(book["country"][[c]], rng)[0]),
            2,
        )
    # high_value_risky_mcc: big tickets at risky merchants in the small hours
    k = int(rng.poisson(n * 0.0004))
    if k:
        c = active[rng.integers(len(active), size=k)]
        m = merchants.draw_any(k, rng, risky_m)
        ch = np.where(online[m], 1, 0)
        build(
            c,
            m,
            rng.integers(0, 5 * 3600, size=k),
            np.clip(np.exp(rng.normal(7.6, 0.5, size=k)), 500, MAX_EUR),
            ch,
            False,
            np.where(ch == 1, book["country"][c], merchants.country[m]),
            3,
        )
    # merchant_compromise: stolen card data used online a few days after the breach
    k = len(compromised_cards)
    if k:
        m = merchants.draw_any(k, rng, online)
        build(
            compromised_cards,
            m,
            _times(k, False, rng),
            np.clip(np.exp(rng.normal(5.0, 0.8, size=k)), 1, MAX_EUR),
            1,
            True,
            _foreign(book["country"][compromised_cards], rng),
            4,
        )
    return Day.concat(parts or [_empty()])


def _empty() -> Day:
    z = np.zeros(0, dtype=np.int64)
    return Day(z, z, z, np.zeros(0), z, np.zeros(0, dtype=bool), z, np.zeros(0, dtype=np.int8))


def label_normal_looking(normal: Day, rng: np.random.Generator) -> None:
    """Relabel a few genuine-looking transactions as fraud (no model can catch these)."""
    k = min(len(normal.card), int(rng.poisson(len(normal.card) * 0.0004)))
    idx = rng.choice(len(normal.card), size=k, replace=False)
    normal.fraud[idx] = 5


def compromise(normal: Day, merchants: Merchants, rng: np.random.Generator) -> np.ndarray:
    """Cards that used today's compromised merchant (one popular merchant a day)."""
    if len(normal.card) == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(normal.merchant, minlength=len(merchants.ids))
    top = np.argsort(-counts, kind="stable")[:20]
    m = top[int(rng.integers(len(top)))]
    cards = np.unique(normal.card[normal.merchant == m])
    return cards[rng.random(len(cards)) < 0.2]


def to_table(d: Day, book: dict[str, np.ndarray], merchants: Merchants, day: dt.date) -> pa.Table:
    """Sort by instant, assign ids and render every column in its documented text form."""
    mcountry = merchants.country[d.merchant]
    utc = d.local_s - _OFFSETS[mcountry] * 60
    order = np.lexsort((d.card, utc))
    d = Day(*(getattr(d, f)[order] for f in Day.__annotations__))
    mcountry = mcountry[order]
    n = len(d.card)
    midnight = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    local = pa.array(midnight + d.local_s.astype(np.int64), pa.int64()).cast(pa.timestamp("s"))
    ts = pc.binary_join_element_wise(
        pc.strftime(local, format="%Y-%m-%dT%H:%M:%S"), pa.array(_OFFSET_TEXT[mcountry]), ""
    )
    cents = np.round(d.eur * _RATE[mcountry] * 100).astype(np.int64)
    amount = pc.binary_join_element_wise(
        pa.array(cents // 100).cast(pa.string()),
        pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), 2, "0"),
        ".",
    )
    seq = pc.utf8_lpad(pa.array(np.arange(1, n + 1)).cast(pa.string()), 7, "0")
    tx_id = pc.binary_join_element_wise(f"T{day:%Y%m%d}", seq, "")
    terminal = np.char.add("TRM", merchants.ids[d.merchant])
    device = np.where(np.isin(d.channel, (1, 3)), book["device"][d.card], terminal)
    device = np.where(d.new_device, np.char.add("DX", tx_id.to_numpy(zero_copy_only=False)), device)
    patterns = np.array([None, *FRAUD_PATTERNS], dtype=object)
    cols = {
        "transaction_id": tx_id,
        "card_id": book["card_id"][d.card],
        "account_id": book["account_id"][d.card],
        "customer_id": book["customer_id"][d.card],
        "merchant_id": merchants.ids[d.merchant],
        "merchant_name": merchants.names[d.merchant],
        "mcc": np.array([m.code for m in ref.MCCS])[merchants.mcc[d.merchant]],
        "merchant_country": _CODES[mcountry],
        "amount": amount,
        "currency": _CURRENCY[mcountry],
        "timestamp": ts,
        "channel": np.array(ref.CHANNELS)[d.channel],
        "device_id": device,
        "ip_country": _CODES[d.ip_country],
        "is_fraud": (d.fraud > 0).astype(np.int64),
        "fraud_pattern": pa.array(patterns[d.fraud], pa.string()),
    }
    return pa.table({f.name: cols[f.name] for f in CARD_TRANSACTIONS.fields})
