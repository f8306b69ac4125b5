"""Multi-region data residency: each customer's personal data lives only in their home region.

Regions ``us``, ``eu`` and ``apac`` each have a root of their own (``settings.region_root_uri``
with ``{region}`` filled in) holding that region's ``landing/`` and ``lake/``, laid out exactly
like the single-lake deployment's. The home region of a customer is their country's region in
``governance/regions.yaml``. One business date walks::

    landing (ingress)  --route-->  <region root>/landing  --lake ETL-->  <region root>/lake
                                                        (the same run_lake_day, per region)

The router (:func:`route_landing_date`) splits every file of a personal feed (a feed whose
contract carries a customer id, :func:`ray_platform.governance.crypto.personal_feed`) record by
record: a customer record goes to its country's region; any other record to the region of the
customer, account or card it names, looked up in the residency directory (``_system/
residency_directory`` in each region's lake, holding only that region's ids). A record it cannot
place (only bad records do that) goes to the policy's ``unattributed`` region, the strictest.
Files that name no customer (market and trading data) are copied to every region. Only gold
aggregates without personal data cross regions: :mod:`ray_platform.ops.replication`.

>>> route_landing_date(dt.date(2026, 1, 5)).records_by_region()  # doctest: +SKIP
{'us': 1120, 'eu': 2310, 'apac': 905}
"""

from __future__ import annotations

import datetime as dt
import gzip
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import pyarrow as pa
import yaml

from ray_platform.contracts import SILVER_ORDER, TableContract
from ray_platform.errors import ConfigError, InvalidArgument
from ray_platform.lake import layout
from ray_platform.settings import Region, Settings, get_settings, project_path
from ray_platform.storage import Storage, storage_for
from ray_platform.tables import table_store

if TYPE_CHECKING:
    from ray_platform.lake.pipeline import LakeDayReport
    from ray_platform.services.jobs import JobRun

log = logging.getLogger(__name__)

POLICY_FILE = Path("ray_platform/governance/regions.yaml")
REGIONS: tuple[str, ...] = get_args(Region)
"""Every region, in the settings' order."""
DIRECTORY = layout.system_table("residency_directory")
"""Each region's own ids (customers, accounts, cards) and the region they live in."""


# -- policy and roots --------------------------------------------------------------------------


@dataclass(frozen=True)
class ResidencyPolicy:
    """The home region of each country, and where records no one can place go."""

    countries: dict[str, str]
    descriptions: dict[str, str]
    unattributed: str

    def region_of(self, country: str) -> str:
        """The home region of ``country``; :class:`InvalidArgument` for a country not mapped."""
        try:
            return self.countries[country]
        except KeyError:
            raise InvalidArgument(f"country {country!r} has no home region") from None


@lru_cache(maxsize=4)
def load_policy(path: Path | str = POLICY_FILE) -> ResidencyPolicy:
    """Read and check ``regions.yaml``: every contract country in exactly one known region."""
    from ray_platform.contracts.reference import COUNTRIES

    file = project_path(path)
    try:
        raw = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the residency policy {file}: {exc}") from None
    countries: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for region, spec in (raw.get("regions") or {}).items():
        if region not in REGIONS:
            raise ConfigError(f"{file}: unknown region {region!r}; regions: {', '.join(REGIONS)}")
        descriptions[region] = str(spec.get("description", ""))
        for code in str(spec.get("countries", "")).split():
            if code in countries:
                raise ConfigError(f"{file}: {code} is in both {countries[code]} and {region}")
            countries[code] = region
    missing = [c for c in COUNTRIES if c not in countries]
    if missing:
        raise ConfigError(f"{file}: countries without a home region: {' '.join(missing)}")
    unattributed = raw.get("unattributed")
    if unattributed not in descriptions:
        raise ConfigError(f"{file}: 'unattributed' must name a region, not {unattributed!r}")
    return ResidencyPolicy(countries, descriptions, unattributed)


def region_root(settings: Settings, region: str) -> str:
    """The root URI of ``region`` (its ``landing/`` and ``lake/`` are under it)."""
    if region not in REGIONS:
        raise InvalidArgument(f"unknown region {region!r}; regions: {', '.join(REGIONS)}")
    template = settings.region_root_uri
    if "{region}" not in template:
        # Without it every region would share one root, which is no residency at all.
        raise ConfigError(f"GBANK_REGION_ROOT_URI must contain {{region}}: {template!r}")
    return template.replace("{region}", region).rstrip("/")


def region_settings(settings: Settings, region: str) -> Settings:
    """``settings`` pointed at ``region``'s own lake and landing zone (same code, other roots)."""
    root = region_root(settings, region)
    return settings.model_copy(
        update={"region": region, "lake_uri": f"{root}/lake", "landing_uri": f"{root}/landing"}
    )


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


# -- one date through every region -------------------------------------------------------------


def run_regions_day(
    business_date: dt.date,
    settings: Settings | None = None,
    *,
    regions: tuple[str, ...] = REGIONS,
    use_ray: bool = True,
) -> dict[str, LakeDayReport]:
    """Route ``business_date``, then run the lake ETL in each region against its own root.

    The Kafka landing is not part of it: topics are not split by region (see docs/residency.md).
    """
    from ray_platform.lake.pipeline import run_lake_day

    s = settings or get_settings()
    route_landing_date(business_date, s)
    return {
        r: run_lake_day(business_date, region_settings(s, r), kafka_topic=None, use_ray=use_ray)
        for r in regions
    }


def submit_regions_day(
    business_date: dt.date,
    settings: Settings | None = None,
    *,
    regions: tuple[str, ...] = REGIONS,
    timeout_s: float = 3600,
) -> dict[str, JobRun]:
    """Route ``business_date``, then submit the existing ``lake_etl`` job once per region.

    Each job gets the region's settings in its runtime environment, so it is the same job with
    another lake; raises :class:`ray_platform.services.jobs.JobFailed` if one fails.
    """
    from ray_platform.services.jobs import submit_job

    s = settings or get_settings()
    route_landing_date(business_date, s)
    day = business_date.isoformat()
    return {
        r: submit_job(
            "ray_platform.jobs.lake_etl",
            "--date",
            day,
            "--no-kafka",
            settings=region_settings(s, r),
            timeout_s=timeout_s,
        )
        for r in regions
    }
