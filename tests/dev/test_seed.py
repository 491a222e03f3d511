"""The demo world is rich enough to show every screen of the inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    BusinessProfile,
    Lead,
    LocationContact,
    Organisation,
    ProfileLocation,
    User,
)
from app.domain.lifecycle import LeadOutcome, LeadStage, LeadType
from app.domain.roles import Role
from tests.factories import World


async def test_demo_world_covers_every_type_stage_and_outcome(
    session: AsyncSession, world: World
) -> None:
    demo = [
        world.contoso.organisation_id,
        world.fabrikam.organisation_id,
        world.northwind.organisation_id,
    ]
    rows = (
        await session.execute(
            select(Lead.organisation_id, Lead.type, Lead.stage, Lead.outcome, func.count())
            .where(Lead.organisation_id.in_(demo))
            .group_by(Lead.organisation_id, Lead.type, Lead.stage, Lead.outcome)
        )
    ).all()
    assert sum(count for *_, count in rows) >= 200
    states = {(stage, outcome) for _, _, stage, outcome, _ in rows}
    expected_states = {(LeadStage.RECEIVED.value, None), (LeadStage.ACCEPTED.value, None)} | {
        (LeadStage.ARCHIVED.value, o.value) for o in LeadOutcome
    }
    assert states == expected_states
    for org in demo:
        # Each partner's inbox alone shows every type in every state.
        seen = {(t, s, o) for o_id, t, s, o, _ in rows if o_id == org}
        assert {(t.value, *state) for t in LeadType for state in expected_states} <= seen


async def test_demo_world_has_flames_and_leads_near_their_deadline(
    session: AsyncSession, world: World
) -> None:
    now = datetime.now(UTC)
    org = world.contoso.organisation_id
    open_leads = (
        await session.execute(
            select(Lead.contact_requested, Lead.received_at, Lead.respond_by).where(
                Lead.organisation_id == org, Lead.stage == LeadStage.RECEIVED.value
            )
        )
    ).all()
    assert any(flame and now - received < timedelta(hours=72) for flame, received, _ in open_leads)
    assert any(not flame for flame, *_ in open_leads)
    assert any(respond_by - now < timedelta(hours=36) for *_, respond_by in open_leads)
    assert all(respond_by > now for *_, respond_by in open_leads), "none overdue at seed time"


async def test_demo_partners_have_profiles_contacts_and_every_role(
    session: AsyncSession, world: World
) -> None:
    for partner in (world.contoso, world.fabrikam, world.northwind):
        profile = await session.scalar(
            select(BusinessProfile).where(
                BusinessProfile.organisation_id == partner.organisation_id
            )
        )
        assert profile is not None and profile.published
        contacts = (
            await session.execute(
                select(LocationContact.email, LocationContact.alerts_opted_out)
                .join(ProfileLocation)
                .where(ProfileLocation.profile_id == profile.id)
            )
        ).all()
        assert {opted_out for _, opted_out in contacts} == {True, False}
        roles = (
            await session.scalars(
                select(func.unnest(User.roles)).where(
                    User.organisation_id == partner.organisation_id
                )
            )
        ).all()
        assert set(roles) == {Role.PARTNER_ADMIN.value, Role.REFERRALS_ADMIN.value}
    platform_roles = (
        await session.scalars(
            select(func.unnest(User.roles))
            .join(Organisation)
            .where(Organisation.kind == "PLATFORM")
        )
    ).all()
    assert {Role.MARKETER.value, Role.SELLER.value, Role.PLATFORM_ADMIN.value} <= set(
        platform_roles
    )
