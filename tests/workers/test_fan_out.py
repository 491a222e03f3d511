"""Fan-out, in-process on real Postgres: each committed event becomes one delivery per channel
and recipient, chosen when the event is fanned out, and fanning out again creates nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.lifecycle import LeadType
from app.notify.relay import fan_out
from app.services.receive import receive_lead
from app.services.sweeps import expire_overdue
from tests.factories import World, incoming_lead
from tests.notify.webhook_support import actor_for, create
from tests.workers.outbox_support import NOW, deliveries_of

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


async def test_new_lead_alerts_the_partner_team_honouring_opt_outs(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url="http://127.0.0.1:9/hooks")
    other, _ = await create(
        session, settings, admin, url="http://127.0.0.1:9/other", events=["lead.won"]
    )
    lead = await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    assert await deliveries_of(session, lead.id) == {
        ("lead.received", "WEBHOOK", str(endpoint.id)),
        ("lead.received", "LIVE", str(world.contoso.organisation_id)),
        # leads@ receives alerts; old-desk@ opted out.
        ("notify.new_lead", "EMAIL", "leads@contoso.example"),
        ("notify.new_lead", "IN_APP", str(world.contoso.partner_admin)),
        ("notify.new_lead", "IN_APP", str(world.contoso.referrals_admin)),
    }
    assert str(other.id) not in {r for *_, r in await deliveries_of(session, lead.id)}
    # Fanning out again creates nothing new.
    await fan_out(session, now=NOW)
    assert len(await deliveries_of(session, lead.id)) == 5


async def told_of_expiry(session: AsyncSession, lead_id: uuid.UUID) -> set[tuple[str, str]]:
    found = await deliveries_of(session, lead_id)
    return {(channel, to) for topic, channel, to in found if topic == "notify.lead_expired"}


async def test_expiry_notifies_the_sender_and_decline_the_customer(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    sent = await receive_lead(
        session,
        world.fabrikam.organisation_id,
        incoming_lead(
            type=LeadType.SALES_QUALIFIED,
            sender_user_id=world.seller,
            sender_organisation_id=(await actor_for(session, world.seller)).organisation_id,
        ),
        now=NOW - timedelta(days=15),
        settings=settings,
    )
    await expire_overdue(session, now=NOW)
    await fan_out(session, now=NOW)
    notified = await told_of_expiry(session, sent.id)
    assert notified == {("EMAIL", "seller@platform.example"), ("IN_APP", str(world.seller))}

    referred = await receive_lead(
        session,
        world.fabrikam.organisation_id,
        incoming_lead(
            type=LeadType.SALES_QUALIFIED, sender_organisation_id=world.northwind.organisation_id
        ),
        now=NOW - timedelta(days=15),
        settings=settings,
    )
    await expire_overdue(session, now=NOW)
    await fan_out(session, now=NOW)
    notified = await told_of_expiry(session, referred.id)
    assert notified == {
        ("EMAIL", "admin@northwind.example"),
        ("IN_APP", str(world.northwind.partner_admin)),
    }
