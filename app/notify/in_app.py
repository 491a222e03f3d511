"""The short in-app notification for each message (SPEC R13): a title for the list and a
one-paragraph body. Plain text: the client escapes it. Pure, like `app.notify.messages`."""

from __future__ import annotations

from dataclasses import dataclass

from app.notify.formatting import (
    clip,
    company_size_label,
    format_datetime,
    hours_phrase,
    lead_type_label,
    one_line,
)
from app.notify.messages import SENT_LEAD_NEWS, MessageContext, MessageKind

TITLE_MAX = 120
BODY_NEED_MAX = 200


@dataclass(frozen=True)
class InApp:
    title: str
    body: str


def render_in_app(ctx: MessageContext) -> InApp:
    """A title of at most `TITLE_MAX` characters and a one-line body. Raises ValueError when the
    context lacks what the kind needs (the lead, the webhook URL)."""
    title, body = _title_and_body(ctx)
    return InApp(title=clip(title, TITLE_MAX), body=one_line(body))


def _title_and_body(ctx: MessageContext) -> tuple[str, str]:
    if ctx.kind is MessageKind.WEBHOOK_DISABLED:
        return (
            "Webhook endpoint disabled",
            f"{ctx.need_webhook_url()} was disabled after failing repeatedly. Switch it back "
            "on once it answers, or create a new endpoint, to receive lead events again.",
        )
    lead = ctx.need_lead()
    company = clip(lead.company_name, 60)
    need = clip(lead.need, BODY_NEED_MAX)
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
            left = (
                f"{hours_phrase(ctx.hours_left)} left" if ctx.hours_left is not None else "Reminder"
            )
            return (
                f"{left} to answer the lead from {company}",
                f"The lead from {lead.company_name} ({summary}) is still waiting for an answer. "
                f"Accept or decline it by {deadline}, or it expires.",
            )
        case MessageKind.LEAD_DECLINED:
            return (
                f"{clip(ctx.partner_name, 60)} cannot take your request",
                f"{ctx.partner_name} is not able to take on your request at this time. Please "
                "choose a different partner.",
            )
        case MessageKind.LEAD_ASSIGNED:
            return (
                f"Assigned to you: the lead from {company}",
                f"{lead.company_name} ({summary}) is now yours.",
            )
        case MessageKind.LEAD_EXPIRED:
            return (
                f"Lead to {clip(ctx.partner_name, 45)} from {clip(company, 45)} expired",
                f"The lead to {ctx.partner_name} from {lead.company_name} was not answered "
                f"within the response time (by {deadline}) and was archived as expired.",
            )
    if ctx.kind in SENT_LEAD_NEWS:
        verb, sentence = SENT_LEAD_NEWS[ctx.kind]
        return (
            f"{clip(ctx.partner_name, 45)} {verb} your lead from {clip(company, 45)}",
            f"{ctx.partner_name} {sentence}: {lead.company_name} ({summary}).",
        )
    raise ValueError(f"unknown message kind {ctx.kind!r}")
