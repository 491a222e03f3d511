"""Lead and its parts: thin views over rows, related rows through the request's loaders."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson
import strawberry
from strawberry.types import Info

from app.db import models
from app.domain.alerts import contact_alert, seconds_left_to_respond
from app.domain.lifecycle import allowed_actions, tab_of
from app.domain.privacy import shown
from app.domain.reference import in_minor_units
from app.graphql.context import Context
from app.graphql.errors import query_error
from app.graphql.reads import Column, Computed, Nested, Read, Records, Run, columns
from app.graphql.types.activity import LeadActivity
from app.graphql.types.customer import CUSTOMER_READS, HIDING_COLUMNS, Customer, hidden_in_run
from app.graphql.types.enums import (
    ContactAlert,
    DeclineReason,
    LeadAction,
    LeadOutcome,
    LeadStage,
    LeadTab,
    LeadType,
    LostReason,
)
from app.graphql.types.history import LeadHistoryEntry
from app.graphql.types.node import Node
from app.graphql.types.rows import from_rows
from app.services.activities import activities_key
from app.services.compiled_reads import HISTORY_COLUMNS, OWNER_COLUMNS, TEAM_COLUMNS
from app.services.errors import Refused
from app.services.paging import Page


@strawberry.type
class Money:
    amount: Decimal
    currency: str = strawberry.field(description="ISO 4217 code.")


def money(amount: Decimal | None, currency: str | None) -> Money | None:
    if amount is None or not currency:
        return None
    return Money(amount=in_minor_units(amount, currency), currency=currency)


@strawberry.type(description="What the partner reports about the deal (R6, R8, R14).")
class Deal:
    name: str | None
    estimated_value: Money | None
    estimated_purchase_date: dt.date | None
    notes: str | None
    crm_id: str | None
    campaign_id: str | None
    decline_reason: DeclineReason | None
    decline_notes: str | None
    final_value: Money | None
    closing_date: dt.date | None
    lost_reason: LostReason | None
    lost_notes: str | None


@strawberry.type(description="A partner employee working on an accepted lead.")
class TeamMember:
    id: strawberry.ID
    name: str
    email: str | None
    phone: str | None
    added_at: dt.datetime


@strawberry.type(description="Who sent the lead: the customer, platform staff, or a partner.")
class LeadSender:
    kind: str = strawberry.field(description="CUSTOMER, PLATFORM or PARTNER.")
    name: str | None
    organisation_name: str | None


@strawberry.type(description="The lead manager of the partner who works a lead (its owner).")
class LeadOwner:
    id: strawberry.ID
    name: str
    email: str


@strawberry.type(description="A lead in a partner's inbox.")
class Lead(Node):
    """Plain data built once per row: only fields that need a loader have resolvers, because
    strawberry's per-resolver overhead dominates a page of leads otherwise."""

    id: strawberry.ID
    version: int = strawberry.field(
        description="Increases on every change; pass as expectedVersion to act safely."
    )
    type: LeadType
    tab: LeadTab
    stage: LeadStage
    outcome: LeadOutcome | None
    received_at: dt.datetime
    respond_by: dt.datetime = strawberry.field(
        description="Answer (accept or decline) before this, or the lead expires."
    )
    time_left_to_respond: int | None = strawberry.field(
        description="Seconds left to accept or decline; 0 when overdue, null once answered."
    )
    responded_at: dt.datetime | None
    archived_at: dt.datetime | None
    updated_at: dt.datetime
    contact_alert: ContactAlert | None
    allowed_actions: list[LeadAction] = strawberry.field(
        description="What the viewer may do now; render buttons from this."
    )
    customer: Customer
    deal: Deal | None = strawberry.field(
        description="Null until the lead has deal data (accepted, declined, or sent with a "
        "campaign id)."
    )
    row: strawberry.Private[models.Lead]
    # Whether the viewer works this lead (its partner's lead managers). Senders (sentLeads)
    # and customers (submitInquiry) see its state, never the partner's deal, team or history.
    works_it: strawberry.Private[bool]
    possible_duplicate_of: strawberry.ID | None = strawberry.field(
        description="A recent lead of this partner for the same customer, if any."
    )
    engagement_id: strawberry.ID | None = strawberry.field(
        description="Leads about one customer engagement share this id."
    )
    rerouted_from: strawberry.ID | None = strawberry.field(
        description="The declined or expired lead this one was offered on from (autoReroute)."
    )
    customer_contacted_at: dt.datetime | None = strawberry.field(
        description="When the partner first marked the customer contacted (the flame goes out)."
    )
    last_activity_at: dt.datetime | None = strawberry.field(
        description="When the newest logged activity happened (addLeadNote)."
    )

    @classmethod
    def from_row(cls, r: models.Lead, context: Context) -> Lead:
        stage = LeadStage(r.stage)
        lead_type = LeadType(r.type)
        actor = context.actor
        works_it = bool(
            actor and actor.manages_leads and actor.organisation_id == r.organisation_id
        )
        deal = Deal(
            name=r.deal_name,
            estimated_value=money(r.estimated_value_amount, r.estimated_value_currency),
            estimated_purchase_date=r.estimated_purchase_date,
            notes=r.notes,
            crm_id=r.crm_id,
            campaign_id=r.campaign_id,
            decline_reason=DeclineReason(r.decline_reason) if r.decline_reason else None,
            decline_notes=r.decline_notes,
            final_value=money(r.final_value_amount, r.final_value_currency),
            closing_date=r.closing_date,
            lost_reason=LostReason(r.lost_reason) if r.lost_reason else None,
            lost_notes=r.lost_notes,
        )
        return cls(
            id=strawberry.ID(str(r.id)),
            version=r.version,
            type=lead_type,
            tab=tab_of(lead_type),
            stage=stage,
            outcome=LeadOutcome(r.outcome) if r.outcome else None,
            received_at=r.received_at,
            respond_by=r.respond_by,
            time_left_to_respond=seconds_left_to_respond(
                stage=stage, respond_by=r.respond_by, now=context.now
            ),
            responded_at=r.responded_at,
            archived_at=r.archived_at,
            updated_at=r.updated_at,
            contact_alert=contact_alert(
                contact_requested=r.contact_requested,
                received_at=r.received_at,
                stage=stage,
                now=context.now,
                urgent_hours=context.settings.contact_alert_urgent_hours,
                contacted=r.customer_contacted_at is not None,
            ),
            allowed_actions=allowed_actions(stage) if works_it else [],
            customer=Customer.from_row(r, context.now, context.settings.contact_hidden_after_days),
            deal=deal if works_it and any(v is not None for v in vars(deal).values()) else None,
            row=r,
            works_it=works_it,
            possible_duplicate_of=_id(r.possible_duplicate_of) if works_it else None,
            engagement_id=_id(r.engagement_id),
            rerouted_from=_id(r.rerouted_from) if works_it else None,
            customer_contacted_at=r.customer_contacted_at if works_it else None,
            last_activity_at=r.last_activity_at if works_it else None,
        )

    @strawberry.field(description="Marked with the heart by the viewer (R5).")
    async def is_favorite(self, info: Info[Context, None]) -> bool:
        if not self.works_it:
            return False
        return bool(await info.context.loaders.favorite_by_lead.load(self.row.id))

    @strawberry.field
    async def sender(self, info: Info[Context, None]) -> LeadSender:
        r = self.row
        if r.sender_organisation_id is None:
            name = shown(r.contact_name, self.customer.contact_hidden)
            return LeadSender(kind="CUSTOMER", name=name, organisation_name=r.company_name)
        # Both loads are requested before either is awaited, so they batch with other leads'.
        org_load = info.context.loaders.organisation_by_id.load(r.sender_organisation_id)
        user_load = (
            info.context.loaders.user_by_id.load(r.sender_user_id) if r.sender_user_id else None
        )
        org = await org_load
        user = await user_load if user_load is not None else None
        return LeadSender(
            kind=org.kind if org else "PLATFORM",
            name=user.name if user else None,
            organisation_name=org.name if org else None,
        )

    @strawberry.field(
        description="The partner's lead manager working the lead (assignLead, routing rules); "
        "null while nobody owns it. Only the partner's lead managers see it."
    )
    async def owner(self, info: Info[Context, None]) -> LeadOwner | None:
        owner_id = self.row.owner_user_id
        if not self.works_it or owner_id is None:
            return None
        user = await info.context.loaders.user_by_id.load(owner_id)
        if user is None:
            return None
        return LeadOwner(id=strawberry.ID(str(user.id)), name=user.name, email=user.email)

    @strawberry.field
    async def team(self, info: Info[Context, None]) -> list[TeamMember]:
        if not self.works_it:
            return []
        rows = await info.context.loaders.team_by_lead.load(self.row.id)
        return from_rows(TeamMember, rows)

    @strawberry.field
    async def history(self, info: Info[Context, None]) -> list[LeadHistoryEntry]:
        if not self.works_it:
            return []
        rows = await info.context.loaders.history_by_lead.load(self.row.id)
        return [LeadHistoryEntry.from_row(h) for h in rows]

    @strawberry.field(
        description="The activity log, newest first: `first` (default 20, at most 100) entries "
        "older than the activity `after` (the last id of the previous page)."
    )
    async def activities(
        self, info: Info[Context, None], first: int = 20, after: strawberry.ID | None = None
    ) -> list[LeadActivity]:
        key = activities_key(self.row.id, first, after)
        if isinstance(key, Refused):
            raise query_error(key)
        if not self.works_it:
            return []
        return [LeadActivity.from_row(a) for a in await info.context.loaders.activities.load(key)]


