"""`GET /export/leads.csv`: every lead a tab, filter and order of `leads` lists, as CSV, streamed.

RFC 4180 (Python's csv module: quotes where needed, CRLF line ends), a header row, and user
text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) kept as text with a
leading apostrophe (OWASP, CSV injection)."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.domain.lifecycle import LeadOutcome, LeadStage, LeadTab, LeadType
from app.domain.privacy import contact_hidden_before
from app.domain.reference import CompanySize, in_minor_units
from app.http.common import (
    Edge,
    HttpError,
    allow,
    authenticate,
    request_session,
    require_lead_manager,
)
from app.services import lead_export, lead_queries
from app.services.auth import Actor
from app.services.errors import Refused
from app.services.paging import as_utc

log = logging.getLogger(__name__)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_HEADERS = {"Content-Disposition": 'attachment; filename="leads.csv"'}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

E = TypeVar("E", bound=StrEnum)


def escape_formula(text: str) -> str:
    """Text a spreadsheet would evaluate, kept as text (OWASP: prefix an apostrophe)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True, slots=True)
class ExportRequest:
    tab: LeadTab
    filter: lead_queries.LeadFilter
    order: lead_queries.LeadOrder


# Parameters that may repeat or hold a comma-separated list, as `types` does.
LISTS = (
    "countries",
    "industries",
    "companySizes",
    "senderOrganisationIds",
    "campaignIds",
    "owners",
)
ENUM_LISTS = frozenset({"types", "stages", "outcomes"})

# Query parameters, as the `leads` field names its arguments and filter fields.
PARAMETERS = frozenset(
    {
        "tab",
        "orderBy",
        "types",
        "stages",
        "outcomes",
        "search",
        "receivedFrom",
        "receivedTo",
        "contactRequested",
        "updatedAfter",
        *LISTS,
        "dueWithinHours",
        "assignedToMe",
        "unassigned",
    }
)


def _bad(name: str, message: str) -> HttpError:
    return HttpError(400, "VALIDATION", message, [name])


def _enum(kind: type[E], name: str, value: str) -> E:
    try:
        return kind(value.strip())
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _bad(name, f"'{value.strip()[:40]}' is not one of {allowed}") from None


def _enums(kind: type[E], name: str, values: Sequence[str]) -> list[E] | None:
    """`stages=RECEIVED,ACCEPTED` or `stages=RECEIVED&stages=ACCEPTED`."""
    if not values:
        return None
    return [_enum(kind, name, part) for value in values for part in value.split(",") if part]


