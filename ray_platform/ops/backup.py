"""Backup and restore of the platform's state: lake tables by version, MLflow, Feast, key registry.

A backup is a plain folder a person can inspect and copy anywhere::

    manifest.json            versions, row counts, sha256 and size of every file, written last
    lake/<table>/...         each Delta table at its backed-up version
    lake/bronze/...          the raw files the backed-up bronze manifest lists
    lake/<other>/...         every other non-Delta lake file (feature Parquet, reports, archives)
    mlflow/mlflow.db         the MLflow backend, through SQLite's online backup API
    mlflow/artifacts/...     the MLflow artifact root
    feast/registry.db        the Feast registry (a protobuf file, checked to parse)
    keys/registry.db         the *wrapped* data keys (useless without the master key)
    keys/master/v*.key       the local master keys, only with ``include_keys``

Delta tables are copied, not rewritten: the files the version's snapshot references plus the
``_delta_log`` up to that version (commits and checkpoints at or before it; ``_last_checkpoint``
only when it points at or before it). Why a copy rather than a fresh table written from the
version's rows: the restored table *is* the backed-up version (same version number, history,
partitioning, table properties and Parquet bytes, so every byte is checked against the source's
sha256), and a copy costs no decode or re-encode. Versions before the backed-up one are not
restorable (their removed files are not copied); nothing after it is copied.

Keys: encrypted columns and sealed bronze files are useless without their data keys, so the
wrapped-key registry is always backed up. It is safe to keep beside the data because only the
master key unwraps it. The master key is copied only when asked (``include_keys``); otherwise
the backup is exactly as hard to read as the lake, and a restore reads encrypted data once the
master key is put back from wherever it is escrowed (an AWS KMS key needs nothing: the restored
registry unwraps through the same key id).

A restore refuses before writing anything: a backup without its manifest (interrupted), a file
whose sha256 or size differs, a file missing or not listed, and a target folder that is not
empty (unless ``force``). After copying it verifies the result (hashes, table versions, row
counts, MLflow runs, Feast views). MLflow stores absolute artifact locations and Feast absolute
source paths, so those two files are rewritten to the new home; everything else is byte-exact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ray_platform.errors import ConfigError, DataQualityError, InvalidArgument, NotFound
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage, storage_for

FORMAT = 1
MANIFEST = "manifest.json"
_CHUNK = 1 << 20
_LOG_ENTRY = re.compile(r"^(\d{20})\.(json|checkpoint(?:\.\d+\.\d+)?\.parquet)$")
# Written by restore itself (rewritten paths): checked by content, not by hash, afterwards.
_REWRITTEN = ("mlflow/mlflow.db", "feast/registry.db")


@dataclass(frozen=True)
class BackupResult:
    """What :func:`backup` wrote."""

    dest: Path
    tables: dict[str, int]
    files: int
    bytes: int
    master_keys: bool


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore` restored and verified."""

    home: Path
    tables: dict[str, int]
    files: int
    mlflow_runs: int
    feature_views: list[str]


# -- backup ------------------------------------------------------------------------------------


def backup(
    dest: Path | str,
    settings: Settings | None = None,
    tables: Sequence[str] | None = None,
    as_of_versions: Mapping[str, int] | None = None,
    *,
    include_keys: bool = False,
) -> BackupResult:
    """Back up the lake tables (latest, or ``as_of_versions``), MLflow, Feast and the key registry.

    ``tables`` limits the Delta tables (default: every table in the lake); a table named only in
    ``as_of_versions`` is included too. ``dest`` must not exist or be empty.
    """
    s = settings or get_settings()
    dest = Path(dest).expanduser().resolve()
    if dest.exists() and any(dest.iterdir()):
        raise InvalidArgument(f"backup destination {dest} is not empty")
    lake = storage_for(s.lake_uri, s.s3_endpoint_url)
    mlflow_db = _mlflow_db(s)
    # Pin every version first, so the bronze files and the manifest agree with the tables.
    versions = _pin_versions(lake, tables, as_of_versions or {})
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    out = _Writer(dest)
    rows: dict[str, int] = {}
    for name, version in versions.items():
        rows[name] = _copy_table(lake, name, version, out)
    bronze = _copy_lake_files(lake, versions, out)
    runs = _backup_mlflow(mlflow_db, s.home / "mlflow" / "artifacts", out)
    views = _backup_feast(s.home / "feast" / "registry.db", out)
    keys = _backup_keys(s, out, include_keys)
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "platform_version": importlib.metadata.version("globalbank-platform"),
        "source": {"home": str(s.home), "lake_uri": s.lake_uri, "mlflow_uri": s.mlflow_uri},
        "tables": {n: {"version": v, "rows": rows[n]} for n, v in versions.items()},
        "bronze_files": bronze,
        "mlflow": runs,
        "feast": {"feature_views": views},
        "keys": keys,
        "files": dict(sorted(out.files.items())),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return BackupResult(
        dest, dict(versions), len(out.files), sum(f["size"] for f in out.files.values()),
        keys["master"],
    )  # fmt: skip


