"""Privacy over GraphQL (issue 11, section 4): the consent to share on the inquiry form, a
declined or expired lead's contact hidden after CONTACT_HIDDEN_AFTER_DAYS on both execution
paths, and a platform admin's subject-access export and erasure by e-mail."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import any_, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.domain.lifecycle import LeadStage
from app.domain.privacy import email_hash
from tests.factories import World, WorldPartner, make_lead, make_partner, unique
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import SUBMIT, Runner, email, graphql_runner, inquiry, profile_of

CUSTOMER = """customer { companyName country contactName contactEmail contactPhone need
  consentToShareWithOtherPartners contactHidden personalDataRedactedAt }"""
LEADS = f"""{{ leads(tab: MARKETPLACE, first: 20) {{ nodes {{ id stage outcome {CUSTOMER}
  sender {{ kind name organisationName }} }} }} }}"""
LEAD = f"""query($id: ID!) {{ lead(id: $id) {{ id {CUSTOMER} sender {{ kind name }} }} }}"""
CONSENT = "consentToShareWithOtherPartners"
EXPORT = """query($email: String!) { customerDataExport(email: $email) {
  email organisationCount leadCount leads } }"""
ERASE = """mutation($email: String!) { eraseCustomerData(input: {email: $email}) {
  erasure { requestId leadCount organisationCount } errors { code field message } } }"""


@pytest.fixture
async def run(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Runner]:
    async with graphql_runner(settings, sessionmaker) as runner:
        yield runner


async def _archived(
    session: AsyncSession, partner: WorldPartner, outcome: str, days_ago: float, **fields: Any
) -> models.Lead:
    archived_at = datetime.now(UTC) - timedelta(days=days_ago)
    values: dict[str, Any] = {"outcome": outcome, "archived_at": archived_at}
    if outcome == "DECLINED":
        values.update(decline_reason="OTHER", responded_at=archived_at)
    values.update(fields)
    return await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ARCHIVED,
        received_at=archived_at - timedelta(days=3),
        contact_phone="+1 555 0100",
        **values,
    )


async def test_the_inquiry_form_asks_for_consent_to_share(
    run: Runner, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    answers = []
    for consent in ({}, {"consentToShareWithOtherPartners": True}):
        data = await run(
            SUBMIT.replace(
                "consentToContact }", "consentToContact consentToShareWithOtherPartners }"
            ),
            {"profileId": profile_id, "input": inquiry(**consent), "key": unique("k")},
        )
        assert data["submitInquiry"]["errors"] == []
        lead = data["submitInquiry"]["lead"]
        row = await session.get(models.Lead, uuid.UUID(lead["id"]))
        assert row is not None
        answers.append((lead["customer"]["consentToShareWithOtherPartners"], row.consent_to_share))
    assert answers == [(False, False), (True, True)]


async def test_a_declined_or_expired_contact_is_hidden_after_the_setting_on_both_paths(
    gql: GraphQLClient, session: AsyncSession, settings: Settings
) -> None:
    assert settings.contact_hidden_after_days == 30
    partner = await make_partner(session)
    shown_declined = await _archived(session, partner, "DECLINED", 29, contact_name="Recent Ana")
    hidden_declined = await _archived(
        session, partner, "DECLINED", 31, contact_name="Old Ana", crm_id=unique("crm")
    )
    hidden_expired = await _archived(session, partner, "EXPIRED", 45, contact_name="Old Bo")
    won = await _archived(
        session,
        partner,
        "WON",
        400,
        contact_name="Won Cy",
        deal_name="Deal",
        responded_at=datetime.now(UTC) - timedelta(days=500),
    )
    admin = gql.as_user(partner.referrals_admin)

    nodes = {n["id"]: n for n in (await admin.data(LEADS))["leads"]["nodes"]}
    for lead in (shown_declined, won):
        customer = nodes[str(lead.id)]["customer"]
        assert customer["contactHidden"] is False
        assert (customer["contactName"], customer["contactEmail"], customer["contactPhone"]) == (
            lead.contact_name,
            "ana@adatum.example",
            "+1 555 0100",
        )
        assert nodes[str(lead.id)]["sender"]["name"] == lead.contact_name
    for lead in (hidden_declined, hidden_expired):
        node = nodes[str(lead.id)]
        assert node["customer"] == {
            "companyName": "Adatum Corp",
            "country": "US",
            "contactName": None,
            "contactEmail": None,
            "contactPhone": None,
            "need": "Cloud migration",
            "consentToShareWithOtherPartners": False,
            "contactHidden": True,
            "personalDataRedactedAt": None,
        }
        assert node["sender"] == {
            "kind": "CUSTOMER",
            "name": None,
            "organisationName": "Adatum Corp",
        }
    # One lead alone is answered by the compiled path too, and agrees.
    response = await admin.raw(LEAD, {"id": str(hidden_expired.id)})
    assert response.headers.get("x-execution-path") == "compiled"
    assert response.json()["data"]["lead"]["customer"]["contactHidden"] is True

    # Integrations' other reads (the CRM id look-up, the change feed) build the same Lead.
    by_crm_id = await admin.data(
        "query($c: String!) { leadByCrmId(crmId: $c) { customer { contactEmail contactHidden } } }",
        {"c": hidden_declined.crm_id},
    )
    assert by_crm_id["leadByCrmId"]["customer"] == {"contactEmail": None, "contactHidden": True}


async def test_a_shorter_setting_hides_sooner(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    """The hiding is worked out when read, from the setting: no job runs for it."""
    from app.main import create_app
    from tests.graphql_client import asgi_client

    partner = await make_partner(session)
    lead = await _archived(session, partner, "DECLINED", 3)
    for days, hidden in ((30, False), (2, True)):
        for compiled in (True, False):
            app = create_app(
                settings.model_copy(
                    update={"contact_hidden_after_days": days, "compiled_reads": compiled}
                ),
                sessionmaker=sessionmaker,
            )
            async with asgi_client(app) as http:
                client = GraphQLClient(http, settings).as_user(partner.referrals_admin)
                body = await client(LEAD, {"id": str(lead.id)})
            customer = body["data"]["lead"]["customer"]
            assert (customer["contactHidden"], customer["contactEmail"] is None) == (hidden, hidden)


async def test_a_word_search_never_finds_a_hidden_contacts_words(
    gql: GraphQLClient, session: AsyncSession
) -> None:
    """A lead whose contact is hidden is found by its other words (company, need, …), never by
    its contact's name or e-mail: else a search would tell whom the hidden contact was."""
    partner = await make_partner(session)
    name = unique("Zebulon").replace("-", "")
    hidden = await _archived(
        session,
        partner,
        "DECLINED",
        31,
        contact_name=f"{name} Hidden",
        contact_email=f"{name.lower()}@quokka.example",
        company_name="Quokka Hidden Ltd",
    )
    recent = await _archived(session, partner, "EXPIRED", 2, contact_name=f"{name} Recent")
    open_lead = await make_lead(
        session, organisation_id=partner.organisation_id, contact_name=f"{name} Open"
    )
    search = """query($q: String!) { leads(tab: MARKETPLACE, filter: {search: $q}, first: 20) {
      totalCount nodes { id customer { contactHidden } } } }"""
    admin = gql.as_user(partner.referrals_admin)

    async def found(words: str) -> set[str]:
        page = (await admin.data(search, {"q": words}))["leads"]
        assert page["totalCount"] == len(page["nodes"])
        return {node["id"] for node in page["nodes"]}

    assert await found(name) == {str(recent.id), str(open_lead.id)}
    assert await found(f"{name} hidden") == set()
    assert await found(f"{name.lower()}@quokka.example") == set()
    assert await found("quokka") == {str(hidden.id)}
    assert await found("quokka migration") == {str(hidden.id)}  # need: "Cloud migration"


