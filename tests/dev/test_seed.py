"""The demo world is rich enough to show every screen of the inbox, and generated leads
are where the lifecycle would have taken them."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

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
from app.dev.copy_writer import LEAD_COLUMNS, LeadRows
from app.dev.lead_generator import generate_lead
from app.dev.lead_paths import COVERING_LEADS, SEEDED_PATHS
from app.dev.partners import Partner, Senders
from app.domain.lifecycle import (
    REACHABLE_STATES,
    TRANSITIONS,
    ActorKind,
    LeadAction,
    LeadOutcome,
    LeadStage,
    LeadState,
    LeadType,
)
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


def _generated(count: int, *, covering: bool) -> LeadRows:
    ids = [uuid.uuid4() for _ in range(8)]
    contoso = Partner(ids[0], ids[1], "contoso", [ids[2], ids[3]])
    fabrikam = Partner(ids[4], ids[5], "fabrikam", [ids[6], ids[7]])
    senders = Senders(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), [contoso, fabrikam])
    rows, rng, now = LeadRows(), random.Random(3), datetime.now(UTC)
    for i in range(count):
        generate_lead(rng, contoso, senders, now, 14, rows, index=i if covering else None)
    return rows


def test_seeded_paths_end_in_every_state_the_lifecycle_reaches() -> None:
    assert {path.end for path in SEEDED_PATHS} == REACHABLE_STATES


def test_a_generated_lead_is_where_its_history_took_it() -> None:
    rows = _generated(COVERING_LEADS + 300, covering=True)
    column = {name: i for i, name in enumerate(LEAD_COLUMNS)}
    history: dict[uuid.UUID, list[tuple[Any, ...]]] = {}
    for row in rows.history:
        history.setdefault(row[0], []).append(row)
    for lead in rows.leads:
        steps = history[lead[column["id"]]]
        state: LeadState | None = None
        for _, action, from_stage, to_stage, outcome, actor_kind, actor, *_ in steps:
            assert from_stage == (state.stage if state else None)
            state = TRANSITIONS[(state.stage if state else None, LeadAction(action))]
            assert (to_stage, outcome) == (state.stage, state.outcome)
            assert (actor_kind == ActorKind.SYSTEM) == (actor is None)
        assert state is not None
        assert (lead[column["stage"]], lead[column["outcome"]]) == (state.stage, state.outcome)
        assert lead[column["version"]] == len(steps)
        assert [step[-2] for step in steps] == list(range(1, len(steps) + 1))  # version after
        assert lead[column["updated_at"]] == steps[-1][-1]
        assert [at for *_, at in steps] == sorted(at for *_, at in steps)


def test_generated_inboxes_keep_the_seeded_mix() -> None:
    rows = _generated(6000, covering=False)
    column = {name: i for i, name in enumerate(LEAD_COLUMNS)}
    seen = Counter((lead[column["stage"]], lead[column["outcome"]]) for lead in rows.leads)
    total = sum(path.weight for path in SEEDED_PATHS)
    for path in SEEDED_PATHS:
        share = seen[(path.end.stage, path.end.outcome)] / len(rows.leads)
        assert abs(share - path.weight / total) < 0.03, (path.end, share)
