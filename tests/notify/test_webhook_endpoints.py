"""Webhook endpoints (R13) at the service: who may manage them, what URLs and events they take,
the per-organisation limit, deletion and secret rotation. Refusals name the service's own
arguments (`url`, `events`, `endpoint_id`); tests/notify/test_webhooks_graphql.py checks the
paths GraphQL clients see."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.config import AppEnv, Settings
from app.db.models import WebhookEndpoint
from app.domain.events import LEAD_EVENTS
from app.notify.webhook_sender import signing_secrets
from app.services import webhooks
from app.services.auth import Actor
from app.services.errors import Refused
from tests.factories import World, make_partner
from tests.notify.webhook_support import SECRET_SHAPE, actor_for, codes, create, endpoint_row

# --- creating endpoints ---------------------------------------------------------------------------


def test_new_secret_has_the_standard_webhooks_shape() -> None:
    secret = webhooks.new_secret()
    assert SECRET_SHAPE.match(secret), secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    Webhook(secret)  # the library accepts it
    assert webhooks.new_secret() != secret


async def test_partner_admin_creates_an_endpoint(
    session: AsyncSession, settings: Settings, world: World, admin: Actor
) -> None:
    endpoint, secret = await create(
        session,
        settings,
        admin,
        url="  https://hooks.example.com/leads?team=emea  ",
        events=["lead.won", "lead.received", "lead.won"],
    )

    assert SECRET_SHAPE.match(secret)
    row = await endpoint_row(session, endpoint.id)
    assert row is not None
    assert row.organisation_id == world.contoso.organisation_id
    assert row.url == "https://hooks.example.com/leads?team=emea"
    assert row.events == ["lead.won", "lead.received"]  # order kept, duplicates dropped
    assert row.secret == secret
    assert row.previous_secret is None
    assert row.active is True
    assert row.failing_since is None and row.disabled_at is None

    listed = await webhooks.list_endpoints(session, admin)
    assert not isinstance(listed, Refused)
    assert [e.id for e in listed] == [endpoint.id]
    other = await webhooks.list_endpoints(
        session, await actor_for(session, world.fabrikam.partner_admin)
    )
    assert other == []


async def test_every_lead_event_can_be_subscribed(
    session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    endpoint, _ = await create(session, settings, admin, events=list(LEAD_EVENTS))
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.events == [str(event) for event in LEAD_EVENTS]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("referrals_admin", "FORBIDDEN"),
        ("member", "FORBIDDEN"),
        ("seller", "FORBIDDEN"),
        ("anonymous", "UNAUTHENTICATED"),
    ],
)
async def test_only_partner_admins_manage_endpoints(
    session: AsyncSession, settings: Settings, world: World, admin: Actor, who: str, code: str
) -> None:
    endpoint, secret = await create(session, settings, admin)
    user_id = {
        "referrals_admin": world.contoso.referrals_admin,
        "member": world.contoso.member,
        "seller": world.seller,
        "anonymous": None,
    }[who]
    actor = await actor_for(session, user_id) if user_id else None
    now = datetime.now(UTC)
    eid = str(endpoint.id)

    attempts: list[Awaitable[object]] = [
        webhooks.create_endpoint(
            session, actor, url="https://x.example.com", events=["lead.won"], settings=settings
        ),
        webhooks.list_endpoints(session, actor),
        webhooks.delete_endpoint(session, actor, eid),
        webhooks.rotate_secret(session, actor, eid, now=now),
        webhooks.list_deliveries(session, actor, eid),
    ]
    for attempt in attempts:
        assert codes(await attempt) == [(code, None)]

    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.organisation_id == world.contoso.organisation_id)
    )
    assert count == 1


@pytest.mark.parametrize(
    ("raw_id", "code"),
    [("theirs", "NOT_FOUND"), ("unknown", "NOT_FOUND"), ("nope", "VALIDATION")],
)
async def test_an_endpoint_one_cannot_have_is_refused_by_its_id(
    session: AsyncSession, settings: Settings, world: World, raw_id: str, code: str
) -> None:
    """Another organisation's endpoint does not exist for this admin, like an unknown one."""
    endpoint, secret = await create(
        session, settings, await actor_for(session, world.contoso.partner_admin)
    )
    fabrikam = await actor_for(session, world.fabrikam.partner_admin)
    given = {"theirs": str(endpoint.id), "unknown": str(uuid.uuid4()), "nope": "nope"}[raw_id]
    now = datetime.now(UTC)

    for attempt in (
        webhooks.delete_endpoint(session, fabrikam, given),
        webhooks.rotate_secret(session, fabrikam, given, now=now),
        webhooks.list_deliveries(session, fabrikam, given),
    ):
        assert codes(await attempt) == [(code, ["endpoint_id"])]
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret and row.previous_secret is None


