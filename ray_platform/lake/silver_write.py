"""The driver side of a silver run: find bronze files, drop redeliveries, write Delta commits.

Duplicates: a business key repeated inside one file is a source defect, quarantined as
``duplicate_id`` by validation. Across files, and across runs, an identical payload under a key
already delivered (the same transaction from a file and a Kafka batch, or resent on a later day)
is a redelivery, counted as ``duplicates_dropped``; the same key with another payload is an
update for an entity table and a ``duplicate_id`` for an immutable fact.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from ray_platform.contracts.model import TableContract
from ray_platform.contracts.silver import CONTRACTS
from ray_platform.errors import SchemaError
from ray_platform.lake import layout
from ray_platform.lake.cdc import apply_changes
from ray_platform.lake.cdc import target as cdc_target
from ray_platform.lake.parse import Parsed, line_array, parse_file, utf8
from ray_platform.lake.silver_file import QUARANTINE_SCHEMA, Context, FileOutput, _qrow
from ray_platform.lake.silver_parts import merge_parts
from ray_platform.lake.validate import first_occurrence_of, key_codes, key_text
from ray_platform.settings import Settings
from ray_platform.storage import Storage
from ray_platform.tables import TableStore


def bronze_files(
    store: TableStore,
    storage: Storage,
    contract: TableContract,
    day: str,
    stream_topics: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """``(bronze path, business date)`` of the table's files landed on ``day``.

    ``stream_topics`` overrides the contract's Kafka topics (a deployment may name them
    otherwise).
    """
    topics = list(contract.stream_topics if stream_topics is None else stream_topics)
    found: dict[str, str] = {}
    if store.exists(layout.BRONZE_MANIFEST):
        m = store.dataset(layout.BRONZE_MANIFEST).to_table(
            filter=(pc.field("source") == contract.source)
        )
        for row in m.to_pylist():
            if str(row["ingest_date"]) != day or not contract.matches_file(row["bronze_path"]):
                continue
            found[row["bronze_path"]] = str(row.get("business_date") or day)
    else:
        folder = layout.bronze_dir(contract.source, dt.date.fromisoformat(day))
        for path in storage.list(folder):
            if contract.matches_file(path):
                found[path] = day
    if topics and store.exists(layout.KAFKA_OFFSETS):
        # Only batches the offsets ledger records: a file a crashed landing left behind is not
        # part of the stream (see kafka_landing).
        # A streamed record is judged against when it arrived, not the run's business date:
        # the nightly run for D also lands what was produced after D closed.
        landed = store.dataset(layout.KAFKA_OFFSETS).to_table(
            columns=["bronze_path", "landed_at"],
            filter=pc.field("topic").isin(topics)
            & (pc.field("ingest_date") == dt.date.fromisoformat(day)),
        )
        for row in landed.to_pylist():
            found[row["bronze_path"]] = max(day, row["landed_at"].date().isoformat())
    return sorted(found.items())


class KnownKeys:
    """Keys that foreign keys may point at: silver plus what this run has validated."""

    def __init__(self) -> None:
        self.keys: dict[str, list[pa.Array]] = {}

    def add(self, target: str, values: pa.Array | pa.ChunkedArray) -> None:
        """Add keys of ``table.column``."""
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        self.keys.setdefault(target, []).append(pc.drop_null(arr.cast(pa.string())))

    def snapshot(self) -> dict[str, pa.Array]:
        """Distinct keys per target, as one array each."""
        return {t: pc.unique(pa.concat_arrays(v)) for t, v in self.keys.items() if v}


def load_known(store: TableStore) -> KnownKeys:
    """Known keys of every foreign-key target from the silver tables as they stand."""
    known = KnownKeys()
    targets = {c.fk for t in CONTRACTS.values() for c in t.columns if c.fk}
    # Change tables hold keys of their target too (a customer created by an event).
    changes: dict[str, list[str]] = {}
    for t in CONTRACTS.values():
        if t.format == "cdc":
            entity, key = cdc_target(t)
            changes.setdefault(f"{entity.name}.{key}", []).append(t.name)
    for target in sorted(targets):
        table, column = target.split(".")
        for name in [table, *changes.get(target, [])]:
            if store.exists(layout.silver_table(name)):
                col = store.read(layout.silver_table(name), columns=[column]).column(0)
                known.add(target, col)
    return known


class TableWriter:
    """Writes one table's outputs of one run."""

    def __init__(self, store: TableStore, storage: Storage, contract: TableContract,
                 ctx: Context, result: object,
                 settings: Settings | None = None) -> None:  # fmt: skip
        self.store, self.storage, self.contract, self.ctx = store, storage, contract, ctx
        self.res = result
        self.settings = settings  # None: no encryption at rest (tests of the rules alone)
        self.name = layout.silver_table(contract.name)
        self._parsed: dict[str, object] = {}
        self._ds: object = None

    def _current(self) -> pads.Dataset:
        """The table as it stands before this run's commit, opened once.

        Opening lists every data file of the Delta log; a fact table grows by a few dozen files
        a day, so the redelivery lookup and the schema checks share one open.
        """
        if self._ds is None:
            self._ds = self.store.dataset(self.name)
        return self._ds  # type: ignore[return-value]

    def _payload(self, path: str, record: int) -> str:
        if path not in self._parsed:
            from ray_platform.governance.crypto import read_bronze  # lazily: no import cycle

            data = read_bronze(self.storage, path, self.settings)
            if self.contract.format in ("jsonl", "cdc"):  # the lines suffice; no JSON parse
                self._parsed[path] = Parsed(pa.table({}), [], lines=line_array(utf8(data, path)))
            else:
                self._parsed[path] = parse_file(self.contract, data, path)
        return self._parsed[path].raw(record)  # type: ignore[attr-defined]

    def _quarantine_rows(self, good: pa.Table, mask: np.ndarray, rule: str,
                         reason: str) -> list[dict[str, object]]:  # fmt: skip
        rows = good.filter(pa.array(mask)).select(["_source_file", "_source_record"]).to_pylist()
        keys = key_text(good.filter(pa.array(mask)), self.contract.business_key).to_pylist()
        return [
            _qrow(self.ctx, r["_source_file"], r["_source_record"], k, rule,
                  self.contract.business_key[0], reason,
                  self._payload(r["_source_file"], r["_source_record"]))
            for r, k in zip(rows, keys, strict=True)
        ]  # fmt: skip

    def write(self, outputs: Sequence[FileOutput], known: KnownKeys) -> None:
        """Dedupe, write silver and quarantine, update ``known``; counts go to the result."""
        res = self.res
        outputs = merge_parts(self.contract, outputs, self.ctx, self._payload)
        errors = [o.schema_error for o in outputs if o.schema_error]
        if errors:
            raise SchemaError(errors[0])
        res.read = sum(o.read for o in outputs)  # type: ignore[attr-defined]
        quarantine = [row for o in outputs for row in o.quarantine]
        malformed = {o.path: o.malformed_file for o in outputs if o.malformed_file}
        res.malformed_files = malformed  # type: ignore[attr-defined]
        res.fx_earlier_rate = sum(o.fx_earlier for o in outputs)  # type: ignore[attr-defined]
        res.fx_missing_rate = sum(o.fx_missing for o in outputs)  # type: ignore[attr-defined]
        parts = [o.good for o in outputs if o.good is not None]
        good = pa.concat_tables(parts, promote_options="default") if parts else None
        if good is not None and self.contract.business_key:
            good, quarantine, dropped = self._dedupe(good, quarantine)
            res.duplicates_dropped = dropped  # type: ignore[attr-defined]
        res.quarantined = len(quarantine)  # type: ignore[attr-defined]
        res.written = good.num_rows if good is not None else 0  # type: ignore[attr-defined]
        if good is not None:
            self._check_schema(good)
            good = self._encrypt(good, self.name)
            res.version = self._write_silver(good)  # type: ignore[attr-defined]
            self._update_known(good, known)
            if self.contract.format == "cdc":
                apply_changes(self.store, good, self.contract)
        self._write_quarantine(quarantine)

    def _encrypt(self, table: pa.Table, name: str) -> pa.Table:
        """Classified columns encrypted at rest (governance.crypto), when a home is known."""
        if self.settings is None:
            return table
        from ray_platform.governance.crypto import encrypt_columns

        return encrypt_columns(table, name, self.settings)

    def _dedupe(self, good: pa.Table, quarantine: list[dict[str, object]]
                ) -> tuple[pa.Table, list[dict[str, object]], int]:  # fmt: skip
        codes = key_codes(key_text(good, self.contract.business_key))
        repeat = ~first_occurrence_of(codes)
        dropped_here = 0
        if repeat.any():  # the same key in two files of one run (say, a file and a Kafka batch)
            hashes = good.column("_payload_hash").to_numpy()
            first = np.flatnonzero(~repeat)  # by code: codes number first appearances in order
            identical = repeat & (hashes == hashes[first[codes]])
            dropped_here = int(identical.sum())
            conflict = repeat & ~identical
            reason = "business key already delivered in this run with another payload"
            quarantine += self._quarantine_rows(good, conflict, "duplicate_id", reason)
            good = good.filter(pa.array(~repeat))
        existing = self._existing(good)
        if existing is None or not existing.num_rows:
            return good, quarantine, dropped_here
        ex_key = key_text(existing, self.contract.business_key)
        idx = pc.index_in(key_text(good, self.contract.business_key), ex_key)
        seen = pc.is_valid(idx).to_numpy(zero_copy_only=False)
        same = np.zeros(len(seen), dtype=bool)
        ex_hash = existing.column("_payload_hash").to_numpy()
        pos = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False)
        same[seen] = ex_hash[pos[seen]] == good.column("_payload_hash").to_numpy()[seen]
        dropped = int(same.sum())
        keep = ~same
        if self.contract.kind == "fact":
            conflict = seen & ~same
            if conflict.any():
                quarantine += self._quarantine_rows(
                    good, conflict, "duplicate_id", "key already in silver with another payload"
                )
            keep &= ~conflict
        return good.filter(pa.array(keep)), quarantine, dropped + dropped_here

    def _existing(self, good: pa.Table) -> pa.Table | None:
        if not self.store.exists(self.name) or not good.num_rows:
            return None
        ds = self._current()
        cols = [*self.contract.business_key, "_payload_hash"]
        flt = pc.field(self.contract.business_key[0]).isin(
            pc.unique(good.column(self.contract.business_key[0]))
        )
        if self.contract.kind == "fact":
            flt &= pc.field("_ingest_date") != self.ctx.ingest_date
            for p in self.contract.partition_by[:3]:  # prune to the partitions being written
                flt &= pc.field(p).isin(pc.unique(good.column(p)))
            return ds.to_table(columns=cols, filter=flt)
        # An entity table once merged (a CDC apply) has files deltalake wrote with string_view
        # columns, whose statistics a pushed-down string filter cannot compare ("no kernel for
        # greater_equal (string, string_view)"): filter after reading, entity-sized data.
        return ds.to_table(columns=cols).filter(flt)

    def _check_schema(self, good: pa.Table) -> None:
        if not self.store.exists(self.name):
            return
        current = self._current().schema
        for f in good.schema:
            if f.name in current.names and not _compatible(current.field(f.name).type, f.type):
                raise SchemaError(
                    f"{self.contract.name}: column {f.name!r} changes type from "
                    f"{current.field(f.name).type} to {f.type}; refused, feed held in bronze"
                )

    def _align(self, good: pa.Table) -> tuple[pa.Table, bool]:
        current = self._current().schema
        for f in current:
            if f.name not in good.column_names:
                good = good.append_column(f.name, pa.nulls(good.num_rows, f.type))
        new = [n for n in good.column_names if n not in current.names]
        order = [n for n in current.names] + new
        return good.select(order).cast(
            pa.schema(
                [current.field(n) if n in current.names else good.schema.field(n) for n in order]
            )
        ), bool(new)

    def _write_silver(self, good: pa.Table) -> int:
        c = self.contract
        if not self.store.exists(self.name):
            return self.store.write(self.name, good, partition_by=c.partition_by or None)
        good, evolve = self._align(good)
        if evolve:
            self.res.evolved_columns = [  # type: ignore[attr-defined]
                n for n in good.column_names if n not in self._current().schema.names
            ]
        if c.kind == "fact":
            return self.store.write(
                self.name, good, mode="overwrite",
                predicate=f"_ingest_date = '{self.ctx.ingest_date}'",
                partition_by=c.partition_by or None, evolve_schema=evolve,
            )  # fmt: skip
        if evolve:  # merge cannot add columns; evolve the schema with an empty append first
            self.store.write(self.name, good.slice(0, 0), mode="append", evolve_schema=True)
        if not good.num_rows:
            return self.store.version(self.name)
        return self.store.merge(self.name, good, c.business_key)

    def _update_known(self, good: pa.Table, known: KnownKeys) -> None:
        c = self.contract
        if c.format == "cdc":
            entity, key = cdc_target(c)
            creates = good.filter(pc.not_equal(good.column("op"), "d"))
            known.add(f"{entity.name}.{key}", creates.column(key))
        elif len(c.business_key) == 1:
            known.add(f"{c.name}.{c.business_key[0]}", good.column(c.business_key[0]))

    def _write_quarantine(self, rows: list[dict[str, object]]) -> None:
        name = layout.quarantine_table(self.contract.name)
        table = self._encrypt(pa.Table.from_pylist(rows, schema=QUARANTINE_SCHEMA), name)
        if not self.store.exists(name):
            if rows:
                self.store.write(name, table)
            return
        self.store.write(name, table, mode="overwrite",
                         predicate=f"ingest_date = '{self.ctx.ingest_date}'")  # fmt: skip


def _compatible(old: pa.DataType, new: pa.DataType) -> bool:
    if old == new or pa.types.is_null(old) or pa.types.is_null(new):
        return True
    if pa.types.is_large_string(old) and pa.types.is_string(new):
        return True
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return new.bit_width >= old.bit_width  # widening only
    return bool(pa.types.is_timestamp(old) and pa.types.is_timestamp(new))
