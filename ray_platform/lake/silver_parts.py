"""Big files in parts: how a file is split across tasks and put back together.

A JSON-lines file above :data:`PART_BYTES` is cut at line breaks into parts, one Ray task
each, so both CPUs work even when a day is one file. Every rule but two is local to a record;
the two file-wide rules run here, on the driver, after the parts come back:

* a required column missing from the whole file (each part only reports what it saw), and
* a business key repeated in two parts (each part only sees its own repeats): the first valid
  occurrence in the file is kept, later ones are quarantined as ``duplicate_id`` exactly as
  validation would have done on the whole file.

Outputs travel through Ray Data as Arrow blocks: the good rows themselves, then one row with
only ``_output`` set, the pickled :class:`FileOutput` without its table (counts, quarantine
rows). The table is never pickled.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.model import TableContract
from ray_platform.lake.parse import _missing
from ray_platform.lake.silver_file import Context, FileOutput, _qrow
from ray_platform.lake.validate import key_codes, key_text

PART_BYTES = 16 << 20
"""Files above this are split; below it a task's fixed cost outweighs a second CPU."""
META = "_output"


def parts_of(contract: TableContract, path: str, size: int, cpus: int) -> int:
    """How many parts to cut a file of ``size`` bytes into (1: not split)."""
    if contract.format != "jsonl" or path.endswith(".gz") or size <= PART_BYTES:
        return 1
    # A self-reference may point at a record in another part; such files stay whole.
    if any(c.fk and c.fk.split(".")[0] == contract.name for c in contract.columns):
        return 1
    return max(1, min(cpus * 2, -(-size // PART_BYTES)))


def to_block(out: FileOutput) -> pa.Table:
    """The Arrow block a task returns: good rows, then the metadata row."""
    meta = pickle.dumps(dataclasses.replace(out, good=None), protocol=5)
    good = out.good if out.good is not None else pa.table({})
    nulls = {f.name: pa.nulls(1, f.type) for f in good.schema}
    row = pa.table({**nulls, META: pa.array([meta], pa.binary())})
    return pa.concat_tables([good.append_column(META, pa.nulls(good.num_rows, pa.binary())), row])


def from_blocks(blocks: Sequence[pa.Table]) -> list[FileOutput]:
    """Outputs from blocks in task order: each metadata row closes the rows before it."""
    outputs: list[FileOutput] = []
    rows: list[pa.Table] = []
    for block in blocks:
        is_meta = pc.is_valid(block.column(META))
        data = block.filter(pc.invert(is_meta)).drop_columns([META])
        if data.num_rows:
            rows.append(data)
        for meta in block.column(META).filter(is_meta).to_pylist():
            out: FileOutput = pickle.loads(meta)
            if rows:
                out.good = pa.concat_tables(rows) if len(rows) > 1 else rows[0]
            elif out.schema_error is None and out.malformed_file is None:
                out.good = data.slice(0, 0)
            rows = []
            outputs.append(out)
    return outputs


def merge_parts(contract: TableContract, outputs: Sequence[FileOutput], ctx: Context,
                payload: Callable[[str, int], str]) -> list[FileOutput]:  # fmt: skip
    """One output per file: the parts of each split file merged, file-wide rules applied."""
    merged: list[FileOutput] = []
    by_path: dict[str, list[FileOutput]] = {}
    for out in outputs:
        if out.parts == 1:
            merged.append(out)
        else:
            by_path.setdefault(out.path, []).append(out)
    for path, parts in by_path.items():
        merged.append(_merge_file(contract, path, sorted(parts, key=lambda o: o.part), ctx,
                                  payload))  # fmt: skip
    return merged


def _merge_file(contract: TableContract, path: str, parts: list[FileOutput], ctx: Context,
                payload: Callable[[str, int], str]) -> FileOutput:  # fmt: skip
    bad = [p for p in parts if p.malformed_file]
    if bad:  # the first bad byte of the file is in the first bad part
        return dataclasses.replace(bad[0], part=0, parts=1)
    read = sum(p.read for p in parts)
    present = {c for p in parts for c in p.present or []}
    missing = _missing(contract, present) if sum(p.rows for p in parts) >= 2 else []
    if missing:
        msg = f"{contract.name}: required column {', '.join(missing)} is missing from {path}"
        return FileOutput(path, read, None, [], [], schema_error=msg)
    quarantine = [row for p in parts for row in p.quarantine]
    goods = [p.good for p in parts if p.good is not None]
    # The order the whole file gets: a stable sort by the cluster key of rows in record order.
    order = [(c, "ascending") for c in contract.cluster_by] + [("_source_record", "ascending")]
    good = pa.concat_tables(goods, promote_options="default").sort_by(order)
    if contract.business_key and good.num_rows:
        codes = key_codes(key_text(good, contract.business_key))
        records = good.column("_source_record").to_numpy()
        lowest = np.full(codes.max() + 1, np.iinfo(np.int64).max)
        np.minimum.at(lowest, codes, records)
        first = records == lowest[codes]
        if not first.all():  # a key repeated in another part: the later ones are duplicates
            quarantine += _duplicates(contract, good.filter(pa.array(~first)), ctx, payload)
            good = good.filter(pa.array(first))
    extra = sorted({c for p in parts for c in p.extra_columns})
    return FileOutput(path, read, good, quarantine, extra,
                      fx_earlier=sum(p.fx_earlier for p in parts),
                      fx_missing=sum(p.fx_missing for p in parts))  # fmt: skip


def _duplicates(contract: TableContract, dups: pa.Table, ctx: Context,
                payload: Callable[[str, int], str]) -> list[dict[str, object]]:  # fmt: skip
    field = contract.business_key[0]
    rows = []
    keys = {k: dups.column(k).to_pylist() for k in contract.business_key}
    files = dups.column("_source_file").to_pylist()
    for i, record in enumerate(dups.column("_source_record").to_pylist()):
        rid = "|".join(str(keys[k][i]) for k in contract.business_key)
        reason = f"{keys[field][i]!r}: business key already used above"
        rows.append(_qrow(ctx, files[i], record, rid, "duplicate_id", field, reason,
                          payload(files[i], record)))  # fmt: skip
    return rows
