"""Automated PII discovery: find personal data in samples of the raw feeds and silver tables.

A column is flagged when enough of its sampled values look like one kind of personal data:

- by pattern and check digit: e-mail addresses, phone numbers (E.164 or national), IBANs (ISO
  13616 length per country and MOD 97-10), card numbers (issuer prefix and Luhn), national ids
  (the bank's ``<ISO country><9 digits>``, US SSN, UK NINO, Dutch BSN with its 11-test, Spanish
  DNI/NIE with its check letter) and silver's PII tokens (``tok_`` + 32 hex digits: pseudonymised
  personal data is still personal data);
- by value range: dates of birth (a date column whose dates put people between 16 and 110
  years old, spread over many years);
- by column profile: person names (values shaped like one to three capitalised words, with a
  known given name or surname in enough of them, or a column named like a person's name, and no
  business words such as "Holdings" or "Grocery"), street addresses (a house number and a street
  word) and postcodes (postcode shapes in a column named like one).

Each kind implies a minimum classification (:data:`KINDS`). :func:`findings_vs_declared`
compares it with the catalog's and reports every column that holds more than it declares, or
holds PII and is not in the catalog at all.

>>> report = scan(settings, sample_rows=1000)  # doctest: +SKIP
>>> [f for f in findings_vs_declared(report.findings, catalog(settings))]  # doctest: +SKIP
[]
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree.ElementTree import iterparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ray_platform.contracts.checks import valid_iban, valid_luhn
from ray_platform.contracts.model import Classification
from ray_platform.errors import PlatformError
from ray_platform.governance.catalog import Catalog, rank
from ray_platform.settings import Settings, get_settings

KINDS: dict[str, Classification] = {
    "email": "confidential",
    "phone": "confidential",
    "person_name": "confidential",
    "street_address": "confidential",
    "postcode": "confidential",
    "token": "confidential",
    "iban": "restricted",
    "card_number": "restricted",
    "national_id": "restricted",
    "date_of_birth": "restricted",
}
"""Each kind of personal data and the lowest classification a column holding it may have."""

MIN_SHARE = 0.5
"""Share of a column's sampled non-null values that must match for a pattern kind."""
MIN_VALUES = 5
"""Columns with fewer non-null sampled values are not judged."""

# -- reference lists ---------------------------------------------------------------------------


def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


ISO_COUNTRIES = _set(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW"""
)
"""ISO 3166-1 alpha-2 country codes."""

IBAN_LENGTHS = {
    c[:2]: int(c[2:])
    for c in _set(
        """AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24
    DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28
    IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19
    MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18
    SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"""
    )
}
"""IBAN length per country (the SWIFT IBAN registry)."""

GIVEN_NAMES = _set(
    """James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara
    Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty
    Mark Sandra Donald Ashley Steven Kimberly Andrew Emily Kenneth Donna Joshua Michelle George
    Carol Kevin Amanda Brian Melissa Edward Deborah Ronald Stephanie Timothy Rebecca Jason Laura
    Jeffrey Helen Ryan Anna Jacob Emma Gary Olivia Nicholas Sophia Eric Mia Jonathan Isabella
    Stephen Ava Larry Amelia Justin Harper Scott Evelyn Brandon Abigail Benjamin Ella Samuel Grace
    Gregory Chloe Frank Camila Alexander Lucy Raymond Zoe Patrick Hannah Jack Leah Dennis Sofia
    Jerry Sophie Tyler Lea Aaron Lena Noah Liam Lucas Oliver Elijah Mason Logan Ethan Henry
    Sebastian Hugo Louis Paul Felix Leon Jonas Lukas Max Finn Ben Elias Emil Jan Tim Marie Julia
    Katharina Lena Nina Sara Eva Clara Ida Astrid Ingrid Erik Lars Anders Nils Sven Olaf Karin
    Marco Luca Giulia Chiara Francesca Alessandro Lorenzo Matteo Giovanni Giuseppe Antonio Maria
    Pablo Lucia Diego Carmen Javier Carlos Miguel Jose Juan Ana Isabel Pedro Manuel Rosa Elena
    Ivan Dmitri Sergei Olga Tatiana Natalia Piotr Agnieszka Tomasz Katarzyna Pawel Magdalena Tomas
    Petr Jana Hiroshi Yuki Kenji Sakura Haruto Yui Takashi Akira Wei Li Ming Mei Jing Hui Yan Lei
    Arjun Priya Rahul Ananya Amit Anjali Vikram Deepak Sunita Ravi Ji-woo Min-jun Seo-yeon Ji-ho
    Ahmed Fatima Omar Aisha Yusuf Leila Mohammed Muhammad Ali Hassan Hussein Khalid Layla Zainab
    Kwame Amara Chinedu Zanele Kofi Ama Ngozi Oluwaseun Thabo Nomvula Femi Adebayo"""
)
"""A small international list of common given names (no names that are also cities)."""

SURNAMES = _set(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Mueller Muller
    Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Dubois Moreau Laurent
    Bernard Petit Durand Leroy Lefebvre Rossi Russo Ferrari Esposito Bianchi Romano Colombo
    Ricci Fernandez Sanchez Gomez Diaz Ruiz Silva Santos Oliveira Costa Pereira Ferreira
    Tanaka Suzuki Takahashi Watanabe Sato Ito Yamamoto Nakamura Kobayashi Wang Zhang Liu Chen
    Yang Huang Zhao Wu Zhou Patel Sharma Singh Gupta Kumar Shah Khan Kim Park Choi Jung Haddad
    Rahman Hussain Okafor Mensah Dlamini Nkosi Okonkwo Nielsen Hansen Jensen Pedersen Johansson
    Andersson Karlsson Nilsson Larsen Kowalski Nowak Wisniewski Novak Horvat Ivanov Petrov
    Papadopoulos Jansen DeVries Janssens Peeters Murphy Kelly Walsh OBrien Byrne"""
)
"""A small international list of common surnames."""

