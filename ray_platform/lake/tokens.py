"""Deterministic tokenisation of PII columns: HMAC-SHA256 under the lake's token key.

The same value always gives the same token (``tok_`` + 32 hex digits), so silver tables still
join on tokenised columns, while the value cannot be recovered without the key. The key lives
in ``<settings.home>/keys/token.key`` (32 random bytes, mode 0600, created on first use); the
KMS-backed key seam is the governance issue's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.settings import Settings

PREFIX = "tok_"


def token_key(settings: Settings) -> bytes:
    """The token key, created (0600, exclusively, so concurrent runs agree) if absent."""
    path = Path(settings.home) / "keys" / "token.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process won the race; read its key
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def token(key: bytes, value: str) -> str:
    """The token of one value."""
    return PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def tokenise(key: bytes, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Tokens for a column (nulls stay null); each distinct value is hashed once."""
    text = values.cast(pa.string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    distinct = pc.drop_null(pc.unique(text))
    tokens = pa.array([token(key, v) for v in distinct.to_pylist()], pa.string())
    return pc.take(tokens, pc.index_in(text, distinct))
