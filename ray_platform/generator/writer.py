"""Render records to CSV, JSON lines and XML bytes, merge in bad records, and write files.

Good records arrive as a :class:`pyarrow.Table` whose columns are ``string`` or ``int64``
(already in their text form, nulls for absent values) and are rendered column-wise with
pyarrow compute, so a million rows take about a second. Bad records arrive as Python dicts
(or ready lines) and are rendered one by one with the same rules.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.generator.schema import FileSpec

JSON_BARE_TYPES = frozenset({"int", "epoch_ms"})


def _as_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(col, pa.string())


def render_jsonl_table(spec: FileSpec, table: pa.Table) -> list[str]:
    """One JSON object per record, keys in schema order, no spaces (like ``json.dumps``)."""
    if table.num_rows == 0:
        return []
    pieces: list[Any] = []
    for i, f in enumerate(spec.fields):
        col = table.column(f.name)
        text = _as_text(col)
        if f.type not in JSON_BARE_TYPES:
            text = pc.binary_join_element_wise('"', text, '"', "")
        text = pc.fill_null(text, "null")
        pieces.append(("{" if i == 0 else ",") + f'"{f.name}":')
        pieces.append(text)
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "").to_pylist()


def render_json(record: dict[str, Any]) -> str:
    """One record as a compact JSON line (the form :func:`render_jsonl_table` produces)."""
    return json.dumps(record, separators=(",", ":"))


def render_csv_table(spec: FileSpec, table: pa.Table) -> list[str]:
    """One comma-separated line per record; values never contain commas or quotes."""
    if table.num_rows == 0:
        return []
    cols = [pc.fill_null(_as_text(table.column(f.name)), "") for f in spec.fields]
    return pc.binary_join_element_wise(*cols, ",").to_pylist()


def render_csv(values: list[Any]) -> str:
    """One CSV line from a list of cell values (None becomes an empty cell)."""
    return ",".join("" if v is None else str(v) for v in values)


def render_xml_record(spec: FileSpec, record: dict[str, Any]) -> str:
    """One XML record element; absent (None) fields are left out."""
    children = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in record.items() if v is not None)
    return f"  <{spec.record_tag}>{children}</{spec.record_tag}>"


def merge_lines(good: list[str], bad: list[str], after: np.ndarray) -> list[str]:
    """Insert each ``bad[j]`` after good line ``after[j]`` (-1: before the first)."""
    if not bad:
        return good
    keys = np.concatenate([np.arange(len(good)) * 2, np.asarray(after) * 2 + 1])
    order = np.argsort(keys, kind="stable")
    both = good + bad
    return [both[i] for i in order]


@dataclass
class WrittenFile:
    """What the run manifest records about one file."""

    path: str
    source: str
    records: int
    bad_records: int
    sha256: str
    bytes: int


def assemble(spec: FileSpec, lines: list[str], business_date: str) -> bytes:
    """The file's bytes: CSV header, JSON lines, or an XML document around the records."""
    if spec.fmt == "csv":
        body = [",".join(f.name for f in spec.fields), *lines]
    elif spec.fmt == "xml":
        body = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<{spec.root_tag} business_date="{business_date}">',
            *lines,
            f"</{spec.root_tag}>",
        ]
    else:
        body = lines
    return ("\n".join(body) + "\n").encode() if body else b""


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class FeedWriter:
    """Writes each file once, with its bad records, and keeps the manifest of both."""

    def __init__(self, storage: Any, injector: Any) -> None:
        self.storage = storage
        self.injector = injector
        self.files: list[WrittenFile] = []
        self.bad_entries: list[dict[str, Any]] = []

    def write(
        self,
        spec: FileSpec,
        day: str,
        rng: np.random.Generator,
        table: pa.Table | None = None,
        records: list[dict[str, Any]] | None = None,
    ) -> WrittenFile:
        """Write ``<source>/<day>/<name>`` from a table (flat) or dict records (XML, CDC)."""
        from ray_platform.generator.bad import get_path

        rel = f"{spec.source}/{day}/{spec.name}"
        if table is not None:
            n_good = table.num_rows
            good = (
                render_jsonl_table(spec, table)
                if spec.fmt == "jsonl"
                else render_csv_table(spec, table)
            )

            def templates_for(idx: np.ndarray) -> list[dict[str, Any]]:
                return table.take(pa.array(idx)).to_pylist()
        else:
            assert records is not None
            n_good = len(records)
            good = [self._render_one(spec, r) for r in records]

            def templates_for(idx: np.ndarray) -> list[dict[str, Any]]:
                return [records[i] for i in idx.tolist()]

        bad = self.injector.plan(spec, day, n_good, templates_for, rng)
        bad_lines = []
        for b in bad:
            line = self._render_one(spec, b.record)
            if b.malformed:
                # CSV: one cell short; JSON: cut in half, so the object never closes.
                line = line.rsplit(",", 1)[0] if spec.fmt == "csv" else line[: len(line) // 2]
            bad_lines.append(line)
        after = np.array([b.after for b in bad], dtype=np.int64)
        lines = merge_lines(good, bad_lines, after)
        if bad:
            keys = np.concatenate([np.arange(n_good) * 2, after * 2 + 1])
            position = np.empty(len(keys), dtype=np.int64)
            position[np.argsort(keys, kind="stable")] = np.arange(len(keys))
            for j, b in enumerate(bad):
                rid = get_path(b.record, spec.id_field) if spec.id_field else None
                if rid is None and spec.name == "customer_changes.jsonl":
                    rid = get_path(b.record, "after.customer_id") or get_path(
                        b.record, "before.customer_id"
                    )
                where = "element" if spec.fmt == "xml" else "line"
                self.bad_entries.append(
                    {
                        "source": spec.source,
                        "file": rel,
                        where: int(position[n_good + j]) + 1,
                        "id": rid,
                        "kind": b.kind,
                        "field": b.field,
                        "reason": b.reason,
                    }
                )
        data = assemble(spec, lines, day)
        with self.storage.open(rel, "wb") as fh:
            fh.write(data)
        written = WrittenFile(rel, spec.source, len(lines), len(bad), sha256(data), len(data))
        self.files.append(written)
        return written

    @staticmethod
    def _render_one(spec: FileSpec, record: dict[str, Any]) -> str:
        if spec.fmt == "xml":
            return render_xml_record(spec, record)
        if spec.fmt == "csv":
            return render_csv([record.get(f.name) for f in spec.fields])
        return render_json(record)
