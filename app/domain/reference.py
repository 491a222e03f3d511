"""Fixed vocabularies: Partner Center's company size bands, decline and lost reasons, currencies."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from iso4217 import Currency


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

# ISO 4217 list one (what the iso4217 package ships, kept current by its maintainer rather than
# by hand) with each code's minor units; codes without minor units (gold, XXX) are not money.
CURRENCY_MINOR_UNITS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}


def in_minor_units(amount: Decimal, currency: str) -> Decimal:
    """The amount with exactly its currency's decimal places: USD 1200.50, JPY 1200, KWD 1.250.
    One form everywhere (API, history, events), so equal amounts always compare equal."""
    return amount.quantize(Decimal(1).scaleb(-CURRENCY_MINOR_UNITS.get(currency, 2)))
