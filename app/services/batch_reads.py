"""Batch reads for the request's DataLoaders: each takes many keys and answers in one query,
so a page of leads costs one statement per related kind, not one per lead."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiKey, LeadFavorite, LeadHistory, LeadTeamMember, Organisation, User


async def team_by_lead(
    session: AsyncSession, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LeadTeamMember]]:
    grouped: dict[uuid.UUID, list[LeadTeamMember]] = defaultdict(list)
    rows = await session.scalars(
        select(LeadTeamMember)
        .where(LeadTeamMember.lead_id.in_(lead_ids))
        .order_by(LeadTeamMember.added_at, LeadTeamMember.id)
    )
    for member in rows:
        grouped[member.lead_id].append(member)
    return grouped


async def history_by_lead(
    session: AsyncSession, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[LeadHistory]]:
    grouped: dict[uuid.UUID, list[LeadHistory]] = defaultdict(list)
    rows = await session.scalars(
        select(LeadHistory).where(LeadHistory.lead_id.in_(lead_ids)).order_by(LeadHistory.id)
    )
    for entry in rows:
        grouped[entry.lead_id].append(entry)
    return grouped


async def favorites_of(
    session: AsyncSession, user_id: uuid.UUID, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, bool]:
    """Which of `lead_ids` the user marked with the heart."""
    rows = await session.scalars(
        select(LeadFavorite.lead_id).where(
            LeadFavorite.user_id == user_id, LeadFavorite.lead_id.in_(lead_ids)
        )
    )
    return dict.fromkeys(rows.all(), True)


async def users_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, User]:
    rows = await session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in rows}


async def api_key_names_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(ids)))
    return {key_id: name for key_id, name in rows}


async def organisations_by_id(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Organisation]:
    rows = await session.scalars(select(Organisation).where(Organisation.id.in_(ids)))
    return {o.id: o for o in rows}
