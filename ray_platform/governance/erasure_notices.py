"""Erasure notices: how a GDPR erasure reaches processes that hold personal data in memory.

``gbank gdpr erase`` deletes a person from every store on disk, but each HTTP scoring replica
and Kafka consumer keeps, in memory, the recent transactions of the cards and customers it
scored. The erasure therefore appends a notice to ``<home>/gdpr/erasures.jsonl`` with the keyed
references (:func:`serving_ref`) of the person's customer and card ids, never the ids
themselves, so the notice file does not keep what was erased; ``serve.erasures.ErasureWatch``
follows the file in every scorer.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from pathlib import Path

from ray_platform.settings import Settings, get_settings


def notices_path(settings: Settings) -> Path:
    """Where erasure notices are appended."""
    return Path(settings.home) / "gdpr" / "erasures.jsonl"


def serving_ref(identifier: str, key: bytes) -> str:
    """The keyed reference of a customer or card id in an erasure notice."""
    return hmac.new(key, b"gdpr-serving|" + identifier.encode(), "sha256").hexdigest()


def notify(identifiers: Iterable[str], at: str, settings: Settings | None = None) -> Path:
    """Append one erasure notice for ``identifiers``; returns the notices file."""
    from ray_platform.lake.tokens import token_key

    s = settings or get_settings()
    key = token_key(s)
    path = notices_path(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": at, "refs": sorted(serving_ref(i, key) for i in set(identifiers))})
    with path.open("a") as fh:
        fh.write(line + "\n")
    return path
