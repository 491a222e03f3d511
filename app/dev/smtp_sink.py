"""A local SMTP sink for development and tests: accepts every message and writes it to a folder as
.eml files, one per recipient, so a developer can open them and a test can count what each
recipient got.

    sink = MailSink(Path(".data/mail"))
    sink.start()            # SMTP_URL=sink.url
    ...
    sink.messages()         # parsed, oldest first
    sink.stop()

Files are `<UTC timestamp>-<counter>.eml`, written atomically (a hidden temporary file renamed
into place), each with `X-Delivered-To: <recipient>` and `Return-Path: <sender>` prepended and
aiosmtpd's envelope headers (X-Peer, X-MailFrom, X-RcptTo) appended. aiosmtpd speaks SMTP and
parses the message; this module only files it.
"""

from __future__ import annotations

import email.message
import email.policy
import itertools
import os
import threading
from datetime import UTC, datetime
from email.parser import BytesParser
from pathlib import Path
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from app.dev.ports import free_port

# Shared by every sink in the process, so two sinks writing one folder never pick one name.
_counter = itertools.count(1)
_counter_lock = threading.Lock()

_START_ATTEMPTS = 5
_READY_TIMEOUT_SECONDS = 5.0


def _next_number() -> int:
    with _counter_lock:
        return next(_counter)


class EmlFolderHandler(Message):
    """aiosmtpd's message handler (it parses the DATA and records the envelope as X-MailFrom and
    X-RcptTo) writing one .eml file per envelope recipient into `folder`."""

    # Re-serialised as parsed (compat32 keeps headers as they came), with SMTP's line ends.
    _serialised = email.policy.compat32.clone(linesep="\r\n")

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def handle_message(self, message: email.message.Message) -> None:
        content = message.as_bytes(policy=self._serialised)
        sender = message["X-MailFrom"] or ""
        for recipient in str(message["X-RcptTo"]).split(", "):
            trace = f"X-Delivered-To: {recipient}\r\nReturn-Path: <{sender}>\r\n".encode()
            self._write(trace + content)

    def _write(self, data: bytes) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{_next_number():06d}.eml"
        final = self.folder / name
        temporary = self.folder / f".{name}.tmp"
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        return final


class MailSink:
    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.folder = Path(folder)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    def start(self) -> int:
        """Listen (on a free port when `port` is 0) and return the port once the server answers."""
        if self._controller is not None:
            raise RuntimeError("the mail sink is already running")
        self.folder.mkdir(parents=True, exist_ok=True)
        handler = EmlFolderHandler(self.folder)
        # Controller needs an explicit port: probe for one, and try again if another process
        # took it between the probe and the bind.
        attempts = _START_ATTEMPTS if self.port == 0 else 1
        for attempt in range(attempts):
            port = self.port or free_port(self.host)
            controller = Controller(
                handler,
                hostname=self.host,
                port=port,
                ready_timeout=_READY_TIMEOUT_SECONDS,
                server_hostname="partner-leads-devsmtp",  # no DNS lookup of our own name
            )
            try:
                controller.start()
            except OSError:
                controller.stop(no_assert=True)
                if attempt == attempts - 1:
                    raise
                continue
            # Controller.start returns once the server has answered a connection of its own.
            self._controller = controller
            self.port = port
            break
        return self.port

    def stop(self) -> None:
        """Stop listening (idempotent). The files stay."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def url(self) -> str:
        if self._controller is None and self.port == 0:
            raise RuntimeError("the mail sink has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self.port}"

    def messages(self) -> list[email.message.EmailMessage]:
        """Every stored message, parsed, sorted by file name (oldest first)."""
        parser = BytesParser(policy=email.policy.default)
        found: list[email.message.EmailMessage] = []
        for path in sorted(self.folder.glob("*.eml")):
            with open(path, "rb") as data:
                # The default policy builds email.message.EmailMessage objects.
                found.append(cast(email.message.EmailMessage, parser.parse(data)))
        return found

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
