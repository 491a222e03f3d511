"""When a customer's contact is hidden (app/domain/privacy.py): pure, `now` passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.privacy import contact_hidden, email_hash, shown

ARCHIVED = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "after", "redacted", "hidden"),
    [
        ("DECLINED", timedelta(days=30) - timedelta(seconds=1), False, False),
        ("DECLINED", timedelta(days=30), False, True),
        ("EXPIRED", timedelta(days=31), False, True),
        ("EXPIRED", timedelta(days=1), False, False),
        ("WON", timedelta(days=400), False, False),
        ("LOST", timedelta(days=400), False, False),
        (None, timedelta(days=400), False, False),
        ("WON", timedelta(days=1), True, True),
        (None, timedelta(0), True, True),
    ],
)
def test_declined_and_expired_contacts_are_hidden_after_the_period_and_redacted_ones_always(
    outcome: str | None, after: timedelta, redacted: bool, hidden: bool
) -> None:
    assert (
        contact_hidden(
            outcome=outcome,
            archived_at=ARCHIVED if outcome else None,
            redacted_at=ARCHIVED if redacted else None,
            now=ARCHIVED + after,
            hidden_after_days=30,
        )
        is hidden
    )


def test_a_field_is_shown_unless_hidden_and_emptied_fields_read_as_null() -> None:
    assert shown("Ana", False) == "Ana"
    assert shown("Ana", True) is None
    assert shown("", False) is None
    assert shown(None, False) is None


def test_the_email_hash_ignores_case_and_spaces_and_is_not_the_email() -> None:
    assert email_hash(" Ana@Adatum.example ") == email_hash("ana@adatum.example")
    assert "ana" not in email_hash("ana@adatum.example")
    assert len(email_hash("ana@adatum.example")) == 64
