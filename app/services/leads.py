"""Lead actions: `act(session, actor, lead_id, command)` -> the lead, or Refused.

Each command names its lifecycle action and knows what it changes. `act` locks the lead row,
checks the caller's version and the lifecycle table, applies the command, and writes the step's
history and outbox rows in the caller's transaction. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, LeadFavorite, LeadTeamMember
from app.domain.lifecycle import (
    LeadAction,
    LeadOutcome,
    LeadStage,
    LeadState,
    TransitionRefused,
    step_for,
)
from app.domain.reference import DeclineReason, LostReason
from app.domain.validation import MAX_NAME, MAX_NOTES, MAX_REF, Checker
from app.jobs import score_profile, stage
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.history import (
    api_name,
    field_change,
    members_change,
    money_json,
    record_step,
    snapshot,
)

MAX_TEAM_MEMBERS = 50
# Actions that, changing nothing, leave no trace (asking twice is asking once).
IDEMPOTENT_ACTIONS = frozenset({LeadAction.UPDATE, LeadAction.CONTACT_CUSTOMER})


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class TeamMemberInput:
    name: str
    email: str | None = None
    phone: str | None = None


# Deal fields `Update` may change, with whether the accepted stage requires a value.
UPDATABLE_DEAL_FIELDS: dict[str, bool] = {
    "deal_name": True,
    "estimated_value": True,
    "estimated_purchase_date": True,
    "notes": False,
    "crm_id": False,
    "campaign_id": False,
}


# What a command changed, for the history; or why it refused; None when problems were recorded.
Changes = dict[str, Any] | Refused | None


class LeadCommand(Protocol):
    """What a person asks to do to a lead: its lifecycle action, and the change it makes once the
    table allows it. `apply` records problems on the checker, or refuses, or returns the changes
    for the history."""

    action: ClassVar[LeadAction]

    async def apply(
        self, session: AsyncSession, lead: Lead, check: Checker, now: datetime
    ) -> Changes: ...


def lead_state(lead: Lead) -> LeadState:
    return LeadState(LeadStage(lead.stage), LeadOutcome(lead.outcome) if lead.outcome else None)


async def own_lead(
    session: AsyncSession, actor: Actor | None, raw_id: str, *, lock: bool
) -> Lead | Refused:
    """The lead if `actor` may work on it (locked for this transaction when `lock`)."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to work on leads")
    lead_id = parse_id(raw_id, "lead_id")
    if isinstance(lead_id, Refused):
        return lead_id
    # Scoped to the caller's organisation: another partner's lead does not exist for them.
    statement = select(Lead).where(
        Lead.id == lead_id, Lead.organisation_id == actor.organisation_id
    )
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    lead = (await session.execute(statement)).scalar_one_or_none()
    if lead is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such lead", "lead_id")
    if not actor.manages_leads:
        return Refused.one(
            ErrorCode.FORBIDDEN, "only partner admins and referrals admins work on leads"
        )
    return lead


async def act(
    session: AsyncSession,
    actor: Actor | None,
    lead_id: str,
    command: LeadCommand,
    *,
    expected_version: int | None = None,
    now: datetime,
) -> Lead | Refused:
    lead = await own_lead(session, actor, lead_id, lock=True)
    if isinstance(lead, Refused):
        return lead
    applied = await act_on(
        session, actor, lead, command, expected_version=expected_version, now=now
    )
    return applied if isinstance(applied, Refused) else applied.lead


@dataclass(frozen=True, slots=True)
class Applied:
    """A command applied to its lead: the lead after it, and what changed (as in history)."""

    lead: Lead
    changes: Mapping[str, Any]


