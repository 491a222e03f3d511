"""What each message says, to whom, and what it must never say (SPEC R6, R7, R13). Pure."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from markupsafe import escape

from app.notify.formatting import company_size_label, format_datetime
from app.notify.in_app import TITLE_MAX, InApp, render_in_app
from app.notify.messages import LeadFacts, MessageContext, MessageKind, Rendered, render_email

BASE_URL = "https://leads.example.com"
RECEIVED = datetime(2026, 11, 14, 14, 0, tzinfo=UTC)
RESPOND_BY = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
NOTES = "Their budget looks far too small for our practice"
HOOK = "https://hooks.contoso.example/leads?token=a&b=1"

LEAD = LeadFacts(
    id="5b0f7c8e-1f7e-4a53-9d0c-0c1b0e8f2a11",
    type="CUSTOMER_INQUIRY",
    company_name="Adatum Corporation",
    company_size="SIZE_51_250",
    industry="Retail",
    country="Portugal",
    contact_name="Rita Gomes",
    contact_email="rita.gomes@adatum.example",
    contact_phone="+351 21 555 0199",
    need="Move our ERP to Azure before the summer.\nWe want a pilot first.",
    contact_requested=False,
    received_at=RECEIVED,
    respond_by=RESPOND_BY,
    decline_reason="NO_CAPACITY",
    decline_notes=NOTES,
)
LEAD_URL = f"{BASE_URL}/leads/{LEAD.id}"


def ctx(kind: MessageKind, **changes: object) -> MessageContext:
    base = MessageContext(
        kind=kind,
        partner_name="Contoso Consulting",
        lead=LEAD,
        recipient_name=None,
        app_base_url=BASE_URL,
        hours_left=24 if kind is MessageKind.REMINDER else None,
        webhook_url=HOOK if kind is MessageKind.WEBHOOK_DISABLED else None,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def visible_html(rendered: Rendered) -> str:
    """The HTML's text as a reader sees it: tags dropped, entities kept (escaped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", rendered.html))


def contains_everywhere(rendered: Rendered, *facts: str) -> None:
    for fact in facts:
        assert fact in rendered.text, fact
        assert escape(fact) in rendered.html, fact


def contains_nowhere(rendered: Rendered, in_app: InApp, *secrets: str) -> None:
    for secret in secrets:
        for part in (rendered.subject, rendered.text, rendered.html, in_app.title, in_app.body):
            assert secret not in part, secret


STAFF_FACTS = (
    "Adatum Corporation",
    "Move our ERP to Azure before the summer.",
    "We want a pilot first.",
    "51–250 employees",
    "Portugal",
    "Retail",
    "28 Nov 2026 14:00 UTC",
    LEAD_URL,
)
CONTACT_DETAILS = ("Rita Gomes", "rita.gomes@adatum.example", "+351 21 555 0199")


def test_dates_read_in_utc_whatever_the_zone() -> None:
    lisbon_winter = timezone(timedelta(hours=-3))
    assert format_datetime(datetime(2026, 11, 28, 11, 0, tzinfo=lisbon_winter)) == (
        "28 Nov 2026 14:00 UTC"
    )
    assert format_datetime(datetime(2027, 1, 2, 3, 4)) == "2 Jan 2027 03:04 UTC"


def test_company_sizes_read_as_employee_counts() -> None:
    assert company_size_label("SIZE_1_9") == "1–9 employees"
    assert company_size_label("SIZE_10001_20000") == "10,001–20,000 employees"
    assert company_size_label("SIZE_20000_PLUS") == "20,000+ employees"
    assert company_size_label("UNKNOWN") == "UNKNOWN"


def test_new_lead_tells_the_partner_team_what_and_by_when() -> None:
    rendered = render_email(ctx(MessageKind.NEW_LEAD))
    assert rendered.subject == "New lead from Adatum Corporation"
    contains_everywhere(rendered, *STAFF_FACTS, "Contoso Consulting", "Customer inquiry")
    assert f'href="{LEAD_URL}"' in rendered.html
    # Contact details are for the flame alert only; decisions are internal.
    contains_nowhere(
        rendered, render_in_app(ctx(MessageKind.NEW_LEAD)), *CONTACT_DETAILS, NOTES, "NO_CAPACITY"
    )
    assert "contacted directly" not in rendered.text


def test_new_lead_mentions_a_contact_request() -> None:
    lead = dataclasses.replace(LEAD, contact_requested=True, type="SALES_QUALIFIED")
    rendered = render_email(ctx(MessageKind.NEW_LEAD, lead=lead))
    assert "asked to be contacted directly" in rendered.text
    assert "Sales-qualified lead" in rendered.text


def test_urgent_contact_asks_for_a_quick_call_and_gives_the_contact() -> None:
    lead = dataclasses.replace(LEAD, contact_requested=True)
    context = ctx(MessageKind.URGENT_CONTACT, lead=lead)
    rendered = render_email(context)
    assert rendered.subject == "Urgent: Adatum Corporation asked to be contacted directly"
    contains_everywhere(rendered, *STAFF_FACTS, *CONTACT_DETAILS)
    assert "as quickly as possible" in rendered.text
    assert "72 hours" in rendered.text
    assert "17 Nov 2026 14:00 UTC" in rendered.text  # the end of the urgent window
    in_app = render_in_app(context)
    assert in_app.title.startswith("Urgent:")
    assert "rita.gomes@adatum.example" in in_app.body
    contains_nowhere(rendered, in_app, NOTES, "NO_CAPACITY")


