"""The change feed: every history entry of a partner's leads, with the lead as it is now, in an
order a connector can resume from its cursor across restarts without ever skipping a change.

Why not simply by id: ids come from a sequence when a row is inserted, but rows become visible
when their transaction commits, and the two orders differ. T1 inserts a row (id 10), T2 inserts
one (id 11) and commits first; a poll between the two commits sees 11 but not 10, hands out a
cursor "after 11", and the next poll, asking for ids > 11, never returns 10. The same holds for
any value taken at insert time (a timestamp, a sequence), so the feed orders by the writing
transaction instead, and stops where what is visible stops being complete:

- each row records its transaction's id (`txid`, xid8: 64 bits, never wraps; set by a trigger,
  migration 0009), and the feed is ordered by (txid, id);
- a poll returns only rows with `txid < pg_snapshot_xmin(pg_current_snapshot())`, taken from the
  statement's own snapshot. xmin is the oldest transaction still running: every transaction
  below it has committed (its rows are all visible now) or aborted (it has none), and every
  transaction that commits later has an id >= xmin, so each row a later poll can see sorts after
  any cursor handed out now.

The price is latency, never loss: a change shows once every transaction that began writing
before it has ended, so a long-running writing transaction anywhere in the cluster (xmin is
cluster-wide, as are prepared transactions) holds the feed back until it ends.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, LeadHistory, Xid8
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from app.services.paging import page_size

DEFAULT_PAGE = 100
MAX_PAGE = 100  # the largest page of any list (app/graphql/cost.py clamps `first` to it)
CURSOR_TAG = "changes"

Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class LeadChange:
    entry: LeadHistory
    lead: Lead
    cursor: str


@dataclass(frozen=True, slots=True)
class ChangePage:
    changes: list[LeadChange]
    # The last change's cursor; with no change, the cursor the caller passed (its position
    # stays where it was), None from the start.
    end_cursor: str | None
    has_next_page: bool


def encode_position(position: Position) -> str:
    raw = json.dumps([CURSOR_TAG, str(position[0]), position[1]], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_position(cursor: str) -> Position | Refused:
    bad = Refused.one(ErrorCode.VALIDATION, "is not a cursor of leadChanges", "after")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return bad
    if not (isinstance(decoded, list) and len(decoded) == 3 and decoded[0] == CURSOR_TAG):
        return bad
    _, txid, row_id = decoded
    if not (isinstance(txid, str) and txid.isdigit() and len(txid) <= 20):
        return bad
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        return bad
    position = (int(txid), row_id)
    if not (0 <= position[0] < 2**64 and 0 <= position[1] < 2**63):
        return bad
    return position


async def lead_changes(
    session: AsyncSession, actor: Actor | None, *, after: str | None, first: int | None
) -> ChangePage | Refused:
    """The next `first` changes of the actor's organisation's leads after the cursor `after`."""
    limit = page_size(first, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    if isinstance(limit, Refused):
        return limit
    position = decode_position(after) if after is not None else None
    if isinstance(position, Refused):
        return position
    if actor is None or not actor.manages_leads:
        return ChangePage([], after, False)
    statement = (
        select(LeadHistory, Lead)
        .join(Lead, Lead.id == LeadHistory.lead_id)
        .where(
            LeadHistory.organisation_id == actor.organisation_id,
            # Complete below the oldest running transaction (the module says why).
            LeadHistory.txid < func.pg_snapshot_xmin(func.pg_current_snapshot()),
        )
        .order_by(LeadHistory.txid, LeadHistory.id)
        .limit(limit + 1)
    )
    if position is not None:
        statement = statement.where(
            tuple_(LeadHistory.txid, LeadHistory.id)
            > tuple_(literal(position[0], Xid8()), literal(position[1]))
        )
    rows = (await session.execute(statement)).all()
    changes = [
        LeadChange(entry, lead, encode_position((entry.txid, entry.id)))
        for entry, lead in rows[:limit]
    ]
    end_cursor = changes[-1].cursor if changes else after
    return ChangePage(changes, end_cursor, len(rows) > limit)