def _id(value: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


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

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        cursors = page.cursors
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )


@strawberry.type
class LeadCount:
    tab: LeadTab
    stage: LeadStage
    count: int


# --- how the compiled read path reads these types (app/graphql/compiled.py) ----------------------
# The same domain functions as the strawberry types above; what a field needs is named here and
# fetched by app/services/compiled_reads.py. Related rows: "team", "history", "sender", "favorite".


# The domain's answer for each stage, worked out once.
_ACTIONS = {stage.value: allowed_actions(stage) for stage in LeadStage}


def works_it(run: Run, organisation_id: uuid.UUID) -> bool:
    """The viewer is one of the lead's partner's lead managers (see `Lead.works_it`)."""
    actor = run.actor
    return bool(actor and actor.manages_leads and actor.organisation_id == organisation_id)


def _when_worked(run: Run, organisation_id: uuid.UUID, value: Any) -> Any:
    return value if works_it(run, organisation_id) else None


def _money_row(run: Run, amount: Decimal | None, currency: str | None) -> Any:
    return None if amount is None or not currency else (in_minor_units(amount, currency), currency)


def _changes_rows(run: Run, changes: str) -> list[tuple[str, Any, Any]]:
    """History changes as `LeadHistoryEntry.from_row` lists them: {field: {from, to}} or a
    value that is only a `to`."""
    rows = []
    for name, change in orjson.loads(changes).items():
        if isinstance(change, dict) and set(change) == {"from", "to"}:
            rows.append((name, change["from"], change["to"]))
        else:
            rows.append((name, None, change))
    return rows


