"""Privacy rules (SPEC R17, issue 11 section 4). Pure: `now` is passed in.

- A declined or expired lead's customer contact is hidden from its readers
  `contact_hidden_after_days` after it was archived: worked out when read, so no job has to
  run for it. A redacted lead's contact is hidden for good.
- Redaction empties the customer's personal data and the free text that may hold it; the
  facts the pipeline counts (stage, outcome, values, dates, country, industry, size, type,
  sender, campaign) stay.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from app.domain.lifecycle import LeadOutcome

# The outcomes whose contact is hidden after a while: the partner never worked the lead.
HIDDEN_OUTCOMES: frozenset[str] = frozenset({LeadOutcome.DECLINED.value, LeadOutcome.EXPIRED.value})

# What redaction empties on a lead, with the value it leaves: '' where the column may not be
# null (the validation never lets a real value be empty, so '' is unambiguous), else NULL.
REDACTED_COLUMNS: dict[str, str | None] = {
    "contact_name": "",
    "contact_email": "",
    "contact_phone": None,
    "need": "",
    "notes": None,
    "decline_notes": None,
    "lost_notes": None,
}
# The same fields under the API's names, as history entries' changes name them: their recorded
# old and new values are emptied too.
REDACTED_HISTORY_FIELDS: tuple[str, ...] = (
    "contactName",
    "contactEmail",
    "contactPhone",
    "need",
    "notes",
    "declineNotes",
    "lostNotes",
)


def contact_hidden(
    *,
    outcome: str | None,
    archived_at: datetime | None,
    redacted_at: datetime | None,
    now: datetime,
    hidden_after_days: int,
) -> bool:
    """Whether the lead's customer contact is withheld from readers now."""
    if redacted_at is not None:
        return True
    if outcome not in HIDDEN_OUTCOMES or archived_at is None:
        return False
    return now >= archived_at + timedelta(days=hidden_after_days)


def contact_hidden_before(now: datetime, hidden_after_days: int) -> datetime:
    """A declined or expired lead archived before this has its contact hidden (as
    `contact_hidden` says): what list filters and the export compare `archived_at` with."""
    return now - timedelta(days=hidden_after_days)


# The lead's searchable words without its customer's contact: a lead whose contact is hidden is
# found by these alone, so a word search cannot tell that a hidden contact was e.g. "Maria".
CONTACT_FREE_SEARCH_COLUMNS: tuple[str, ...] = (
    "company_name",
    "deal_name",
    "crm_id",
    "industry",
    "need",
    "notes",
)


def shown(value: str | None, hidden: bool) -> str | None:
    """A contact field as readers get it: null when hidden, and null for a redacted ''."""
    if hidden or not value:
        return None
    return value


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_hash(email: str) -> str:
    """How a privacy request records whose data it was about: never the e-mail itself, but the
    same e-mail always gives the same hash (a later request can be matched to an erasure)."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()
