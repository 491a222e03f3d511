"""Domain vocabularies exposed as GraphQL enums (the domain's StrEnums are the single source)."""

from __future__ import annotations

import strawberry

from app.domain import alerts, lifecycle, reference, roles
from app.services import lead_queries

LeadType = strawberry.enum(lifecycle.LeadType, description="Where a lead came from (R3, R4).")
LeadStage = strawberry.enum(
    lifecycle.LeadStage, description="RECEIVED -> ACCEPTED -> ARCHIVED, or RECEIVED -> ARCHIVED."
)
LeadOutcome = strawberry.enum(
    lifecycle.LeadOutcome, description="How an archived lead ended; set exactly when ARCHIVED."
)
LeadAction = strawberry.enum(
    lifecycle.LeadAction,
    description="Lifecycle actions. RECEIVE and EXPIRE are taken by the system only.",
)
ActorKind = strawberry.enum(lifecycle.ActorKind)
ContactAlert = strawberry.enum(
    alerts.ContactAlert,
    description="The flame (R7): URGENT for 72 hours after a contact-me lead arrives, then "
    "REMINDER while it is open.",
)
CompanySize = strawberry.enum(reference.CompanySize, description="Partner Center's size bands.")
DeclineReason = strawberry.enum(
    reference.DeclineReason, description="Why a partner declines; OTHER requires notes."
)
LostReason = strawberry.enum(
    reference.LostReason, description="Why a deal was lost; OTHER requires notes."
)
Role = strawberry.enum(roles.Role)
LeadTab = strawberry.enum(lead_queries.LeadTab, description="The three top-level tabs (R5).")
LeadOrder = strawberry.enum(
    lead_queries.LeadOrder, description="List orders; each pages with keyset cursors."
)
