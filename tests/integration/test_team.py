"""Issue 11's acceptance: a partner's team works its inbox, against a real server, with the
worker's own relay delivering to a real SMTP sink.

A routing rule assigns incoming inquiries round-robin; each owner alone gets the alert and the
1-hour reminder; the owner logs a call and marks the customer contacted (the flame goes out);
after a won and a lost deal the pipeline shows the right win rate and values; a customer who
wrote in Portuguese gets the decline notice in Portuguese; after the retention period the
customers' data is gone and the pipeline is unchanged.

Everything commits, in a database of its own that is dropped afterwards; the server is wired as
in production (its own engine and read pools, as partner_leads_app)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.migrate import upgrade
from app.db.models import User
from app.db.session import create_engine
from app.dev.smtp_sink import MailSink
from app.notify.deliver import Deps
from app.services.auth import issue_token
from app.services.privacy import redact_due
from app.services.sweeps import send_reminders
from tests.factories import make_profile
from tests.integration.test_connector import server
from workers.outbox import relay

RULES = """mutation($rules: [RoutingRuleInput!]!) {
  setRoutingRules(input: {rules: $rules}) { rules { position } errors { code field message } }
}"""
SUBMIT = """mutation($p: ID!, $i: InquiryInput!, $k: String!) {
  submitInquiry(profileId: $p, input: $i, idempotencyKey: $k) {
    lead { id } errors { code field message } } }"""
LEAD = """query($id: ID!) { lead(id: $id) {
  id stage outcome version respondBy archivedAt contactAlert customerContactedAt
  owner { id email }
  customer { contactName contactEmail contactPhone need contactHidden personalDataRedactedAt
             locale timeZone }
  activities { kind body author { kind name } }
} }"""
NOTE = """mutation($id: ID!, $body: String!) {
  addLeadNote(input: {id: $id, kind: CALL, body: $body}) {
    activity { kind body author { name } } errors { code field message } } }"""
CONTACTED = """mutation($id: ID!) {
  markCustomerContacted(input: {id: $id}) { lead { contactAlert customerContactedAt }
    errors { code field message } } }"""
ACCEPT = """mutation($id: ID!, $amount: Decimal!) {
  acceptLead(input: {id: $id, dealName: "Pilot", estimatedValue: {amount: $amount,
    currency: "USD"}, estimatedPurchaseDate: "2027-03-01"}) { errors { code field message } } }"""
WON = """mutation($id: ID!) {
  markLeadWon(input: {id: $id, finalValue: {amount: "11000", currency: "USD"},
    closingDate: "2027-02-15"}) { errors { code field message } } }"""
LOST = """mutation($id: ID!) {
  markLeadLost(input: {id: $id, reason: PRICE}) { errors { code field message } } }"""
DECLINE = """mutation($id: ID!) {
  declineLead(input: {id: $id, reason: NO_CAPACITY, notes: "internal: full this quarter"}) {
    errors { code field message } } }"""
PIPELINE = """{ pipeline(groupBy: [TYPE]) { overall {
  received accepted declined expired won lost acceptanceRate winRate medianResponseHours
  estimatedValue { amount currency } wonValue { amount currency } }
  groups { key { type } figures { received won lost winRate } } } }"""
NOTIFICATIONS = "{ notifications(first: 50) { nodes { kind leadId title } } }"


@dataclass
class Team:
    settings: Settings
    engine: AsyncEngine  # the owner's: test data and checks
    sink: MailSink
    profile_id: str
    admin: User  # PARTNER_ADMIN
    referrals: User  # REFERRALS_ADMIN


@pytest.fixture
async def team(empty_database: str, settings: Settings, tmp_path: Path) -> AsyncIterator[Team]:
    upgrade(empty_database)
    sink = MailSink(tmp_path / "mail")
    sink.start()
    own = settings.model_copy(update={"database_url": empty_database, "smtp_url": sink.url})
    engine = create_engine(own, pool_size=2, max_overflow=2)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            profile = await make_profile(session, name="Tropical Cloud", countries=["BR"])
            profile_id = str(profile.id)
            users = {
                user.roles[0]: user
                for user in (
                    await session.scalars(
                        select(User).where(User.organisation_id == profile.organisation_id)
                    )
                ).all()
                if user.roles
            }
        yield Team(own, engine, sink, profile_id, users["PARTNER_ADMIN"], users["REFERRALS_ADMIN"])
    finally:
        await engine.dispose()
        sink.stop()


class Api:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self.http, self.settings = http, settings

    async def as_(self, user: User | None, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {issue_token(self.settings, user.id)}"} if user else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def ok(self, user: User, query: str, **variables: Any) -> dict[str, Any]:
        """A mutation that must succeed: its payload, without errors."""
        data = await self.as_(user, query, **variables)
        (payload,) = data.values()
        assert payload["errors"] == [], payload
        result: dict[str, Any] = payload
        return result

    async def lead(self, user: User, lead_id: str) -> dict[str, Any]:
        found: dict[str, Any] = (await self.as_(user, LEAD, id=lead_id))["lead"]
        return found


async def deliver(settings: Settings) -> None:
    """The worker's relay job, as the worker's role: fan out, send what is due."""
    workers = create_engine(settings, settings.jobs_database_url, pool_size=2, max_overflow=0)
    redis = aioredis.from_url(settings.redis_url or "")
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            await relay(
                {
                    "sessionmaker": async_sessionmaker(workers, expire_on_commit=False),
                    "deps": Deps(settings=settings, http=http, redis=redis),
                }
            )
    finally:
        await redis.aclose()
        await workers.dispose()


async def as_worker(settings: Settings, sweep: Any) -> Any:
    """One committed transaction as partner_leads_worker (a sweep as arq runs it)."""
    workers = create_engine(settings, settings.jobs_database_url, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(workers) as session, session.begin():
            return await sweep(session)
    finally:
        await workers.dispose()


def mail_to(sink: MailSink, company: str) -> dict[str, list[str]]:
    """Subjects of the e-mails that name `company`, by recipient address."""
    found: dict[str, list[str]] = {}
    for message in sink.messages():
        if company in str(message["Subject"]):
            found.setdefault(str(message["X-Delivered-To"]), []).append(str(message["Subject"]))
    return found


async def test_a_partners_team_works_its_inbox(team: Team) -> None:
    settings, admin, referrals = team.settings, team.admin, team.referrals
    async with (
        server(settings) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http,
    ):
        api = Api(http, settings)

        # 1. The partner admin routes every lead in turn between the two lead managers.
        turn = [referrals, admin]
        await api.ok(admin, RULES, rules=[{"roundRobinUserIds": [str(u.id) for u in turn]}])

        # 2. Four customers write in through the public form; one of them in Portuguese.
        companies = [f"Cliente {n} {uuid.uuid4().hex[:6]}" for n in range(4)]
        contacts = [f"cliente{n}.{uuid.uuid4().hex[:8]}@example.com" for n in range(4)]
        leads = []
        for n, company in enumerate(companies):
            form: dict[str, Any] = {
                "company": {"name": company, "size": "SIZE_51_250", "country": "BR"},
                "contact": {"name": f"Cliente {n}", "email": contacts[n]},
                "need": "Levar o ERP para a nuvem",
                "contactRequested": n == 0,  # the flame
                "consentToContact": True,
            }
            if n == 2:
                form.update(locale="pt-BR", timeZone="America/Sao_Paulo")
            sent = await api.as_(None, SUBMIT, p=team.profile_id, i=form, k=f"team-{n}")
            assert sent["submitInquiry"]["errors"] == []
            leads.append(sent["submitInquiry"]["lead"]["id"])
        owners = [(await api.lead(admin, lead))["owner"]["id"] for lead in leads]
        assert owners == [str(u.id) for u in (referrals, admin, referrals, admin)]

        # 3. Each alert goes to the lead's owner alone, by e-mail and in-app.
        await deliver(settings)
        for company, owner in zip(companies, [referrals, admin, referrals, admin], strict=True):
            assert set(mail_to(team.sink, company)) == {owner.email}, company
        mine = (await api.as_(referrals, NOTIFICATIONS))["notifications"]["nodes"]
        theirs = (await api.as_(admin, NOTIFICATIONS))["notifications"]["nodes"]
        assert {(n["kind"], n["leadId"]) for n in mine} == {
            ("URGENT_CONTACT", leads[0]),
            ("NEW_LEAD", leads[2]),
        }
        assert {n["leadId"] for n in theirs} == {leads[1], leads[3]}

        # 4. Half an hour before the deadline: the 1-hour reminder, to the owner only.
        first = await api.lead(referrals, leads[0])
        assert first["contactAlert"] == "URGENT"
        almost = datetime.fromisoformat(first["respondBy"]) - timedelta(minutes=30)
        reminded = await as_worker(
            settings,
            lambda s: send_reminders(s, now=almost, hours=settings.reminder_hours),
        )
        assert reminded == 4  # each lead once, and only its 1-hour reminder
        await deliver(settings)
        reminders = mail_to(team.sink, companies[0])
        assert set(reminders) == {referrals.email}
        assert [s for s in reminders[referrals.email] if s.startswith("Reminder")] == [
            f"Reminder: 1 hour left to answer the lead from {companies[0]}"
        ]

        # 5. The owner calls the customer, logs it, and marks the customer contacted.
        note = await api.ok(referrals, NOTE, id=leads[0], body="Called Cliente 0: pilot")
        assert note["activity"]["author"]["name"] == referrals.name
        contacted = await api.ok(referrals, CONTACTED, id=leads[0])
        assert contacted["lead"]["contactAlert"] is None  # the flame is out
        assert contacted["lead"]["customerContactedAt"] is not None
        worked = await api.lead(admin, leads[0])
        assert [(a["kind"], a["body"]) for a in worked["activities"]] == [
            ("CALL", "Called Cliente 0: pilot")
        ]

        # 6. One deal won, one lost, one declined (the Portuguese-speaking customer's).
        await api.ok(referrals, ACCEPT, id=leads[0], amount="12000")
        await api.ok(admin, ACCEPT, id=leads[1], amount="5000")
        await api.ok(referrals, WON, id=leads[0])
        await api.ok(admin, LOST, id=leads[1])
        await api.ok(referrals, DECLINE, id=leads[2])
        pipeline = (await api.as_(admin, PIPELINE))["pipeline"]
        overall = pipeline["overall"]
        assert (overall["received"], overall["accepted"], overall["declined"]) == (4, 2, 1)
        assert (overall["won"], overall["lost"], overall["winRate"]) == (1, 1, 0.5)
        assert overall["acceptanceRate"] == pytest.approx(2 / 3)
        assert [(float(m["amount"]), m["currency"]) for m in overall["wonValue"]] == [
            (11000.0, "USD")
        ]
        assert [(float(m["amount"]), m["currency"]) for m in overall["estimatedValue"]] == [
            (17000.0, "USD")
        ]

        # 7. The decline notice reaches the customer in Portuguese.
        await deliver(settings)
        notices = [m for m in team.sink.messages() if m["X-Delivered-To"] == contacts[2]]
        assert [str(m["Subject"]) for m in notices] == ["Sua solicitação para Tropical Cloud"]
        assert notices[0]["Content-Language"] == "pt-BR"
        body = notices[0].get_body(preferencelist=("plain",))
        assert body is not None and "parceiro diferente" in body.get_content()

        # 8. After the retention period the customers' data is gone, the figures stay.
        declined = await api.lead(admin, leads[2])
        later = datetime.fromisoformat(declined["archivedAt"]) + timedelta(
            days=settings.pii_retention_days + 1
        )
        redacted = await as_worker(settings, lambda s: redact_due(s, now=later, settings=settings))
        assert redacted == 3  # the won, the lost and the declined lead; the open one stays
        for lead_id in leads[:3]:
            customer = (await api.lead(admin, lead_id))["customer"]
            assert customer["contactName"] is None and customer["contactEmail"] is None
            assert customer["need"] is None and customer["contactHidden"] is True
            assert customer["personalDataRedactedAt"] is not None
        assert (await api.lead(admin, leads[0]))["activities"][0]["body"] != (
            "Called Cliente 0: pilot"
        )
        assert (await api.as_(admin, PIPELINE))["pipeline"] == pipeline
        open_lead = (await api.lead(admin, leads[3]))["customer"]
        assert open_lead["contactEmail"] == contacts[3]

    # Nowhere in the database: not on the lead, its history or its events.
    async with team.engine.connect() as conn:
        for address in contacts[:3]:
            holding = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM leads WHERE contact_email = :a) + "
                        "(SELECT count(*) FROM lead_history WHERE changes::text LIKE :p) + "
                        "(SELECT count(*) FROM outbox WHERE payload::text LIKE :p) + "
                        "(SELECT count(*) FROM notifications WHERE body LIKE :p)"
                    ),
                    {"a": address, "p": f"%{address}%"},
                )
            ).scalar_one()
            assert holding == 0, address