URL = ["url"]


@pytest.mark.parametrize(
    ("url", "events", "expected"),
    [
        ("", ["lead.won"], [URL]),
        ("   ", ["lead.won"], [URL]),
        ("ftp://hooks.example.com/x", ["lead.won"], [URL]),
        ("javascript:alert(1)", ["lead.won"], [URL]),
        ("hooks.example.com/x", ["lead.won"], [URL]),
        ("https://", ["lead.won"], [URL]),
        ("https://hooks.example.com:99999/x", ["lead.won"], [URL]),
        ("https://hooks.exa mple.com/x", ["lead.won"], [URL]),
        ("https://hooks.example.com/\x00", ["lead.won"], [URL]),
        ("https://hooks.example.com/" + "a" * 2000, ["lead.won"], [URL]),
        ("https://hooks.example.com/x", [], [["events"]]),
        (
            "https://hooks.example.com/x",
            ["lead.won", "lead.nope", "LEAD.WON"],
            [["events", "1"], ["events", "2"]],
        ),
        ("gopher://x", ["notify.new_lead"], [URL, ["events", "0"]]),
    ],
)
async def test_invalid_input_is_refused(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    url: str,
    events: list[str],
    expected: list[list[str]],
) -> None:
    result = await webhooks.create_endpoint(
        session, admin, url=url, events=events, settings=settings
    )
    assert codes(result) == [("VALIDATION", f) for f in expected]
    assert isinstance(result, Refused) and all(e.message for e in result.errors)
    assert await webhooks.list_endpoints(session, admin) == []


