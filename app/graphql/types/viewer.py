from __future__ import annotations

import datetime as dt

import strawberry

from app.db import models
from app.graphql.types.enums import Role
from app.services.auth import Actor


@strawberry.type(
    description="How responsive the profile's team is (R11), and what the score is made of. "
    "Recomputed by the workers; leads count once answered, expired or past their deadline."
)
class Responsiveness:
    score: float = strawberry.field(
        description="0-100; few leads are pulled toward a typical team's score."
    )
    answered_on_time_share: float = strawberry.field(
        description="Share of the counted leads answered (accepted or declined) by the deadline."
    )
    median_response_hours: float | None = strawberry.field(
        description="Median hours from receiving a lead to answering it; null if none answered."
    )
    expired_share: float = strawberry.field(
        description="Share of the counted leads that expired or are past their deadline."
    )
    leads_considered: int = strawberry.field(
        description="Leads received in the scoring window whose answer is known."
    )
    computed_at: dt.datetime

    @classmethod
    def from_row(cls, row: models.ResponsivenessScore) -> Responsiveness:
        return cls(
            score=row.score,
            answered_on_time_share=row.answered_on_time_share,
            median_response_hours=row.median_response_hours,
            expired_share=row.expired_share,
            leads_considered=row.leads_considered,
            computed_at=row.computed_at,
        )


@strawberry.type(description="A partner's business profile (R1); the full profile comes later.")
class BusinessProfile:
    id: strawberry.ID
    name: str
    published: bool
    responsiveness: Responsiveness | None = strawberry.field(
        description="The profile's responsiveness score; null until first computed. Shown only "
        "to the profile's own organisation."
    )


@strawberry.type
class Organisation:
    id: strawberry.ID
    slug: str
    name: str
    kind: str = strawberry.field(description="PARTNER or PLATFORM.")
    profile: BusinessProfile | None


@strawberry.type
class User:
    id: strawberry.ID
    name: str
    email: str


@strawberry.type(description="The signed-in user, their organisation and roles.")
class Viewer:
    user: User
    organisation: Organisation
    roles: list[Role]  # type: ignore[valid-type]
    can_manage_leads: bool = strawberry.field(
        description="PARTNER_ADMIN or REFERRALS_ADMIN of a partner: sees and works its leads."
    )

    @classmethod
    def build(
        cls,
        actor: Actor,
        org: models.Organisation,
        profile: models.BusinessProfile | None,
        score: models.ResponsivenessScore | None = None,
    ) -> Viewer:
        return cls(
            user=User(id=strawberry.ID(str(actor.user_id)), name=actor.name, email=actor.email),
            organisation=Organisation(
                id=strawberry.ID(str(org.id)),
                slug=org.slug,
                name=org.name,
                kind=org.kind,
                profile=BusinessProfile(
                    id=strawberry.ID(str(profile.id)),
                    name=profile.name,
                    published=profile.published,
                    responsiveness=Responsiveness.from_row(score) if score else None,
                )
                if profile
                else None,
            ),
            roles=sorted(actor.roles),  # type: ignore[arg-type]
            can_manage_leads=actor.manages_leads,
        )
