"""The team's list filters (issue 11 §3): country, industry, company size, sender organisation,
campaign, due within N hours, on both execution paths (`gql` compares them), and typed errors
for bad values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage
from tests.factories import World, WorldPartner, make_lead
from tests.graphql.inbox_support import only_error
from tests.graphql_client import GraphQLClient

FILTERED = """
query Filtered($filter: LeadFilter) {
  leads(tab: MARKETPLACE, filter: $filter, first: 100) {
    nodes { id }
    totalCount
  }
}"""


async def ids(client: GraphQLClient, **filter: Any) -> set[str]:
    data = await client.data(FILTERED, {"filter": filter})
    assert data["leads"]["totalCount"] == len(data["leads"]["nodes"])
    return {n["id"] for n in data["leads"]["nodes"]}


async def test_country_industry_size_sender_and_campaign_match_exactly(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, world: World
) -> None:
    org = partner.organisation_id
    sender = world.contoso.organisation_id
    br = await make_lead(
        session,
        organisation_id=org,
        country="BR",
        industry="Retail",
        company_size="SIZE_1_9",
        sender_organisation_id=sender,
        campaign_id="spring-26",
    )
    us = await make_lead(
        session, organisation_id=org, country="US", industry="Banking", campaign_id="fall-26"
    )
    pt = await make_lead(session, organisation_id=org, country="PT", industry="Retail sales")
    # Another organisation's lead matching everything stays out.
    await make_lead(session, organisation_id=sender, country="BR", campaign_id="spring-26")
    compiled = admin.differential.compiled if admin.differential else 0

    assert await ids(admin, countries=["BR"]) == {str(br.id)}
    assert await ids(admin, countries=["BR", "PT"]) == {str(br.id), str(pt.id)}
    assert await ids(admin, industries=["Retail"]) == {str(br.id)}  # exact, not a prefix
    assert await ids(admin, industries=["Banking", "Retail sales"]) == {str(us.id), str(pt.id)}
    assert await ids(admin, companySizes=["SIZE_1_9"]) == {str(br.id)}
    assert await ids(admin, companySizes=["SIZE_51_250"]) == {str(us.id), str(pt.id)}
    assert await ids(admin, senderOrganisationIds=[str(sender)]) == {str(br.id)}
    assert await ids(admin, campaignIds=["spring-26", "fall-26"]) == {str(br.id), str(us.id)}
    assert await ids(admin, countries=["BR"], campaignIds=["fall-26"]) == set()
    assert await ids(admin, countries=[]) == set()
    assert admin.differential is not None and admin.differential.compiled > compiled


async def test_due_within_hours_lists_received_leads_due_soon(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    now = datetime.now(UTC)
    # respond_by = received_at + 14 days: received 14 days minus 3 hours ago is due in 3 hours.
    soon = await make_lead(
        session, organisation_id=org, received_at=now - timedelta(days=14, hours=-3)
    )
    later = await make_lead(session, organisation_id=org, received_at=now - timedelta(days=13))
    await make_lead(
        session,
        organisation_id=org,
        stage=LeadStage.ACCEPTED,
        received_at=now - timedelta(days=14, hours=-2),
    )
    # Past its deadline (the sweep expires it): no longer "due within".
    await make_lead(session, organisation_id=org, received_at=now - timedelta(days=14, hours=1))
    compiled = admin.differential.compiled if admin.differential else 0

    assert await ids(admin, dueWithinHours=4) == {str(soon.id)}
    assert await ids(admin, dueWithinHours=2) == set()
    assert await ids(admin, dueWithinHours=48) == {str(soon.id), str(later.id)}
    assert admin.differential is not None and admin.differential.compiled == compiled + 3


@pytest.mark.parametrize(
    ("filter", "field", "message"),
    [
        ({"countries": ["BR", "bra"]}, ["filter", "countries", "1"], "ISO 3166-1 alpha-2"),
        ({"countries": ["br"]}, ["filter", "countries", "0"], "ISO 3166-1 alpha-2"),
        ({"countries": ["US"] * 51}, ["filter", "countries"], "at most 50 values"),
        ({"industries": [""]}, ["filter", "industries", "0"], "1 to 100 characters"),
        ({"campaignIds": ["x" * 101]}, ["filter", "campaignIds", "0"], "1 to 100 characters"),
        (
            {"senderOrganisationIds": ["not-an-id"]},
            ["filter", "senderOrganisationIds", "0"],
            "is not an id",
        ),
        ({"dueWithinHours": 0}, ["filter", "dueWithinHours"], "1 to 720 hours"),
        ({"dueWithinHours": 721}, ["filter", "dueWithinHours"], "1 to 720 hours"),
    ],
)
async def test_bad_filter_values_are_typed_errors(
    admin: GraphQLClient, filter: dict[str, Any], field: list[str], message: str
) -> None:
    error = only_error(await admin(FILTERED, {"filter": filter}))
    assert error["extensions"] == {"code": "VALIDATION", "field": field}
    assert message in error["message"]


async def test_a_member_without_a_referrals_role_gets_no_leads_whatever_the_filter(
    session: AsyncSession, partner: WorldPartner, gql: GraphQLClient
) -> None:
    await make_lead(session, organisation_id=partner.organisation_id, country="BR")
    assert await ids(gql.as_user(partner.member), countries=["BR"]) == set()


SENT = """
query Sent($filter: SentLeadFilter) {
  sentLeads(filter: $filter, first: 100) { nodes { id } totalCount }
}"""


async def test_senders_narrow_sent_leads_by_the_leads_own_facts_on_both_paths(
    session: AsyncSession, world: World, gql: GraphQLClient
) -> None:
    seller_org = await session.scalar(
        select(models.User.organisation_id).where(models.User.id == world.seller)
    )

    async def sent(**fields: Any) -> models.Lead:
        return await make_lead(
            session,
            organisation_id=world.fabrikam.organisation_id,
            sender_user_id=world.seller,
            sender_organisation_id=seller_org,
            **fields,
        )

    # The world's seller sent leads already: these two carry campaigns of their own.
    both = ["test-spring", "test-fall"]
    br = await sent(country="BR", campaign_id="test-spring")
    us = await sent(
        country="US", industry="Banking", stage=LeadStage.ACCEPTED, campaign_id="test-fall"
    )
    # A lead someone else sent, matching everything, stays out.
    await make_lead(
        session,
        organisation_id=world.fabrikam.organisation_id,
        country="BR",
        campaign_id="test-spring",
    )
    seller = gql.as_user(world.seller)
    compiled = seller.differential.compiled if seller.differential else 0

    async def sent_ids(**filter: Any) -> set[str]:
        data = (await seller.data(SENT, {"filter": filter}))["sentLeads"]
        assert data["totalCount"] == len(data["nodes"])
        return {n["id"] for n in data["nodes"]}

    assert await sent_ids(campaignIds=both) == {str(br.id), str(us.id)}
    assert await sent_ids(campaignIds=both, countries=["BR"]) == {str(br.id)}
    assert await sent_ids(campaignIds=both, stages=["ACCEPTED"]) == {str(us.id)}
    assert await sent_ids(campaignIds=both, industries=["Banking"]) == {str(us.id)}
    assert seller.differential is not None and seller.differential.compiled == compiled + 4

    error = only_error(await seller(SENT, {"filter": {"countries": ["Brazil"]}}))
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "countries", "0"]}
    # The partner's own work is not a sender's to probe: no search, no CRM ids, no deadline.
    for field in ("search", "crmIds", "dueWithinHours"):
        assert "errors" in await seller(SENT, {"filter": {field: "x"}})
