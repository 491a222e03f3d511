"""Issue 12, section 4: two API processes (`serve --workers 2`) and two workers against one
database do the same work as one of each. The same script runs on each setup, each on a stack
of its own (Postgres, Valkey, SMTP sink, webhook receiver): leads arrive (over HTTP, and some
long ago), are accepted and declined over HTTP on fresh connections (spread over the API
processes), the workers' sweeps expire the overdue and remind about the nearly due, and every
alert goes out. Both end with the same lead states and the same deliveries, each exactly once."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import PROJECT_ROOT
from app.db.models import (
    BusinessProfile,
    Delivery,
    Lead,
    LeadReminder,
    Organisation,
    OutboxMessage,
    User,
    WebhookEndpoint,
)
from app.dev.ports import free_port
from app.domain.events import Channel, DeliveryStatus
from app.domain.lifecycle import LeadType
from app.jobs import JOB_EXPIRE, JOB_REMIND
from app.services.auth import issue_token
from app.services.receive import receive_lead
from tests.factories import incoming_lead
from tests.intake_inputs import SUBMIT, inquiry
from tests.serving import api_processes, serve_api, stop, wait_serving
from tests.stack import IsolatedStack, utcnow
from tests.waiting import eventually

INQUIRIES, ACCEPTED, DECLINED = 8, 3, 3  # arriving over HTTP; the rest stay open
OVERDUE, NEARLY_DUE = 3, 2  # arrived long ago: expired, and reminded, by the workers' sweeps
ACCEPT = """
mutation($id: ID!) {
  acceptLead(input: {id: $id, dealName: "Scale", estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}}) {
    lead { stage } errors { code }
  }
}"""
DECLINE = """
mutation($id: ID!) {
  declineLead(input: {id: $id, reason: NO_CAPACITY}) { lead { stage outcome } errors { code } }
}"""


@dataclass
class Outcome:
    """What a run did, in terms that do not depend on ids or timing."""

    leads: Counter[tuple[str, str, str | None]]  # (role in the script, stage, outcome)
    reminded: int
    deliveries: Counter[tuple[str, str, str]]  # (topic, channel, recipient)
    webhooks: int
    mails: int


async def _post(http: httpx.AsyncClient, query: str, variables: dict[str, Any], **kw: Any) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables}, **kw)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def _arrived_long_ago(stack: IsolatedStack) -> dict[uuid.UUID, str]:
    """Leads that arrived before the workers started: some past their deadline (a seller's,
    who is told when it expires), some with 36 hours left (a reminder is due)."""
    now, roles = utcnow(), {}
    contoso = stack.partners["contoso"].organisation_id
    async with AsyncSession(stack.engine) as session, session.begin():
        seller = await session.scalar(select(User).where(User.email == "seller@platform.example"))
        assert seller is not None
        for i in range(OVERDUE):
            sent = incoming_lead(
                type=LeadType.SALES_QUALIFIED,
                contact_requested=False,
                sender_user_id=seller.id,
                sender_organisation_id=seller.organisation_id,
                company_name=f"Overdue {i}",
                contact_email=f"overdue{i}@example.com",
            )
            lead = await receive_lead(
                session, contoso, sent, now=now - timedelta(days=15), settings=stack.settings
            )
            roles[lead.id] = "overdue"
        for i in range(NEARLY_DUE):
            customer = incoming_lead(
                company_name=f"Nearly due {i}",
                contact_email=f"nearly{i}@example.com",
                contact_requested=False,
            )
            lead = await receive_lead(
                session,
                contoso,
                customer,
                now=now - timedelta(days=12, hours=12),
                settings=stack.settings,
            )
            roles[lead.id] = "nearly due"
    return roles


async def _over_http(stack: IsolatedStack, port: int) -> dict[uuid.UUID, str]:
    """Inquiries submitted, then accepted and declined by contoso's referrals admin, all at
    once and each request on a connection of its own."""
    async with AsyncSession(stack.engine) as session:
        contoso = stack.partners["contoso"].organisation_id
        profile_id = await session.scalar(
            select(BusinessProfile.id).where(BusinessProfile.organisation_id == contoso)
        )
        admin = await session.scalar(
            select(User.id).where(User.email == "referrals@contoso.example")
        )
    assert profile_id and admin
    bearer = {"Authorization": f"Bearer {issue_token(stack.settings, admin)}"}
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits
    ) as http:
        submitted = await asyncio.gather(
            *(
                _post(
                    http,
                    SUBMIT,
                    {
                        "profileId": str(profile_id),
                        "input": inquiry(
                            company={"name": f"Inquiry {i}"},
                            contact={"email": f"inquiry{i}@example.com"},
                            contactRequested=i % 2 == 0,
                        ),
                        "key": f"inquiry-{i}",
                    },
                )
                for i in range(INQUIRIES)
            )
        )
        ids = [uuid.UUID(data["submitInquiry"]["lead"]["id"]) for data in submitted]
        roles = dict.fromkeys(ids, "open")
        actions = []
        for n, lead_id in enumerate(ids[: ACCEPTED + DECLINED]):
            document, role = (ACCEPT, "accepted") if n < ACCEPTED else (DECLINE, "declined")
            roles[lead_id] = role
            actions.append(_post(http, document, {"id": str(lead_id)}, headers=bearer))
        for data in await asyncio.gather(*actions):
            payload = next(iter(data.values()))
            assert payload["errors"] == [], payload
    return roles


async def _states(stack: IsolatedStack, roles: dict[uuid.UUID, str]) -> Counter[Any]:
    async with AsyncSession(stack.engine) as session:
        rows = await session.execute(
            select(Lead.id, Lead.stage, Lead.outcome).where(Lead.id.in_(list(roles)))
        )
        return Counter((roles[lead_id], stage, outcome) for lead_id, stage, outcome in rows)


async def _reminded(stack: IsolatedStack, roles: dict[uuid.UUID, str]) -> int:
    async with AsyncSession(stack.engine) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LeadReminder)
            .where(LeadReminder.lead_id.in_(list(roles)))
        )
    return int(count or 0)


async def _run(api: int, workers: int) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix=f"scale-{api}x{workers}-", dir=PROJECT_ROOT / ".data"))
    stack = await IsolatedStack(root).start()
    server = None
    try:
        # The processes start while the old leads arrive: their start-up is most of the time.
        await stack.forget_worker_health()
        for _ in range(workers):
            stack.start_worker()
        port, log = free_port(), root / "serve.log"
        server = serve_api(stack.settings, port, log, workers=api)
        roles = await _arrived_long_ago(stack)
        await asyncio.to_thread(wait_serving, port, log)
        assert len(api_processes(server)) == (api if api > 1 else 0)
        await stack.wait_worker_polling()
        roles |= await _over_http(stack, port)
        expected = Counter(
            {
                ("overdue", "ARCHIVED", "EXPIRED"): OVERDUE,
                ("nearly due", "RECEIVED", None): NEARLY_DUE,
                ("accepted", "ACCEPTED", None): ACCEPTED,
                ("declined", "ARCHIVED", "DECLINED"): DECLINED,
                ("open", "RECEIVED", None): INQUIRIES - ACCEPTED - DECLINED,
            }
        )

        # The sweeps run when a worker starts, perhaps before the old leads were committed:
        # once more now, in whichever worker takes them.
        async with stack.redis() as redis:
            for job in (JOB_EXPIRE, JOB_REMIND):
                assert await redis.enqueue_job(f"cron:{job}")
        seen: list[Any] = []

        async def swept() -> bool:
            seen[:] = [await _states(stack, roles), await _reminded(stack, roles)]
            return seen == [expected, NEARLY_DUE]

        await eventually(
            swept,
            timeout=60,
            describe=lambda: f"the sweeps expired and reminded: {seen}; logs in {root}",
        )
        await stack.enqueue_relay()
        await stack.wait_delivered(timeout=60)
        return await _outcome(stack, roles)
    finally:
        if server is not None:
            stop(server)
        await stack.stop()
        shutil.rmtree(root, ignore_errors=True)


async def _outcome(stack: IsolatedStack, roles: dict[uuid.UUID, str]) -> Outcome:
    # Exactly once: every delivery owed was sent, and arrived once.
    expected_mail = await stack.expected(Channel.EMAIL)
    received_mail, raw_mail = stack.mail_received()
    assert received_mail == expected_mail and set(raw_mail.values()) == {1}
    expected_hooks = await stack.expected(Channel.WEBHOOK)
    hooks = stack.receiver.counts()
    assert set(hooks) == {event for event, _ in expected_hooks}
    assert set(hooks.values()) == {1}
    assert all(r.verified for r in stack.receiver.received)
    async with AsyncSession(stack.engine) as session:
        # Recipients that are ids (users, organisations, the endpoint) by what names them.
        names = {str(i): e for i, e in await session.execute(select(User.id, User.email))}
        names |= {
            str(i): s for i, s in await session.execute(select(Organisation.id, Organisation.slug))
        }
        names |= {str(i): "endpoint" for i in await session.scalars(select(WebhookEndpoint.id))}
        rows = await session.execute(
            select(OutboxMessage.topic, Delivery.channel, Delivery.recipient, Delivery.status)
            .join(Delivery, Delivery.outbox_id == OutboxMessage.id)
            .where(OutboxMessage.lead_id.in_(list(roles)))
        )
        deliveries: Counter[tuple[str, str, str]] = Counter()
        for topic, channel, recipient, status in rows:
            assert status == DeliveryStatus.SENT, (topic, channel, recipient, status)
            deliveries[(topic, channel, names.get(recipient, recipient))] += 1
    return Outcome(
        leads=await _states(stack, roles),
        reminded=await _reminded(stack, roles),
        deliveries=deliveries,
        webhooks=sum(hooks.values()),
        mails=sum(raw_mail.values()),
    )


async def test_two_api_processes_and_two_workers_do_what_one_of_each_does() -> None:
    # Side by side, each on its own stack: most of a run is waiting for processes to start.
    single, scaled = await asyncio.gather(_run(api=1, workers=1), _run(api=2, workers=2))
    assert single.deliveries, "the script caused deliveries"
    assert {channel for _, channel, _ in single.deliveries} >= {
        Channel.EMAIL.value,
        Channel.WEBHOOK.value,
    }
    assert scaled == single
