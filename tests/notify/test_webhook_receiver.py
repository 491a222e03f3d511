"""The test receiver behaves like a real one: a request whose sender died mid-body (a worker
killed with -9 while posting, as the fault tests do) is not a delivery, so it is not recorded —
its signature could never verify, and the sender's retry brings the whole request."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

from tests.receivers import WebhookReceiver


def _send_half_a_request(url: str) -> None:
    target = urlsplit(url)
    with socket.create_connection((target.hostname, target.port)) as conn:
        conn.sendall(
            f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"type": "lead.declined"'
        )
        conn.shutdown(socket.SHUT_WR)  # the sender is gone before the body's end
        conn.recv(1)  # the receiver closes without an answer


async def test_a_request_cut_off_mid_body_is_not_recorded() -> None:
    with WebhookReceiver() as receiver:
        _send_half_a_request(receiver.url())
        async with httpx.AsyncClient() as client:
            whole = await client.post(receiver.url(), content=b'{"type": "lead.declined"}')
        # The receiver had closed the cut-off request before the whole one was sent; it
        # records a request before answering it.
        assert whole.status_code == 200
        assert [r.body for r in receiver.requests] == [b'{"type": "lead.declined"}']
