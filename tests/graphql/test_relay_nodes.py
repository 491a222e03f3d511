"""Relay (issue 12 §3): `node(id)` and `nodes(ids)` refetch every type that has an id of its
own, under the same authorization as the type's own field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.domain.events import Channel, DeliveryStatus
from app.graphql.search import SEARCH_LIMIT
from app.ratelimit import RateLimiter
from tests.factories import WorldPartner, make_api_key, make_lead, make_partner, make_profile
from tests.graphql.in_process import execute_in_process
from tests.graphql.inbox_support import BASE
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import actor as actor_of

# --- node / nodes --------------------------------------------------------------------------

NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


@dataclass
class Objects:
    """One object of every Node type, all of one partner's, and who may see each."""

    partner: WorldPartner
    ids: dict[str, str] = field(default_factory=dict)
    # type -> the partner's user its own field shows it to, and one it does not show it to.
    seen_by: dict[str, uuid.UUID] = field(default_factory=dict)
    hidden_from: dict[str, uuid.UUID] = field(default_factory=dict)


async def make_objects(session: AsyncSession, settings: Settings, partner: WorldPartner) -> Objects:
    org = partner.organisation_id
    made = Objects(partner)
    manager, admin, member = partner.referrals_admin, partner.partner_admin, partner.member

    lead = await make_lead(session, organisation_id=org)
    made.ids["Lead"] = str(lead.id)
    made.seen_by["Lead"], made.hidden_from["Lead"] = manager, member

    note = models.Notification(user_id=manager, kind="NEW_LEAD", title="t", body="b")
    view = models.LeadView(
        organisation_id=org,
        user_id=manager,
        name="Mine",
        tab="MARKETPLACE",
        filter={},
        order_by="RECEIVED_AT_DESC",
        shared=False,
        updated_at=BASE,
    )
    activity = models.LeadActivity(
        lead_id=lead.id,
        organisation_id=org,
        author_user_id=manager,
        kind="NOTE",
        body="Called them",
        occurred_at=BASE,
    )
    rule = models.RoutingRule(
        organisation_id=org,
        position=1,
        industries=[],
        solution_areas=[],
        countries=[],
        owner_user_id=manager,
        user_ids=[],
    )
    endpoint = models.WebhookEndpoint(
        organisation_id=org, url="https://hooks.example.com/x", events=["lead.won"], secret="s"
    )
    event = models.OutboxMessage(
        topic="lead.won", lead_id=lead.id, organisation_id=org, payload={"eventId": "e"}
    )
    session.add_all([note, view, activity, rule, endpoint, event])
    await session.flush()
    delivery = models.Delivery(
        outbox_id=event.id,
        channel=Channel.WEBHOOK,
        recipient=str(endpoint.id),
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=BASE,
    )
    session.add(delivery)
    await session.flush()
    key, _ = await make_api_key(session, settings, organisation_id=org)
    profile = models.BusinessProfile(
        organisation_id=org, name="Partner page", published=True, website="https://p.example"
    )
    session.add(profile)
    await session.flush()

    for kind, row, seen, hidden in (
        ("Notification", note, manager, admin),
        ("LeadView", view, manager, admin),
        ("LeadActivity", activity, manager, member),
        ("RoutingRule", rule, manager, member),
        ("WebhookEndpoint", endpoint, admin, manager),
        ("WebhookDelivery", delivery, admin, manager),
        ("ApiKey", key, admin, manager),
        ("PublicProfile", profile, member, None),
    ):
        made.ids[kind] = str(row.id)
        made.seen_by[kind] = seen
        if hidden is not None:
            made.hidden_from[kind] = hidden
    return made


NODE_TYPES = [
    "Lead",
    "Notification",
    "LeadView",
    "LeadActivity",
    "RoutingRule",
    "WebhookEndpoint",
    "WebhookDelivery",
    "ApiKey",
    "PublicProfile",
]


@pytest.fixture
async def objects(session: AsyncSession, settings: Settings, partner: WorldPartner) -> Objects:
    return await make_objects(session, settings, partner)


async def _node(client: GraphQLClient, node_id: str) -> Any:
    return (await client.data(NODE, {"id": node_id}))["node"]


@pytest.mark.parametrize("kind", NODE_TYPES)
async def test_node_finds_each_type_for_whom_its_own_field_shows_it(
    session: AsyncSession, gql: GraphQLClient, objects: Objects, kind: str
) -> None:
    node_id = objects.ids[kind]
    found = await _node(gql.as_user(objects.seen_by[kind]), node_id)
    assert found == {"__typename": kind, "id": node_id}

    # Another partner's users, even its admins: not found at all (a published partner page
    # is everyone's).
    public = found if kind == "PublicProfile" else None
    other = await make_partner(session)
    for user in (other.partner_admin, other.referrals_admin, other.member):
        assert await _node(gql.as_user(user), node_id) == public
    # Colleagues the type's own field shows nothing to: null too.
    if kind in objects.hidden_from:
        assert await _node(gql.as_user(objects.hidden_from[kind]), node_id) is None
    # Anonymous callers see published partner pages only.
    assert await _node(gql, node_id) == public


