"""Typed, standardised silver columns from validated text columns.

Timestamps become ``timestamp[us, UTC]``; decimals ``decimal128(18, dp)``; money columns also
get integer minor units (``<col>_minor``: the value times ``10**dp``, exact) and an amount in
the reporting currency (``<col>_reporting``) from the day's FX rates. When the event date has
no rate (weekends, holidays) the latest earlier rate is used and counted; with no earlier rate
at all the reporting amount is NULL and counted, never zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.model import Column, TableContract

UTC_US = pa.timestamp("us", tz="UTC")
TS_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INT_RE = r"^-?[0-9]{1,18}$"


def dec_re(dp: int) -> str:
    """The text form of a decimal with exactly ``dp`` places."""
    return rf"^-?[0-9]{{1,{18 - dp}}}\.[0-9]{{{dp}}}$" if dp else INT_RE


def _match(arr: pa.Array, regex: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(arr, regex), False)


def parse_date(arr: pa.Array) -> pa.Array:
    """``YYYY-MM-DD`` to ``date32``; anything else (including 2025-13-45) to null."""
    ok = _match(arr, DATE_RE)
    ts = pc.strptime(pc.if_else(ok, arr, None), "%Y-%m-%d", "s", error_is_null=True)
    return pc.cast(ts, pa.date32())


@dataclass
class ParsedTs:
    """A timestamp column split into its UTC instant and its local wall clock."""

    utc: pa.Array  # timestamp[us, UTC], null where the text is invalid
    local: pa.Array  # timestamp[us] wall clock as written
    offset_min: pa.Array  # int32 minutes east of UTC


_last_ts: list[tuple[pa.Array, ParsedTs]] = []


def parse_ts(arr: pa.Array) -> ParsedTs:
    """ISO 8601 with ``Z`` or ``+HH:MM`` and optional fraction; invalid text gives null."""
    # Validation and standardisation each ask twice for the same array; parse it once.
    if _last_ts and _last_ts[0][0] is arr:
        return _last_ts[0][1]
    parsed = _parse_ts(arr)
    _last_ts[:] = [(arr, parsed)]
    return parsed


def _parse_ts(arr: pa.Array) -> ParsedTs:
    ok = _match(arr, TS_RE)
    text = pc.if_else(ok, arr, None)
    local = pc.strptime(
        pc.utf8_slice_codeunits(text, 0, 19), "%Y-%m-%dT%H:%M:%S", "us", error_is_null=True
    )
    frac = pc.extract_regex(text, r"\.(?P<f>[0-9]+)")
    frac_us = pc.cast(
        pc.utf8_slice_codeunits(pc.utf8_rpad(pc.struct_field(frac, [0]), 6, "0"), 0, 6),
        pa.int64(),
    )
    local = pc.add(pc.cast(local, pa.int64()), pc.fill_null(frac_us, 0))
    off = pc.utf8_slice_codeunits(text, -6)
    zulu = pc.ends_with(text, "Z")
    sign = pc.if_else(pc.starts_with(off, "-"), -1, 1)
    hours = pc.cast(pc.utf8_slice_codeunits(pc.if_else(zulu, "+00:00", off), 1, 3), pa.int32())
    mins = pc.cast(pc.utf8_slice_codeunits(pc.if_else(zulu, "+00:00", off), 4, 6), pa.int32())
    offset = pc.multiply(pc.if_else(zulu, 1, sign), pc.add(pc.multiply(hours, 60), mins))
    utc = pc.subtract(local, pc.multiply(pc.cast(offset, pa.int64()), 60_000_000))
    return ParsedTs(
        pc.cast(utc, UTC_US), pc.cast(local, pa.timestamp("us")), pc.cast(offset, pa.int32())
    )


def parse_epoch_ms(arr: pa.Array) -> pa.Array:
    """Milliseconds since the epoch to ``timestamp[us, UTC]`` (null where not an integer)."""
    ms = pc.cast(pc.if_else(_match(arr, INT_RE), arr, None), pa.int64())
    return pc.cast(pc.multiply(ms, 1000), UTC_US)


def typed(col: Column, arr: pa.Array) -> pa.Array:
    """The silver type of a validated text column (tokenisation aside)."""
    if col.type == "int":
        return pc.cast(arr, pa.int64())
    if col.type == "epoch_ms":
        return parse_epoch_ms(arr)
    if col.type == "dec":
        return pc.cast(arr, pa.decimal128(18, col.dp))
    if col.type == "date":
        return parse_date(arr)
    if col.type == "ts":
        return parse_ts(arr).utc
    return arr


def minor_units(arr: pa.Array) -> pa.Array:
    """Exact integer minor units of a decimal text column (``12.34`` -> 1234)."""
    return pc.cast(pc.replace_substring(arr, ".", "", max_replacements=1), pa.int64())


@dataclass
class FxTable:
    """Units of each currency per 1 unit of the FX base, by date (sorted per currency)."""

    rates: dict[str, tuple[np.ndarray, np.ndarray]]  # currency -> (ordinal days, rates)
    base: str = "EUR"

    @classmethod
    def from_table(cls, table: pa.Table | None, base: str = "EUR") -> FxTable:
        """From a silver ``fx_rates`` table (date, base, quote, rate)."""
        rates: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if table is not None and table.num_rows:
            df = table.select(["date", "quote", "rate"]).to_pandas()
            df["d"] = pd.to_datetime(df["date"]).values.astype("datetime64[D]").astype(np.int64)
            df["r"] = df["rate"].astype(float)
            for quote, g in df.sort_values("d").groupby("quote"):
                rates[str(quote)] = (g["d"].to_numpy(), g["r"].to_numpy())
        return cls(rates, base)

    def rate(self, currency: str, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rate on or before each day (NaN where none), and whether it was an earlier day."""
        if currency == self.base:
            return np.ones(len(days)), np.zeros(len(days), bool)
        if currency not in self.rates:
            return np.full(len(days), np.nan), np.zeros(len(days), bool)
        d, r = self.rates[currency]
        i = np.searchsorted(d, days, side="right") - 1
        found = i >= 0
        out = np.where(found, r[np.clip(i, 0, None)], np.nan)
        return out, found & (d[np.clip(i, 0, None)] != days)


