"""The "contact me" flame and the response clock (SPEC R6, R7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.alerts import ContactAlert, contact_alert, respond_by, seconds_left_to_respond
from app.domain.lifecycle import LeadStage

S = LeadStage
RECEIVED_AT = datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def alert_after(
    elapsed: timedelta,
    *,
    stage: LeadStage = S.RECEIVED,
    contact_requested: bool = True,
    **kwargs: int | bool,
) -> ContactAlert | None:
    return contact_alert(
        contact_requested=contact_requested,
        received_at=RECEIVED_AT,
        stage=stage,
        now=RECEIVED_AT + elapsed,
        **kwargs,
    )


# --- contact_alert -------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", list(LeadStage))
@pytest.mark.parametrize("elapsed", [timedelta(0), timedelta(hours=100)])
def test_no_alert_when_the_customer_did_not_ask_to_be_contacted(
    stage: LeadStage, elapsed: timedelta
) -> None:
    assert alert_after(elapsed, stage=stage, contact_requested=False) is None


@pytest.mark.parametrize(
    "elapsed",
    [timedelta(0), timedelta(hours=1), timedelta(hours=71, minutes=59, seconds=59)],
    ids=["at-receipt", "1h", "71h59m59s"],
)
def test_requested_contact_is_urgent_during_the_first_72_hours(elapsed: timedelta) -> None:
    assert alert_after(elapsed) is ContactAlert.URGENT


@pytest.mark.parametrize(
    "elapsed",
    [timedelta(hours=72), timedelta(hours=72, microseconds=1), timedelta(days=30)],
    ids=["exactly-72h", "just-after", "30d"],
)
def test_requested_contact_becomes_a_reminder_from_72_hours_on(elapsed: timedelta) -> None:
    assert alert_after(elapsed) is ContactAlert.REMINDER


@pytest.mark.parametrize("elapsed", [timedelta(0), timedelta(hours=71), timedelta(hours=72)])
def test_archived_leads_carry_no_alert(elapsed: timedelta) -> None:
    assert alert_after(elapsed, stage=S.ARCHIVED) is None


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(timedelta(hours=1), ContactAlert.URGENT), (timedelta(hours=80), ContactAlert.REMINDER)],
)
def test_accepted_leads_keep_their_alert(elapsed: timedelta, expected: ContactAlert) -> None:
    assert alert_after(elapsed, stage=S.ACCEPTED) is expected


@pytest.mark.parametrize("stage", [S.RECEIVED, S.ACCEPTED])
@pytest.mark.parametrize(
    "elapsed", [timedelta(0), timedelta(hours=71), timedelta(hours=72), timedelta(days=30)]
)
def test_the_flame_goes_out_once_the_customer_was_contacted(
    stage: LeadStage, elapsed: timedelta
) -> None:
    """markCustomerContacted (issue 11): no URGENT and no REMINDER afterwards, at any age."""
    assert alert_after(elapsed, stage=stage) is not None
    assert alert_after(elapsed, stage=stage, contacted=True) is None


def test_contacted_changes_nothing_for_leads_without_a_flame() -> None:
    assert alert_after(timedelta(hours=1), contact_requested=False, contacted=True) is None
    assert alert_after(timedelta(hours=1), stage=S.ARCHIVED, contacted=True) is None


def test_custom_urgent_window() -> None:
    assert alert_after(timedelta(hours=23, minutes=59), urgent_hours=24) is ContactAlert.URGENT
    assert alert_after(timedelta(hours=24), urgent_hours=24) is ContactAlert.REMINDER
    assert alert_after(timedelta(hours=100), urgent_hours=200) is ContactAlert.URGENT


# --- seconds_left_to_respond ---------------------------------------------------------------------

DEADLINE = RECEIVED_AT + timedelta(days=2)


def test_one_second_before_the_deadline_leaves_one_second() -> None:
    now = DEADLINE - timedelta(seconds=1)
    assert seconds_left_to_respond(stage=S.RECEIVED, respond_by=DEADLINE, now=now) == 1


def test_whole_time_left_is_counted_in_seconds() -> None:
    now = RECEIVED_AT
    left = seconds_left_to_respond(stage=S.RECEIVED, respond_by=DEADLINE, now=now)
    assert left == 2 * 24 * 3600


@pytest.mark.parametrize(
    "after", [timedelta(0), timedelta(seconds=1), timedelta(days=3)], ids=["at", "1s-late", "3d"]
)
def test_no_time_left_at_or_after_the_deadline(after: timedelta) -> None:
    now = DEADLINE + after
    assert seconds_left_to_respond(stage=S.RECEIVED, respond_by=DEADLINE, now=now) == 0


@pytest.mark.parametrize("stage", [S.ACCEPTED, S.ARCHIVED])
@pytest.mark.parametrize("now", [RECEIVED_AT, DEADLINE + timedelta(days=1)])
def test_no_clock_once_the_lead_was_answered_or_archived(stage: LeadStage, now: datetime) -> None:
    assert seconds_left_to_respond(stage=stage, respond_by=DEADLINE, now=now) is None


# --- respond_by ----------------------------------------------------------------------------------


@pytest.mark.parametrize("days", [0, 1, 2, 14])
def test_respond_by_adds_the_response_days(days: int) -> None:
    assert respond_by(RECEIVED_AT, days) == RECEIVED_AT + timedelta(days=days)


def test_respond_by_keeps_time_of_day_and_timezone() -> None:
    assert respond_by(RECEIVED_AT, 2) == datetime(2025, 3, 12, 9, 30, tzinfo=UTC)
    assert respond_by(RECEIVED_AT, 2).tzinfo is UTC