async def test_node_shows_what_the_types_own_fields_show(
    gql: GraphQLClient, objects: Objects
) -> None:
    manager = gql.as_user(objects.partner.referrals_admin)
    lead_fields = "id stage allowedActions customer { companyName contactEmail } history { action }"
    lead_id = objects.ids["Lead"]
    by_node = await manager.data(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Lead {{ {lead_fields} }} }} }}",
        {"id": lead_id},
    )
    by_field = await manager.data(
        f"query($id: ID!) {{ lead(id: $id) {{ {lead_fields} }} }}", {"id": lead_id}
    )
    assert by_node["node"] == by_field["lead"]

    admin = gql.as_user(objects.partner.partner_admin)
    keys = await admin.data("query { apiKeys { id name prefix roles } }")
    by_node = await admin.data(
        "query($id: ID!) { node(id: $id) { ... on ApiKey { id name prefix roles } } }",
        {"id": objects.ids["ApiKey"]},
    )
    assert [by_node["node"]] == keys["apiKeys"]

    profile = await gql.data(
        "query($id: ID!) { profile(id: $id) { id name website responsivenessScore } }",
        {"id": objects.ids["PublicProfile"]},
    )
    by_node = await gql.data(
        "query($id: ID!) { node(id: $id) { ... on PublicProfile { id name website "
        "responsivenessScore } } }",
        {"id": objects.ids["PublicProfile"]},
    )
    assert by_node["node"] == profile["profile"]


async def test_unpublished_profiles_are_not_nodes(
    session: AsyncSession, gql: GraphQLClient, world: Any
) -> None:
    hidden = await make_profile(session, name="Draft", published=False)
    assert await _node(gql, str(hidden.id)) is None
    assert await _node(gql.as_user(world.contoso.partner_admin), str(hidden.id)) is None


@pytest.mark.parametrize(
    "node_id",
    ["", "nope", "12ab", "-1", "1" * 19, str(uuid.uuid4()), "0", "99999999", "Lead:1", " " * 3],
)
async def test_malformed_or_unknown_ids_are_null_not_errors(
    gql: GraphQLClient, partner: WorldPartner, node_id: str
) -> None:
    for client in (gql, gql.as_user(partner.referrals_admin)):
        body = await client(NODE, {"id": node_id})
        assert body == {"data": {"node": None}}


async def test_nodes_answers_in_the_order_asked_with_nulls(
    session: AsyncSession, gql: GraphQLClient, objects: Objects
) -> None:
    other = await make_partner(session)
    foreign = await make_lead(session, organisation_id=other.organisation_id)
    manager = gql.as_user(objects.partner.referrals_admin)
    ids = [
        objects.ids["LeadActivity"],
        "garbage",
        str(foreign.id),
        objects.ids["Lead"],
        objects.ids["ApiKey"],  # an admin's, not a lead manager's
        objects.ids["Lead"],
        objects.ids["PublicProfile"],
        objects.ids["Notification"],
    ]
    data = await manager.data(NODES, {"ids": ids})
    assert data["nodes"] == [
        {"__typename": "LeadActivity", "id": ids[0]},
        None,
        None,
        {"__typename": "Lead", "id": ids[3]},
        None,
        {"__typename": "Lead", "id": ids[3]},
        {"__typename": "PublicProfile", "id": ids[6]},
        {"__typename": "Notification", "id": ids[7]},
    ]
    assert (await manager.data(NODES, {"ids": []})) == {"nodes": []}


async def test_nodes_takes_at_most_100_ids(gql: GraphQLClient, partner: WorldPartner) -> None:
    manager = gql.as_user(partner.referrals_admin)
    assert len((await manager.data(NODES, {"ids": ["x"] * 100}))["nodes"]) == 100
    body = await manager(NODES, {"ids": ["x"] * 101})
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "VALIDATION", "field": ["ids"]}
    assert error["message"] == "must list at most 100 ids"


async def test_nodes_of_20_leads_costs_the_statements_of_2(
    session: AsyncSession, gql: GraphQLClient, partner: WorldPartner, count_queries: Any
) -> None:
    leads = [await make_lead(session, organisation_id=partner.organisation_id) for _ in range(20)]
    for lead in leads:
        session.add(models.LeadTeamMember(lead_id=lead.id, name="Member"))
    await session.flush()
    manager = gql.alone().as_user(partner.referrals_admin)
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Lead { stage team { name } } } }"
    statements: dict[int, list[str]] = {}
    for n in (2, 20):
        ids = [str(lead.id) for lead in leads[:n]]
        with count_queries() as counter:
            data = await manager.data(query, {"ids": ids})
        statements[n] = counter.statements
        assert [node["id"] for node in data["nodes"]] == ids
        assert all(node["team"] == [{"name": "Member"}] for node in data["nodes"])
    assert len(statements[2]) == len(statements[20]), statements
    # Pinned: the actor lookup, the tables of the ids (one UNION ALL), the leads, their teams.
    assert len(statements[20]) == 4, "\n\n".join(statements[20])
    assert "UNION ALL" in statements[20][1]


async def test_node_lookups_of_partner_pages_share_the_public_read_budget(
    session: AsyncSession, settings: Settings, sessionmaker: Any
) -> None:
    profile = await make_profile(session, name="Busy")
    limiter = RateLimiter(settings.redis_url)
    ip = f"node-test-{uuid.uuid4().hex[:8]}"

    async def codes(ids: list[str] | None = None, **context: Any) -> list[str]:
        result = await execute_in_process(
            settings,
            sessionmaker,
            NODES,
            {"ids": ids if ids is not None else [str(profile.id)] * 10},
            limiter=limiter,
            client_ip=ip,
            **context,
        )
        return [e.extensions["code"] for e in result.errors or []]

    try:
        # Ids that find no page show nothing and spend nothing.
        assert await codes([str(uuid.uuid4()) for _ in range(100)]) == []
        # Ten pages a call: the window's budget is spent after per_window / 10 calls.
        for _ in range(SEARCH_LIMIT.per_window // 10):
            assert await codes() == []
        assert await codes() == ["RATE_LIMITED"]
        # Signed in, from the same address: the pages it finds count against the same budget.
        member = (await make_partner(session)).member
        assert await codes(actor=await actor_of(session, member)) == ["RATE_LIMITED"]
    finally:
        await limiter.close()
