"""The bank's reference enumerations that contracts validate against.

These are the bank's own declared lists (ISO 4217 currencies, the countries it serves, its
product codes); the source systems are expected to conform to them, not the other way round.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Active ISO 4217 alphabetic codes (2024 list), funds and precious-metal codes excluded.
ISO_4217: tuple[str, ...] = _words(
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY "
    "KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR "
    "RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
    "TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW "
    "ZWG"
)
COUNTRIES = _words(
    "US CA MX BR AR CL CO PE GB DE FR IT ES NL BE LU IE PT AT CH SE NO DK FI PL CZ HU RO GR TR "
    "AE SA QA IL ZA NG KE EG MA JP CN HK SG AU NZ IN KR TW TH MY ID PH VN PK"
)
INSTRUMENT_COUNTRIES = _words("US GB DE FR NL CH JP HK AU CA IT ES SG")
REGIONS = _words("us eu apac")
SEGMENTS = _words("retail premier private sme corporate")
KYC_RATINGS = _words("low medium high")
CUSTOMER_STATUSES = _words("active dormant closed")
ACCOUNT_TYPES = _words("current savings credit_card loan mortgage brokerage")
ACCOUNT_STATUSES = _words("active dormant closed")
CARD_TYPES = _words("debit credit")
CARD_BRANDS = _words("visa mastercard discover unionpay")
CARD_CHANNELS = _words("pos ecom atm contactless")
MCCS = _words(
    "5411 5812 5814 5541 5311 5999 5912 4111 4121 4511 7011 5732 5944 4829 7995 6051 4899 "
    "5815 6011 8062"
)
FRAUD_PATTERNS = _words(
    "card_testing account_takeover high_value_risky_mcc merchant_compromise normal_looking"
)
ASSET_CLASSES = _words("equity bond fx option")
SECTORS = _words("tech financials energy health industrials consumer utilities")
COUNTERPARTY_TYPES = _words("bank broker asset_manager hedge_fund corporate insurer")
VENUES = _words("XAMS XASX XETR XHKG XLON XMAD XMIL XNAS XNYS XOFF XPAR XSES XSWX XTKS XTSE XXXX")
DESKS = _words("EQ_CASH EQ_DERIV RATES CREDIT FX TREASURY")
SIDES = _words("BUY SELL")
OPTION_TYPES = _words("call put")
FX_BASES = _words("EUR")
TENORS = _words("3M 1Y 2Y 5Y 10Y 30Y")
VOL_TENORS = _words("1M 3M 6M 1Y")
INDICATORS = _words("gdp_growth cpi unemployment policy_rate")
INTERACTION_CHANNELS = _words("branch call_centre app")
INTERACTION_TYPES = _words(
    "balance_inquiry card_block complaint loan_enquiry address_change fraud_report "
    "product_upgrade general"
)
INTERACTION_OUTCOMES = _words("resolved escalated follow_up abandoned")
CDC_OPS = _words("c u d")
