"""In-app notifications over GraphQL: the viewer's own, newest first, paged, marked read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Notification
from tests.factories import World
from tests.graphql_client import GraphQLClient

LIST = """query($first: Int, $after: String, $unread: Boolean!) {
  notifications(first: $first, after: $after, unreadOnly: $unread) {
    unreadCount pageInfo { hasNextPage endCursor }
    nodes { id kind title body leadId readAt }
  }
}"""
MARK = """mutation($ids: [ID!]!) {
  markNotificationsRead(ids: $ids) { marked errors { code field } }
}"""


async def _notify(session: AsyncSession, user_id: uuid.UUID, count: int) -> list[str]:
    base = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        Notification(
            id=uuid.uuid4(),
            user_id=user_id,
            kind="NEW_LEAD",
            title=f"Lead {i}",
            body="A lead arrived",
            created_at=base + timedelta(minutes=i),
        )
        for i in range(count)
    ]
    session.add_all(rows)
    await session.flush()
    return [str(r.id) for r in reversed(rows)]  # newest first


async def test_notifications_page_newest_first_and_mark_read(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    ids = await _notify(session, world.contoso.referrals_admin, 5)
    await _notify(session, world.contoso.partner_admin, 2)  # someone else's
    client = gql.as_user(world.contoso.referrals_admin)

    seen: list[str] = []
    after = None
    while True:
        page = (await client.data(LIST, {"first": 2, "after": after, "unread": False}))[
            "notifications"
        ]
        assert page["unreadCount"] == 5
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids

    marked = (await client.data(MARK, {"ids": ids[:3]}))["markNotificationsRead"]
    assert marked == {"marked": 3, "errors": []}
    again = (await client.data(MARK, {"ids": ids[:3]}))["markNotificationsRead"]
    assert again == {"marked": 0, "errors": []}  # idempotent
    unread = (await client.data(LIST, {"first": 10, "unread": True}))["notifications"]
    assert [n["id"] for n in unread["nodes"]] == ids[3:] and unread["unreadCount"] == 2
    everything = (await client.data(LIST, {"first": 10, "unread": False}))["notifications"]
    assert [n["readAt"] is not None for n in everything["nodes"]] == [True] * 3 + [False] * 2


async def test_nobody_reads_or_marks_anothers_notifications(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    theirs = await _notify(session, world.contoso.partner_admin, 2)
    fabrikam = gql.as_user(world.fabrikam.referrals_admin)
    page = (await fabrikam.data(LIST, {"first": 10, "unread": False}))["notifications"]
    assert page["nodes"] == [] and page["unreadCount"] == 0
    marked = (await fabrikam.data(MARK, {"ids": theirs}))["markNotificationsRead"]
    assert marked == {"marked": 0, "errors": []}
    owner = gql.as_user(world.contoso.partner_admin)
    assert (await owner.data(LIST, {"first": 10, "unread": True}))["notifications"][
        "unreadCount"
    ] == 2


async def test_platform_senders_have_notifications_too(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    await _notify(session, world.seller, 1)
    page = await gql.as_user(world.seller).data(LIST, {"first": 5, "unread": True})
    assert page["notifications"]["unreadCount"] == 1


async def test_bad_input_is_a_typed_error(gql: GraphQLClient, world: World) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    body = await client(MARK, {"ids": ["not-a-uuid"]})
    assert body["data"]["markNotificationsRead"]["errors"] == [
        {"code": "VALIDATION", "field": ["ids", "0"]}
    ]
    body = await client(LIST, {"first": 1000, "unread": False})
    assert body["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["first"]}
    body = await client(LIST, {"first": 5, "after": "garbage", "unread": False})
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    anonymous = await gql.as_user(None)(MARK, {"ids": []})
    assert anonymous["data"]["markNotificationsRead"]["errors"] == [
        {"code": "UNAUTHENTICATED", "field": None}
    ]