BUSINESS_WORDS = _set(
    """holdings group industries systems energy partners technologies technology bank capital
    securities management investments investment insurance inc ltd llc plc ag sa gmbh nv bv corp
    corporation company co trust fund funds services solutions international global limited
    grocery restaurant fast food fuel department store retail pharmacy transport taxi airline
    airlines hotel electronics jewelry money transfer gambling crypto exchange streaming digital
    goods atm cash hospital market shop cafe bar supermarket travel club clinic motors"""
)
"""Words that make a capitalised phrase a business, not a person."""

STREET_WORDS = _set(
    "street st road rd avenue ave lane ln square sq way view drive dr boulevard blvd place pl "
    "court ct close crescent terrace row hill gardens parade walk grove mews quay wharf highway "
    "hwy parkway pkwy rue chemin via viale piazza calle avenida plaza paseo rua ulica"
)
"""Street words that stand as a word of their own ("High Street", "rue de Rivoli")."""
STREET_SUFFIXES = _set(
    "strasse straße str weg gasse platz allee laan straat gracht plein gatan vagen vej gade"
)
"""Street words that end a compound ("Hauptstraße", "Kerkstraat", "Storgatan")."""

NAME_HINTS = _set(
    "name names surname forename firstname lastname fullname given family holder cardholder "
    "beneficiary payee maiden"
)
NOT_PERSON_HINTS = _set(
    "merchant company instrument product counterparty legal business trading file table column "
    "host branch city street venue desk bank issuer fund sector brand"
)
POSTCODE_HINTS = _set("postcode postal zip zipcode post_code plz postleitzahl cap")

