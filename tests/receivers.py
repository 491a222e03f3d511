"""A real peer for delivery tests: an HTTP server on 127.0.0.1 that records every request and
verifies its Standard Webhooks signature. It runs on its own threads, so it answers whether the
sender is this test's event loop or a worker process."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    verified_by: list[str]  # names of the receiver's secrets the signature verified with
    status: int  # what the receiver answered
    at: float  # arrival, time.time()

    @property
    def verified(self) -> bool:
        return bool(self.verified_by)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def event_type(self) -> str:
        return str(json.loads(self.body).get("type", ""))

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body).get("data", {})
        return data


class WebhookReceiver:
    """Answers each POST with the next of `statuses` (the last one repeats), after `delay`
    seconds (a slow server); a 3xx answer points elsewhere, which senders must not follow."""

    def __init__(self, *, secret: str | None = None, status: int = 200) -> None:
        self.secrets: dict[str, str] = {}
        self.secret = secret
        self.statuses = [status]
        self.delay = 0.0
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def secret(self) -> str | None:
        """The one secret a receiver usually knows (`secrets` may name more)."""
        return self.secrets.get("current")

    @secret.setter
    def secret(self, value: str | None) -> None:
        self.secrets = {"current": value} if value else {}

    @property
    def status(self) -> int:
        return self.statuses[-1]

    @status.setter
    def status(self, value: int) -> None:
        self.statuses = [value]

    @property
    def received(self) -> list[Received]:
        """The requests it accepted (2xx), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.status < 300]

    def counts(self) -> Counter[str]:
        """How often each webhook-id was accepted."""
        return Counter(r.webhook_id for r in self.received)

    def url(self, path: str = "/hooks") -> str:
        assert self._server is not None, "start the receiver first"
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def start(self) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-body (a worker killed with -9 while posting): a
                    # real receiver never sees that as a delivery, and its signature would not
                    # verify. Dropped unrecorded; the sender's retry brings the whole request.
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(self.command, self.path, headers, body)
                if receiver.delay and receiver._stopping.wait(receiver.delay):
                    return
                answer = b"ok" if status < 300 else f"receiver says {status}".encode()
                self.send_response(status, HTTPStatus(status).phrase)
                self.send_header("Content-Length", str(len(answer)))
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a sender that gave up (timed out) closed the connection

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url()

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, method: str, target: str, headers: dict[str, str], body: bytes) -> int:
        verified_by = []
        for name, secret in self.secrets.items():
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            verified_by.append(name)
        with self._lock:
            status = self.statuses[min(len(self.requests), len(self.statuses) - 1)]
            self.requests.append(
                Received(method, target, headers, body, verified_by, status, time.time())
            )
        return status