def test_urgent_window_follows_the_configured_hours() -> None:
    rendered = render_email(ctx(MessageKind.URGENT_CONTACT, urgent_hours=48))
    assert "48 hours" in rendered.text
    assert "16 Nov 2026 14:00 UTC" in rendered.text


def test_reminder_says_how_long_is_left() -> None:
    context = ctx(MessageKind.REMINDER, hours_left=72, recipient_name="Ana Silva")
    rendered = render_email(context)
    assert rendered.subject == "Reminder: 72 hours left to answer the lead from Adatum Corporation"
    contains_everywhere(rendered, *STAFF_FACTS, "72 hours")
    assert rendered.text.startswith("Hello Ana Silva,")
    assert "expires" in rendered.text
    in_app = render_in_app(context)
    assert in_app.title == "72 hours left to answer the lead from Adatum Corporation"
    contains_nowhere(rendered, in_app, *CONTACT_DETAILS, NOTES, "NO_CAPACITY")
    assert "1 hour left" in render_email(ctx(MessageKind.REMINDER, hours_left=1)).subject


def test_reminder_without_hours_left_still_gives_the_deadline() -> None:
    rendered = render_email(ctx(MessageKind.REMINDER, hours_left=None))
    assert "28 Nov 2026 14:00 UTC" in rendered.subject
    assert "None" not in rendered.text


def test_declined_lead_politely_sends_the_customer_elsewhere_without_internals() -> None:
    context = ctx(MessageKind.LEAD_DECLINED, recipient_name="Rita Gomes")
    rendered = render_email(context)
    assert rendered.subject == "Your request to Contoso Consulting"
    assert rendered.text.startswith("Hello Rita Gomes,")
    assert "Hello Rita Gomes," in rendered.html
    contains_everywhere(rendered, "Contoso Consulting", "different partner", "Thank you")
    assert "Move our ERP to Azure" in rendered.text  # reminds them what they asked for
    in_app = render_in_app(context)
    assert "different partner" in in_app.body
    # The partner's reason code and notes are internal; the customer has no use for staff links.
    contains_nowhere(
        rendered,
        in_app,
        NOTES,
        "NO_CAPACITY",
        "capacity",
        "Reason",
        "reason",
        "/leads/",
        "lead-alert",
    )


def test_declined_lead_without_a_name_still_greets() -> None:
    rendered = render_email(ctx(MessageKind.LEAD_DECLINED, recipient_name=None))
    assert rendered.text.startswith("Hello,")


def test_expired_lead_tells_the_sender() -> None:
    lead = dataclasses.replace(LEAD, type="MARKETING_QUALIFIED")
    context = ctx(MessageKind.LEAD_EXPIRED, lead=lead, recipient_name="Marta Marketer")
    rendered = render_email(context)
    assert rendered.subject == "Lead to Contoso Consulting from Adatum Corporation expired"
    assert rendered.text.startswith("Hello Marta Marketer,")
    contains_everywhere(
        rendered,
        "The lead to Contoso Consulting from Adatum Corporation was not answered within the "
        "response time and was archived as expired.",
        LEAD.id,
        "28 Nov 2026 14:00 UTC",
        "Marketing-qualified lead",
    )
    in_app = render_in_app(context)
    assert in_app.title == "Lead to Contoso Consulting from Adatum Corporation expired"
    assert "archived as expired" in in_app.body
    # The sender cannot open the partner's lead, and the decision was nobody's.
    contains_nowhere(rendered, in_app, "/leads/", NOTES, "NO_CAPACITY")


def test_webhook_disabled_tells_admins_how_to_get_events_again() -> None:
    context = ctx(MessageKind.WEBHOOK_DISABLED, lead=None, recipient_name="Paula Admin")
    rendered = render_email(context)
    assert rendered.subject == "Webhook endpoint disabled for Contoso Consulting"
    contains_everywhere(rendered, HOOK, "failing repeatedly", "create a new webhook endpoint")
    assert "token=a&amp;b=1" in rendered.html
    in_app = render_in_app(context)
    assert HOOK in in_app.body
    assert "new endpoint" in in_app.body


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_renders_all_three_parts(kind: MessageKind) -> None:
    rendered = render_email(ctx(kind))
    assert rendered.subject and "\n" not in rendered.subject
    assert rendered.text.strip() and "<" not in rendered.text.replace("<script>", "")
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert rendered.html.rstrip().endswith("</html>")
    # The same words in both bodies (the HTML is the text, laid out).
    first_sentence = rendered.text.split("\n\n")[1].split(".")[0]
    assert first_sentence in visible_html(rendered)
    in_app = render_in_app(ctx(kind))
    assert 0 < len(in_app.title) <= TITLE_MAX
    assert in_app.body and "\n" not in in_app.body and "\n" not in in_app.title


