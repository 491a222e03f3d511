"""Domain vocabularies exposed as GraphQL enums. The domain's StrEnums are the single source:
each is registered with strawberry here and re-exported as it is, so a field typed `LeadStage`
holds the domain's own `LeadStage` (import enums for the schema from this module, which
registers them)."""

from __future__ import annotations

import strawberry

from app.domain.alerts import ContactAlert
from app.domain.lifecycle import ActorKind, LeadAction, LeadOutcome, LeadStage, LeadTab, LeadType
from app.domain.reference import CompanySize, DeclineReason, LostReason
from app.domain.roles import Role
from app.services.lead_queries import LeadOrder

__all__ = [
    "ActorKind",
    "CompanySize",
    "ContactAlert",
    "DeclineReason",
    "LeadAction",
    "LeadOrder",
    "LeadOutcome",
    "LeadStage",
    "LeadTab",
    "LeadType",
    "LostReason",
    "Role",
]

strawberry.enum(LeadType, description="Where a lead came from (R3, R4).")
strawberry.enum(LeadStage, description="RECEIVED -> ACCEPTED -> ARCHIVED, or RECEIVED -> ARCHIVED.")
strawberry.enum(LeadOutcome, description="How an archived lead ended; set exactly when ARCHIVED.")
strawberry.enum(
    LeadAction, description="Lifecycle actions. RECEIVE and EXPIRE are taken by the system only."
)
strawberry.enum(ActorKind)
strawberry.enum(
    ContactAlert,
    description="The flame (R7): URGENT for 72 hours after a contact-me lead arrives, then "
    "REMINDER while it is open.",
)
strawberry.enum(CompanySize, description="Partner Center's size bands.")
strawberry.enum(DeclineReason, description="Why a partner declines; OTHER requires notes.")
strawberry.enum(LostReason, description="Why a deal was lost; OTHER requires notes.")
strawberry.enum(Role)
strawberry.enum(LeadTab, description="The three top-level tabs (R5).")
strawberry.enum(LeadOrder, description="List orders; each pages with keyset cursors.")
