from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from ray_platform.contracts.checks import valid_iban, valid_isin, valid_lei, valid_luhn
from ray_platform.generator import checksums as ck

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (valid_iban, "GB82WEST12345698765432", "GB83WEST12345698765432"),
        (valid_isin, "US0378331005", "US0378331006"),
        (valid_lei, "5493001KJTIIGC8Y1R12", "5493001KJTIIGC8Y1R13"),
        (valid_luhn, "4539578763621486", "4539578763621487"),
    ],
)
def test_known_examples(check, good, bad):
    out = check(pa.array([good, bad, None, "", "x" * 40]))
    assert out.tolist() == [True, False, False, False, False]


def _random_ids(rng: np.random.Generator, n: int) -> dict[str, list[str]]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    alnum = letters + "0123456789"
    pick = lambda chars, k: "".join(chars[i] for i in rng.integers(0, len(chars), k))  # noqa: E731
    ibans = [
        ck.make_iban(pick(letters, 2), pick(alnum, int(rng.integers(11, 30)))) for _ in range(n)
    ]
    isins = [ck.make_isin(pick(letters, 2) + pick(alnum, 9)) for _ in range(n)]
    leis = [ck.make_lei(pick(alnum, 18)) for _ in range(n)]
    pans = [
        (b := pick("0123456789", int(rng.integers(11, 19)))) + ck.luhn_digit(b) for _ in range(n)
    ]
    return {"iban": ibans, "isin": isins, "lei": leis, "luhn": pans}


def _corrupt(values: list[str], rng: np.random.Generator) -> list[str]:
    out = []
    for v in values:
        i = int(rng.integers(len(v)))
        c = v[i]
        out.append(v[:i] + ("7" if c != "7" else "3") + v[i + 1 :])
    return out


def test_vectorised_checks_agree_with_scalar_reference():
    rng = np.random.default_rng(7)
    ids = _random_ids(rng, 400)
    pairs = {
        "iban": (valid_iban, ck.is_valid_iban),
        "isin": (valid_isin, ck.is_valid_isin),
        "lei": (valid_lei, ck.is_valid_lei),
        "luhn": (valid_luhn, ck.is_valid_luhn),
    }
    for name, (vec, scalar) in pairs.items():
        values = ids[name] + _corrupt(ids[name], rng)
        got = vec(pa.array(values)).tolist()
        assert got == [scalar(v) for v in values], name
        assert all(got[:400]), name