def _sender_row(
    run: Run,
    sender_organisation_id: uuid.UUID | None,
    outcome: str | None,
    archived_at: dt.datetime | None,
    redacted_at: dt.datetime | None,
    contact_name: str,
    company_name: str,
    sender: tuple[str, str, str | None] | None,
) -> tuple[str, str | None, str | None]:
    """(kind, name, organisation name), as `Lead.sender` answers."""
    if sender_organisation_id is None:
        hidden = hidden_in_run(run, outcome, archived_at, redacted_at)
        return ("CUSTOMER", shown(contact_name, hidden), company_name)
    if sender is None:
        return ("PLATFORM", None, None)
    kind, organisation_name, user_name = sender
    return (kind, user_name, organisation_name)


_MONEY = columns("amount", "currency")
DEAL_READS: dict[str, Read] = {
    **columns(
        "estimated_purchase_date",
        "notes",
        "crm_id",
        "campaign_id",
        "decline_reason",
        "decline_notes",
        "closing_date",
        "lost_reason",
        "lost_notes",
    ),
    "name": Column("deal_name"),
    "estimated_value": Records(
        ("estimated_value_amount", "estimated_value_currency"),
        _money_row,
        ("amount", "currency"),
        _MONEY,
        single=True,
    ),
    "final_value": Records(
        ("final_value_amount", "final_value_currency"),
        _money_row,
        ("amount", "currency"),
        _MONEY,
        single=True,
    ),
}
HISTORY_READS: dict[str, Read] = {
    **columns("id", "action", "from_stage", "to_stage", "outcome", "at"),
    "changes": Records(
        ("changes",),
        _changes_rows,
        ("field", "from", "to"),
        {"field": Column("field"), "from_value": Column("from"), "to_value": Column("to")},
    ),
    "actor": Nested({"kind": Column("actor_kind"), "name": Column("actor_name")}),
}
LEAD_READS: dict[str, Read] = {
    **columns(
        "id",
        "version",
        "type",
        "stage",
        "outcome",
        "received_at",
        "respond_by",
        "responded_at",
        "archived_at",
        "updated_at",
        "engagement_id",
    ),
    "tab": Computed(("type",), lambda run, lead_type: tab_of(LeadType(lead_type))),
    "time_left_to_respond": Computed(
        ("stage", "respond_by"),
        lambda run, stage, respond_by: seconds_left_to_respond(
            stage=LeadStage(stage), respond_by=respond_by, now=run.now
        ),
    ),
    "contact_alert": Computed(
        ("contact_requested", "received_at", "stage", "customer_contacted_at"),
        lambda run, requested, received_at, stage, contacted_at: contact_alert(
            contact_requested=requested,
            received_at=received_at,
            stage=LeadStage(stage),
            now=run.now,
            urgent_hours=run.settings.contact_alert_urgent_hours,
            contacted=contacted_at is not None,
        ),
    ),
    "allowed_actions": Computed(
        ("organisation_id", "stage"),
        lambda run, org, stage: _ACTIONS[stage] if works_it(run, org) else [],
    ),
    "possible_duplicate_of": Computed(("organisation_id", "possible_duplicate_of"), _when_worked),
    "rerouted_from": Computed(("organisation_id", "rerouted_from"), _when_worked),
    "customer_contacted_at": Computed(("organisation_id", "customer_contacted_at"), _when_worked),
    "last_activity_at": Computed(("organisation_id", "last_activity_at"), _when_worked),
    "customer": Nested(CUSTOMER_READS),
    "deal": Nested(
        DEAL_READS,
        present=Computed(
            ("organisation_id", "has_deal"),
            lambda run, org, has_deal: has_deal and works_it(run, org),
        ),
    ),
    "is_favorite": Computed(
        ("organisation_id", "favorite"),
        lambda run, org, favorite: bool(favorite) and works_it(run, org),
    ),
    "sender": Records(
        ("sender_organisation_id", *HIDING_COLUMNS, "contact_name", "company_name", "sender"),
        _sender_row,
        ("kind", "name", "organisation_name"),
        columns("kind", "name", "organisation_name"),
        single=True,
    ),
    "owner": Records(
        ("organisation_id", "owner"),
        lambda run, org, owner: owner if works_it(run, org) else None,
        OWNER_COLUMNS,
        columns(*OWNER_COLUMNS),
        single=True,
    ),
    "team": Records(
        ("organisation_id", "team"),
        lambda run, org, team: (team or []) if works_it(run, org) else [],
        TEAM_COLUMNS,
        columns(*TEAM_COLUMNS),
    ),
    "history": Records(
        ("organisation_id", "history"),
        lambda run, org, history: (history or []) if works_it(run, org) else [],
        HISTORY_COLUMNS,
        HISTORY_READS,
    ),
}
LEAD_COUNT_READS = columns("tab", "stage", "count")
