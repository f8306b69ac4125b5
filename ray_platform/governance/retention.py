"""Retention: expire old partitions per zone, archive them first, and never touch a held one.

A *unit* is what retention keeps or drops whole: a bronze folder
``bronze/<source>/ingest_date=D`` or a date partition of a Delta table under ``silver/`` or
``gold/`` (finer partitions such as ``hour`` are grouped under their day). A unit expires when
the last date it covers is before ``as_of`` minus its zone's years (``retention.yaml``: bronze 7,
silver 5, gold 3, with per-dataset overrides). Tables with no date partition (entity tables,
quarantine) are outside partition retention and are listed as such.

Expiring is archive, verify, delete, in that order, so nothing is deleted that cannot be
brought back:

1. the unit's files are written into one ``files.tar.gz`` under
   ``<lake>/_archive/<dataset>/<partition>/<run_id>/`` while their sha256 are taken;
2. the archive is read back: its own sha256 and every member's sha256 must match, and only
   then is ``manifest.json`` written beside it (a folder without a manifest is an unfinished
   archive, never a valid one);
3. bronze: the files are removed. Delta: one delete commit by the partition predicate (it must
   remove exactly the archived files), then exactly those files are removed from storage.

Step 3 for Delta is a vacuum of that partition only. A table-wide ``vacuum`` with zero retention
would also drop the files that time travel needs for every other partition rewritten recently
(silver facts are rewritten per ingest date), which retention has no business doing.

Legal holds override expiry: by dataset (glob), by partition (a partition path or a prefix of
one, ``year=2019``) or by customer (any unit holding a record of that customer: bronze files
are searched as text, sealed ones by their frames' customer keys and their opened text, tables
through their ``customer_id`` column; a table without one cannot hold a customer's records by
that name). Holds come from ``retention.yaml`` (reviewed in git) or are placed at run time
with :func:`place_hold` into ``_system/legal_holds``, an append-only table of place and release
events. Every archived unit gets a row in ``_system/retention_log`` and one ``retention``
record in the audit trail.

Example::

    p = plan(datetime.date(2026, 11, 28), settings)   # what would go (a dry run)
    result = apply(p, settings)                        # archive, verify, delete
    restore(result.archived[0]["manifest"], settings)  # bring one unit back
"""

from __future__ import annotations

import calendar
import datetime as dt
import fnmatch
import gzip
import hashlib
import io
import json
import logging
import tarfile
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ray_platform.errors import (
    ConfigError,
    DataQualityError,
    EncryptionError,
    InvalidArgument,
    NotFound,
)
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings, project_path
from ray_platform.storage import LocalStorage, Storage, storage_for
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

POLICY_FILE = Path("ray_platform/governance/retention.yaml")
ARCHIVE = "_archive"
RESTORED = "_restored"
HOLDS_TABLE = layout.system_table("legal_holds")
LOG_TABLE = layout.system_table("retention_log")
ZONES = ("bronze", "silver", "gold")
_CHUNK = 8 * 1024 * 1024

Zone = Literal["bronze", "silver", "gold"]
Scope = Literal["dataset", "partition", "customer"]

# -- policy ------------------------------------------------------------------------------------


class ZonePolicy(BaseModel):
    """How long a zone keeps its partitions."""

    model_config = ConfigDict(extra="forbid")
    years: int = Field(ge=0, le=100, description="Years a partition is kept after its last date.")


class Override(BaseModel):
    """A dataset glob kept for other than its zone's years."""

    model_config = ConfigDict(extra="forbid")
    dataset: str = Field(description="Glob over dataset names, e.g. 'gold/warehouse/*'.")
    years: int = Field(ge=0, le=100)


