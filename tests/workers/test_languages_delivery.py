"""Messages in the recipient's language, delivered (issue 11 §5): a Portuguese-speaking customer
who wrote through the form in pt-BR gets the decline notice in Portuguese, with dates in their
zone, through the real SMTP sink; staff get their in-app notifications in their own language
and zone; English stays the default for everyone who chose nothing."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, Notification, Organisation
from app.dev.smtp_sink import MailSink
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from tests.factories import World, unique
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import SUBMIT, email, inquiry, profile_of
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")

DECLINE = """mutation($id: ID!) { declineLead(input: {id: $id, reason: NO_CAPACITY,
  notes: "internal: too busy this quarter"}) { errors { code } } }"""
PREFERENCES = """mutation($input: UpdateMyPreferencesInput!) {
  updateMyPreferences(input: $input) { errors { code } } }"""


async def submit(gql: GraphQLClient, session: AsyncSession, world: World, **more: object) -> Lead:
    address = email("rita")
    variables = {
        "profileId": await profile_of(session, world.contoso.organisation_id),
        "input": inquiry(
            contact={"name": "Rita Gomes", "email": address},
            company={"name": "Adatum Ltda", "country": "BR"},
            contactRequested=False,
            **more,
        ),
        "key": unique("k"),
    }
    payload = (await gql.as_user(None).data(SUBMIT, variables))["submitInquiry"]
    assert payload["errors"] == []
    lead = await session.get(Lead, uuid.UUID(payload["lead"]["id"]))
    assert lead is not None
    return lead


async def decline(gql: GraphQLClient, world: World, lead: Lead) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    body = await client.data(DECLINE, {"id": str(lead.id)})
    assert body["declineLead"]["errors"] == []


async def partner_name(session: AsyncSession, world: World) -> str:
    name = await session.scalar(
        select(Organisation.name).where(Organisation.id == world.contoso.organisation_id)
    )
    assert name is not None
    return name


async def test_a_portuguese_speaking_customer_gets_the_decline_notice_in_portuguese(
    session: AsyncSession, world: World, deps: Deps, sink: MailSink, gql: GraphQLClient
) -> None:
    lead = await submit(gql, session, world, locale="pt-BR", timeZone="America/Sao_Paulo")
    await decline(gql, world, lead)
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)

    (mail,) = [m for m in sink.messages() if m["X-Delivered-To"] == lead.contact_email]
    partner = await partner_name(session, world)
    assert str(mail["Subject"]) == f"Sua solicitação para {partner}"
    assert mail["Content-Language"] == "pt-BR"
    assert mail["To"] == f"Rita Gomes <{lead.contact_email}>"
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Olá, Rita Gomes,")
    assert f"Infelizmente, {partner} não pode atender à sua solicitação" in text
    assert "Escolha um parceiro diferente" in text
    # When the request arrived, in São Paulo time (UTC-3) as pt-BR writes dates.
    received = lead.received_at.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert f"{received.day} de " in text and f"{received:%H:%M} BRT" in text
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert '<html lang="pt-BR">' in html and "parceiro diferente" in html
    assert "too busy" not in mail.as_string() and "NO_CAPACITY" not in mail.as_string()


async def test_a_customer_who_chose_nothing_reads_english_in_utc(
    session: AsyncSession, world: World, deps: Deps, sink: MailSink, gql: GraphQLClient
) -> None:
    lead = await submit(gql, session, world)
    await decline(gql, world, lead)
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)
    (mail,) = [m for m in sink.messages() if m["X-Delivered-To"] == lead.contact_email]
    assert str(mail["Subject"]).startswith("Your request to ")
    assert mail["Content-Language"] == "en"
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Hello Rita Gomes,") and "different partner" in text
    assert f"{lead.received_at.astimezone(ZoneInfo('UTC')):%H:%M} UTC" in text


async def test_staff_read_their_in_app_notifications_in_their_own_language_and_zone(
    session: AsyncSession, world: World, deps: Deps, gql: GraphQLClient
) -> None:
    # The referrals admin reads Portuguese in São Paulo; the partner admin chose nothing.
    admin = gql.as_user(world.contoso.referrals_admin)
    body = await admin.data(
        PREFERENCES, {"input": {"locale": "pt-BR", "timeZone": "America/Sao_Paulo"}}
    )
    assert body["updateMyPreferences"]["errors"] == []
    lead = await submit(gql, session, world, locale="pt-BR")
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)

    notes = {
        n.user_id: n
        for n in await session.scalars(select(Notification).where(Notification.lead_id == lead.id))
    }
    portuguese = notes[world.contoso.referrals_admin]
    english = notes[world.contoso.partner_admin]
    assert portuguese.title == "Novo lead de Adatum Ltda"
    assert "Consulta de cliente de Adatum Ltda" in portuguese.body
    assert "funcionários, Brasil:" in portuguese.body
    deadline = lead.respond_by.astimezone(ZoneInfo("America/Sao_Paulo"))
    assert f"Responda até {deadline.day} de " in portuguese.body
    assert f"{deadline:%H:%M} BRT" in portuguese.body
    assert english.title == "New lead from Adatum Ltda"
    assert "employees, Brazil:" in english.body
    assert f"{lead.respond_by.astimezone(ZoneInfo('UTC')):%H:%M} UTC" in english.body
