"""``dim_date`` and the per-country business calendars (``dim_business_calendar``).

Holidays come from the ``holidays`` package when it is installed; otherwise from a small
fixed-rule calendar (:data:`FIXED_HOLIDAYS` plus the Easter-based days of :data:`EASTER_HOLIDAYS`)
that covers each country's main public holidays. Lunar and Islamic holidays are not in the
fixed-rule calendar. Weekends are Saturday-Sunday except where :data:`FRI_SAT_WEEKEND` says.
"""

from __future__ import annotations

import calendar
import datetime as dt
from functools import lru_cache

import pyarrow as pa

from ray_platform.generator.reference import COUNTRY_CODES
from ray_platform.warehouse.model import DIM_BUSINESS_CALENDAR, DIM_DATE, date_key

FIRST_DAY, LAST_DAY = dt.date(2020, 1, 1), dt.date(2030, 12, 31)
"""The range ``dim_date`` covers."""
FRI_SAT_WEEKEND = frozenset({"SA", "QA", "EG", "IL"})
"""Countries whose weekend is Friday and Saturday (the UAE moved to Sat-Sun in 2022)."""

_COMMON = {(1, 1): "New Year's Day", (12, 25): "Christmas Day"}
_NO_CHRISTMAS = {
    "AE",
    "SA",
    "QA",
    "IL",
    "EG",
    "MA",
    "TR",
    "JP",
    "CN",
    "TW",
    "TH",
    "IN",
    "PK",
    "ID",
    "MY",
    "VN",
    "KR",
    "HK",
    "SG",
}
FIXED_HOLIDAYS: dict[str, dict[tuple[int, int], str]] = {
    "US": {(7, 4): "Independence Day", (11, 11): "Veterans Day", (6, 19): "Juneteenth"},
    "CA": {(7, 1): "Canada Day", (12, 26): "Boxing Day"},
    "MX": {(9, 16): "Independence Day"},
    "BR": {(4, 21): "Tiradentes", (9, 7): "Independence Day", (11, 15): "Republic Day"},
    "AR": {(5, 25): "May Revolution", (7, 9): "Independence Day"},
    "CL": {(9, 18): "Independence Day", (9, 19): "Army Day"},
    "CO": {(7, 20): "Independence Day", (8, 7): "Battle of Boyaca"},
    "PE": {(7, 28): "Independence Day", (7, 29): "Independence Day (2)"},
    "GB": {(12, 26): "Boxing Day"},
    "DE": {(5, 1): "Labour Day", (10, 3): "German Unity Day", (12, 26): "St Stephen's Day"},
    "FR": {
        (5, 1): "Labour Day",
        (5, 8): "Victory Day",
        (7, 14): "Bastille Day",
        (8, 15): "Assumption",
        (11, 1): "All Saints",
        (11, 11): "Armistice Day",
    },
    "IT": {
        (4, 25): "Liberation Day",
        (6, 2): "Republic Day",
        (8, 15): "Ferragosto",
        (12, 26): "St Stephen's Day",
    },
    "ES": {(10, 12): "National Day", (12, 6): "Constitution Day", (12, 8): "Immaculate Conception"},
    "NL": {(4, 27): "King's Day", (12, 26): "Second Christmas Day"},
    "BE": {(7, 21): "National Day", (11, 1): "All Saints"},
    "LU": {(6, 23): "National Day"},
    "IE": {(3, 17): "St Patrick's Day", (12, 26): "St Stephen's Day"},
    "PT": {(4, 25): "Freedom Day", (6, 10): "Portugal Day", (10, 5): "Republic Day"},
    "AT": {(10, 26): "National Day", (12, 8): "Immaculate Conception"},
    "CH": {(8, 1): "Swiss National Day", (12, 26): "St Stephen's Day"},
    "SE": {(6, 6): "National Day", (12, 26): "Boxing Day"},
    "NO": {(5, 17): "Constitution Day", (12, 26): "Boxing Day"},
    "DK": {(6, 5): "Constitution Day", (12, 26): "Second Christmas Day"},
    "FI": {(12, 6): "Independence Day", (12, 26): "St Stephen's Day"},
    "PL": {(5, 3): "Constitution Day", (11, 11): "Independence Day"},
    "CZ": {(10, 28): "Independence Day", (11, 17): "Freedom Day"},
    "HU": {(3, 15): "National Day", (8, 20): "St Stephen's Day", (10, 23): "Republic Day"},
    "RO": {(12, 1): "National Day"},
    "GR": {(3, 25): "Independence Day", (10, 28): "Ochi Day"},
    "TR": {(4, 23): "National Sovereignty Day", (10, 29): "Republic Day"},
    "AE": {(12, 2): "National Day"},
    "SA": {(9, 23): "National Day", (2, 22): "Founding Day"},
    "QA": {(12, 18): "National Day"},
    "IL": {(5, 14): "Independence Day (approx.)"},
    "ZA": {(3, 21): "Human Rights Day", (4, 27): "Freedom Day", (12, 16): "Day of Reconciliation"},
    "NG": {(10, 1): "Independence Day", (6, 12): "Democracy Day"},
    "KE": {(6, 1): "Madaraka Day", (12, 12): "Jamhuri Day"},
    "EG": {(7, 23): "Revolution Day", (10, 6): "Armed Forces Day"},
    "MA": {(7, 30): "Throne Day", (11, 18): "Independence Day"},
    "JP": {(2, 11): "National Foundation Day", (5, 3): "Constitution Day", (11, 3): "Culture Day"},
    "CN": {(10, 1): "National Day", (5, 1): "Labour Day"},
    "HK": {(7, 1): "HKSAR Establishment Day", (10, 1): "National Day"},
    "SG": {(8, 9): "National Day", (5, 1): "Labour Day"},
    "AU": {(1, 26): "Australia Day", (4, 25): "Anzac Day", (12, 26): "Boxing Day"},
    "NZ": {(2, 6): "Waitangi Day", (4, 25): "Anzac Day", (12, 26): "Boxing Day"},
    "IN": {(1, 26): "Republic Day", (8, 15): "Independence Day", (10, 2): "Gandhi Jayanti"},
    "KR": {
        (3, 1): "Independence Movement Day",
        (8, 15): "Liberation Day",
        (10, 3): "Foundation Day",
    },
    "TW": {(10, 10): "National Day"},
    "TH": {(4, 6): "Chakri Day", (12, 5): "King Bhumibol Day"},
    "MY": {(8, 31): "National Day"},
    "ID": {(8, 17): "Independence Day"},
    "PH": {(6, 12): "Independence Day", (12, 30): "Rizal Day"},
    "VN": {(9, 2): "National Day", (4, 30): "Reunification Day"},
    "PK": {(3, 23): "Pakistan Day", (8, 14): "Independence Day"},
}
"""Fixed-date national holidays per country (besides New Year and Christmas where observed)."""
_EASTER_COUNTRIES = (
    "GB DE FR IT ES NL BE LU IE PT AT CH SE NO DK FI PL CZ HU "
    "AU NZ ZA CA BR AR CL CO PE MX PH KE NG"
)
EASTER_HOLIDAYS: dict[str, dict[int, str]] = {
    c: {-2: "Good Friday", 1: "Easter Monday"} for c in _EASTER_COUNTRIES.split()
}
"""Holidays at a fixed offset from Easter Sunday (Western computus)."""


