"""Card issuance and the merchants cards are used at."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from ray_platform.generator import checksums as ck
from ray_platform.generator import reference as ref

CARD_ACCOUNTS = {"current": "debit", "credit_card": "credit"}
_BRANDS = tuple(ref.CARD_BRANDS)


def issue_cards(
    accounts: list[dict[str, Any]],
    customers: dict[str, dict[str, Any]],
    first_id: int,
    day: dt.date,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """A card for most current accounts and every credit card account."""
    out: list[dict[str, Any]] = []
    for acc in accounts:
        kind = CARD_ACCOUNTS.get(acc["account_type"])
        if kind is None or (kind == "debit" and rng.random() < 0.1):
            continue
        cn = customers[acc["customer_id"]]["country"]
        if cn in ("CN", "HK") and rng.random() < 0.6:
            brand = "unionpay"
        else:
            brand = _BRANDS[int(rng.choice(3, p=(0.6, 0.35, 0.05)))]
        bins = ref.CARD_BRANDS[brand]
        body = bins[int(rng.integers(len(bins)))] + f"{int(rng.integers(0, 10**9)):09d}"
        opened = dt.date.fromisoformat(acc["open_date"])
        issued = opened + dt.timedelta(days=int(rng.integers(0, (day - opened).days + 1)))
        issued = max(issued, day - dt.timedelta(days=4 * 365 - 60))  # reissued before expiry
        out.append(
            {
                "card_id": f"CRD{first_id + len(out):09d}",
                "card_number": body + ck.luhn_digit(body),
                "customer_id": acc["customer_id"],
                "account_id": acc["account_id"],
                "card_type": kind,
                "brand": brand,
                "issue_date": issued.isoformat(),
                "expiry": f"{issued.year + 4}-{issued.month:02d}",
            }
        )
    return out


@dataclass
class Merchants:
    """Merchants sorted by country, with popularity weights for fast vectorised draws."""

    ids: np.ndarray
    names: np.ndarray
    country: np.ndarray  # index into ref.COUNTRIES
    mcc: np.ndarray  # index into ref.MCCS
    online: np.ndarray
    cum_weight: np.ndarray
    country_lo: np.ndarray  # cumulative weight where each country's merchants start
    country_hi: np.ndarray

    @classmethod
    def build(cls, n: int, rng: np.random.Generator) -> Merchants:
        """``n`` merchants spread over countries like customers, at least 5 per country."""
        w = np.array([c.weight for c in ref.COUNTRIES])
        per = np.maximum(5, np.round(n * w / w.sum())).astype(int)
        country = np.repeat(np.arange(len(ref.COUNTRIES)), per)
        total = len(country)
        share = np.array([m.share for m in ref.MCCS])
        mcc = rng.choice(len(ref.MCCS), size=total, p=share / share.sum())
        online = np.array([ref.MCCS[m].online for m in mcc]) & (rng.random(total) < 0.8)
        weight = rng.pareto(1.2, size=total) + 1.0  # a few very popular merchants
        cum = np.cumsum(weight)
        ends = np.cumsum(per)
        hi = cum[ends - 1]
        lo = np.concatenate([[0.0], hi[:-1]])
        w1 = rng.integers(0, len(ref.MERCHANT_WORDS), size=total)
        names = np.array(
            [f"{ref.MERCHANT_WORDS[w1[i]]} {ref.MCCS[mcc[i]].name}" for i in range(total)]
        )
        ids = np.array([f"M{i + 1:07d}" for i in range(total)])
        return cls(ids, names, country, mcc, online, cum, lo, hi)

    def draw(self, country: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Merchant indices, one per entry of ``country`` (index into ref.COUNTRIES)."""
        u = rng.random(len(country))
        target = self.country_lo[country] + u * (
            self.country_hi[country] - self.country_lo[country]
        )
        idx = np.searchsorted(self.cum_weight, target, side="right")
        return np.minimum(idx, len(self.ids) - 1)

    def draw_any(
        self, n: int, rng: np.random.Generator, mask: np.ndarray | None = None
    ) -> np.ndarray:
        """Merchant indices drawn uniformly, optionally among ``mask``."""
        pool = np.flatnonzero(mask) if mask is not None else np.arange(len(self.ids))
        return pool[rng.integers(0, len(pool), size=n)]