# -- value-level detectors ---------------------------------------------------------------------

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_PHONE_INTL = re.compile(r"^\+[1-9][0-9 ().-]{6,20}$")
_PHONE_NATIONAL = re.compile(r"^0[1-9][0-9 ().-]{7,16}$")
_PHONE_NANP = re.compile(r"^\(?[2-9][0-9]{2}\)?[ .-][0-9]{3}[ .-][0-9]{4}$")
_TOKEN = re.compile(r"^tok_[0-9a-f]{32}$")
_BANK_ID = re.compile(r"^([A-Z]{2})[0-9]{9}$")
_SSN = re.compile(r"^(?!000|666|9[0-9]{2})[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}$")
_NINO = re.compile(r"^(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$")
_BSN = re.compile(r"^[0-9]{9}$")
_DNI = re.compile(r"^([XYZ]?)([0-9]{7,8})([A-Z])$")
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_NAME_TOKEN = r"[A-Z][a-z]*(?:[A-Z][a-z]+)?(?:['-][A-Za-z][a-z]+)*"
_NAME_VALUE = re.compile(rf"^{_NAME_TOKEN}(?: {_NAME_TOKEN}){{0,2}}$")
_WORDS = "|".join(sorted(STREET_WORDS | STREET_SUFFIXES, key=len, reverse=True))
_SUFFIXES = "|".join(sorted(STREET_SUFFIXES, key=len, reverse=True))
_STREET = rf"(?:{_WORDS}|[^ ]+(?:{_SUFFIXES}))\.?"  # a street word, or a compound ending in one
_ADDRESS_NUMBER_FIRST = re.compile(
    rf"^[0-9]{{1,5}}[A-Za-z]?,? +(?:[^ ]+ +){{0,5}}{_STREET}(?: .*)?$", re.IGNORECASE
)
_ADDRESS_NUMBER_LAST = re.compile(
    rf"^(?:[^ ]+ +){{0,4}}{_STREET} +[0-9]{{1,5}}[A-Za-z]?(?:[ ,].*)?$", re.IGNORECASE
)
_POSTCODES = (
    re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$"),  # GB
    re.compile(r"^[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]$"),  # CA
    re.compile(r"^[0-9]{4} ?[A-Z]{2}$"),  # NL
)
_NUMERIC_POSTCODE = re.compile(r"^[0-9]{4,6}(?:-[0-9]{3,4})?$")  # US ZIP(+4), most of Europe


def is_email(value: str) -> bool:
    """An e-mail address: local part, ``@``, a dotted domain with an alphabetic top level."""
    return bool(_EMAIL.match(value))


def is_phone(value: str) -> bool:
    """A phone number: E.164 (``+`` and 8-15 digits) or national (leading 0, 10-11 digits)."""
    digits = re.sub(r"[^0-9]", "", value)
    if _PHONE_INTL.match(value):
        return 8 <= len(digits) <= 15
    if _PHONE_NATIONAL.match(value):
        return 10 <= len(digits) <= 11
    return bool(_PHONE_NANP.match(value))


def is_iban(value: str) -> bool:
    """An IBAN: its country's registered length and the MOD 97-10 check (spaces allowed)."""
    compact = value.replace(" ", "").upper()
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return bool(valid_iban(pa.array([compact]))[0])


def is_card_number(value: str) -> bool:
    """A payment card number: 13-19 digits (groups may be spaced), issuer prefix 2-6, Luhn."""
    compact = re.sub(r"[ -]", "", value)
    if not (13 <= len(compact) <= 19 and compact.isdigit() and compact[0] in "23456"):
        return False
    return bool(valid_luhn(pa.array([compact]))[0])


def _bsn_ok(digits: str) -> bool:
    """The Dutch 11-test: 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11."""
    total = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=False))
    return digits != "000000000" and (total - int(digits[8])) % 11 == 0


