"""Reference data the generator draws from: countries, currencies, MCCs, venues, names.

Everything here is a literal, ordered table, so draws from it are deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """One customer or merchant country."""

    code: str  # ISO 3166-1 alpha-2
    weight: float  # relative share of customers
    currency: str  # ISO 4217
    region: str  # us (Americas), eu (Europe, Middle East, Africa), apac
    iban_length: int  # 0 where the country does not use IBAN
    calling_code: str
    utc_offset_min: int  # standard time, no daylight saving
    cities: tuple[str, ...]


# code weight currency region iban_len calling offset cities
_COUNTRIES = """
US 14.0 USD us 0 1 -300 New_York|Chicago|Dallas|San_Francisco
CA 2.5 CAD us 0 1 -300 Toronto|Vancouver|Montreal
MX 1.5 MXN us 0 52 -360 Mexico_City|Monterrey
BR 2.0 BRL us 29 55 -180 Sao_Paulo|Rio_de_Janeiro
AR 0.6 ARS us 0 54 -180 Buenos_Aires|Cordoba
CL 0.5 CLP us 0 56 -180 Santiago|Valparaiso
CO 0.5 COP us 0 57 -300 Bogota|Medellin
PE 0.3 PEN us 0 51 -300 Lima|Arequipa
GB 12.0 GBP eu 22 44 0 London|Manchester|Edinburgh|Birmingham
DE 7.0 EUR eu 22 49 60 Berlin|Frankfurt|Munich|Hamburg
FR 6.0 EUR eu 27 33 60 Paris|Lyon|Marseille
IT 3.5 EUR eu 27 39 60 Milan|Rome|Turin
ES 3.5 EUR eu 24 34 60 Madrid|Barcelona|Valencia
NL 2.0 EUR eu 18 31 60 Amsterdam|Rotterdam|Utrecht
BE 1.2 EUR eu 16 32 60 Brussels|Antwerp
LU 0.8 EUR eu 20 352 60 Luxembourg
IE 1.0 EUR eu 22 353 0 Dublin|Cork
PT 0.8 EUR eu 25 351 0 Lisbon|Porto
AT 0.9 EUR eu 20 43 60 Vienna|Graz
CH 2.0 CHF eu 21 41 60 Zurich|Geneva|Basel
SE 0.9 SEK eu 24 46 60 Stockholm|Gothenburg
NO 0.6 NOK eu 15 47 60 Oslo|Bergen
DK 0.6 DKK eu 18 45 60 Copenhagen|Aarhus
FI 0.5 EUR eu 18 358 120 Helsinki|Espoo
PL 1.2 PLN eu 28 48 60 Warsaw|Krakow
CZ 0.5 CZK eu 24 420 60 Prague|Brno
HU 0.4 HUF eu 28 36 60 Budapest
RO 0.4 RON eu 24 40 120 Bucharest|Cluj-Napoca
GR 0.5 EUR eu 27 30 120 Athens|Thessaloniki
TR 0.8 TRY eu 26 90 180 Istanbul|Ankara
AE 1.0 AED eu 23 971 240 Dubai|Abu_Dhabi
SA 0.6 SAR eu 24 966 180 Riyadh|Jeddah
QA 0.3 QAR eu 29 974 180 Doha
IL 0.5 ILS eu 23 972 120 Tel_Aviv|Jerusalem
ZA 0.8 ZAR eu 0 27 120 Johannesburg|Cape_Town
NG 0.5 NGN eu 0 234 60 Lagos|Abuja
KE 0.3 KES eu 0 254 180 Nairobi|Mombasa
EG 0.4 EGP eu 29 20 120 Cairo|Alexandria
MA 0.3 MAD eu 0 212 60 Casablanca|Rabat
JP 4.0 JPY apac 0 81 540 Tokyo|Osaka|Nagoya
CN 3.0 CNY apac 0 86 480 Shanghai|Beijing|Shenzhen
HK 2.0 HKD apac 0 852 480 Hong_Kong
SG 2.0 SGD apac 0 65 480 Singapore
AU 2.5 AUD apac 0 61 600 Sydney|Melbourne|Brisbane
NZ 0.5 NZD apac 0 64 720 Auckland|Wellington
IN 3.0 INR apac 0 91 330 Mumbai|Delhi|Bangalore
KR 1.5 KRW apac 0 82 540 Seoul|Busan
TW 0.8 TWD apac 0 886 480 Taipei|Kaohsiung
TH 0.6 THB apac 0 66 420 Bangkok|Chiang_Mai
MY 0.6 MYR apac 0 60 480 Kuala_Lumpur|Penang
ID 0.7 IDR apac 0 62 420 Jakarta|Surabaya
PH 0.5 PHP apac 0 63 480 Manila|Cebu
VN 0.5 VND apac 0 84 420 Hanoi|Ho_Chi_Minh_City
PK 0.3 PKR apac 24 92 300 Karachi|Lahore
"""

COUNTRIES: tuple[Country, ...] = tuple(
    Country(
        code=f[0],
        weight=float(f[1]),
        currency=f[2],
        region=f[3],
        iban_length=int(f[4]),
        calling_code=f[5],
        utc_offset_min=int(f[6]),
        cities=tuple(c.replace("_", " ") for c in f[7].split("|")),
    )
    for f in (line.split() for line in _COUNTRIES.strip().splitlines())
)
COUNTRY_CODES: tuple[str, ...] = tuple(c.code for c in COUNTRIES)

# Customers in countries without IBAN hold their accounts at the London hub.
HUB_IBAN_COUNTRY = "GB"
# BBANs that start with a four-letter bank code; the rest of every BBAN is digits.
LETTER_BANK_CODE = frozenset({"GB", "IE", "NL", "MT", "QA", "PK"})

# Approximate units of each currency per 1 EUR at the start of the run; drives amounts and FX.
EUR_RATES: dict[str, float] = {
    "EUR": 1.0,
    "USD": 1.09,
    "GBP": 0.86,
    "CHF": 0.95,
    "JPY": 160.0,
    "CAD": 1.47,
    "AUD": 1.65,
    "NZD": 1.78,
    "SEK": 11.3,
    "NOK": 11.5,
    "DKK": 7.46,
    "PLN": 4.35,
    "CZK": 25.0,
    "HUF": 390.0,
    "RON": 4.97,
    "TRY": 35.0,
    "AED": 4.0,
    "SAR": 4.09,
    "QAR": 3.97,
    "ILS": 4.0,
    "ZAR": 20.5,
    "NGN": 1650.0,
    "KES": 140.0,
    "EGP": 52.0,
    "MAD": 10.9,
    "MXN": 18.7,
    "BRL": 5.4,
    "ARS": 980.0,
    "CLP": 1010.0,
    "COP": 4300.0,
    "PEN": 4.1,
    "CNY": 7.8,
    "HKD": 8.5,
    "SGD": 1.46,
    "INR": 90.5,
    "KRW": 1450.0,
    "TWD": 34.5,
    "THB": 38.5,
    "MYR": 5.1,
    "IDR": 17000.0,
    "PHP": 61.0,
    "VND": 26500.0,
    "PKR": 305.0,
}

# Every ISO 4217 code a good record may carry (the currencies above).
CURRENCIES: tuple[str, ...] = tuple(sorted(EUR_RATES))
FX_BASE = "EUR"

REGIONS = ("us", "eu", "apac")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa "
    "Anthony Sofia Lucas Emma Noah Mia Liam Olivia Hugo Chloe Louis Lea Paul Anna Felix "
    "Hannah Marco Giulia Luca Chiara Pablo Lucia Diego Carmen Hiroshi Yuki Kenji Sakura Wei "
    "Li Ming Mei Arjun Priya Rahul Ananya Ji-woo Min-jun Ahmed Fatima Omar Aisha Yusuf Leila "
    "Kwame Amara Chinedu Zanele Lars Ingrid Erik Astrid Piotr Agnieszka Jan Eva Tomas Sara "
    "Ivan Elena"
)
LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
    "Lopez Wilson Anderson Taylor Thomas Moore Jackson Martin Lee Thompson White Harris Clark "
    "Lewis Mueller Schmidt Schneider Fischer Weber Dubois Moreau Laurent Bernard Rossi Russo "
    "Ferrari Bianchi Fernandez Gonzalez Sanchez Perez Tanaka Suzuki Takahashi Watanabe Wang "
    "Zhang Liu Chen Yang Patel Sharma Singh Gupta Kim Park Choi Haddad Khan Rahman Okafor "
    "Mensah Dlamini Nielsen Hansen Johansson Andersson Kowalski Nowak Novak Horvat Ivanov "
    "Papadopoulos Silva Santos Oliveira Costa Jansen DeVries Peeters Murphy Kelly Walsh"
)
STREETS = (
    "High Street",
    "Main Street",
    "Station Road",
    "Park Avenue",
    "Church Lane",
    "Market Square",
    "Mill Road",
    "King Street",
    "Queen Street",
    "River Road",
    "Harbour View",
    "Garden Way",
    "Oak Avenue",
    "Elm Street",
)

SEGMENTS = ("retail", "premier", "private", "sme", "corporate")
SEGMENT_WEIGHTS = (0.78, 0.12, 0.02, 0.06, 0.02)
KYC_RATINGS = ("low", "medium", "high")
CUSTOMER_STATUSES = ("active", "dormant", "closed")
ACCOUNT_TYPES = ("current", "savings", "credit_card", "loan", "mortgage", "brokerage")
ACCOUNT_STATUSES = ("active", "dormant", "closed")
PRODUCT_CODES = {
    "current": ("CUR-STD", "CUR-PRM", "CUR-BUS"),
    "savings": ("SAV-EASY", "SAV-FIX1Y", "SAV-FIX3Y"),
    "credit_card": ("CC-CLASSIC", "CC-GOLD", "CC-PLAT"),
    "loan": ("LN-PERS", "LN-AUTO", "LN-BUS"),
    "mortgage": ("MTG-FIX", "MTG-VAR"),
    "brokerage": ("BRK-SELF", "BRK-ADV"),
}

CARD_TYPES = ("debit", "credit")
# brand, 6-digit BIN prefixes (16-digit PANs only)
CARD_BRANDS = {
    "visa": ("453957", "401288", "476173", "492182"),
    "mastercard": ("510510", "522222", "545454", "555555"),
    "discover": ("601100", "601111"),
    "unionpay": ("621483", "622126"),
}
CHANNELS = ("pos", "ecom", "atm", "contactless")


@dataclass(frozen=True)
class Mcc:
    """A merchant category code with its typical ticket size (lognormal, in EUR)."""

    code: str
    name: str
    mu: float
    sigma: float
    share: float  # share of normal transactions
    risky: bool
    online: bool  # mostly card-not-present


MCCS: tuple[Mcc, ...] = (
    Mcc("5411", "Grocery", 3.4, 0.7, 0.22, False, False),
    Mcc("5812", "Restaurant", 3.3, 0.6, 0.12, False, False),
    Mcc("5814", "Fast Food", 2.3, 0.5, 0.10, False, False),
    Mcc("5541", "Fuel", 3.8, 0.4, 0.08, False, False),
    Mcc("5311", "Department Store", 3.9, 0.8, 0.05, False, False),
    Mcc("5999", "Retail", 3.5, 0.9, 0.08, False, True),
    Mcc("5912", "Pharmacy", 2.9, 0.6, 0.04, False, False),
    Mcc("4111", "Transport", 1.8, 0.6, 0.07, False, False),
    Mcc("4121", "Taxi", 2.8, 0.5, 0.03, False, True),
    Mcc("4511", "Airline", 5.6, 0.6, 0.01, False, True),
    Mcc("7011", "Hotel", 5.0, 0.6, 0.01, False, True),
    Mcc("5732", "Electronics", 5.0, 0.9, 0.02, True, True),
    Mcc("5944", "Jewelry", 5.3, 1.0, 0.005, True, False),
    Mcc("4829", "Money Transfer", 5.0, 0.9, 0.005, True, True),
    Mcc("7995", "Gambling", 4.0, 1.1, 0.005, True, True),
    Mcc("6051", "Crypto Exchange", 5.0, 1.0, 0.005, True, True),
    Mcc("4899", "Streaming", 2.5, 0.3, 0.04, False, True),
    Mcc("5815", "Digital Goods", 2.2, 0.7, 0.04, False, True),
    Mcc("6011", "ATM Cash", 4.4, 0.5, 0.05, False, False),
    Mcc("8062", "Hospital", 4.5, 1.0, 0.005, False, False),
)
MERCHANT_WORDS = _words(
    "Blue Green Royal Golden Silver City Urban Metro Star Sun Moon Prime Global Euro North "
    "South East West Alpha Nova Apex Summit Harbor River Oak Maple Cedar Lotus Panda Tiger"
)

# Market identifier codes (ISO 10383) per instrument country.
MICS = {
    "US": ("XNYS", "XNAS"),
    "GB": ("XLON",),
    "DE": ("XETR",),
    "FR": ("XPAR",),
    "NL": ("XAMS",),
    "CH": ("XSWX",),
    "JP": ("XTKS",),
    "HK": ("XHKG",),
    "AU": ("XASX",),
    "CA": ("XTSE",),
    "IT": ("XMIL",),
    "ES": ("XMAD",),
    "SG": ("XSES",),
}
OTC_VENUES = ("XOFF", "XXXX")  # off-exchange and OTC (bonds, FX, options bilateral)
INSTRUMENT_COUNTRIES = tuple(MICS)
ASSET_CLASSES = ("equity", "bond", "fx", "option")
SECTORS = ("tech", "financials", "energy", "health", "industrials", "consumer", "utilities")
DESKS = ("EQ_CASH", "EQ_DERIV", "RATES", "CREDIT", "FX", "TREASURY")
DESK_ASSETS = {
    "EQ_CASH": ("equity",),
    "EQ_DERIV": ("option", "equity"),
    "RATES": ("bond",),
    "CREDIT": ("bond",),
    "FX": ("fx",),
    "TREASURY": ("bond", "fx"),
}
SIDES = ("BUY", "SELL")
YIELD_CURRENCIES = ("EUR", "USD", "GBP", "JPY", "CHF")
TENORS = ("3M", "1Y", "2Y", "5Y", "10Y", "30Y")
TENOR_YEARS = (0.25, 1.0, 2.0, 5.0, 10.0, 30.0)
VOL_TENORS = ("1M", "3M", "6M", "1Y")
INDICATORS = ("gdp_growth", "cpi", "unemployment", "policy_rate")

INTERACTION_CHANNELS = ("branch", "call_centre", "app")
INTERACTION_TYPES = (
    "balance_inquiry",
    "card_block",
    "complaint",
    "loan_enquiry",
    "address_change",
    "fraud_report",
    "product_upgrade",
    "general",
)
INTERACTION_OUTCOMES = ("resolved", "escalated", "follow_up", "abandoned")
