"""Mutation inputs. Field names follow the published contract; each maps to a service input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import strawberry

from app.graphql.types.enums import (
    CompanySize,
    DeclineReason,
    LeadOutcome,
    LeadStage,
    LeadType,
    LostReason,
)
from app.graphql.types.rows import to_service
from app.services import lead_queries, leads
from app.services.leads import Money, TeamMemberInput


@strawberry.input(description="An amount in a currency. Decimal travels as a string.")
class MoneyInput:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code, e.g. USD.")

    def to_service(self) -> Money:
        return Money(amount=self.amount, currency=self.currency)


@strawberry.input(name="TeamMemberInput")
class TeamMemberInputType:
    name: str
    email: str | None = None
    phone: str | None = None

    def to_service(self) -> TeamMemberInput:
        return TeamMemberInput(name=self.name, email=self.email, phone=self.phone)


@strawberry.input
class AcceptLeadInput:
    id: strawberry.ID
    expected_version: int | None = None
    deal_name: str
    estimated_value: MoneyInput
    estimated_purchase_date: dt.date
    notes: str | None = None
    crm_id: str | None = None
    campaign_id: str | None = None
    team_members: list[TeamMemberInputType] | None = None

    def to_service(self) -> leads.Accept:
        return leads.Accept(
            deal_name=self.deal_name,
            estimated_value=self.estimated_value.to_service(),
            estimated_purchase_date=self.estimated_purchase_date,
            notes=self.notes,
            crm_id=self.crm_id,
            campaign_id=self.campaign_id,
            team_members=tuple(m.to_service() for m in self.team_members or []),
        )


@strawberry.input
class DeclineLeadInput:
    id: strawberry.ID
    expected_version: int | None = None
    reason: DeclineReason
    notes: str | None = None

    def to_service(self) -> leads.Decline:
        return leads.Decline(self.reason, self.notes)


@strawberry.input(description="Omitted fields stay as they are; null clears an optional field.")
class UpdateLeadInput:
    id: strawberry.ID
    expected_version: int | None = None
    deal_name: str | None = strawberry.UNSET
    estimated_value: MoneyInput | None = strawberry.UNSET
    estimated_purchase_date: dt.date | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    crm_id: str | None = strawberry.UNSET
    campaign_id: str | None = strawberry.UNSET

    def to_service(self) -> leads.Update:
        return leads.Update(self.provided_fields())

    def provided_fields(self) -> dict[str, Any]:
        names = (
            "deal_name",
            "estimated_value",
            "estimated_purchase_date",
            "notes",
            "crm_id",
            "campaign_id",
        )
        provided: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is strawberry.UNSET:
                continue
            provided[name] = value.to_service() if isinstance(value, MoneyInput) else value
        return provided


@strawberry.input
class AddLeadTeamMemberInput:
    id: strawberry.ID
    expected_version: int | None = None
    name: str
    email: str | None = None
    phone: str | None = None

    def to_service(self) -> leads.AddTeamMember:
        return leads.AddTeamMember(TeamMemberInput(self.name, self.email, self.phone))


@strawberry.input
class RemoveLeadTeamMemberInput:
    id: strawberry.ID
    expected_version: int | None = None
    member_id: strawberry.ID

    def to_service(self) -> leads.RemoveTeamMember:
        return leads.RemoveTeamMember(self.member_id)


@strawberry.input
class MarkLeadWonInput:
    id: strawberry.ID
    expected_version: int | None = None
    final_value: MoneyInput
    closing_date: dt.date

    def to_service(self) -> leads.MarkWon:
        return leads.MarkWon(self.final_value.to_service(), self.closing_date)


@strawberry.input
class MarkLeadLostInput:
    id: strawberry.ID
    expected_version: int | None = None
    reason: LostReason
    notes: str | None = None
    final_value: MoneyInput | None = None
    closing_date: dt.date | None = strawberry.field(default=None, description="Defaults to today.")

    def to_service(self) -> leads.MarkLost:
        return leads.MarkLost(
            self.reason,
            self.notes,
            final_value=self.final_value.to_service() if self.final_value else None,
            closing_date=self.closing_date,
        )


@strawberry.input
class SetLeadFavoriteInput:
    id: strawberry.ID
    favorite: bool


@strawberry.input
class LeadFilter:
    types: list[LeadType] | None = None
    stages: list[LeadStage] | None = None
    outcomes: list[LeadOutcome] | None = None
    search: str | None = strawberry.field(
        default=None, description="Words matched as prefixes in company, contact, deal, need."
    )
    received_from: dt.datetime | None = strawberry.field(default=None, description="Inclusive.")
    received_to: dt.datetime | None = strawberry.field(default=None, description="Exclusive.")
    contact_requested: bool | None = None
    updated_after: dt.datetime | None = strawberry.field(
        default=None, description="Changed after this instant (exclusive)."
    )
    crm_ids: list[str] | None = strawberry.field(
        default=None, description="Exactly these CRM ids (at most 100)."
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="The customer's country: ISO 3166-1 alpha-2 codes, e.g. BR."
    )
    industries: list[str] | None = strawberry.field(
        default=None, description="Exactly these industries (at most 50)."
    )
    company_sizes: list[CompanySize] | None = None
    sender_organisation_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Sent by users of these organisations (at most 50)."
    )
    campaign_ids: list[str] | None = strawberry.field(
        default=None, description="Came from these campaigns (at most 50)."
    )
    due_within_hours: int | None = strawberry.field(
        default=None,
        description="RECEIVED leads whose response deadline is in the next N hours (1 to 720).",
    )
    assigned_to_me: bool | None = strawberry.field(
        default=None, description="Leads you own (false: leads you do not own)."
    )
    owners: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Leads owned by these users (at most 50)."
    )
    unassigned: bool | None = strawberry.field(
        default=None, description="Leads nobody owns (false: leads somebody owns)."
    )

    def to_service(self) -> lead_queries.LeadFilter:
        return to_service(lead_queries.LeadFilter, self)


@strawberry.input(description="What a sender narrows sentLeads by: the lead's own facts.")
class SentLeadFilter:
    types: list[LeadType] | None = None
    stages: list[LeadStage] | None = None
    outcomes: list[LeadOutcome] | None = None
    received_from: dt.datetime | None = strawberry.field(default=None, description="Inclusive.")
    received_to: dt.datetime | None = strawberry.field(default=None, description="Exclusive.")
    updated_after: dt.datetime | None = strawberry.field(
        default=None, description="Changed after this instant (exclusive)."
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="The customer's country: ISO 3166-1 alpha-2 codes, e.g. BR."
    )
    industries: list[str] | None = None
    company_sizes: list[CompanySize] | None = None
    campaign_ids: list[str] | None = None

    def to_service(self) -> lead_queries.LeadFilter:
        return lead_queries.LeadFilter(
            **{name: getattr(self, name) for name in lead_queries.SENDER_FILTER_FIELDS}
        )
