"""GDPR: the right to be forgotten (:func:`erase`) and the subject-access export (:func:`export`).

Erasure removes the person from everything that can be rewritten and crypto-shreds what must be
kept:

- every Delta table of silver (quarantine included), gold and the warehouse: rows naming the
  customer, their cards or accounts (``customer_id``, ``card_id``, ``account_id``, and the
  warehouse's ``customer_sk``/``account_sk`` of their versions) are deleted; then the table's
  history is purged (vacuum of every unreferenced file, a checkpoint, and the expired log
  files cleaned), so time travel to an earlier version cannot bring them back. The purge drops
  *all* earlier versions of a touched table: Delta's log keeps per-file statistics (min/max
  values) and each DELETE's predicate, which would name the person otherwise;
- the Feast offline feature Parquet (``<lake>/features/``) and the online store (SQLite or
  Redis, :meth:`features.online.OnlineStore.erase`);
- bronze, kept 7 years for the regulator: the customer's data key is destroyed, so their
  records in every sealed bronze file are unreadable (:mod:`ray_platform.governance.crypto`);
  bronze landed in clear (before encryption was turned on) cannot be shredded and is reported;
- the scoring processes' in-memory velocity windows: an erasure notice with keyed references
  (:mod:`ray_platform.governance.erasure_notices`) that every scorer applies before its next
  batch (``serve.erasures.ErasureWatch``).

The erasure certificate (what was removed where, table versions, keys destroyed) is appended
to the audit trail as an ``erasure`` event. It names the person by a keyed hash
(``subject_ref``), not by their id, so the trail does not keep what was erased; whoever holds
the id can recompute the reference with :func:`subject_ref`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from ray_platform.errors import AccessDenied, InvalidArgument
from ray_platform.governance import crypto
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

ID_COLUMNS = ("customer_id", "card_id", "account_id", "customer_sk", "account_sk")
"""Columns that identify a person (directly, or through their cards, accounts and versions)."""
ZONES = ("silver", "gold")
"""Where the Delta tables live (the warehouse is ``gold/warehouse``)."""
FEATURES_DIR = "features"
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass
class Subject:
    """A person and every identifier the lake holds for them."""

    customer_id: str
    ids: dict[str, set[Any]] = field(default_factory=dict)

    def values(self, column: str) -> set[Any]:
        """The identifiers of ``column`` (empty when the column names none of theirs)."""
        return self.ids.get(column, set())

    def text_ids(self) -> set[str]:
        """Every identifier as text: the customer, card and account ids."""
        return {str(v) for c in ("customer_id", "card_id", "account_id") for v in self.values(c)}


@dataclass
class ErasureCertificate:
    """What an erasure removed, where; appended to the audit trail."""

    request_id: str
    subject_ref: str
    started_at: str
    finished_at: str = ""
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    features: dict[str, int] = field(default_factory=dict)
    online_store: dict[str, Any] = field(default_factory=dict)
    bronze: dict[str, Any] = field(default_factory=dict)
    serving: str = ""
    problems: list[str] = field(default_factory=list)
    audit_seq: int | None = None

    @property
    def complete(self) -> bool:
        """Whether every store was erased."""
        return not self.problems


def subject_ref(customer_id: str, settings: Settings | None = None) -> str:
    """A keyed hash naming a person in the audit trail without their id."""
    from ray_platform.lake.tokens import token_key

    key = token_key(settings or get_settings())
    return "subj_" + hmac.new(key, b"gdpr-subject|" + customer_id.encode(), "sha256").hexdigest()


def _check_id(customer_id: str) -> str:
    cid = (customer_id or "").strip()
    if not _ID_RE.match(cid):
        raise InvalidArgument(f"not a customer id: {customer_id!r}")
    return cid


# -- finding the person ------------------------------------------------------------------------


def delta_tables(storage: Storage) -> list[str]:
    """Every Delta table under silver and gold (quarantine and warehouse included)."""
    found: set[str] = set()
    for zone in ZONES:
        for path in storage.list(zone, recursive=True):
            if "/_delta_log/" in path:
                found.add(path.split("/_delta_log/", 1)[0])
    return sorted(found)


def find_subject(customer_id: str, settings: Settings | None = None) -> Subject:
    """The customer, and their card, account and version keys from every table linking them.

    Warehouse surrogate keys of their versions count; ``-1`` (the unknown member) never does.
    """
    s = settings or get_settings()
    cid = _check_id(customer_id)
    store = table_store(s)
    subject = Subject(cid, {"customer_id": {cid}})
    for name in delta_tables(store.storage):
        ds = store.dataset(name)
        names = set(ds.schema.names)
        linked = [c for c in ID_COLUMNS if c in names and c != "customer_id"]
        if "customer_id" not in names or not linked:
            continue
        table = _plain(ds.to_table(columns=["customer_id", *linked]))
        rows = table.filter(pc.equal(table.column("customer_id"), cid))
        for col in linked:
            values = {v for v in rows.column(col).to_pylist() if v is not None and v != -1}
            subject.ids.setdefault(col, set()).update(values)
    return subject


def _plain(table: pa.Table) -> pa.Table:
    """``string_view`` columns (DuckDB's) as strings: pyarrow's filters have no kernel for them."""
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_string_view(f.type) else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _id_columns(subject: Subject, names: Iterable[str]) -> list[str]:
    return [c for c in ID_COLUMNS if c in names and subject.values(c)]


def _mask(subject: Subject, table: pa.Table) -> pa.Array:
    """Which rows of ``table`` (already :func:`_plain`) name the person."""
    mask = pa.array([False] * table.num_rows, pa.bool_())
    for col in _id_columns(subject, table.column_names):
        column = table.column(col)
        values = pa.array(sorted(subject.values(col))).cast(column.type)
        mask = pc.or_(mask, pc.fill_null(pc.is_in(column, value_set=values), False))
    return mask


def _matching(subject: Subject, ds: pads.Dataset) -> pa.Table | None:
    """The rows of a dataset naming the person (None: it has no identifier column of theirs)."""
    if not _id_columns(subject, ds.schema.names):
        return None
    table = _plain(ds.to_table())
    return table.filter(_mask(subject, table))


def _sql_predicate(subject: Subject, names: Iterable[str], types: dict[str, pa.DataType]) -> str:
    terms = []
    for col in ID_COLUMNS:
        values = subject.values(col)
        if col not in names or not values:
            continue
        if pa.types.is_integer(types[col]):
            listed = ", ".join(str(int(v)) for v in sorted(values))
        else:
            listed = ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(values))
        terms.append(f"{col} IN ({listed})")
    return " OR ".join(terms)


def _mentions(subject: Subject) -> re.Pattern[str]:
    ids = sorted(subject.text_ids(), key=len, reverse=True)
    return re.compile(
        r"(?<![A-Za-z0-9_-])(" + "|".join(map(re.escape, ids)) + r")(?![A-Za-z0-9_-])"
    )


def _quarantine_rows(store: TableStore, name: str, subject: Subject, s: Settings) -> pa.Table:
    """Quarantined rows that name the person (their key, or any of their ids in the payload)."""
    table = store.read(name)
    if not table.num_rows:
        return table
    opened = crypto.decrypt_columns(table.select(["record_id", "reason", "payload"]), name, s)
    pattern = _mentions(subject)
    keep = [any(v and pattern.search(v) for v in row.values()) for row in opened.to_pylist()]
    return table.filter(pa.array(keep, pa.bool_()))


# -- erasure -----------------------------------------------------------------------------------


def erase(
    customer_id: str,
    settings: Settings | None = None,
    *,
    actor: str | None = None,
    role: str | None = None,
) -> ErasureCertificate:
    """Erase one customer from every store (see the module docstring); returns the certificate.

    Every step runs even if an earlier one fails; what failed is listed in
    ``certificate.problems`` (and the audit record's outcome is ``failed``). A customer under a
    legal hold (:mod:`ray_platform.governance.retention`) is not erased: GDPR art. 17(3)(e)
    keeps data needed for legal claims; :class:`AccessDenied` names the hold, and the refusal
    is audited.
    """
    from ray_platform.governance.audit import audit_trail

    s = settings or get_settings()
    cid = _check_id(customer_id)
    cert = ErasureCertificate(uuid.uuid4().hex, subject_ref(cid, s), _now())
    held = _legal_holds(cid, s)
    if held:
        reason = f"legal hold {', '.join(held)}"
        audit_trail(s).append("erasure", actor=actor or s.user, role=role or s.role,
                              outcome="denied", request_id=cert.request_id,
                              subject_ref=cert.subject_ref, reason=reason)  # fmt: skip
        raise AccessDenied(
            f"customer {cid} is under {reason}: erasure refused (GDPR art. 17(3)(e))"
        )
    subject = find_subject(cid, s)
    store = table_store(s)
    for step in (_erase_tables, _erase_features, _erase_online, _shred_bronze):
        try:
            step(subject, store, s, cert)
        except Exception as exc:  # recorded in the certificate; the other stores still go
            cert.problems.append(f"{step.__name__.strip('_')}: {type(exc).__name__}: {exc}")
    try:
        from ray_platform.governance.erasure_notices import notify

        notify(subject.text_ids() | {cid}, cert.started_at, s)
        cert.serving = (
            "erasure notice appended (keyed references only); every scoring replica and "
            "consumer drops the person's velocity windows before its next batch"
        )
    except Exception as exc:
        cert.problems.append(f"serving: {type(exc).__name__}: {exc}")
    cert.finished_at = _now()
    record = audit_trail(s).append(
        "erasure",
        actor=actor or s.user,
        role=role or s.role,
        outcome="ok" if cert.complete else "failed",
        **{k: v for k, v in asdict(cert).items() if k != "audit_seq"},
    )
    cert.audit_seq = record.seq
    return cert


def _legal_holds(customer_id: str, s: Settings) -> list[str]:
    from ray_platform.governance.retention import active_holds

    return [h.id for h in active_holds(s) if h.scope == "customer" and h.customer_id == customer_id]


def _erase_tables(
    subject: Subject, store: TableStore, s: Settings, cert: ErasureCertificate
) -> None:

    for name in delta_tables(store.storage):
        try:
            _erase_table(subject, store, s, cert, name)
        except Exception as exc:  # one table's failure must not leave the others unerased
            cert.problems.append(f"{name}: {type(exc).__name__}: {exc}")


def _erase_table(
    subject: Subject, store: TableStore, s: Settings, cert: ErasureCertificate, name: str
) -> None:
    from ray_platform.lake import layout

    ds = store.dataset(name)
    names = ds.schema.names
    if name.startswith(layout.QUARANTINE + "/"):
        doomed = _quarantine_rows(store, name, subject, s)
        predicate = " OR ".join(
            f"(source_file = '{r['source_file'].replace(chr(39), chr(39) * 2)}' "
            f"AND record = {int(r['record'])})"
            for r in doomed.select(["source_file", "record"]).to_pylist()
        )
        deleted = doomed.num_rows
    else:
        cols = _id_columns(subject, names)
        if not cols:
            return
        deleted = pc.sum(_mask(subject, _plain(ds.to_table(columns=cols)))).as_py() or 0
        types = {f.name: f.type for f in ds.schema}
        predicate = _sql_predicate(subject, names, types)
    if deleted:
        store.delete(name, predicate)
    # History is purged whether or not the current version names them: an earlier version may
    # (a customer deleted by a change event, a row replaced by a merge).
    purged = _purge_history(store, name)
    cert.tables[name] = {"rows_deleted": deleted, "files_vacuumed": purged,
                         "version": store.version(name)}  # fmt: skip


def _purge_history(store: TableStore, name: str) -> int:
    """Vacuum every unreferenced file and drop the log before a fresh checkpoint."""
    from deltalake import DeltaTable

    uri, opts = store.uri(name), store.storage.storage_options()
    table = DeltaTable(uri, storage_options=opts)
    removed = table.vacuum(
        retention_hours=0, dry_run=False, enforce_retention_duration=False, full=True
    )
    before = table.metadata().configuration.get("delta.logRetentionDuration")
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table = DeltaTable(uri, storage_options=opts)
    table.create_checkpoint()
    table.cleanup_metadata()
    table.alter.set_table_properties({"delta.logRetentionDuration": before or "interval 30 days"})
    return len(removed)


def _feature_files(storage: Storage) -> list[str]:
    return [p for p in storage.list(FEATURES_DIR, recursive=True) if p.endswith(".parquet")]


def _erase_features(
    subject: Subject, store: TableStore, s: Settings, cert: ErasureCertificate
) -> None:
    import pyarrow.parquet as pq

    storage = store.storage
    fs = storage.pyarrow_fs()
    for path in _feature_files(storage):
        full = storage.path(path)
        table = _plain(pq.read_table(full, filesystem=fs))
        mask = _mask(subject, table)
        hit = pc.sum(mask).as_py() or 0
        if not hit:
            continue
        kept = table.filter(pc.invert(mask))
        tmp = full.rsplit("/", 1)[0] + "/.erase.parquet.tmp"
        pq.write_table(kept, tmp, filesystem=fs, compression="zstd")
        fs.move(tmp, full)  # replaced whole: the old file's blocks are freed, not kept
        cert.features[path] = hit


def _erase_online(
    subject: Subject, store: TableStore, s: Settings, cert: ErasureCertificate
) -> None:
    from features.online import online_store_for

    entities = {k: {str(v) for v in subject.values(k)} for k in ("customer_id", "card_id")}
    online = online_store_for(s)
    cert.online_store = {"kind": online.kind, "entries_deleted": online.erase(entities)}


def _shred_bronze(
    subject: Subject, store: TableStore, s: Settings, cert: ErasureCertificate
) -> None:
    key_id = crypto.customer_key_id(subject.customer_id, s)
    ring = crypto.KeyRing(s)
    sealed, clear = _bronze_files(store.storage, subject, s)
    destroyed = ring.destroy([key_id]) if sealed or crypto.encryption_enabled(s) else 0
    cert.bronze = {
        "customer_key_destroyed": bool(destroyed),
        "sealed_files_with_records": len(sealed),
        "clear_files_with_records": clear,
    }
    if clear:
        cert.problems.append(
            f"bronze: {len(clear)} file(s) landed in clear (before encryption was on) hold the "
            "person's records and cannot be crypto-shredded; they are kept for retention"
        )


def _personal_bronze(storage: Storage) -> Iterator[tuple[str, bytes]]:
    """Every bronze file of a feed that carries personal data, with its bytes."""
    for path in storage.list("bronze", recursive=True):
        parts = path.split("/")
        if len(parts) >= 3 and crypto.personal_feed(parts[1], parts[-1]) is not None:
            with storage.open(path) as fh:
                yield path, fh.read()


def _bronze_files(storage: Storage, subject: Subject, s: Settings) -> tuple[list[str], list[str]]:
    """Personal bronze files holding the person's records: ``(sealed, in clear)``."""
    key_id = crypto.customer_key_id(subject.customer_id, s)
    pattern = _mentions(subject)
    sealed, clear = [], []
    for path, data in _personal_bronze(storage):
        if data.startswith(crypto.BRONZE_MAGIC):
            if key_id in crypto.frame_keys(data):
                sealed.append(path)
        elif pattern.search(_text(data, path)):
            clear.append(path)
    return sealed, clear


def _text(data: bytes, name: str) -> str:
    import gzip

    if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return ""
    return data.decode("utf-8", "replace")


# -- subject-access export ---------------------------------------------------------------------


def export(
    customer_id: str,
    settings: Settings | None = None,
    out: Path | None = None,
    *,
    actor: str | None = None,
    role: str | None = None,
) -> Path:
    """Write everything held about a customer as one JSON document; returns its path.

    Table rows come decrypted (PII columns hold the tokens silver keeps); the person's raw
    records, with their names and contact details, come from bronze, opened with their key.
    The file is written 0600 (default ``<home>/gdpr/exports/``) and the export is audited.
    """
    from ray_platform.governance.audit import audit_trail

    s = settings or get_settings()
    cid = _check_id(customer_id)
    subject = find_subject(cid, s)
    store = table_store(s)
    doc: dict[str, Any] = {
        "subject": {"customer_id": cid, **{k: sorted(map(str, v)) for k, v in subject.ids.items()
                                           if k != "customer_id"}},
        "generated_at": _now(),
        "controller": "GlobalBank",
        "tables": _export_tables(subject, store, s),
        "features": _export_features(subject, store),
        "raw_records": _export_bronze(subject, store.storage, s),
        "notes": [
            "Silver and warehouse PII columns hold tokens (keyed hashes), not the values; the "
            "values themselves are in raw_records.",
            "The online feature store holds the latest values of the features listed above.",
        ],
    }  # fmt: skip
    target = out or s.home / "gdpr" / "exports" / f"{subject_ref(cid, s)[:21]}-{_stamp()}.json"
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=1, default=str)
    audit_trail(s).append(
        "gdpr_export", actor=actor or s.user, role=role or s.role,
        subject_ref=subject_ref(cid, s), path=str(target),
        tables=sorted(doc["tables"]), raw_files=len(doc["raw_records"]),
    )  # fmt: skip
    return target


def _export_tables(
    subject: Subject, store: TableStore, s: Settings
) -> dict[str, list[dict[str, Any]]]:
    from ray_platform.lake import layout

    out: dict[str, list[dict[str, Any]]] = {}
    for name in delta_tables(store.storage):
        if name.startswith(layout.QUARANTINE + "/"):
            rows = _quarantine_rows(store, name, subject, s)
        else:
            found = _matching(subject, store.dataset(name))
            if found is None:
                continue
            rows = found
        if rows.num_rows:
            out[name] = crypto.decrypt_columns(rows, name, s).to_pylist()
    return out


def _export_features(subject: Subject, store: TableStore) -> dict[str, list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    out: dict[str, list[dict[str, Any]]] = {}
    fs = store.storage.pyarrow_fs()
    for path in _feature_files(store.storage):
        table = _plain(pq.read_table(store.storage.path(path), filesystem=fs))
        rows = table.filter(_mask(subject, table))
        if rows.num_rows:
            out[path] = rows.to_pylist()
    return out


def _export_bronze(subject: Subject, storage: Storage, s: Settings) -> list[dict[str, Any]]:
    key_id = crypto.customer_key_id(subject.customer_id, s)
    pattern = _mentions(subject)
    ring = crypto.KeyRing(s)
    out = []
    for path, data in _personal_bronze(storage):
        if data.startswith(crypto.BRONZE_MAGIC):
            if key_id not in crypto.frame_keys(data):
                continue
            text = _text(crypto.open_bronze(data, s, ring, only={key_id}).data, path)
            lines = text.splitlines()
        else:
            lines = [ln for ln in _text(data, path).splitlines() if pattern.search(ln)]
        if lines:
            out.append({"file": path, "records": lines})
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def digest(path: Path) -> str:
    """SHA-256 of an export file (to quote in the response to the person)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
