"""Relay (issue 12 §3): backward paging with `last`/`before` on leads, sentLeads and
notifications, and fragments on `Node`, on both execution paths. `node`/`nodes`:
test_relay_nodes.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from tests.factories import WorldPartner, make_lead, make_partner
from tests.graphql.inbox_support import BASE, sid
from tests.graphql_client import GraphQLClient

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


# About 120 per lead: a page of 100 is over MAX_QUERY_COST (10,000), a few are well under it.
HEAVY = "history { at action actor { kind name } changes { field from to } } team { name email }"


async def test_last_sizes_the_cost_as_first_does(admin: GraphQLClient) -> None:
    costs = {}
    for argument in ("first", "last"):
        body = await admin(
            f"query {{ leads(tab: MARKETPLACE, {argument}: 100) {{ nodes {{ {HEAVY} }} }} }}"
        )
        [error] = body["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        costs[argument] = error["extensions"]["cost"]
    assert costs["first"] == costs["last"]


async def test_nodes_costs_each_id(admin: GraphQLClient) -> None:
    query = f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Lead {{ {HEAVY} }} }} }}"
    assert (await admin(query, {"ids": ["x"] * 5}))["data"] == {"nodes": [None] * 5}
    body = await admin(query, {"ids": ["x"] * 100})
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
