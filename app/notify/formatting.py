"""How values read in messages to people: dates, company sizes, lead types, hours, money, links,
and one-line, clipped text for subjects and titles. Pure. Each takes the recipient's `Language`
(app/i18n.py); without one it reads in English, dates in UTC."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import quote

from app.i18n import ENGLISH, Language


def format_datetime(value: datetime, lang: Language = ENGLISH) -> str:
    """`28 Nov 2026 14:00 UTC` in English and UTC; in the recipient's locale and zone otherwise.
    Naive datetimes are taken to be UTC."""
    return lang.date_time(value)


def company_size_label(size: str, lang: Language = ENGLISH) -> str:
    """`SIZE_10_50` -> `10-50 employees` (an en dash), `SIZE_20000_PLUS` -> `20,000+ employees`."""
    if m := re.fullmatch(r"SIZE_(\d+)_(\d+)", size):
        return lang.gettext(
            "{low}–{high} employees", low=lang.number(int(m[1])), high=lang.number(int(m[2]))
        )
    if m := re.fullmatch(r"SIZE_(\d+)_PLUS", size):
        return lang.gettext("{low}+ employees", low=lang.number(int(m[1])))
    return size


def country_name(code: str, lang: Language = ENGLISH) -> str:
    """`BR` -> `Brazil` (`Brasil` in pt-BR); anything but a known ISO 3166-1 code as it is."""
    key = code.strip().upper()
    return lang.babel.territories.get(key, code) if len(key) == 2 else code


def lead_type_label(lead_type: str, lang: Language = ENGLISH) -> str:
    match lead_type:
        case "CUSTOMER_INQUIRY":
            return lang.gettext("Customer inquiry")
        case "MARKETING_QUALIFIED":
            return lang.gettext("Marketing-qualified lead")
        case "SALES_QUALIFIED":
            return lang.gettext("Sales-qualified lead")
    return lead_type


def hours_phrase(n: int, lang: Language = ENGLISH) -> str:
    if n < 1:
        return lang.gettext("less than an hour")
    return lang.ngettext("{n} hour", "{n} hours", n)


def money(amount: Decimal | int | float, currency: str, lang: Language = ENGLISH) -> str:
    """`$1,234.56` in English; `R$ 1.234,56`, `US$ 1.234,56` in pt-BR."""
    return lang.money(amount, currency)


def lead_url(app_base_url: str, lead_id: str) -> str:
    return f"{app_base_url.rstrip('/')}/leads/{quote(lead_id, safe='')}"


def one_line(value: str) -> str:
    return " ".join(value.split())


def clip(value: str, limit: int) -> str:
    """One line, at most `limit` characters (an ellipsis marks a cut)."""
    line = one_line(value)
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"
