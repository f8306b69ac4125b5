"""Independent, reproducible random streams, one per purpose and day.

Each stream is a PCG64 generator seeded by ``SeedSequence(seed, spawn_key=...)`` where the
spawn key is the CRC-32 of each name part, so a stream depends only on the run's seed and its
own name: adding a feed or reordering the work never changes the numbers another feed draws.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, *names: object) -> np.random.Generator:
    """The generator for ``names`` (e.g. ``stream(42, "card_transactions", "2026-01-05")``)."""
    key = tuple(zlib.crc32(str(n).encode()) for n in names)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))
