"""Turn one bronze file into an Arrow table of string columns, one row per source record.

Every parser returns :class:`Parsed`: the records as ``string`` columns named by their path in
the record (``after.customer_id`` for a change event), ``_record`` (1-based data line for CSV
without the header and for JSON lines, 1-based element index for XML, the numbering of the
generator's bad-record manifest), the records that could not be parsed (``malformed_row``),
and the original payload of any record on demand (:meth:`Parsed.raw`), so payloads are only
materialised for the few records that are quarantined.

A file that cannot be read at all (truncated gzip, invalid UTF-8, a header that does not match
the contract, XML that is not well-formed) raises :class:`MalformedFile`; the run quarantines
the whole file and goes on.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from ray_platform.contracts.model import TableContract
from ray_platform.errors import DataQualityError


class MalformedFile(DataQualityError):
    """A whole file cannot be parsed; the reason says why."""


@dataclass
class Parsed:
    """The records of one file as text, plus what could not be parsed."""

    table: pa.Table  # string columns + _record (int64)
    malformed: list[tuple[int, str]]  # (record, reason)
    lines: list[str] | pa.Array | None = None  # raw text per record (CSV, JSON lines)
    first_record: int = 1  # record number of lines[0] (a part of a split file)
    elements: dict[int, str] = field(default_factory=dict)  # XML: record -> element text
    extra_columns: list[str] = field(default_factory=list)  # fields the contract lacks
    missing_columns: list[str] = field(default_factory=list)  # contract fields never present
    present: list[str] | None = None  # fields with a value somewhere (JSON lines)

    @property
    def read(self) -> int:
        """Records read from the file, parsed or not."""
        return self.table.num_rows + len(self.malformed)

    def raw(self, record: int) -> str:
        """The original payload of ``record``: its line, or its XML element."""
        if isinstance(self.lines, list):
            return self.lines[record - 1]
        if self.lines is not None:  # JSON lines keep their line break: strip it as split would
            line = self.lines[record - self.first_record].as_py()
            line = line[:-1] if line.endswith("\n") else line
            return line[:-1] if line.endswith("\r") else line
        return self.elements.get(record, "")


def decode(data: bytes, name: str) -> str:
    """The file's text: gunzipped when compressed, strict UTF-8."""
    if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedFile(f"cannot decompress gzip: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"not valid UTF-8 at byte {exc.start}") from None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def utf8(data: bytes, name: str) -> bytes:
    """The file's bytes, gunzipped when compressed, checked to be strict UTF-8."""
    if name.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data = decode(data, name).encode()
    else:
        decode(data, name)  # the check only; JSON lines are parsed from the bytes
    return data


def parse_file(contract: TableContract, data: bytes, name: str) -> Parsed:
    """Parse one file of ``contract``'s feed (see the module docstring)."""
    if contract.format in ("jsonl", "cdc"):
        return parse_jsonl(contract, utf8(data, name))
    text = decode(data, name)
    if contract.format == "csv":
        return parse_csv(contract, text)
    return parse_xml(contract, text)


def _numeric_paths(contract: TableContract) -> set[str]:
    return {c.path for c in contract.columns if c.type in ("int", "dec", "epoch_ms")}


def parse_csv(contract: TableContract, text: str) -> Parsed:
    """CSV with a header; a row with the wrong cell count becomes ``malformed_row``.

    One exception: a row with exactly one cell too many, where joining two neighbouring cells
    at a numeric column gives a decimal-comma number (``12,50``), is kept with the joined
    value so it fails as ``wrong_type`` on that column, which is what it is.
    """
    lines = _split_lines(text)
    if not lines:
        raise MalformedFile("empty file: no header")
    header = lines[0].split(",")
    known = set(contract.column_names)
    if len(known & set(header)) < max(1, len(known) // 2):
        raise MalformedFile(
            f"header does not match the contract (wrong delimiter?): {lines[0][:120]!r}"
        )
    lines = lines[1:]
    bad: list[tuple[int, str]] = []
    repaired: list[tuple[int, list[str]]] = []
    numeric = [i for i, h in enumerate(header) if h in _numeric_paths(contract)]

    def on_invalid(row: pcsv.InvalidRow) -> str:
        record = row.number - 1  # the header is line 1
        cells = row.text.split(",")
        if row.actual_columns == len(header) + 1:
            for i in numeric:
                joined = f"{cells[i]},{cells[i + 1]}"
                if joined.replace(",", "", 1).lstrip("-").isdigit():
                    repaired.append((record, [*cells[:i], joined, *cells[i + 2 :]]))
                    return "skip"
        bad.append((record, f"expected {row.expected_columns} cells, found {row.actual_columns}"))
        return "skip"

    body = "\n".join([",".join(header), *lines]).encode()
    table = pcsv.read_csv(
        io.BytesIO(body),
        read_options=pcsv.ReadOptions(use_threads=False, block_size=1 << 26),
        parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid, quote_char=False),
        convert_options=pcsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    skipped = sorted([r for r, _ in bad] + [r for r, _ in repaired])
    records = _record_numbers(len(lines), skipped)
    table = table.append_column("_record", pa.array(records, pa.int64()))
    if repaired:
        fixed = pa.table(
            {
                h: pa.array([c[i] or None for _, c in repaired], pa.string())
                for i, h in enumerate(header)
            }
            | {"_record": pa.array([r for r, _ in repaired], pa.int64())}
        )
        table = pa.concat_tables([table, fixed]).sort_by("_record")
    return Parsed(
        table,
        bad,
        lines=lines,
        extra_columns=[h for h in header if h not in known],
        missing_columns=_missing(contract, header),
    )


def _missing(contract: TableContract, present: object) -> list[str]:
    # Nested fields (a change event's after image) are absent on deletes by design.
    names = set(present)  # type: ignore[call-overload]
    return [
        c.path for c in contract.columns if c.required and "." not in c.path and c.path not in names
    ]


def _record_numbers(n: int, skipped: list[int]) -> list[int]:
    if not skipped:
        return list(range(1, n + 1))
    gone = set(skipped)
    return [r for r in range(1, n + 1) if r not in gone]


def line_array(data: bytes) -> pa.Array:
    """The file's lines as one Arrow string array over ``data`` itself (no copy, no ``str``).

    Each value keeps its line break (and any carriage return): JSON ignores trailing whitespace,
    and :meth:`Parsed.raw` strips them exactly as ``_split_lines`` would.
    """
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    ends = nl + 1
    if len(data) and (not len(nl) or nl[-1] != len(data) - 1):
        ends = np.append(ends, len(data))  # a last line with no newline
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def parse_jsonl(contract: TableContract, text: str | bytes, first_record: int = 1) -> Parsed:
    """JSON lines; a line that is not a JSON object becomes ``malformed_row``.

    DuckDB's JSON functions extract every path as text in one vectorised pass (numbers keep
    their literal digits), so a bad value never changes a column's type. ``text`` may be the
    already-validated UTF-8 bytes; ``first_record`` numbers a part of a split file.
    """
    data = text.encode() if isinstance(text, str) else text
    lines = line_array(data)
    paths = [c.path for c in contract.columns]
    if contract.format == "cdc":  # a delete's key is in its before image only
        from ray_platform.lake.cdc import change_key

        paths.append(f"before.{change_key(contract)}")
    src = pa.table({"line": lines})
    con = duckdb.connect(config={"threads": 1})  # one per Ray task: the CPUs are the tasks'
    try:
        con.register("src", src)
        is_obj = (
            con.sql(
                "SELECT CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"
                " FROM src"
            )
            .to_arrow_table()
            .column(0)
            .to_numpy(zero_copy_only=False)
        )
        # Plain numpy/Arrow copies from here: DuckDB's buffers must not outlive the connection.
        is_obj = np.asarray(is_obj, dtype=bool).copy()
        good = src.filter(pa.array(is_obj, pa.bool_()))
        con.register("good", good)
        keys = (
            con.sql("SELECT DISTINCT unnest(json_keys(line)) FROM good")
            .to_arrow_table()
            .column(0)
            .to_pylist()
        )
        top = {p.split(".", 1)[0] for p in paths} | {"source"}
        extra = sorted(k for k in keys if k not in top)
        paths = [*paths, *extra]
        # The list form of json_extract_string parses each line once for every path.
        listed = ", ".join(
            "'$." + ".".join(json.dumps(p) for p in path.split(".")).replace("'", "''") + "'"
            for path in paths
        )
        selects = ", ".join(f'v[{i + 1}] AS "c{i}"' for i in range(len(paths)))
        result = con.sql(
            f"SELECT {selects} FROM (SELECT json_extract_string(line, [{listed}]) AS v FROM good)"
        ).to_arrow_table()
        table = pa.table({p: _own(result.column(i).cast(pa.string())) for i, p in enumerate(paths)})
    finally:
        con.close()
    records = np.arange(first_record, first_record + len(lines), dtype=np.int64)
    table = table.append_column("_record", pa.array(records[is_obj]))
    bad_idx = np.flatnonzero(~is_obj)
    bad_lines = lines.take(pa.array(bad_idx, pa.int64())).to_pylist()  # few: the bad ones
    malformed = [
        (int(i) + first_record, "line is not a JSON object")
        for i, t in zip(bad_idx, bad_lines, strict=True)
        if t.strip()  # blank lines are not records
    ]
    present = [p for p in paths if table.column(p).null_count < table.num_rows]
    return Parsed(
        table,
        malformed,
        lines=lines,
        first_record=first_record,
        extra_columns=extra,
        missing_columns=[] if table.num_rows < 2 else _missing(contract, present),
        present=present,
    )


def _own(col: pa.ChunkedArray) -> pa.Array:
    """One contiguous array in memory Arrow owns (a copy out of DuckDB's result)."""
    return pa.concat_arrays([c for c in col.chunks] or [pa.array([], col.type)])


def parse_xml(contract: TableContract, text: str) -> Parsed:
    """One record per ``contract.record_tag`` child of the root; absent children are null."""
    from lxml import etree

    paths = contract.column_names
    records: list[dict[str, str | None]] = []
    elements: dict[int, str] = {}
    try:
        for _, elem in etree.iterparse(io.BytesIO(text.encode()), events=("end",)):
            if elem.tag != contract.record_tag:
                continue
            records.append({child.tag: child.text for child in elem})
            elements[len(records)] = etree.tostring(elem, encoding="unicode").strip()
            elem.clear()
    except etree.XMLSyntaxError as exc:
        raise MalformedFile(f"XML does not parse: {exc}") from None
    n = len(records)
    seen = {k for r in records for k in r}
    extra = sorted(k for k in seen if k not in set(paths))
    table = pa.table(
        {p: pa.array([r.get(p) for r in records], pa.string()) for p in [*paths, *extra]}
    )
    table = table.append_column("_record", pa.array(range(1, n + 1), pa.int64()))
    return Parsed(
        table,
        [],
        elements=elements,
        extra_columns=extra,
        missing_columns=[] if n < 2 else _missing(contract, seen),
    )
