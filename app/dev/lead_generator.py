"""Leads in plausible states for seeded inboxes.

A generated lead takes one of the lifecycle paths in `lead_paths`: its stage, outcome and
version are where the path ends, and each step is one history row (action, stages, outcome
and actor kind from the step's Transition), so a seeded lead's history agrees with its state
as a real one's does.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.dev.catalogue import (
    COMPANIES,
    COUNTRIES,
    CURRENCIES,
    DEAL_KINDS,
    FIRST,
    INDUSTRIES,
    LAST,
    NEEDS,
)
from app.dev.copy_writer import LEAD_COLUMNS, LeadRows
from app.dev.lead_paths import COVERING_LEADS, SEEDED_PATHS, SeededPath, actor_of
from app.dev.partners import Partner, Senders
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadType, Transition
from app.domain.reference import CompanySize, DeclineReason, LostReason
from app.services.history import api_name, field_change

A = LeadAction


def _history_record(
    lead_id: uuid.UUID,
    step: Transition,
    actor_user_id: uuid.UUID | None,
    changes: dict[str, Any],
    at: datetime,
    version: int,
) -> tuple[Any, ...]:
    """A `lead_history` row (HISTORY_COLUMNS order) for one step."""
    return (
        lead_id,
        step.action.value,
        step.previous.stage.value if step.previous else None,
        step.current.stage.value,
        step.current.outcome.value if step.current.outcome else None,
        actor_of(step.action).value,
        actor_user_id,
        json.dumps(changes),
        version,
        at,
    )


@dataclass
class _Draft:
    """A lead being generated: its column values, filled in step by step."""

    rng: random.Random
    lead_id: uuid.UUID
    partner: Partner
    company: str
    estimate: Decimal
    currency: str
    received_at: datetime
    # When a person moved the lead on from RECEIVED, for paths that leave it.
    answered_at: datetime | None
    window: timedelta
    now: datetime
    rows: LeadRows
    columns: dict[str, Any] = field(default_factory=lambda: dict.fromkeys(LEAD_COLUMNS))

    def apply(self, action: LeadAction) -> tuple[datetime, dict[str, Any]]:
        """Fill in what `action` sets on the lead; return when it happened and the changes its
        history row records."""
        match action:
            case A.RECEIVE:
                return self.received_at, {}
            case A.EXPIRE:
                return self.received_at + self.window, {}
            case A.ACCEPT:
                return self._accept()
            case A.DECLINE:
                return self._decline()
            case A.MARK_WON | A.MARK_LOST:
                return self._close(won=action is A.MARK_WON)
        raise ValueError(f"seeded leads do not take {action.value}")

    def _answer(self) -> datetime:
        assert self.answered_at is not None
        self.columns["responded_at"] = self.answered_at
        return self.answered_at

    def _accept(self) -> tuple[datetime, dict[str, Any]]:
        at = self._answer()
        rng = self.rng
        deal_name = f"{self.company} - {rng.choice(DEAL_KINDS)}"
        self.columns.update(
            deal_name=deal_name,
            estimated_value_amount=self.estimate,
            estimated_value_currency=self.currency,
            estimated_purchase_date=(
                self.received_at + timedelta(days=rng.randint(30, 180))
            ).date(),
            notes=rng.choice(NEEDS),
            crm_id=f"CRM-{rng.randint(10000, 99999)}",
        )
        for _ in range(rng.choice([0, 1, 2])):
            member = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            self.rows.team.append(
                (
                    uuid.uuid4(),
                    self.lead_id,
                    member,
                    f"{member.split()[0].lower()}@{self.partner.slug}.example",
                    f"+1 555 01{rng.randint(10, 99)}",
                    at,
                )
            )
        return at, {api_name("deal_name"): field_change(None, deal_name)}

    def _decline(self) -> tuple[datetime, dict[str, Any]]:
        at = self._answer()
        reason = self.rng.choice(list(DeclineReason))
        self.columns.update(
            decline_reason=reason.value,
            decline_notes="Outside our regions"
            if reason is DeclineReason.OTHER
            else self.rng.choice([None, "Not a fit right now"]),
        )
        return at, {api_name("decline_reason"): field_change(None, reason.value)}

    def _close(self, *, won: bool) -> tuple[datetime, dict[str, Any]]:
        assert self.answered_at is not None
        closed_at = self.answered_at + timedelta(days=self.rng.uniform(5, 60))
        if closed_at > self.now:
            closed_at = self.now - timedelta(hours=1)
        self.columns["closing_date"] = closed_at.date()
        if won:
            self.columns.update(
                final_value_amount=self.estimate * Decimal(self.rng.choice(["0.8", "1", "1.2"])),
                final_value_currency=self.currency,
            )
        else:
            reason = self.rng.choice(list(LostReason))
            self.columns.update(
                lost_reason=reason.value,
                lost_notes="Went with an in-house team" if reason is LostReason.OTHER else None,
            )
        return closed_at, {}


def _received_ago(rng: random.Random, path: SeededPath, response_days: int) -> timedelta:
    if path.end.stage is LeadStage.RECEIVED:
        # Still open: some fresh flames, some close to their deadline, none overdue.
        return rng.choice(
            [
                timedelta(hours=rng.uniform(1, 70)),
                timedelta(days=response_days) - timedelta(hours=rng.uniform(2, 30)),
                timedelta(days=rng.uniform(1, response_days - 1)),
            ]
        )
    return timedelta(days=rng.uniform(response_days + 1, 200))


def _sender(
    rng: random.Random, lead_type: LeadType, partner: Partner, senders: Senders
) -> tuple[uuid.UUID | None, uuid.UUID | None, str | None]:
    """(sender user, sender organisation, campaign) for a lead of `lead_type`."""
    if lead_type is LeadType.MARKETING_QUALIFIED:
        return senders.marketer, senders.platform_org, f"CMP-{rng.randint(1000, 9999)}"
    if lead_type is LeadType.SALES_QUALIFIED:
        others = [p for p in senders.partners if p.slug != partner.slug]
        if others and rng.random() < 0.2:  # a partner referring a lead it cannot serve
            referrer = rng.choice(others)
            return referrer.manager_ids[0], referrer.organisation_id, None
        return senders.seller, senders.platform_org, None
    return None, None, None


def generate_lead(
    rng: random.Random,
    partner: Partner,
    senders: Senders,
    now: datetime,
    response_days: int,
    rows: LeadRows,
    *,
    index: int | None = None,
) -> None:
    """One lead with its history, team and favorites, added to `rows`. `index` is the lead's
    place in its inbox: the first COVERING_LEADS cover every (type, path) pair."""
    # Drawn even for covering leads, so every lead consumes the random stream alike.
    lead_type = rng.choice(list(LeadType))
    if index is not None and index < COVERING_LEADS:
        lead_type = list(LeadType)[index // len(SEEDED_PATHS)]
        path = SEEDED_PATHS[index % len(SEEDED_PATHS)]
    else:
        path = rng.choices(SEEDED_PATHS, weights=[p.weight for p in SEEDED_PATHS])[0]
    received_at = now - _received_ago(rng, path, response_days)
    company = f"{rng.choice(COMPANIES)} {rng.choice(['', 'Group', 'Labs', 'Corp'])}".strip()
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    sender_user, sender_org, campaign = _sender(rng, lead_type, partner, senders)
    manager = rng.choice(partner.manager_ids)
    currency = rng.choice(CURRENCIES)
    estimate = Decimal(rng.randrange(5, 500) * 1000)
    # Drawn for every lead that leaves RECEIVED, an expired one too (nobody answered it), so
    # the random stream, and with it the bench world, stays as it was.
    answered_at = (
        received_at + timedelta(hours=rng.uniform(1, 24 * (response_days - 1)))
        if len(path.steps) > 1
        else None
    )
    draft = _Draft(
        rng,
        uuid.uuid4(),
        partner,
        company,
        estimate,
        currency,
        received_at,
        answered_at,
        timedelta(days=response_days),
        now,
        rows,
    )
    at = received_at
    for version, step in enumerate(path.steps, start=1):
        at, changes = draft.apply(step.action)
        if step.current.stage is LeadStage.ARCHIVED:
            draft.columns["archived_at"] = at
        actor = manager if actor_of(step.action) is ActorKind.USER else None
        rows.history.append(_history_record(draft.lead_id, step, actor, changes, at, version))
    draft.columns.update(
        id=draft.lead_id,
        organisation_id=partner.organisation_id,
        profile_id=partner.profile_id,
        type=lead_type.value,
        stage=path.end.stage.value,
        outcome=path.end.outcome.value if path.end.outcome else None,
        company_name=company,
        company_size=rng.choice(list(CompanySize)).value,
        industry=rng.choice(INDUSTRIES),
        country=rng.choice(COUNTRIES),
        contact_name=contact,
        contact_email=(
            f"{contact.split()[0].lower()}.{contact.split()[1].lower()}"
            f"@{company.split()[0].lower().replace(chr(39), '')}.example"
        ),
        contact_phone=rng.choice([None, f"+1 555 {rng.randint(1000, 9999)}"]),
        need=rng.choice(NEEDS),
        contact_requested=lead_type is LeadType.CUSTOMER_INQUIRY and rng.random() < 0.35,
        consent_to_contact=True,
        sender_user_id=sender_user,
        sender_organisation_id=sender_org,
        campaign_id=campaign,
        received_at=received_at,
        respond_by=received_at + draft.window,
        version=len(path.steps),
        created_at=received_at,
        updated_at=at,
    )
    rows.leads.append(tuple(draft.columns[c] for c in LEAD_COLUMNS))
    if rng.random() < 0.1:
        rows.favorites.append((manager, draft.lead_id, now))
