from __future__ import annotations

import pytest

from ray_platform.generator import checksums as ck

pytestmark = pytest.mark.unit

# Published examples: ISO 13616 / SWIFT IBAN registry, ISO 6166 (Apple, BAE Systems),
# GLEIF (ISO 17442) and a Luhn test PAN.
VALID_IBANS = ["GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606"]
VALID_ISINS = ["US0378331005", "GB0002634946", "US5949181045"]
VALID_LEIS = ["5493001KJTIIGC8Y1R12", "HWUPKR0MPOU8FGXBT394", "7H6GLXDRUGQFU57RNE97"]
VALID_PANS = ["4539578763621486", "4111111111111111", "5555555555554444"]


@pytest.mark.parametrize("iban", VALID_IBANS)
def test_iban_valid_and_rebuilt(iban: str) -> None:
    assert ck.is_valid_iban(iban)
    assert ck.make_iban(iban[:2], iban[4:]) == iban


@pytest.mark.parametrize("isin", VALID_ISINS)
def test_isin_valid_and_rebuilt(isin: str) -> None:
    assert ck.is_valid_isin(isin)
    assert ck.make_isin(isin[:11]) == isin


@pytest.mark.parametrize("lei", VALID_LEIS)
def test_lei_valid_and_rebuilt(lei: str) -> None:
    assert ck.is_valid_lei(lei)
    assert ck.make_lei(lei[:18]) == lei


@pytest.mark.parametrize("pan", VALID_PANS)
def test_luhn_valid_and_rebuilt(pan: str) -> None:
    assert ck.is_valid_luhn(pan)
    assert ck.luhn_digit(pan[:-1]) == pan[-1]


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (ck.is_valid_iban, "GB83WEST12345698765432"),
        (ck.is_valid_iban, "GB82WEST1234569876543"),
        (ck.is_valid_iban, "gb82west12345698765432"),
        (ck.is_valid_isin, "US0378331006"),
        (ck.is_valid_isin, "US037833100"),
        (ck.is_valid_lei, "5493001KJTIIGC8Y1R13"),
        (ck.is_valid_lei, "5493001KJTIIGC8Y1R1"),
        (ck.is_valid_luhn, "4539578763621487"),
        (ck.is_valid_luhn, "45395787636214x6"),
    ],
)
def test_invalid_values_rejected(check, value: str) -> None:
    assert not check(value)


def test_non_strings_rejected() -> None:
    for check in (ck.is_valid_iban, ck.is_valid_isin, ck.is_valid_lei, ck.is_valid_luhn):
        assert not check(None)
        assert not check(12345)


def test_every_single_digit_change_detected() -> None:
    pan = VALID_PANS[0]
    for i in range(len(pan)):
        for d in "0123456789":
            if d != pan[i]:
                assert not ck.is_valid_luhn(pan[:i] + d + pan[i + 1 :])
    iban = VALID_IBANS[0]
    for i in range(4, len(iban)):
        if iban[i].isdigit():
            changed = iban[:i] + str((int(iban[i]) + 1) % 10) + iban[i + 1 :]
            assert not ck.is_valid_iban(changed)
