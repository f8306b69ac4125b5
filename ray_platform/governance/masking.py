"""Mask functions over Arrow columns, one per policy mode.

Every mask is idempotent: masking a value that is already masked gives the same value. A token
stays a token, a SHA-256 digest stays itself, a partially masked or redacted value stays as it is.
That lets the read path mask every relation it hands out, marts derived from masked tables
included, without double masking turning one value into two.

- ``clear``: the value itself.
- ``partial``: every character but the last four replaced by ``*`` (a card's last four digits).
- ``tokenise``: the lake's deterministic HMAC token (:mod:`ray_platform.lake.tokens`), so masked
  columns still join and group; values that are already tokens (silver stores PII that way) stay.
- ``hash``: the SHA-256 hex digest of the text; joins across systems that know the value.
- ``redact``: the text ``[REDACTED]`` (null stays null); non-text columns become all null.
- ``deny``: the column is removed; :func:`mask` returns ``None`` and callers drop the column.
"""

from __future__ import annotations

import hashlib
import re

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.lake.tokens import PREFIX, tokenise

MODES = ("clear", "partial", "tokenise", "hash", "redact", "deny")
REDACTED = "[REDACTED]"
_TOKEN = re.compile(rf"^{PREFIX}[0-9a-f]{{32}}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    text = values.cast(pa.string()) if values.type != pa.string() else values
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


def _per_distinct(values: pa.Array | pa.ChunkedArray, fn: object) -> pa.Array:
    """``fn`` over each distinct non-null text value, spread back over the column."""
    text = _text(values)
    distinct = pc.drop_null(pc.unique(text))
    mapped = pa.array([fn(v) for v in distinct.to_pylist()], pa.string())  # type: ignore[operator]
    return pc.take(mapped, pc.index_in(text, distinct))


def partial(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """All but the last four characters starred (values of four or fewer: all starred)."""
    return _per_distinct(
        values, lambda v: "*" * (len(v) - 4) + v[-4:] if len(v) > 4 else "*" * len(v)
    )


def tokenise_masked(values: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """Tokens under ``key``; values that are already tokens are kept."""
    text = _text(values)
    is_token = pc.match_substring_regex(text, _TOKEN.pattern)
    return pc.if_else(pc.fill_null(is_token, False), text, tokenise(key, text))


def sha256(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """SHA-256 hex digests of the text; values that are already digests are kept."""
    return _per_distinct(
        values, lambda v: v if _DIGEST.match(v) else hashlib.sha256(v.encode()).hexdigest()
    )


def redact(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``[REDACTED]`` for every non-null text value; non-text columns become all null."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return pa.nulls(len(values), values.type)
    filled = pa.array([REDACTED] * len(values), pa.string())
    return pc.if_else(pc.is_null(values), pa.scalar(None, pa.string()), filled)


def mask(
    mode: str, values: pa.Array | pa.ChunkedArray, key: bytes | None = None
) -> pa.Array | None:
    """``values`` as ``mode`` shows them; ``None`` for ``deny`` (the column must be dropped)."""
    if mode == "clear":
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if mode == "partial":
        return partial(values)
    if mode == "tokenise":
        if key is None:
            raise ValueError("tokenise needs the token key")
        return tokenise_masked(values, key)
    if mode == "hash":
        return sha256(values)
    if mode == "redact":
        return redact(values)
    if mode == "deny":
        return None
    raise ValueError(f"unknown mask {mode!r}; modes: {', '.join(MODES)}")


def mask_table(table: pa.Table, modes: dict[str, str], key: bytes | None = None) -> pa.Table:
    """``table`` with each column masked by ``modes`` (a column not in ``modes`` is dropped).

    Dropping what is not listed keeps the function fail-closed: a column the caller forgot to
    classify never leaves in clear.
    """
    names, arrays = [], []
    for name in table.column_names:
        mode = modes.get(name, "deny")
        out = mask(mode, table[name], key)
        if out is not None:
            names.append(name)
            arrays.append(out)
    if not names:
        return pa.table({}).append_column("_", pa.nulls(table.num_rows)).drop(["_"])
    return pa.Table.from_arrays(arrays, names=names)
