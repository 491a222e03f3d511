"""Sending e-mail over real SMTP (aiosmtpd on 127.0.0.1), and the development mail sink."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.config import AppEnv, Settings
from app.dev.smtp_sink import MailSink, free_port
from app.notify.mailer import EmailMessage, MailError, build_mime, send_email

FROM = "Partner Leads <leads@partner-leads.example>"


def settings_for(smtp_url: str | None) -> Settings:
    return Settings(app_env=AppEnv.TEST, smtp_url=smtp_url, mail_from=FROM)


def message(**changes: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "to": "ana@contoso.example",
        "to_name": "Ana Silva",
        "subject": "New lead from Adatum Corporation",
        "text": "Hello Ana,\n\nA new lead arrived.\n",
        "html": "<!DOCTYPE html><html><body><p>Hello Ana,</p></body></html>\n",
        "message_id": "<delivery-123@partner-leads>",
        "headers": {"X-Partner-Leads-Delivery": "123"},
    }
    fields.update(changes)
    return EmailMessage(**fields)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as mail_sink:
        yield mail_sink


# --- a picky server, for refusals ---------------------------------------------------------------


class PickyHandler:
    """Refuses some recipients and some content; remembers what it accepted."""

    def __init__(self) -> None:
        self.accepted: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == "nobody@contoso.example":
            return "550 no such user"
        if address == "busy@contoso.example":
            return "450 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if b"Subject: spam" in (envelope.content or b""):
            return "554 content refused"
        self.accepted.append(envelope)
        return "250 OK"


def start_controller(handler: object, **smtp_options: Any) -> tuple[Controller, str]:
    port = free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, server_hostname="test-smtp", **smtp_options
    )
    controller.start()
    return controller, f"smtp://127.0.0.1:{port}"


@pytest.fixture
def picky() -> Iterator[tuple[PickyHandler, str]]:
    handler = PickyHandler()
    controller, url = start_controller(handler)
    yield handler, url
    controller.stop()


# --- build_mime ---------------------------------------------------------------------------------


def test_mime_is_text_and_html_alternatives_with_the_exact_message_id() -> None:
    mime = build_mime(settings_for(None), message())
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.iter_parts()] == ["text/plain", "text/html"]
    assert mime["Message-ID"] == "<delivery-123@partner-leads>"
    assert mime["From"] == FROM
    assert mime["To"] == "Ana Silva <ana@contoso.example>"
    assert mime["Subject"] == "New lead from Adatum Corporation"
    assert mime["Date"]
    assert mime["X-Partner-Leads-Delivery"] == "123"
    assert b"Message-ID: <delivery-123@partner-leads>\n" in mime.as_bytes()


def test_mime_refuses_ids_and_headers_it_cannot_send_as_given() -> None:
    with pytest.raises(ValueError, match="message_id"):
        build_mime(settings_for(None), message(message_id="delivery-123@partner-leads"))
    for name in ("Message-ID", "from", "Bcc", "Content-Type", "Bad Name", "X-Bad:"):
        with pytest.raises(ValueError, match="header"):
            build_mime(settings_for(None), message(headers={name: "x"}))
    with pytest.raises(ValueError):
        build_mime(settings_for(None), message(headers={"X-Injected": "a\r\nBcc: x@y.example"}))


def test_mime_keeps_a_subject_on_one_line() -> None:
    mime = build_mime(settings_for(None), message(subject="New lead\r\nBcc: victim@example.com"))
    assert mime["Subject"] == "New lead Bcc: victim@example.com"
    assert mime["Bcc"] is None


# --- send_email against the sink ----------------------------------------------------------------


async def test_send_delivers_a_multipart_message_with_both_parts(sink: MailSink) -> None:
    await send_email(settings_for(sink.url), message())

    [received] = sink.messages()
    assert received["Message-ID"] == "<delivery-123@partner-leads>"
    assert received["From"] == FROM
    assert received["To"] == "Ana Silva <ana@contoso.example>"
    assert received["Subject"] == "New lead from Adatum Corporation"
    assert received["X-Delivered-To"] == "ana@contoso.example"
    assert received["Return-Path"] == "<leads@partner-leads.example>"
    assert received["X-Partner-Leads-Delivery"] == "123"
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content() == "Hello Ana,\n\nA new lead arrived.\n"
    assert html.get_content() == "<!DOCTYPE html><html><body><p>Hello Ana,</p></body></html>\n"


async def test_non_ascii_names_subjects_and_bodies_arrive_intact(sink: MailSink) -> None:
    await send_email(
        settings_for(sink.url),
        message(
            to_name="João Gonçalves",
            subject="Novo lead: São Paulo – 51–250 employees",
            text="Olá João — " + "x" * 1200 + "\n",  # a line longer than SMTP allows
            html="<p>Olá João — São Paulo</p>\n",
        ),
    )
    [received] = sink.messages()
    assert received["To"] == "João Gonçalves <ana@contoso.example>"
    assert received["Subject"] == "Novo lead: São Paulo – 51–250 employees"
    text = received.get_body(preferencelist=("plain",))
    html = received.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content() == "Olá João — " + "x" * 1200 + "\n"
    assert html.get_content() == "<p>Olá João — São Paulo</p>\n"


async def test_the_same_message_id_twice_is_sent_twice(sink: MailSink) -> None:
    # Deduplication is the worker's job (it records the delivery as sent); the mailer sends.
    await send_email(settings_for(sink.url), message())
    await send_email(settings_for(sink.url), message())
    received = sink.messages()
    assert len(received) == 2
    assert {m["Message-ID"] for m in received} == {"<delivery-123@partner-leads>"}
    assert len(list(sink.folder.glob("*.eml"))) == 2


async def test_a_stopped_server_is_a_transient_failure(sink: MailSink) -> None:
    url = sink.url
    sink.stop()
    with pytest.raises(MailError) as caught:
        await send_email(settings_for(url), message())
    assert caught.value.permanent is False
    assert caught.value.code is None


async def test_a_silent_server_times_out_as_a_transient_failure() -> None:
    async def say_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets; returns when the client hangs up
        writer.close()

    server = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(MailError, match="timed out") as caught:
            await send_email(settings_for(f"smtp://127.0.0.1:{port}"), message(), timeout=0.3)
        assert caught.value.permanent is False
    finally:
        server.close()
        await server.wait_closed()


async def test_without_an_smtp_url_nothing_is_sent_and_it_can_be_retried() -> None:
    with pytest.raises(MailError, match="SMTP_URL is not set") as caught:
        await send_email(settings_for(None), message())
    assert caught.value.permanent is False


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:25", "smtp://", "smtp://host:notaport", "smtp://u:secret@:25"]
)
async def test_a_bad_smtp_url_is_a_transient_configuration_error(url: str) -> None:
    with pytest.raises(MailError, match="SMTP_URL") as caught:
        await send_email(settings_for(url), message())
    assert caught.value.permanent is False
    assert "secret" not in str(caught.value)


async def test_a_message_that_cannot_be_built_is_permanent(sink: MailSink) -> None:
    with pytest.raises(MailError, match="cannot build") as caught:
        await send_email(settings_for(sink.url), message(message_id="no-brackets@x"))
    assert caught.value.permanent is True
    assert sink.messages() == []


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refused", "reason", "code", "permanent"),
    [
        ({"to": "nobody@contoso.example"}, "no such user", 550, True),
        ({"to": "busy@contoso.example"}, "mailbox busy", 450, False),  # try again later
        ({"subject": "spam"}, "content refused", 554, True),
    ],
)
async def test_a_refusal_says_whether_it_is_permanent(
    picky: tuple[PickyHandler, str],
    refused: dict[str, str],
    reason: str,
    code: int,
    permanent: bool,
) -> None:
    handler, url = picky
    with pytest.raises(MailError, match=reason) as caught:
        await send_email(settings_for(url), message(**refused))
    assert (caught.value.code, caught.value.permanent) == (code, permanent)
    assert handler.accepted == []

    # The server refused that message, not the sender: the next one goes through.
    await send_email(settings_for(url), message(to="ana@contoso.example"))
    assert [envelope.rcpt_tos for envelope in handler.accepted] == [["ana@contoso.example"]]


# --- authentication -----------------------------------------------------------------------------


class AcceptAll:
    def __init__(self) -> None:
        self.users: list[str] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(session.auth_data, LoginPassword)
        self.users.append(session.auth_data.login.decode())
        return "250 OK"


def only_mailer_with_p_at_ss(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"mailer", b"p@ss:word")
    # handled=False: the server answers 535 itself on failure.
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def auth_server() -> Iterator[tuple[AcceptAll, int]]:
    handler = AcceptAll()
    controller, url = start_controller(
        handler,
        authenticator=only_mailer_with_p_at_ss,
        auth_require_tls=False,  # a test on loopback; real servers use TLS
    )
    yield handler, int(url.rsplit(":", 1)[1])
    controller.stop()


async def test_credentials_in_the_url_are_used_percent_decoded(
    auth_server: tuple[AcceptAll, int],
) -> None:
    handler, port = auth_server
    await send_email(settings_for(f"smtp://mailer:p%40ss%3Aword@127.0.0.1:{port}"), message())
    assert handler.users == ["mailer"]


async def test_wrong_credentials_are_transient(auth_server: tuple[AcceptAll, int]) -> None:
    # Credentials are an operator's fix: the delivery should survive until they are right.
    handler, port = auth_server
    with pytest.raises(MailError, match="authentication") as caught:
        await send_email(settings_for(f"smtp://mailer:wrong@127.0.0.1:{port}"), message())
    assert caught.value.permanent is False
    assert caught.value.code == 535
    assert handler.users == []


# --- the sink -----------------------------------------------------------------------------------


async def test_sink_writes_one_file_per_recipient(sink: MailSink) -> None:
    raw = build_mime(settings_for(sink.url), message(to="team@contoso.example", to_name=None))
    await aiosmtplib.send(
        raw,
        sender="leads@partner-leads.example",
        recipients=["ana@contoso.example", "bruno@contoso.example"],
        hostname="127.0.0.1",
        port=sink.port,
    )
    received = sink.messages()
    assert sorted(m["X-Delivered-To"] for m in received) == [
        "ana@contoso.example",
        "bruno@contoso.example",
    ]
    assert {m["Message-ID"] for m in received} == {"<delivery-123@partner-leads>"}
    names = sorted(path.name for path in sink.folder.iterdir())
    assert len(names) == 2
    assert all(re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-\d{6}\.eml", name) for name in names)


async def test_sink_lists_messages_in_arrival_order(sink: MailSink) -> None:
    for n in range(3):
        await send_email(settings_for(sink.url), message(subject=f"message {n}"))
    assert [m["Subject"] for m in sink.messages()] == ["message 0", "message 1", "message 2"]


def test_sink_picks_a_free_port_and_answers_at_once(tmp_path: Path) -> None:
    first, second = MailSink(tmp_path / "a"), MailSink(tmp_path / "b")
    try:
        port = first.start()
        assert port > 0
        assert first.url == f"smtp://127.0.0.1:{port}"
        assert second.start() != port
        assert (tmp_path / "a").is_dir()
    finally:
        first.stop()
        second.stop()
    first.stop()  # stopping twice is harmless


def test_sink_on_a_given_port(tmp_path: Path) -> None:
    port = free_port()
    with MailSink(tmp_path, port=port) as given:
        assert given.url == f"smtp://127.0.0.1:{port}"


async def test_two_sinks_can_share_a_folder(tmp_path: Path) -> None:
    first, second = MailSink(tmp_path), MailSink(tmp_path)
    first.start()
    second.start()
    try:
        await asyncio.gather(
            *(send_email(settings_for(s.url), message()) for s in (first, second) for _ in "abc")
        )
    finally:
        first.stop()
        second.stop()
    assert len(first.messages()) == 6
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".eml")]
