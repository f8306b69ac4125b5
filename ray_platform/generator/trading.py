"""The trading system: instruments, counterparties, trades and desk positions."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from ray_platform.generator import checksums as ck
from ray_platform.generator import reference as ref
from ray_platform.generator.customers import COUNTRY_BY_CODE

_SUFFIX = ("Holdings", "Group", "Industries", "Systems", "Energy", "Partners", "Technologies")
_CP_SUFFIX = ("Bank", "Capital", "Securities", "Asset Management", "Investments", "Insurance")
_CP_TYPES = ("bank", "broker", "asset_manager", "hedge_fund", "corporate", "insurer")
_CP_COUNTRIES = ("US", "GB", "DE", "FR", "CH", "JP", "HK", "SG", "NL", "LU", "IE", "AU", "CA")
_LOUS = ("5493", "2138", "9695", "8156", "7245", "3358")
_ALNUM = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
_FX_CCYS = ("USD", "GBP", "JPY", "CHF", "AUD", "CAD", "SEK", "NOK", "SGD", "HKD", "CNY")


def make_instruments(n: int, day: dt.date, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` instruments: equities first, then bonds, FX forwards and equity options.

    Options carry a provisional ``strike`` of None; :func:`market.simulate` sets it from the
    underlying's price on the start date.
    """
    n_opt = max(1, n * 15 // 100)
    n_fx = max(1, n // 10)
    n_bond = max(1, n // 4)
    n_eq = max(1, n - n_opt - n_fx - n_bond)
    nsins = rng.choice(10**8, size=n_eq + n_bond + n_fx + n_opt, replace=False)
    out: list[dict[str, Any]] = []

    def base(asset: str, country: str, name: str, sector: str | None) -> dict[str, Any]:
        body = f"{country}{nsins[len(out)] + 10**8:09d}"  # NSINs start with 1: never XS8/XS9
        return {
            "isin": ck.make_isin(body),
            "name": name,
            "asset_class": asset,
            "currency": COUNTRY_BY_CODE[country].currency,
            "country": country,
            "sector": sector,
            "coupon": None,
            "maturity": None,
            "underlying_isin": None,
            "strike": None,
            "expiry": None,
            "option_type": None,
            "base_currency": None,
            "quote_currency": None,
        }

    countries = ref.INSTRUMENT_COUNTRIES
    cw = np.array([6, 3, 2, 2, 1, 1.5, 2.5, 1, 1, 1, 1, 1, 0.5])
    cw = cw / cw.sum()
    for _ in range(n_eq):
        c = countries[int(rng.choice(len(countries), p=cw))]
        words = rng.integers(0, len(ref.MERCHANT_WORDS), size=2)
        sector = ref.SECTORS[int(rng.integers(len(ref.SECTORS)))]
        name = (
            f"{ref.MERCHANT_WORDS[words[0]]} {ref.MERCHANT_WORDS[words[1]]} "
            f"{_SUFFIX[int(rng.integers(len(_SUFFIX)))]}"
        )
        out.append(base("equity", c, name, sector))
    equities = list(out)
    for _ in range(n_bond):
        c = countries[int(rng.choice(len(countries), p=cw))]
        coupon = round(float(rng.uniform(0.25, 7.0)), 3)
        years = int(rng.integers(1, 31))
        maturity = dt.date(day.year + years, int(rng.integers(1, 13)), 15)
        issuer = "Treasury" if rng.random() < 0.4 else equities[int(rng.integers(n_eq))]["name"]
        rec = base("bond", c, f"{issuer} {coupon:.3f} {maturity.year}", None)
        rec.update(coupon=f"{coupon:.3f}", maturity=maturity.isoformat())
        out.append(rec)
    for _ in range(n_fx):
        quote = _FX_CCYS[int(rng.integers(len(_FX_CCYS)))]
        months = (1, 3, 6, 12)[int(rng.integers(4))]
        rec = base("fx", "GB", f"EUR/{quote} FWD {months}M", None)
        rec.update(currency=quote, base_currency="EUR", quote_currency=quote)
        out.append(rec)
    for _ in range(n_opt):
        under = equities[int(rng.integers(n_eq))]
        expiry = day + dt.timedelta(days=int(rng.integers(30, 540)))
        kind = "call" if rng.random() < 0.5 else "put"
        rec = base(
            "option",
            under["country"],
            f"{under['name']} {expiry:%b%y} {kind.upper()}",
            under["sector"],
        )
        rec.update(underlying_isin=under["isin"], expiry=expiry.isoformat(), option_type=kind)
        rec["moneyness"] = float(rng.uniform(0.8, 1.2))
        out.append(rec)
    return out


def make_counterparties(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``n`` counterparties with valid LEIs (LOU prefix, ``00``, 12 characters, check digits)."""
    out = []
    chars = _ALNUM[rng.integers(0, 36, size=(n, 12))]
    for i in range(n):
        lou = _LOUS[int(rng.integers(len(_LOUS)))]
        words = rng.integers(0, len(ref.MERCHANT_WORDS), size=2)
        out.append(
            {
                "lei": ck.make_lei(f"{lou}00{''.join(chars[i])}"),
                "name": f"{ref.MERCHANT_WORDS[words[0]]} {ref.MERCHANT_WORDS[words[1]]} "
                f"{_CP_SUFFIX[int(rng.integers(len(_CP_SUFFIX)))]}",
                "country": _CP_COUNTRIES[int(rng.integers(len(_CP_COUNTRIES)))],
                "type": _CP_TYPES[int(rng.integers(len(_CP_TYPES)))],
            }
        )
    return out


def desks_for(n_desks: int) -> tuple[str, ...]:
    """The first ``n_desks`` desks; asset classes without a desk go to the last one."""
    return ref.DESKS[:n_desks]


def desk_of(asset: str, desks: tuple[str, ...]) -> tuple[str, ...]:
    """Desks that trade ``asset``."""
    found = tuple(d for d in desks if asset in ref.DESK_ASSETS[d])
    return found or (desks[-1],)


def initial_positions(
    instruments: list[dict[str, Any]], desks: tuple[str, ...], rng: np.random.Generator
) -> dict[tuple[str, str], int]:
    """Opening holdings: each desk holds most of the instruments it trades."""
    pos: dict[tuple[str, str], int] = {}
    for inst in instruments:
        for desk in desk_of(inst["asset_class"], desks):
            if rng.random() < 0.7:
                pos[(desk, inst["isin"])] = int(_size(inst["asset_class"], rng)) * (
                    1 if rng.random() < 0.8 else -1
                )
    return pos


def _size(asset: str, rng: np.random.Generator) -> int:
    lo, hi = {
        "equity": (100, 20_000),
        "bond": (10_000, 5_000_000),
        "fx": (100_000, 10_000_000),
        "option": (1, 500),
    }[asset]
    return int(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def day_trades(
    day: dt.date,
    n: int,
    instruments: list[dict[str, Any]],
    closes: dict[str, float],
    counterparties: list[dict[str, Any]],
    desks: tuple[str, ...],
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """``n`` trades executed between 07:00 and 21:00 UTC, priced near the day's close."""
    us = np.sort(rng.integers(7 * 3600 * 10**6, 21 * 3600 * 10**6, size=n))
    pick = rng.integers(0, len(instruments), size=n)
    out = []
    for k in range(n):
        inst = instruments[pick[k]]
        asset = inst["asset_class"]
        options = desk_of(asset, desks)
        desk = options[int(rng.integers(len(options)))]
        mics = ref.MICS.get(inst["country"], ref.OTC_VENUES)
        venue = mics[int(rng.integers(len(mics)))] if asset == "equity" else "XOFF"
        price = closes[inst["isin"]] * float(np.exp(rng.normal(0, 0.002)))
        sec, micro = divmod(int(us[k]), 10**6)
        cp = counterparties[int(rng.integers(len(counterparties)))]
        out.append(
            {
                "trade_id": f"TR{day:%Y%m%d}{k + 1:06d}",
                "isin": inst["isin"],
                "counterparty_lei": cp["lei"],
                "venue": venue,
                "execution_ts": f"{day}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
                f".{micro:06d}Z",
                "side": "BUY" if rng.random() < 0.5 else "SELL",
                "price": f"{max(price, 0.000001):.6f}",
                "quantity": _size(asset, rng) // 10 + 1,
                "currency": inst["currency"],
                "trader": f"{desk}-T{int(rng.integers(1, 9)):02d}",
                "desk": desk,
            }
        )
    return out


def apply_trades(pos: dict[tuple[str, str], int], trades: list[dict[str, Any]]) -> None:
    """Move positions by the trades' signed quantities."""
    for t in trades:
        key = (t["desk"], t["isin"])
        sign = 1 if t["side"] == "BUY" else -1
        pos[key] = pos.get(key, 0) + sign * int(t["quantity"])
