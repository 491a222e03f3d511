"""The RECEIVE step every lead goes through: possible duplicates of the partner's recent lead
for the same customer, engagements grouping one customer's leads across partners, and the step
as reroutes and seeding call it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead
from app.services import intake
from app.services.errors import Refused
from app.services.receive import normalise_company, receive_lead
from tests.factories import World, incoming_lead, unique
from tests.intake_inputs import (
    actor,
    email,
    inquiry_data,
    outbox_topics,
    profile_of,
    qualified_data,
    submit,
)


def test_company_names_are_normalised() -> None:
    assert normalise_company("  Adatum,  Corp. ") == "adatum corp"
    assert normalise_company("ADATUM CORP") == "adatum corp"
    assert normalise_company("Adatum Corp!") == normalise_company("adatum   corp")


async def test_possible_duplicates_are_flagged(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    company = unique("Tailspin Toys")
    domain = f"{uuid.uuid4().hex[:8]}.example"
    address = email("lee", domain)
    now = datetime.now(UTC)

    async def send(profile: str, at: datetime, **overrides: Any) -> Lead:
        lead = await submit(session, settings, profile, inquiry_data(**overrides), now=at)
        assert isinstance(lead, Lead), lead
        return lead

    old = await send(
        contoso, now - timedelta(days=34), company={"name": company}, contact={"email": address}
    )
    first = await send(
        contoso, now - timedelta(days=3), company={"name": company}, contact={"email": address}
    )
    assert first.possible_duplicate_of is None  # the older one is outside the 30 days
    # The same e-mail, however it is capitalised and whatever the company is called.
    same_email = await send(
        contoso,
        now - timedelta(days=2),
        company={"name": unique("Other")},
        contact={"email": address.upper()},
    )
    assert same_email.possible_duplicate_of == first.id
    # Another person at the same company (normalised) and e-mail domain.
    colleague = await send(
        contoso,
        now - timedelta(days=1),
        company={"name": f" {company.upper()}. "},
        contact={"email": email("kim", domain)},
    )
    assert colleague.possible_duplicate_of == first.id
    # A third: the most recent of the matching leads.
    third = await send(
        contoso,
        now - timedelta(hours=1),
        company={"name": company},
        contact={"email": email("max", domain.upper())},
    )
    assert third.possible_duplicate_of == colleague.id
    # The same company name at another domain is someone else.
    namesake = await send(
        contoso,
        now,
        company={"name": company},
        contact={"email": email("kim", "elsewhere.example")},
    )
    assert namesake.possible_duplicate_of is None
    # Another partner has never seen this customer.
    elsewhere = await send(fabrikam, now, company={"name": company}, contact={"email": address})
    assert elsewhere.possible_duplicate_of is None
    assert old.possible_duplicate_of is None


async def test_leads_about_one_customer_share_an_engagement(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    now = datetime.now(UTC)
    address = email("lee")
    contoso = await profile_of(session, world.contoso.organisation_id)
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    northwind = await profile_of(session, world.northwind.organisation_id)

    async def inquire(profile_id: str, days_ago: int) -> Lead | Refused:
        data = inquiry_data(contact={"email": address})
        return await submit(session, settings, profile_id, data, now=now - timedelta(days=days_ago))

    old = await inquire(contoso, 40)
    first = await inquire(fabrikam, 5)
    assert isinstance(old, Lead) and isinstance(first, Lead)
    assert first.engagement_id != old.engagement_id  # 40 days ago is another engagement

    referred = await intake.send_lead(
        session,
        await actor(session, world.fabrikam.partner_admin),
        intake.REFERRAL,
        profile_id=northwind,
        data=qualified_data(contact={"email": address.upper()}),
        now=now,
        settings=settings,
    )
    other_customer = await submit(session, settings, fabrikam, inquiry_data(), now=now)
    assert isinstance(referred, Lead) and isinstance(other_customer, Lead)
    assert referred.engagement_id == first.engagement_id
    assert other_customer.engagement_id not in (first.engagement_id, old.engagement_id, None)


async def test_receive_lead_keeps_its_signature_and_groups_leads(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    address = email("kai")
    incoming = incoming_lead(
        company_name="Kai Co", contact_name="Kai", contact_email=address, contact_requested=False
    )
    now = datetime.now(UTC)
    first = await receive_lead(
        session,
        world.contoso.organisation_id,
        incoming,
        now=now - timedelta(minutes=5),
        settings=settings,
    )
    second = await receive_lead(
        session, world.contoso.organisation_id, incoming, now=now, settings=settings
    )
    assert second.possible_duplicate_of == first.id
    assert second.engagement_id == first.engagement_id
    assert await outbox_topics(session, second.id) == ["lead.received", "notify.new_lead"]
