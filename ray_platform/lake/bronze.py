"""The bronze zone: byte-exact copies of every raw feed, with a manifest row per file.

Files land under ``bronze/<source>/ingest_date=YYYY-MM-DD/`` exactly as the source dropped them
(gzip included) and are never modified or deleted afterwards. Each landed file gets one row in
the Delta table ``_system/bronze_manifest``: sha256, size, record count, source, business and
ingest dates, arrival time, schema version and run id.

Landing is idempotent and crash-safe:

* a file whose sha256 the manifest already holds for its source is not copied again
  (``skipped_duplicate``);
* an existing registered bronze file is never overwritten: different content under the same name
  lands as ``name.<sha8>.ext``;
* files are copied first and registered after, so a crash leaves at worst an unregistered copy;
  a rerun finds it, checks its sha256 and only registers it (``registered``).

One lander per source at a time is assumed; the manifest has no lock.

Example::

    from ray_platform.lake import bronze
    for f in bronze.land_landing_date(datetime.date(2024, 3, 1)):
        print(f.status, f.bronze_path, f.record_count)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal
from xml.etree.ElementTree import ParseError, XMLPullParser

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts import CONTRACTS, Classification, TableContract
from ray_platform.errors import InvalidArgument, NotFound
from ray_platform.lake import layout
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import Storage, storage_for
from ray_platform.tables import TableStore, table_store

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024

SCHEMA_VERSIONS: dict[str, dict[str, str]] = {
    "core_banking": {"customers": "1", "accounts": "1", "account_changes": "1"},
    "customer_mgmt": {"customer_changes": "1"},
    "cards": {"cards": "1", "card_transactions": "1"},
    "trading": {"instruments": "1", "counterparties": "1", "trades": "1", "positions": "1"},
    "market_data": {
        "prices": "1",
        "fx_rates": "1",
        "prices_history": "1",
        "fx_history": "1",
        "rates": "1",
        "rates_history": "1",
        "implied_vols": "1",
        "indicators": "1",
    },
    "interactions": {"interactions": "1"},
}
"""The declared schema version of each source's files (by file stem); ``"1"`` when unlisted."""

