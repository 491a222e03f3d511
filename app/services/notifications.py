"""In-app notifications: what a user has been told, newest first."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Notification
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.paging import Keyset, Page, keyset_page, page_window

DEFAULT_PAGE = 20
MAX_PAGE = 100
NEWEST_FIRST = Keyset("notifications", Notification.created_at, Notification.id, descending=True)


async def list_notifications(
    session: AsyncSession,
    actor: Actor | None,
    *,
    first: int | None,
    after: str | None,
    unread_only: bool,
    last: int | None = None,
    before: str | None = None,
) -> Page[Notification] | Refused:
    window = page_window(
        NEWEST_FIRST.tag,
        datetime,
        first=first,
        after=after,
        last=last,
        before=before,
        default=DEFAULT_PAGE,
        maximum=MAX_PAGE,
    )
    if isinstance(window, Refused):
        return window
    if actor is None:
        return Page.empty()
    statement = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    return await keyset_page(
        session,
        statement,
        NEWEST_FIRST,
        window=window,
        key_of=lambda n: (n.created_at, n.id),
    )


async def notifications_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Notification]:
    """The caller's own notifications among `ids` (what `list_notifications` lists)."""
    if actor is None or not ids:
        return {}
    rows = await session.scalars(
        select(Notification).where(Notification.id.in_(ids), Notification.user_id == actor.user_id)
    )
    return {n.id: n for n in rows}


async def count_unread(session: AsyncSession, actor: Actor | None) -> int:
    if actor is None:
        return 0
    unread = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    )
    return int(unread or 0)


async def mark_read(
    session: AsyncSession, actor: Actor | None, ids: list[str], *, now: datetime
) -> int | Refused:
    """Mark the caller's notifications read; ids of other users' notifications are ignored
    (their existence is not revealed). Returns how many changed."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to read notifications")
    if len(ids) > MAX_PAGE:
        return Refused.one(ErrorCode.VALIDATION, f"at most {MAX_PAGE} ids", "ids")
    parsed = []
    for index, raw in enumerate(ids):
        notification_id = parse_id(raw, "ids", str(index))
        if isinstance(notification_id, Refused):
            return notification_id
        parsed.append(notification_id)
    marked = await session.scalars(
        update(Notification)
        .where(
            Notification.id.in_(parsed),
            Notification.user_id == actor.user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
        .returning(Notification.id)
    )
    return len(marked.all())
