"""Sending one e-mail over SMTP (SPEC R13). The worker owns retries and deduplication: this module
makes one attempt and says whether trying again can help.

`send_email` never deduplicates. Two calls with the same `message_id` send two messages (both
carry that Message-ID, so mail clients may thread or collapse them): the worker must record a
delivery as sent before it could be picked up again.
"""

from __future__ import annotations

import email.message
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from urllib.parse import SplitResult, unquote, urlsplit

import aiosmtplib

from app.config import Settings

SMTP_TIMEOUT_SECONDS = 15.0

# Set by build_mime itself; `EmailMessage.headers` may not override them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "message-id",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 ftext)


@dataclass(frozen=True)
class EmailMessage:
    to: str
    to_name: str | None
    subject: str
    text: str
    html: str
    # The stable per-delivery id, with its angle brackets: "<delivery-123@partner-leads>".
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


class MailError(Exception):
    """One attempt failed. `permanent`: trying the same message again cannot succeed (the server
    refused it with a 5xx reply, or it cannot be built); otherwise retry later. `code` is the SMTP
    reply code when the server gave one."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code


def build_mime(settings: Settings, message: EmailMessage) -> email.message.EmailMessage:
    """multipart/alternative (text, then HTML) with From, To, Subject, Date, the exact
    Message-ID and the extra headers. ValueError for a malformed address, id or header."""
    if not _MESSAGE_ID.fullmatch(message.message_id):
        raise ValueError(
            f"message_id must look like <id@domain>, with the brackets: {message.message_id!r}"
        )
    mime = email.message.EmailMessage(policy=email.policy.default)
    mime["From"] = settings.mail_from
    mime["To"] = Address(display_name=message.to_name or "", addr_spec=message.to)
    # Header values may not contain line breaks (the policy refuses them): one line.
    mime["Subject"] = " ".join(message.subject.split())
    mime["Date"] = email.utils.format_datetime(datetime.now(UTC))
    mime["Message-ID"] = message.message_id
    mime.set_content(message.text, subtype="plain", charset="utf-8")
    mime.add_alternative(message.html, subtype="html", charset="utf-8")
    # After the content: setting it drops every Content-* header (Content-Language).
    for name, value in message.headers.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} cannot be set as an extra header")
        mime[name] = value
    return mime


@dataclass(frozen=True)
class _Server:
    hostname: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None


def _parse_smtp_url(smtp_url: str) -> _Server:
    try:
        url: SplitResult = urlsplit(smtp_url)
        port = url.port
    except ValueError as error:
        raise MailError(f"SMTP_URL is not a valid URL: {error}", permanent=False) from None
    if url.scheme not in ("smtp", "smtps") or not url.hostname:
        # Never echo the URL: it may hold a password.
        raise MailError(
            "SMTP_URL must look like smtp://[user:pass@]host[:port] or smtps://...",
            permanent=False,
        )
    use_tls = url.scheme == "smtps"
    return _Server(
        hostname=url.hostname,
        port=port if port is not None else (465 if use_tls else 25),
        use_tls=use_tls,
        username=unquote(url.username) if url.username is not None else None,
        password=unquote(url.password) if url.password is not None else None,
    )


def _refused(error: aiosmtplib.SMTPResponseException, what: str) -> MailError:
    reply = f"{error.code} {error.message}".strip()
    return MailError(f"{what}: {reply}", permanent=500 <= error.code < 600, code=error.code)


async def send_email(
    settings: Settings, message: EmailMessage, *, timeout: float = SMTP_TIMEOUT_SECONDS
) -> None:
    """One delivery attempt to `message.to`. Raises MailError: permanent for 5xx replies (the
    recipient, sender or content refused) and for a message that cannot be built; transient
    for connection errors, timeouts, 4xx replies, failed authentication and a missing or bad
    SMTP_URL (configuration is fixed by an operator, and the delivery should survive that)."""
    if settings.smtp_url is None:
        raise MailError(
            "SMTP_URL is not set: configure an SMTP server to send e-mail", permanent=False
        )
    server = _parse_smtp_url(settings.smtp_url)
    sender = email.utils.parseaddr(settings.mail_from)[1]
    if "@" not in sender:
        raise MailError(f"MAIL_FROM has no valid address: {settings.mail_from!r}", permanent=False)
    try:
        mime = build_mime(settings, message)
    except (ValueError, HeaderParseError) as error:
        raise MailError(f"cannot build the message: {error}", permanent=True) from error
    try:
        await aiosmtplib.send(
            mime,
            sender=sender,
            recipients=[message.to],
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            timeout=timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        # Raised when every recipient was refused; we send to exactly one.
        first = error.recipients[0] if error.recipients else None
        if first is None:
            raise MailError("recipient refused", permanent=True) from error
        raise _refused(first, f"recipient {first.recipient} refused") from error
    except aiosmtplib.SMTPRecipientRefused as error:
        raise _refused(error, f"recipient {error.recipient} refused") from error
    except aiosmtplib.SMTPSenderRefused as error:
        raise _refused(error, f"sender {error.sender} refused") from error
    except aiosmtplib.SMTPDataError as error:
        raise _refused(error, "message refused") from error
    except aiosmtplib.SMTPAuthenticationError as error:
        # Bad credentials are an operator's fix, not the message's fault: retry.
        raise MailError(
            f"SMTP authentication failed: {error.code} {error.message}",
            permanent=False,
            code=error.code,
        ) from error
    except aiosmtplib.SMTPTimeoutError as error:
        raise MailError(f"SMTP timed out after {timeout:g} s: {error}", permanent=False) from error
    except aiosmtplib.SMTPConnectError as error:
        # Also SMTPConnectResponseError: a 554 greeting is a server refusing service.
        raise MailError(f"cannot connect to the SMTP server: {error}", permanent=False) from error
    except aiosmtplib.SMTPResponseException as error:
        raise _refused(error, "SMTP server refused") from error
    except aiosmtplib.SMTPException as error:
        # Disconnected, STARTTLS/AUTH not supported, ...
        raise MailError(f"SMTP failed: {error}", permanent=False) from error
    except (OSError, TimeoutError) as error:
        raise MailError(f"SMTP connection failed: {error}", permanent=False) from error
