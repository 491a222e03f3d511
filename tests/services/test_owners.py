"""Lead owners at the service level (issue 11): assign_lead behind the tenancy wall, what it
writes (history, events, the lead's state) and every refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import models
from app.domain.lifecycle import LeadStage
from app.services.auth import load_actor
from app.services.errors import ErrorCode, Refused
from app.services.owners import assign_lead
from tests.factories import make_lead, make_partner

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _assign(
    sessionmaker: async_sessionmaker[AsyncSession],
    user: uuid.UUID,
    lead_id: uuid.UUID | str,
    owner: uuid.UUID | str | None,
    expected_version: int | None = None,
) -> models.Lead | Refused:
    """assign_lead as the API runs it: as partner_leads_app, the actor's tenant made."""
    async with sessionmaker() as app:
        actor = await load_actor(app, user)
        result = await assign_lead(
            app,
            actor,
            str(lead_id),
            None if owner is None else str(owner),
            expected_version=expected_version,
            now=NOW,
        )
        if isinstance(result, Refused):
            await app.rollback()
        else:
            await app.commit()
        return result


def _code(result: object) -> tuple[ErrorCode, tuple[str, ...] | None]:
    assert isinstance(result, Refused), result
    [error] = result.errors
    return error.code, error.field


async def test_assigning_writes_history_and_events_and_keeps_the_stage(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    partner = await make_partner(session)
    lead = await make_lead(session, organisation_id=partner.organisation_id)

    given = await _assign(sessionmaker, partner.partner_admin, lead.id, partner.referrals_admin)
    assert isinstance(given, models.Lead)
    assert (given.stage, given.version, given.owner_user_id) == (
        "RECEIVED",
        2,
        partner.referrals_admin,
    )

    history = (
        await session.scalars(
            select(models.LeadHistory)
            .where(models.LeadHistory.lead_id == lead.id)
            .order_by(models.LeadHistory.id)
        )
    ).all()
    assign = history[-1]
    assert [h.action for h in history] == ["RECEIVE", "ASSIGN"]
    assert (assign.from_stage, assign.to_stage, assign.version) == ("RECEIVED", "RECEIVED", 2)
    assert (assign.actor_kind, assign.actor_user_id) == ("USER", partner.partner_admin)
    assert assign.changes == {
        "owner": {
            "from": None,
            "to": {
                "id": str(partner.referrals_admin),
                "name": "Test Partner referrals_admin",
                "email": f"referrals_admin@{partner.slug}.example",
            },
        }
    }
    events = {
        row.topic: row.payload
        for row in await session.scalars(
            select(models.OutboxMessage).where(models.OutboxMessage.lead_id == lead.id)
        )
    }
    assert set(events) == {"lead.assigned", "notify.lead_assigned"}
    body = events["lead.assigned"]
    assert (body["action"], body["lead"]["ownerId"], body["lead"]["version"]) == (
        "ASSIGN",
        str(partner.referrals_admin),
        2,
    )
    assert body["changes"]["owner"]["to"]["id"] == str(partner.referrals_admin)

    # The same owner again changes nothing; null unassigns.
    same = await _assign(sessionmaker, partner.partner_admin, lead.id, partner.referrals_admin)
    assert isinstance(same, models.Lead) and same.version == 2
    cleared = await _assign(sessionmaker, partner.referrals_admin, lead.id, None)
    assert isinstance(cleared, models.Lead)
    assert (cleared.owner_user_id, cleared.version) == (None, 3)
    last = await session.scalar(
        select(models.LeadHistory.changes)
        .where(models.LeadHistory.lead_id == lead.id)
        .order_by(models.LeadHistory.id.desc())
        .limit(1)
    )
    assert last is not None and last["owner"]["to"] is None


async def test_an_accepted_lead_may_change_hands_an_archived_one_may_not(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    partner = await make_partner(session)
    accepted = await make_lead(
        session, organisation_id=partner.organisation_id, stage=LeadStage.ACCEPTED
    )
    given = await _assign(sessionmaker, partner.referrals_admin, accepted.id, partner.partner_admin)
    assert isinstance(given, models.Lead) and given.stage == "ACCEPTED"

    archived = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ARCHIVED,
        outcome="EXPIRED",
    )
    refused = await _assign(
        sessionmaker, partner.referrals_admin, archived.id, partner.partner_admin
    )
    assert _code(refused) == (ErrorCode.INVALID_TRANSITION, None)
    assert isinstance(refused, Refused)
    assert "archived (EXPIRED)" in refused.errors[0].message


async def test_who_may_assign_and_to_whom(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    partner = await make_partner(session)
    other = await make_partner(session)
    lead = await make_lead(session, organisation_id=partner.organisation_id)

    # Another organisation's lead manager: the lead does not exist for them.
    assert _code(
        await _assign(sessionmaker, other.partner_admin, lead.id, other.partner_admin)
    ) == (ErrorCode.NOT_FOUND, ("lead_id",))
    # A user of the partner without a lead-managing role.
    assert _code(await _assign(sessionmaker, partner.member, lead.id, partner.referrals_admin)) == (
        ErrorCode.FORBIDDEN,
        None,
    )
    # The owner must be the partner's: another organisation's user does not exist...
    assert _code(
        await _assign(sessionmaker, partner.partner_admin, lead.id, other.referrals_admin)
    ) == (ErrorCode.NOT_FOUND, ("owner_id",))
    assert _code(await _assign(sessionmaker, partner.partner_admin, lead.id, uuid.uuid4())) == (
        ErrorCode.NOT_FOUND,
        ("owner_id",),
    )
    assert _code(await _assign(sessionmaker, partner.partner_admin, lead.id, "nope")) == (
        ErrorCode.VALIDATION,
        ("owner_id",),
    )
    # ...and a lead manager: a colleague without the role, or deactivated, is refused.
    assert _code(await _assign(sessionmaker, partner.partner_admin, lead.id, partner.member)) == (
        ErrorCode.VALIDATION,
        ("owner_id",),
    )
    colleague = await session.get(models.User, partner.referrals_admin)
    assert colleague is not None
    colleague.active = False
    await session.flush()
    assert _code(
        await _assign(sessionmaker, partner.partner_admin, lead.id, partner.referrals_admin)
    ) == (ErrorCode.VALIDATION, ("owner_id",))
    # A stale version is a conflict.
    assert _code(
        await _assign(
            sessionmaker, partner.partner_admin, lead.id, partner.partner_admin, expected_version=7
        )
    ) == (ErrorCode.CONFLICT, ("expected_version",))

    unchanged = await session.get(models.Lead, lead.id, populate_existing=True)
    assert unchanged is not None
    assert (unchanged.owner_user_id, unchanged.version) == (None, 1)
    actions = (
        await session.scalars(
            select(models.LeadHistory.action).where(models.LeadHistory.lead_id == lead.id)
        )
    ).all()
    assert actions == ["RECEIVE"]
