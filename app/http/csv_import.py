"""`POST /import/leads.csv?dryRun=true|false`: accepted leads' CRM id, notes, deal fields and
won/lost from a CSV file, applied through `bulkLeadActions`' service, all or nothing.

Each row names its lead by `id` (or, in a file without an `id` column, by `crmId`). The deal
columns present become an `update` (an empty cell clears an optional field; unchanged values
change nothing); `outcome` WON or LOST then closes the lead (`markWon` / `markLost`). The
answer is one report line per row, numbered by the CSV line the row starts on."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from app.domain.reference import LostReason
from app.graphql.http_edge import EdgeError, read_body
from app.http.common import (
    Edge,
    HttpError,
    allow,
    authenticate,
    bearer_header,
    request_session,
    require_lead_manager,
)
from app.jobs import take_staged
from app.services import bulk, leads
from app.services.auth import Actor
from app.services.errors import Refused

log = logging.getLogger(__name__)

# Deal columns -> the `update` field each sets. `crmId` is one only when `id` names the lead.
DEAL_COLUMNS = {
    "dealName": "deal_name",
    "estimatedPurchaseDate": "estimated_purchase_date",
    "notes": "notes",
    "campaignId": "campaign_id",
    "crmId": "crm_id",
}
MONEY_COLUMNS = {
    "estimatedValueAmount": "estimatedValueCurrency",
    "finalValueAmount": "finalValueCurrency",
}
CLOSING_COLUMNS = {
    "outcome",
    "finalValueAmount",
    "finalValueCurrency",
    "closingDate",
    "lostReason",
    "lostNotes",
}
COLUMNS = frozenset(
    {"id", "version", *DEAL_COLUMNS, "estimatedValueAmount", "estimatedValueCurrency"}
    | CLOSING_COLUMNS
)
OUTCOMES = ("WON", "LOST")


@dataclass
class Row:
    """One CSV row: its line, its lead, the commands it asks for, what could not be read."""

    line: int
    lead: str
    expected_version: int | None = None
    commands: list[tuple[str, leads.LeadCommand]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    lead_id: str | None = None

    def problem(self, column: str | None, message: str, code: str = "VALIDATION") -> None:
        self.problems.append(
            {"code": code, "field": [column] if column else None, "message": message}
        )


class _Cells:
    """A row's cells by column, read into the values the commands take."""

    def __init__(self, row: Row, values: dict[str, str]) -> None:
        self.row, self.values = row, values

    def text(self, column: str) -> str | None:
        value = self.values.get(column, "")
        return value if value.strip() else None

    def day(self, column: str) -> date | None:
        value = self.text(column)
        if value is None:
            return None
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            self.row.problem(column, "is not a date (YYYY-MM-DD)")
            return None

    def money(self, amount_column: str) -> leads.Money | None:
        currency_column = MONEY_COLUMNS[amount_column]
        amount, currency = self.text(amount_column), self.text(currency_column)
        if amount is None and currency is None:
            return None
        if amount is None or currency is None:
            self.row.problem(amount_column if amount is None else currency_column, "is required")
            return None
        try:
            number = Decimal(amount.strip())
        except InvalidOperation:
            self.row.problem(amount_column, "is not a number")
            return None
        return leads.Money(number, currency.strip())


def _header(record: list[str]) -> list[str]:
    header = [name.strip() for name in record]
    for name in header:
        if name not in COLUMNS:
            raise HttpError(
                400,
                "VALIDATION",
                f"unknown column; use {', '.join(sorted(COLUMNS))}",
                [name],
            )
        if header.count(name) > 1:
            raise HttpError(400, "VALIDATION", "the column appears twice", [name])
    if "id" not in header and "crmId" not in header:
        raise HttpError(400, "VALIDATION", "name each row's lead by an id or crmId column")
    for amount, currency in MONEY_COLUMNS.items():
        if (amount in header) != (currency in header):
            missing = currency if amount in header else amount
            raise HttpError(400, "VALIDATION", "money takes an amount and a currency", [missing])
    return header