def _dni_ok(value: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z and 7 digits): the check letter is number mod 23."""
    m = _DNI.match(value)
    if not m:
        return False
    prefix, number, letter = m.groups()
    if (prefix and len(number) != 7) or (not prefix and len(number) != 8):
        return False
    n = int(str("XYZ".index(prefix)) + number) if prefix else int(number)
    return _DNI_LETTERS[n % 23] == letter


def is_national_id(value: str) -> bool:
    """A national identifier in one of the known formats.

    The bank's core-banking id (ISO country code and 9 digits, no check digit), US SSN
    (``AAA-GG-SSSS`` with the SSA's excluded areas), UK National Insurance number, Dutch BSN
    (11-test) and Spanish DNI/NIE (check letter).
    """
    v = value.strip().upper()
    bank = _BANK_ID.match(v)
    if bank:
        return bank.group(1) in ISO_COUNTRIES
    if _SSN.match(v) or _NINO.match(v.replace(" ", "")):
        return True
    if _BSN.match(v):
        return _bsn_ok(v)
    return _dni_ok(v)


def is_token(value: str) -> bool:
    """A silver PII token (``tok_`` and 32 hex digits of an HMAC)."""
    return bool(_TOKEN.match(value))


def is_street_address(value: str) -> bool:
    """A street address: a house number and a street word, in either order."""
    return bool(_ADDRESS_NUMBER_FIRST.match(value) or _ADDRESS_NUMBER_LAST.match(value))


def age_years(born: dt.date, on: dt.date) -> float:
    """Age in years of someone born on ``born``, on ``on``."""
    return (on - born).days / 365.2425


# -- column-level profile ----------------------------------------------------------------------

PATTERN_KINDS: dict[str, Callable[[str], bool]] = {
    "email": is_email,
    "phone": is_phone,
    "iban": is_iban,
    "card_number": is_card_number,
    "national_id": is_national_id,
    "token": is_token,
    "street_address": is_street_address,
}
_PREFILTER = {  # one vectorised regex: values that cannot match skip the Python check
    "email": "@",
    "phone": r"^[+(0-9]",
    "iban": r"^[A-Za-z]{2}[0-9]{2}",
    "card_number": r"^[2-6][0-9 -]{12,22}$",
    "national_id": r"^[A-Z0-9][A-Z0-9 -]{7,12}$",
    "token": r"^tok_",
    "street_address": r"[0-9]",
}


def _name_words(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower())) | {name.lower().rsplit(".", 1)[-1]}


def _share(values: pa.Array, kind: str) -> float:
    hits = pc.fill_null(pc.match_substring_regex(values, _PREFILTER[kind]), False)
    candidates = values.filter(hits).to_pylist()
    if not candidates:
        return 0.0
    check = PATTERN_KINDS[kind]
    return sum(1 for v in candidates if check(v)) / len(values)


def _dob_share(values: pa.Array, on: dt.date) -> float:
    """Share of values that are dates putting a person between 16 and 110 years old.

    Zero unless the plausible dates spread over at least ten distinct years (half as many
    as there are dates, in a small sample): a birth-date column, not an event date.
    """
    if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
        if pa.types.is_timestamp(values.type):
            return 0.0  # an instant is an event, not a birth date
        days = values.to_pylist()
    else:
        days = []
        for v in values.to_pylist():
            m = _DATE.match(v)
            if not m:
                continue
            try:
                days.append(dt.date(int(m[1]), int(m[2]), int(m[3])))
            except ValueError:
                continue
    plausible = [d for d in days if 16 <= age_years(d, on) <= 110]
    if len({d.year for d in plausible}) < min(10, max(3, len(plausible) // 2)):
        return 0.0
    return len(plausible) / len(values)


def _name_share(column: str, values: list[str]) -> float:
    """Share of person-shaped values, or 0 when the column does not profile as names."""
    shaped = [v for v in values if _NAME_VALUE.match(v)]
    personal = [v for v in shaped if not any(w.lower() in BUSINESS_WORDS for w in v.split())]
    share = len(personal) / len(values)
    if share < 0.8:
        return 0.0
    known = sum(1 for v in personal if any(w in GIVEN_NAMES or w in SURNAMES for w in v.split()))
    words = _name_words(column)
    hinted = bool(words & NAME_HINTS) and not words & NOT_PERSON_HINTS
    if known / len(values) >= 0.3 or (hinted and len(set(personal)) >= 0.1 * len(personal)):
        return share
    return 0.0


def _postcode_share(column: str, values: list[str]) -> float:
    distinctive = sum(1 for v in values if any(p.match(v) for p in _POSTCODES))
    if distinctive / len(values) >= 0.8:
        return distinctive / len(values)
    if _name_words(column) & POSTCODE_HINTS:
        numeric = sum(
            1 for v in values if _NUMERIC_POSTCODE.match(v) or any(p.match(v) for p in _POSTCODES)
        )
        return numeric / len(values)
    return 0.0


def detect_column(
    column: str, values: pa.Array | pa.ChunkedArray, on: dt.date | None = None
) -> tuple[str, float] | None:
    """The kind of PII ``values`` hold and the share of non-null values that match, or None.

    Strings and integers are tested against every pattern, dates for birth dates; other
    types (decimals, floats, booleans, instants) hold no PII these detectors can see.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    values = values.drop_null()
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if len(values) < MIN_VALUES:
        return None
    today = on or dt.date.today()
    if pa.types.is_date(values.type):
        share = _dob_share(values, today)
        return ("date_of_birth", share) if share >= 0.8 else None
    if pa.types.is_integer(values.type):
        values = values.cast(pa.string())
    elif not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return None
    values = pc.utf8_trim_whitespace(values.cast(pa.string()))
    values = values.filter(pc.not_equal(values, ""))
    if len(values) < MIN_VALUES:
        return None
    scores = {kind: _share(values, kind) for kind in PATTERN_KINDS}
    scores["date_of_birth"] = _dob_share(values, today)
    texts = values.to_pylist()
    scores["person_name"] = _name_share(column, texts)
    scores["postcode"] = _postcode_share(column, texts)
    thresholds = {"date_of_birth": 0.8, "person_name": 0.8, "postcode": 0.8}
    passing = {k: s for k, s in scores.items() if s >= thresholds.get(k, MIN_SHARE)}
    if not passing:
        return None
    kind = max(passing, key=lambda k: (passing[k], rank(KINDS[k])))
    return kind, passing[kind]


# -- findings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """PII found in one column of one dataset's sample."""

    dataset: str
    column: str
    kind: str
    share: float
    sampled: int
    implied: Classification
    declared: Classification | None = None

    @property
    def under_classified(self) -> bool:
        """Whether the column's declared classification is lower than what it holds."""
        return rank(self.declared) < rank(self.implied)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "share": round(self.share, 4),
                "under_classified": self.under_classified}  # fmt: skip


