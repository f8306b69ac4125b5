"""Generator tests on small banks: determinism, bad-record manifest, fraud, CDC, reference data.

The bad-record checker below is written from ``docs/sources.md`` and does not use the
generator's injection code: it reads every record of every file, decides good or bad by the
documented rules and compares the result with ``_manifest/bad_records.jsonl``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from ray_platform.generator import GeneratorConfig, generate_bank
from ray_platform.generator import checksums as ck
from ray_platform.generator import reference as ref
from ray_platform.generator import schema as sc

pytestmark = pytest.mark.unit

SMALL = {"customers": 300, "days": 3, "instruments": 40, "history_days": 30}


def _gen(root: Path, **kw: Any) -> Path:
    generate_bank(str(root), GeneratorConfig(**{**SMALL, **kw}))
    return root


@pytest.fixture(scope="module")
def bad_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # CDC and interactions are thin in a 300-customer bank: raise their rates so every feed
    # gets bad records.
    return _gen(
        tmp_path_factory.mktemp("bad"), bad_rate=0.08, change_rate=0.05, interaction_rate=0.1
    )


@pytest.fixture(scope="module")
def clean_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gen(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def big_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _gen(tmp_path_factory.mktemp("big"), customers=3000, days=4)


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(clean_bank: Path, tmp_path: Path) -> None:
    again = _hashes(_gen(tmp_path / "again"))
    assert again == _hashes(clean_bank)
    manifest = json.loads((clean_bank / "_manifest/run.json").read_text())
    for f in manifest["files"]:
        assert again[f["path"]] == f["sha256"]


def test_other_seed_other_bytes(clean_bank: Path, tmp_path: Path) -> None:
    other = _hashes(_gen(tmp_path / "other", seed=7))
    base = _hashes(clean_bank)
    data = [p for p in base if not p.startswith("_manifest")]
    assert all(other.get(p) != base[p] for p in data if "indicators" not in p)


# --- independent bad-record checker --------------------------------------------------------

_INT = re.compile(r"^-?[0-9]+$")
_DEC = re.compile(r"^-?[0-9]+\.[0-9]+$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TS = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_CHECKS = {
    "iban": ("invalid_iban", ck.is_valid_iban),
    "isin": ("invalid_isin", ck.is_valid_isin),
    "lei": ("invalid_lei", ck.is_valid_lei),
    "pan": ("invalid_luhn", ck.is_valid_luhn),
}


def _get(rec: dict[str, Any], path: str) -> Any:
    value: Any = rec
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _type_ok(ftype: str, value: Any, fmt: str) -> bool:
    if ftype in ("int", "epoch_ms"):
        if fmt == "jsonl":
            return isinstance(value, int) and not isinstance(value, bool)
        return bool(_INT.match(value))
    if not isinstance(value, str):
        return False
    if ftype == "dec":
        return bool(_DEC.match(value))
    try:
        if ftype == "date":
            return bool(_DATE.match(value)) and bool(dt.date.fromisoformat(value))
        if ftype == "ts":
            return bool(_TS.match(value)) and bool(dt.datetime.fromisoformat(value))
    except ValueError:
        return False
    return True


def _field_kind(f: sc.Field, value: Any, fmt: str, day: dt.date) -> str | None:
    """The documented rule ``value`` breaks, FK aside; None when it breaks none."""
    if value is None or value == "":
        return "missing_required" if f.required else None
    if not _type_ok(f.type, value, fmt):
        return "wrong_type"
    if f.type == "enum" and value not in f.values:
        return "invalid_enum"
    if f.type == "currency" and value not in ref.CURRENCIES:
        return "invalid_currency"
    if f.type in _CHECKS and not _CHECKS[f.type][1](value):
        return _CHECKS[f.type][0]
    if f.type in ("int", "dec"):
        number = float(value)
        if f.non_negative and number < 0:
            return "negative_amount"
        if f.max is not None and number > f.max:
            return "absurd_amount"
    if f.not_future:
        if f.type == "epoch_ms":
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
            if value >= end.timestamp() * 1000:
                return "future_timestamp"
        elif dt.date.fromisoformat(value[:10]) > day:
            return "future_timestamp"
    return None


def _records(root: Path, rel: str, spec: sc.FileSpec) -> list[tuple[int, Any]]:
    """(1-based line or element, parsed record or None when malformed)."""
    text = (root / rel).read_text()
    out: list[tuple[int, Any]] = []
    if spec.fmt == "csv":
        rows = list(csv.reader(text.splitlines()))
        header = rows[0]
        assert header == [f.name for f in spec.fields]
        for i, row in enumerate(rows[1:], 1):
            out.append(
                (i, dict(zip(header, row, strict=True)) if len(row) == len(header) else None)
            )
    elif spec.fmt == "jsonl":
        for i, line in enumerate(text.splitlines(), 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            out.append((i, rec if isinstance(rec, dict) else None))
    else:
        root_el = etree.fromstring(text.encode())
        for i, el in enumerate(root_el, 1):
            assert el.tag == spec.record_tag
            out.append((i, {child.tag: child.text for child in el}))
    return out


def _fields(spec: sc.FileSpec, rec: dict[str, Any]) -> list[sc.Field]:
    if spec is not sc.CUSTOMER_CHANGES:
        return list(spec.fields)
    op = rec.get("op")
    image = [f for f in spec.fields if f.name.startswith("after.")]
    heads = [f for f in spec.fields if not f.name.startswith("after.")]
    return heads + (image if op in ("c", "u") else [])


def check_bank(root: Path) -> tuple[set[tuple[Any, ...]], dict[str, list[Any]]]:
    """Every bad record found in the files, and the parsed good records per file."""
    manifest = json.loads((root / "_manifest/run.json").read_text())
    verdicts: dict[str, list[tuple[int, Any, str | None, str | None]]] = {}
    for entry in manifest["files"]:
        rel = entry["path"]
        source, day, name = rel.split("/")
        spec = sc.SPEC_BY_NAME[name]
        assert spec.source == source
        found = []
        for pos, rec in _records(root, rel, spec):
            if rec is None:
                found.append((pos, rec, "malformed_row", None))
                continue
            kind = None
            for f in _fields(spec, rec):
                kind = _field_kind(f, _get(rec, f.name), spec.fmt, dt.date.fromisoformat(day))
                if kind:
                    found.append((pos, rec, kind, f.name))
                    break
            if kind is None:
                found.append((pos, rec, None, None))
        verdicts[rel] = found
    # Entities that exist: ids of good records in the defining files.
    known: dict[str, set[str]] = {}
    for rel, found in verdicts.items():
        spec = sc.SPEC_BY_NAME[rel.rsplit("/", 1)[1]]
        if spec.defines:
            ids = {rec[spec.id_field] for _, rec, kind, _ in found if kind is None}
            known.setdefault(spec.defines, set()).update(ids)
    bad: set[tuple[Any, ...]] = set()
    good: dict[str, list[Any]] = {}
    for rel, found in verdicts.items():
        spec = sc.SPEC_BY_NAME[rel.rsplit("/", 1)[1]]
        seen: set[str] = set()
        good[rel] = []
        for pos, rec, kind, field in found:
            if kind is None:
                for f in _fields(spec, rec):
                    value = _get(rec, f.name)
                    if f.fk and value is not None and value not in known[f.fk]:
                        kind, field = "unknown_foreign_key", f.name
                        break
            if kind is None and spec.id_field:
                if rec[spec.id_field] in seen:
                    kind, field = "duplicate_id", spec.id_field
                seen.add(rec[spec.id_field])
            if kind is None:
                good[rel].append(rec)
            else:
                bad.add((rel, pos, kind, field))
    return bad, good


def _manifest_bad(root: Path) -> set[tuple[Any, ...]]:
    lines = (root / "_manifest/bad_records.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    return {(e["file"], e.get("line", e.get("element")), e["kind"], e["field"]) for e in entries}


def test_bad_records_match_manifest_exactly(bad_bank: Path) -> None:
    found, _ = check_bank(bad_bank)
    listed = _manifest_bad(bad_bank)
    assert found == listed
    assert {k for _, _, k, _ in listed} == set(sc.BAD_KINDS)
    by_source = Counter(f.split("/")[0] for f, *_ in listed)
    assert set(by_source) == {s.source for s in sc.ALL_SPECS}


def test_bad_rate_is_about_r_per_file(bad_bank: Path) -> None:
    manifest = json.loads((bad_bank / "_manifest/run.json").read_text())
    big = [f for f in manifest["files"] if f["records"] >= 500]
    assert len(big) >= 5
    for f in big:
        assert 0.04 < f["bad_records"] / f["records"] < 0.13, f


def test_clean_bank_has_no_bad_records(clean_bank: Path) -> None:
    found, good = check_bank(clean_bank)
    assert found == set()
    assert _manifest_bad(clean_bank) == set()
    assert sum(len(v) for v in good.values()) > 5_000


def _good_of(good: dict[str, list[Any]], name: str) -> list[Any]:
    return [r for rel, recs in sorted(good.items()) if rel.endswith(name) for r in recs]


@pytest.fixture(scope="module")
def big_good(big_bank: Path) -> dict[str, list[Any]]:
    found, good = check_bank(big_bank)
    assert found == set()
    return good


def test_fraud_rate_and_patterns(big_good: dict[str, list[Any]]) -> None:
    txns = _good_of(big_good, "card_transactions.jsonl")
    assert len(txns) > 20_000
    fraud = [t for t in txns if t["is_fraud"] == 1]
    assert 0.001 <= len(fraud) / len(txns) <= 0.005
    assert {t["fraud_pattern"] for t in fraud} == set(sc.FRAUD_PATTERNS)
    assert all(t["fraud_pattern"] is None for t in txns if t["is_fraud"] == 0)
    testing = [t for t in fraud if t["fraud_pattern"] == "card_testing"]
    assert all(float(t["amount"]) < 5 * max(ref.EUR_RATES.values()) for t in testing)


def test_transactions_follow_the_clock(big_good: dict[str, list[Any]]) -> None:
    txns = _good_of(big_good, "card_transactions.jsonl")
    hours = Counter(int(t["timestamp"][11:13]) for t in txns if t["is_fraud"] == 0)
    assert hours[12] > 5 * hours[3]


def test_cdc_before_matches_history(big_good: dict[str, list[Any]]) -> None:
    state: dict[str, dict[str, Any]] = {}
    days = sorted({rel.split("/")[1] for rel in big_good})
    ops = Counter()
    for day in days:
        for rel in sorted(big_good):
            if rel == f"core_banking/{day}/customers.csv" and day == days[0]:
                state.update({r["customer_id"]: r for r in big_good[rel]})
        for ev in big_good.get(f"customer_mgmt/{day}/customer_changes.jsonl", []):
            ops[ev["op"]] += 1
            if ev["op"] == "c":
                assert ev["before"] is None
                assert ev["after"]["customer_id"] not in state
                state[ev["after"]["customer_id"]] = ev["after"]
                continue
            cid = ev["before"]["customer_id"]
            assert ev["before"] == state[cid]
            if ev["op"] == "d":
                del state[cid]
            else:
                assert ev["after"] != ev["before"]
                state[cid] = ev["after"]
        new = big_good.get(f"core_banking/{day}/customers.csv", [])
        if day != days[0]:
            for r in new:
                assert state[r["customer_id"]] == r  # the create matches the extract
    assert ops["u"] > 20 and ops["c"] > 0 and ops["d"] > 0


def test_countries_spread(big_good: dict[str, list[Any]]) -> None:
    customers = _good_of(big_good, "customers.csv")
    by_country = Counter(c["country"] for c in customers)
    assert len(by_country) >= 50
    assert max(by_country.values()) / len(customers) < 0.2
    assert {c["region"] for c in customers} == set(ref.REGIONS)
    regions = {c.code: c.region for c in ref.COUNTRIES}
    assert all(c["region"] == regions[c["country"]] for c in customers)


def test_reference_integrity(big_good: dict[str, list[Any]]) -> None:
    accounts = {a["account_id"]: a for a in _good_of(big_good, "accounts.csv")}
    for card in _good_of(big_good, "cards.jsonl"):
        assert accounts[card["account_id"]]["customer_id"] == card["customer_id"]
        assert accounts[card["account_id"]]["account_type"] in ("current", "credit_card")
    instruments = {i["isin"]: i for i in _good_of(big_good, "instruments.xml")}
    assert Counter(i["asset_class"] for i in instruments.values()).keys() == set(ref.ASSET_CLASSES)
    for inst in instruments.values():
        if inst["asset_class"] == "option":
            assert instruments[inst["underlying_isin"]]["asset_class"] == "equity"
            assert inst["strike"] and inst["expiry"] and inst["option_type"]
        if inst["asset_class"] == "bond":
            assert inst["coupon"] and inst["maturity"]


def test_positions_reconcile_with_trades(big_good: dict[str, list[Any]]) -> None:
    days = sorted({rel.split("/")[1] for rel in big_good if rel.endswith("positions.csv")})
    assert len(days) >= 2

    def pos(day: str) -> dict[tuple[str, str], int]:
        rows = big_good[f"trading/{day}/positions.csv"]
        return {(r["desk"], r["isin"]): int(r["quantity"]) for r in rows}

    before, after = pos(days[0]), pos(days[1])
    for t in big_good[f"trading/{days[1]}/trades.xml"]:
        key = (t["desk"], t["isin"])
        before[key] = before.get(key, 0) + int(t["quantity"]) * (1 if t["side"] == "BUY" else -1)
    assert before == after


def test_market_history_is_long_enough(tmp_path: Path) -> None:
    root = _gen(tmp_path, customers=20, days=1, history_days=500, instruments=10)
    rows = (root / "market_data/2026-01-05/prices_history.csv").read_text().splitlines()[1:]
    dates = {r.split(",")[0] for r in rows}
    assert len(dates) == 500 and max(dates) < "2026-01-05"