def _row(line: int, header: list[str], record: list[str]) -> Row:
    values = dict(zip(header, record, strict=True))
    by_id = "id" in header
    row = Row(line, (values["id"] if by_id else values["crmId"]).strip())
    if not row.lead:
        row.problem("id" if by_id else "crmId", "is required")
    cells = _Cells(row, values)
    version = cells.text("version")
    if version is not None:
        if version.strip().isdigit():
            row.expected_version = int(version)
        else:
            row.problem("version", "is not a whole number")
    fields: dict[str, Any] = {}
    for column, name in DEAL_COLUMNS.items():
        if column in header and (by_id or column != "crmId"):
            value = cells.day(column) if name == "estimated_purchase_date" else cells.text(column)
            fields[name] = value
    if "estimatedValueAmount" in header:
        fields["estimated_value"] = cells.money("estimatedValueAmount")
    # An accepted lead's required deal fields cannot be cleared: empty leaves them as they are.
    fields = {
        name: value
        for name, value in fields.items()
        if value is not None or not leads.UPDATABLE_DEAL_FIELDS[name]
    }
    if fields:
        row.commands.append(("update", leads.Update(fields)))
    outcome = (cells.text("outcome") or "").strip().upper()
    if outcome and outcome not in OUTCOMES:
        row.problem("outcome", "is WON, LOST or empty")
    elif outcome == "WON":
        money = cells.money("finalValueAmount") if "finalValueAmount" in header else None
        row.commands.append(("markWon", leads.MarkWon(money, cells.day("closingDate"))))
    elif outcome == "LOST":
        reason = (cells.text("lostReason") or "").strip().upper()
        if reason not in LostReason.__members__:
            allowed = ", ".join(r.value for r in LostReason)
            row.problem("lostReason", f"is required with LOST: {allowed}")
        else:
            row.commands.append(
                (
                    "markLost",
                    leads.MarkLost(
                        LostReason(reason),
                        cells.text("lostNotes"),
                        final_value=cells.money("finalValueAmount")
                        if "finalValueAmount" in header
                        else None,
                        closing_date=cells.day("closingDate"),
                    ),
                )
            )
    return row


