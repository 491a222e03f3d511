"""Assignments as webhook events, through the worker's real fan-out and delivery to a real
receiver (issue 11): routing's and a person's `lead.assigned`, with the lead's state (its
`ownerId`) and the change; the organisation that sent the lead hears of neither."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from app.services.auth import Actor
from app.services.lead_state import lead_state_json
from app.services.owners import assign_lead
from app.services.receive import receive_lead
from tests.factories import World, incoming_lead
from tests.notify.webhook_support import actor_for, create
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


async def test_assignments_reach_webhooks_with_the_lead_and_the_change(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    contoso, northwind = world.contoso, world.northwind
    _, receiver.secret = await create(
        session, settings, admin, url=receiver.url(), events=["lead.assigned"]
    )
    # The referring partner subscribes to everything a sender may: nothing of assignments.
    referrer = await actor_for(session, northwind.partner_admin)
    sender_hook = WebhookReceiver()
    with sender_hook:
        _, sender_hook.secret = await create(
            session,
            settings,
            referrer,
            url=sender_hook.url(),
            events=["sent_lead.accepted", "sent_lead.declined"],
        )
        session.add(
            models.RoutingRule(
                id=uuid.uuid4(),
                organisation_id=contoso.organisation_id,
                position=1,
                industries=[],
                solution_areas=[],
                countries=[],
                owner_user_id=contoso.referrals_admin,
                user_ids=[],
            )
        )
        await session.flush()
        lead = await receive_lead(
            session,
            contoso.organisation_id,
            incoming_lead(sender_organisation_id=northwind.organisation_id),
            now=NOW,
            settings=settings,
        )
        routed_state = lead_state_json(lead)
        given = await assign_lead(session, admin, str(lead.id), str(contoso.partner_admin), now=NOW)
        assert isinstance(given, models.Lead)
        await fan_out(session, now=NOW)
        await deliver_all(session, deps, NOW)

        bodies = [r.payload for r in receiver.received if r.event_type == "lead.assigned"]
        assert all(r.verified for r in receiver.received)
        assert [
            (b["actor"]["kind"], b["lead"]["ownerId"], b["lead"]["version"]) for b in bodies
        ] == [
            ("SYSTEM", str(contoso.referrals_admin), 2),
            ("USER", str(contoso.partner_admin), 3),
        ]
        assert bodies[0]["lead"] == routed_state
        assert bodies[1]["lead"] == lead_state_json(given)
        assert bodies[1]["changes"]["owner"]["from"]["id"] == str(contoso.referrals_admin)
        assert bodies[1]["changes"]["owner"]["to"]["id"] == str(contoso.partner_admin)
        assert sender_hook.received == []
