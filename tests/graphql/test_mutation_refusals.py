"""Mutations refused with a code: unknown, forbidden, anonymous, stale, wrong stage, other
tenants. Nothing is written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadStage
from tests.factories import World, make_lead, make_partner
from tests.graphql.lead_documents import (
    LIFECYCLE,
    MUTATIONS,
    WRONG_STAGE,
    add_member,
    assert_nothing_written,
    capture,
    mutation_document,
    prepare,
    read_lead,
    refuse,
    team_rows,
)
from tests.graphql_client import GraphQLClient


async def _refused_with(
    client: GraphQLClient,
    session: AsyncSession,
    name: str,
    input: dict[str, Any],
    lead_ids: list[uuid.UUID],
    code: str,
    field: list[str] | None,
) -> list[dict[str, Any]]:
    """`name` is refused with exactly one error (`code`, `field`) and writes nothing."""
    before = await capture(session, *lead_ids)
    errors = await refuse(client, name, input)
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert all(e["message"] for e in errors)
    await assert_nothing_written(session, before)
    return errors


# --- NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, CONFLICT, INVALID_TRANSITION --------------------


@pytest.mark.parametrize("name", MUTATIONS)
async def test_unknown_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        name,
        {**input, "id": str(uuid.uuid4())},
        [lead.id],
        "NOT_FOUND",
        ["input", "id"],
    )


@pytest.mark.parametrize("name", MUTATIONS)
async def test_same_partner_user_without_a_referrals_role_is_forbidden(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(
        gql.as_user(world.contoso.member), session, name, input, [lead.id], "FORBIDDEN", None
    )


@pytest.mark.parametrize("name", MUTATIONS)
async def test_anonymous_caller_is_unauthenticated(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(gql, session, name, input, [lead.id], "UNAUTHENTICATED", None)


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_stale_expected_version_is_a_conflict(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    lead.version = 3
    await session.flush()
    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        name,
        {**input, "expectedVersion": 2},
        [lead.id],
        "CONFLICT",
        ["input", "expectedVersion"],
    )


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_wrong_stage_is_an_invalid_transition(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    """acceptLead/declineLead on an ACCEPTED lead; the others on a RECEIVED lead."""
    lead, input = await prepare(
        session, world.contoso.organisation_id, name, stage=WRONG_STAGE[name]
    )
    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        name,
        input,
        [lead.id],
        "INVALID_TRANSITION",
        None,
    )


@pytest.mark.parametrize("outcome", ["WON", "LOST", "DECLINED", "EXPIRED"])
@pytest.mark.parametrize("name", LIFECYCLE)
async def test_nothing_moves_an_archived_lead(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str, outcome: str
) -> None:
    lead, input = await prepare(
        session, world.contoso.organisation_id, name, stage=LeadStage.ARCHIVED, outcome=outcome
    )
    errors = await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        name,
        input,
        [lead.id],
        "INVALID_TRANSITION",
        None,
    )
    assert outcome in errors[0]["message"]


async def test_accepting_twice_is_an_invalid_transition(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    await client.data(mutation_document("acceptLead"), {"input": input})
    await _refused_with(client, session, "acceptLead", input, [lead.id], "INVALID_TRANSITION", None)


# --- Team members that are not on the lead ------------------------------------------------


async def test_removing_a_member_of_another_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    other = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )
    foreign = await add_member(session, other.id, name="Not Yours")

    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        "removeLeadTeamMember",
        {**input, "memberId": str(foreign.id)},
        [lead.id, other.id],
        "NOT_FOUND",
        ["input", "memberId"],
    )
    assert [m[0] for m in await team_rows(session, other.id)] == [foreign.id]


async def test_removing_a_member_of_another_partners_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    theirs, their_input = await prepare(
        session, world.fabrikam.organisation_id, "removeLeadTeamMember"
    )
    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        "removeLeadTeamMember",
        {**input, "memberId": their_input["memberId"]},
        [lead.id, theirs.id],
        "NOT_FOUND",
        ["input", "memberId"],
    )


async def test_removing_an_unknown_member_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    await _refused_with(
        gql.as_user(world.contoso.referrals_admin),
        session,
        "removeLeadTeamMember",
        {**input, "memberId": str(uuid.uuid4())},
        [lead.id],
        "NOT_FOUND",
        ["input", "memberId"],
    )


async def test_removing_the_same_member_twice(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    await client.data(mutation_document("removeLeadTeamMember"), {"input": input})
    await _refused_with(
        client,
        session,
        "removeLeadTeamMember",
        input,
        [lead.id],
        "NOT_FOUND",
        ["input", "memberId"],
    )


async def test_a_lead_has_at_most_fifty_team_members(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )
    for i in range(50):
        await add_member(session, lead.id, name=f"Member {i}", email=None)
    before = await capture(session, lead.id)
    errors = await refuse(
        gql.as_user(world.contoso.referrals_admin),
        "addLeadTeamMember",
        {"id": str(lead.id), "name": "One too many"},
    )
    assert [e["code"] for e in errors] == ["VALIDATION"]
    assert errors[0]["field"] and errors[0]["field"][0] == "input"
    await assert_nothing_written(session, before)


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
@pytest.mark.parametrize("name", MUTATIONS)
async def test_another_tenants_lead_does_not_exist(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str, who: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    intruder = gql.as_user(_intruder(world, who))

    await _refused_with(intruder, session, name, input, [lead.id], "NOT_FOUND", ["input", "id"])
    if name in LIFECYCLE:
        # A stale version must not reveal that the lead exists either.
        await _refused_with(
            intruder,
            session,
            name,
            {**input, "expectedVersion": 99},
            [lead.id],
            "NOT_FOUND",
            ["input", "id"],
        )
    assert await read_lead(intruder, lead.id) is None
    still = await read_lead(gql.as_user(world.contoso.referrals_admin), lead.id)
    assert still is not None and still["version"] == 1


async def test_a_new_partner_cannot_touch_the_demo_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    newcomer = await make_partner(session)
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    await _refused_with(
        gql.as_user(newcomer.partner_admin),
        session,
        "acceptLead",
        input,
        [lead.id],
        "NOT_FOUND",
        ["input", "id"],
    )
