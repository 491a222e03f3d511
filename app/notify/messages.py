"""What each message to a person says (SPEC R6, R7, R13): e-mail subject, plain text and HTML, and
the short in-app notification. Pure: no I/O, no clock, no settings; the worker passes everything.

Audiences:
- NEW_LEAD, URGENT_CONTACT, REMINDER: the partner's lead-alert contacts (staff). They get the
  customer's company, need, size, country, the respond-by deadline and a link to the lead;
  URGENT_CONTACT also carries the customer's contact details.
- LEAD_DECLINED: the customer. Never the partner's decline reason or notes (internal).
- LEAD_EXPIRED: whoever sent the lead (platform staff or a referring partner).
- WEBHOOK_DISABLED: the partner's admins.

Every message is first built as a small document of plain-string blocks; the text and HTML
renderers then lay it out, and the HTML renderer escapes every value, so no builder can forget.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote


class MessageKind(StrEnum):
    NEW_LEAD = "NEW_LEAD"
    URGENT_CONTACT = "URGENT_CONTACT"
    REMINDER = "REMINDER"
    LEAD_DECLINED = "LEAD_DECLINED"
    LEAD_EXPIRED = "LEAD_EXPIRED"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"


@dataclass(frozen=True)
class LeadFacts:
    """What messages may say about a lead."""

    id: str
    type: str  # CUSTOMER_INQUIRY | MARKETING_QUALIFIED | SALES_QUALIFIED
    company_name: str
    company_size: str
    industry: str | None
    country: str
    contact_name: str
    contact_email: str
    contact_phone: str | None
    need: str
    contact_requested: bool
    received_at: datetime
    respond_by: datetime
    # Internal to the partner: no message ever shows them (the customer must not see them).
    decline_reason: str | None = None
    decline_notes: str | None = None


@dataclass(frozen=True)
class MessageContext:
    kind: MessageKind
    partner_name: str
    lead: LeadFacts | None  # required by every kind except WEBHOOK_DISABLED
    recipient_name: str | None
    app_base_url: str
    hours_left: int | None = None  # REMINDER
    webhook_url: str | None = None  # WEBHOOK_DISABLED (required)
    # URGENT_CONTACT: how long the flame lasts (Settings.contact_alert_urgent_hours).
    urgent_hours: int = 72


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class InApp:
    title: str
    body: str


TITLE_MAX = 120
_SUBJECT_VALUE_MAX = 80
_BODY_NEED_MAX = 200

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_LEAD_TYPES = {
    "CUSTOMER_INQUIRY": "Customer inquiry",
    "MARKETING_QUALIFIED": "Marketing-qualified lead",
    "SALES_QUALIFIED": "Sales-qualified lead",
}


# --- formatting helpers -------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """`28 Nov 2026 14:00 UTC`; naive datetimes are taken to be UTC. Locale-independent."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year} {moment:%H:%M} UTC"


def company_size_label(size: str) -> str:
    """`SIZE_10_50` -> `10-50 employees` (an en dash), `SIZE_20000_PLUS` -> `20,000+ employees`."""
    if m := re.fullmatch(r"SIZE_(\d+)_(\d+)", size):
        return f"{int(m[1]):,}–{int(m[2]):,} employees"
    if m := re.fullmatch(r"SIZE_(\d+)_PLUS", size):
        return f"{int(m[1]):,}+ employees"
    return size


def lead_type_label(lead_type: str) -> str:
    return _LEAD_TYPES.get(lead_type, lead_type)


def lead_url(app_base_url: str, lead_id: str) -> str:
    return f"{app_base_url.rstrip('/')}/leads/{quote(lead_id, safe='')}"


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _clip(value: str, limit: int) -> str:
    """One line, at most `limit` characters (an ellipsis marks a cut)."""
    line = _one_line(value)
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def _hours(n: int) -> str:
    if n < 1:
        return "less than an hour"
    return "1 hour" if n == 1 else f"{n} hours"


# --- the document model -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Para:
    text: str


@dataclass(frozen=True)
class _Facts:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Link:
    label: str
    url: str


_Block = _Para | _Facts | _Link


@dataclass(frozen=True)
class _Doc:
    subject: str
    greeting: str
    blocks: tuple[_Block, ...]
    footer: str


