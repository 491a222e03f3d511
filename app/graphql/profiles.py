"""Business profiles over GraphQL (R1): the partner admin's profile, locations and alert
contacts, publishing, and the platform's membership data. Merged into the schema's Query and
Mutation as `ProfileQuery` and `ProfileMutation`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, INPUT, ArgumentPaths, UserError, user_errors
from app.graphql.types.enums import CompanySize
from app.graphql.types.rows import from_row
from app.graphql.types.viewer import BusinessProfile, LocationContact, ProfileLocation
from app.services import locations, profiles
from app.services.errors import Refused

Changed = models.BusinessProfile | models.ProfileLocation | models.LocationContact


def _provided(source: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields the client sent (null included), by service name."""
    return {
        name: value for name in names if (value := getattr(source, name)) is not strawberry.UNSET
    }


# --- inputs ---------------------------------------------------------------------------------------


@strawberry.input(
    description="Omitted fields stay as they are; null clears description and website, and "
    "empties a list. Creates the profile if the organisation has none."
)
class UpdateBusinessProfileInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Required if sent.")
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="At most 5000 characters."
    )
    website: str | None = strawberry.field(
        default=strawberry.UNSET, description="An http(s) URL, at most 500 characters."
    )
    keywords: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="At most 50, each 1-100 characters; trimmed, duplicates (ignoring case) "
        "dropped. Removed keywords stop matching at once.",
    )
    industries: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="At most 30."
    )
    solution_areas: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="At most 30."
    )
    preferred_sizes: list[CompanySize] | None = strawberry.field(
        default=strawberry.UNSET, description="Sizes served; empty means every size."
    )


@strawberry.input(description="A new location; the profile is created if missing.")
class AddProfileLocationInput:
    name: str
    address: str | None = None
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, capitals (e.g. US).")


@strawberry.input(description="Omitted fields stay as they are; null clears the address.")
class UpdateProfileLocationInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    address: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET


@strawberry.input
class RemoveProfileLocationInput:
    id: strawberry.ID


@strawberry.input(description="A new alert contact at one of the organisation's locations.")
class AddLocationContactInput:
    location_id: strawberry.ID
    name: str
    email: str
    phone: str | None = None
    alerts_opted_out: bool = False


@strawberry.input(description="Omitted fields stay as they are; null clears the phone.")
class UpdateLocationContactInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    alerts_opted_out: bool | None = strawberry.UNSET


@strawberry.input
class RemoveLocationContactInput:
    id: strawberry.ID


@strawberry.input(description="Replaces the profile's membership data (PLATFORM_ADMIN only).")
class SetProfileMembershipInput:
    profile_id: strawberry.ID
    competencies: list[str] = strawberry.field(description="At most 30; searchable.")
    endorsements: list[str] = strawberry.field(description="At most 30.")


# --- payload --------------------------------------------------------------------------------------


@strawberry.type(description="The profile after the mutation, or why nothing changed.")
class BusinessProfilePayload:
    profile: BusinessProfile | None
    location: ProfileLocation | None = strawberry.field(
        default=None,
        description="The location the mutation added, changed or removed; null otherwise.",
    )
    contact: LocationContact | None = strawberry.field(
        default=None,
        description="The contact the mutation added, changed or removed; null otherwise.",
    )
    errors: list[UserError] = strawberry.field(default_factory=list)


# Where each mutation's service arguments sit in its input.
LOCATION_INPUT = ArgumentPaths(under=("input",), renames={"location_id": ("input", "id")})
CONTACT_INPUT = ArgumentPaths(under=("input",), renames={"contact_id": ("input", "id")})
# Publishing has no input: the refusals name parts of the profile.
PROFILE = ARGUMENTS


async def _change(
    info: Info[Context, None],
    action: Callable[[AsyncSession], Awaitable[Changed | Refused]],
    paths: ArgumentPaths,
    *,
    with_score: bool = True,
) -> BusinessProfilePayload:
    """Run the change in one transaction and show the profile it left: its score only to its
    own organisation (`with_score`), the changed location with its contacts."""

    async def run(session: AsyncSession) -> profiles.ProfileView | Refused:
        changed = await action(session)
        if isinstance(changed, Refused):
            return changed
        return await profiles.view_after_change(session, changed, with_score=with_score)

    result = await info.context.transact(run)
    if isinstance(result, Refused):
        return BusinessProfilePayload(profile=None, errors=user_errors(result, paths))
    return BusinessProfilePayload(
        profile=BusinessProfile.from_row(result.profile, result.score),
        location=ProfileLocation.from_rows(result.location, result.location_contacts)
        if result.location is not None
        else None,
        contact=from_row(LocationContact, result.contact) if result.contact is not None else None,
        errors=[],
    )


