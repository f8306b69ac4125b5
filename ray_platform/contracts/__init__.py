"""Schema contracts: the declared columns, rules and classifications of every silver table.

A contract is declared once and used by validation, standardisation, masking, the catalog and
the docs. This package is core: it knows no lake paths or table formats.
"""

from __future__ import annotations

# Re-exported so callers import the public surface from the package, not its modules.
from ray_platform.contracts.model import Classification as Classification
from ray_platform.contracts.model import Column as Column
from ray_platform.contracts.model import TableContract as TableContract
from ray_platform.contracts.silver import CONTRACTS as CONTRACTS
from ray_platform.contracts.silver import SILVER_ORDER as SILVER_ORDER
from ray_platform.contracts.silver import contract as contract

__all__ = ["CONTRACTS", "SILVER_ORDER", "Classification", "Column", "TableContract", "contract"]