SOURCES: tuple[str, ...] = tuple(SCHEMA_VERSIONS)
"""The batch sources that land files in bronze."""

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("bronze_path", pa.string(), nullable=False),
        pa.field("landing_path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("record_count", pa.int64()),
        pa.field("count_error", pa.string()),
        pa.field("compression", pa.string()),
        pa.field("schema_version", pa.string(), nullable=False),
        pa.field("business_date", pa.date32()),
        pa.field("ingest_date", pa.date32(), nullable=False),
        pa.field("arrival_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)
"""Columns of ``_system/bronze_manifest``."""

Status = Literal["landed", "registered", "skipped_duplicate"]
_ECHOED = ("sha256", "bronze_path", "size_bytes", "record_count", "count_error")
_DATE_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class LandedFile:
    """What landing one file did; every field but ``status`` is a manifest column."""

    status: Status
    source: str
    file_name: str
    bronze_path: str
    landing_path: str
    sha256: str
    size_bytes: int
    record_count: int | None
    count_error: str | None
    compression: str | None
    schema_version: str
    business_date: dt.date | None
    ingest_date: dt.date
    arrival_time: dt.datetime
    run_id: str


def new_run_id() -> str:
    """A fresh run id: UTC time plus a random suffix, sortable by start time."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def land_file(
    path: str,
    source: str,
    *,
    ingest_date: dt.date | None = None,
    business_date: dt.date | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> LandedFile:
    """Land one file (a local path or URI) in bronze; see :func:`land_path`."""
    return land_path(
        path,
        source,
        ingest_date=ingest_date,
        business_date=business_date,
        run_id=run_id,
        settings=settings,
    )[0]


def land_path(
    path: str,
    source: str,
    *,
    ingest_date: dt.date | None = None,
    business_date: dt.date | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> list[LandedFile]:
    """Land a file, or every file under a folder, for ``source``; one result per file.

    ``path`` is a local path or a ``file://``/``s3://`` URI. Files and folders whose names start
    with ``.`` or ``_`` are skipped (partial uploads, markers). ``business_date`` defaults to
    the name of the file's folder when it reads ``YYYY-MM-DD``; ``ingest_date`` to today (UTC).
    All new manifest rows are appended in one commit at the end.
    """
    s = settings or get_settings()
    _check_source(source)
    root, names = _source_files(path, s)
    lander = _Lander(s, source, ingest_date, run_id)
    results = [lander.land(root, name, business_date) for name in names]
    lander.commit()
    return results


def land_landing_date(
    business_date: dt.date,
    *,
    ingest_date: dt.date | None = None,
    sources: Iterable[str] | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> list[LandedFile]:
    """Land what every source dropped in the landing zone for ``business_date``.

    Sources with no folder for that date are skipped; folders of unknown sources are logged
    and left alone. All files share one run id.
    """
    s = settings or get_settings()
    landing = storage_for(s.landing_uri, s.s3_endpoint_url)
    run = run_id or new_run_id()
    wanted = list(sources) if sources is not None else list(SOURCES)
    for name in wanted:
        _check_source(name)
    present = {p for p in landing.list() if not p.startswith((".", "_"))}
    for unknown in sorted(present - set(SOURCES)):
        log.warning("landing folder %r is not a known source; not landed", unknown)
    results: list[LandedFile] = []
    for source in wanted:
        folder = layout.landing_dir(source, business_date)
        if landing.exists(folder):
            results += land_path(
                landing.uri(folder),
                source,
                ingest_date=ingest_date,
                business_date=business_date,
                run_id=run,
                settings=s,
            )
    return results


def read_manifest(settings: Settings | None = None, source: str | None = None) -> pa.Table:
    """The bronze manifest (of one source, if given); empty with its schema when none yet."""
    tables = table_store(settings)
    if not tables.exists(layout.BRONZE_MANIFEST):
        return MANIFEST_SCHEMA.empty_table()
    data = tables.read(layout.BRONZE_MANIFEST)
    if source is not None:
        data = data.filter(pc.equal(data["source"], source))
    return data


def schema_version(source: str, file_name: str) -> str:
    """The declared schema version of ``file_name`` from ``source``."""
    stem = file_name.removesuffix(".gz").split(".", 1)[0]
    return SCHEMA_VERSIONS.get(source, {}).get(stem, "1")


@dataclass(frozen=True)
class FeedField:
    """One field of a raw feed's records (its path in the record) and how sensitive it is."""

    path: str
    type: str
    classification: Classification


CDC_METADATA: tuple[FeedField, ...] = tuple(
    FeedField(f"source.{name}", kind, "internal")
    for name, kind in (("connector", "str"), ("db", "str"), ("schema", "str"), ("table", "str"),
                       ("lsn", "int"))
)  # fmt: skip
"""The Debezium ``source`` block of a change event: where the change came from, no data."""


def feed_contract(source: str, stem: str) -> TableContract:
    """The silver contract that reads ``source``'s ``stem`` files (``prices_history`` -> prices)."""
    for c in CONTRACTS.values():
        if c.source == source and any(f.split(".", 1)[0] == stem for f in c.file_names):
            return c
    raise NotFound(f"no contract reads {source}/{stem} files")


def feed_fields(source: str, stem: str) -> tuple[FeedField, ...]:
    """Every field a raw ``source``/``stem`` file carries, with its classification.

    The fields and their classifications are the contract's, declared once: a raw file holds
    the same values as silver, only untokenised, so each keeps its column's classification.
    Change events also carry the ``before`` image (the same fields as ``after``) and the
    Debezium ``source`` block.
    """
    c = feed_contract(source, stem)
    fields = [FeedField(col.path, col.type, col.classification) for col in c.columns]
    if c.format == "cdc":
        fields += [
            FeedField("before." + f.path.split(".", 1)[1], f.type, f.classification)
            for f in fields
            if f.path.startswith("after.")
        ]
        fields += CDC_METADATA
    return tuple(fields)


# -- internals ----------------------------------------------------------------------------------


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise InvalidArgument(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")


def _source_files(path: str, s: Settings) -> tuple[Storage, list[str]]:
    """The storage rooted at ``path``'s folder and the files to land, relative to it."""
    whole = storage_for(path, s.s3_endpoint_url)
    if not whole.fs.exists(whole.path()):
        raise NotFound(f"nothing to land at {path!r}")
    if whole.fs.isfile(whole.path()):
        parent, _, name = whole.uri().rpartition("/")
        return storage_for(parent, s.s3_endpoint_url), [name]
    names = [
        p
        for p in whole.list(recursive=True)
        if not any(part.startswith((".", "_")) for part in p.split("/"))
    ]
    return whole, names


class _Lander:
    """Lands files for one source and run, then appends their manifest rows in one commit."""

    def __init__(
        self, s: Settings, source: str, ingest_date: dt.date | None, run_id: str | None
    ) -> None:
        self.source, self.settings = source, s
        self.ingest_date = ingest_date or dt.datetime.now(dt.UTC).date()
        self.run_id = run_id or new_run_id()
        self.lake = storage_for(s.lake_uri, s.s3_endpoint_url)
        self.tables: TableStore = table_store(s)
        known = read_manifest(s, source).select(list(_ECHOED))
        self.known: dict[str, dict[str, Any]] = {r["sha256"]: r for r in known.to_pylist()}
        self.registered = set(known["bronze_path"].to_pylist())
        self.rows: list[LandedFile] = []

    def land(self, root: Storage, relative: str, business_date: dt.date | None) -> LandedFile:
        name = relative.rsplit("/", 1)[-1]
        folder = relative.rsplit("/", 2)[-2] if "/" in relative else root.uri().rsplit("/")[-1]
        if business_date is None and _DATE_DIR.match(folder):
            business_date = dt.date.fromisoformat(folder)
        src = root.path(relative)
        sha = _sha256(root, src)
        base = dict(source=self.source, file_name=name, landing_path=root.uri(relative))
        if sha in self.known:  # report where the earlier copy lives
            first = self.known[sha]
            counted = _Count.known(sha, first["size_bytes"], first["record_count"])
            counted.error = first["count_error"]
            return self._result(
                "skipped_duplicate", base, sha, business_date, first["bronze_path"], counted
            )
        target = layout.bronze_file(self.source, self.ingest_date, name)
        if target in self.registered:  # same name, other content: never overwrite
            target = layout.bronze_file(self.source, self.ingest_date, _suffixed(name, sha))
        if self.lake.exists(target) and _sha256(self.lake, self.lake.path(target)) == sha:
            # Copied by a run that crashed before registering it: only register it.
            status: Status = "registered"
            counted = _copy(self.lake, self.lake.path(target), None, name)
        else:
            # An unregistered file with other bytes is a partial copy from a crash: replace it.
            status = "landed"
            from ray_platform.governance.crypto import bronze_writer  # no import cycle

            out = bronze_writer(self.lake, target, self.source, name, self.settings)
            counted = _copy(root, src, out, name)  # personal feeds sealed (governance.crypto)
        row = self._result(status, base, counted.sha256, business_date, target, counted)
        self.rows.append(row)
        self.known[counted.sha256] = {
            "sha256": counted.sha256,
            "bronze_path": target,
            "size_bytes": counted.size,
            "record_count": counted.records,
            "count_error": counted.error,
        }
        self.registered.add(target)
        return row

    def _result(
        self,
        status: Status,
        base: dict[str, Any],
        sha: str,
        business_date: dt.date | None,
        target: str | None,
        counted: _Count,
    ) -> LandedFile:
        return LandedFile(
            status=status,
            **base,
            bronze_path=target or "",
            sha256=sha,
            size_bytes=counted.size,
            record_count=counted.records,
            count_error=counted.error,
            compression="gzip" if base["file_name"].endswith(".gz") else None,
            schema_version=schema_version(self.source, base["file_name"]),
            business_date=business_date,
            ingest_date=self.ingest_date,
            arrival_time=dt.datetime.now(dt.UTC),
            run_id=self.run_id,
        )

    def commit(self) -> None:
        if not self.rows:
            return
        rows = [{k: v for k, v in asdict(r).items() if k != "status"} for r in self.rows]
        self.tables.write(layout.BRONZE_MANIFEST, pa.Table.from_pylist(rows, MANIFEST_SCHEMA))
        self.rows = []


def _suffixed(name: str, sha: str) -> str:
    """``name.<sha8>.ext``, keeping ``.gz`` and the format extension at the end."""
    stem, dot, ext = name.removesuffix(".gz").partition(".")
    gz = ".gz" if name.endswith(".gz") else ""
    return f"{stem}.{sha[:8]}{dot}{ext}{gz}"


def _sha256(storage: Storage, full_path: str) -> str:
    digest = hashlib.sha256()
    with storage.fs.open(full_path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(src: Storage, full_path: str, out: Any, name: str) -> _Count:
    """Stream ``full_path`` into ``out`` (None: only read it), hashing and counting records."""
    count = _Count(name)
    with src.fs.open(full_path, "rb") as handle:
        if out is None:
            while chunk := handle.read(CHUNK):
                count.feed(chunk)
        else:
            with out:
                while chunk := handle.read(CHUNK):
                    out.write(chunk)
                    count.feed(chunk)
    count.finish()
    return count


class _Count:
    """Running sha256, size and record count of a file's bytes, fed chunk by chunk.

    Records are lines (JSONL), lines less the header (CSV) or children of the root element (XML),
    counted on the decompressed text of ``.gz`` files. A file that cannot be counted gets
    ``records = None`` and the reason in ``error``; it lands all the same.
    """

    def __init__(self, name: str = "") -> None:
        self.digest = hashlib.sha256()
        self.known_sha: str | None = None
        self.size = 0
        self.records: int | None = None
        self.error: str | None = None
        plain = name.removesuffix(".gz")
        self.kind = plain.rsplit(".", 1)[-1].lower() if "." in plain else ""
        self.gunzip = zlib.decompressobj(zlib.MAX_WBITS | 16) if name.endswith(".gz") else None
        self.utf8 = _utf8_decoder()
        self.lines = 0
        self.last = b"\n"
        self.xml: XMLPullParser | None = None
        self.root: Any = None
        self.depth = 0
        if self.kind == "xml":
            self.xml = XMLPullParser(events=("start", "end"))
        elif name and self.kind not in ("csv", "jsonl", "json", "ndjson"):
            self.error = f"cannot count records of a {self.kind or 'extensionless'} file"

    @classmethod
    def known(cls, sha: str, size: int, records: int | None) -> _Count:
        """A count already on record (for a duplicate that is not read again)."""
        count = cls()
        count.known_sha, count.size, count.records = sha, size, records
        return count

    @property
    def sha256(self) -> str:
        return self.known_sha or self.digest.hexdigest()

    def feed(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        if self.error is None:
            try:
                self._count(self._gunzip(chunk))
            except (zlib.error, UnicodeDecodeError, ParseError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"

    def finish(self) -> None:
        if self.error is None:
            try:
                self._finish()
            except (zlib.error, UnicodeDecodeError, ParseError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"
        if self.error is not None:
            self.records = None

    def _gunzip(self, chunk: bytes) -> bytes:
        if self.gunzip is None:
            return chunk
        out = []
        while chunk:
            if self.gunzip.eof:  # a concatenated (multi-member) gzip file
                self.gunzip = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out.append(self.gunzip.decompress(chunk))
            chunk = self.gunzip.unused_data
        return b"".join(out)

    def _count(self, data: bytes) -> None:
        if not data:
            return
        self.utf8.decode(data)
        if self.xml is not None:
            self.xml.feed(data)
            self._drain_xml()
        else:
            self.lines += data.count(b"\n")
            self.last = data[-1:]

    def _drain_xml(self) -> None:
        assert self.xml is not None
        for event, elem in self.xml.read_events():
            if event == "start":
                self.depth += 1
                if self.root is None:
                    self.root = elem
            else:
                self.depth -= 1
                if self.depth == 1:  # a record: a child of the root element
                    self.lines += 1
                    self.root.clear()  # keep memory flat on big documents

    def _finish(self) -> None:
        if self.gunzip is not None and not self.gunzip.eof:
            raise zlib.error("truncated gzip stream")
        self.utf8.decode(b"", final=True)
        if self.xml is not None:
            self.xml.close()
            self._drain_xml()
            self.records = self.lines
            return
        lines = self.lines + (0 if self.last == b"\n" else 1)  # a last line with no newline
        self.records = max(lines - 1, 0) if self.kind == "csv" else lines


def _utf8_decoder() -> Any:
    import codecs

    return codecs.getincrementaldecoder("utf-8")()
