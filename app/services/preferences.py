"""A user's language and time zone (issue 11, "Languages and time zones"): what their e-mails
and in-app notifications are written in, and the zone their dates are shown in. Also checks the
locale and zone a customer's inquiry carries (`check_locale`, `check_time_zone`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import User
from app.i18n import normalise_locale, normalise_time_zone, supported_locales
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, UserError


@dataclass(frozen=True, slots=True)
class PreferencesData:
    """What to change; None leaves it as it is."""

    locale: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class Preferences:
    locale: str  # BCP 47, one of `supported_locales()`
    time_zone: str  # IANA


def unsupported_locale(*fieldpath: str) -> UserError:
    return UserError(
        ErrorCode.UNSUPPORTED_LOCALE,
        f"is not a supported locale; supported: {', '.join(supported_locales())}",
        fieldpath or None,
    )


def unknown_time_zone(*fieldpath: str) -> UserError:
    return UserError(
        ErrorCode.UNKNOWN_TIME_ZONE,
        "is not an IANA time zone (e.g. America/Sao_Paulo, Europe/Lisbon, UTC)",
        fieldpath or None,
    )


def check_locale(raw: str | None, errors: list[UserError], *fieldpath: str) -> str | None:
    """The supported BCP 47 tag `raw` names (`pt_BR` -> `pt-BR`); None for None, with a typed
    error added for a locale we have no catalogue for."""
    if raw is None:
        return None
    locale = normalise_locale(raw)
    if locale is None:
        errors.append(unsupported_locale(*fieldpath))
    return locale


def check_time_zone(raw: str | None, errors: list[UserError], *fieldpath: str) -> str | None:
    """The canonical IANA name `raw` names; None for None, with a typed error for another."""
    if raw is None:
        return None
    zone = normalise_time_zone(raw)
    if zone is None:
        errors.append(unknown_time_zone(*fieldpath))
    return zone


async def my_preferences(session: AsyncSession, actor: Actor | None) -> Preferences | None:
    """The signed-in user's preferences; None for anonymous callers and API keys (no person)."""
    if actor is None or actor.api_key_id is not None:
        return None
    user = await session.get(User, actor.user_id)
    return Preferences(user.locale, user.time_zone) if user is not None else None


async def update_my_preferences(
    session: AsyncSession, actor: Actor | None, data: PreferencesData
) -> Preferences | Refused:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to change your preferences")
    if actor.api_key_id is not None:
        return Refused.one(
            ErrorCode.FORBIDDEN, "an API key is no person: it has no language or time zone"
        )
    errors: list[UserError] = []
    locale = check_locale(data.locale, errors, "locale")
    time_zone = check_time_zone(data.time_zone, errors, "time_zone")
    if errors:
        return Refused(errors)
    user = await session.get(User, actor.user_id)
    if user is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such user")
    if locale is not None:
        user.locale = locale
    if time_zone is not None:
        user.time_zone = time_zone
    await session.flush()
    return Preferences(user.locale, user.time_zone)
