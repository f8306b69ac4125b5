"""Check digits used by the bank's identifiers: IBAN, ISIN, LEI and payment card numbers.

Each scheme has a ``*_check_digits`` (or ``luhn_digit``) function that computes the check
digits for a body, a ``make_*`` function that returns the full identifier, and an
``is_valid_*`` function that validates a complete identifier. The lake's validation reuses the
``is_valid_*`` functions.

>>> is_valid_iban("GB82WEST12345698765432")
True
>>> make_isin("US037833100")
'US0378331005'
"""

from __future__ import annotations

import re

_IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_ISIN_RE = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")
_LEI_RE = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")
_PAN_RE = re.compile(r"^[0-9]{12,19}$")


def _alnum_to_digits(text: str) -> str:
    # ISO 7064 / ISO 6166: letters become two-digit numbers, A=10 ... Z=35.
    return "".join(str(int(ch, 36)) for ch in text)


def mod97_check_digits(body: str) -> str:
    """ISO 7064 MOD 97-10 check digits ("00" placeholder appended) for an alphanumeric body."""
    return f"{98 - int(_alnum_to_digits(body + '00')) % 97:02d}"


def iban_check_digits(country: str, bban: str) -> str:
    """The two IBAN check digits for ``country`` (ISO 3166 alpha-2) and its ``bban``."""
    return mod97_check_digits(bban + country)


def make_iban(country: str, bban: str) -> str:
    """A complete IBAN: country, check digits, BBAN."""
    return f"{country}{iban_check_digits(country, bban)}{bban}"


def is_valid_iban(iban: str) -> bool:
    """Whether ``iban`` has the IBAN shape and a valid MOD 97-10 checksum (ISO 13616)."""
    if not isinstance(iban, str) or not _IBAN_RE.match(iban):
        return False
    return int(_alnum_to_digits(iban[4:] + iban[:4])) % 97 == 1


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to a string of decimal ``digits``."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled positions, counted from the digit left of the check digit
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_luhn(number: str) -> bool:
    """Whether a card number (12-19 digits) passes the Luhn check."""
    if not isinstance(number, str) or not _PAN_RE.match(number):
        return False
    return luhn_digit(number[:-1]) == number[-1]


def isin_check_digit(body: str) -> str:
    """The ISIN check digit (ISO 6166): Luhn over the letters-to-digits expansion of ``body``."""
    return luhn_digit(_alnum_to_digits(body))


def make_isin(body: str) -> str:
    """A complete ISIN from its 11-character body (country code + NSIN)."""
    return body + isin_check_digit(body)


def is_valid_isin(isin: str) -> bool:
    """Whether ``isin`` has the ISIN shape and a valid check digit."""
    if not isinstance(isin, str) or not _ISIN_RE.match(isin):
        return False
    return isin_check_digit(isin[:11]) == isin[11]


def lei_check_digits(body: str) -> str:
    """The two LEI check digits (ISO 17442, MOD 97-10) for its 18-character body."""
    return mod97_check_digits(body)


def make_lei(body: str) -> str:
    """A complete LEI from its 18-character body."""
    return body + lei_check_digits(body)


def is_valid_lei(lei: str) -> bool:
    """Whether ``lei`` has the LEI shape and a valid MOD 97-10 checksum."""
    if not isinstance(lei, str) or not _LEI_RE.match(lei):
        return False
    return int(_alnum_to_digits(lei)) % 97 == 1
