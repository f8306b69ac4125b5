"""Finding one region's customers' data in another region's files (shared by the residency tests).

Which customers belong to which region is read from the generator's own files (its
per-country region), not from the router's policy, so a wrong policy fails the tests.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ray_platform.contracts import CONTRACTS
from ray_platform.generator import reference as ref
from ray_platform.lake.tokens import token
from ray_platform.ops import residency as res

REGION_OF = {c.code: c.region for c in ref.COUNTRIES}
RAW_FIELDS = ("customer_id", "email", "phone", "national_id", "iban", "address_line")
"""Customer values distinctive enough to look for as raw text (names and dates are not)."""


# -- what the generator says each region's customers are ---------------------------------------


def customer_images(landing: Path) -> list[dict[str, str]]:
    """Every customer record the sources sent: extracts and change images, bad ones included."""
    out = []
    for f in sorted(landing.glob("core_banking/*/customers.csv")):
        lines = f.read_text().splitlines()
        header = lines[0].split(",")
        out += [dict(zip(header, line.split(","), strict=False)) for line in lines[1:]]
    for f in sorted(landing.glob("customer_mgmt/*/customer_changes.jsonl")):
        for line in f.read_text().splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a truncated bad line; its customer is in an extract too
            out += [img for img in (event.get("before"), event.get("after")) if img]
    return out


def _home(record: dict[str, str]) -> str | None:
    """The generator's own region of a customer record (its country's, else its region field)."""
    return REGION_OF.get(record.get("country", ""), record.get("region"))


def _jsonl(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a truncated bad line
            out.append(json.loads(line))
    return out


def region_values(landing: Path, key: bytes) -> dict[str, set[str]]:
    """Per region: every value that identifies one of its customers, raw and tokenised.

    A value two regions share (a common surname, a birth date) identifies no one and is left
    out of both, so a match always means a particular customer's data.
    """
    pii = [c.name for c in CONTRACTS["customers"].columns if c.pii]
    found: dict[str, set[str]] = {r: set() for r in res.REGIONS}
    owner: dict[str, str] = {}
    for rec in customer_images(landing):
        region = _home(rec)
        if region not in found:
            continue
        owner[rec["customer_id"]] = region
        found[region] |= {rec[f] for f in RAW_FIELDS if rec.get(f)}
        found[region] |= {token(key, rec[f]) for f in pii if rec.get(f)}
    for f in sorted(landing.glob("core_banking/*/accounts.csv")):
        for row in csv.DictReader(io.StringIO(f.read_text())):
            if row["customer_id"] in owner:
                found[owner[row["customer_id"]]] |= {row["account_id"], row["iban"] or ""}
                found[owner[row["customer_id"]]].add(token(key, row["iban"] or ""))
    for name, fields in [("cards/*/cards.jsonl", ("card_id", "card_number")),
                         ("cards/*/card_transactions.jsonl", ("transaction_id",)),
                         ("interactions/*/interactions.jsonl", ("interaction_id",))]:  # fmt: skip
        for f in sorted(landing.glob(name)):
            for rec in _jsonl(f):
                region = owner.get(rec.get("customer_id"))
                if region:
                    found[region] |= {str(rec[k]) for k in fields if rec.get(k)}
                    if rec.get("card_number"):
                        found[region].add(token(key, rec["card_number"]))
    shared = set()
    for a in res.REGIONS:
        for b in res.REGIONS:
            if a < b:
                shared |= found[a] & found[b]
    return {r: v - shared - {""} for r, v in found.items()}


# -- scanning every file under a root ----------------------------------------------------------


def file_text(path: Path) -> str:
    """Everything a file holds as text: raw bytes (gunzipped), and every Parquet value."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    parts = [raw.decode("latin-1")]
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        for col in table.columns:
            parts.append("\n".join(str(v) for v in col.cast(pa.string()).to_pylist()))
    return "\n".join(parts)


def scan(root: Path, needles: set[str]) -> dict[str, set[str]]:
    """The needles found in each file under ``root`` (every file: data, logs, quarantine)."""
    pattern = re.compile(
        r"(?<![A-Za-z0-9_])("
        + "|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
        + r")(?![A-Za-z0-9_])"
    )
    hits: dict[str, set[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        got = set(pattern.findall(file_text(path)))
        if got:
            hits[str(path.relative_to(root))] = got
    return hits


def region_root(settings, region: str) -> Path:
    return Path(res.region_root(settings, region).removeprefix("file://"))
