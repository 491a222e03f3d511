"""The short in-app notification for each message (SPEC R13): a title for the list and a
one-paragraph body, in the recipient's language and time zone (stored as rendered: the SPA
shows them as they are). Plain text: the client escapes it. Pure, like `app.notify.messages`."""

from __future__ import annotations

from dataclasses import dataclass

from app.i18n import Language
from app.notify.formatting import (
    clip,
    company_size_label,
    country_name,
    format_datetime,
    lead_type_label,
    one_line,
)
from app.notify.messages import SENT_LEAD_NEWS, LeadFacts, MessageContext, MessageKind

TITLE_MAX = 120
BODY_NEED_MAX = 200


@dataclass(frozen=True)
class InApp:
    title: str
    body: str


def render_in_app(ctx: MessageContext) -> InApp:
    """A title of at most `TITLE_MAX` characters and a one-line body. Raises ValueError when the
    context lacks what the kind needs (the lead, the webhook URL)."""
    title, body = _title_and_body(ctx, ctx.lang)
    return InApp(title=clip(title, TITLE_MAX), body=one_line(body))


def _title_and_body(ctx: MessageContext, lang: Language) -> tuple[str, str]:
    if ctx.kind is MessageKind.WEBHOOK_DISABLED:
        return (
            lang.gettext("Webhook endpoint disabled"),
            lang.gettext(
                "{url} was disabled after failing repeatedly. Switch it back on once it answers, "
                "or create a new endpoint, to receive lead events again.",
                url=ctx.need_webhook_url(),
            ),
        )
    lead = ctx.need_lead()
    company = clip(lead.company_name, 60)
    deadline = format_datetime(lead.respond_by, lang)
    summary = lang.gettext(
        "{size}, {country}: {need}",
        size=company_size_label(lead.company_size, lang),
        country=country_name(lead.country, lang),
        need=clip(lead.need, BODY_NEED_MAX),
    )
    match ctx.kind:
        case MessageKind.NEW_LEAD:
            return (
                lang.gettext("New lead from {company}", company=company),
                lang.gettext(
                    "{lead_type} from {company} ({summary}). Respond by {deadline}.",
                    lead_type=lead_type_label(lead.type, lang),
                    company=lead.company_name,
                    summary=summary,
                    deadline=deadline,
                ),
            )
        case MessageKind.URGENT_CONTACT:
            contact = (
                f"{lead.contact_email}, {lead.contact_phone}"
                if lead.contact_phone
                else lead.contact_email
            )
            return (
                lang.gettext("Urgent: {company} asked to be contacted directly", company=company),
                lang.gettext(
                    "Reach out to {name} ({contact}) as quickly as possible. {company} "
                    "({summary}). Respond by {deadline}.",
                    name=lead.contact_name,
                    contact=contact,
                    company=lead.company_name,
                    summary=summary,
                    deadline=deadline,
                ),
            )
        case MessageKind.REMINDER:
            return (
                _reminder_title(ctx, lang, company),
                _reminder_body(lang, lead, summary, deadline),
            )
        case MessageKind.LEAD_DECLINED:
            return (
                lang.gettext(
                    "{partner} cannot take your request", partner=clip(ctx.partner_name, 60)
                ),
                lang.gettext(
                    "{partner} is not able to take on your request at this time. Please choose "
                    "a different partner.",
                    partner=ctx.partner_name,
                ),
            )
        case MessageKind.LEAD_ASSIGNED:
            return (
                lang.gettext("Assigned to you: the lead from {company}", company=company),
                lang.gettext(
                    "{company} ({summary}) is now yours.",
                    company=lead.company_name,
                    summary=summary,
                ),
            )
        case MessageKind.LEAD_EXPIRED:
            return (
                lang.gettext(
                    "Lead to {partner} from {company} expired",
                    partner=clip(ctx.partner_name, 45),
                    company=clip(company, 45),
                ),
                lang.gettext(
                    "The lead to {partner} from {company} was not answered within the response "
                    "time (by {deadline}) and was archived as expired.",
                    partner=ctx.partner_name,
                    company=lead.company_name,
                    deadline=deadline,
                ),
            )
    if ctx.kind in SENT_LEAD_NEWS:
        news = SENT_LEAD_NEWS[ctx.kind]
        return (
            lang.gettext(
                news.headline, partner=clip(ctx.partner_name, 45), company=clip(company, 45)
            ),
            lang.gettext(
                "{news}: {company} ({summary}).",
                news=lang.gettext(news.sentence, partner=ctx.partner_name),
                company=lead.company_name,
                summary=summary,
            ),
        )
    raise ValueError(f"unknown message kind {ctx.kind!r}")


def _reminder_title(ctx: MessageContext, lang: Language, company: str) -> str:
    if ctx.hours_left is None:
        return lang.gettext("Reminder to answer the lead from {company}", company=company)
    if ctx.hours_left < 1:
        return lang.gettext(
            "Less than an hour left to answer the lead from {company}", company=company
        )
    return lang.ngettext(
        "{n} hour left to answer the lead from {company}",
        "{n} hours left to answer the lead from {company}",
        ctx.hours_left,
        company=company,
    )


def _reminder_body(lang: Language, lead: LeadFacts, summary: str, deadline: str) -> str:
    return lang.gettext(
        "The lead from {company} ({summary}) is still waiting for an answer. Accept or decline "
        "it by {deadline}, or it expires.",
        company=lead.company_name,
        summary=summary,
        deadline=deadline,
    )
