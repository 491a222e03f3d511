"""Messages in the recipient's language (issue 11, "Languages and time zones"): every message id
has its Brazilian Portuguese translation, each kind reads in Portuguese for a pt-BR recipient
with dates in their zone and money and numbers as pt-BR writes them, English stays the default,
and adding a language is adding a catalogue. Pure: no database."""

from __future__ import annotations

import dataclasses
import re
import shutil
import string
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from app import i18n
from app.i18n import (
    Language,
    forget_catalogues,
    normalise_locale,
    normalise_time_zone,
    supported_locales,
)
from app.notify.formatting import company_size_label, country_name, format_datetime, money
from app.notify.in_app import render_in_app
from app.notify.messages import MessageContext, MessageKind, render_email
from tests.notify.test_messages import HOSTILE, LEAD, ctx

APP = Path(i18n.__file__).parent
SAO_PAULO = "America/Sao_Paulo"
# 28 Nov 2026 14:00 UTC, the lead's deadline, in São Paulo (UTC-3, no summer time).
DEADLINE_PT = "28 de nov. de 2026, 11:00 BRT"
RECEIVED_PT = "14 de nov. de 2026, 11:00 BRT"


def pt(kind: MessageKind, **changes: object) -> MessageContext:
    return ctx(kind, locale="pt-BR", time_zone=SAO_PAULO, **changes)


# --- the catalogues -------------------------------------------------------------------------


def code_message_ids() -> dict[tuple[str | None, str], tuple[str, ...]]:
    """(context, msgid) -> every form, for each message the code asks to translate: what
    `make messages` extracts."""
    found: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for _file, _line, message, _comments, context in extract_from_dir(
        APP, method_map=[("**.py", "python")], comment_tags=("Translators:",)
    ):
        forms = message if isinstance(message, tuple) else (message,)
        found[(context, forms[0])] = tuple(forms)
    return found


def catalogue(locale: str) -> Catalog:
    folder = locale.replace("-", "_")
    with (APP / "locales" / folder / "LC_MESSAGES" / "messages.po").open("rb") as file:
        return read_po(file)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


TRANSLATED = [locale for locale in supported_locales() if locale != "en"]


def test_we_speak_english_and_brazilian_portuguese() -> None:
    assert supported_locales() == ("en", "pt-BR")
    assert TRANSLATED == ["pt-BR"]


def test_the_code_has_messages_to_translate() -> None:
    ids = code_message_ids()
    assert ("datetime pattern", "d MMM y HH:mm zzz") in ids
    assert (None, "{n} hour") in ids
    assert len(ids) > 70


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_id_has_a_translation(locale: str) -> None:
    """Fails for a message added to the code and not translated: run `make messages`, then
    translate the new entries in each catalogue (README, "Languages and time zones")."""
    entries = {
        (m.context, m.id if isinstance(m.id, str) else m.id[0]): m
        for m in catalogue(locale)
        if m.id
    }
    missing, untranslated, fuzzy, broken = [], [], [], []
    for key, forms in code_message_ids().items():
        entry = entries.get(key)
        if entry is None:
            missing.append(key)
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(strings):
            untranslated.append(key)
        if entry.fuzzy:
            fuzzy.append(key)
        allowed = set().union(*(fields(form) for form in forms))
        for text in strings:
            # A translation uses the placeholders the code fills, and no other.
            if fields(text) - allowed or (len(forms) == 1 and fields(text) != allowed):
                broken.append((key, text))
    assert missing == [], f"not in the {locale} catalogue (run make messages): {missing}"
    assert untranslated == [], f"no {locale} translation: {untranslated}"
    assert fuzzy == [], f"fuzzy (unchecked) in {locale}: {fuzzy}"
    assert broken == [], f"placeholders differ in {locale}: {broken}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_catalogues_hold_no_messages_the_code_no_longer_has(locale: str) -> None:
    ids = code_message_ids()
    stale = [
        (m.context, m.id)
        for m in catalogue(locale)
        if m.id and (m.context, m.id if isinstance(m.id, str) else m.id[0]) not in ids
    ]
    assert stale == []


def test_the_template_is_up_to_date() -> None:
    with (APP / "locales" / "messages.pot").open("rb") as file:
        template = {
            (m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in read_po(file) if m.id
        }
    assert template == set(code_message_ids()), "run make messages"


# --- locales and zones ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("pt-BR", "pt-BR"),
        ("pt_BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        (" PT_br ", "pt-BR"),
        ("pt", "pt-BR"),
        ("en", "en"),
        ("en-US", "en"),
        ("EN_gb", "en"),
        ("pt-PT", None),
        ("fr", None),
        ("fr-FR", None),
        ("", None),
        ("x" * 100, None),
        ("../../etc/passwd", None),
    ],
)
def test_locales_normalise_to_bcp47(raw: str, tag: str | None) -> None:
    assert normalise_locale(raw) == tag