async def test_a_url_of_exactly_2000_characters_is_accepted(
    session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    url = "https://hooks.example.com/"
    url += "a" * (2000 - len(url))
    endpoint, _ = await create(session, settings, admin, url=url)
    assert endpoint.url == url


PRIVATE_URLS = [
    "http://127.0.0.1:8080/hooks",
    "http://127.1/hooks",
    "http://2130706433/hooks",
    "http://0x7f000001/hooks",
    "http://0.0.0.0/hooks",
    "http://localhost:9000/hooks",
    "http://LOCALHOST./hooks",
    "http://api.localhost/hooks",
    "http://10.1.2.3/hooks",
    "http://172.16.5.4/hooks",
    "http://192.168.1.10/hooks",
    "http://100.64.0.1/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/hooks",
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "https://user:pw@10.0.0.1/hooks",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_urls_are_refused_unless_allowed(
    session: AsyncSession, settings: Settings, admin: Actor, url: str
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private_urls": False})
    assert not strict.allows_private_webhook_urls

    refused = await webhooks.create_endpoint(
        session, admin, url=url, events=["lead.won"], settings=strict
    )
    assert codes(refused) == [("VALIDATION", URL)]

    assert settings.allows_private_webhook_urls  # tests run with APP_ENV=test
    endpoint, _ = await create(session, settings, admin, url=url)
    assert endpoint.url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "http://8.8.8.8/hooks",
        "https://[2001:4860:4860::8888]/hooks",
        "https://localhost-tools.example.com/x",
        "https://127.0.0.1.nip.example/x",  # a name that does not resolve here: checked at delivery
    ],
)
async def test_public_urls_pass_the_private_address_check(
    session: AsyncSession, settings: Settings, admin: Actor, url: str
) -> None:
    strict = settings.model_copy(update={"webhook_allow_private_urls": False})
    endpoint, _ = await create(session, strict, admin, url=url)
    assert endpoint.url == url


async def test_production_requires_https_and_public_hosts(
    session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    production = settings.model_copy(update={"app_env": AppEnv.PRODUCTION})
    assert not production.allows_private_webhook_urls

    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x"):
        result = await webhooks.create_endpoint(
            session, admin, url=url, events=["lead.won"], settings=production
        )
        assert codes(result) == [("VALIDATION", URL)], url
    endpoint, _ = await create(session, production, admin, url="https://hooks.example.com/x")
    assert endpoint.url == "https://hooks.example.com/x"


async def test_an_organisation_has_at_most_20_endpoints(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    partner = await make_partner(session)
    admin = await actor_for(session, partner.partner_admin)
    made = [
        (await create(session, settings, admin, url=f"https://hooks.example.com/{i}"))[0]
        for i in range(20)
    ]

    refused = await webhooks.create_endpoint(
        session, admin, url="https://hooks.example.com/21", events=["lead.won"], settings=settings
    )
    assert codes(refused) == [("VALIDATION", None)]
    # Other organisations have their own allowance.
    await create(session, settings, await actor_for(session, world.fabrikam.partner_admin))

    assert not isinstance(await webhooks.delete_endpoint(session, admin, str(made[0].id)), Refused)
    await create(session, settings, admin, url="https://hooks.example.com/21")


# --- deleting and rotating ------------------------------------------------------------------------


async def test_delete_endpoint(session: AsyncSession, settings: Settings, admin: Actor) -> None:
    keep, _ = await create(session, settings, admin, url="https://hooks.example.com/keep")
    gone, _ = await create(session, settings, admin, url="https://hooks.example.com/gone")

    deleted = await webhooks.delete_endpoint(session, admin, str(gone.id))
    assert isinstance(deleted, WebhookEndpoint) and deleted.id == gone.id
    assert await endpoint_row(session, gone.id) is None
    assert await endpoint_row(session, keep.id) is not None
    assert codes(await webhooks.delete_endpoint(session, admin, str(gone.id))) == [
        ("NOT_FOUND", ["endpoint_id"])
    ]


async def test_rotation_keeps_the_old_secret_for_24_hours(
    session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    endpoint, first = await create(session, settings, admin)
    rotated_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    result = await webhooks.rotate_secret(session, admin, str(endpoint.id), now=rotated_at)
    assert not isinstance(result, Refused)
    _, second = result
    assert SECRET_SHAPE.match(second) and second != first
    stored = await endpoint_row(session, endpoint.id)
    assert stored is not None
    assert (stored.secret, stored.previous_secret) == (second, first)
    assert stored.previous_secret_expires_at == rotated_at + timedelta(hours=24)

    assert signing_secrets(stored, rotated_at) == [second, first]
    assert signing_secrets(stored, rotated_at + timedelta(hours=23, minutes=59)) == [second, first]
    assert signing_secrets(stored, rotated_at + timedelta(hours=24)) == [second]

    # Rotating again within the grace period: only the latest replaced secret still signs.
    later = rotated_at + timedelta(hours=1)
    again = await webhooks.rotate_secret(session, admin, str(endpoint.id), now=later)
    assert not isinstance(again, Refused)
    _, third = again
    stored = await endpoint_row(session, endpoint.id)
    assert stored is not None
    assert signing_secrets(stored, later) == [third, second]
    assert stored.previous_secret_expires_at == later + timedelta(hours=24)