HOSTILE = '<script>alert("x")</script> & Sons'


@pytest.mark.parametrize("kind", list(MessageKind))
def test_html_escapes_every_interpolated_value(kind: MessageKind) -> None:
    fields = ["company_name", "contact_name", "need", "industry", "country"]
    hostile = dict.fromkeys([*fields, "contact_email", "contact_phone"], HOSTILE)
    lead = dataclasses.replace(LEAD, **hostile, id='"><img src=x>')
    context = ctx(
        kind,
        lead=lead,
        partner_name=HOSTILE,
        recipient_name=HOSTILE,
        webhook_url=f"https://h.example/{HOSTILE}",
    )
    rendered = render_email(context)
    assert "<script" not in rendered.html
    assert "<img" not in rendered.html
    # Escaped as Jinja2 (markupsafe) escapes: `"` is `&#34;`, which reads as `&quot;`.
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Sons" in rendered.html
    assert HOSTILE in rendered.text  # plain text stays as written


def test_company_name_with_script_is_escaped_in_html() -> None:
    lead = dataclasses.replace(LEAD, company_name="<script>")
    rendered = render_email(ctx(MessageKind.NEW_LEAD, lead=lead))
    assert "&lt;script&gt;" in rendered.html
    assert "<script>" not in rendered.html
    assert rendered.subject == "New lead from <script>"  # a header, not markup


def test_link_ids_are_url_quoted() -> None:
    lead = dataclasses.replace(LEAD, id="a b/c")
    rendered = render_email(ctx(MessageKind.NEW_LEAD, lead=lead, app_base_url=BASE_URL + "/"))
    assert f"{BASE_URL}/leads/a%20b%2Fc" in rendered.text


def test_line_breaks_never_reach_a_subject_or_title() -> None:
    lead = dataclasses.replace(LEAD, company_name="Adatum\r\nBcc: victim@example.com")
    context = ctx(MessageKind.URGENT_CONTACT, lead=lead)
    assert render_email(context).subject == (
        "Urgent: Adatum Bcc: victim@example.com asked to be contacted directly"
    )
    assert "\n" not in render_in_app(context).title


def test_long_values_are_clipped_in_titles_not_in_bodies() -> None:
    long_name = "Fabrikam " * 40
    lead = dataclasses.replace(LEAD, company_name=long_name)
    for kind in MessageKind:
        context = ctx(kind, lead=lead, partner_name="Northwind " * 30)
        assert len(render_in_app(context).title) <= TITLE_MAX
        assert len(render_email(context).subject) <= 200
    rendered = render_email(ctx(MessageKind.NEW_LEAD, lead=lead))
    assert long_name.strip() in rendered.text
    assert rendered.subject.endswith("…")


@pytest.mark.parametrize("kind", [k for k in MessageKind if k is not MessageKind.WEBHOOK_DISABLED])
def test_lead_messages_need_the_lead(kind: MessageKind) -> None:
    with pytest.raises(ValueError, match="lead"):
        render_email(ctx(kind, lead=None))
    with pytest.raises(ValueError, match="lead"):
        render_in_app(ctx(kind, lead=None))


def test_webhook_message_needs_the_url() -> None:
    with pytest.raises(ValueError, match="URL"):
        render_email(ctx(MessageKind.WEBHOOK_DISABLED, webhook_url=None))
    with pytest.raises(ValueError, match="URL"):
        render_in_app(ctx(MessageKind.WEBHOOK_DISABLED, webhook_url=None))


def test_optional_facts_are_left_out_not_printed_as_none() -> None:
    lead = dataclasses.replace(LEAD, industry=None, contact_phone=None)
    for kind in MessageKind:
        rendered = render_email(ctx(kind, lead=lead))
        assert "None" not in rendered.text
        assert "None" not in rendered.html
        assert "Industry" not in rendered.text
        assert "Phone" not in rendered.text


def test_a_redacted_lead_shows_no_empty_contact_or_need_rows() -> None:
    """An erased open lead (issue 11 §4) keeps its facts; its contact and need are '' and
    their rows go, rather than reading "Contact:" with nothing after it."""
    erased = dataclasses.replace(
        LEAD, contact_name="", contact_email="", contact_phone=None, need=""
    )
    for kind in (MessageKind.URGENT_CONTACT, MessageKind.NEW_LEAD, MessageKind.REMINDER):
        rendered = render_email(ctx(kind, lead=erased))
        lines = [line.strip() for line in rendered.text.splitlines()]
        for label in ("Contact:", "E-mail:", "Phone:", "Need:"):
            assert label not in lines and not any(
                line.startswith(label) and line == label for line in lines
            ), (kind, label)
        assert not re.search(r"^(Contact|E-mail|Need):\s*$", rendered.text, re.M), kind
        assert "Adatum Corporation" in rendered.text
    full = render_email(ctx(MessageKind.URGENT_CONTACT)).text
    assert re.search(r"^\s*Contact:\s+Rita Gomes", full, re.M)
