"""How values read in messages to people: dates, company sizes, lead types, links, and
one-line, clipped text for subjects and titles. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_LEAD_TYPES = {
    "CUSTOMER_INQUIRY": "Customer inquiry",
    "MARKETING_QUALIFIED": "Marketing-qualified lead",
    "SALES_QUALIFIED": "Sales-qualified lead",
}


def format_datetime(value: datetime) -> str:
    """`28 Nov 2026 14:00 UTC`; naive datetimes are taken to be UTC. Locale-independent."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def company_size_label(size: str) -> str:
    """`SIZE_10_50` -> `10-50 employees` (an en dash), `SIZE_20000_PLUS` -> `20,000+ employees`."""
    if m := re.fullmatch(r"SIZE_(\d+)_(\d+)", size):
        return f"{int(m[1]):,}–{int(m[2]):,} employees"
    if m := re.fullmatch(r"SIZE_(\d+)_PLUS", size):
        return f"{int(m[1]):,}+ employees"
    return size


def lead_type_label(lead_type: str) -> str:
    return _LEAD_TYPES.get(lead_type, lead_type)


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


def hours_phrase(n: int) -> str:
    if n < 1:
        return "less than an hour"
    return "1 hour" if n == 1 else f"{n} hours"
