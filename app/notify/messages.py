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

Each message is written for its recipient's `Language` (app/i18n.py): their locale's words,
numbers and money, dates in their time zone. Staff read in their own user's locale and zone;
the customer (LEAD_DECLINED) in the locale and zone the inquiry form sent. Every sentence is a
`lang.gettext(...)` call with named `{placeholders}`, so `pybabel extract` finds it and a
translator may reorder it; a new message is translated in each catalogue under app/locales
(README, "Languages and time zones").

Each message is built as a small document (`app.notify.document`), laid out as plain text and
as autoescaped HTML. The short in-app notification is in `app.notify.in_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from app.i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE, N_, Language
from app.notify.document import Doc, Facts, Link, Para, render_html, render_text
from app.notify.formatting import (
    clip,
    company_size_label,
    country_name,
    format_datetime,
    hours_phrase,
    lead_type_label,
    lead_url,
    money,
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


@dataclass(frozen=True)
class SentLeadNews:
    """What happened to a lead, as its sender is told (message ids, translated when rendered):
    the subject or title (`{partner}`, `{company}`) and the sentence (`{partner}`)."""

    headline: str
    sentence: str


SENT_LEAD_NEWS: dict[MessageKind, SentLeadNews] = {
    MessageKind.SENT_LEAD_ACCEPTED: SentLeadNews(
        N_("{partner} accepted your lead from {company}"),
        N_("{partner} accepted the lead and is working on it"),
    ),
    MessageKind.SENT_LEAD_DECLINED: SentLeadNews(
        N_("{partner} declined your lead from {company}"), N_("{partner} declined the lead")
    ),
    MessageKind.SENT_LEAD_WON: SentLeadNews(
        N_("{partner} won your lead from {company}"), N_("{partner} won the deal")
    ),
    MessageKind.SENT_LEAD_LOST: SentLeadNews(
        N_("{partner} lost your lead from {company}"), N_("{partner} closed the lead as lost")
    ),
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
    # The partner's own deal: shown to the partner's team only, never to senders or customers.
    estimated_value_amount: Decimal | None = None
    estimated_value_currency: str | None = None


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
    # The recipient's BCP 47 locale and IANA time zone (app/i18n.py).
    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def lang(self) -> Language:
        return Language(self.locale, self.time_zone)

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
    locale: str = DEFAULT_LOCALE  # BCP 47: the HTML's lang and the Content-Language header


_SUBJECT_VALUE_MAX = 80


def _greeting(lang: Language, name: str | None) -> str:
    name = one_line(name) if name else ""
    return lang.gettext("Hello {name},", name=name) if name else lang.gettext("Hello,")


def _lead_rows(lang: Language, lead: LeadFacts) -> list[tuple[str, str]]:
    rows = [
        (lang.gettext("Company"), lead.company_name),
        (lang.gettext("Company size"), company_size_label(lead.company_size, lang)),
    ]
    if lead.industry:
        rows.append((lang.gettext("Industry"), lead.industry))
    rows += [
        (lang.gettext("Country"), country_name(lead.country, lang)),
        (lang.gettext("Lead type"), lead_type_label(lead.type, lang)),
        (lang.gettext("Need"), lead.need),
        (lang.gettext("Received"), format_datetime(lead.received_at, lang)),
        (lang.gettext("Respond by"), format_datetime(lead.respond_by, lang)),
    ]
    return [(label, value) for label, value in rows if value]  # a redacted need is ''


def _contact_rows(lang: Language, lead: LeadFacts) -> list[tuple[str, str]]:
    """The customer's contact; none once it was redacted (an erased open lead: '')."""
    rows = [
        (lang.gettext("Contact"), lead.contact_name),
        (lang.gettext("E-mail"), lead.contact_email),
        (lang.gettext("Phone"), lead.contact_phone or ""),
    ]
    return [(label, value) for label, value in rows if value]


def _deal_rows(lang: Language, lead: LeadFacts) -> list[tuple[str, str]]:
    """The partner's own figures: for the partner's team only."""
    if lead.estimated_value_amount is None or not lead.estimated_value_currency:
        return []
    value = money(lead.estimated_value_amount, lead.estimated_value_currency, lang)
    return [(lang.gettext("Estimated value"), value)]


def _asked_for_contact(lang: Language, lead: LeadFacts) -> list[Para]:
    if not lead.contact_requested:
        return []
    return [Para(lang.gettext("The customer asked to be contacted directly."))]


def _to_partner_team(
    ctx: MessageContext,
    lang: Language,
    subject: str,
    paras: list[Para],
    rows: list[tuple[str, str]],
) -> Doc:
    """A message to the partner's lead-alert contacts: what it says, then the lead's facts and
    a link to it."""
    lead = ctx.need_lead()
    return Doc(
        subject=subject,
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            *paras,
            Facts(tuple(rows + _deal_rows(lang, lead))),
            Link(lang.gettext("Open the lead"), lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=lang.gettext(
            "You receive this e-mail because you are a lead-alert contact for {partner}.",
            partner=ctx.partner_name,
        ),
    )


# --- one builder per kind -----------------------------------------------------------------------


def _new_lead(ctx: MessageContext, lang: Language) -> Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    paras = [
        Para(
            lang.gettext(
                "{partner} received a new lead from {company} ({lead_type}).",
                partner=ctx.partner_name,
                company=lead.company_name,
                lead_type=lead_type_label(lead.type, lang).lower(),
            )
        ),
        Para(
            lang.gettext(
                "Please accept or decline it by {deadline}. If nobody answers by then, the lead "
                "expires and is archived.",
                deadline=format_datetime(lead.respond_by, lang),
            )
        ),
        *_asked_for_contact(lang, lead),
    ]
    subject = lang.gettext("New lead from {company}", company=company)
    return _to_partner_team(ctx, lang, subject, paras, _lead_rows(lang, lead))


def _urgent_contact(ctx: MessageContext, lang: Language) -> Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    urgent_until = format_datetime(lead.received_at + timedelta(hours=ctx.urgent_hours), lang)
    paras = [
        Para(
            lang.gettext(
                "{contact} from {company} asked {partner} to contact them directly. Please reach "
                "out as quickly as possible: the request is flagged urgent for the first {hours} "
                "after it arrived (until {until}).",
                contact=lead.contact_name,
                company=lead.company_name,
                partner=ctx.partner_name,
                hours=hours_phrase(ctx.urgent_hours, lang),
                until=urgent_until,
            )
        ),
        Para(
            lang.gettext(
                "Accept or decline the lead by {deadline}.",
                deadline=format_datetime(lead.respond_by, lang),
            )
        ),
    ]
    return _to_partner_team(
        ctx,
        lang,
        lang.gettext("Urgent: {company} asked to be contacted directly", company=company),
        paras,
        _contact_rows(lang, lead) + _lead_rows(lang, lead),
    )


def _reminder(ctx: MessageContext, lang: Language) -> Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    deadline = format_datetime(lead.respond_by, lang)
    if ctx.hours_left is not None and ctx.hours_left >= 1:
        subject = lang.ngettext(
            "Reminder: {n} hour left to answer the lead from {company}",
            "Reminder: {n} hours left to answer the lead from {company}",
            ctx.hours_left,
            company=company,
        )
        when = lang.ngettext(
            "You have {n} hour left to accept or decline it (by {deadline}); after that it "
            "expires and is archived.",
            "You have {n} hours left to accept or decline it (by {deadline}); after that it "
            "expires and is archived.",
            ctx.hours_left,
            deadline=deadline,
        )
    elif ctx.hours_left is not None:
        subject = lang.gettext(
            "Reminder: less than an hour left to answer the lead from {company}", company=company
        )
        when = lang.gettext(
            "You have less than an hour left to accept or decline it (by {deadline}); after "
            "that it expires and is archived.",
            deadline=deadline,
        )
    else:
        subject = lang.gettext(
            "Reminder: answer the lead from {company} by {deadline}",
            company=company,
            deadline=deadline,
        )
        when = lang.gettext(
            "Please accept or decline it by {deadline}; after that it expires and is archived.",
            deadline=deadline,
        )
    paras = [
        Para(
            lang.gettext(
                "The lead from {company} to {partner} is still waiting for an answer.",
                company=lead.company_name,
                partner=ctx.partner_name,
            )
        ),
        Para(when),
        *_asked_for_contact(lang, lead),
    ]
    return _to_partner_team(ctx, lang, subject, paras, _lead_rows(lang, lead))


def _lead_declined(ctx: MessageContext, lang: Language) -> Doc:
    # To the customer: no reason code, no notes, no link into the partners' app.
    lead = ctx.need_lead()
    partner = clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
    return Doc(
        subject=lang.gettext("Your request to {partner}", partner=partner),
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            Para(
                lang.gettext("Thank you for your interest in {partner}.", partner=ctx.partner_name)
            ),
            Para(
                lang.gettext(
                    "Unfortunately, {partner} is not able to take on your request at this time. "
                    "Please choose a different partner to help you with it: other partners in "
                    "the directory may be a good fit for your need.",
                    partner=ctx.partner_name,
                )
            ),
            Facts(
                (
                    (lang.gettext("Company"), lead.company_name),
                    (lang.gettext("Your request"), lead.need),
                    (lang.gettext("Received"), format_datetime(lead.received_at, lang)),
                )
            ),
            Para(
                lang.gettext(
                    "We are sorry we could not help this time, and wish you success with it."
                )
            ),
        ),
        footer=lang.gettext(
            "You receive this e-mail because your request was sent to {partner} through "
            "Partner Leads.",
            partner=ctx.partner_name,
        ),
    )


def _lead_expired(ctx: MessageContext, lang: Language) -> Doc:
    # To the sender, who cannot open the partner's lead: facts, no link.
    lead = ctx.need_lead()
    return Doc(
        subject=lang.gettext(
            "Lead to {partner} from {company} expired",
            partner=clip(ctx.partner_name, 50),
            company=clip(lead.company_name, 50),
        ),
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            Para(
                lang.gettext(
                    "The lead to {partner} from {company} was not answered within the response "
                    "time and was archived as expired.",
                    partner=ctx.partner_name,
                    company=lead.company_name,
                )
            ),
            Para(
                lang.gettext(
                    "{partner} had until {deadline} to accept or decline it. You may want to "
                    "send it to a different partner.",
                    partner=ctx.partner_name,
                    deadline=format_datetime(lead.respond_by, lang),
                )
            ),
            Facts(((lang.gettext("Lead ID"), lead.id), *_lead_rows(lang, lead))),
        ),
        footer=_sender_footer(ctx, lang),
    )


def _sender_footer(ctx: MessageContext, lang: Language) -> str:
    return lang.gettext(
        "You receive this e-mail because you sent this lead to {partner}.",
        partner=ctx.partner_name,
    )


def _sent_lead_news(ctx: MessageContext, lang: Language) -> Doc:
    # To the sender, who cannot open the partner's lead: what happened and the facts it sent.
    lead = ctx.need_lead()
    news = SENT_LEAD_NEWS[ctx.kind]
    headline = lang.gettext(
        news.headline, partner=clip(ctx.partner_name, 50), company=clip(lead.company_name, 50)
    )
    return Doc(
        subject=headline,
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            Para(
                lang.gettext(
                    "{news}: {company}, which you sent.",
                    news=lang.gettext(news.sentence, partner=ctx.partner_name),
                    company=lead.company_name,
                )
            ),
            Facts(((lang.gettext("Lead ID"), lead.id), *_lead_rows(lang, lead))),
        ),
        footer=_sender_footer(ctx, lang),
    )


def _lead_assigned(ctx: MessageContext, lang: Language) -> Doc:
    lead = ctx.need_lead()
    company = clip(lead.company_name, _SUBJECT_VALUE_MAX)
    return Doc(
        subject=lang.gettext("Assigned to you: the lead from {company}", company=company),
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            Para(
                lang.gettext(
                    "The lead from {company} to {partner} is now yours.",
                    company=lead.company_name,
                    partner=ctx.partner_name,
                )
            ),
            *_asked_for_contact(lang, lead),
            Facts(tuple(_lead_rows(lang, lead))),
            Link(lang.gettext("Open the lead"), lead_url(ctx.app_base_url, lead.id)),
        ),
        footer=lang.gettext(
            "You receive this e-mail because you own this lead at {partner}.",
            partner=ctx.partner_name,
        ),
    )


def _webhook_disabled(ctx: MessageContext, lang: Language) -> Doc:
    url = ctx.need_webhook_url()
    partner = clip(ctx.partner_name, _SUBJECT_VALUE_MAX)
    return Doc(
        subject=lang.gettext("Webhook endpoint disabled for {partner}", partner=partner),
        greeting=_greeting(lang, ctx.recipient_name),
        blocks=(
            Para(
                lang.gettext(
                    "The webhook endpoint {url} of {partner} was disabled after failing "
                    "repeatedly. Lead events are no longer sent to it.",
                    url=url,
                    partner=ctx.partner_name,
                )
            ),
            Para(
                lang.gettext(
                    "To receive lead events again, make sure the endpoint answers with a 2xx "
                    "status, then switch it back on (updateWebhookEndpoint with active: true; "
                    "events that failed meanwhile can be sent again with "
                    "redeliverWebhookDelivery), or create a new webhook endpoint with the same "
                    "URL."
                )
            ),
            Facts(((lang.gettext("Endpoint"), url),)),
            Link(lang.gettext("Open Partner Leads"), ctx.app_base_url),
        ),
        footer=lang.gettext(
            "You receive this e-mail because you are an admin of {partner}.",
            partner=ctx.partner_name,
        ),
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


# --- rendering ----------------------------------------------------------------------------------


def render_email(ctx: MessageContext) -> Rendered:
    """Subject (one line, safe for a header), plain text and HTML for one message, in the
    recipient's language. Raises ValueError when the context lacks what the kind needs (the
    lead, the webhook URL)."""
    lang = ctx.lang
    doc = _BUILDERS[ctx.kind](ctx, lang)
    subject = one_line(doc.subject)
    return Rendered(
        subject=subject,
        text=render_text(doc),
        html=render_html(doc, subject, lang.locale),
        locale=lang.locale,
    )
