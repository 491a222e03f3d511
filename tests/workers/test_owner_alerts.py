"""Alerts and reminders go to a lead's owner, and to the whole team while it has none (issue 11);
an owner a colleague gave the lead to is told; webhooks hear of every assignment."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.dev.smtp_sink import MailSink
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from app.services.owners import assign_lead
from app.services.receive import receive_lead
from app.services.sweeps import send_reminders
from tests.factories import World, incoming_lead, make_lead
from tests.notify.webhook_support import actor_for, create
from tests.workers.outbox_support import NOW, deliver_all, deliveries_of

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


def _of(found: set[tuple[str, str, str]], topic: str) -> set[tuple[str, str]]:
    return {(channel, to) for t, channel, to in found if t == topic}


async def _route_to(session: AsyncSession, world: World, owner: uuid.UUID) -> None:
    session.add(
        models.RoutingRule(
            id=uuid.uuid4(),
            organisation_id=world.contoso.organisation_id,
            position=1,
            industries=[],
            solution_areas=[],
            countries=[],
            owner_user_id=owner,
            user_ids=[],
        )
    )
    await session.flush()


async def test_a_routed_lead_alerts_its_owner_only(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    contoso = world.contoso
    admin = await actor_for(session, contoso.partner_admin)
    endpoint, _ = await create(
        session,
        settings,
        admin,
        url="http://127.0.0.1:9/hooks",
        events=["lead.received", "lead.assigned"],
    )
    await _route_to(session, world, contoso.referrals_admin)
    lead = await receive_lead(
        session, contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    assert lead.owner_user_id == contoso.referrals_admin
    await fan_out(session, now=NOW)
    found = await deliveries_of(session, lead.id)
    # The urgent new-lead alert: the owner by e-mail and in-app; not the location's contacts,
    # not the other lead managers.
    assert _of(found, "notify.new_lead") == {
        ("EMAIL", "referrals@contoso.example"),
        ("IN_APP", str(contoso.referrals_admin)),
    }
    # Routing is the system's: the owner hears of the lead by its alert, not twice.
    assert _of(found, "notify.lead_assigned") == set()
    assert _of(found, "lead.assigned") == {
        ("WEBHOOK", str(endpoint.id)),
        ("LIVE", str(contoso.organisation_id)),
    }


async def test_an_unowned_lead_alerts_the_whole_team_and_a_stale_owner_counts_as_none(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    contoso = world.contoso
    team = {
        ("EMAIL", "leads@contoso.example"),
        ("IN_APP", str(contoso.partner_admin)),
        ("IN_APP", str(contoso.referrals_admin)),
    }
    lead = await receive_lead(
        session, contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    assert _of(await deliveries_of(session, lead.id), "notify.new_lead") == team

    # Owned by someone who has since lost the lead-managing role: the team is reminded.
    colleague = models.User(
        id=uuid.uuid4(),
        organisation_id=contoso.organisation_id,
        roles=[],
        email="former@contoso.example",
        name="Former",
    )
    session.add(colleague)
    await session.flush()
    stale = await make_lead(
        session,
        organisation_id=contoso.organisation_id,
        received_at=NOW - timedelta(days=13),
        owner_user_id=colleague.id,
    )
    await send_reminders(session, now=NOW, hours=[24])
    await fan_out(session, now=NOW)
    assert _of(await deliveries_of(session, stale.id), "notify.reminder") == team


async def test_reminders_go_to_the_owner(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    contoso = world.contoso
    owned = await make_lead(
        session,
        organisation_id=contoso.organisation_id,
        received_at=NOW - timedelta(days=13),
        owner_user_id=contoso.partner_admin,
    )
    await send_reminders(session, now=NOW, hours=[24])
    await fan_out(session, now=NOW)
    assert _of(await deliveries_of(session, owned.id), "notify.reminder") == {
        ("EMAIL", "admin@contoso.example"),
        ("IN_APP", str(contoso.partner_admin)),
    }


async def test_the_new_owner_is_told_when_a_colleague_assigns_the_lead(
    session: AsyncSession, world: World, settings: Settings, deps: Deps, sink: MailSink
) -> None:
    contoso = world.contoso
    lead = await make_lead(session, organisation_id=contoso.organisation_id)
    by_admin = await actor_for(session, contoso.partner_admin)
    given = await assign_lead(
        session, by_admin, str(lead.id), str(contoso.referrals_admin), now=NOW
    )
    assert isinstance(given, models.Lead)
    await fan_out(session, now=NOW)
    assert _of(await deliveries_of(session, lead.id), "notify.lead_assigned") == {
        ("EMAIL", "referrals@contoso.example"),
        ("IN_APP", str(contoso.referrals_admin)),
    }
    await deliver_all(session, deps, NOW)
    notices = await session.execute(
        select(
            models.Notification.user_id, models.Notification.kind, models.Notification.title
        ).where(models.Notification.lead_id == lead.id)
    )
    assert notices.all() == [
        (contoso.referrals_admin, "LEAD_ASSIGNED", "Assigned to you: the lead from Adatum Corp")
    ]
    mails = [m for m in sink.messages() if "Assigned to you" in str(m["Subject"])]
    assert [m["X-Delivered-To"] for m in mails] == ["referrals@contoso.example"]

    # Taking a lead yourself tells nobody.
    mine = await make_lead(session, organisation_id=contoso.organisation_id)
    by_self = await actor_for(session, contoso.referrals_admin)
    taken = await assign_lead(session, by_self, str(mine.id), str(contoso.referrals_admin), now=NOW)
    assert isinstance(taken, models.Lead)
    await fan_out(session, now=NOW)
    assert _of(await deliveries_of(session, mine.id), "notify.lead_assigned") == set()
