"""What each message to a person says (SPEC R6, R7, R13): e-mail subject, plain text and HTML, and
the short in-app notification. Pure: no I/O, no clock, no settings; the worker passes everything.

Audiences:
- NEW_LEAD, URGENT_CONTACT, REMINDER: the partner's lead-alert contacts (staff). They get the
  customer's company, need, size, country, the respond-by deadline and a link to the lead;
  URGENT_CONTACT also carries the customer's contact details.
- LEAD_DECLINED: the customer. Never the partner's decline reason or notes (internal).
- LEAD_EXPIRED: whoever sent the lead (platform staff or a referring partner).
- WEBHOOK_DISABLED: the partner's admins.
- LEAD_ASSIGNED: the lead manager a colleague made the lead's owner.
- SENT_LEAD_ACCEPTED, _DECLINED, _WON, _LOST: whoever sent the lead, who hears the outcome
  and the facts it sent; never the partner's deal, reasons or notes.

Every message is first built as a small document of plain-string blocks; the plain-text part
lays it out here and the HTML part is a Jinja2 template (`templates/email.html`) with
autoescape on, so every value is escaped by the engine and no builder can forget. The short
in-app notification is in `app.notify.in_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from app.notify.formatting import (
    clip,
    company_size_label,
    format_datetime,
    hours_phrase,
    lead_type_label,
    lead_url,
    one_line,
)


class MessageKind(StrEnum):
    NEW_LEAD = "NEW_LEAD"
    URGENT_CONTACT = "URGENT_CONTACT"
    REMINDER = "REMINDER"
    LEAD_DECLINED = "LEAD_DECLINED"
    LEAD_EXPIRED = "LEAD_EXPIRED"
    WEBHOOK_DISABLED = "WEBHOOK_DISABLED"
    SENT_LEAD_ACCEPTED = "SENT_LEAD_ACCEPTED"
    SENT_LEAD_DECLINED = "SENT_LEAD_DECLINED"
    SENT_LEAD_WON = "SENT_LEAD_WON"
    SENT_LEAD_LOST = "SENT_LEAD_LOST"
    LEAD_ASSIGNED = "LEAD_ASSIGNED"


# What happened to a lead, as its sender is told: (subject verb, sentence).
SENT_LEAD_NEWS: dict[MessageKind, tuple[str, str]] = {
    MessageKind.SENT_LEAD_ACCEPTED: ("accepted", "accepted the lead and is working on it"),
    MessageKind.SENT_LEAD_DECLINED: ("declined", "declined the lead"),
    MessageKind.SENT_LEAD_WON: ("won", "won the deal"),
    MessageKind.SENT_LEAD_LOST: ("lost", "closed the lead as lost"),
}


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

    def need_lead(self) -> LeadFacts:
        if self.lead is None:
            raise ValueError(f"{self.kind} messages need the lead's facts")
        return self.lead

    def need_webhook_url(self) -> str:
        if not self.webhook_url:
            raise ValueError(f"{self.kind} messages need the endpoint's URL")
        return self.webhook_url


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


_SUBJECT_VALUE_MAX = 80

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
    name = one_line(name) if name else ""
    return f"Hello {name}," if name else "Hello,"


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


def _asked_for_contact(lead: LeadFacts) -> list[_Para]:
    return [_Para("The customer asked to be contacted directly.")] if lead.contact_requested else []


def _to_partner_team(
    ctx: MessageContext, subject: str, paras: list[_Para], rows: list[tuple[str, str]]
) -> _Doc:
    """A message to the partner's lead-alert contacts: what it says, then the lead's facts and
    a link to it."""
    lead = ctx.need_lead()
    return _Doc(
        subject=subject,
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            *paras,
            _Facts(tuple(rows)),
            _Link("Open the lead", lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=(
            f"You receive this e-mail because you are a lead-alert contact for {ctx.partner_name}."
        ),
    )


# --- one builder per kind -----------------------------------------------------------------------


def _new_lead(ctx: MessageContext) -> _Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    paras = [
        _Para(
            f"{ctx.partner_name} received a new lead from {lead.company_name} "
            f"({lead_type_label(lead.type).lower()})."
        ),
        _Para(
            f"Please accept or decline it by {format_datetime(lead.respond_by)}. If nobody "
            "answers by then, the lead expires and is archived."
        ),
        *_asked_for_contact(lead),
    ]
    return _to_partner_team(ctx, f"New lead from {company}", paras, _lead_rows(lead))


def _urgent_contact(ctx: MessageContext) -> _Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    urgent_until = format_datetime(lead.received_at + timedelta(hours=ctx.urgent_hours))
    paras = [
        _Para(
            f"{lead.contact_name} from {lead.company_name} asked {ctx.partner_name} to "
            "contact them directly. Please reach out as quickly as possible: the request is "
            f"flagged urgent for the first {hours_phrase(ctx.urgent_hours)} after it arrived "
            f"(until {urgent_until})."
        ),
        _Para(f"Accept or decline the lead by {format_datetime(lead.respond_by)}."),
    ]
    return _to_partner_team(
        ctx,
        f"Urgent: {company} asked to be contacted directly",
        paras,
        _contact_rows(lead) + _lead_rows(lead),
    )


def _reminder(ctx: MessageContext) -> _Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    deadline = format_datetime(lead.respond_by)
    if ctx.hours_left is not None:
        subject = f"Reminder: {hours_phrase(ctx.hours_left)} left to answer the lead from {company}"
        when = (
            f"You have {hours_phrase(ctx.hours_left)} left to accept or decline it (by {deadline})"
        )
    else:
        subject = f"Reminder: answer the lead from {company} by {deadline}"
        when = f"Please accept or decline it by {deadline}"
    paras = [
        _Para(
            f"The lead from {lead.company_name} to {ctx.partner_name} is still waiting for an "
            "answer."
        ),
        _Para(f"{when}; after that it expires and is archived."),
        *_asked_for_contact(lead),
    ]
    return _to_partner_team(ctx, subject, paras, _lead_rows(lead))


def _lead_declined(ctx: MessageContext) -> _Doc:
    # To the customer: no reason code, no notes, no link into the partners' app.
    lead = ctx.need_lead()
    partner = clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
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
    lead = ctx.need_lead()
    partner = clip(ctx.partner_name, 50)
    company = clip(lead.company_name, 50)
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


def _sent_lead_news(ctx: MessageContext) -> _Doc:
    # To the sender, who cannot open the partner's lead: what happened and the facts it sent.
    lead = ctx.need_lead()
    verb, sentence = SENT_LEAD_NEWS[ctx.kind]
    partner = clip(ctx.partner_name, 50)
    company = clip(lead.company_name, 50)
    return _Doc(
        subject=f"{partner} {verb} your lead from {company}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(f"{ctx.partner_name} {sentence}: {lead.company_name}, which you sent."),
            _Facts((("Lead ID", lead.id), *_lead_rows(lead))),
        ),
        footer=f"You receive this e-mail because you sent this lead to {ctx.partner_name}.",
    )


def _lead_assigned(ctx: MessageContext) -> _Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    paras = [_Para(f"The lead from {lead.company_name} to {ctx.partner_name} is now yours.")]
    return _Doc(
        subject=f"Assigned to you: the lead from {company}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            *paras,
            *_asked_for_contact(lead),
            _Facts(tuple(_lead_rows(lead))),
            _Link("Open the lead", lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=f"You receive this e-mail because you own this lead at {ctx.partner_name}.",
    )


def _webhook_disabled(ctx: MessageContext) -> _Doc:
    url = ctx.need_webhook_url()
    partner = clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
    return _Doc(
        subject=f"Webhook endpoint disabled for {partner}",
        greeting=_greeting(ctx.recipient_name),
        blocks=(
            _Para(
                f"The webhook endpoint {url} of {ctx.partner_name} was disabled "
                "after failing repeatedly. Lead events are no longer sent to it."
            ),
            _Para(
                "To receive lead events again, make sure the endpoint answers with a 2xx status, "
                "then switch it back on (updateWebhookEndpoint with active: true; events that "
                "failed meanwhile can be sent again with redeliverWebhookDelivery), or create a "
                "new webhook endpoint with the same URL."
            ),
            _Facts((("Endpoint", url),)),
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
    MessageKind.LEAD_ASSIGNED: _lead_assigned,
    **dict.fromkeys(SENT_LEAD_NEWS, _sent_lead_news),
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


def _with_line_breaks(value: str) -> Markup:
    """Escaped, with each line break kept as `<br>`."""
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Markup("<br>\n").join(escape(line) for line in lines)


# Jinja2 with autoescape on: the engine escapes every value that reaches the markup.
_TEMPLATES = Environment(
    loader=PackageLoader("app.notify", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TEMPLATES.filters["lines"] = _with_line_breaks
_TEMPLATES.tests.update(
    para=lambda block: isinstance(block, _Para),
    facts=lambda block: isinstance(block, _Facts),
    link=lambda block: isinstance(block, _Link),
)


def render_email(ctx: MessageContext) -> Rendered:
    """Subject (one line, safe for a header), plain text and HTML for one message. Raises
    ValueError when the context lacks what the kind needs (the lead, the webhook URL)."""
    doc = _BUILDERS[ctx.kind](ctx)
    subject = one_line(doc.subject)
    html = _TEMPLATES.get_template("email.html").render(doc=doc, subject=subject)
    return Rendered(subject=subject, text=_text(doc), html=html)
