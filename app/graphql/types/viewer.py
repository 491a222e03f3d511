from __future__ import annotations

import strawberry

from app.db import models
from app.graphql.types.enums import Role
from app.services.auth import Actor


@strawberry.type(description="A partner's business profile (R1); the full profile comes later.")
class BusinessProfile:
    id: strawberry.ID
    name: str
    published: bool


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
        cls, actor: Actor, org: models.Organisation, profile: models.BusinessProfile | None
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
                )
                if profile
                else None,
            ),
            roles=sorted(actor.roles),  # type: ignore[arg-type]
            can_manage_leads=actor.manages_leads,
        )
