"""Synthetic GlobalBank source systems: core banking, CDC, cards, trading, market data.

``generate_bank(out_uri, config)`` drops every feed's files under
``<out>/<source>/<business date>/<file>`` with a run manifest in ``<out>/_manifest/``; the
contract of every file is in ``docs/sources.md``. Checksum helpers (IBAN, ISIN, LEI, Luhn)
live in :mod:`ray_platform.generator.checksums` for the lake's validation to reuse.
"""

from __future__ import annotations

# Re-exported so callers import the public surface from the package, not its modules.
from ray_platform.generator.bank import GenerationReport as GenerationReport
from ray_platform.generator.bank import GeneratorConfig as GeneratorConfig
from ray_platform.generator.bank import generate_bank as generate_bank

__all__ = ["GenerationReport", "GeneratorConfig", "generate_bank"]