def scan_table(name: str, sample: pa.Table, on: dt.date | None = None) -> list[Finding]:
    """The PII found in each column of ``sample`` (a table's or feed's sampled rows)."""
    out = []
    for column in sample.column_names:
        values = sample.column(column)
        found = detect_column(column, values, on)
        if found:
            kind, share = found
            n = len(values) - values.null_count
            out.append(Finding(name, column, kind, share, n, KINDS[kind]))
    return out


def declared(findings: Iterable[Finding], cat: Catalog) -> list[Finding]:
    """``findings`` with the catalog's classification of each column (None where undeclared)."""
    out = []
    for f in findings:
        try:
            cls = cat.classification_of(f.dataset, f.column)
        except KeyError:  # NotFound: the dataset or the column is not in the catalog
            cls = None
        out.append(Finding(**{**asdict(f), "declared": cls}))
    return out


def findings_vs_declared(findings: Iterable[Finding], cat: Catalog) -> list[Finding]:
    """Every finding whose column is declared lower than what it holds, or not declared at all.

    Each returned finding carries the declared classification (None for a column the catalog
    does not know, which is under-classified by definition).
    """
    return [f for f in declared(findings, cat) if f.under_classified]


@dataclass
class ScanReport:
    """What a scan looked at and what it found."""

    findings: list[Finding] = field(default_factory=list)
    sampled: dict[str, int] = field(default_factory=dict)  # dataset -> rows sampled
    skipped: dict[str, str] = field(default_factory=dict)  # dataset -> why not scanned

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "findings": [f.as_dict() for f in self.findings],
            "sampled": self.sampled,
            "skipped": self.skipped,
        }


def scan(
    settings: Settings | None = None,
    sample_rows: int = 1000,
    on: dt.date | None = None,
    cat: Catalog | None = None,
) -> ScanReport:
    """Sample every bronze feed (its raw landed files) and silver table and scan them.

    Findings carry the catalog's declared classification. A feed or table with nothing landed
    or written yet is listed in ``skipped``.
    """
    from ray_platform.governance.catalog import catalog
    from ray_platform.governance.crypto import decrypt_columns
    from ray_platform.storage import storage_for
    from ray_platform.tables import table_store

    s = settings or get_settings()
    cat = cat or catalog(s)
    storage = storage_for(s.lake_uri, s.s3_endpoint_url)
    store = table_store(s)
    report = ScanReport()
    root = s.lake_uri.rstrip("/") + "/"
    for ds in cat.list("bronze"):
        try:
            sample = sample_bronze(storage, ds.location.removeprefix(root), sample_rows, s)
        except PlatformError as exc:  # a sealed file whose key is gone, a malformed file
            report.skipped[ds.name] = f"unreadable: {exc}"
            continue
        _add(report, ds.name, sample, on)
    for ds in cat.list("silver"):
        if "/_quarantine/" in ds.name:
            continue  # rejected records: their raw payload is one text column, declared whole
        if not store.exists(ds.name):
            report.skipped[ds.name] = "no table yet"
            continue
        try:  # columns encrypted at rest are scanned as what they hold
            sample = decrypt_columns(sample_table(store.dataset(ds.name), sample_rows), ds.name, s)
        except PlatformError as exc:
            report.skipped[ds.name] = f"unreadable: {exc}"
            continue
        _add(report, ds.name, sample, on)
    report.findings = declared(report.findings, cat)
    return report