def reporting_amount(
    minor: pa.Array, currency: pa.Array, event_day: pa.Array, fx: FxTable, target: str, dp: int
) -> tuple[pa.Array, int, int]:
    """Amount in ``target`` currency; returns it, the earlier-rate count and the missing count."""
    n = len(minor)
    value = pc.fill_null(minor, 0).to_numpy(zero_copy_only=False) / 10**dp
    days = pc.cast(event_day, pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    # Integer codes per currency: a mask per currency compares ints, not Python strings.
    encoded = pc.dictionary_encode(currency)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    tgt_rate, tgt_old = fx.rate(target, days)
    src_rate = np.full(n, np.nan)
    src_old = np.zeros(n, bool)
    for i, code in enumerate(encoded.dictionary.to_pylist()):
        m = codes == i
        src_rate[m], src_old[m] = fx.rate(str(code), days[m])
    out = np.round(value / src_rate * tgt_rate, dp)
    missing = np.isnan(out)
    result = pc.cast(pa.array(np.where(missing, 0, out), mask=missing), pa.decimal128(18, dp))
    return result, int(((src_old | tgt_old) & ~missing).sum()), int(missing.sum())


def partition_columns(contract: TableContract, event: pa.Array) -> dict[str, pa.Array]:
    """``year``/``month``/``day`` (and ``hour``) of the event's UTC time or date."""
    if pa.types.is_date(event.type):
        event = pc.cast(pc.cast(event, pa.timestamp("s")), pa.timestamp("s", tz="UTC"))
    parts = {
        "year": (pc.year, pa.int16()),
        "month": (pc.month, pa.int8()),
        "day": (pc.day, pa.int8()),
        "hour": (pc.hour, pa.int8()),
    }
    return {p: pc.cast(parts[p][0](event), parts[p][1]) for p in contract.partition_by}


def payload_hash(table: pa.Table, paths: list[str]) -> pa.Array:
    """A 64-bit hash of a record's source values, to recognise an identical redelivery."""
    cols = [pc.fill_null(table.column(p), "\x00") for p in paths]
    joined = pc.binary_join_element_wise(*cols, "\x1f").to_numpy(zero_copy_only=False)
    # categorize=False gives the same hashes without factorising: payloads are nearly unique.
    return pa.array(pd.util.hash_array(joined.astype(object), categorize=False).view(np.int64))


def utc_day(event: pa.Array) -> pa.Array:
    """The UTC calendar date of a timestamp or date column."""
    return event if pa.types.is_date(event.type) else pc.cast(event, pa.date32())


def as_date(value: str | dt.date) -> dt.date:
    """A ``date`` from ISO text or a date."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