async def lock_own_leads(
    session: AsyncSession, actor: Actor, lead_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Lead]:
    """The caller's leads among `lead_ids`, locked for this transaction in one statement (in id
    order, so two callers locking overlapping sets never deadlock). Missing ids are absent."""
    statement = (
        select(Lead)
        .where(Lead.id.in_(sorted(set(lead_ids))), Lead.organisation_id == actor.organisation_id)
        .order_by(Lead.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {lead.id: lead for lead in (await session.execute(statement)).scalars()}


def version_conflict(lead: Lead, expected_version: int | None) -> Refused | None:
    """CONFLICT when the caller read another version of the lead than the one locked now."""
    if expected_version is None or expected_version == lead.version:
        return None
    return Refused.one(
        ErrorCode.CONFLICT,
        f"the lead changed since you read it (version {expected_version}, now "
        f"{lead.version}); reload and try again",
        "expected_version",
    )


async def act_on(
    session: AsyncSession,
    actor: Actor | None,
    lead: Lead,
    command: LeadCommand,
    *,
    expected_version: int | None = None,
    now: datetime,
) -> Applied | Refused:
    """`command` on a lead the caller may work on, already locked for this transaction."""
    conflict = version_conflict(lead, expected_version)
    if conflict is not None:
        return conflict
    previous = lead_state(lead)
    step = step_for(previous, command.action)
    if isinstance(step, TransitionRefused):
        return Refused.one(ErrorCode.INVALID_TRANSITION, step.reason)
    before = snapshot(lead)
    checker = Checker()
    changes = await command.apply(session, lead, checker, now)
    if checker.problems:
        return Refused.invalid(checker.problems)
    if isinstance(changes, Refused):
        return changes
    if changes is None:
        changes = {}
    if command.action in IDEMPOTENT_ACTIONS and not changes:
        return Applied(lead, {})  # nothing changed: no new version, no history, no event
    if step.current != previous:
        lead.stage = step.current.stage.value
        lead.outcome = step.current.outcome.value if step.current.outcome else None
        if step.current.stage is LeadStage.ARCHIVED:
            lead.archived_at = now
        if previous.stage is LeadStage.RECEIVED:
            lead.responded_at = now
            if lead.profile_id is not None:
                stage(session, score_profile(lead.profile_id))
    lead.version += 1
    lead.updated_at = now
    await record_step(session, lead, step, actor, now, changes, before)
    return Applied(lead, changes)


def _diff(lead: Lead, values: Mapping[str, Any]) -> dict[str, Any]:
    """Set deal fields on `lead`; return the changes of those that changed."""
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name == "estimated_value":
            old = money_json(lead.estimated_value_amount, lead.estimated_value_currency)
            new = money_json(value.amount, value.currency) if value else None
            if old != new:
                lead.estimated_value_amount = value.amount if value else None
                lead.estimated_value_currency = value.currency if value else None
                changes[api_name(name)] = field_change(old, new)
            continue
        old_value = getattr(lead, name)
        if old_value != value:
            setattr(lead, name, value)
            changes[api_name(name)] = field_change(old_value, value)
    return changes


def _check_money(c: Checker, name: str, money: Money | None, *, required: bool) -> Money | None:
    checked = c.money(
        name,
        money.amount if money else None,
        money.currency if money else None,
        required=required,
    )
    return Money(*checked) if checked else None


def _team_member(lead: Lead, member: TeamMemberInput, now: datetime) -> LeadTeamMember:
    return LeadTeamMember(
        lead_id=lead.id, name=member.name, email=member.email, phone=member.phone, added_at=now
    )


def _check_team_member(c: Checker, member: TeamMemberInput, *path: str) -> TeamMemberInput:
    return TeamMemberInput(
        name=c.text((*path, "name"), member.name, max_len=MAX_NAME, required=True) or "",
        email=c.email((*path, "email"), member.email),
        phone=c.phone((*path, "phone"), member.phone),
    )


def _set_money(lead: Lead, prefix: str, money: Money) -> dict[str, Any]:
    """Set a money pair that has no value before this step (the final value)."""
    setattr(lead, f"{prefix}_amount", money.amount)
    setattr(lead, f"{prefix}_currency", money.currency)
    return {api_name(prefix): field_change(None, money_json(money.amount, money.currency))}


@dataclass(frozen=True, slots=True)
class Accept:
    """RECEIVED -> ACCEPTED with the deal (R6)."""

    action: ClassVar[LeadAction] = LeadAction.ACCEPT
    deal_name: str | None
    estimated_value: Money | None
    estimated_purchase_date: date | None
    notes: str | None = None
    crm_id: str | None = None
    campaign_id: str | None = None
    team_members: Sequence[TeamMemberInput] = ()

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        values = {
            "deal_name": c.text("deal_name", self.deal_name, max_len=MAX_NAME, required=True),
            "estimated_value": _check_money(
                c, "estimated_value", self.estimated_value, required=True
            ),
            "estimated_purchase_date": c.day(
                "estimated_purchase_date", self.estimated_purchase_date, required=True
            ),
            "notes": c.text("notes", self.notes, max_len=MAX_NOTES),
            "crm_id": c.text("crm_id", self.crm_id, max_len=MAX_REF),
            "campaign_id": c.text("campaign_id", self.campaign_id, max_len=MAX_REF)
            or lead.campaign_id,
        }
        if len(self.team_members) > MAX_TEAM_MEMBERS:
            c.fail("team_members", f"at most {MAX_TEAM_MEMBERS} team members")
        members = [
            _check_team_member(c, m, "team_members", str(i))
            for i, m in enumerate(self.team_members)
        ]
        if c.problems:
            return None
        changes = _diff(lead, values)
        session.add_all(_team_member(lead, m, now) for m in members)
        if members:
            changes.update(members_change("added", ((m.name, m.email) for m in members)))
        return changes


@dataclass(frozen=True, slots=True)
class Decline:
    """RECEIVED -> ARCHIVED (DECLINED) with a reason (R6)."""

    action: ClassVar[LeadAction] = LeadAction.DECLINE
    reason: DeclineReason
    notes: str | None = None

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        cleaned = c.reason_notes(self.reason.value, self.notes)
        return _diff(lead, {"decline_reason": self.reason.value, "decline_notes": cleaned})


@dataclass(frozen=True, slots=True)
class Update:
    """Change any of UPDATABLE_DEAL_FIELDS of an accepted lead; absent fields stay as they are."""

    action: ClassVar[LeadAction] = LeadAction.UPDATE
    fields: Mapping[str, Any]

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        unknown = set(self.fields) - set(UPDATABLE_DEAL_FIELDS)
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        if not self.fields:
            c.fail((), "change at least one field")
        values: dict[str, Any] = {}
        for name, value in self.fields.items():
            required = UPDATABLE_DEAL_FIELDS[name]
            if value is None and required:
                c.fail(name, "is required on an accepted lead and cannot be cleared")
                continue
            if name == "estimated_value":
                values[name] = _check_money(c, name, value, required=required)
            elif name == "estimated_purchase_date":
                values[name] = c.day(name, value, required=required)
            elif name == "deal_name":
                values[name] = c.text(name, value, max_len=MAX_NAME, required=True)
            else:
                limit = MAX_NOTES if name == "notes" else MAX_REF
                values[name] = c.text(name, value, max_len=limit)
        if c.problems:
            return None
        return _diff(lead, values)


@dataclass(frozen=True, slots=True)
class AddTeamMember:
    """An employee of the partner joins an accepted lead (R8)."""

    action: ClassVar[LeadAction] = LeadAction.ADD_TEAM_MEMBER
    member: TeamMemberInput

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        checked = _check_team_member(c, self.member)
        existing = await session.scalar(
            select(func.count())
            .select_from(LeadTeamMember)
            .where(LeadTeamMember.lead_id == lead.id)
        )
        if (existing or 0) >= MAX_TEAM_MEMBERS:
            c.fail((), f"a lead has at most {MAX_TEAM_MEMBERS} team members")
        if c.problems:
            return None
        session.add(_team_member(lead, checked, now))
        return members_change("added", [(checked.name, checked.email)])


@dataclass(frozen=True, slots=True)
class RemoveTeamMember:
    action: ClassVar[LeadAction] = LeadAction.REMOVE_TEAM_MEMBER
    member_id: str

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        member_id = parse_id(self.member_id, "member_id")
        if isinstance(member_id, Refused):
            return member_id
        member = (
            await session.execute(
                delete(LeadTeamMember)
                .where(LeadTeamMember.id == member_id, LeadTeamMember.lead_id == lead.id)
                .returning(LeadTeamMember.name, LeadTeamMember.email)
            )
        ).one_or_none()
        if member is None:
            return Refused.one(ErrorCode.NOT_FOUND, "no such team member on this lead", "member_id")
        return members_change("removed", [(member.name, member.email)])


@dataclass(frozen=True, slots=True)
class MarkWon:
    """ACCEPTED -> ARCHIVED (WON) with the final value and closing date (R8)."""

    action: ClassVar[LeadAction] = LeadAction.MARK_WON
    final_value: Money | None
    closing_date: date | None

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        money = _check_money(c, "final_value", self.final_value, required=True)
        day = c.day("closing_date", self.closing_date, required=True)
        if c.problems or money is None:
            return None
        return {**_diff(lead, {"closing_date": day}), **_set_money(lead, "final_value", money)}


@dataclass(frozen=True, slots=True)
class MarkLost:
    """ACCEPTED -> ARCHIVED (LOST) with a reason; the closing date defaults to today (R8)."""

    action: ClassVar[LeadAction] = LeadAction.MARK_LOST
    reason: LostReason
    notes: str | None = None
    final_value: Money | None = None
    closing_date: date | None = None

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        cleaned = c.reason_notes(self.reason.value, self.notes)
        money = _check_money(c, "final_value", self.final_value, required=False)
        day = c.day("closing_date", self.closing_date) or now.date()
        if c.problems:
            return None
        values = {"lost_reason": self.reason.value, "lost_notes": cleaned, "closing_date": day}
        changes = _diff(lead, values)
        if money is not None:
            changes.update(_set_money(lead, "final_value", money))
        return changes


@dataclass(frozen=True, slots=True)
class ContactCustomer:
    """The partner reached the customer (the response clock, issue 11): the first time is kept,
    and the contact-me flame goes out. Allowed while RECEIVED or ACCEPTED (WORKING_STAGES)."""

    action: ClassVar[LeadAction] = LeadAction.CONTACT_CUSTOMER
    # The user who did; None for an API key, which is nobody.
    by: uuid.UUID | None

    async def apply(self, session: AsyncSession, lead: Lead, c: Checker, now: datetime) -> Changes:
        if lead.customer_contacted_at is not None:
            return {}
        lead.customer_contacted_at = now
        lead.customer_contacted_by = self.by
        # ISO 8601, as the API shows times.
        return {api_name("customer_contacted_at"): field_change(None, now.isoformat())}


async def mark_customer_contacted(
    session: AsyncSession,
    actor: Actor | None,
    lead_id: str,
    *,
    expected_version: int | None = None,
    now: datetime,
) -> Lead | Refused:
    """`act` with `ContactCustomer` by the actor."""
    by = actor.user_id if actor is not None and actor.api_key_id is None else None
    command = ContactCustomer(by)
    return await act(session, actor, lead_id, command, expected_version=expected_version, now=now)


async def decline_lead(
    session: AsyncSession,
    actor: Actor | None,
    lead_id: str,
    reason: DeclineReason,
    notes: str | None,
    *,
    now: datetime,
) -> Lead | Refused:
    """`act` with `Decline`, in one call."""
    return await act(session, actor, lead_id, Decline(reason, notes), now=now)


async def set_favorite(
    session: AsyncSession, actor: Actor | None, raw_id: str, favorite: bool
) -> Lead | Refused:
    """Idempotent at any stage; a personal mark, so it neither versions nor records history."""
    lead = await own_lead(session, actor, raw_id, lock=False)
    if isinstance(lead, Refused):
        return lead
    assert actor is not None
    if actor.api_key_id is not None:
        return Refused.one(ErrorCode.FORBIDDEN, "favorites are a person's; an API key has none")
    if favorite:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        await session.execute(
            pg_insert(LeadFavorite)
            .values(user_id=actor.user_id, lead_id=lead.id)
            .on_conflict_do_nothing()
        )
    else:
        await session.execute(
            delete(LeadFavorite).where(
                LeadFavorite.user_id == actor.user_id, LeadFavorite.lead_id == lead.id
            )
        )
    return lead
