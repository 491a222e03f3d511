"""The customer of a lead, as both execution paths show it: their contact hidden from readers
when `app.domain.privacy.contact_hidden` says so (issue 11, section 4)."""

from __future__ import annotations

import datetime as dt

import strawberry

from app.db import models
from app.domain.privacy import contact_hidden, shown
from app.graphql.reads import Column, Computed, Read, Run, columns
from app.graphql.types.enums import CompanySize


@strawberry.type(description="The customer and what they need.")
class Customer:
    company_name: str
    company_size: CompanySize
    industry: str | None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    contact_name: str | None = strawberry.field(description="Null when `contactHidden`.")
    contact_email: str | None = strawberry.field(description="Null when `contactHidden`.")
    contact_phone: str | None
    need: str | None = strawberry.field(
        description="Null once the customer's data was redacted (`personalDataRedactedAt`)."
    )
    contact_requested: bool = strawberry.field(
        description="The customer asked partners to contact them directly (the flame, R7)."
    )
    consent_to_contact: bool
    consent_to_share_with_other_partners: bool = strawberry.field(
        description="The customer agreed that other partners may receive the request (return "
        "to pool offers the lead onward only with it)."
    )
    contact_hidden: bool = strawberry.field(
        description="The contact is withheld: the lead was declined or expired more than "
        "CONTACT_HIDDEN_AFTER_DAYS ago, or the customer's personal data was redacted."
    )
    personal_data_redacted_at: dt.datetime | None = strawberry.field(
        description="When the customer's personal data was redacted (retention or erasure)."
    )
    locale: str | None = strawberry.field(
        description="The customer's language (BCP 47, e.g. pt-BR) as the inquiry form or the "
        "sender gave it; null: not given (messages to the customer are in English)."
    )
    time_zone: str | None = strawberry.field(
        description="The customer's IANA time zone as given; null: not given (UTC)."
    )

    @classmethod
    def from_row(cls, r: models.Lead, now: dt.datetime, hidden_after_days: int) -> Customer:
        hidden = contact_hidden(
            outcome=r.outcome,
            archived_at=r.archived_at,
            redacted_at=r.pii_redacted_at,
            now=now,
            hidden_after_days=hidden_after_days,
        )
        return cls(
            company_name=r.company_name,
            company_size=CompanySize(r.company_size),
            industry=r.industry,
            country=r.country,
            contact_name=shown(r.contact_name, hidden),
            contact_email=shown(r.contact_email, hidden),
            contact_phone=shown(r.contact_phone, hidden),
            need=shown(r.need, False),
            contact_requested=r.contact_requested,
            consent_to_contact=r.consent_to_contact,
            consent_to_share_with_other_partners=r.consent_to_share,
            contact_hidden=hidden,
            personal_data_redacted_at=r.pii_redacted_at,
            locale=r.customer_locale,
            time_zone=r.customer_time_zone,
        )


# --- how the compiled read path reads it (see app/graphql/types/lead.py) ---


def hidden_in_run(
    run: Run, outcome: str | None, archived_at: dt.datetime | None, redacted_at: dt.datetime | None
) -> bool:
    return contact_hidden(
        outcome=outcome,
        archived_at=archived_at,
        redacted_at=redacted_at,
        now=run.now,
        hidden_after_days=run.settings.contact_hidden_after_days,
    )


# What `hidden_in_run` reads, before the value it hides.
HIDING_COLUMNS = ("outcome", "archived_at", "pii_redacted_at")


def _contact(name: str) -> Computed:
    """A contact field as `Customer.from_row` shows it."""
    return Computed(
        (*HIDING_COLUMNS, name),
        lambda run, outcome, archived_at, redacted_at, value: shown(
            value, hidden_in_run(run, outcome, archived_at, redacted_at)
        ),
    )


CUSTOMER_READS: dict[str, Read] = {
    **columns("company_name", "company_size", "industry", "country"),
    "contact_name": _contact("contact_name"),
    "contact_email": _contact("contact_email"),
    "contact_phone": _contact("contact_phone"),
    "need": Computed(("need",), lambda run, need: shown(need, False)),
    **columns("contact_requested", "consent_to_contact"),
    "consent_to_share_with_other_partners": Column("consent_to_share"),
    "contact_hidden": Computed(HIDING_COLUMNS, hidden_in_run),
    "personal_data_redacted_at": Column("pii_redacted_at"),
    "locale": Column("customer_locale"),
    "time_zone": Column("customer_time_zone"),
}
