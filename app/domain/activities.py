"""A lead's activity log (issue 11): what the partner did to work it. Pure."""

from __future__ import annotations

from enum import StrEnum


class ActivityKind(StrEnum):
    NOTE = "NOTE"
    CALL = "CALL"
    EMAIL = "EMAIL"
    MEETING = "MEETING"


# The deal's `notes` hold at most MAX_NOTES (4,000); one entry of the log is a paragraph or a
# call's summary, not a document.
MAX_ACTIVITY_BODY = 4000
# How many entries one read of a lead's log returns at most, and by default.
MAX_ACTIVITIES_PAGE = 100
DEFAULT_ACTIVITIES_PAGE = 20
