"""Apply a table contract to parsed text records: the first failing rule of each record.

Rules run column by column in contract order, and per column in this order: ``missing_required``,
``wrong_type``, ``invalid_enum``/``invalid_currency``, check digits (``invalid_iban``,
``invalid_isin``, ``invalid_lei``, ``invalid_luhn``), ``negative_amount``, ``absurd_amount``,
``future_timestamp``; then ``unknown_foreign_key`` and last ``duplicate_id``. Every rule is one
vectorised Arrow or numpy operation over the whole column; only the reasons of the (few)
failing records are formatted in Python.

``future_timestamp`` means later than the end of the file's business date: a date after it, a
timestamp whose wall clock (in its own offset) falls on a later day, an epoch after midnight UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.checks import CHECKS
from ray_platform.contracts.model import Column, TableContract
from ray_platform.lake import standardise as st

_CHECK_RULE = {
    "iban": "invalid_iban",
    "isin": "invalid_isin",
    "lei": "invalid_lei",
    "luhn": "invalid_luhn",
}


@dataclass
class Failure:
    """Why one record was rejected."""

    record: int
    rule: str
    field: str | None
    reason: str


class _Verdicts:
    """The first failing rule per row."""

    def __init__(self, n: int) -> None:
        self.failed = np.zeros(n, dtype=bool)
        self.rule = np.full(n, -1, dtype=np.int32)
        self.rules: list[tuple[str, str | None, str]] = []

    def add(self, mask: np.ndarray, rule: str, field: str | None, reason: str) -> None:
        new = mask & ~self.failed
        if new.any():
            self.rules.append((rule, field, reason))
            self.rule[new] = len(self.rules) - 1
            self.failed |= new


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False)


def _text(table: pa.Table, col: Column) -> pa.Array:
    arr = table.column(col.path).combine_chunks()
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(arr), ""), None, arr)


def _type_ok(col: Column, arr: pa.Array) -> pa.Array:
    if col.type in ("int", "epoch_ms"):
        return pc.match_substring_regex(arr, st.INT_RE)
    if col.type == "dec":
        return pc.match_substring_regex(arr, st.dec_re(col.dp))
    if col.type == "date":
        return pc.is_valid(st.parse_date(arr))
    if col.type == "ts":
        return pc.is_valid(st.parse_ts(arr).utc)
    return pc.is_valid(arr)


def _future(col: Column, arr: pa.Array, business_date: dt.date) -> pa.Array:
    end = dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time())
    if col.type == "date":
        return pc.greater(st.parse_date(arr), pa.scalar(business_date))
    if col.type == "ts":
        return pc.greater_equal(st.parse_ts(arr).local, pa.scalar(end, pa.timestamp("us")))
    return pc.greater_equal(
        st.parse_epoch_ms(arr), pa.scalar(end.replace(tzinfo=dt.UTC), st.UTC_US)
    )


def _required_mask(contract: TableContract, table: pa.Table, col: Column) -> np.ndarray:
    if contract.format == "cdc" and "." in col.path:
        # A delete carries no after image; every other event must carry a full one.
        return _np(pc.not_equal(table.column("op"), "d"))
    return np.full(table.num_rows, col.required)


def check_columns(
    contract: TableContract, table: pa.Table, business_date: dt.date, v: _Verdicts
) -> None:
    """Every per-column rule, in contract order."""
    for col in contract.columns:
        arr = _text(table, col)
        present = _np(pc.is_valid(arr))
        v.add(~present & _required_mask(contract, table, col), "missing_required", col.name,
              "required value is missing")  # fmt: skip
        if not present.any():
            continue
        type_ok = _np(_type_ok(col, arr))
        v.add(present & ~type_ok, "wrong_type", col.name, f"not a valid {col.type}")
        ok = present & type_ok
        if col.values:
            rule = "invalid_currency" if col.type == "currency" else "invalid_enum"
            reason = "not an ISO 4217 code" if col.type == "currency" else "not an allowed value"
            allowed = _np(pc.is_in(arr, pa.array(col.values, pa.string())))
            v.add(ok & ~allowed, rule, col.name, reason)
        if col.check:
            v.add(ok & ~CHECKS[col.check](arr), _CHECK_RULE[col.check], col.name,
                  "check digits do not match")  # fmt: skip
        if col.min is not None or col.max is not None:
            num = pc.cast(pc.if_else(pa.array(ok), arr, "0"), pa.float64())
            if col.min is not None:
                v.add(ok & _np(pc.less(num, col.min)), "negative_amount", col.name,
                      "value must not be negative")  # fmt: skip
            if col.max is not None:
                v.add(ok & _np(pc.greater(num, col.max)), "absurd_amount", col.name,
                      f"value exceeds {col.max:g}")  # fmt: skip
        if col.not_future:
            v.add(ok & _np(_future(col, arr, business_date)), "future_timestamp", col.name,
                  f"lies after the business date {business_date}")  # fmt: skip


def check_foreign_keys(
    contract: TableContract, table: pa.Table, known: Mapping[str, pa.Array], v: _Verdicts
) -> None:
    """``unknown_foreign_key`` where a reference is not among the known keys."""
    for col in contract.columns:
        if not col.fk:
            continue
        keys = known.get(col.fk, pa.array([], pa.string()))
        if col.fk.split(".")[0] == contract.name:  # a self-reference may point within the file
            mine = table.column(col.fk.split(".")[1]).filter(pa.array(~v.failed))
            keys = pa.concat_arrays([keys.cast(pa.string()), mine.combine_chunks()])
        arr = _text(table, col)
        unknown = _np(pc.is_valid(arr)) & ~_np(pc.is_in(arr, keys))
        v.add(unknown, "unknown_foreign_key", col.name, f"no {col.fk} with this value")


def key_text(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """The business key as one string column (parts joined with a unit separator)."""
    cols = [pc.fill_null(table.column(k).combine_chunks().cast(pa.string()), "") for k in key]
    return cols[0] if len(cols) == 1 else pc.binary_join_element_wise(*cols, "\x1f")


def key_codes(keys: pa.Array) -> np.ndarray:
    """A code per row, equal for equal keys, numbered in order of first appearance."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    return (
        pc.dictionary_encode(keys, null_encoding="encode")
        .indices.to_numpy(zero_copy_only=False)
        .astype(np.int64)
    )