def _time(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _bad(name, "is not an ISO 8601 date-time") from None
    if as_utc(parsed) is None:
        raise _bad(name, "is out of range")
    return parsed


def _texts(values: Sequence[str]) -> list[str] | None:
    """Like `_enums`; the service checks each value (lead_queries.check_filter)."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _hours(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit() or len(value.strip()) > 6:
        raise _bad("dueWithinHours", "is a whole number of hours")
    return int(value)


def _boolean(name: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise _bad(name, "is true or false")
    return value.lower() == "true"


def export_request(request: Request) -> ExportRequest:
    """The export's tab, filter and order from the query string, or a 400 naming the
    parameter."""
    params = request.query_params
    for name in params:
        if name not in PARAMETERS:
            raise HttpError(
                400,
                "BAD_REQUEST",
                f"unknown parameter; use {', '.join(sorted(PARAMETERS))}",
                [name],
            )
    for name in PARAMETERS - ENUM_LISTS - set(LISTS):
        if len(params.getlist(name)) > 1:
            raise _bad(name, "is given more than once")
    tab = params.get("tab")
    if tab is None:
        raise _bad("tab", "is required: " + ", ".join(t.value for t in LeadTab))
    order = params.get("orderBy")
    return ExportRequest(
        tab=_enum(LeadTab, "tab", tab),
        order=_enum(lead_queries.LeadOrder, "orderBy", order)
        if order is not None
        else lead_queries.LeadOrder.RECEIVED_AT_DESC,
        filter=lead_queries.LeadFilter(
            types=_enums(LeadType, "types", params.getlist("types")),
            stages=_enums(LeadStage, "stages", params.getlist("stages")),
            outcomes=_enums(LeadOutcome, "outcomes", params.getlist("outcomes")),
            search=params.get("search"),
            received_from=_time("receivedFrom", params.get("receivedFrom")),
            received_to=_time("receivedTo", params.get("receivedTo")),
            contact_requested=_boolean("contactRequested", params.get("contactRequested")),
            updated_after=_time("updatedAfter", params.get("updatedAfter")),
            countries=_texts(params.getlist("countries")),
            industries=_texts(params.getlist("industries")),
            company_sizes=_enums(CompanySize, "companySizes", params.getlist("companySizes")),
            sender_organisation_ids=_texts(params.getlist("senderOrganisationIds")),
            campaign_ids=_texts(params.getlist("campaignIds")),
            due_within_hours=_hours(params.get("dueWithinHours")),
            assigned_to_me=_boolean("assignedToMe", params.get("assignedToMe")),
            owners=_texts(params.getlist("owners")),
            unassigned=_boolean("unassigned", params.get("unassigned")),
        ),
    )


def _filter_path(path: tuple[str, ...]) -> list[str]:
    """The service's `("filter", "received_from")` is the parameter `receivedFrom`;
    `("filter", "countries", "0")` is `countries`, `0`."""
    name, *index = path[1:] if len(path) > 1 else path
    head, *rest = name.split("_")
    return [head + "".join(part.capitalize() for part in rest), *index]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _row_formatter() -> Callable[[Sequence[Any]], list[str]]:
    """Cells of one row: money in its currency's decimal places, user text formula-safe."""
    headers = [c.header for c in lead_export.EXPORT_COLUMNS]
    money = {
        headers.index(amount): headers.index(amount.replace("Amount", "Currency"))
        for amount in headers
        if amount.endswith("Amount")
    }
    text = {i for i, c in enumerate(lead_export.EXPORT_COLUMNS) if c.user_text}

    def cells(row: Sequence[Any]) -> list[str]:
        out = []
        for i, value in enumerate(row):
            if i in money and isinstance(value, Decimal) and row[money[i]]:
                value = in_minor_units(value, row[money[i]])
            cell = _cell(value)
            out.append(escape_formula(cell) if i in text else cell)
        return out

    return cells


async def csv_body(session: AsyncSession, statement: Select[Any]) -> AsyncIterator[bytes]:
    """The header, then one chunk per batch of rows; the session closes when it ends, however."""
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # RFC 4180: minimal quoting, CRLF
        writer.writerow([c.header for c in lead_export.EXPORT_COLUMNS])
        cells = _row_formatter()
        yield buffer.getvalue().encode()
        async for rows in lead_export.stream_rows(session, statement):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(cells(row) for row in rows)
            yield buffer.getvalue().encode()
    finally:
        await session.close()


def export_route(edge: Edge) -> Callable[[Request], Any]:
    async def export_leads(request: Request) -> Response:
        actor: Actor | None = None
        session = request_session(edge, lambda: actor)
        try:
            allow(request, "GET", "HEAD")
            wanted = export_request(request)
            actor = await authenticate(edge, request, session)
            require_lead_manager(actor)
            statement = lead_export.export_query(
                actor,
                wanted.tab,
                wanted.filter,
                wanted.order,
                contact_hidden_before=contact_hidden_before(
                    edge.clock(), edge.settings.contact_hidden_after_days
                ),
            )
            if isinstance(statement, Refused):
                raise HttpError.refused(400, statement, _filter_path)
        except HttpError as refused:
            await session.close()
            log.info("%s: %s", refused.code, refused.message)
            return refused.response()
        except BaseException:
            await session.close()
            raise
        if request.method == "HEAD":
            await session.close()
            return Response(media_type=CSV_MEDIA_TYPE, headers=CSV_HEADERS)
        return StreamingResponse(
            csv_body(session, statement),
            media_type=CSV_MEDIA_TYPE,
            headers=CSV_HEADERS,
            # A client gone before the first chunk never starts the body: close it anyway.
            background=BackgroundTask(session.close),
        )

    return export_leads