def _greeting(name: str | None) -> str:
    name = _one_line(name) if name else ""
    return f"Hello {name}," if name else "Hello,"


def _require_lead(ctx: MessageContext) -> LeadFacts:
    if ctx.lead is None:
        raise ValueError(f"{ctx.kind} messages need the lead's facts")
    return ctx.lead


def _lead_rows(lead: LeadFacts) -> list[tuple[str, str]]:
    rows = [
        ("Company", lead.company_name),
        ("Company size", company_size_label(lead.company_size)),
    ]
    if lead.industry:
        rows.append(("Industry", lead.industry))
    rows += [
        ("Country", lead.country),
        ("Lead type", lead_type_label(lead.type)),
        ("Need", lead.need),
        ("Received", format_datetime(lead.received_at)),
        ("Respond by", format_datetime(lead.respond_by)),
    ]
    return rows


def _contact_rows(lead: LeadFacts) -> list[tuple[str, str]]:
    rows = [("Contact", lead.contact_name), ("E-mail", lead.contact_email)]
    if lead.contact_phone:
        rows.append(("Phone", lead.contact_phone))
    return rows


def _staff_footer(ctx: MessageContext) -> str:
    return f"You receive this e-mail because you are a lead-alert contact for {ctx.partner_name}."


# --- one builder per kind -----------------------------------------------------------------------


def _new_lead(ctx: MessageContext) -> _Doc:
    lead = _require_lead(ctx)
    company = _clip(lead.company_name, _SUBJECT_VALUE_MAX)
    paras = [
        _Para(
            f"{ctx.partner_name} received a new lead from {lead.company_name} "
            f"({lead_type_label(lead.type).lower()})."
        ),
        _Para(
            f"Please accept or decline it by {format_datetime(lead.respond_by)}. If nobody "
            "answers by then, the lead expires and is archived."
        ),
    ]
    if lead.contact_requested:
        paras.append(_Para("The customer asked to be contacted directly."))
    return _Doc(
        subject=f"New lead from {company}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            *paras,
            _Facts(tuple(_lead_rows(lead))),
            _Link("Open the lead", lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=_staff_footer(ctx),
    )


def _urgent_contact(ctx: MessageContext) -> _Doc:
    lead = _require_lead(ctx)
    company = _clip(lead.company_name, _SUBJECT_VALUE_MAX)
    urgent_until = format_datetime(lead.received_at + timedelta(hours=ctx.urgent_hours))
    return _Doc(
        subject=f"Urgent: {company} asked to be contacted directly",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(
                f"{lead.contact_name} from {lead.company_name} asked {ctx.partner_name} to "
                "contact them directly. Please reach out as quickly as possible: the request is "
                f"flagged urgent for the first {_hours(ctx.urgent_hours)} after it arrived "
                f"(until {urgent_until})."
            ),
            _Para(f"Accept or decline the lead by {format_datetime(lead.respond_by)}."),
            _Facts(tuple(_contact_rows(lead) + _lead_rows(lead))),
            _Link("Open the lead", lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=_staff_footer(ctx),
    )


def _reminder(ctx: MessageContext) -> _Doc:
    lead = _require_lead(ctx)
    company = _clip(lead.company_name, _SUBJECT_VALUE_MAX)
    deadline = format_datetime(lead.respond_by)
    if ctx.hours_left is not None:
        subject = f"Reminder: {_hours(ctx.hours_left)} left to answer the lead from {company}"
        when = f"You have {_hours(ctx.hours_left)} left to accept or decline it (by {deadline})"
    else:
        subject = f"Reminder: answer the lead from {company} by {deadline}"
        when = f"Please accept or decline it by {deadline}"
    paras = [
        _Para(
            f"The lead from {lead.company_name} to {ctx.partner_name} is still waiting for an "
            "answer."
        ),
        _Para(f"{when}; after that it expires and is archived."),
    ]
    if lead.contact_requested:
        paras.append(_Para("The customer asked to be contacted directly."))
    return _Doc(
        subject=subject,
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            *paras,
            _Facts(tuple(_lead_rows(lead))),
            _Link("Open the lead", lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=_staff_footer(ctx),
    )


def _lead_declined(ctx: MessageContext) -> _Doc:
    # To the customer: no reason code, no notes, no link into the partners' app.
    lead = _require_lead(ctx)
    partner = _clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
    return _Doc(
        subject=f"Your request to {partner}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(f"Thank you for your interest in {ctx.partner_name}."),
            _Para(
                f"Unfortunately, {ctx.partner_name} is not able to take on your request at this "
                "time. Please choose a different partner to help you with it: other partners in "
                "the directory may be a good fit for your need."
            ),
            _Facts(
                (
                    ("Company", lead.company_name),
                    ("Your request", lead.need),
                    ("Received", format_datetime(lead.received_at)),
                )
            ),
            _Para("We are sorry we could not help this time, and wish you success with it."),
        ),
        footer=(
            f"You receive this e-mail because your request was sent to {ctx.partner_name} "
            "through Partner Leads."
        ),
    )


def _lead_expired(ctx: MessageContext) -> _Doc:
    # To the sender, who cannot open the partner's lead: facts, no link.
    lead = _require_lead(ctx)
    partner = _clip(ctx.partner_name, 50)
    company = _clip(lead.company_name, 50)
    return _Doc(
        subject=f"Lead to {partner} from {company} expired",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(
                f"The lead to {ctx.partner_name} from {lead.company_name} was not answered "
                "within the response time and was archived as expired."
            ),
            _Para(
                f"{ctx.partner_name} had until {format_datetime(lead.respond_by)} to accept or "
                "decline it. You may want to send it to a different partner."
            ),
            _Facts((("Lead ID", lead.id), *_lead_rows(lead))),
        ),
        footer=f"You receive this e-mail because you sent this lead to {ctx.partner_name}.",
    )


def _webhook_disabled(ctx: MessageContext) -> _Doc:
    if not ctx.webhook_url:
        raise ValueError("WEBHOOK_DISABLED messages need the endpoint's URL")
    partner = _clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
    return _Doc(
        subject=f"Webhook endpoint disabled for {partner}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(
                f"The webhook endpoint {ctx.webhook_url} of {ctx.partner_name} was disabled "
                "after failing repeatedly. Lead events are no longer sent to it."
            ),
            _Para(
                "To receive lead events again, make sure the endpoint answers with a 2xx status, "
                "then create a new webhook endpoint with the same URL: a disabled endpoint is "
                "not switched back on."
            ),
            _Facts((("Endpoint", ctx.webhook_url),)),
            _Link("Open Partner Leads", ctx.app_base_url),
        ),
        footer=f"You receive this e-mail because you are an admin of {ctx.partner_name}.",
    )


