"""Fixed vocabularies: Partner Center's company size bands, decline and lost reasons, currencies."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum


class CompanySize(StrEnum):
    SIZE_1_9 = "SIZE_1_9"
    SIZE_10_50 = "SIZE_10_50"
    SIZE_51_250 = "SIZE_51_250"
    SIZE_251_1000 = "SIZE_251_1000"
    SIZE_1001_5000 = "SIZE_1001_5000"
    SIZE_5001_10000 = "SIZE_5001_10000"
    SIZE_10001_20000 = "SIZE_10001_20000"
    SIZE_20000_PLUS = "SIZE_20000_PLUS"


class DeclineReason(StrEnum):
    NOT_A_FIT_FOR_EXPERTISE = "NOT_A_FIT_FOR_EXPERTISE"
    CUSTOMER_SIZE = "CUSTOMER_SIZE"
    LOCATION = "LOCATION"
    NO_CAPACITY = "NO_CAPACITY"
    INSUFFICIENT_DETAILS = "INSUFFICIENT_DETAILS"
    CUSTOMER_UNREACHABLE = "CUSTOMER_UNREACHABLE"
    DUPLICATE = "DUPLICATE"
    SPAM = "SPAM"
    OTHER = "OTHER"


class LostReason(StrEnum):
    PRICE = "PRICE"
    COMPETITOR = "COMPETITOR"
    NO_BUDGET = "NO_BUDGET"
    NO_DECISION = "NO_DECISION"
    TIMING = "TIMING"
    REQUIREMENTS_NOT_MET = "REQUIREMENTS_NOT_MET"
    CUSTOMER_UNRESPONSIVE = "CUSTOMER_UNRESPONSIVE"
    OTHER = "OTHER"


# Reasons whose meaning needs words: notes are required with them.
REASONS_REQUIRING_NOTES: frozenset[str] = frozenset({"OTHER"})

# ISO 4217 active codes with their minor units (decimal places).
CURRENCY_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "ANG",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHF",
            "CNY",
            "COP",
            "CRC",
            "CUP",
            "CVE",
            "CZK",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "EUR",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "IRR",
            "ISK",
            "JMD",
            "KES",
            "KGS",
            "KHR",
            "KPW",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SVC",
            "SYP",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "USD",
            "UYU",
            "UZS",
            "VES",
            "WST",
            "XCD",
            "YER",
            "ZAR",
            "ZMW",
            "ZWG",
        ],
        2,
    ),
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
}


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """The amount with exactly its currency's decimal places: USD 1200.50, JPY 1200, KWD 1.250.
    One form everywhere (API, history, events), so equal amounts always compare equal."""
    return amount.quantize(Decimal(1).scaleb(-CURRENCY_MINOR_UNITS.get(currency, 2)))
