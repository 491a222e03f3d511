"""In-app notifications: what a user has been told, newest first."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Notification
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused

MAX_PAGE = 100


@dataclass
class NotificationPage:
    items: list[Notification]
    cursors: list[str]
    has_next_page: bool
    unread_count: int


def _cursor(n: Notification) -> str:
    raw = json.dumps([n.created_at.isoformat(), str(n.id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        parsed = datetime.fromisoformat(at)
        return (parsed, uuid.UUID(key)) if parsed.tzinfo else None
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


async def list_notifications(
    session: AsyncSession,
    actor: Actor | None,
    *,
    first: int | None,
    after: str | None,
    unread_only: bool,
) -> NotificationPage | Refused:
    limit = 20 if first is None else first
    if not 0 <= limit <= MAX_PAGE:
        return Refused.one(ErrorCode.VALIDATION, f"must be between 0 and {MAX_PAGE}", "first")
    keyset = _decode(after) if after is not None else None
    if after is not None and keyset is None:
        return Refused.one(ErrorCode.VALIDATION, "is not a cursor from this list", "after")
    if actor is None:
        return NotificationPage([], [], False, 0)
    statement = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        statement = statement.where(Notification.read_at.is_(None))
    if keyset is not None:
        statement = statement.where(
            tuple_(Notification.created_at, Notification.id) < tuple_(*keyset)
        )
    rows = list(
        (
            await session.scalars(
                statement.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(
                    limit + 1
                )
            )
        ).all()
    )
    unread = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
    )
    return NotificationPage(
        rows[:limit], [_cursor(n) for n in rows[:limit]], len(rows) > limit, int(unread or 0)
    )


async def mark_read(
    session: AsyncSession, actor: Actor | None, raw_ids: list[str], *, now: datetime
) -> int | Refused:
    """Mark the caller's notifications read; ids of other users' notifications are ignored
    (their existence is not revealed). Returns how many changed."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to read notifications")
    if len(raw_ids) > MAX_PAGE:
        return Refused.one(ErrorCode.VALIDATION, f"at most {MAX_PAGE} ids", "ids")
    ids = []
    for index, raw in enumerate(raw_ids):
        try:
            ids.append(uuid.UUID(str(raw)))
        except ValueError:
            return Refused.one(ErrorCode.VALIDATION, "is not a valid id", "ids", str(index))
    result = await session.execute(
        update(Notification)
        .where(
            Notification.id.in_(ids),
            Notification.user_id == actor.user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
