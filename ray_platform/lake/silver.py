"""The silver run: every table of one ingest date, in dependency order, as Ray Data pipelines.

For each table the bronze files of the date (from ``_system/bronze_manifest``, else a folder
listing) go through :func:`~ray_platform.lake.silver_file.process_file` in a Ray Data
``map_batches`` stage, one task per file, or per part of a big JSON-lines file so every CPU
works even on a one-file day (:mod:`~ray_platform.lake.silver_parts`). Tasks return Arrow
blocks (the good rows, plus one metadata row), so tables are never pickled. The driver then
applies the file-wide rules of split files, drops identical redeliveries, applies change
events, and writes the table, its quarantine and the reconciliation, each as one Delta commit
(customers and accounts: one merge, plus one delete commit when change events delete rows).
Bronze is only ever read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from ray_platform.contracts.model import TableContract
from ray_platform.contracts.silver import SILVER_ORDER
from ray_platform.errors import DataQualityError, SchemaError
from ray_platform.lake import layout
from ray_platform.lake import standardise as st
from ray_platform.lake.silver_file import Context, FileOutput, process_file
from ray_platform.lake.silver_parts import from_blocks, parts_of, to_block
from ray_platform.lake.silver_write import TableWriter, bronze_files, load_known
from ray_platform.lake.tokens import token_key
from ray_platform.settings import Settings, get_settings
from ray_platform.storage import storage_for
from ray_platform.tables import table_store

RECONCILIATION = layout.system_table("reconciliation")


@dataclass
class TableResult:
    """Counts of one table in one run; ``read == written + quarantined + duplicates_dropped``."""

    table: str
    files: list[str] = field(default_factory=list)
    read: int = 0
    written: int = 0
    quarantined: int = 0
    duplicates_dropped: int = 0
    malformed_files: dict[str, str] = field(default_factory=dict)
    evolved_columns: list[str] = field(default_factory=list)
    held: str | None = None
    fx_earlier_rate: int = 0
    fx_missing_rate: int = 0
    version: int | None = None

    @property
    def balanced(self) -> bool:
        """Whether every record read is accounted for."""
        return self.read == self.written + self.quarantined + self.duplicates_dropped


@dataclass
class SilverReport:
    """What a silver run did, per table."""

    run_id: str
    ingest_date: str
    tables: dict[str, TableResult]

    @property
    def held(self) -> dict[str, str]:
        """Feeds refused by a schema change, kept in bronze, with the reason."""
        return {t: r.held for t, r in self.tables.items() if r.held}

    @property
    def malformed_files(self) -> dict[str, str]:
        """Files quarantined whole, with the reason."""
        return {f: why for r in self.tables.values() for f, why in r.malformed_files.items()}


def _process_batch(batch: pa.Table, settings: Settings, contract: TableContract,
                   ctx: Context) -> pa.Table:  # fmt: skip
    """One task: each (file, part) of the batch through :func:`process_file`, as Arrow blocks."""
    from ray_platform.governance.crypto import read_bronze  # lazily: governance imports lake

    storage = storage_for(settings.lake_uri, settings.s3_endpoint_url)
    blocks = []
    for item in batch.to_pylist():
        data = read_bronze(storage, str(item["path"]), settings)
        day = st.as_date(str(item["business_date"]))
        out = process_file(contract, str(item["path"]), data, day, ctx, part=item["part"],
                           parts=item["parts"])  # fmt: skip
        blocks.append(to_block(out))
    return pa.concat_tables(blocks, promote_options="default") if len(blocks) > 1 else blocks[0]


def _run_files(files: list[tuple[str, str]], settings: Settings, contract: TableContract,
               ctx: Context, use_ray: bool) -> list[FileOutput]:  # fmt: skip
    storage = storage_for(settings.lake_uri, settings.s3_endpoint_url)
    cpus = _cpus() if use_ray else 1
    items = [
        {"path": p, "business_date": d, "part": k, "parts": n}
        for p, d in files
        for n in [parts_of(contract, p, storage.fs.size(storage.path(p)), cpus) if use_ray else 1]
        for k in range(n)
    ]
    if not use_ray:
        from ray_platform.governance.crypto import read_bronze

        return [
            process_file(contract, i["path"], read_bronze(storage, i["path"], settings),
                         st.as_date(i["business_date"]), ctx)
            for i in items
        ]  # fmt: skip
    import ray

    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _process_batch, batch_size=1, batch_format="pyarrow", zero_copy_batch=True,
        fn_kwargs={"settings": settings, "contract": contract, "ctx": ctx},
    )  # fmt: skip
    # Blocks in input order, so each output's rows precede its metadata row (silver_parts);
    # no progress bars: a pipeline run logs its own summary.
    ds.context.execution_options.preserve_order = True
    ds.context.enable_progress_bars = False
    return from_blocks(ray.get(ds.to_arrow_refs()))


def _cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_silver(
    ingest_date: str | dt.date,
    settings: Settings | None = None,
    run_id: str | None = None,
    tables: list[str] | None = None,
    use_ray: bool = True,
    stream_topics: Mapping[str, Sequence[str]] | None = None,
) -> SilverReport:
    """Build silver for ``ingest_date`` from bronze; raises if a table does not reconcile.

    Ray must already be initialised by the caller when ``use_ray`` (the default); with
    ``use_ray=False`` files are processed in this process (unit tests, tiny lakes).
    ``stream_topics`` maps a table to the Kafka topics its streamed batches came from, when
    those are not the contract's.
    """
    s = settings or get_settings()
    day = st.as_date(ingest_date).isoformat()
    run_id = run_id or f"silver-{day}-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}"
    store = table_store(s)
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    ctx = Context(run_id, day, s.reporting_currency, token_key(s))
    known = load_known(store)
    results: dict[str, TableResult] = {}
    for contract in SILVER_ORDER:
        if tables and contract.name not in tables:
            continue
        res = results[contract.name] = TableResult(contract.name)
        topics = (stream_topics or {}).get(contract.name)
        files = bronze_files(store, storage, contract, day, stream_topics=topics)
        res.files = [p for p, _ in files]
        if contract.name == "card_transactions" and store.exists(layout.silver_table("fx_rates")):
            ctx.fx = st.FxTable.from_table(store.read(layout.silver_table("fx_rates")))
        ctx.known = known.snapshot()
        outputs = _run_files(files, s, contract, ctx, use_ray) if files else []
        writer = TableWriter(store, storage, contract, ctx, res, settings=s)
        try:
            writer.write(outputs, known)
        except SchemaError as exc:
            res.held = str(exc)
            res.read = res.written = res.quarantined = res.duplicates_dropped = 0
    _write_reconciliation(store, run_id, day, results)
    unbalanced = [r.table for r in results.values() if not r.balanced]
    if unbalanced:
        detail = "; ".join(
            f"{r.table}: read {r.read} != written {r.written} + quarantined {r.quarantined} "
            f"+ duplicates {r.duplicates_dropped}"
            for r in results.values()
            if not r.balanced
        )
        raise DataQualityError(f"silver run {run_id} does not reconcile for {detail}")
    return SilverReport(run_id, day, results)


def _write_reconciliation(store: object, run_id: str, day: str,
                          results: dict[str, TableResult]) -> None:  # fmt: skip
    rows = [
        {
            "run_id": run_id,
            "ingest_date": day,
            "table": r.table,
            "read": r.read,
            "written": r.written,
            "quarantined": r.quarantined,
            "duplicates_dropped": r.duplicates_dropped,
            "balanced": r.balanced,
            "held": r.held is not None,
            "recorded_at": dt.datetime.now(dt.UTC),
        }
        for r in results.values()
    ]
    if not rows:
        return
    table = pa.Table.from_pylist(rows).cast(
        pa.schema([
            ("run_id", pa.string()), ("ingest_date", pa.string()), ("table", pa.string()),
            ("read", pa.int64()), ("written", pa.int64()), ("quarantined", pa.int64()),
            ("duplicates_dropped", pa.int64()), ("balanced", pa.bool_()), ("held", pa.bool_()),
            ("recorded_at", st.UTC_US),
        ])
    )  # fmt: skip
    # Every run is kept (an audit trail of reruns); readers take the latest run per date.
    store.write(RECONCILIATION, table, mode="append")  # type: ignore[attr-defined]