# --- subject-access and erasure ----------------------------------------------------------


async def _customer_at_two_partners(
    session: AsyncSession, address: str
) -> tuple[models.Lead, models.Lead, models.Lead]:
    one, two = await make_partner(session), await make_partner(session)
    open_lead = await make_lead(
        session,
        organisation_id=one.organisation_id,
        contact_email=address,
        contact_name="Erin Example",
        need="Erin's own words about her shop",
    )
    accepted = await make_lead(
        session,
        organisation_id=two.organisation_id,
        stage=LeadStage.ACCEPTED,
        contact_email=address.upper(),
        contact_name="Erin Example",
        notes="Erin prefers calls after 5pm",
    )
    other = await make_lead(
        session, organisation_id=two.organisation_id, contact_email=email("someone")
    )
    return open_lead, accepted, other


async def test_only_platform_admins_export_or_erase_and_bad_emails_are_typed(
    gql: GraphQLClient, world: World
) -> None:
    address = email("erin")
    for user, code in (
        (None, "UNAUTHENTICATED"),
        (world.contoso.partner_admin, "FORBIDDEN"),
        (world.seller, "FORBIDDEN"),
    ):
        client = gql.as_user(user)
        body = await client(EXPORT, {"email": address})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == code
        erased = (await client.data(ERASE, {"email": address}))["eraseCustomerData"]
        assert erased["erasure"] is None and erased["errors"][0]["code"] == code
    admin = gql.as_user(world.platform_admin)
    erased = (await admin.data(ERASE, {"email": "not an e-mail"}))["eraseCustomerData"]
    assert erased["errors"][0]["code"] == "VALIDATION"
    assert erased["errors"][0]["field"] == ["input", "email"]
    body = await admin(EXPORT, {"email": ""})
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["email"]}