def first_occurrence(keys: pa.Array) -> np.ndarray:
    """Whether each row holds the first occurrence of its key (a hash, not a string sort)."""
    return first_occurrence_of(key_codes(keys))


def first_occurrence_of(codes: np.ndarray) -> np.ndarray:
    """:func:`first_occurrence` from :func:`key_codes`."""
    # Codes are handed out in order of first appearance: a row is first when its code is new.
    seen = np.maximum.accumulate(np.concatenate([[-1], codes[:-1]])) if len(codes) else codes
    return codes > seen


def check_duplicates(contract: TableContract, table: pa.Table, v: _Verdicts) -> None:
    """``duplicate_id`` for a business key repeated after its first valid occurrence."""
    if not contract.business_key or not table.num_rows:
        return
    idx = np.flatnonzero(~v.failed)
    keys = key_text(table, contract.business_key).take(pa.array(idx, pa.int64()))
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[idx[~first_occurrence(keys)]] = True
    v.add(mask, "duplicate_id", contract.business_key[0], "business key already used above")


def validate(
    contract: TableContract,
    table: pa.Table,
    business_date: dt.date,
    known: Mapping[str, pa.Array] | None = None,
) -> tuple[pa.Table, list[Failure]]:
    """Split parsed records into those that pass every rule and the failures.

    ``table`` holds the file's records in record order (``_record`` ascending); ``known`` maps
    ``"table.column"`` to the keys a foreign key may point at.
    """
    v = _Verdicts(table.num_rows)
    if table.num_rows:
        check_columns(contract, table, business_date, v)
        check_foreign_keys(contract, table, known or {}, v)
        check_duplicates(contract, table, v)
    records = table.column("_record").to_numpy()
    failures = []
    for i in np.flatnonzero(v.failed):
        rule, field, reason = v.rules[v.rule[i]]
        col = contract.column(field) if field else None
        value = table.column(col.path)[int(i)].as_py() if col else None
        failures.append(Failure(int(records[i]), rule, field, f"{value!r}: {reason}"))
    return table.filter(pa.array(~v.failed)), failures
