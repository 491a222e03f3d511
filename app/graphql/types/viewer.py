from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import strawberry
from strawberry.types import Info

from app.db import models
from app.domain.roles import Role as RoleValue
from app.graphql.reads import Column, Computed, Nested, Read, Records, Run, columns
from app.graphql.types.enums import CompanySize, Role
from app.graphql.types.rows import from_row, from_rows
from app.i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE
from app.services.auth import Actor
from app.services.compiled_reads import CONTACT_COLUMNS, LOCATION_COLUMNS, SCORE_COLUMNS


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


@strawberry.type(description="Who receives incoming-lead alerts for a location.")
class LocationContact:
    id: strawberry.ID
    name: str
    email: str
    phone: str | None
    alerts_opted_out: bool = strawberry.field(
        description="True: this contact receives no lead alerts (kept for the record)."
    )


@strawberry.type(description="A location of the partner, with its alert contacts.")
class ProfileLocation:
    id: strawberry.ID
    name: str
    address: str | None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    contacts: list[LocationContact] = strawberry.field(description="By name.")

    @classmethod
    def from_rows(
        cls, row: models.ProfileLocation, contacts: list[models.LocationContact]
    ) -> ProfileLocation:
        return from_row(cls, row, contacts=from_rows(LocationContact, contacts))


@strawberry.type(
    description="A partner's business profile (R1), as its own organisation sees it: with "
    "locations, alert contacts and the responsiveness score."
)
class BusinessProfile:
    id: strawberry.ID
    name: str
    published: bool
    published_at: dt.datetime | None = strawberry.field(
        description="When it was last published; null while unpublished."
    )
    description: str | None
    website: str | None
    keywords: list[str] = strawberry.field(description="Expertise keywords; searchable.")
    industries: list[str]
    solution_areas: list[str]
    preferred_sizes: list[CompanySize] = strawberry.field(
        description="Customer company sizes served; empty means every size."
    )
    competencies: list[str] = strawberry.field(
        description="Membership data maintained by the platform."
    )
    endorsements: list[str] = strawberry.field(
        description="Membership data maintained by the platform."
    )
    responsiveness: Responsiveness | None = strawberry.field(
        description="The profile's responsiveness score; null until first computed. Shown only "
        "to the profile's own organisation."
    )
    organisation_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        description="Locations by name, each with its alert contacts. Shown only to the "
        "profile's own organisation and platform admins; empty for anyone else."
    )
    async def locations(self, info: Info[Any, None]) -> list[ProfileLocation]:
        actor: Actor | None = info.context.actor
        if actor is None or not (
            actor.organisation_id == self.organisation_id or actor.has(RoleValue.PLATFORM_ADMIN)
        ):
            return []
        found = await info.context.loaders.locations_by_profile.load(uuid.UUID(str(self.id)))
        return [ProfileLocation.from_rows(location, contacts) for location, contacts in found]

    @classmethod
    def from_row(
        cls,
        row: models.BusinessProfile,
        score: models.ResponsivenessScore | None = None,
    ) -> BusinessProfile:
        """`score` only for the profile's own organisation."""
        return from_row(
            cls,
            row,
            preferred_sizes=[CompanySize(s) for s in row.preferred_sizes or []],
            responsiveness=from_row(Responsiveness, score) if score else None,
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
    roles: list[Role]
    can_manage_leads: bool = strawberry.field(
        description="PARTNER_ADMIN or REFERRALS_ADMIN of a partner: sees and works its leads."
    )
    locale: str = strawberry.field(
        description="BCP 47: the language of your e-mails and in-app notifications "
        "(updateMyPreferences); en for an API key."
    )
    time_zone: str = strawberry.field(
        description="IANA: the zone dates in your messages are shown in; UTC for an API key."
    )

    @classmethod
    def build(
        cls,
        actor: Actor,
        org: models.Organisation,
        profile: models.BusinessProfile | None,
        score: models.ResponsivenessScore | None = None,
        *,
        locale: str = DEFAULT_LOCALE,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> Viewer:
        return cls(
            user=User(id=strawberry.ID(str(actor.user_id)), name=actor.name, email=actor.email),
            organisation=Organisation(
                id=strawberry.ID(str(org.id)),
                slug=org.slug,
                name=org.name,
                kind=org.kind,
                profile=BusinessProfile.from_row(profile, score) if profile else None,
            ),
            roles=sorted(actor.roles),
            can_manage_leads=actor.manages_leads,
            locale=locale,
            time_zone=time_zone,
        )


# --- how the compiled read path reads these types (app/graphql/compiled.py) ----------------------


def _shown_locations(
    run: Run, organisation_id: uuid.UUID | None, locations: list[Any] | None
) -> list[Any]:
    """As `BusinessProfile.locations`: the profile's own organisation and platform admins."""
    actor = run.actor
    if actor is None or not (
        actor.organisation_id == organisation_id or actor.has(RoleValue.PLATFORM_ADMIN)
    ):
        return []
    return locations or []


CONTACT_READS = columns("id", "name", "email", "phone", "alerts_opted_out")
LOCATION_READS: dict[str, Read] = {
    **columns("id", "name", "address", "country"),
    "contacts": Records(
        ("contacts",), lambda run, contacts: contacts or [], CONTACT_COLUMNS, CONTACT_READS
    ),
}
PROFILE_READS: dict[str, Read] = {
    **columns(
        "name",
        "published",
        "published_at",
        "description",
        "website",
        "keywords",
        "industries",
        "solution_areas",
        "preferred_sizes",
        "competencies",
        "endorsements",
    ),
    "id": Column("profile_id"),
    "responsiveness": Nested(
        columns(*SCORE_COLUMNS),
        present=Computed(("score",), lambda run, score: score is not None),
    ),
    "locations": Records(
        ("profile_organisation_id", "locations"),
        _shown_locations,
        LOCATION_COLUMNS,
        LOCATION_READS,
    ),
}
VIEWER_READS: dict[str, Read] = {
    "user": Nested(
        {
            "id": Computed((), lambda run: run.actor.user_id),
            "name": Computed((), lambda run: run.actor.name),
            "email": Computed((), lambda run: run.actor.email),
        }
    ),
    "organisation": Nested(
        {
            "id": Column("organisation_id"),
            "slug": Column("slug"),
            "name": Column("organisation_name"),
            "kind": Column("kind"),
            "profile": Nested(
                PROFILE_READS,
                present=Computed(("profile_id",), lambda run, profile: profile is not None),
            ),
        }
    ),
    "roles": Computed((), lambda run: sorted(run.actor.roles)),
    "can_manage_leads": Computed((), lambda run: run.actor.manages_leads),
    "locale": Column("user_locale"),
    "time_zone": Column("user_time_zone"),
}
