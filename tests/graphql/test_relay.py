"""Relay (issue 12 §3): backward paging with `last`/`before`, and `node`/`nodes` refetching
every type that has an id of its own, under the same authorization as its own field."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta
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
from tests.graphql.inbox_support import BASE, sid
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import actor as actor_of

# --- last / before -------------------------------------------------------------------------

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String) {
  leads(tab: MARKETPLACE, first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id }
  }
}
"""


async def _leads(session: AsyncSession, partner: WorldPartner, n: int) -> list[str]:
    """`n` leads, newest first (the inbox's default order), two of them tied on received_at."""
    org = partner.organisation_id
    made = [
        await make_lead(session, organisation_id=org, received_at=BASE + timedelta(hours=i // 2))
        for i in range(n)
    ]
    made.sort(key=lambda lead: (lead.received_at, lead.id), reverse=True)
    return [sid(lead) for lead in made]


async def _page(client: GraphQLClient, query: str = PAGE, **arguments: Any) -> dict[str, Any]:
    body = await client(query, arguments)
    assert "errors" not in body, body
    page: dict[str, Any] = next(iter(body["data"].values()))
    assert [e["node"]["id"] for e in page["edges"]] == [n["id"] for n in page["nodes"]]
    info = page["pageInfo"]
    cursors = [e["cursor"] for e in page["edges"]]
    assert info["startCursor"] == (cursors[0] if cursors else None)
    assert info["endCursor"] == (cursors[-1] if cursors else None)
    return page


def _ids(page: dict[str, Any]) -> list[str]:
    return [n["id"] for n in page["nodes"]]


def _flags(page: dict[str, Any]) -> tuple[bool, bool]:
    info = page["pageInfo"]
    return info["hasPreviousPage"], info["hasNextPage"]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
async def test_paging_backwards_gives_the_forward_pages_in_reverse(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, size: int
) -> None:
    expected = await _leads(session, partner, 7)
    forward: list[list[str]] = []
    after = None
    while True:
        page = await _page(admin, first=size, after=after)
        forward.append(_ids(page))
        assert _flags(page) == (after is not None, page["pageInfo"]["hasNextPage"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [i for p in forward for i in p] == expected

    backward: list[list[str]] = []
    before = None
    while True:
        page = await _page(admin, last=size, before=before)
        backward.append(_ids(page))
        assert page["pageInfo"]["hasNextPage"] is (before is not None)
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    # Backwards from the end: the same items, the last page first, each page in list order.
    assert [i for p in reversed(backward) for i in p] == expected
    assert all(len(p) == size for p in backward[:-1])
    if len(expected) % size == 0:
        assert backward == list(reversed(forward))


async def test_last_and_before_page_from_either_end(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    expected = await _leads(session, partner, 5)
    everything = await _page(admin, first=5)
    cursors = [e["cursor"] for e in everything["edges"]]

    # The last two of the whole list: more before them, nothing after.
    page = await _page(admin, last=2)
    assert _ids(page) == expected[3:]
    assert _flags(page) == (True, False)
    # The two before the fourth.
    page = await _page(admin, last=2, before=cursors[3])
    assert _ids(page) == expected[1:3]
    assert _flags(page) == (True, True)
    # `before` alone pages backwards, a default page: everything before the fourth.
    page = await _page(admin, before=cursors[3])
    assert _ids(page) == expected[:3]
    assert _flags(page) == (False, True)
    # Before the first item: nothing, and nothing before it.
    page = await _page(admin, last=3, before=cursors[0])
    assert _ids(page) == []
    assert _flags(page) == (False, True)
    # Exactly one page, either way.
    page = await _page(admin, last=5)
    assert _ids(page) == expected
    assert _flags(page) == (False, False)
    page = await _page(admin, last=6)
    assert _ids(page) == expected
    assert _flags(page) == (False, False)
    # Between two cursors, from either end.
    page = await _page(admin, first=10, after=cursors[0], before=cursors[4])
    assert _ids(page) == expected[1:4]
    assert _flags(page) == (True, False)
    page = await _page(admin, last=2, after=cursors[0], before=cursors[4])
    assert _ids(page) == expected[2:4]
    assert _flags(page) == (True, True)


async def test_last_on_an_empty_list(admin: GraphQLClient) -> None:
    page = await _page(admin, last=3)
    assert _ids(page) == []
    assert _flags(page) == (False, False)


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"first": 2, "last": 2}, ["last"], "give either first or last, not both"),
        ({"last": 101}, ["last"], "must be between 0 and 100"),
        ({"last": -1}, ["last"], "must be between 0 and 100"),
        ({"last": 2, "before": "not-a-cursor"}, ["before"], "is not a cursor from this list"),
    ],
)
async def test_bad_backward_paging_is_a_typed_error(
    admin: GraphQLClient, arguments: dict[str, Any], field: list[str], message: str
) -> None:
    body = await admin(PAGE, arguments)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == message
    assert error["extensions"] == {"code": "VALIDATION", "field": field}


async def test_a_cursor_of_another_order_is_refused_as_before(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    await _leads(session, partner, 2)
    body = await admin(
        "query { leads(tab: MARKETPLACE, orderBy: RECEIVED_AT_ASC, first: 1) "
        "{ pageInfo { endCursor } } }"
    )
    cursor = body["data"]["leads"]["pageInfo"]["endCursor"]
    body = await admin(PAGE, {"last": 1, "before": cursor})
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["before"]}


SENT = """
query Sent($first: Int, $after: String, $last: Int, $before: String) {
  sentLeads(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id }
  }
}
"""

NOTIFICATIONS = """
query Notes($first: Int, $after: String, $last: Int, $before: String) {
  notifications(first: $first, after: $after, last: $last, before: $before) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } }
    nodes { id }
  }
}
"""


async def test_sent_leads_page_backwards(
    session: AsyncSession, partner: WorldPartner, gql: GraphQLClient
) -> None:
    referrer = await make_partner(session)
    made = [
        await make_lead(
            session,
            organisation_id=partner.organisation_id,
            received_at=BASE + timedelta(hours=i),
            sender_user_id=referrer.partner_admin,
            sender_organisation_id=referrer.organisation_id,
        )
        for i in range(5)
    ]
    expected = [sid(lead) for lead in sorted(made, key=lambda x: x.received_at, reverse=True)]
    seller = gql.as_user(referrer.partner_admin)
    page = await _page(seller, SENT, last=2)
    assert _ids(page) == expected[3:]
    assert _flags(page) == (True, False)
    page = await _page(seller, SENT, last=2, before=page["pageInfo"]["startCursor"])
    assert _ids(page) == expected[1:3]
    assert _flags(page) == (True, True)
    page = await _page(seller, SENT, last=2, before=page["pageInfo"]["startCursor"])
    assert _ids(page) == expected[:1]
    assert _flags(page) == (False, True)


async def test_notifications_page_backwards(
    session: AsyncSession, partner: WorldPartner, gql: GraphQLClient
) -> None:
    made = []
    for i in range(5):
        note = models.Notification(
            user_id=partner.referrals_admin,
            kind="NEW_LEAD",
            title=f"n{i}",
            body="b",
            created_at=BASE + timedelta(minutes=i // 2),
        )
        session.add(note)
        made.append(note)
    await session.flush()
    expected = [str(n.id) for n in sorted(made, key=lambda n: (n.created_at, n.id), reverse=True)]
    client = gql.as_user(partner.referrals_admin)
    forward = _ids(await _page(client, NOTIFICATIONS, first=5))
    assert forward == expected
    page = await _page(client, NOTIFICATIONS, last=2)
    assert _ids(page) == expected[3:]
    assert _flags(page) == (True, False)
    page = await _page(client, NOTIFICATIONS, last=3, before=page["pageInfo"]["startCursor"])
    assert _ids(page) == expected[:3]
    assert _flags(page) == (False, True)
    body = await client(NOTIFICATIONS, {"first": 1, "last": 1})
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["last"]}


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


async def test_fragments_on_node_select_fields_on_both_paths(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    expected = await _leads(session, partner, 3)
    note = models.Notification(user_id=partner.referrals_admin, kind="K", title="t", body="b")
    session.add(note)
    await session.flush()
    data = await admin.data(
        """
        fragment Refetchable on Node { id }
        query($id: ID!) {
          leads(tab: MARKETPLACE, last: 2) { nodes { ... on Node { __typename id } stage } }
          notifications { edges { node { ...Refetchable } } }
          lead(id: $id) { ...Refetchable }
        }
        """,
        {"id": expected[0]},
    )
    assert data["leads"]["nodes"] == [
        {"__typename": "Lead", "id": i, "stage": "RECEIVED"} for i in expected[1:]
    ]
    assert data["notifications"]["edges"] == [{"node": {"id": str(note.id)}}]
    assert data["lead"] == {"id": expected[0]}
