"""The response clock and the "contact me" flame (SPEC R6, R7). Pure: `now` is passed in."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from app.domain.lifecycle import LeadStage


class ContactAlert(StrEnum):
    URGENT = "URGENT"  # the flame: contact the customer now
    REMINDER = "REMINDER"  # the softer message after the urgent window


def respond_by(received_at: datetime, response_days: int) -> datetime:
    return received_at + timedelta(days=response_days)


def contact_alert(
    *,
    contact_requested: bool,
    received_at: datetime,
    stage: LeadStage,
    now: datetime,
    urgent_hours: int = 72,
    contacted: bool = False,
) -> ContactAlert | None:
    """URGENT for `urgent_hours` after receipt when the customer asked to be contacted, REMINDER
    after that while the lead is still open; archived leads, and leads whose customer the
    partner marked contacted (`markCustomerContacted`), carry no alert."""
    if not contact_requested or contacted or stage is LeadStage.ARCHIVED:
        return None
    if now < received_at + timedelta(hours=urgent_hours):
        return ContactAlert.URGENT
    return ContactAlert.REMINDER


def seconds_left_to_respond(*, stage: LeadStage, respond_by: datetime, now: datetime) -> int | None:
    """Whole seconds until the response deadline while the lead awaits a response (0 once
    overdue, until the expiry sweep archives it); None once it was answered or archived."""
    if stage is not LeadStage.RECEIVED:
        return None
    return max(0, int((respond_by - now).total_seconds()))