class LegalHold(BaseModel):
    """One legal hold: what it keeps, why, and who placed it."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    scope: Scope
    dataset: str | None = Field(default=None, description="Dataset glob (bronze/cards, silver/*).")
    partition: str | None = Field(default=None, description="'ingest_date=2019-03-01', 'year=2019'")
    customer_id: str | None = None
    reason: str = Field(min_length=1)
    placed_by: str = Field(min_length=1)
    placed_at: dt.datetime
    source: Literal["policy", "lake"] = "policy"

    @model_validator(mode="after")
    def _complete(self) -> LegalHold:
        need = {
            "dataset": ("dataset",),
            "partition": ("dataset", "partition"),
            "customer": ("customer_id",),
        }[self.scope]
        missing = [n for n in need if not getattr(self, n)]
        if missing:
            raise ValueError(f"a {self.scope} hold needs {' and '.join(missing)}")
        return self


class RetentionPolicy(BaseModel):
    """``retention.yaml``: years per zone, overrides, standing legal holds."""

    model_config = ConfigDict(extra="forbid")
    zones: dict[Zone, ZonePolicy]
    overrides: list[Override] = []
    holds: list[LegalHold] = []

    @model_validator(mode="after")
    def _all_zones(self) -> RetentionPolicy:
        missing = [z for z in ZONES if z not in self.zones]
        if missing:
            raise ValueError(f"no retention for zone(s) {', '.join(missing)}")
        return self

    def years_for(self, zone: str, dataset: str) -> int:
        """Years kept for ``dataset`` in ``zone`` (the first matching override wins)."""
        for o in self.overrides:
            if fnmatch.fnmatchcase(dataset, o.dataset):
                return o.years
        return self.zones[zone].years  # type: ignore[index]


def load_policy(path: Path | str | None = None) -> RetentionPolicy:
    """Read and validate a retention policy file (default: the project's ``retention.yaml``)."""
    p = project_path(path or POLICY_FILE)
    try:
        raw = yaml.safe_load(p.read_text()) or {}
        return RetentionPolicy.model_validate(raw)
    except FileNotFoundError:
        raise ConfigError(f"no retention policy at {p}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"invalid retention policy {p}: {exc}") from None


def cutoff(as_of: dt.date, years: int) -> dt.date:
    """``as_of`` minus ``years`` calendar years (29 February becomes the 28th)."""
    year = as_of.year - years
    return as_of.replace(year=year, day=min(as_of.day, calendar.monthrange(year, as_of.month)[1]))


# -- legal holds in the lake -------------------------------------------------------------------

_HOLD_SCHEMA = pa.schema(
    [
        ("event", pa.string()),  # place or release
        ("hold_id", pa.string()),
        ("scope", pa.string()),
        ("dataset", pa.string()),
        ("partition", pa.string()),
        ("customer_id", pa.string()),
        ("reason", pa.string()),
        ("by", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)


def active_holds(
    settings: Settings | None = None, policy: RetentionPolicy | None = None
) -> list[LegalHold]:
    """Holds in force: the policy file's, plus those placed in the lake and not released."""
    s = settings or get_settings()
    holds = list((policy or load_policy()).holds)
    store = table_store(s)
    if not store.exists(HOLDS_TABLE):
        return holds
    rows = store.read(HOLDS_TABLE).sort_by("at").to_pylist()
    placed: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["event"] == "place":
            placed[r["hold_id"]] = r
        else:
            placed.pop(r["hold_id"], None)
    for r in placed.values():
        holds.append(
            LegalHold(
                id=r["hold_id"],
                scope=r["scope"],
                dataset=r["dataset"],
                partition=r["partition"],
                customer_id=r["customer_id"],
                reason=r["reason"],
                placed_by=r["by"],
                placed_at=r["at"],
                source="lake",
            )
        )
    return holds


def place_hold(
    *,
    scope: Scope,
    reason: str,
    placed_by: str,
    dataset: str | None = None,
    partition: str | None = None,
    customer_id: str | None = None,
    settings: Settings | None = None,
) -> LegalHold:
    """Place a legal hold in ``_system/legal_holds``; effective for the next retention run."""
    s = settings or get_settings()
    now = dt.datetime.now(dt.UTC)
    try:
        hold = LegalHold(
            id=f"LH-{now:%Y%m%d}-{uuid.uuid4().hex[:6]}",
            scope=scope,
            dataset=dataset,
            partition=partition,
            customer_id=customer_id,
            reason=reason,
            placed_by=placed_by,
            placed_at=now,
            source="lake",
        )
    except ValidationError as exc:
        raise InvalidArgument(f"invalid legal hold: {exc.errors()[0]['msg']}") from None
    _hold_event(s, "place", hold.id, hold, placed_by, reason, now)
    _audit(
        s,
        placed_by,
        "hold",
        hold_id=hold.id,
        scope=scope,
        dataset=dataset,
        partition=partition,
        customer_id=customer_id,
        reason=reason,
    )
    return hold


def release_hold(
    hold_id: str,
    *,
    released_by: str,
    reason: str,
    settings: Settings | None = None,
    policy: RetentionPolicy | None = None,
) -> None:
    """Release a hold placed in the lake (holds in ``retention.yaml`` are released by a commit)."""
    s = settings or get_settings()
    holds = {h.id: h for h in active_holds(s, policy)}
    if hold_id not in holds:
        raise NotFound(f"no active legal hold {hold_id!r}")
    if holds[hold_id].source == "policy":
        raise InvalidArgument(f"hold {hold_id} is declared in retention.yaml: remove it there")
    if not reason.strip():
        raise InvalidArgument("releasing a legal hold needs a reason")
    _hold_event(s, "release", hold_id, None, released_by, reason, dt.datetime.now(dt.UTC))
    _audit(s, released_by, "release", hold_id=hold_id, reason=reason)


def _hold_event(
    s: Settings,
    event: str,
    hold_id: str,
    hold: LegalHold | None,
    by: str,
    reason: str,
    at: dt.datetime,
) -> None:
    row = {
        "event": event,
        "hold_id": hold_id,
        "scope": hold.scope if hold else None,
        "dataset": hold.dataset if hold else None,
        "partition": hold.partition if hold else None,
        "customer_id": hold.customer_id if hold else None,
        "reason": reason,
        "by": by,
        "at": at,
    }
    table_store(s).write(HOLDS_TABLE, pa.Table.from_pylist([row], _HOLD_SCHEMA))


# -- units -------------------------------------------------------------------------------------

_DAY_COLS = ("ingest_date", "business_date", "as_of", "date")


@dataclass(frozen=True)
class Unit:
    """A partition retention keeps or drops whole."""

    zone: str
    dataset: str  # bronze/cards, silver/card_transactions, gold/warehouse/fact_x
    key: str  # ingest_date=2019-03-01, year=2019/month=3/day=1
    values: dict[str, Any]  # typed partition values of ``key``
    last_day: dt.date
    files: tuple[str, ...]  # lake-relative paths
    size_bytes: int
    rows: int | None  # Delta tables only
    kind: Literal["files", "delta"]


def _last_day(values: dict[str, Any]) -> dt.date | None:
    """The last date a partition covers, from its date-defining values; None if it has none."""
    for col in _DAY_COLS:
        if col in values:
            v = values[col]
            return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
    if "year_month" in values:
        y, m = (int(x) for x in str(values["year_month"]).split("-"))
        return dt.date(y, m, calendar.monthrange(y, m)[1])
    if "year_quarter" in values:
        y, q = str(values["year_quarter"]).split("-Q")
        m = 3 * int(q)
        return dt.date(int(y), m, calendar.monthrange(int(y), m)[1])
    if "year" in values:
        y = int(values["year"])
        if "month" in values:
            m = int(values["month"])
            d = int(values["day"]) if "day" in values else calendar.monthrange(y, m)[1]
            return dt.date(y, m, d)
        return dt.date(y, 12, 31)
    return None


def _date_columns(partition_columns: list[str]) -> list[str]:
    """The partition columns that define a unit's date (``hour`` and the like are grouped)."""
    for col in (*_DAY_COLS, "year_month", "year_quarter"):
        if col in partition_columns:
            return [col]
    if "year" in partition_columns:
        return [c for c in ("year", "month", "day") if c in partition_columns]
    return []


def bronze_units(storage: Storage) -> list[Unit]:
    """Every ``bronze/<source>/ingest_date=D`` folder."""
    units = []
    for source in storage.list(layout.BRONZE):
        if source.rsplit("/", 1)[-1].startswith((".", "_")):
            continue
        for folder in storage.list(source):
            name = folder.rsplit("/", 1)[-1]
            if not name.startswith("ingest_date="):
                continue
            day = dt.date.fromisoformat(name.removeprefix("ingest_date="))
            files = tuple(storage.list(folder, recursive=True))
            size = sum(storage.fs.size(storage.path(f)) for f in files)
            units.append(
                Unit("bronze", source, name, {"ingest_date": day}, day, files, size, None, "files")
            )
    return units


def delta_tables(storage: Storage, zone: str) -> list[str]:
    """Delta tables under ``zone/`` (two levels deep: ``gold/warehouse/fact_x``)."""
    root = storage.path()
    found = []
    for pattern in (f"{zone}/*/_delta_log", f"{zone}/*/*/_delta_log"):
        for p in storage.fs.glob(storage.path(pattern)):
            found.append(p[len(root) :].strip("/").removesuffix("/_delta_log"))
    return sorted(found)


def delta_units(store: TableStore, name: str, zone: str) -> tuple[list[Unit], str | None]:
    """The date units of one Delta table, or ``([], why)`` when it has no date partition."""
    from deltalake import DeltaTable

    table = DeltaTable(store.uri(name), storage_options=store.storage.storage_options())
    cols = _date_columns(list(table.metadata().partition_columns))
    if not cols:
        return [], "not partitioned by date"
    actions = pa.table(table.get_add_actions(flatten=True))
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for a in actions.to_pylist():
        groups.setdefault(tuple(a[f"partition.{c}"] for c in cols), []).append(a)
    units = []
    for vals, adds in sorted(groups.items(), key=lambda kv: str(kv[0])):
        values = dict(zip(cols, vals, strict=True))
        key = "/".join(f"{c}={v}" for c, v in values.items())
        last = _last_day(values)
        if last is None:
            continue
        files = tuple(sorted(f"{name}/{a['path']}" for a in adds))
        units.append(
            Unit(
                zone,
                name,
                key,
                values,
                last,
                files,
                sum(a["size_bytes"] for a in adds),
                sum(a["num_records"] or 0 for a in adds),
                "delta",
            )
        )
    return units, None


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanItem:
    """One expiring unit and what retention will do with it."""

    unit: Unit
    years: int
    cutoff: dt.date
    held_by: tuple[str, ...] = ()  # hold ids that keep it

    @property
    def action(self) -> str:
        """``archive_delete``, or ``held`` when a legal hold keeps it."""
        return "held" if self.held_by else "archive_delete"

    def to_dict(self) -> dict[str, Any]:
        u = self.unit
        return {
            "zone": u.zone,
            "dataset": u.dataset,
            "partition": u.key,
            "last_day": u.last_day.isoformat(),
            "years": self.years,
            "cutoff": self.cutoff.isoformat(),
            "files": len(u.files),
            "bytes": u.size_bytes,
            "rows": u.rows,
            "action": self.action,
            "held_by": list(self.held_by),
        }


@dataclass
class RetentionPlan:
    """Every expired unit as of a date, held or not; ``skipped`` tables are outside retention."""

    as_of: dt.date
    items: list[PlanItem]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def expiring(self) -> list[PlanItem]:
        return [i for i in self.items if not i.held_by]

    @property
    def held(self) -> list[PlanItem]:
        return [i for i in self.items if i.held_by]

    def summary(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "expiring": len(self.expiring),
            "held": len(self.held),
            "bytes": sum(i.unit.size_bytes for i in self.expiring),
            "items": [i.to_dict() for i in self.items],
            "skipped": self.skipped,
        }


def plan(
    as_of: dt.date,
    settings: Settings | None = None,
    policy: RetentionPolicy | None = None,
    zones: Iterable[str] = ZONES,
) -> RetentionPlan:
    """What retention would do as of ``as_of``: changes nothing (the dry run)."""
    s = settings or get_settings()
    pol = policy or load_policy()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    store = table_store(s)
    holds = active_holds(s, pol)
    candidates: list[Unit] = []
    skipped: dict[str, str] = {}
    for zone in zones:
        if zone not in ZONES:
            raise InvalidArgument(f"unknown zone {zone!r}; zones: {', '.join(ZONES)}")
        if zone == "bronze":
            candidates += bronze_units(storage)
            continue
        for name in delta_tables(storage, zone):
            units, why = delta_units(store, name, zone)
            candidates += units
            if why:
                skipped[name] = why
    items = []
    for u in candidates:
        years = pol.years_for(u.zone, u.dataset)
        limit = cutoff(as_of, years)
        if u.last_day < limit:
            held = tuple(h.id for h in holds if _holds(h, u, storage, store, s))
            items.append(PlanItem(u, years, limit, held))
    return RetentionPlan(as_of, items, skipped)


def _holds(
    hold: LegalHold, unit: Unit, storage: Storage, store: TableStore, settings: Settings
) -> bool:
    if hold.dataset and not fnmatch.fnmatchcase(unit.dataset, hold.dataset):
        return False
    if hold.scope == "dataset":
        return True
    if hold.scope == "partition":
        want = str(hold.partition).strip("/")
        return unit.key == want or unit.key.startswith(want + "/")
    return _has_customer(unit, str(hold.customer_id), storage, store, settings)


def _has_customer(
    unit: Unit, customer_id: str, storage: Storage, store: TableStore, settings: Settings
) -> bool:
    """Whether the unit holds a record of the customer.

    Raw files are searched as text: a false positive keeps a partition longer, never shorter.
    A sealed bronze file (:mod:`.crypto`) holds the customer when one of its frames is under
    the customer's key, or else when its opened text names them (a record of another customer
    can mention them); one that cannot be opened is kept, with a warning.
    """
    if unit.kind == "files":
        from ray_platform.governance import crypto

        needle = customer_id.encode()
        for f in unit.files:
            with storage.open(f) as raw:
                head = raw.read(len(crypto.BRONZE_MAGIC))
                sealed = head + raw.read() if head == crypto.BRONZE_MAGIC else None
            if sealed is not None:
                if _sealed_has_customer(sealed, f, customer_id, settings):
                    return True
                continue
            with storage.open(f) as raw:
                fh = gzip.GzipFile(fileobj=raw) if f.endswith(".gz") else raw
                tail = b""
                while chunk := fh.read(_CHUNK):
                    if needle in tail + chunk:
                        return True
                    tail = chunk[-len(needle) :]
        return False
    ds = store.dataset(unit.dataset)
    if "customer_id" not in ds.schema.names:
        return False
    flt = pc.field("customer_id") == customer_id
    for col, v in unit.values.items():
        flt &= pc.field(col) == v
    return ds.count_rows(filter=flt) > 0


def _sealed_has_customer(sealed: bytes, path: str, customer_id: str, settings: Settings) -> bool:
    from ray_platform.governance import crypto

    try:
        if crypto.customer_key_id(customer_id, settings) in crypto.frame_keys(sealed):
            return True
        plain = crypto.open_bronze(sealed, settings).data
        if plain[:2] == b"\x1f\x8b":
            plain = gzip.decompress(plain)
    except (EncryptionError, OSError, EOFError, zlib.error) as exc:
        log.warning("%s cannot be opened (%s): kept for the hold on a customer", path, exc)
        return True
    return customer_id.encode() in plain


# -- apply -------------------------------------------------------------------------------------


@dataclass
class RetentionResult:
    """What :func:`apply` did."""

    run_id: str
    as_of: dt.date
    archived: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "archived": len(self.archived),
            "held": len(self.held),
            "failed": len(self.failed),
            "bytes": sum(a["bytes"] for a in self.archived),
            "units": self.archived,
            "held_units": self.held,
            "failures": self.failed,
        }


def apply(
    the_plan: RetentionPlan,
    settings: Settings | None = None,
    *,
    actor: str | None = None,
    run_id: str | None = None,
) -> RetentionResult:
    """Archive, verify and delete every expiring unit of the plan; held units are left alone.

    A unit whose archive does not verify, or whose files changed since the plan, is not
    deleted; it is reported in ``failed`` and the run goes on with the others.
    """
    from deltalake.exceptions import DeltaError

    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    store = table_store(s)
    who = actor or s.user
    result = RetentionResult(
        run_id or f"retention-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
        the_plan.as_of,
    )
    result.held = [i.to_dict() for i in the_plan.held]
    for item in the_plan.expiring:
        try:
            manifest = archive_unit(item, storage, result.run_id, the_plan.as_of)
            _delete_unit(item.unit, storage, store)
        except (DataQualityError, OSError, DeltaError) as exc:
            log.error("retention: %s/%s not deleted: %s", item.unit.dataset, item.unit.key, exc)
            result.failed.append({**item.to_dict(), "error": str(exc)})
            continue
        row = {
            **item.to_dict(),
            "manifest": manifest["manifest_path"],
            "archive": manifest["archive"]["path"],
            "sha256": manifest["archive"]["sha256"],
        }
        result.archived.append(row)
        log.info("retention: archived and deleted %s/%s", item.unit.dataset, item.unit.key)
    _log_run(store, result, who)
    if result.archived or result.failed:
        _audit(
            s,
            who,
            "apply",
            run_id=result.run_id,
            as_of=the_plan.as_of.isoformat(),
            archived=[f"{a['dataset']}/{a['partition']}" for a in result.archived],
            held=[f"{h['dataset']}/{h['partition']}" for h in result.held],
            failed=[f"{f['dataset']}/{f['partition']}" for f in result.failed],
        )
    return result


class _HashingWriter(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to ``out``."""

    def __init__(self, out: Any) -> None:
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


class _HashingReader:
    """A read stream that hashes what is read from ``src`` (tarfile reads members through it)."""

    def __init__(self, src: Any) -> None:
        self.src, self.digest = src, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.digest.update(data)
        return data  # type: ignore[no-any-return]


def _sha256_of(stream: Any) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def archive_unit(item: PlanItem, storage: Storage, run_id: str, as_of: dt.date) -> dict[str, Any]:
    """Stream the unit's files into ``files.tar.gz``, verify it, then write ``manifest.json``."""
    u = item.unit
    folder = f"{ARCHIVE}/{u.dataset}/{u.key}/{run_id}"
    tar_path = f"{folder}/files.tar.gz"
    entries = []
    with storage.open(tar_path, "wb") as raw:
        sink = _HashingWriter(raw)
        with tarfile.open(fileobj=sink, mode="w|gz") as tar:
            for path in u.files:
                info = tarfile.TarInfo(path[len(u.dataset) + 1 :])
                info.size = storage.fs.size(storage.path(path))
                with storage.open(path) as fh:
                    src = _HashingReader(fh)
                    tar.addfile(info, src)
                entries.append(
                    {
                        "path": path,
                        "member": info.name,
                        "size": info.size,
                        "sha256": src.digest.hexdigest(),
                    }
                )
    archive = {"path": tar_path, "size": sink.size, "sha256": sink.digest.hexdigest()}
    _verify(storage, archive, entries)
    manifest = {
        "format": 1,
        "run_id": run_id,
        "archived_at": dt.datetime.now(dt.UTC).isoformat(),
        "as_of": as_of.isoformat(),
        "zone": u.zone,
        "dataset": u.dataset,
        "partition": u.key,
        "values": {k: str(v) for k, v in u.values.items()},
        "last_day": u.last_day.isoformat(),
        "retention_years": item.years,
        "cutoff": item.cutoff.isoformat(),
        "kind": u.kind,
        "rows": u.rows,
        "files": entries,
        "archive": archive,
        "manifest_path": f"{folder}/manifest.json",
    }
    with storage.open(manifest["manifest_path"], "wb") as fh:
        fh.write(json.dumps(manifest, indent=1).encode())
    return manifest


def _verify(storage: Storage, archive: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Read the archive back: whole-file and per-member sha256 must match what was written."""
    with storage.open(archive["path"]) as fh:
        sha, size = _sha256_of(fh)
    if sha != archive["sha256"] or size != archive["size"]:
        raise DataQualityError(f"archive {archive['path']} does not read back as written")
    want = {e["member"]: e["sha256"] for e in entries}
    got = {}
    with storage.open(archive["path"]) as fh, tarfile.open(fileobj=fh, mode="r|gz") as tar:
        for m in tar:
            f = tar.extractfile(m)
            got[m.name] = _sha256_of(f)[0] if f else hashlib.sha256().hexdigest()
    if got != want:
        bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        raise DataQualityError(f"archive {archive['path']} fails verification for {bad[:5]}")


def _delete_unit(u: Unit, storage: Storage, store: TableStore) -> None:
    if u.kind == "files":
        for f in u.files:
            storage.fs.rm(storage.path(f))
        _remove_empty_folders(storage, f"{u.dataset}/{u.key}")
        return
    from deltalake import DeltaTable

    table = DeltaTable(store.uri(u.dataset), storage_options=store.storage.storage_options())
    current, _ = delta_units(store, u.dataset, u.zone)
    now = next((c for c in current if c.key == u.key), None)
    if now is None or now.files != u.files:
        raise DataQualityError(f"{u.dataset}/{u.key} changed since it was archived; kept")
    metrics = table.delete(_predicate(u.values, store.dataset(u.dataset).schema))
    removed = metrics.get("num_removed_files")
    if metrics.get("num_added_files") or removed != len(u.files):
        # Not the archived files (a concurrent writer?): the delete commit is in the log and
        # time travel still has every file; nothing is removed from storage.
        raise DataQualityError(
            f"{u.dataset}/{u.key}: delete removed {removed} files, "
            f"archived {len(u.files)}; files left for time travel"
        )
    for f in u.files:
        storage.fs.rm(storage.path(f))
    _remove_empty_folders(storage, f"{u.dataset}/{u.key}")


def _remove_empty_folders(storage: Storage, relative: str) -> None:
    """Drop the partition's folders left empty (local disks; S3 has no folders)."""
    if not isinstance(storage, LocalStorage):
        return
    top = Path(storage.path(relative))
    if not top.is_dir():
        return
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(top.iterdir()):
        top.rmdir()


def _predicate(values: dict[str, Any], schema: pa.Schema) -> str:
    """A SQL predicate selecting exactly the partition ``values``."""
    parts = []
    for col, v in values.items():
        typ = schema.field(col).type
        if pa.types.is_integer(typ):
            parts.append(f"{col} = {int(v)}")
        else:
            text = v.isoformat() if isinstance(v, dt.date) else str(v)
            parts.append(f"{col} = '{text.replace(chr(39), chr(39) * 2)}'")
    return " AND ".join(parts)


_LOG_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("as_of", pa.date32()),
        ("zone", pa.string()),
        ("dataset", pa.string()),
        ("partition", pa.string()),
        ("last_day", pa.date32()),
        ("action", pa.string()),
        ("files", pa.int64()),
        ("bytes", pa.int64()),
        ("rows", pa.int64()),
        ("held_by", pa.string()),
        ("manifest", pa.string()),
        ("sha256", pa.string()),
        ("error", pa.string()),
        ("by", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
    ]
)


def _log_run(store: TableStore, result: RetentionResult, who: str) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = []
    for action, items in (
        ("archived", result.archived),
        ("held", result.held),
        ("failed", result.failed),
    ):
        for i in items:
            rows.append(
                {
                    "run_id": result.run_id,
                    "as_of": result.as_of,
                    "zone": i["zone"],
                    "dataset": i["dataset"],
                    "partition": i["partition"],
                    "last_day": dt.date.fromisoformat(i["last_day"]),
                    "action": action,
                    "files": i["files"],
                    "bytes": i["bytes"],
                    "rows": i["rows"],
                    "held_by": ",".join(i["held_by"]) or None,
                    "manifest": i.get("manifest"),
                    "sha256": i.get("sha256"),
                    "error": i.get("error"),
                    "by": who,
                    "at": now,
                }
            )
    if rows:
        store.write(LOG_TABLE, pa.Table.from_pylist(rows, _LOG_SCHEMA))


# -- restore -----------------------------------------------------------------------------------


def read_manifest(manifest_path: str, settings: Settings | None = None) -> dict[str, Any]:
    """An archive's manifest (a lake-relative path)."""
    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    if not storage.exists(manifest_path):
        raise NotFound(f"no archive manifest at {manifest_path!r}")
    with storage.open(manifest_path) as fh:
        return json.loads(fh.read())  # type: ignore[no-any-return]


def restore(
    manifest_path: str, settings: Settings | None = None, dest: str | None = None
) -> list[str]:
    """Extract an archive after checking it; returns the lake-relative paths written.

    Bronze files go back where they were (byte-identical, so a silver rerun can use them);
    Delta files go under ``_restored/<dataset>/<partition>/<run_id>/`` (or ``dest``), since a
    table's log no longer lists them: read them as Parquet, or append them to the table.
    Existing files are never overwritten.
    """
    s = settings or get_settings()
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    m = read_manifest(manifest_path, s)
    _verify(storage, m["archive"], m["files"])
    if dest is None:
        dest = (
            m["dataset"]
            if m["kind"] == "files"
            else f"{RESTORED}/{m['dataset']}/{m['partition']}/{m['run_id']}"
        )
    targets = {e["member"]: f"{dest.strip('/')}/{e['member']}" for e in m["files"]}
    clash = [t for t in targets.values() if storage.exists(t)]
    if clash:
        raise InvalidArgument(f"restore would overwrite {clash[0]} (and {len(clash) - 1} more)")
    with storage.open(m["archive"]["path"]) as fh, tarfile.open(fileobj=fh, mode="r|gz") as tar:
        for member in tar:
            if member.name not in targets or not member.isfile():
                raise DataQualityError(f"unexpected member {member.name!r} in the archive")
            src = tar.extractfile(member)
            with storage.open(targets[member.name], "wb") as out:
                while src is not None and (chunk := src.read(_CHUNK)):
                    out.write(chunk)
    return sorted(targets.values())


def _audit(s: Settings, actor: str, action: str, **details: Any) -> None:
    from ray_platform.governance.audit import audit_trail

    audit_trail(s).append("retention", actor=actor, outcome="ok", action=action, **details)
