"""Every lead of a tab, filter and order, streamed in batches from one server-side cursor: one
read transaction (one snapshot), at most a batch of rows in memory, no row cap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, User
from app.domain.lifecycle import LeadTab
from app.domain.privacy import HIDDEN_OUTCOMES
from app.services import lead_queries
from app.services.auth import Actor
from app.services.errors import Refused

BATCH_ROWS = 1000


@dataclass(frozen=True, slots=True)
class ExportColumn:
    """A column of the export: its header (the API's name) and, when people type it, whether
    a spreadsheet must be kept from reading it as a formula."""

    header: str
    column: ColumnElement[Any]
    user_text: bool = False


def _c(header: str, column: Any, user_text: bool = False) -> ExportColumn:
    return ExportColumn(header, column, user_text)


# A declined or expired lead archived before this is shown without its contact, as the API
# shows it (app/domain/privacy.py); a redacted lead's emptied fields are empty cells.
HIDDEN_BEFORE = bindparam("contact_hidden_before", type_=DateTime(timezone=True))
_HIDDEN = or_(
    Lead.pii_redacted_at.is_not(None),
    and_(Lead.outcome.in_(sorted(HIDDEN_OUTCOMES)), Lead.archived_at <= HIDDEN_BEFORE),
)


def _contact(column: Any) -> Any:
    return case((_HIDDEN, None), else_=func.nullif(column, ""))


EXPORT_COLUMNS: tuple[ExportColumn, ...] = (
    _c("id", Lead.id),
    _c("version", Lead.version),
    _c("type", Lead.type),
    _c("stage", Lead.stage),
    _c("outcome", Lead.outcome),
    _c("receivedAt", Lead.received_at),
    _c("respondBy", Lead.respond_by),
    _c("respondedAt", Lead.responded_at),
    _c("archivedAt", Lead.archived_at),
    _c("updatedAt", Lead.updated_at),
    _c("companyName", Lead.company_name, True),
    _c("companySize", Lead.company_size),
    _c("industry", Lead.industry, True),
    _c("country", Lead.country),
    _c("contactName", _contact(Lead.contact_name), True),
    _c("contactEmail", _contact(Lead.contact_email), True),
    _c("contactPhone", _contact(Lead.contact_phone), True),
    _c("need", func.nullif(Lead.need, ""), True),
    _c("contactRequested", Lead.contact_requested),
    _c("dealName", Lead.deal_name, True),
    _c("estimatedValueAmount", Lead.estimated_value_amount),
    _c("estimatedValueCurrency", Lead.estimated_value_currency),
    _c("estimatedPurchaseDate", Lead.estimated_purchase_date),
    _c("notes", Lead.notes, True),
    _c("crmId", Lead.crm_id, True),
    _c("campaignId", Lead.campaign_id, True),
    _c("declineReason", Lead.decline_reason),
    _c("declineNotes", Lead.decline_notes, True),
    _c("finalValueAmount", Lead.final_value_amount),
    _c("finalValueCurrency", Lead.final_value_currency),
    _c("closingDate", Lead.closing_date),
    _c("lostReason", Lead.lost_reason),
    _c("lostNotes", Lead.lost_notes, True),
    _c("contactHidden", _HIDDEN),
    _c("ownerId", Lead.owner_user_id),
    _c(
        "ownerEmail",
        select(User.email).where(User.id == Lead.owner_user_id).scalar_subquery(),
    ),
)


def export_query(
    actor: Actor,
    tab: LeadTab,
    filter: lead_queries.LeadFilter | None,
    order: lead_queries.LeadOrder,
    *,
    contact_hidden_before: datetime,
) -> Select[Any] | Refused:
    """The export's statement, or why the filter is wrong (checked before anything streams).
    `contact_hidden_before`: now less CONTACT_HIDDEN_AFTER_DAYS."""
    statement = lead_queries.export_query(
        actor,
        tab,
        filter,
        order,
        [c.column for c in EXPORT_COLUMNS],
        contact_hidden_before=contact_hidden_before,
    )
    if isinstance(statement, Refused):
        return statement
    return statement.params(contact_hidden_before=contact_hidden_before)


async def stream_rows(
    session: AsyncSession, statement: Select[Any], batch: int = BATCH_ROWS
) -> AsyncIterator[Sequence[Any]]:
    """The statement's rows, `batch` at a time, from a server-side cursor in the session's
    transaction (the caller's tenant, behind row-level security)."""
    result = await session.stream(statement.execution_options(yield_per=batch))
    async for rows in result.partitions(batch):
        yield rows