@pytest.mark.parametrize(
    ("raw", "zone"),
    [
        ("America/Sao_Paulo", "America/Sao_Paulo"),
        ("america/sao_paulo", "America/Sao_Paulo"),
        ("UTC", "UTC"),
        ("Europe/Lisbon", "Europe/Lisbon"),
        ("Mars/Olympus_Mons", None),
        ("../../etc/passwd", None),
        ("", None),
    ],
)
def test_time_zones_are_iana_names(raw: str, zone: str | None) -> None:
    assert normalise_time_zone(raw) == zone


def test_an_unknown_preference_reads_as_english_in_utc() -> None:
    lang = Language("xx-YY", "Nowhere/Town")
    assert (lang.locale, lang.time_zone) == ("en", "UTC")
    assert lang.gettext("New lead from {company}", company="A") == "New lead from A"


# --- formatting -----------------------------------------------------------------------------


def test_dates_in_the_recipients_zone_and_locale() -> None:
    sao_paulo = Language("pt-BR", SAO_PAULO)
    assert format_datetime(LEAD.respond_by, sao_paulo) == DEADLINE_PT
    assert format_datetime(LEAD.respond_by, Language("en", SAO_PAULO)) == "28 Nov 2026 11:00 -0300"
    assert format_datetime(LEAD.respond_by, Language("pt-BR")) == "28 de nov. de 2026, 14:00 UTC"
    # Summer time where the zone has it: Lisbon is UTC+1 in July.
    july = LEAD.respond_by.replace(month=7)
    assert "15:00" in format_datetime(july, Language("en", "Europe/Lisbon"))


def test_money_as_the_locale_writes_it() -> None:
    portuguese = Language("pt-BR")
    assert money(Decimal("1234.56"), "BRL", portuguese) == "R$\xa01.234,56"
    assert money(Decimal("1234.56"), "USD", portuguese) == "US$\xa01.234,56"
    assert money(Decimal("1234.56"), "USD") == "$1,234.56"
    assert money(Decimal("1234.56"), "BRL") == "R$1,234.56"
    assert money(Decimal("1000"), "JPY", portuguese) == "JP¥\xa01.000"


def test_numbers_plurals_and_names_as_the_locale_writes_them() -> None:
    portuguese = Language("pt-BR")
    assert company_size_label("SIZE_10001_20000", portuguese) == "10.001–20.000 funcionários"
    assert company_size_label("SIZE_20000_PLUS", portuguese) == "20.000+ funcionários"
    assert company_size_label("SIZE_10001_20000") == "10,001–20,000 employees"
    assert country_name("BR", portuguese) == "Brasil"
    assert country_name("BR") == "Brazil"
    assert country_name("Portugal", portuguese) == "Portugal"  # not a code: as it is
    hours = "{n} hour", "{n} hours"
    assert [portuguese.ngettext(*hours, n) for n in (1, 2, 1000)] == [
        "1 hora",
        "2 horas",
        "1.000 horas",
    ]
    assert [Language().ngettext(*hours, n) for n in (1, 2, 1000)] == [
        "1 hour",
        "2 hours",
        "1,000 hours",
    ]


# --- each kind in Portuguese ----------------------------------------------------------------


def test_reminder_in_portuguese_counts_the_hours_left() -> None:
    rendered = render_email(pt(MessageKind.REMINDER, hours_left=24))
    assert rendered.subject == (
        "Lembrete: faltam 24 horas para responder ao lead de Adatum Corporation"
    )
    assert f"Faltam 24 horas para aceitá-lo ou recusá-lo (até {DEADLINE_PT})" in rendered.text
    one = pt(MessageKind.REMINDER, hours_left=1)
    assert render_email(one).subject == (
        "Lembrete: falta 1 hora para responder ao lead de Adatum Corporation"
    )
    assert render_in_app(one).title == "Falta 1 hora para responder ao lead de Adatum Corporation"


def test_declined_notice_in_portuguese_for_the_customer() -> None:
    context = pt(MessageKind.LEAD_DECLINED, recipient_name="Rita Gomes")
    rendered = render_email(context)
    assert rendered.subject == "Sua solicitação para Contoso Consulting"
    assert rendered.text.startswith("Olá, Rita Gomes,")
    assert "Escolha um parceiro diferente" in rendered.text
    assert f"Recebido em:     {RECEIVED_PT}" in rendered.text
    assert '<html lang="pt-BR">' in rendered.html
    assert "NO_CAPACITY" not in rendered.text and "Their budget" not in rendered.text
    assert "parceiro diferente" in render_in_app(context).body