def easter(year: int) -> dt.date:
    """Western Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=256)
def holidays_for(country: str, year: int) -> dict[dt.date, str]:
    """Public holidays of ``country`` in ``year``: the ``holidays`` package, else fixed rules."""
    try:
        import holidays  # type: ignore[import-not-found]

        return {d: str(n) for d, n in holidays.country_holidays(country, years=year).items()}
    except (ImportError, NotImplementedError, KeyError):
        pass
    out: dict[dt.date, str] = {}
    common = {k: v for k, v in _COMMON.items() if k != (12, 25) or country not in _NO_CHRISTMAS}
    for (m, d), name in {**common, **FIXED_HOLIDAYS.get(country, {})}.items():
        out[dt.date(year, m, d)] = name
    sunday = easter(year)
    for offset, name in EASTER_HOLIDAYS.get(country, {}).items():
        out[sunday + dt.timedelta(days=offset)] = name
    return out


def is_weekend(country: str, day: dt.date) -> bool:
    """Whether ``day`` falls on ``country``'s weekend."""
    weekend = (4, 5) if country in FRI_SAT_WEEKEND else (5, 6)
    return day.weekday() in weekend


def is_business_day(country: str, day: dt.date) -> bool:
    """Neither a weekend day nor a public holiday in ``country``."""
    return not is_weekend(country, day) and day not in holidays_for(country, day.year)


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def dim_date(first: dt.date = FIRST_DAY, last: dt.date = LAST_DAY) -> pa.Table:
    """One row per date from ``first`` to ``last``: the date hierarchy."""
    rows = []
    for d in _days(first, last):
        q = (d.month - 1) // 3 + 1
        month_end = d.day == calendar.monthrange(d.year, d.month)[1]
        rows.append(
            {
                "date_key": date_key(d),
                "date": d,
                "year": d.year,
                "quarter": q,
                "month": d.month,
                "month_name": calendar.month_name[d.month],
                "day_of_month": d.day,
                "day_of_week": d.isoweekday(),
                "day_name": calendar.day_name[d.weekday()],
                "iso_week": d.isocalendar()[1],
                "year_month": f"{d.year}-{d.month:02d}",
                "year_quarter": f"{d.year}-Q{q}",
                "is_month_end": month_end,
                "is_quarter_end": month_end and d.month % 3 == 0,
                "is_year_end": (d.month, d.day) == (12, 31),
            }
        )
    return pa.Table.from_pylist(rows, schema=DIM_DATE.schema)


def business_calendar(
    first: dt.date = FIRST_DAY, last: dt.date = LAST_DAY, countries: tuple[str, ...] = COUNTRY_CODES
) -> pa.Table:
    """One row per date and country: weekend, holiday (with its name) and business day."""
    days = _days(first, last)
    keys = [date_key(d) for d in days]
    weekdays = [d.weekday() for d in days]
    years = range(first.year, last.year + 1)
    parts = []
    for country in countries:
        names: dict[dt.date, str] = {}
        for y in years:
            names.update(holidays_for(country, y))
        weekend = (4, 5) if country in FRI_SAT_WEEKEND else (5, 6)
        is_we = [w in weekend for w in weekdays]
        hol = [names.get(d) for d in days]
        parts.append(
            pa.table(
                {
                    "date_key": keys,
                    "date": days,
                    "country": [country] * len(days),
                    "is_weekend": is_we,
                    "is_holiday": [h is not None for h in hol],
                    "holiday_name": hol,
                    "is_business_day": [not (w or h) for w, h in zip(is_we, hol, strict=True)],
                },
                schema=DIM_BUSINESS_CALENDAR.schema,
            )
        )
    return pa.concat_tables(parts)
