"""Input rules for deal data, shared by every mutation that writes it. Pure."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import SplitResult, urlsplit

from email_validator import EmailNotValidError, validate_email

from app.domain.reference import CURRENCY_MINOR_UNITS, REASONS_REQUIRING_NOTES, in_minor_units

MAX_NAME = 200
MAX_NOTES = 4000
MAX_REF = 100
MAX_EMAIL = 254
MAX_AMOUNT = Decimal("1000000000000")  # 10^12 in any currency is not a lead, it is a typo
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)
MAX_URL = 2000
# Digits with the usual separators, and at least five digits among them.
PHONE = re.compile(r"^(?=(?:\D*\d){5})\+?[0-9 ()./-]{5,32}$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class Problem:
    field: tuple[str, ...]
    message: str


class Checker:
    """Collects every problem with an input instead of stopping at the first."""

    def __init__(self, *prefix: str) -> None:
        self.prefix = prefix
        self.problems: list[Problem] = []

    def fail(self, field: str | tuple[str, ...], message: str) -> None:
        path = (field,) if isinstance(field, str) else field
        self.problems.append(Problem((*self.prefix, *path), message))

    def text(
        self,
        field: str | tuple[str, ...],
        value: str | None,
        *,
        max_len: int,
        required: bool = False,
    ) -> str | None:
        """Strip; blank becomes None. Returns the cleaned value."""
        cleaned = value.strip() if value is not None else None
        if not cleaned:
            if required:
                self.fail(field, "is required")
            return None
        if len(cleaned) > max_len:
            self.fail(field, f"must be at most {max_len} characters")
        if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in cleaned):
            self.fail(field, "must not contain control characters")
        return cleaned

    def money(
        self, field: str, amount: Decimal | None, currency: str | None, *, required: bool = False
    ) -> tuple[Decimal, str] | None:
        if amount is None and currency is None:
            if required:
                self.fail(field, "is required")
            return None
        if amount is None or currency is None:
            self.fail((field, "amount" if amount is None else "currency"), "is required")
            return None
        ok = True
        code = currency.strip().upper()
        if code not in CURRENCY_MINOR_UNITS:
            self.fail((field, "currency"), f"'{currency}' is not an ISO 4217 currency code")
            ok = False
        try:
            finite = amount.is_finite()
        except (InvalidOperation, AttributeError):
            finite = False
        if not finite:
            self.fail((field, "amount"), "must be a number")
            return None
        if amount < 0:
            self.fail((field, "amount"), "must not be negative")
            ok = False
        elif amount >= MAX_AMOUNT:
            self.fail((field, "amount"), f"must be less than {MAX_AMOUNT:,}")
            ok = False
        places = CURRENCY_MINOR_UNITS.get(code)
        exponent = amount.as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > places:
            self.fail((field, "amount"), f"{code} takes at most {places} decimal places")
            ok = False
        return (in_minor_units(amount, code), code) if ok else None

    def day(self, field: str, value: date | None, *, required: bool = False) -> date | None:
        if value is None:
            if required:
                self.fail(field, "is required")
            return None
        if not MIN_DATE <= value <= MAX_DATE:
            self.fail(field, f"must be between {MIN_DATE} and {MAX_DATE}")
            return None
        return value

    def email(
        self, field: str | tuple[str, ...], value: str | None, *, required: bool = False
    ) -> str | None:
        cleaned = self.text(field, value, max_len=MAX_EMAIL, required=required)
        if cleaned is None:
            return None
        try:
            return validate_email(cleaned, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            self.fail(field, f"is not a valid e-mail address: {exc}")
            return None

    def phone(self, field: str | tuple[str, ...], value: str | None) -> str | None:
        cleaned = self.text(field, value, max_len=32)
        if cleaned is not None and not PHONE.match(cleaned):
            self.fail(field, "is not a valid phone number")
            return None
        return cleaned

    def url(
        self,
        field: str | tuple[str, ...],
        value: str | None,
        *,
        max_len: int = MAX_URL,
        required: bool = False,
    ) -> SplitResult | None:
        """An absolute http(s) URL with a host, parsed; None (with the problem) otherwise."""
        before = len(self.problems)
        cleaned = self.text(field, value, max_len=max_len, required=required)
        if cleaned is None or len(self.problems) > before:
            return None  # one problem per URL: a control character is not reported twice
        if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in cleaned):
            self.fail(field, "must not contain spaces or control characters")
            return None
        try:
            parts = urlsplit(cleaned)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            self.fail(field, "is not a valid URL")
            return None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            self.fail(field, "must be an http:// or https:// URL with a host")
            return None
        return parts

    def country(
        self, field: str | tuple[str, ...], value: str | None, *, required: bool = False
    ) -> str | None:
        """An ISO 3166-1 alpha-2 code in capitals (`US`)."""
        cleaned = self.text(field, value, max_len=2 * MAX_REF, required=required)
        if cleaned is None:
            return None
        if not COUNTRY.match(cleaned):
            self.fail(field, "must be an ISO 3166-1 alpha-2 code in capitals, e.g. US")
            return None
        return cleaned

    def reason_notes(self, reason: str, notes: str | None) -> str | None:
        cleaned = self.text("notes", notes, max_len=MAX_NOTES)
        if reason in REASONS_REQUIRING_NOTES and cleaned is None:
            self.fail("notes", f"notes are required when the reason is {reason}")
        return cleaned