def _add(report: ScanReport, name: str, sample: pa.Table | None, on: dt.date | None) -> None:
    if sample is None or sample.num_rows == 0:
        report.skipped[name] = "nothing landed yet"
        return
    report.sampled[name] = sample.num_rows
    report.findings += scan_table(name, sample, on)


# -- sampling ----------------------------------------------------------------------------------


def sample_table(dataset: Any, n: int) -> pa.Table:
    """``n`` rows spread evenly over a pyarrow dataset (all of it when smaller)."""
    total = dataset.count_rows()
    if total <= n:
        return dataset.to_table()
    return dataset.take(pa.array(_spread(total, n)))


def _spread(total: int, n: int) -> np.ndarray:
    return np.unique(np.linspace(0, total - 1, n).astype(np.int64))


def sample_bronze(
    storage: Any, pattern: str, n: int, settings: Settings | None = None
) -> pa.Table | None:
    """Up to ``n`` records of a raw feed, newest landed files first, as string columns.

    ``pattern`` is the catalog location under the lake (``bronze/<source>/ingest_date=*/<file>``,
    ``[.gz]`` allowed). Records are read the way the source wrote them: CSV columns, JSON paths
    flattened with dots (``after.email``), XML child elements; every value is text. Files
    sealed at landing are opened first (:func:`ray_platform.governance.crypto.read_bronze`).
    """
    from ray_platform.governance.crypto import read_bronze
    from ray_platform.lake.parse import decode

    folder, file = pattern.split("/ingest_date=*/", 1)
    file = file.removesuffix("[.gz]")
    prefix, _, suffix = file.partition("*")

    def wanted(base: str) -> bool:
        if "*" in file:  # landed Kafka batches: <topic>-p<partition>-<start>-<end>.jsonl
            return base.startswith(prefix) and base.endswith(suffix)
        parts = base.split(".")
        if len(parts) > 2 and re.fullmatch(r"[0-9a-f]{8}", parts[1]):  # a re-sent name.<sha8>.ext
            base = ".".join([parts[0], *parts[2:]])
        return base in (file, f"{file}.gz")

    paths = [p for p in storage.list(folder, recursive=True) if wanted(p.rsplit("/", 1)[-1])]
    records: list[dict[str, str | None]] = []
    for path in sorted(paths, reverse=True):  # newest ingest_date first
        text = decode(read_bronze(storage, path, settings), path)
        records += _records(text, path, n - len(records))
        if len(records) >= n:
            break
    if not records:
        return None
    # A key that is only ever null (a create event's "before": null) holds nothing to scan.
    names = list(dict.fromkeys(k for r in records for k, v in r.items() if v is not None))
    return pa.table({k: pa.array([r.get(k) for r in records], pa.string()) for k in names})


def _records(text: str, path: str, n: int) -> list[dict[str, str | None]]:
    base = path.rsplit("/", 1)[-1].removesuffix(".gz")
    if base.endswith(".csv"):
        lines = [line for line in text.split("\n") if line]
        if len(lines) < 2:
            return []
        header = lines[0].split(",")
        body = [lines[1 + int(i)] for i in _spread(len(lines) - 1, n)]
        return [dict(zip(header, (v or None for v in row.split(",")), strict=False))
                for row in body]  # fmt: skip
    if base.endswith(".jsonl"):
        lines = [line for line in text.split("\n") if line.strip()]
        out = []
        for i in _spread(len(lines), n) if lines else []:
            try:
                obj = json.loads(lines[int(i)])
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(_flatten(obj))
        return out
    if base.endswith(".xml"):
        return _xml_records(text, n)
    return []


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= _flatten(v, f"{key}.")
        elif v is None:
            out[key] = None
        elif isinstance(v, str):
            out[key] = v
        else:
            out[key] = json.dumps(v)
    return out


def _xml_records(text: str, n: int) -> list[dict[str, str | None]]:
    import io

    records: list[dict[str, str | None]] = []
    depth = 0
    for event, elem in iterparse(io.StringIO(text), events=("start", "end")):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 1:  # a record: a child of the root
            records.append({child.tag: (child.text or None) for child in elem})
            elem.clear()
    if len(records) <= n:
        return records
    return [records[int(i)] for i in _spread(len(records), n)]


def under_classified(settings: Settings | None = None, sample_rows: int = 1000) -> list[Finding]:
    """The scan's under-classified columns (what ``gbank catalog scan-pii`` exits 1 on)."""
    report = scan(settings, sample_rows)
    return [f for f in report.findings if f.under_classified]
