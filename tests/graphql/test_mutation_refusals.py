"""Mutations refused with a code: unknown, forbidden, anonymous, stale, wrong stage, other
tenants. Nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadStage
from tests.factories import World, make_lead, make_partner
from tests.graphql import lead_documents as docs
from tests.graphql_client import GraphQLClient

# --- NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, CONFLICT, INVALID_TRANSITION --------------------


@pytest.mark.parametrize(
    ("caller", "unknown_id", "code", "field"),
    [
        pytest.param("referrals_admin", True, "NOT_FOUND", ["input", "id"], id="unknown-lead"),
        # a user of the same partner without a referrals role
        pytest.param("member", False, "FORBIDDEN", None, id="forbidden-member"),
        pytest.param(None, False, "UNAUTHENTICATED", None, id="anonymous"),
    ],
)
@pytest.mark.parametrize("name", docs.MUTATIONS)
async def test_caller_or_lead_refused(
    gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    name: str,
    caller: str | None,
    unknown_id: bool,
    code: str,
    field: list[str] | None,
) -> None:
    client = gql.as_user(getattr(world.contoso, caller)) if caller else gql
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name)
    if unknown_id:
        input = {**input, "id": str(uuid.uuid4())}
    await docs.refused_with(client, session, name, input, [lead.id], code, field)


@pytest.mark.parametrize("name", docs.LIFECYCLE)
async def test_stale_expected_version_is_a_conflict(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    admin = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name)
    lead.version = 3
    await session.flush()
    stale = {**input, "expectedVersion": 2}
    await docs.refused_with(
        admin, session, name, stale, [lead.id], "CONFLICT", ["input", "expectedVersion"]
    )


@pytest.mark.parametrize("name", docs.LIFECYCLE)
async def test_wrong_stage_is_an_invalid_transition(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    """acceptLead/declineLead on an ACCEPTED lead; the others on a RECEIVED lead."""
    admin = gql.as_user(world.contoso.referrals_admin)
    stage = docs.WRONG_STAGE[name]
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name, stage=stage)
    await docs.refused_with(admin, session, name, input, [lead.id], "INVALID_TRANSITION", None)


@pytest.mark.parametrize("outcome", ["WON", "LOST", "DECLINED", "EXPIRED"])
@pytest.mark.parametrize("name", docs.LIFECYCLE)
async def test_nothing_moves_an_archived_lead(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str, outcome: str
) -> None:
    admin = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(
        session, world.contoso.organisation_id, name, stage=LeadStage.ARCHIVED, outcome=outcome
    )
    errors = await docs.refused_with(
        admin, session, name, input, [lead.id], "INVALID_TRANSITION", None
    )
    assert outcome in errors[0]["message"]


async def test_accepting_twice_is_an_invalid_transition(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, "acceptLead")
    await client.data(docs.mutation_document("acceptLead"), {"input": input})
    await docs.refused_with(
        client, session, "acceptLead", input, [lead.id], "INVALID_TRANSITION", None
    )


# --- Team members that are not on the lead ------------------------------------------------

REMOVE = "removeLeadTeamMember"


async def _member_not_found(
    client: GraphQLClient,
    session: AsyncSession,
    input: dict[str, Any],
    member_id: str,
    lead_ids: list[uuid.UUID],
) -> None:
    """Removing `member_id` is NOT_FOUND at its input path, and writes nothing."""
    remove = {**input, "memberId": member_id}
    await docs.refused_with(
        client, session, REMOVE, remove, lead_ids, "NOT_FOUND", ["input", "memberId"]
    )


async def test_removing_a_member_of_another_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, REMOVE)
    other = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )
    foreign = await docs.add_member(session, other.id, name="Not Yours")

    await _member_not_found(admin, session, input, str(foreign.id), [lead.id, other.id])
    assert [m[0] for m in await docs.team_rows(session, other.id)] == [foreign.id]


async def test_removing_a_member_of_another_partners_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, REMOVE)
    theirs, their_input = await docs.prepare(session, world.fabrikam.organisation_id, REMOVE)
    await _member_not_found(admin, session, input, their_input["memberId"], [lead.id, theirs.id])


async def test_removing_an_unknown_member_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, REMOVE)
    await _member_not_found(admin, session, input, str(uuid.uuid4()), [lead.id])


async def test_removing_the_same_member_twice(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, REMOVE)
    await client.data(docs.mutation_document(REMOVE), {"input": input})
    await _member_not_found(client, session, input, input["memberId"], [lead.id])


async def test_a_lead_has_at_most_fifty_team_members(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )
    for i in range(50):
        await docs.add_member(session, lead.id, name=f"Member {i}", email=None)
    before = await docs.capture(session, lead.id)
    errors = await docs.refuse(
        gql.as_user(world.contoso.referrals_admin),
        "addLeadTeamMember",
        {"id": str(lead.id), "name": "One too many"},
    )
    assert [e["code"] for e in errors] == ["VALIDATION"]
    assert errors[0]["field"] and errors[0]["field"][0] == "input"
    await docs.assert_nothing_written(session, before)


# --- Other tenants -------------------------------------------------------------------------

INTRUDERS = [
    "fabrikam.referrals_admin",
    "fabrikam.partner_admin",
    "northwind.referrals_admin",
    "seller",
    "marketer",
    "platform_admin",
]


def _intruder(world: World, who: str) -> uuid.UUID:
    partner, _, role = who.rpartition(".")
    holder: Any = getattr(world, partner) if partner else world
    user_id: uuid.UUID = getattr(holder, role)
    return user_id


@pytest.mark.parametrize("who", INTRUDERS)
@pytest.mark.parametrize("name", docs.MUTATIONS)
async def test_another_tenants_lead_does_not_exist(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str, who: str
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name)
    intruder = gql.as_user(_intruder(world, who))

    await docs.refused_with(intruder, session, name, input, [lead.id], "NOT_FOUND", ["input", "id"])
    if name in docs.LIFECYCLE:
        # A stale version must not reveal that the lead exists either.
        stale = {**input, "expectedVersion": 99}
        await docs.refused_with(
            intruder, session, name, stale, [lead.id], "NOT_FOUND", ["input", "id"]
        )
    assert await docs.read_lead(intruder, lead.id) is None
    still = await docs.read_lead(gql.as_user(world.contoso.referrals_admin), lead.id)
    assert still is not None and still["version"] == 1


async def test_a_new_partner_cannot_touch_the_demo_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    newcomer = gql.as_user((await make_partner(session)).partner_admin)
    lead, input = await docs.prepare(session, world.contoso.organisation_id, "acceptLead")
    await docs.refused_with(
        newcomer, session, "acceptLead", input, [lead.id], "NOT_FOUND", ["input", "id"]
    )
