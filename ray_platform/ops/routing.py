"""The residency router: each landing file's records into their home region's landing zone.

:func:`route_landing_date` reads the date's files in load order (customers before the accounts
that name them, before cards, before transactions). A file whose contract names no customer
(market and trading data) is copied to every region. A personal feed (a contract with a
``customer_id``, the test bronze sealing uses) is split record by record: a customer record
goes to its country's region; any other record to the region of the first customer, account
or card id it names that the residency directory knows; a record naming nothing known (only
bad records) to the policy's ``unattributed`` region. Ids placed are merged into the
``_system/residency_directory`` of their own region only.

>>> route_landing_date(dt.date(2026, 1, 5)).records_by_region()  # doctest: +SKIP
{'us': 1120, 'eu': 2310, 'apac': 905}
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import re
from dataclasses import dataclass, field

import pyarrow as pa

from ray_platform.contracts import SILVER_ORDER, TableContract
from ray_platform.lake import layout
from ray_platform.ops.residency import (
    DIRECTORY,
    REGIONS,
    ResidencyPolicy,
    load_policy,
    region_settings,
)
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage, storage_for
from ray_platform.tables import table_store

log = logging.getLogger(__name__)


# -- the directory of placed ids ---------------------------------------------------------------


def _personal(contract: TableContract) -> bool:
    return any(c.pii for c in contract.columns)


def lookup_keys() -> tuple[str, ...]:
    """Id columns that place a record: keys of personal tables other tables reference.

    From the contracts, in load order: ``customer_id``, ``account_id``, ``card_id``.
    """
    targets = {c.fk for t in SILVER_ORDER for c in t.columns if c.fk}
    out: list[str] = []
    for t in SILVER_ORDER:
        for key in t.business_key:
            if _personal(t) and f"{t.name}.{key}" in targets and key not in out:
                out.append(key)
    return tuple(out)


@dataclass
class Directory:
    """Which region each known id lives in, read from every region and saved back per region."""

    placed: dict[tuple[str, str], str] = field(default_factory=dict)
    added: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def load(cls, settings: Settings) -> Directory:
        """The ids every region's lake has placed so far."""
        out = cls()
        for region in REGIONS:
            store = table_store(region_settings(settings, region))
            if store.exists(DIRECTORY):
                rows = store.read(DIRECTORY, columns=["key", "id"]).to_pylist()
                out.placed.update({(r["key"], r["id"]): region for r in rows})
        return out

    def find(self, key: str, value: str) -> str | None:
        """The region of id ``value`` of kind ``key``, if placed."""
        return self.placed.get((key, value))

    def add(self, key: str, value: str, region: str) -> None:
        """Place an id (the first placement stands)."""
        if (key, value) not in self.placed:
            self.placed[(key, value)] = region
            self.added.setdefault(region, []).append((key, value))

    def save(self, settings: Settings, day: dt.date) -> None:
        """Merge the ids placed in this run into their own region's directory only."""
        for region, ids in self.added.items():
            data = pa.table(
                {
                    "key": [k for k, _ in ids],
                    "id": [v for _, v in ids],
                    "region": [region] * len(ids),
                    "first_seen": [day.isoformat()] * len(ids),
                }
            )
            table_store(region_settings(settings, region)).merge(DIRECTORY, data, ["key", "id"])
        self.added.clear()


# -- the router --------------------------------------------------------------------------------

_FIELDS = ("country", "region")
_JSON = re.compile(r'"(customer_id|account_id|card_id|country|region)"\s*:\s*"([^"\\]*)"')


@dataclass
class RoutedFile:
    """One landing file and the records each region got of it."""

    source: str
    name: str
    split: bool  # False: a file naming no customer, copied whole to every region
    records: dict[str, int] = field(default_factory=dict)
    unattributed: int = 0


@dataclass
class RouteReport:
    """What routing one business date did."""

    business_date: str
    files: list[RoutedFile] = field(default_factory=list)

    def records_by_region(self) -> dict[str, int]:
        """Personal records per region over every split file."""
        out = dict.fromkeys(REGIONS, 0)
        for f in self.files:
            for region, n in f.records.items():
                out[region] += n
        return out

    def summary(self) -> dict[str, object]:
        """Headline counts, JSON-ready."""
        return {
            "business_date": self.business_date,
            "split_files": sum(f.split for f in self.files),
            "copied_files": sum(not f.split for f in self.files),
            "records": self.records_by_region(),
            "unattributed": sum(f.unattributed for f in self.files),
        }