class _Writer:
    """Copies streams into the backup folder, recording each file's sha256 and size."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, dict[str, Any]] = {}

    def copy(self, rel: str, src: IO[bytes], mode: int | None = None) -> None:
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with open(target, "wb") as f:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                f.write(chunk)
        if mode is not None:
            os.chmod(target, mode)
        self.files[rel] = {"sha256": digest.hexdigest(), "size": size}

    def record(self, rel: str) -> None:
        """Hash a file something else (SQLite's backup API) wrote."""
        self.files[rel] = {
            "sha256": _sha256(self.root / rel),
            "size": (self.root / rel).stat().st_size,
        }


def _delta_tables(lake: Storage) -> list[str]:
    """Every Delta table under the lake root (a folder holding a ``_delta_log``)."""
    root = lake.path().rstrip("/")
    found = lake.fs.find(root, withdirs=True, maxdepth=4) if lake.fs.exists(root) else []
    names = {p[len(root) :].strip("/").rsplit("/_delta_log", 1)[0] for p in found
             if p.rstrip("/").endswith("/_delta_log")}  # fmt: skip
    return sorted(n for n in names if n)


def _pin_versions(
    lake: Storage, tables: Sequence[str] | None, as_of: Mapping[str, int]
) -> dict[str, int]:
    from ray_platform.tables import DeltaTableStore

    store = DeltaTableStore(lake)
    names = list(tables) if tables else _delta_tables(lake)
    names += [t for t in as_of if t not in names]
    pinned: dict[str, int] = {}
    for name in names:
        if not store.exists(name):
            raise NotFound(f"no Delta table {name!r} in the lake at {lake.root_uri}")
        latest = store.version(name)
        version = as_of.get(name, latest)
        if not 0 <= version <= latest:
            raise InvalidArgument(f"{name} has versions 0..{latest}, not {version}")
        pinned[name] = version
    if not pinned:
        raise NotFound(f"no Delta tables in the lake at {lake.root_uri}")
    return pinned


def _copy_table(lake: Storage, name: str, version: int, out: _Writer) -> int:
    """Copy one table's snapshot at ``version`` and its log up to it; returns its row count."""
    from deltalake import DeltaTable

    table = DeltaTable(lake.uri(name), version=version, storage_options=lake.storage_options())
    if "deletionVectors" in (table.protocol().reader_features or []):
        # Deletion-vector files are not among file_uris(): a copy would bring deleted rows back.
        raise DataQualityError(f"{name} uses deletion vectors, which backup does not copy")
    prefixes = (lake.uri(name) + "/", lake.path(name) + "/")
    for uri in table.file_uris():
        rel = next((uri[len(p) :] for p in prefixes if uri.startswith(p)), None)
        if rel is None:  # an absolute path outside the table: not something we wrote
            raise DataQualityError(f"{name} v{version} references {uri}, outside the table")
        with lake.open(f"{name}/{rel}") as src:
            out.copy(f"lake/{name}/{rel}", src)
    for rel in lake.list(f"{name}/_delta_log"):
        file = rel.rsplit("/", 1)[-1]
        if file == "_last_checkpoint":
            with lake.open(rel) as f:
                if json.load(f).get("version", version + 1) > version:
                    continue
        elif not (m := _LOG_ENTRY.match(file)) or int(m.group(1)) > version:
            continue
        with lake.open(rel) as src:
            out.copy(f"lake/{rel}", src)
    return table.to_pyarrow_dataset().count_rows()


def _copy_lake_files(lake: Storage, versions: Mapping[str, int], out: _Writer) -> int:
    """Copy the lake's non-Delta files; under bronze/ only those the backed-up manifest lists.

    Returns the number of bronze files. A raw file landed after the manifest version was pinned
    is left out (its manifest row is not in the backup either), so a restored bronze zone and
    its manifest agree.
    """
    root = lake.path().rstrip("/")
    if not lake.fs.exists(root):
        return 0
    every = sorted(p[len(root) :].strip("/") for p in lake.fs.find(root))
    tables = tuple(f"{t}/" for t in _delta_tables(lake))
    listed = _bronze_listed(lake, versions)
    bronze = 0
    for rel in every:
        if rel.startswith(tables) or "/_delta_log/" in rel:
            continue
        if rel.startswith("bronze/"):
            if listed is not None and rel not in listed:
                continue
            bronze += 1
        with lake.open(rel) as src:
            out.copy(f"lake/{rel}", src)
    return bronze


def _bronze_listed(lake: Storage, versions: Mapping[str, int]) -> set[str] | None:
    """The bronze paths the backed-up manifest lists (None: the manifest is not backed up)."""
    from ray_platform.lake import layout
    from ray_platform.tables import DeltaTableStore

    name = layout.system_table("bronze_manifest")
    if name not in versions:
        return None
    paths = DeltaTableStore(lake).read(name, versions[name], columns=["bronze_path"])
    return {p for p in paths.column("bronze_path").to_pylist() if p}


def _mlflow_db(s: Settings) -> Path:
    if not s.mlflow_uri.startswith("sqlite:///"):
        raise ConfigError(
            f"backup supports the SQLite MLflow backend, not {s.mlflow_uri}: back up that "
            "database with its own tools"
        )
    return Path(s.mlflow_uri.removeprefix("sqlite:///"))


def _sqlite_backup(src: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database through its online backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"{src.as_uri()}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()


def _backup_mlflow(db: Path, artifacts: Path, out: _Writer) -> dict[str, Any]:
    if not db.exists():
        return {"runs": 0, "artifact_root": None}
    _sqlite_backup(db, out.root / "mlflow" / "mlflow.db")
    out.record("mlflow/mlflow.db")
    for path in _files(artifacts):
        with open(path, "rb") as src:
            out.copy(f"mlflow/artifacts/{path.relative_to(artifacts).as_posix()}", src)
    with sqlite3.connect(out.root / "mlflow" / "mlflow.db") as con:
        runs = con.execute("SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'")
        n = runs.fetchone()[0]
        uris = [u for (u,) in con.execute("SELECT artifact_uri FROM runs") if u]
    root = artifacts.as_uri()
    return {"runs": n, "artifact_root": root,
            "artifacts_elsewhere": sorted(u for u in uris if not u.startswith(root))}  # fmt: skip


def _backup_feast(registry: Path, out: _Writer) -> list[str]:
    if not registry.exists():
        return []
    with open(registry, "rb") as src:
        out.copy("feast/registry.db", src)
    return _feature_views(out.root / "feast" / "registry.db")


def _feature_views(path: Path) -> list[str]:
    """The feature views a Feast file registry holds; refuses one that does not parse."""
    from feast.protos.feast.core.Registry_pb2 import Registry

    registry = Registry()
    try:
        registry.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise DataQualityError(f"the Feast registry {path} does not parse: {exc}") from None
    return sorted(v.spec.name for v in registry.feature_views)


def _backup_keys(s: Settings, out: _Writer, include_master: bool) -> dict[str, Any]:
    keys = s.home / "keys"
    done = {"kms": s.kms, "kms_key_id": s.kms_key_id, "registry": False, "master": False}
    if (keys / "registry.db").exists():
        _sqlite_backup(keys / "registry.db", out.root / "keys" / "registry.db")
        os.chmod(out.root / "keys" / "registry.db", 0o600)
        out.record("keys/registry.db")
        done["registry"] = True
    if include_master and s.kms == "local":
        for path in _files(keys / "master"):
            with open(path, "rb") as src:
                out.copy(f"keys/master/{path.name}", src, mode=0o600)
            done["master"] = True
    return done


def _files(folder: Path) -> Iterator[Path]:
    if folder.is_dir():
        yield from sorted(p for p in folder.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- restore -----------------------------------------------------------------------------------


def read_manifest(src: Path | str) -> dict[str, Any]:
    """A backup's manifest; refuses a folder without one (not a backup, or an interrupted one)."""
    path = Path(src).expanduser() / MANIFEST
    if not path.is_file():
        raise NotFound(f"{Path(src)} is not a complete backup: no {MANIFEST}")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise InvalidArgument(
            f"backup format {manifest.get('format')!r}; this platform reads {FORMAT}"
        )
    return manifest


def verify_backup(src: Path | str) -> dict[str, Any]:
    """Check every file against the manifest; raises naming the first file that differs."""
    src = Path(src).expanduser().resolve()
    manifest = read_manifest(src)
    listed = manifest["files"]
    present = {p.relative_to(src).as_posix() for p in _files(src)} - {MANIFEST}
    for rel in sorted(present - set(listed)):
        raise DataQualityError(f"backup {src}: {rel} is not in the manifest (added after backup)")
    for rel, want in listed.items():
        path = src / rel
        if not path.is_file():
            raise DataQualityError(f"backup {src}: {rel} is missing")
        if path.stat().st_size != want["size"] or _sha256(path) != want["sha256"]:
            raise DataQualityError(f"backup {src}: {rel} does not match its sha256 (tampered)")
    return manifest


def restore(src: Path | str, home: Path | str, *, force: bool = False) -> RestoreResult:
    """Restore a backup as the platform home ``home`` (lake under ``home/lake``) and verify it.

    The backup is verified before anything is written. ``home`` must not exist or be empty;
    with ``force`` each restored table's folder is replaced and other files are overwritten,
    while files the backup lacks (a master key, say) are left where they are.
    """
    src = Path(src).expanduser().resolve()
    home = Path(home).expanduser().resolve()
    manifest = verify_backup(src)
    if home.exists() and any(home.iterdir()) and not force:
        raise InvalidArgument(f"restore target {home} is not empty (use --force to overwrite)")
    if force:
        for name in manifest["tables"]:
            shutil.rmtree(home / "lake" / name, ignore_errors=True)
    for rel in manifest["files"]:
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
        if rel.startswith("keys/"):
            os.chmod(target.parent, 0o700)
            os.chmod(target, 0o600)
    _repoint(manifest, home)
    return verify_restore(manifest, home)


def _repoint(manifest: Mapping[str, Any], home: Path) -> None:
    """Point MLflow's artifact locations and Feast's sources at the restored home."""
    old = manifest["mlflow"].get("artifact_root")
    db = home / "mlflow" / "mlflow.db"
    if old and db.exists():
        new = (home / "mlflow" / "artifacts").as_uri()
        _replace_prefix_sqlite(
            db, {old: new, old.removeprefix("file://"): new.removeprefix("file://")}
        )
    registry = home / "feast" / "registry.db"
    source = manifest["source"]["lake_uri"]
    if registry.exists() and source.startswith("file://"):
        old_lake = storage_for(source).path()
        _replace_prefix_proto(registry, old_lake, str(home / "lake"))


def _replace_prefix_sqlite(db: Path, prefixes: Mapping[str, str]) -> None:
    with sqlite3.connect(db) as con:
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for col in con.execute(f'PRAGMA table_info("{table}")').fetchall():
                if "CHAR" not in col[2].upper() and "TEXT" not in col[2].upper():
                    continue
                for old, new in prefixes.items():
                    con.execute(
                        f'UPDATE "{table}" SET "{col[1]}" = ? || substr("{col[1]}", ?) '
                        f'WHERE substr("{col[1]}", 1, ?) = ?',
                        (new, len(old) + 1, len(old), old),
                    )


def _replace_prefix_proto(path: Path, old: str, new: str) -> None:
    from feast.protos.feast.core.Registry_pb2 import Registry

    registry = Registry()
    registry.ParseFromString(path.read_bytes())
    _walk_replace(registry, old.rstrip("/"), new.rstrip("/"))
    path.write_bytes(registry.SerializeToString())


def _walk_replace(message: Any, old: str, new: str) -> None:
    """Replace the ``old`` path prefix in every string field of a protobuf message, recursively."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                items: Iterable[Any] = list(value.values())
            else:
                items = value if _repeated(field) else [value]
            for item in items:
                if hasattr(item, "ListFields"):
                    _walk_replace(item, old, new)
        elif (
            field.type == field.TYPE_STRING
            and not _repeated(field)
            and (value == old or value.startswith(old + "/"))
        ):
            setattr(message, field.name, new + value[len(old) :])


def _repeated(field: Any) -> bool:
    # protobuf 6 added ``is_repeated`` and 7 removed ``label``.
    if hasattr(field, "is_repeated"):
        return bool(field.is_repeated)
    return field.label == field.LABEL_REPEATED


def verify_restore(manifest: Mapping[str, Any], home: Path) -> RestoreResult:
    """Check a restored home against its backup's manifest; raises naming what differs."""
    from deltalake import DeltaTable

    for rel, want in manifest["files"].items():
        if rel not in _REWRITTEN and _sha256(home / rel) != want["sha256"]:
            raise DataQualityError(f"restored {rel} differs from the backup")
    tables: dict[str, int] = {}
    for name, want in manifest["tables"].items():
        table = DeltaTable(str(home / "lake" / name))
        rows = table.to_pyarrow_dataset().count_rows()
        if table.version() != want["version"] or rows != want["rows"]:
            raise DataQualityError(
                f"restored {name} is v{table.version()} with {rows} rows, "
                f"backed up v{want['version']} with {want['rows']}"
            )
        tables[name] = table.version()
    runs = 0
    if (home / "mlflow" / "mlflow.db").exists():
        with sqlite3.connect(home / "mlflow" / "mlflow.db") as con:
            if con.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise DataQualityError("restored MLflow database fails its integrity check")
            query = "SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'"
            runs = con.execute(query).fetchone()[0]
        if runs != manifest["mlflow"]["runs"]:
            raise DataQualityError(
                f"restored MLflow has {runs} runs, backed up {manifest['mlflow']['runs']}"
            )
    views = []
    if (home / "feast" / "registry.db").exists():
        views = _feature_views(home / "feast" / "registry.db")
        if views != manifest["feast"]["feature_views"]:
            raise DataQualityError(f"restored Feast registry has views {views}")
    return RestoreResult(home, tables, len(manifest["files"]), runs, views)
