"""A lead's state as integrations read it: the public fields of the GraphQL `Lead` type, in its
names and nesting (`customer`, `deal`), as plain JSON. Webhook bodies carry it (`lead`) so a
receiver needs no follow-up query, and the change feed shows the same document.

`lead_state_json` builds it from a row in Python; `lead_state_json_sql` builds the same
document in SQL for the set-based sweeps (expiry, reminders), which never load leads.
`sender_state_json` is the part a lead's sender may see: no deal, no CRM id, no partner links.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from app.db.models import Lead
from app.domain.lifecycle import LeadType
from app.domain.privacy import REDACTED_COLUMNS
from app.domain.reference import CURRENCY_MINOR_UNITS, in_minor_units


def json_value(value: Any) -> Any:
    """A column's value as history and events record it."""
    if isinstance(value, Decimal | date | datetime | uuid.UUID):
        return str(value)
    return value


def money_json(amount: Decimal | None, currency: str | None) -> dict[str, str] | None:
    if amount is None or currency is None:
        return None
    return {"amount": str(in_minor_units(amount, currency)), "currency": currency}


def minor_units_sql(currency: str) -> str:
    """The currency's decimal places as SQL, from the same ISO 4217 table `in_minor_units` uses."""
    odd = {code: places for code, places in CURRENCY_MINOR_UNITS.items() if places != 2}
    cases = " ".join(f"WHEN '{code}' THEN {places}" for code, places in sorted(odd.items()))
    return f"(CASE {currency} {cases} ELSE 2 END)"


# GraphQL name -> column, in the order `Lead` declares them.
_TOP: dict[str, str] = {
    "id": "id",
    "version": "version",
    "type": "type",
    "tab": "tab",
    "stage": "stage",
    "outcome": "outcome",
    "receivedAt": "received_at",
    "respondBy": "respond_by",
    "respondedAt": "responded_at",
    "archivedAt": "archived_at",
    "updatedAt": "updated_at",
    "crmId": "crm_id",
    "engagementId": "engagement_id",
    "possibleDuplicateOf": "possible_duplicate_of",
    "reroutedFrom": "rerouted_from",
    "ownerId": "owner_user_id",
}
_CUSTOMER: dict[str, str] = {
    "companyName": "company_name",
    "companySize": "company_size",
    "industry": "industry",
    "country": "country",
    "contactName": "contact_name",
    "contactEmail": "contact_email",
    "contactPhone": "contact_phone",
    "need": "need",
    "contactRequested": "contact_requested",
    "consentToContact": "consent_to_contact",
    "locale": "customer_locale",
    "timeZone": "customer_time_zone",
}
_DEAL: dict[str, str] = {
    "name": "deal_name",
    "estimatedPurchaseDate": "estimated_purchase_date",
    "notes": "notes",
    "crmId": "crm_id",
    "campaignId": "campaign_id",
    "declineReason": "decline_reason",
    "declineNotes": "decline_notes",
    "closingDate": "closing_date",
    "lostReason": "lost_reason",
    "lostNotes": "lost_notes",
}
_DEAL_MONEY: dict[str, tuple[str, str]] = {
    "estimatedValue": ("estimated_value_amount", "estimated_value_currency"),
    "finalValue": ("final_value_amount", "final_value_currency"),
}
# Every column the document reads (what a set-based statement must return to build it).
LEAD_STATE_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            *_TOP.values(),
            *_CUSTOMER.values(),
            *_DEAL.values(),
            *(column for pair in _DEAL_MONEY.values() for column in pair),
        ]
    )
)
# Columns redaction empties to '' (app/domain/privacy.py): null in the document.
_EMPTIED = frozenset(c for c, v in REDACTED_COLUMNS.items() if v == "")
# What a sender never sees of a lead it sent (the partner's deal and internal links).
_PARTNER_ONLY = ("deal", "crmId", "possibleDuplicateOf", "reroutedFrom", "ownerId")


def _json(value: Any) -> Any:
    """Timestamps in UTC as ISO 8601 with a `T` (what `lead_state_json_sql` writes too)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return json_value(value)


def _tab(lead_type: str) -> str:
    return "MARKETPLACE" if lead_type == LeadType.CUSTOMER_INQUIRY.value else "QUALIFIED"


def lead_state_json(lead: Lead) -> dict[str, Any]:
    """The lead as `Lead` shows it to its partner: top-level fields, `customer`, `deal`."""
    state: dict[str, Any] = {
        key: _json(getattr(lead, column)) for key, column in _TOP.items() if key != "tab"
    }
    # `tab` is computed by the database: a lead not yet flushed has none.
    state["tab"] = _tab(lead.type)
    # A redacted lead's emptied fields read as null, as the API shows them.
    state["customer"] = {
        key: getattr(lead, column) if column not in _EMPTIED else (getattr(lead, column) or None)
        for key, column in _CUSTOMER.items()
    }
    deal: dict[str, Any] = {key: _json(getattr(lead, col)) for key, col in _DEAL.items()}
    for key, (amount, currency) in _DEAL_MONEY.items():
        deal[key] = money_json(getattr(lead, amount), getattr(lead, currency))
    state["deal"] = deal
    return state


def sender_state_json(state: dict[str, Any]) -> dict[str, Any]:
    """The part of `lead_state_json` the organisation that sent the lead may see."""
    return {key: value for key, value in state.items() if key not in _PARTNER_ONLY}


def _text(alias: str, column: str) -> str:
    return f"{alias}.{column}::text"


def lead_state_json_sql(alias: str) -> str:
    """`lead_state_json` as a jsonb expression over the leads row `alias`: the same document.
    Timestamps go through `to_jsonb` in UTC, as Python's `isoformat` writes them."""

    def value(column: str) -> str:
        if column.endswith("_at") or column == "respond_by":
            return (
                f"CASE WHEN {alias}.{column} IS NULL THEN NULL ELSE to_jsonb(replace(to_char("
                f"{alias}.{column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', "
                f"'') || '+00:00') END"
            )
        if column in (
            "id",
            "engagement_id",
            "possible_duplicate_of",
            "rerouted_from",
            "owner_user_id",
        ):
            return f"to_jsonb({_text(alias, column)})"
        if column in ("estimated_purchase_date", "closing_date"):
            return f"to_jsonb({_text(alias, column)})"
        if column in _EMPTIED:
            return f"to_jsonb(nullif({alias}.{column}, ''))"
        return f"to_jsonb({alias}.{column})"

    def money(amount: str, currency: str) -> str:
        return (
            f"CASE WHEN {alias}.{amount} IS NULL OR {alias}.{currency} IS NULL THEN 'null'::jsonb "
            f"ELSE jsonb_build_object('amount', round({alias}.{amount}, "
            f"{minor_units_sql(f'{alias}.{currency}')})::text, 'currency', {alias}.{currency}) END"
        )

    def obj(pairs: list[tuple[str, str]]) -> str:
        # jsonb_build_object takes at most 100 arguments; every part here stays well below.
        return "jsonb_build_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"

    top = [(key, value(column)) for key, column in _TOP.items()]
    customer = [(key, value(column)) for key, column in _CUSTOMER.items()]
    deal = [(key, value(column)) for key, column in _DEAL.items()]
    deal += [(key, money(amount, currency)) for key, (amount, currency) in _DEAL_MONEY.items()]
    return obj([*top, ("customer", obj(customer)), ("deal", obj(deal))])