def parse_csv(body: bytes) -> tuple[list[Row], bool]:
    """The rows of the file, and whether they name leads by CRM id; 400 for a file that is not
    one (encoding, shape, columns, size)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HttpError(400, "BAD_REQUEST", "the file is not UTF-8") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    header: list[str] | None = None
    try:
        while True:
            line = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = _header(record)
                continue
            if len(record) != len(header):
                raise HttpError(
                    400,
                    "BAD_REQUEST",
                    f"line {line} has {len(record)} fields; the header has {len(header)}",
                )
            if len(rows) == bulk.MAX_BULK_ACTIONS:
                raise HttpError(400, "VALIDATION", f"at most {bulk.MAX_BULK_ACTIONS} rows per file")
            rows.append(_row(line, header, record))
    except csv.Error as exc:
        raise HttpError(400, "BAD_REQUEST", f"not valid CSV at line {reader.line_num}") from exc
    if header is None or not rows:
        raise HttpError(400, "BAD_REQUEST", "the file has no header and rows")
    return rows, "id" not in header


# A service path's head -> the column, per action kind (the rest are camelCased and joined).
_COLUMN_OF = {
    "update": {"estimated_value": "estimatedValueAmount"},
    "markWon": {"final_value": "finalValueAmount"},
    "markLost": {"notes": "lostNotes", "reason": "lostReason", "final_value": "finalValueAmount"},
}


def _column(kind: str, path: tuple[str, ...] | None, by_crm_id: bool) -> list[str] | None:
    if not path:
        return None
    if path[0] == "lead_id":
        return ["crmId" if by_crm_id else "id"]
    if path[0] == "expected_version":
        return ["version"]
    special = _COLUMN_OF.get(kind, {}).get(path[0])
    if special is not None and len(path) == 1:
        return [special]
    head, *rest = "_".join(path).split("_")
    return [head + "".join(part.capitalize() for part in rest)]


def _errors(kind: str, refused: Refused, by_crm_id: bool) -> list[dict[str, Any]]:
    return [
        {"code": e.code.value, "field": _column(kind, e.field, by_crm_id), "message": e.message}
        for e in refused.errors
    ]


async def _resolve_crm_ids(session: AsyncSession, actor: Actor, rows: list[Row]) -> None:
    found = await bulk.leads_by_crm_id(session, actor, [r.lead for r in rows if r.lead])
    for row in rows:
        matches = found.get(row.lead, [])
        if len(matches) == 1:
            row.lead_id = str(matches[0])
        elif row.lead:
            message = (
                "no lead has this CRM id"
                if not matches
                else (f"{len(matches)} leads have this CRM id: name the lead by id")
            )
            code = "NOT_FOUND" if not matches else "VALIDATION"
            row.problem("crmId", message, code)


def _report(
    rows: list[Row],
    actions: list[tuple[int, str]],
    result: bulk.BulkResult | None,
    by_crm_id: bool,
) -> list[dict[str, Any]]:
    per_row: dict[int, list[tuple[str, bulk.ActionResult]]] = {}
    for (row_index, kind), outcome in zip(actions, result.results if result else [], strict=True):
        per_row.setdefault(row_index, []).append((kind, outcome))
    report = []
    for index, row in enumerate(rows):
        done = per_row.get(index, [])
        errors = list(row.problems)
        for kind, outcome in done:
            if outcome.refused is not None:
                errors.extend(_errors(kind, outcome.refused, by_crm_id))
        last = done[-1][1] if done and all(o.ok for _, o in done) else None
        changes = [
            {"field": name, "from": c.get("from"), "to": c.get("to")}
            if isinstance(c, dict)
            else {"field": name, "from": None, "to": c}
            for _, o in done
            for name, c in o.changes.items()
        ]
        report.append(
            {
                "row": row.line,
                "leadId": row.lead_id or row.lead,
                "ok": not errors,
                "actions": [kind for kind, _ in done],
                "stage": last.stage if last else None,
                "outcome": last.outcome if last else None,
                "version": last.version if last else None,
                "changes": changes,
                "errors": errors,
            }
        )
    return report


async def _dry_run_flag(request: Request) -> bool:
    values = request.query_params.getlist("dryRun")
    for name in request.query_params:
        if name != "dryRun":
            raise HttpError(400, "BAD_REQUEST", "unknown parameter; use dryRun", [name])
    if len(values) != 1 or values[0].lower() not in ("true", "false"):
        raise HttpError(400, "VALIDATION", "dryRun=true or dryRun=false is required", ["dryRun"])
    return values[0].lower() == "true"


def import_route(edge: Edge) -> Callable[[Request], Any]:
    async def import_leads(request: Request) -> Response:
        actor: Actor | None = None
        session = request_session(edge, lambda: actor)
        try:
            allow(request, "POST")
            dry_run = await _dry_run_flag(request)
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media != "text/csv":
                raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE", "send Content-Type: text/csv")
            # Anonymous callers are refused before their body is read; the caller's lookup
            # (and the connection it takes) waits until the whole body is in.
            bearer_header(request)
            try:
                body = await read_body(
                    request.receive, request.headers, edge.settings.csv_import_max_bytes
                )
            except EdgeError as exc:
                raise HttpError(exc.status or 400, exc.code, exc.message) from exc
            actor = await authenticate(edge, request, session)
            require_lead_manager(actor)
            rows, by_crm_id = parse_csv(body)
            report = await _apply(edge, session, actor, rows, by_crm_id, dry_run)
            await edge.wrote(request.headers.get("authorization"))
        except HttpError as refused:
            log.info("%s: %s", refused.code, refused.message)
            return refused.response()
        finally:
            await session.close()
        return Response(orjson.dumps(report), media_type="application/json")

    return import_leads


async def _apply(
    edge: Edge,
    session: AsyncSession,
    actor: Actor,
    rows: list[Row],
    by_crm_id: bool,
    dry_run: bool,
) -> dict[str, Any]:
    """The rows' actions in one transaction through the bulk service; committed (and the jobs
    enqueued after) only when every row is good and it is no dry run."""
    try:
        if by_crm_id:
            await _resolve_crm_ids(session, actor, rows)
        else:
            for row in rows:
                row.lead_id = row.lead or None
        actions: list[tuple[int, str]] = []
        commands: list[bulk.BulkAction] = []
        for index, row in enumerate(rows):
            if row.problems or row.lead_id is None:
                continue
            for n, (kind, command) in enumerate(row.commands):
                actions.append((index, kind))
                # The row's version guards its first action; the next one follows it.
                version = row.expected_version if n == 0 else None
                commands.append(bulk.BulkAction(row.lead_id, command, version))
        if len(commands) > bulk.MAX_BULK_ACTIONS:
            raise HttpError(
                400,
                "VALIDATION",
                f"at most {bulk.MAX_BULK_ACTIONS} actions per file (a row that updates and "
                "closes a lead is two)",
            )
        unreadable = any(row.problems for row in rows)
        result = None
        if commands:
            outcome = await bulk.run_actions(
                session, actor, commands, dry_run=dry_run or unreadable, now=edge.clock()
            )
            if isinstance(outcome, Refused):
                raise HttpError.refused(400, outcome, lambda path: list(path))
            result = outcome
        await session.commit()
    except BaseException:
        await session.rollback()
        take_staged(session)
        raise
    if edge.queue is not None:
        await edge.queue.flush(session)
    else:
        take_staged(session)
    report = _report(rows, actions, result, by_crm_id)
    applied = result.applied if result else not dry_run and all(r["ok"] for r in report)
    return {"applied": applied, "dryRun": dry_run, "rows": report, "errors": []}
