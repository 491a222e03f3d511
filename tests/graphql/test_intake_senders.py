"""Leads sent to partners over GraphQL (R4): platform staff's qualified leads, partners'
referrals, who may send them, and what a sender sees of what it sent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead
from app.domain.reference import DeclineReason
from app.domain.roles import Role
from app.services import intake
from app.services.leads import decline_lead
from tests.factories import World, make_partner, unique
from tests.intake_inputs import (
    REFER,
    SEND,
    Runner,
    actor,
    lead_row,
    new_platform_user,
    outbox_topics,
    profile_of,
    qualified,
    qualified_data,
    refusals,
    writes_nothing,
    written,
)

SENT = """
query($first: Int, $after: String) {
  sentLeads(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id type stage outcome customer { companyName } } }
  }
}"""


@pytest.fixture
def run(gql: Any) -> Runner:
    """`await run(document, variables, user=...)` -> the response data, over HTTP."""

    async def run(
        document: str, variables: dict[str, Any], *, user: uuid.UUID | None = None
    ) -> dict[str, Any]:
        data: dict[str, Any] = await gql.as_user(user).data(document, variables)
        return data

    return run


async def test_marketer_sends_a_marketing_qualified_lead_with_a_campaign(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    missing = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.marketer)
    assert refusals(missing, "sendQualifiedLead") == [("VALIDATION", ["input", "campaignId"])]

    data = await run(
        SEND,
        {"profileId": profile_id, "input": qualified(campaignId="CAMP-7", autoReroute=True)},
        user=world.marketer,
    )

    payload = data["sendQualifiedLead"]
    assert payload["errors"] == []
    assert payload["lead"]["type"] == "MARKETING_QUALIFIED"
    # The sender sees the lead's state, not the partner's deal data (campaign id included).
    assert payload["lead"]["deal"] is None
    assert payload["lead"]["sender"]["kind"] == "PLATFORM"
    row = await lead_row(session, payload["lead"]["id"])
    marketer = await actor(session, world.marketer)
    assert (row.sender_user_id, row.sender_organisation_id) == (
        world.marketer,
        marketer.organisation_id,
    )
    assert row.organisation_id == world.fabrikam.organisation_id
    assert (row.solution_area, row.auto_reroute) == ("Infrastructure", True)
    assert await outbox_topics(session, row.id) == ["lead.received", "notify.new_lead"]


async def test_seller_sends_a_sales_qualified_lead_idempotently(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.northwind.organisation_id)
    key = unique("key")
    variables = {"profileId": profile_id, "input": qualified(), "key": key}

    first = await run(SEND, variables, user=world.seller)
    after_first = await written(session)
    second = await run(SEND, variables, user=world.seller)

    lead = first["sendQualifiedLead"]["lead"]
    assert lead["type"] == "SALES_QUALIFIED"
    assert lead["sender"]["kind"] == "PLATFORM"
    assert second["sendQualifiedLead"]["lead"]["id"] == lead["id"]
    assert await written(session) == after_first
    row = await lead_row(session, lead["id"])
    assert row.sender_user_id == world.seller

    changed = await run(SEND, {**variables, "input": qualified(need="Other")}, user=world.seller)
    assert refusals(changed, "sendQualifiedLead") == [("CONFLICT", ["idempotencyKey"])]
    # Without a key every call is a new lead.
    a = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.seller)
    b = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.seller)
    assert a["sendQualifiedLead"]["lead"]["id"] != b["sendQualifiedLead"]["lead"]["id"]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("partner_admin", "FORBIDDEN"),
        ("referrals_admin", "FORBIDDEN"),
        ("member", "FORBIDDEN"),
        ("platform_admin", "FORBIDDEN"),
    ],
)
async def test_only_marketers_and_sellers_send_qualified_leads(
    run: Any, session: AsyncSession, world: World, who: str, code: str
) -> None:
    users = {
        "anonymous": None,
        "partner_admin": world.contoso.partner_admin,
        "referrals_admin": world.contoso.referrals_admin,
        "member": world.contoso.member,
        "platform_admin": world.platform_admin,
    }
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    async with writes_nothing(session):
        data = await run(
            SEND, {"profileId": profile_id, "input": qualified(campaignId="C")}, user=users[who]
        )
        assert data["sendQualifiedLead"]["lead"] is None
        assert [e["code"] for e in data["sendQualifiedLead"]["errors"]] == [code]


async def test_partner_refers_a_lead_to_another_partner(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    data = await run(
        REFER, {"profileId": profile_id, "input": qualified()}, user=world.contoso.referrals_admin
    )

    payload = data["referLead"]
    assert payload["errors"] == []
    assert payload["lead"]["type"] == "SALES_QUALIFIED"
    assert payload["lead"]["sender"]["kind"] == "PARTNER"
    row = await lead_row(session, payload["lead"]["id"])
    assert row.organisation_id == world.fabrikam.organisation_id
    assert row.sender_user_id == world.contoso.referrals_admin
    assert row.sender_organisation_id == world.contoso.organisation_id
    assert await outbox_topics(session, row.id) == ["lead.received", "notify.new_lead"]


async def test_referral_refusals(run: Any, session: AsyncSession, world: World) -> None:
    own = await profile_of(session, world.contoso.organisation_id)
    other = await profile_of(session, world.fabrikam.organisation_id)
    async with writes_nothing(session):
        cases = [
            (own, world.contoso.partner_admin, "VALIDATION", ["profileId"]),
            (other, world.contoso.member, "FORBIDDEN", None),
            (other, world.seller, "FORBIDDEN", None),
            (other, None, "UNAUTHENTICATED", None),
            (str(uuid.uuid4()), world.contoso.partner_admin, "NOT_FOUND", ["profileId"]),
        ]
        for profile_id, user, code, field in cases:
            data = await run(REFER, {"profileId": profile_id, "input": qualified()}, user=user)
            assert refusals(data, "referLead") == [(code, field)]


# --- what a sender sent --------------------------------------------------------------------


async def test_seller_lists_sent_leads_newest_first_with_stage_and_outcome(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    seller_id = await new_platform_user(session, world, Role.SELLER)
    seller = await actor(session, seller_id)
    profile_id = await profile_of(session, world.contoso.organisation_id)
    base = datetime.now(UTC) - timedelta(hours=3)
    sent = []
    for n in range(3):
        lead = await intake.send_lead(
            session,
            seller,
            intake.PLATFORM_STAFF,
            profile_id=profile_id,
            data=qualified_data(company={"name": f"Customer {n}"}),
            now=base + timedelta(hours=n),
            settings=settings,
        )
        assert isinstance(lead, Lead)
        sent.append(lead)
    declined = await decline_lead(
        session,
        await actor(session, world.contoso.partner_admin),
        str(sent[0].id),
        DeclineReason.NO_CAPACITY,
        None,
        now=datetime.now(UTC),
    )
    assert isinstance(declined, Lead)

    page1 = (await run(SENT, {"first": 2}, user=seller_id))["sentLeads"]
    page2 = (
        await run(SENT, {"first": 2, "after": page1["pageInfo"]["endCursor"]}, user=seller_id)
    )["sentLeads"]

    assert page1["totalCount"] == 3
    assert [e["node"]["customer"]["companyName"] for e in page1["edges"]] == [
        "Customer 2",
        "Customer 1",
    ]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert [
        (e["node"]["id"], e["node"]["stage"], e["node"]["outcome"]) for e in page2["edges"]
    ] == [(str(sent[0].id), "ARCHIVED", "DECLINED")]
    assert page2["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": page2["edges"][0]["cursor"],
    }
    assert {e["node"]["stage"] for e in page1["edges"]} == {"RECEIVED"}


async def test_referring_partner_lists_what_it_referred_and_nobody_else_does(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    partner = await make_partner(session)
    admin = await actor(session, partner.partner_admin)
    lead = await intake.send_lead(
        session,
        admin,
        intake.REFERRAL,
        profile_id=await profile_of(session, world.northwind.organisation_id),
        data=qualified_data(),
        now=datetime.now(UTC),
        settings=settings,
    )
    assert isinstance(lead, Lead)

    mine = (await run(SENT, {}, user=partner.partner_admin))["sentLeads"]
    assert [(e["node"]["id"], e["node"]["type"], e["node"]["stage"]) for e in mine["edges"]] == [
        (str(lead.id), "SALES_QUALIFIED", "RECEIVED")
    ]
    for user in (partner.referrals_admin, partner.member, None):
        other = (await run(SENT, {}, user=user))["sentLeads"]
        assert other["edges"] == [] and other["totalCount"] == 0
    # The receiving partner's admin does not see it as sent (they may have sent others).
    receiver = (await run(SENT, {"first": 100}, user=world.northwind.partner_admin))["sentLeads"]
    assert str(lead.id) not in {e["node"]["id"] for e in receiver["edges"]}
