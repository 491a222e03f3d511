"""Expected failures, as values. Bugs stay exceptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.validation import Problem


class ErrorCode(StrEnum):
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    VALIDATION = "VALIDATION"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    # Languages and time zones (app/i18n.py): the message lists what is supported.
    UNSUPPORTED_LOCALE = "UNSUPPORTED_LOCALE"
    UNKNOWN_TIME_ZONE = "UNKNOWN_TIME_ZONE"


@dataclass(frozen=True, slots=True)
class UserError:
    code: ErrorCode
    message: str
    field: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    errors: list[UserError] = field(default_factory=list)

    @classmethod
    def one(cls, code: ErrorCode, message: str, *fieldpath: str) -> Refused:
        return cls([UserError(code, message, fieldpath or None)])

    @classmethod
    def invalid(cls, problems: Iterable[Problem]) -> Refused:
        return cls([UserError(ErrorCode.VALIDATION, p.message, p.field) for p in problems])


def parse_id(value: str, *fieldpath: str) -> uuid.UUID | Refused:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return Refused.one(ErrorCode.VALIDATION, "is not a valid id", *fieldpath)
