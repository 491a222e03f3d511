"""In-app notifications (R13) for partner users and platform senders."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, UserError, query_error, user_errors
from app.graphql.reads import columns
from app.graphql.types.lead import PageInfo
from app.graphql.types.node import Node
from app.graphql.types.rows import from_rows
from app.services import notifications
from app.services.errors import Refused
from app.services.paging import Page


@strawberry.type
class Notification(Node):
    id: strawberry.ID
    kind: str = strawberry.field(
        description="NEW_LEAD, URGENT_CONTACT, REMINDER, LEAD_EXPIRED, WEBHOOK_DISABLED, ..."
    )
    title: str
    body: str
    lead_id: strawberry.ID | None
    created_at: dt.datetime
    read_at: dt.datetime | None


# How the compiled read path reads a notification record (app/services/compiled_reads.py).
NOTIFICATION_READS = columns("id", "kind", "title", "body", "lead_id", "created_at", "read_at")


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    nodes: list[Notification]
    page_info: PageInfo

    @classmethod
    def build(cls, page: Page[models.Notification]) -> NotificationConnection:
        nodes = from_rows(Notification, page.items)
        cursors = page.cursors
        return cls(
            edges=[NotificationEdge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
            nodes=nodes,
            page_info=PageInfo.of(page),
        )

    @strawberry.field(description="All of the viewer's unread notifications.")
    async def unread_count(self, info: Info[Context, None]) -> int:
        async with info.context.db() as session:
            return await notifications.count_unread(session, info.context.actor)


@strawberry.type
class MarkNotificationsReadPayload:
    marked: int
    errors: list[UserError]


@strawberry.type
class NotificationQuery:
    @strawberry.field(
        description="The viewer's notifications, newest first; empty if anonymous. `last`/"
        "`before` page backwards."
    )
    async def notifications(
        self,
        info: Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        unread_only: bool = False,
        last: int | None = None,
        before: str | None = None,
    ) -> NotificationConnection:
        async with info.context.db() as session:
            page = await notifications.list_notifications(
                session,
                info.context.actor,
                first=first,
                after=after,
                unread_only=unread_only,
                last=last,
                before=before,
            )
        if isinstance(page, Refused):
            raise query_error(page, ARGUMENTS)
        return NotificationConnection.build(page)


@strawberry.type
class NotificationMutation:
    @strawberry.mutation(description="Mark the viewer's notifications read; idempotent.")
    async def mark_notifications_read(
        self, info: Info[Context, None], ids: list[strawberry.ID]
    ) -> MarkNotificationsReadPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: notifications.mark_read(s, ctx.actor, [str(i) for i in ids], now=ctx.now)
        )
        if isinstance(result, Refused):
            return MarkNotificationsReadPayload(marked=0, errors=user_errors(result, ARGUMENTS))
        return MarkNotificationsReadPayload(marked=result, errors=[])
