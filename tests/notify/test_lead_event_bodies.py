"""What webhook bodies say, through the worker's real fan-out and delivery to real receivers:
each lead event carries the lead's state after the change (built in Python for steps taken one
by one, in SQL for the sweeps: the same document), a reroute is an event of its own, and the
organisation that sent a lead hears what became of it (webhook, e-mail, in-app) without the
partner's deal."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, Lead, Notification
from app.dev.smtp_sink import MailSink
from app.domain.events import LEAD_EVENTS
from app.domain.lifecycle import LeadStage, LeadType
from app.domain.reference import DeclineReason
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from app.services import webhooks
from app.services.auth import Actor
from app.services.errors import Refused
from app.services.lead_state import lead_state_json, lead_state_json_sql, sender_state_json
from app.services.leads import Accept, MarkWon, Money, act, decline_lead
from app.services.profiles import refresh_search_document
from app.services.receive import receive_lead
from app.services.reroute import reroute_due
from app.services.sweeps import expire_overdue
from tests.factories import World, incoming_lead, make_lead, make_partner
from tests.notify.webhook_support import actor_for, create
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")

SECRET_NOTES = "Margin is thin, keep it internal"


async def relay(session: AsyncSession, deps: Deps) -> None:
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)


async def fresh(session: AsyncSession, lead_id: uuid.UUID) -> Lead:
    lead = (
        await session.execute(
            select(Lead).where(Lead.id == lead_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return lead


def accept(notes: str | None = None) -> Accept:
    return Accept(
        deal_name="Adatum migration",
        estimated_value=Money(Decimal("48000"), "USD"),
        estimated_purchase_date=date(2027, 3, 31),
        notes=notes,
        crm_id="CRM-42",
    )


async def test_the_sql_document_is_the_python_one(session: AsyncSession, world: World) -> None:
    org = world.contoso.organisation_id
    accepted = await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)
    won = await make_lead(
        session,
        organisation_id=org,
        type=LeadType.SALES_QUALIFIED,
        stage=LeadStage.ARCHIVED,
        outcome="WON",
        deal_name="Tokyo rollout",
        estimated_value_amount=Decimal("1200000"),
        estimated_value_currency="JPY",
        final_value_amount=Decimal("1234.5"),
        final_value_currency="BHD",
        closing_date=date(2026, 12, 15),
        responded_at=NOW.replace(microsecond=120034),
        archived_at=NOW,
        contact_phone="+1 555 0100",
        notes="line one\n“quoted” ✓",
    )
    for lead in (accepted, won):
        row = await fresh(session, lead.id)
        from_sql = await session.scalar(
            text(f"SELECT {lead_state_json_sql('l')} FROM leads AS l WHERE l.id = :id"),
            {"id": lead.id},
        )
        assert from_sql == lead_state_json(row)
    document = lead_state_json(await fresh(session, won.id))
    assert document["tab"] == "QUALIFIED" and document["outcome"] == "WON"
    assert document["deal"]["finalValue"] == {"amount": "1234.500", "currency": "BHD"}
    assert document["deal"]["estimatedValue"] == {"amount": "1200000", "currency": "JPY"}
    assert document["respondedAt"].endswith(".120034+00:00")
    assert document["archivedAt"] == NOW.isoformat()
    assert document["customer"]["companyName"] == "Adatum Corp"
    assert "deal" not in sender_state_json(document) and "crmId" not in sender_state_json(document)


async def test_every_event_carries_the_lead_after_the_change(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    _, receiver.secret = await create(
        session, settings, admin, url=receiver.url(), events=list(LEAD_EVENTS)
    )
    org = world.contoso.organisation_id
    lead = await receive_lead(session, org, incoming_lead(), now=NOW, settings=settings)
    received_state = lead_state_json(await fresh(session, lead.id))
    done = await act(session, admin, str(lead.id), accept(), now=NOW + timedelta(minutes=1))
    assert not isinstance(done, Refused), done
    overdue = await receive_lead(
        session, org, incoming_lead(), now=NOW - timedelta(days=15), settings=settings
    )
    await expire_overdue(session, now=NOW)  # the set-based sweep builds its bodies in SQL
    await relay(session, deps)

    bodies = {(r.event_type, r.payload["leadId"]): r.payload for r in receiver.received}
    assert all(r.verified for r in receiver.received)
    assert bodies["lead.received", str(lead.id)]["lead"] == received_state
    body = bodies["lead.accepted", str(lead.id)]
    assert body["lead"] == lead_state_json(await fresh(session, lead.id))
    assert body["lead"]["stage"] == "ACCEPTED" and body["lead"]["version"] == 2
    assert body["lead"]["deal"]["name"] == "Adatum migration"
    assert body["lead"]["crmId"] == "CRM-42"
    # The body's fields of before stay as they were.
    assert body["current"]["stage"] == "ACCEPTED" and body["previous"]["stage"] == "RECEIVED"
    assert body["changes"]["dealName"] == {"from": None, "to": "Adatum migration"}
    expired = bodies["lead.expired", str(overdue.id)]
    assert expired["lead"] == lead_state_json(await fresh(session, overdue.id))
    assert (expired["lead"]["stage"], expired["lead"]["outcome"]) == ("ARCHIVED", "EXPIRED")


async def test_a_referring_partner_hears_of_its_lead_by_webhook_mail_and_in_app(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    deps: Deps,
    sink: MailSink,
) -> None:
    with WebhookReceiver() as partner_hook, WebhookReceiver() as sender_hook:
        _, partner_hook.secret = await create(
            session, settings, admin, url=partner_hook.url(), events=["lead.accepted"]
        )
        northwind = await actor_for(session, world.northwind.partner_admin)
        sender_endpoint, sender_hook.secret = await create(
            session,
            settings,
            northwind,
            url=sender_hook.url(),
            events=["sent_lead.accepted", "sent_lead.won", "lead.accepted"],
        )
        lead = await receive_lead(
            session,
            world.contoso.organisation_id,
            incoming_lead(
                type=LeadType.SALES_QUALIFIED,
                sender_organisation_id=world.northwind.organisation_id,
            ),
            now=NOW,
            settings=settings,
        )
        await act(session, admin, str(lead.id), accept(SECRET_NOTES), now=NOW)
        won = MarkWon(final_value=Money(Decimal("50000"), "USD"), closing_date=date(2026, 12, 1))
        assert not isinstance(await act(session, admin, str(lead.id), won, now=NOW), Refused)
        await relay(session, deps)

        # The partner's own endpoint: the full event.
        (own,) = partner_hook.received
        assert own.event_type == "lead.accepted" and own.payload["lead"]["deal"]["notes"]
        # The sender's: its own events, signed with its secret, without the partner's deal.
        got = [(r.event_type, r.verified) for r in sender_hook.received]
        assert got == [("sent_lead.accepted", True), ("sent_lead.won", True)]
        final = lead_state_json(await fresh(session, lead.id))
        accepted, closed = (r.payload for r in sender_hook.received)
        assert closed["lead"] == sender_state_json(final)
        assert (closed["lead"]["stage"], closed["lead"]["outcome"]) == ("ARCHIVED", "WON")
        assert accepted["lead"]["stage"] == "ACCEPTED" and accepted["leadId"] == str(lead.id)
        assert accepted["partnerOrganisationId"] == str(world.contoso.organisation_id)
        for request in sender_hook.received:
            body = request.body.decode()
            for secret in (SECRET_NOTES, "Adatum migration", "CRM-42", "50000"):
                assert secret not in body
            assert "changes" not in json.loads(body)["data"]
        # Its deliveries list names them as it received them.
        listed = await webhooks.list_deliveries(session, northwind, str(sender_endpoint.id))
        assert not isinstance(listed, Refused)
        assert sorted(r.event_type for r in listed) == ["sent_lead.accepted", "sent_lead.won"]

    # Its admin is told by e-mail and in-app; the partner's notes stay out.
    mails = [m for m in sink.messages() if m["X-Delivered-To"] == "admin@northwind.example"]
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert len(subjects) == 2
    assert any(" accepted your lead from Adatum" in s for s in subjects), subjects
    assert any(" won your lead from Adatum" in s for s in subjects), subjects
    assert all(SECRET_NOTES not in m.as_string() for m in mails)
    kinds = await session.scalars(
        select(Notification.kind).where(
            Notification.user_id == world.northwind.partner_admin, Notification.lead_id == lead.id
        )
    )
    assert sorted(kinds) == ["SENT_LEAD_ACCEPTED", "SENT_LEAD_WON"]


async def a_sellers_lead_declined(
    session: AsyncSession, settings: Settings, world: World, admin: Actor
) -> Lead:
    """The platform seller's lead to contoso, declined by contoso's admin with private notes."""
    seller = await actor_for(session, world.seller)
    lead = await receive_lead(
        session,
        world.contoso.organisation_id,
        incoming_lead(
            type=LeadType.SALES_QUALIFIED,
            sender_user_id=seller.user_id,
            sender_organisation_id=seller.organisation_id,
        ),
        now=NOW,
        settings=settings,
    )
    await decline_lead(session, admin, str(lead.id), DeclineReason.OTHER, SECRET_NOTES, now=NOW)
    return lead


async def test_a_seller_hears_that_its_lead_was_declined(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    deps: Deps,
    sink: MailSink,
) -> None:
    lead = await a_sellers_lead_declined(session, settings, world, admin)
    await relay(session, deps)
    mails = [m for m in sink.messages() if m["X-Delivered-To"] == "seller@platform.example"]
    assert [" declined your lead from Adatum" in str(m["Subject"]) for m in mails] == [True]
    assert SECRET_NOTES not in mails[0].as_string()
    note = await session.scalar(
        select(Notification).where(
            Notification.user_id == world.seller, Notification.lead_id == lead.id
        )
    )
    assert note is not None and note.kind == "SENT_LEAD_DECLINED"
    assert "declined" in note.title and SECRET_NOTES not in note.body


async def _published_partner(session: AsyncSession, word: str) -> uuid.UUID:
    partner = await make_partner(session)
    profile = BusinessProfile(
        id=uuid.uuid4(),
        organisation_id=partner.organisation_id,
        name=f"Reroute {word}",
        published=True,
        description=f"We do {word} projects",
        keywords=[word],
        industries=["Quantum Farming"],
    )
    session.add(profile)
    await session.flush()
    await refresh_search_document(session, profile.id)
    return partner.organisation_id


async def test_a_reroute_is_an_event_for_the_partner_and_the_sender(
    session: AsyncSession, settings: Settings, world: World, admin: Actor, deps: Deps
) -> None:
    word = f"zzhook{uuid.uuid4().hex[:6]}"
    await _published_partner(session, word)
    with WebhookReceiver() as partner_hook, WebhookReceiver() as sender_hook:
        _, partner_hook.secret = await create(
            session, settings, admin, url=partner_hook.url(), events=["lead.rerouted"]
        )
        northwind = await actor_for(session, world.northwind.partner_admin)
        _, sender_hook.secret = await create(
            session, settings, northwind, url=sender_hook.url(), events=["sent_lead.rerouted"]
        )
        lead = await receive_lead(
            session,
            world.contoso.organisation_id,
            incoming_lead(
                type=LeadType.SALES_QUALIFIED,
                industry="Quantum Farming",
                need=f"{word} rollout",
                contact_email=f"ana-{word}@adatum.example",
                auto_reroute=True,
                consent_to_share=True,
                sender_organisation_id=world.northwind.organisation_id,
            ),
            now=NOW - timedelta(days=1),
            settings=settings,
        )
        declined = await decline_lead(
            session, admin, str(lead.id), DeclineReason.NO_CAPACITY, None, now=NOW
        )
        assert not isinstance(declined, Refused), declined
        assert await reroute_due(session, now=NOW, settings=settings) >= 1
        offered = await session.scalar(select(Lead).where(Lead.rerouted_from == lead.id))
        assert offered is not None
        await relay(session, deps)

        (event,) = partner_hook.received
        assert event.verified and event.event_type == "lead.rerouted"
        body: dict[str, Any] = event.payload
        assert body["action"] == "REROUTE" and body["leadId"] == str(lead.id)
        assert body["changes"]["reroutedTo"]["to"]["leadId"] == str(offered.id)
        assert body["lead"] == lead_state_json(await fresh(session, lead.id))
        (told,) = sender_hook.received
        assert told.verified and told.event_type == "sent_lead.rerouted"
        assert told.payload["lead"]["outcome"] == "DECLINED"


async def test_the_platform_hears_by_webhook_what_became_of_its_sellers_lead(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    deps: Deps,
    receiver: WebhookReceiver,
) -> None:
    """Sellers and marketers subscribe through their platform's admin, to `sent_lead.*` only
    (the platform receives no leads); the body is the sender's cut: no deal, no notes."""
    platform = await actor_for(session, world.platform_admin)
    refused = await webhooks.create_endpoint(
        session, platform, url=receiver.url(), events=["lead.declined"], settings=settings
    )
    assert isinstance(refused, Refused) and refused.errors[0].field == ("events", "0")
    created = await webhooks.create_endpoint(
        session, platform, url=receiver.url(), events=["sent_lead.declined"], settings=settings
    )
    assert not isinstance(created, Refused)
    receiver.secret = created[1]
    lead = await a_sellers_lead_declined(session, settings, world, admin)
    await relay(session, deps)
    [hook] = [r for r in receiver.requests if r.payload.get("leadId") == str(lead.id)]
    assert (hook.event_type, hook.verified) == ("sent_lead.declined", True)
    assert hook.payload["lead"]["stage"] == "ARCHIVED" and "deal" not in hook.payload["lead"]
    assert SECRET_NOTES not in hook.body.decode()