def test_partner_team_sees_its_estimated_value_in_its_currency_as_pt_br_writes_it() -> None:
    lead = dataclasses.replace(
        LEAD, estimated_value_amount=Decimal("1234.56"), estimated_value_currency="BRL"
    )
    rendered = render_email(pt(MessageKind.NEW_LEAD, lead=lead))
    assert "Valor estimado:     R$\xa01.234,56" in rendered.text
    dollars = dataclasses.replace(lead, estimated_value_currency="USD")
    assert "US$\xa01.234,56" in render_email(pt(MessageKind.NEW_LEAD, lead=dollars)).text
    english = render_email(ctx(MessageKind.NEW_LEAD, lead=dollars)).text
    assert re.search(r"^Estimated value: +\$1,234\.56$", english, re.MULTILINE)
    # The partner's deal is its own: never told to the customer or to the lead's sender.
    for kind in (MessageKind.LEAD_DECLINED, MessageKind.LEAD_EXPIRED, MessageKind.SENT_LEAD_WON):
        for part in (
            render_email(pt(kind, lead=lead)).text,
            render_in_app(pt(kind, lead=lead)).body,
        ):
            assert "1.234,56" not in part


def english_sentences(kind: MessageKind) -> list[str]:
    """The English rendering's sentences that carry words (not values, which stay as typed)."""
    rendered, in_app = render_email(ctx(kind)), render_in_app(ctx(kind))
    parts = [rendered.subject, in_app.title, in_app.body, *rendered.text.split("\n")]
    values = {LEAD.company_name, *LEAD.need.split("\n"), LEAD.id, "Contoso Consulting"}
    sentences = [p.strip() for p in parts]
    return [p for p in sentences if len(p) > 12 and p not in values and "http" not in p]


@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_reads_in_portuguese_with_dates_in_the_recipients_zone(
    kind: MessageKind,
) -> None:
    context = pt(kind, recipient_name="Ana")
    rendered, in_app = render_email(context), render_in_app(context)
    for sentence in english_sentences(kind):
        for part in (rendered.subject, rendered.text, in_app.title, in_app.body):
            assert sentence not in part, (sentence, part)
    assert rendered.text.startswith("Olá, Ana,")
    assert rendered.locale == "pt-BR"
    assert "UTC" not in rendered.text + in_app.body
    if kind is not MessageKind.WEBHOOK_DISABLED:
        assert "BRT" in rendered.text  # dates in São Paulo time
    english = render_email(ctx(kind, recipient_name="Ana"))
    assert english.text.startswith("Hello Ana,") and english.locale == "en"


@pytest.mark.parametrize("kind", list(MessageKind))
def test_portuguese_messages_escape_values_as_english_ones_do(kind: MessageKind) -> None:
    lead = dataclasses.replace(LEAD, company_name=HOSTILE, need=HOSTILE)
    rendered = render_email(pt(kind, lead=lead, partner_name=HOSTILE))
    assert "<script" not in rendered.html
    assert "&lt;script&gt;" in rendered.html


def test_english_is_the_default() -> None:
    rendered = render_email(ctx(MessageKind.REMINDER, hours_left=24))
    assert rendered.subject == "Reminder: 24 hours left to answer the lead from Adatum Corporation"
    assert rendered.locale == "en" and '<html lang="en">' in rendered.html
    assert "28 Nov 2026 14:00 UTC" in rendered.text


# --- adding a language ----------------------------------------------------------------------


@pytest.fixture
def with_spanish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """app/locales as it is, plus a Spanish catalogue (as `make locale LOCALE=es` starts one)
    with one message translated."""
    shutil.copytree(APP / "locales", tmp_path / "locales")
    with (APP / "locales" / "messages.pot").open("rb") as file:
        template = read_po(file)
    spanish = Catalog(locale="es")
    spanish.update(template)
    spanish["New lead from {company}"].string = "Nuevo lead de {company}"
    folder = tmp_path / "locales" / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / "messages.po").open("wb") as file:
        write_po(file, spanish)
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path / "locales")
    forget_catalogues()
    yield
    monkeypatch.undo()
    forget_catalogues()


@pytest.mark.usefixtures("with_spanish")
def test_adding_a_language_is_adding_a_catalogue() -> None:
    assert supported_locales() == ("en", "es", "pt-BR")
    assert normalise_locale("es_ES") == "es"
    rendered = render_email(ctx(MessageKind.NEW_LEAD, locale="es"))
    assert rendered.subject == "Nuevo lead de Adatum Corporation"
    # Untranslated yet: English words, Spanish dates.
    assert "Please accept or decline it by 28 nov 2026 14:00 UTC" in rendered.text