async def _update(
    info: Info[Context, None],
    update: Callable[..., Awaitable[Changed | Refused]],
    input: UpdateProfileLocationInput | UpdateLocationContactInput,
    names: tuple[str, ...],
    paths: ArgumentPaths,
) -> BusinessProfilePayload:
    """A location's or a contact's update: the fields the client sent, by service name."""
    actor, fields = info.context.actor, _provided(input, names)
    return await _change(info, lambda s: update(s, actor, input.id, fields=fields), paths)


# --- operations -----------------------------------------------------------------------------------


@strawberry.type
class ProfileQuery:
    @strawberry.field(
        description="The caller's organisation's business profile, with locations and alert "
        "contacts; null for anonymous callers or when the organisation has none."
    )
    async def my_business_profile(self, info: Info[Context, None]) -> BusinessProfile | None:
        async with info.context.db() as session:
            view = await profiles.get_own_profile(session, info.context.actor)
        return BusinessProfile.from_row(view.profile, view.score) if view is not None else None


@strawberry.type
class ProfileMutation:
    @strawberry.mutation(
        description="Change the organisation's profile (PARTNER_ADMIN); creates it if missing."
    )
    async def update_business_profile(
        self, info: Info[Context, None], input: UpdateBusinessProfileInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        fields = _provided(input, profiles.PROFILE_FIELDS)
        return await _change(
            info, lambda s: profiles.update_profile(s, ctx.actor, fields=fields, now=ctx.now), INPUT
        )

    @strawberry.mutation(
        description="Make the profile visible to customers and able to receive leads. Needs a "
        "name, a description, a keyword and a location with a contact that receives alerts; "
        "VALIDATION errors list whatever is missing."
    )
    async def publish_business_profile(self, info: Info[Context, None]) -> BusinessProfilePayload:
        ctx = info.context
        return await _change(
            info, lambda s: profiles.publish_profile(s, ctx.actor, now=ctx.now), PROFILE
        )

    @strawberry.mutation(description="Hide the profile; it receives no new leads.")
    async def unpublish_business_profile(self, info: Info[Context, None]) -> BusinessProfilePayload:
        ctx = info.context
        return await _change(
            info, lambda s: profiles.unpublish_profile(s, ctx.actor, now=ctx.now), PROFILE
        )

    @strawberry.mutation(description="Add a location to the organisation's profile.")
    async def add_profile_location(
        self, info: Info[Context, None], input: AddProfileLocationInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        fields = {"name": input.name, "address": input.address, "country": input.country}
        return await _change(
            info, lambda s: locations.add_location(s, ctx.actor, fields=fields), INPUT
        )

    @strawberry.mutation(description="Change one of the organisation's locations.")
    async def update_profile_location(
        self, info: Info[Context, None], input: UpdateProfileLocationInput
    ) -> BusinessProfilePayload:
        return await _update(
            info, locations.update_location, input, locations.LOCATION_FIELDS, LOCATION_INPUT
        )

    @strawberry.mutation(description="Remove a location and its contacts.")
    async def remove_profile_location(
        self, info: Info[Context, None], input: RemoveProfileLocationInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        return await _change(
            info, lambda s: locations.remove_location(s, ctx.actor, input.id), LOCATION_INPUT
        )

    @strawberry.mutation(description="Add an alert contact to one of the organisation's locations.")
    async def add_location_contact(
        self, info: Info[Context, None], input: AddLocationContactInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        fields = {
            "name": input.name,
            "email": input.email,
            "phone": input.phone,
            "alerts_opted_out": input.alerts_opted_out,
        }
        return await _change(
            info,
            lambda s: locations.add_contact(s, ctx.actor, input.location_id, fields=fields),
            INPUT,
        )

    @strawberry.mutation(description="Change a contact, e.g. opt it out of lead alerts.")
    async def update_location_contact(
        self, info: Info[Context, None], input: UpdateLocationContactInput
    ) -> BusinessProfilePayload:
        return await _update(
            info, locations.update_contact, input, locations.CONTACT_FIELDS, CONTACT_INPUT
        )

    @strawberry.mutation(description="Remove a contact.")
    async def remove_location_contact(
        self, info: Info[Context, None], input: RemoveLocationContactInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        return await _change(
            info, lambda s: locations.remove_contact(s, ctx.actor, input.id), CONTACT_INPUT
        )

    @strawberry.mutation(
        description="Replace a profile's competencies and endorsements (PLATFORM_ADMIN)."
    )
    async def set_profile_membership(
        self, info: Info[Context, None], input: SetProfileMembershipInput
    ) -> BusinessProfilePayload:
        ctx = info.context
        return await _change(
            info,
            lambda s: profiles.set_membership(
                s, ctx.actor, input.profile_id, input.competencies, input.endorsements
            ),
            INPUT,
            with_score=False,
        )
