"""Languages and time zones over GraphQL (issue 11): `updateMyPreferences`, `supportedLocales`;
the viewer's own are `viewer { locale timeZone }`. Merged into the schema's Query and
Mutation."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import INPUT, UserError, user_errors
from app.i18n import supported_locales
from app.services import preferences
from app.services.errors import Refused


@strawberry.type(description="What your e-mails and in-app notifications are written in.")
class Preferences:
    locale: str = strawberry.field(description="BCP 47, one of `supportedLocales`, e.g. pt-BR.")
    time_zone: str = strawberry.field(description="IANA, e.g. America/Sao_Paulo.")


@strawberry.input(description="Null leaves a preference as it is.")
class UpdateMyPreferencesInput:
    locale: str | None = strawberry.field(
        default=None,
        description="BCP 47, one of `supportedLocales` (pt-BR; pt_BR and pt-br are read as "
        "pt-BR). Else UNSUPPORTED_LOCALE, whose message lists the supported ones.",
    )
    time_zone: str | None = strawberry.field(
        default=None,
        description="An IANA time zone, e.g. America/Sao_Paulo. Else UNKNOWN_TIME_ZONE.",
    )


@strawberry.type(description="Your preferences as saved, or why nothing was saved.")
class UpdateMyPreferencesPayload:
    preferences: Preferences | None
    errors: list[UserError]


@strawberry.type
class PreferencesQuery:
    @strawberry.field(
        description="The locales messages can be written in (BCP 47), English first: one per "
        "message catalogue."
    )
    def supported_locales(self) -> list[str]:
        return list(supported_locales())


@strawberry.type
class PreferencesMutation:
    @strawberry.mutation(
        description="Your language and time zone: e-mails and in-app notifications to you are "
        "written in them from now on (API error messages stay English)."
    )
    async def update_my_preferences(
        self, info: Info[Context, None], input: UpdateMyPreferencesInput
    ) -> UpdateMyPreferencesPayload:
        ctx = info.context
        data = preferences.PreferencesData(locale=input.locale, time_zone=input.time_zone)
        result = await ctx.transact(lambda s: preferences.update_my_preferences(s, ctx.actor, data))
        if isinstance(result, Refused):
            return UpdateMyPreferencesPayload(preferences=None, errors=user_errors(result, INPUT))
        return UpdateMyPreferencesPayload(
            preferences=Preferences(locale=result.locale, time_zone=result.time_zone), errors=[]
        )
