"""Lead and its parts: thin views over rows, related rows through the request's loaders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.types import Info

from app.db import models
from app.domain.alerts import contact_alert, seconds_left_to_respond
from app.domain.lifecycle import LeadStage as DomainStage
from app.domain.lifecycle import allowed_actions
from app.domain.reference import in_minor_units
from app.graphql.context import Context
from app.graphql.types.enums import (
    ActorKind,
    CompanySize,
    ContactAlert,
    DeclineReason,
    LeadAction,
    LeadOutcome,
    LeadStage,
    LeadTab,
    LeadType,
    LostReason,
)


@strawberry.type
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code.")


def money(amount: Decimal | None, currency: str | None) -> Money | None:
    if amount is None or not currency:
        return None
    return Money(amount=in_minor_units(amount, currency), currency=currency)


@strawberry.type(description="The customer and what they need.")
class Customer:
    company_name: str
    company_size: CompanySize  # type: ignore[valid-type]
    industry: str | None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    contact_name: str
    contact_email: str
    contact_phone: str | None
    need: str
    contact_requested: bool = strawberry.field(
        description="The customer asked partners to contact them directly (the flame, R7)."
    )
    consent_to_contact: bool


@strawberry.type(description="What the partner reports about the deal (R6, R8, R14).")
class Deal:
    name: str | None
    estimated_value: Money | None
    estimated_purchase_date: dt.date | None
    notes: str | None
    crm_id: str | None
    campaign_id: str | None
    decline_reason: DeclineReason | None  # type: ignore[valid-type]
    decline_notes: str | None
    final_value: Money | None
    closing_date: dt.date | None
    lost_reason: LostReason | None  # type: ignore[valid-type]
    lost_notes: str | None


@strawberry.type(description="A partner employee working on an accepted lead.")
class TeamMember:
    id: strawberry.ID
    name: str
    email: str | None
    phone: str | None
    added_at: dt.datetime

    @classmethod
    def from_row(cls, row: models.LeadTeamMember) -> TeamMember:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            email=row.email,
            phone=row.phone,
            added_at=row.added_at,
        )


@strawberry.type
class FieldChange:
    field: str
    from_value: strawberry.scalars.JSON | None = strawberry.field(name="from")
    to_value: strawberry.scalars.JSON | None = strawberry.field(name="to")


@strawberry.type(description="Who did something: a user, or the system (expiry, intake).")
class HistoryActor:
    kind: ActorKind  # type: ignore[valid-type]
    name: str | None


@strawberry.type(description="One applied lifecycle action (R10).")
class LeadHistoryEntry:
    row: strawberry.Private[models.LeadHistory]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def action(self) -> LeadAction:  # type: ignore[valid-type]
        return self.row.action  # type: ignore[return-value]

    @strawberry.field
    def from_stage(self) -> LeadStage | None:  # type: ignore[valid-type]
        return self.row.from_stage  # type: ignore[return-value]

    @strawberry.field
    def to_stage(self) -> LeadStage:  # type: ignore[valid-type]
        return self.row.to_stage  # type: ignore[return-value]

    @strawberry.field
    def outcome(self) -> LeadOutcome | None:  # type: ignore[valid-type]
        return self.row.outcome  # type: ignore[return-value]

    @strawberry.field
    def at(self) -> dt.datetime:
        return self.row.at

    @strawberry.field
    async def actor(self, info: Info[Context, None]) -> HistoryActor:
        if self.row.actor_user_id is None:
            return HistoryActor(kind=self.row.actor_kind, name=None)  # type: ignore[arg-type]
        user = await info.context.user_by_id.load(self.row.actor_user_id)
        return HistoryActor(kind=self.row.actor_kind, name=user.name if user else None)  # type: ignore[arg-type]

    @strawberry.field(description="What the action changed, field by field.")
    def changes(self) -> list[FieldChange]:
        result = []
        for name, change in (self.row.changes or {}).items():
            if isinstance(change, dict) and set(change) == {"from", "to"}:
                result.append(
                    FieldChange(field=name, from_value=change["from"], to_value=change["to"])
                )
            else:
                result.append(FieldChange(field=name, from_value=None, to_value=change))
        return result


@strawberry.type(description="Who sent the lead: the customer, platform staff, or a partner.")
class LeadSender:
    kind: str = strawberry.field(description="CUSTOMER, PLATFORM or PARTNER.")
    name: str | None
    organisation_name: str | None


@strawberry.type(description="A lead in a partner's inbox.")
class Lead:
    row: strawberry.Private[models.Lead]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(
        description="Increases on every change; pass as expectedVersion to act safely."
    )
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def type(self) -> LeadType:  # type: ignore[valid-type]
        return self.row.type  # type: ignore[return-value]

    @strawberry.field
    def tab(self) -> LeadTab:  # type: ignore[valid-type]
        return self.row.tab  # type: ignore[return-value]

    @strawberry.field
    def stage(self) -> LeadStage:  # type: ignore[valid-type]
        return self.row.stage  # type: ignore[return-value]

    @strawberry.field
    def outcome(self) -> LeadOutcome | None:  # type: ignore[valid-type]
        return self.row.outcome  # type: ignore[return-value]

    @strawberry.field
    def received_at(self) -> dt.datetime:
        return self.row.received_at

    @strawberry.field(description="Answer (accept or decline) before this, or the lead expires.")
    def respond_by(self) -> dt.datetime:
        return self.row.respond_by

    @strawberry.field(
        description="Seconds left to accept or decline; 0 when overdue, null once answered."
    )
    def time_left_to_respond(self, info: Info[Context, None]) -> int | None:
        return seconds_left_to_respond(
            stage=DomainStage(self.row.stage),
            respond_by=self.row.respond_by,
            now=info.context.now,
        )

    @strawberry.field
    def responded_at(self) -> dt.datetime | None:
        return self.row.responded_at

    @strawberry.field
    def archived_at(self) -> dt.datetime | None:
        return self.row.archived_at

    @strawberry.field
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field
    def contact_alert(self, info: Info[Context, None]) -> ContactAlert | None:  # type: ignore[valid-type]
        return contact_alert(  # type: ignore[return-value]
            contact_requested=self.row.contact_requested,
            received_at=self.row.received_at,
            stage=DomainStage(self.row.stage),
            now=info.context.now,
            urgent_hours=info.context.settings.contact_alert_urgent_hours,
        )

    @strawberry.field(description="What the viewer may do now; render buttons from this.")
    def allowed_actions(self) -> list[LeadAction]:  # type: ignore[valid-type]
        return allowed_actions(DomainStage(self.row.stage))  # type: ignore[return-value]

    @strawberry.field(description="Marked with the heart by the viewer (R5).")
    async def is_favorite(self, info: Info[Context, None]) -> bool:
        return bool(await info.context.favorite_by_lead.load(self.row.id))

    @strawberry.field
    def customer(self) -> Customer:
        r = self.row
        return Customer(
            company_name=r.company_name,
            company_size=r.company_size,  # type: ignore[arg-type]
            industry=r.industry,
            country=r.country,
            contact_name=r.contact_name,
            contact_email=r.contact_email,
            contact_phone=r.contact_phone,
            need=r.need,
            contact_requested=r.contact_requested,
            consent_to_contact=r.consent_to_contact,
        )

    @strawberry.field(
        description="Null until the lead has deal data (accepted, declined, or sent "
        "with a campaign id)."
    )
    def deal(self) -> Deal | None:
        r = self.row
        deal = Deal(
            name=r.deal_name,
            estimated_value=money(r.estimated_value_amount, r.estimated_value_currency),
            estimated_purchase_date=r.estimated_purchase_date,
            notes=r.notes,
            crm_id=r.crm_id,
            campaign_id=r.campaign_id,
            decline_reason=r.decline_reason,  # type: ignore[arg-type]
            decline_notes=r.decline_notes,
            final_value=money(r.final_value_amount, r.final_value_currency),
            closing_date=r.closing_date,
            lost_reason=r.lost_reason,  # type: ignore[arg-type]
            lost_notes=r.lost_notes,
        )
        return deal if any(v is not None for v in vars(deal).values()) else None

    @strawberry.field
    async def sender(self, info: Info[Context, None]) -> LeadSender:
        r = self.row
        if r.sender_organisation_id is None:
            return LeadSender(
                kind="CUSTOMER", name=r.contact_name, organisation_name=r.company_name
            )
        # Both loads are requested before either is awaited, so they batch with other leads'.
        org_load = info.context.organisation_by_id.load(r.sender_organisation_id)
        user_load = info.context.user_by_id.load(r.sender_user_id) if r.sender_user_id else None
        org = await org_load
        user = await user_load if user_load is not None else None
        return LeadSender(
            kind=org.kind if org else "PLATFORM",
            name=user.name if user else None,
            organisation_name=org.name if org else None,
        )

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> list[TeamMember]:
        rows = await info.context.team_by_lead.load(self.row.id)
        return [TeamMember.from_row(m) for m in rows]

    @strawberry.field
    async def history(self, info: Info[Context, None]) -> list[LeadHistoryEntry]:
        rows = await info.context.history_by_lead.load(self.row.id)
        return [LeadHistoryEntry(row=h) for h in rows]


@strawberry.type
class LeadEdge:
    cursor: str
    node: Lead


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class LeadCount:
    tab: LeadTab  # type: ignore[valid-type]
    stage: LeadStage  # type: ignore[valid-type]
    count: int