_BUILDERS = {
    MessageKind.NEW_LEAD: _new_lead,
    MessageKind.URGENT_CONTACT: _urgent_contact,
    MessageKind.REMINDER: _reminder,
    MessageKind.LEAD_DECLINED: _lead_declined,
    MessageKind.LEAD_EXPIRED: _lead_expired,
    MessageKind.WEBHOOK_DISABLED: _webhook_disabled,
}


# --- renderers ----------------------------------------------------------------------------------


def _text(doc: _Doc) -> str:
    parts = [doc.greeting]
    for block in doc.blocks:
        match block:
            case _Para(text):
                parts.append(text)
            case _Facts(rows):
                width = max(len(label) for label, _ in rows) + 2
                lines = []
                for label, value in rows:
                    first, *rest = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
                    lines.append(f"{label + ':':<{width}}{first}")
                    lines += [" " * width + line for line in rest]
                parts.append("\n".join(lines))
            case _Link(label, url):
                parts.append(f"{label}: {url}")
    parts.append(f"-- \n{doc.footer}")
    return "\n\n".join(parts) + "\n"


def _h(value: str) -> str:
    """Escaped for HTML text and attributes, line breaks kept."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return html.escape(value, quote=True).replace("\n", "<br>\n")


_P = '<p style="margin:0 0 16px">'


def _html(doc: _Doc) -> str:
    body = [f"{_P}{_h(doc.greeting)}</p>"]
    for block in doc.blocks:
        match block:
            case _Para(text):
                body.append(f"{_P}{_h(text)}</p>")
            case _Facts(rows):
                cells = "\n".join(
                    '<tr><th align="left" valign="top" style="padding:4px 16px 4px 0;'
                    f'white-space:nowrap;color:#555">{_h(label)}</th>'
                    f'<td valign="top" style="padding:4px 0">{_h(value)}</td></tr>'
                    for label, value in rows
                )
                body.append(
                    '<table role="presentation" cellpadding="0" cellspacing="0" '
                    f'style="margin:0 0 16px;border-collapse:collapse">\n{cells}\n</table>'
                )
            case _Link(label, url):
                body.append(
                    f'{_P}<a href="{_h(url)}" style="display:inline-block;padding:10px 18px;'
                    'background:#0f6cbd;color:#ffffff;text-decoration:none;border-radius:4px">'
                    f"{_h(label)}</a></p>"
                )
    body.append(f'<p style="margin:24px 0 0;font-size:12px;color:#777">{_h(doc.footer)}</p>')
    content = "\n".join(body)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_h(doc.subject)}</title>\n</head>\n"
        '<body style="margin:0;padding:24px;font-family:Segoe UI,Helvetica,Arial,sans-serif;'
        'font-size:14px;line-height:1.5;color:#222">\n'
        f'<div style="max-width:600px">\n{content}\n</div>\n</body>\n</html>\n'
    )


def render_email(ctx: MessageContext) -> Rendered:
    """Subject (one line, safe for a header), plain text and HTML for one message. Raises
    ValueError when the context lacks what the kind needs (the lead, the webhook URL)."""
    doc = _BUILDERS[ctx.kind](ctx)
    return Rendered(subject=_one_line(doc.subject), text=_text(doc), html=_html(doc))


# --- in-app -------------------------------------------------------------------------------------


def render_in_app(ctx: MessageContext) -> InApp:
    """A short title (at most 120 characters) and a one-paragraph body for the notification
    list. Plain text: the client escapes it."""
    title, body = _in_app(ctx)
    return InApp(title=_clip(title, TITLE_MAX), body=_one_line(body))


def _in_app(ctx: MessageContext) -> tuple[str, str]:
    if ctx.kind is MessageKind.WEBHOOK_DISABLED:
        if not ctx.webhook_url:
            raise ValueError("WEBHOOK_DISABLED messages need the endpoint's URL")
        return (
            "Webhook endpoint disabled",
            f"{ctx.webhook_url} was disabled after failing repeatedly. Create a new endpoint to "
            "receive lead events again.",
        )
    lead = _require_lead(ctx)
    company = _clip(lead.company_name, 60)
    need = _clip(lead.need, _BODY_NEED_MAX)
    deadline = format_datetime(lead.respond_by)
    summary = f"{company_size_label(lead.company_size)}, {lead.country}: {need}"
    match ctx.kind:
        case MessageKind.NEW_LEAD:
            return (
                f"New lead from {company}",
                f"{lead_type_label(lead.type)} from {lead.company_name} ({summary}). Respond by "
                f"{deadline}.",
            )
        case MessageKind.URGENT_CONTACT:
            phone = f", {lead.contact_phone}" if lead.contact_phone else ""
            return (
                f"Urgent: {company} asked to be contacted directly",
                f"Reach out to {lead.contact_name} ({lead.contact_email}{phone}) as quickly as "
                f"possible. {lead.company_name} ({summary}). Respond by {deadline}.",
            )
        case MessageKind.REMINDER:
            left = f"{_hours(ctx.hours_left)} left" if ctx.hours_left is not None else "Reminder"
            return (
                f"{left} to answer the lead from {company}",
                f"The lead from {lead.company_name} ({summary}) is still waiting for an answer. "
                f"Accept or decline it by {deadline}, or it expires.",
            )
        case MessageKind.LEAD_DECLINED:
            return (
                f"{_clip(ctx.partner_name, 60)} cannot take your request",
                f"{ctx.partner_name} is not able to take on your request at this time. Please "
                "choose a different partner.",
            )
        case MessageKind.LEAD_EXPIRED:
            return (
                f"Lead to {_clip(ctx.partner_name, 45)} from {_clip(company, 45)} expired",
                f"The lead to {ctx.partner_name} from {lead.company_name} was not answered "
                f"within the response time (by {deadline}) and was archived as expired.",
            )
    raise ValueError(f"unknown message kind {ctx.kind!r}")
