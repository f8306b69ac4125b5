"""Bad record injection: extra records that break exactly one documented rule each.

Bad records are *added* to a file, never substituted for good ones, so every good record and
every reference between good records stays intact; a bad record is a corrupted copy of a good
record of the same file (a *template*), with a fresh id that nothing references. Each one is
listed in ``_manifest/bad_records.jsonl`` with its 1-based data line (CSV without the header,
JSON lines) or 1-based element index (XML), its id, the kind, the field and a reason.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ray_platform.generator import checksums as ck
from ray_platform.generator.schema import FileSpec

_NUMERIC = ("int", "epoch_ms", "dec", "date", "ts")
_WRONG = {
    "int": ("N/A", "twelve", "1.5e"),
    "epoch_ms": ("N/A", "yesterday"),
    "dec": ("N/A", "12;50", "1.2.3", "abc"),  # no commas: they would break CSV rows
    "date": ("31/12/2025", "2025-13-45", "yesterday"),
    "ts": ("2026-13-01T25:00:00Z", "01/02/2026 10:00", "N/A"),
}
_BAD_ENUM = ("UNKNOWN", "n/a", "?", "other_value")
_BAD_CURRENCY = ("EURO", "US$", "XYZ", "eur", "ZZZ")


def get_path(record: dict[str, Any], path: str) -> Any:
    """Value at a dotted ``path`` of a nested record (None where any level is missing)."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    """Set the value at a dotted ``path``; the parent objects must exist."""
    *parents, last = path.split(".")
    target = record
    for part in parents:
        target = target[part]
    target[last] = value


@dataclass
class BadRecord:
    """One injected record before rendering."""

    record: dict[str, Any]
    after: int  # index of the good record it follows; -1 for the top of the file
    kind: str
    field: str | None
    reason: str
    malformed: bool = False


def _fmt_dec(value: float, dp: int) -> str:
    return f"{value:.{dp}f}"


@dataclass
class Injector:
    """Decides, per file, which bad records to add; ids it invents never collide."""

    rate: float
    counter: int = 0
    _unknown: dict[str, Any] = field(default_factory=dict)

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def fresh_id(self, spec: FileSpec, day: str) -> str:
        """An id in a range good records never use (see ``docs/sources.md``)."""
        n = self._next()
        ymd = day.replace("-", "")
        return {
            "customers.csv": f"C7{n:07d}",
            "accounts.csv": f"A7{n:08d}",
            "cards.jsonl": f"CRD7{n:08d}",
            "card_transactions.jsonl": f"T{ymd}9{n:06d}",
            "interactions.jsonl": f"I{ymd}9{n:05d}",
            "trades.xml": f"TR{ymd}9{n:05d}",
            "instruments.xml": ck.make_isin(f"XS8{n:08d}"),
            "counterparties.xml": ck.make_lei(f"999800{n:012d}"),
        }[spec.name]

    def unknown_ref(self, entity: str) -> str:
        """An id of ``entity`` that no file defines."""
        n = self._next()
        return {
            "customer": f"C8{n:07d}",
            "account": f"A8{n:08d}",
            "card": f"CRD8{n:08d}",
            "instrument": ck.make_isin(f"XS9{n:08d}"),
            "counterparty": ck.make_lei(f"999900{n:012d}"),
        }[entity]

    def count(self, n_good: int, rng: np.random.Generator) -> int:
        """How many bad records to add so they are about ``rate`` of the file's records."""
        if self.rate <= 0 or n_good == 0:
            return 0
        return int(rng.poisson(n_good * self.rate / (1.0 - self.rate)))

    def plan(
        self,
        spec: FileSpec,
        day: str,
        n_good: int,
        templates_for: Any,
        rng: np.random.Generator,
    ) -> list[BadRecord]:
        """Bad records for one file; ``templates_for(indices)`` returns good records as dicts."""
        n_bad = self.count(n_good, rng)
        if n_bad == 0:
            return []
        idx = rng.integers(0, n_good, size=n_bad)
        templates = templates_for(idx)
        out = []
        for t, template in zip(idx.tolist(), templates, strict=True):
            out.append(self._corrupt(spec, day, int(t), n_good, copy.deepcopy(template), rng))
        return out

    def _candidates(self, spec: FileSpec, rec: dict[str, Any]) -> dict[str, list[str]]:
        present = [f for f in spec.fields if get_path(rec, f.name) is not None]
        kinds: dict[str, list[str]] = {}

        def add(kind: str, name: str | None) -> None:
            kinds.setdefault(kind, []).append(name or "")

        if spec.fmt != "xml":
            add("malformed_row", None)
        if spec.id_field:
            add("duplicate_id", spec.id_field)
        for f in present:
            if f.required:
                add("missing_required", f.name)
            if f.type in _NUMERIC:
                add("wrong_type", f.name)
            if f.type == "enum" and f.name != "fraud_pattern":
                add("invalid_enum", f.name)
            if f.type == "currency":
                add("invalid_currency", f.name)
            check = {"iban": "invalid_iban", "isin": "invalid_isin", "lei": "invalid_lei"}
            if f.type in check:
                add(check[f.type], f.name)
            if f.type == "pan":
                add("invalid_luhn", f.name)
            if f.non_negative and f.type in ("int", "dec"):
                add("negative_amount", f.name)
            if f.max is not None:
                add("absurd_amount", f.name)
            if f.not_future:
                add("future_timestamp", f.name)
            if f.fk:
                add("unknown_foreign_key", f.name)
        return kinds

    def _corrupt(
        self,
        spec: FileSpec,
        day: str,
        t: int,
        n_good: int,
        rec: dict[str, Any],
        rng: np.random.Generator,
    ) -> BadRecord:
        if "is_fraud" in rec:  # a bad record is never a fraud label
            rec["is_fraud"], rec["fraud_pattern"] = 0, None
        kinds = self._candidates(spec, rec)
        kind = sorted(kinds)[int(rng.integers(len(kinds)))]
        names = kinds[kind]
        name = names[int(rng.integers(len(names)))] or None
        if kind == "duplicate_id":
            after = int(rng.integers(t, n_good))
            rid = rec[spec.id_field]
            return BadRecord(rec, after, kind, name, f"{name} {rid} already used above")
        after = int(rng.integers(-1, n_good))
        if spec.id_field:
            rec[spec.id_field] = self.fresh_id(spec, day)
        if kind == "malformed_row":
            return BadRecord(rec, after, kind, None, "record cannot be parsed", malformed=True)
        assert name is not None
        f = spec.field(name)
        old = get_path(rec, name)
        new, reason = self._mutate(kind, f.type, f.dp, f.max, old, day, f.fk, rng)
        set_path(rec, name, new)
        return BadRecord(rec, after, kind, name, reason)

    def _mutate(
        self,
        kind: str,
        ftype: str,
        dp: int,
        fmax: float | None,
        old: Any,
        day: str,
        fk: str | None,
        rng: np.random.Generator,
    ) -> tuple[Any, str]:
        pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
        if kind == "missing_required":
            return None, "required value is missing"
        if kind == "wrong_type":
            new = pick(_WRONG[ftype])
            return new, f"{new!r} is not a valid {ftype}"
        if kind == "invalid_enum":
            new = pick(_BAD_ENUM)
            return new, f"{new!r} is not an allowed value"
        if kind == "invalid_currency":
            new = pick(_BAD_CURRENCY)
            return new, f"{new!r} is not an ISO 4217 code"
        if kind in ("invalid_iban", "invalid_isin", "invalid_lei", "invalid_luhn"):
            return self._bad_check(kind, old, rng), "check digits do not match"
        if kind == "negative_amount":
            new = -int(rng.integers(1, 10_000)) if ftype == "int" else f"-{old}"
            return new, "value must not be negative"
        if kind == "absurd_amount":
            assert fmax is not None
            big = fmax * float(rng.uniform(10, 1000))
            new = int(big) if ftype == "int" else _fmt_dec(big, dp)
            return new, f"value exceeds {fmax:g}"
        if kind == "future_timestamp":
            days = int(rng.integers(30, 400))
            if ftype == "epoch_ms":
                return old + days * 86_400_000, "timestamp lies in the future"
            future = (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()
            return future + old[10:], "timestamp lies in the future"
        if kind == "unknown_foreign_key":
            assert fk is not None
            return self.unknown_ref(fk), f"no {fk} with this id exists"
        raise AssertionError(kind)

    @staticmethod
    def _bad_check(kind: str, old: str, rng: np.random.Generator) -> str:
        valid = {
            "invalid_iban": ck.is_valid_iban,
            "invalid_isin": ck.is_valid_isin,
            "invalid_lei": ck.is_valid_lei,
            "invalid_luhn": ck.is_valid_luhn,
        }[kind]
        while True:
            if kind == "invalid_iban":
                new = f"{old[:2]}{int(rng.integers(2, 99)):02d}{old[4:]}"
            elif kind == "invalid_lei":
                new = f"{old[:18]}{int(rng.integers(0, 100)):02d}"
            else:
                new = f"{old[:-1]}{int(rng.integers(0, 10))}"
            if not valid(new):
                return new