async def test_a_platform_admin_exports_then_erases_one_customer_across_partners(
    gql: GraphQLClient,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    address = email("erin")
    open_lead, accepted, other = await _customer_at_two_partners(session, address)
    admin = gql.as_user(world.platform_admin)

    # Both paths answer queries alike (strawberry here); once, so that one request is recorded.
    exported = (await admin.alone().data(EXPORT, {"email": address}))["customerDataExport"]
    assert (exported["leadCount"], exported["organisationCount"]) == (2, 2)
    by_id = {lead["id"]: lead for lead in exported["leads"]}
    assert set(by_id) == {str(open_lead.id), str(accepted.id)}
    assert by_id[str(open_lead.id)]["customer"]["need"] == "Erin's own words about her shop"
    assert by_id[str(accepted.id)]["deal"]["notes"] == "Erin prefers calls after 5pm"
    assert by_id[str(accepted.id)]["organisationId"] == str(accepted.organisation_id)

    erased = (await admin.data(ERASE, {"email": address.upper()}))["eraseCustomerData"]
    assert erased["errors"] == []
    assert (erased["erasure"]["leadCount"], erased["erasure"]["organisationCount"]) == (2, 2)

    for lead in (open_lead, accepted):
        await session.refresh(lead)
        assert (lead.contact_name, lead.contact_email, lead.need, lead.notes) == ("", "", "", None)
        assert lead.pii_redacted_at is not None
        entry = await session.scalar(
            select(models.LeadHistory).where(
                models.LeadHistory.lead_id == lead.id, models.LeadHistory.action == "REDACT"
            )
        )
        assert entry is not None
        assert (entry.actor_kind, entry.actor_user_id) == ("USER", world.platform_admin)
        assert entry.changes["reason"] == "erasure"
    # An open lead stays open, with its deal, and nobody to contact.
    assert (open_lead.stage, accepted.stage, accepted.deal_name) == (
        "RECEIVED",
        "ACCEPTED",
        "Adatum migration",
    )
    await session.refresh(other)
    assert other.pii_redacted_at is None and other.contact_name == "Ana Silva"

    # The partner sees why the contact is gone, on both paths.
    owner = await session.scalar(
        select(models.User.id).where(
            models.User.organisation_id == accepted.organisation_id,
            literal("REFERRALS_ADMIN") == any_(models.User.roles),
        )
    )
    lead = (await gql.as_user(owner).data(LEAD, {"id": str(accepted.id)}))["lead"]
    assert lead["customer"]["contactHidden"] is True
    assert lead["customer"]["contactEmail"] is None and lead["customer"]["need"] is None
    assert lead["customer"]["personalDataRedactedAt"] is not None

    # Asked again: nothing holds the e-mail any more.
    again = (await admin.data(ERASE, {"email": address}))["eraseCustomerData"]
    assert again["erasure"]["leadCount"] == 0
    exported = await admin.alone().data(EXPORT, {"email": address})
    assert exported["customerDataExport"]["leads"] == []

    # Recorded: who, what, how many; the e-mail only as its hash.
    requests = (
        await session.scalars(
            select(models.PrivacyRequest)
            .where(models.PrivacyRequest.email_hash == email_hash(address))
            .order_by(models.PrivacyRequest.created_at, models.PrivacyRequest.kind)
        )
    ).all()
    assert sorted((r.kind, r.leads_count) for r in requests) == [
        ("ERASURE", 0),
        ("ERASURE", 2),
        ("EXPORT", 0),
        ("EXPORT", 2),
    ]
    assert all(r.requested_by == world.platform_admin for r in requests)
    stored = await session.scalar(text("SELECT string_agg(email_hash, ',') FROM privacy_requests"))
    assert address.split("@")[0] not in (stored or "")

    # Behind the wall, the record is the platform admins' alone.
    for user, visible in ((world.contoso.partner_admin, 0), (world.platform_admin, 4)):
        async with sessionmaker() as as_app:
            await as_app.execute(text("SELECT id FROM partner_leads_actor(:u)"), {"u": user})
            count = await as_app.scalar(
                text("SELECT count(*) FROM privacy_requests WHERE email_hash = :h"),
                {"h": email_hash(address)},
            )
            assert count == visible
            found = await as_app.scalar(
                text("SELECT count(*) FROM partner_leads_customer_leads(:e)"),
                {"e": other.contact_email},
            )
            assert found == (1 if visible else 0)
