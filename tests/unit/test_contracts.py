from __future__ import annotations

import pytest

from ray_platform.contracts import CONTRACTS, SILVER_ORDER, contract
from ray_platform.errors import NotFound
from ray_platform.generator import schema as gen

pytestmark = pytest.mark.unit


def test_every_column_is_classified_and_pii_is_not_public():
    for c in CONTRACTS.values():
        for col in c.columns:
            assert col.classification in ("public", "internal", "confidential", "restricted")
            if col.pii:
                assert col.classification in ("confidential", "restricted"), (c.name, col.name)


def test_contracts_cover_every_generator_file_and_field():
    for spec in gen.ALL_SPECS:
        owners = [c for c in CONTRACTS.values() if c.matches_file(spec.name)]
        assert len(owners) == 1, spec.name
        paths = {col.path for col in owners[0].columns}
        for f in spec.fields:
            assert f.name in paths, (spec.name, f.name)
            col = next(col for col in owners[0].columns if col.path == f.name)
            assert set(f.values) <= set(col.values) or not f.values, (spec.name, f.name)


def test_foreign_keys_point_at_earlier_tables():
    seen: set[str] = set()
    for c in SILVER_ORDER:
        for col in c.columns:
            if col.fk:
                target = col.fk.split(".")[0]
                assert target in seen or target == c.name, (c.name, col.fk)
        seen.add(c.name)


def test_unknown_contract():
    with pytest.raises(NotFound):
        contract("nope")
    assert contract("customers").matches_file("bronze/x/customers.csv.gz")