class _Router:
    def __init__(self, policy: ResidencyPolicy, directory: Directory) -> None:
        self.policy = policy
        self.directory = directory
        self.keys = lookup_keys()

    def place(self, fields: dict[str, str]) -> str | None:
        """The record's home region: its own country, else the ids it names; None if neither."""
        country = fields.get("country")
        if country in self.policy.countries:
            return self.policy.countries[country]
        if fields.get("region") in self.policy.descriptions and "customer_id" in fields:
            return fields["region"]  # a customer image whose country is bad, region intact
        for key in self.keys:
            value = fields.get(key)
            found = self.directory.find(key, value) if value else None
            if found:
                return found
        return None

    def split(self, data: bytes, fmt: str, contract: TableContract | None) -> RoutedParts:
        """``data``'s records grouped by region (a CSV header goes to every part)."""
        lines = data.splitlines(keepends=True)
        header: list[bytes] = []
        columns: dict[str, int] = {}
        if fmt == "csv" and lines:
            header, lines = lines[:1], lines[1:]
            names = header[0].decode().rstrip("\r\n").split(",")
            wanted = (*self.keys, *_FIELDS)
            columns = {n: i for i, n in enumerate(names) if n in wanted}
        parts = RoutedParts({r: list(header) for r in REGIONS})
        own = [k for k in (contract.business_key if contract else ()) if k in self.keys]
        for line in lines:
            fields = _csv_fields(line, columns) if fmt == "csv" else _json_fields(line)
            region = self.place(fields)
            if region is None:
                region = self.policy.unattributed
                parts.unattributed += 1
            else:
                if "country" in fields and "customer_id" in fields:
                    self.directory.add("customer_id", fields["customer_id"], region)
                for key in own:
                    if fields.get(key):
                        self.directory.add(key, fields[key], region)
            parts.lines[region].append(line)
            parts.records[region] = parts.records.get(region, 0) + 1
        return parts


@dataclass
class RoutedParts:
    """Lines per region (each starting with the header, for CSV), and the counts."""

    lines: dict[str, list[bytes]]
    records: dict[str, int] = field(default_factory=dict)
    unattributed: int = 0


def _csv_fields(line: bytes, columns: dict[str, int]) -> dict[str, str]:
    # Sources never quote (docs/sources.md); a malformed row is short, so take what is there.
    cells = line.decode(errors="replace").rstrip("\r\n").split(",")
    return {n: cells[i] for n, i in columns.items() if i < len(cells) and cells[i]}


def _json_fields(line: bytes) -> dict[str, str]:
    # A pattern rather than json.loads: a truncated line still names its ids. The first match
    # wins: a change event's before image names the same customer as its after image.
    out: dict[str, str] = {}
    for key, value in _JSON.findall(line.decode(errors="replace")):
        if value:
            out.setdefault(key, value)
    return out


def _contract_of(source: str, name: str) -> TableContract | None:
    for c in SILVER_ORDER:
        if c.source == source and c.matches_file(name):
            return c
    return None


def _order(item: tuple[str, str]) -> int:
    """Load order: customers before the accounts that name them, before cards, and so on."""
    c = _contract_of(*item)
    return SILVER_ORDER.index(c) if c else len(SILVER_ORDER)


def _write(storage: Storage, path: str, data: bytes, gz: bool) -> None:
    with storage.open(path, "wb") as fh:
        fh.write(gzip.compress(data, mtime=0) if gz else data)


def route_landing_date(
    business_date: dt.date,
    settings: Settings | None = None,
    policy: ResidencyPolicy | None = None,
) -> RouteReport:
    """Split what the sources dropped for ``business_date`` into each region's landing zone.

    Idempotent: routing a date again writes the same files. Raises nothing for a date without
    files; the report is then empty.
    """
    from ray_platform.governance.crypto import personal_feed
    from ray_platform.lake.bronze import SOURCES

    s = settings or get_settings()
    policy = policy or load_policy()
    landing = storage_for(s.landing_uri, s.s3_endpoint_url)
    targets = {
        r: storage_for(region_settings(s, r).landing_uri, s.s3_endpoint_url) for r in REGIONS
    }
    directory = Directory.load(s)
    router = _Router(policy, directory)
    report = RouteReport(business_date.isoformat())
    files: list[tuple[str, str]] = []
    for source in SOURCES:
        folder = layout.landing_dir(source, business_date)
        files += [(source, p.rsplit("/", 1)[-1]) for p in landing.list(folder)]
    for source, name in sorted(files, key=lambda f: (_order(f), f)):
        rel = f"{layout.landing_dir(source, business_date)}/{name}"
        with landing.open(rel) as fh:
            raw = fh.read()
        gz = name.endswith(".gz")
        data = gzip.decompress(raw) if gz else raw
        fmt = personal_feed(source, name)
        if fmt is None:
            for storage in targets.values():
                _write(storage, rel, data, gz)
            report.files.append(RoutedFile(source, name, split=False))
            continue
        parts = router.split(data, fmt, _contract_of(source, name))
        for region, storage in targets.items():
            # No header-only CSV part: sources never send one (a CSV that would be empty is not
            # dropped) and silver cannot parse it. Empty JSON lines files are normal.
            if parts.records.get(region) or fmt == "jsonl":
                _write(storage, rel, b"".join(parts.lines[region]), gz)
        report.files.append(RoutedFile(source, name, True, parts.records, parts.unattributed))
        if parts.unattributed:
            log.warning("%s: %d record(s) name no placed customer; kept in %s", rel,
                        parts.unattributed, policy.unattributed)  # fmt: skip
    directory.save(s, business_date)
    return report
