"""Customers and accounts of the core banking system."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ray_platform.generator import checksums as ck
from ray_platform.generator import reference as ref

COUNTRY_BY_CODE = {c.code: c for c in ref.COUNTRIES}
_WEIGHTS = np.array([c.weight for c in ref.COUNTRIES])
COUNTRY_P = _WEIGHTS / _WEIGHTS.sum()
_DOMAINS = ("example.com", "mail.example.org", "inbox.example.net")
_LETTERS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def make_ibans(countries: list[str], rng: np.random.Generator) -> list[str]:
    """One valid IBAN per customer country (the London hub for non-IBAN countries)."""
    digits = rng.integers(0, 10, size=(len(countries), 30)).astype(str)
    letters = _LETTERS[rng.integers(0, 26, size=(len(countries), 4))]
    out = []
    for i, code in enumerate(countries):
        country = COUNTRY_BY_CODE[code]
        home = code if country.iban_length else ref.HUB_IBAN_COUNTRY
        n = COUNTRY_BY_CODE[home].iban_length - 4
        if home in ref.LETTER_BANK_CODE:
            bban = "".join(letters[i]) + "".join(digits[i, : n - 4])
        else:
            bban = "".join(digits[i, :n])
        out.append(ck.make_iban(home, bban))
    return out


def _ts(day: dt.date, seconds: int) -> str:
    stamp = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=int(seconds))
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_customers(
    first_id: int, n: int, day: dt.date, initial: bool, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """``n`` customers numbered from ``first_id``; ``initial`` ones joined in past years."""
    cidx = rng.choice(len(ref.COUNTRIES), size=n, p=COUNTRY_P)
    codes = [ref.COUNTRIES[i].code for i in cidx]
    ibans = make_ibans(codes, rng)
    seg = rng.choice(len(ref.SEGMENTS), size=n, p=ref.SEGMENT_WEIGHTS)
    age_days = rng.integers(18 * 365, 90 * 365, size=n)
    tenure_days = rng.integers(1, 15 * 365, size=n) if initial else np.zeros(n, dtype=int)
    secs = rng.integers(0, 86400, size=n)
    first = rng.integers(0, len(ref.FIRST_NAMES), size=n)
    last = rng.integers(0, len(ref.LAST_NAMES), size=n)
    status = rng.choice(3, size=n, p=(0.9, 0.08, 0.02)) if initial else np.zeros(n, dtype=int)
    kyc_hi = np.isin(seg, (2, 4))  # private banking and corporate carry more KYC risk
    kyc = np.where(
        kyc_hi,
        rng.choice(3, size=n, p=(0.4, 0.4, 0.2)),
        rng.choice(3, size=n, p=(0.75, 0.21, 0.04)),
    )
    nums = rng.integers(0, 10**9, size=(n, 3))
    out = []
    for i in range(n):
        country = ref.COUNTRIES[cidx[i]]
        fn, ln = ref.FIRST_NAMES[first[i]], ref.LAST_NAMES[last[i]]
        created = day - dt.timedelta(days=int(tenure_days[i]))
        out.append(
            {
                "customer_id": f"C{first_id + i:08d}",
                "first_name": fn,
                "last_name": ln,
                "email": f"{fn}.{ln}{nums[i, 0] % 1000}@{_DOMAINS[nums[i, 1] % 3]}".lower(),
                "phone": f"+{country.calling_code}{nums[i, 2] % 10**9:09d}"
                + ("0" if len(country.calling_code) == 1 else ""),
                "date_of_birth": (day - dt.timedelta(days=int(age_days[i]))).isoformat(),
                "national_id": f"{country.code}{nums[i, 0]:09d}",
                **_address(country, nums[i], rng),
                "country": country.code,
                "region": country.region,
                "iban": ibans[i],
                "segment": ref.SEGMENTS[seg[i]],
                "kyc_risk_rating": ref.KYC_RATINGS[kyc[i]],
                "status": ref.CUSTOMER_STATUSES[status[i]],
                "created_at": _ts(created, secs[i] if initial else min(secs[i], 80000)),
            }
        )
    return out


def _address(country: ref.Country, nums: np.ndarray, rng: np.random.Generator) -> dict[str, str]:
    street = ref.STREETS[int(rng.integers(len(ref.STREETS)))]
    return {
        "address_line": f"{nums[1] % 300 + 1} {street}",
        "city": country.cities[int(rng.integers(len(country.cities)))],
        "postcode": f"{nums[2] % 100000:05d}",
    }


def new_address(customer: dict[str, Any], rng: np.random.Generator) -> dict[str, str]:
    """A different address in the customer's country (a move)."""
    nums = rng.integers(0, 10**9, size=3)
    return _address(COUNTRY_BY_CODE[customer["country"]], nums, rng)


_ACCOUNT_P = {  # probability of holding each account type, by segment
    "retail": (0.95, 0.5, 0.35, 0.1, 0.12, 0.05),
    "premier": (0.98, 0.8, 0.6, 0.1, 0.3, 0.3),
    "private": (0.99, 0.9, 0.7, 0.05, 0.4, 0.8),
    "sme": (0.99, 0.4, 0.5, 0.3, 0.02, 0.05),
    "corporate": (0.99, 0.6, 0.4, 0.4, 0.0, 0.1),
}


def new_accounts(
    customers: list[dict[str, Any]], first_id: int, day: dt.date, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Accounts for ``customers`` (at least a current account each), numbered from ``first_id``."""
    out: list[dict[str, Any]] = []
    holds = rng.random(size=(len(customers), len(ref.ACCOUNT_TYPES)))
    for i, cust in enumerate(customers):
        kinds = [
            t
            for j, t in enumerate(ref.ACCOUNT_TYPES)
            if holds[i, j] < _ACCOUNT_P[cust["segment"]][j]
        ] or ["current"]
        created = dt.date.fromisoformat(cust["created_at"][:10])
        home_cur = COUNTRY_BY_CODE[cust["country"]].currency
        ibans = make_ibans([cust["country"]] * len(kinds), rng)
        for kind, iban in zip(kinds, ibans, strict=True):
            span = (day - created).days
            opened = created + dt.timedelta(days=int(rng.integers(0, span + 1)))
            if cust["status"] == "closed":
                status = "closed"
            else:
                status = "active" if rng.random() < 0.95 else "dormant"
            foreign = rng.random() < 0.05
            codes = ref.PRODUCT_CODES[kind]
            out.append(
                {
                    "account_id": f"A{first_id + len(out):09d}",
                    "customer_id": cust["customer_id"],
                    "account_type": kind,
                    "status": status,
                    "open_date": opened.isoformat(),
                    "product_code": codes[int(rng.integers(len(codes)))],
                    "currency": ("USD" if home_cur != "USD" else "EUR") if foreign else home_cur,
                    "iban": iban,
                }
            )
    return out
