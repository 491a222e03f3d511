"""Working a lead, as integrations and people hear of it (issue 11): a logged activity is a
`lead.activity_added` webhook event with its text, through the real fan-out and delivery; a
customer already contacted is not urged on again by a new-lead alert delivered late."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Notification
from app.dev.smtp_sink import MailSink
from app.domain.activities import ActivityKind
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from app.services.activities import add_activity
from app.services.auth import Actor
from app.services.errors import Refused
from app.services.leads import act, mark_customer_contacted
from app.services.receive import receive_lead
from tests.factories import World, incoming_lead
from tests.notify.test_lead_event_bodies import accept
from tests.notify.webhook_support import create
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


async def relay(session: AsyncSession, deps: Deps) -> None:
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)


async def test_an_activity_is_a_webhook_event_with_its_text(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    _, receiver.secret = await create(
        session, settings, admin, url=receiver.url(), events=["lead.activity_added"]
    )
    lead = await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    activity = await add_activity(
        session,
        admin,
        str(lead.id),
        ActivityKind.CALL,
        "Ana wants a demo on Tuesday",
        NOW + timedelta(minutes=5),
        now=NOW + timedelta(minutes=10),
    )
    assert not isinstance(activity, Refused), activity
    done = await act(session, admin, str(lead.id), accept(), now=NOW + timedelta(minutes=20))
    assert not isinstance(done, Refused), done
    await relay(session, deps)

    # Subscribed to activities only: exactly that event, signed, with what was logged.
    [hook] = receiver.received
    assert (hook.event_type, hook.verified) == ("lead.activity_added", True)
    body = hook.payload
    assert body["action"] == "ADD_ACTIVITY" and body["leadId"] == str(lead.id)
    assert body["activity"] == {
        "id": str(activity.id),
        "kind": "CALL",
        "occurredAt": (NOW + timedelta(minutes=5)).isoformat(),
        "body": "Ana wants a demo on Tuesday",
    }
    assert body["changes"] == {
        "activity": {k: v for k, v in body["activity"].items() if k != "body"}
    }
    assert body["actor"] == {"kind": "USER", "userId": str(admin.user_id)}
    assert (body["lead"]["stage"], body["lead"]["version"]) == ("RECEIVED", 1)


async def test_a_late_alert_for_a_customer_already_contacted_is_not_urgent(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    deps: Deps,
    sink: MailSink,
) -> None:
    org = world.contoso.organisation_id
    waiting = await receive_lead(session, org, incoming_lead(), now=NOW, settings=settings)
    reached = await receive_lead(session, org, incoming_lead(), now=NOW, settings=settings)
    # Reached before the alert went out (the queue was down, say).
    contacted = await mark_customer_contacted(session, admin, str(reached.id), now=NOW)
    assert not isinstance(contacted, Refused), contacted
    await relay(session, deps)

    async def kinds(lead_id: object) -> set[str]:
        found = await session.scalars(
            select(Notification.kind).where(Notification.lead_id == lead_id)
        )
        return set(found.all())

    assert await kinds(waiting.id) == {"URGENT_CONTACT"}
    assert await kinds(reached.id) == {"NEW_LEAD"}
    subjects = [str(m["Subject"]) for m in sink.messages()]
    assert any(s.startswith("Urgent:") for s in subjects), subjects
    assert any(s.startswith("New lead from") for s in subjects), subjects
