"""Webhooks cannot reach inside (SSRF), at registration and again at delivery: every spelling of
an internal address, names that resolve to one, DNS rebinding, and TLS verified for the name
while connecting to the checked address. Private targets are allowed in the test settings (the
receiver is on 127.0.0.1); these tests turn that off and prove the refusals, and show that the
same URLs do reach the receiver when it is on, so a refusal is not a URL that fails anyway."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.notify.safe_address import (
    Address,
    BadHost,
    Unreachable,
    is_public,
    literal_address,
    normalise_host,
    resolve_destination,
    system_resolver,
)
from app.notify.webhook_sender import PRIVATE_PROBLEM, no_answer, post_event
from app.services import webhooks
from app.services.auth import Actor
from app.services.errors import Refused
from tests.notify.tls_receiver import TlsReceiver, issue
from tests.notify.webhook_support import codes, create, send
from tests.receivers import WebhookReceiver

URL = ["url"]
TIMEOUT = 5.0


class Lookups:
    """A resolver that answers from a table (the n-th lookup of a name gets the n-th answer,
    the last one repeating) and records every lookup: no DNS server is reachable here."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.answers = answers or {}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[Address]:
        seen = sum(1 for name, _ in self.calls if name == host)
        self.calls.append((host, port))
        answers = self.answers.get(host, [[]])
        return [ipaddress.ip_address(a) for a in answers[min(seen, len(answers) - 1)]]


def strict(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_urls": False})


# Spellings of internal addresses that need no DNS; `{port}` is the receiver's, so the ones that
# mean 127.0.0.1 would really arrive if they were let through.
LOOPBACK_SPELLINGS = [
    "http://127。0。0。1:{port}/hooks",  # ideographic full stops (UTS-46 maps them to dots)
    "http://１２７．０．０．１:{port}/hooks",  # full-width digits and stops
    "http://127｡0｡0｡1:{port}/hooks",  # half-width ideographic stops
    "http://127.1:{port}/hooks",
    "http://2130706433:{port}/hooks",
    "http://0x7f000001:{port}/hooks",
    "http://0x7f.0.0.1:{port}/hooks",
    "http://0177.0.0.1:{port}/hooks",
    "http://127.0.0.1.:{port}/hooks",
    "http://ＬＯＣＡＬＨＯＳＴ:{port}/hooks",
    "http://localhost.:{port}/hooks",
]
OTHER_INTERNAL = [
    "http://0.0.0.0:{port}/hooks",
    "http://[::]:{port}/hooks",
    "http://[::1]:{port}/hooks",
    "http://[::ffff:127.0.0.1]:{port}/hooks",  # IPv4-mapped
    "http://[::ffff:8.8.8.8]/hooks",  # IPv4-mapped, even of a public address
    "http://[::127.0.0.1]:{port}/hooks",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]:{port}/hooks",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a00:1]/hooks",  # NAT64 of 10.0.0.1
    "http://[64:ff9b:1::808:808]/hooks",  # NAT64 local-use prefix
    "http://[2002:7f00:1::1]/hooks",  # 6to4 of 127.0.0.1
    "http://[2002:c0a8:101::1]/hooks",  # 6to4 of 192.168.1.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",  # Teredo
    "http://[fd12:3456::1]/hooks",  # unique local
    "http://[fe80::1%25eth0]/hooks",  # link-local with a zone
    "http://10.0.0.1/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.0.1/hooks",
    "http://100.64.0.1/hooks",  # CGNAT
    "http://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
    "http://224.0.0.1/hooks",  # multicast
    "http://[ff02::1]/hooks",
    "http://240.0.0.1/hooks",  # reserved
    "http://255.255.255.255/hooks",
    "http://192.0.2.1/hooks",  # documentation
    "http://198.51.100.1/hooks",
    "http://203.0.113.1/hooks",
    "http://[2001:db8::1]/hooks",
    "http://[3fff::1]/hooks",
    "http://198.18.0.1/hooks",  # benchmarking
    "http://192.0.0.8/hooks",  # IETF protocol assignments
]


def port_of(receiver: WebhookReceiver) -> int:
    port = httpx.URL(receiver.url()).port
    assert port is not None
    return port


async def no_lookups(host: str, port: int) -> list[Address]:
    raise AssertionError(f"{host} is an address literal or refused by name: nothing to look up")


# --- the spellings, at registration and at delivery -----------------------------------------------


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS + OTHER_INTERNAL)
async def test_internal_spellings_are_refused_at_registration(
    session: AsyncSession, settings: Settings, admin: Actor, template: str
) -> None:
    refused = await webhooks.create_endpoint(
        session,
        admin,
        url=template.format(port=8080),
        events=["lead.won"],
        settings=strict(settings),
        resolver=no_lookups,
    )
    assert codes(refused) == [("VALIDATION", URL)]
    assert isinstance(refused, Refused) and refused.errors[0].message == PRIVATE_PROBLEM


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS + OTHER_INTERNAL)
async def test_internal_spellings_are_refused_at_delivery(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
    template: str,
) -> None:
    """Registered where private targets were allowed; sent where they are not."""
    port = port_of(receiver)
    endpoint, _ = await create(session, settings, admin, url=template.format(port=port))

    result = await send(http, endpoint, allow_private=False, resolver=no_lookups)

    assert (result.ok, result.status_code, result.retryable) == (False, None, False)
    assert result.error == f"the endpoint's URL {PRIVATE_PROBLEM}"
    assert receiver.requests == []


@pytest.mark.parametrize("template", LOOPBACK_SPELLINGS)
async def test_the_same_spellings_do_reach_loopback_when_private_targets_are_allowed(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
    template: str,
) -> None:
    port = port_of(receiver)
    endpoint, secret = await create(session, settings, admin, url=template.format(port=port))
    receiver.secret = secret

    result = await send(http, endpoint, allow_private=True)

    assert result.ok, result.error
    [request] = receiver.requests
    assert request.verified and request.target == "/hooks"
    host = request.headers["host"]
    assert host.isascii() and host.endswith(f":{port}")  # the normalised name, not the raw one


def test_hosts_are_normalised_before_they_are_judged() -> None:
    assert normalise_host("127。0。0。1") == "127.0.0.1"
    assert normalise_host("Ｈooks．Example．COM.") == "hooks.example.com"
    assert normalise_host("münchen.example") == "xn--mnchen-3ya.example"
    assert literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("017700000001") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("hooks.example.com") is None
    for bad in ("exa%6dple.com", "a b", "exa\u200dmple.com", "", "fe80::zz"):
        with pytest.raises(BadHost):
            normalise_host(bad)
    with pytest.raises(BadHost):
        literal_address("1.2.3.4294967296")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("93.184.215.14", True),
        ("2606:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address: what DNS64 answers
        ("2002:808:808::1", True),  # 6to4 of a public address
        ("127.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::c0a8:1", False),
        ("2002:a00:1::1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("fd00::1", False),
        ("ff0e::1", False),  # global-scope multicast is still multicast
        ("239.255.255.250", False),
        ("192.88.99.1", False),
        ("100.127.255.254", False),
    ],
)
def test_what_counts_as_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_malformed_host_is_refused_at_registration(
    session: AsyncSession, settings: Settings, admin: Actor
) -> None:
    for url in ("https://exa%6dple.com/hooks", "https://exa\u200dmple.com/hooks"):
        refused = await webhooks.create_endpoint(
            session, admin, url=url, events=["lead.won"], settings=settings
        )
        assert codes(refused) == [("VALIDATION", URL)], url


# --- names that resolve inside --------------------------------------------------------------------

INTERNAL_ANSWERS = [
    ["127.0.0.1"],
    ["10.0.0.5"],
    ["8.8.8.8", "10.0.0.5"],  # every address must be public, not just the first
    ["2606:4700::1111", "fd00::5"],
    ["169.254.169.254"],
    ["100.64.1.1"],
    ["64:ff9b::7f00:1"],
    ["2002:7f00:1::1"],
    ["::ffff:127.0.0.1"],
    ["::1"],
]


@pytest.mark.parametrize("answer", INTERNAL_ANSWERS)
async def test_names_that_resolve_inside_are_refused_at_registration(
    session: AsyncSession, settings: Settings, admin: Actor, answer: list[str]
) -> None:
    dns = Lookups({"intranet.partner.test": [answer]})

    refused = await webhooks.create_endpoint(
        session,
        admin,
        url="https://ｉｎｔｒａｎｅｔ.partner.test/hooks",  # looked up as its UTS-46 form
        events=["lead.won"],
        settings=strict(settings),
        resolver=dns,
    )

    assert codes(refused) == [("VALIDATION", URL)]
    assert dns.calls == [("intranet.partner.test", 443)]


@pytest.mark.parametrize(
    "answer", [[], ["8.8.8.8", "2606:4700::1111"], ["64:ff9b::808:808"], ["2002:808:808::1"]]
)
async def test_public_and_unresolved_names_are_accepted_at_registration(
    session: AsyncSession, settings: Settings, admin: Actor, answer: list[str]
) -> None:
    """A name that does not resolve yet is accepted: every delivery resolves and checks it."""
    dns = Lookups({"hooks.partner.test": [answer]})
    result = await webhooks.create_endpoint(
        session,
        admin,
        url="https://hooks.partner.test:8443/in",
        events=["lead.won"],
        settings=strict(settings),
        resolver=dns,
    )
    assert isinstance(result, tuple), result
    assert dns.calls == [("hooks.partner.test", 8443)]


@pytest.mark.parametrize("answer", INTERNAL_ANSWERS)
async def test_names_that_resolve_inside_are_refused_at_delivery(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
    answer: list[str],
) -> None:
    """Registered when the name was harmless; by delivery it points inside. The error is the one
    an unreachable or silent endpoint gets, and the delivery is retried like one. Every answer
    starts with the receiver's address, so a sender that skipped the check would get through."""
    port = port_of(receiver)
    endpoint, _ = await create(session, settings, admin, url=f"http://rebind.test:{port}/hooks")
    dns = Lookups({"rebind.test": [["127.0.0.1", *answer]]})

    result = await send(http, endpoint, allow_private=False, resolver=dns, timeout=TIMEOUT)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert result.error == no_answer(TIMEOUT)
    assert dns.calls == [("rebind.test", port)]
    assert receiver.requests == []


@pytest.mark.parametrize("answer", [a for a in INTERNAL_ANSWERS if len(a) > 1])
async def test_every_address_a_name_resolves_to_is_checked(answer: list[str]) -> None:
    """What a delivery resolves through: a public first answer does not vouch for the rest."""
    dns = Lookups({"mixed.test": [answer]})
    with pytest.raises(Unreachable):
        await resolve_destination("mixed.test", 443, allow_private=False, resolver=dns)
    assert dns.calls == [("mixed.test", 443)]
    checked = await resolve_destination("mixed.test", 443, allow_private=True, resolver=dns)
    assert [str(a) for a in checked.addresses] == answer


async def test_an_unresolvable_name_reads_like_a_closed_port(
    session: AsyncSession, settings: Settings, admin: Actor, http: httpx.AsyncClient
) -> None:
    endpoint, _ = await create(session, settings, admin, url="https://gone.partner.test/hooks")

    result = await send(http, endpoint, allow_private=False, resolver=Lookups(), timeout=TIMEOUT)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert result.error == no_answer(TIMEOUT)


async def test_the_system_resolver_puts_localhost_on_loopback() -> None:
    """Through the machine's own resolver (no table): a name that resolves to loopback is
    refused even without the rule that refuses `localhost` by name."""
    with pytest.raises(Unreachable):
        await resolve_destination("localhost", 80, allow_private=False, resolver=system_resolver)
    allowed = await resolve_destination(
        "localhost", 80, allow_private=True, resolver=system_resolver
    )
    assert ipaddress.ip_address("127.0.0.1") in allowed.addresses
    assert await system_resolver("no-such-name.invalid", 80) == []


# --- DNS rebinding: one lookup, and the connection goes where it said -----------------------------


async def test_a_delivery_looks_up_once_and_connects_to_that_answer(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    """The first lookup answers the receiver, later ones an address where nothing listens: a
    client that looked the name up again to connect would miss the receiver."""
    port = port_of(receiver)
    endpoint, secret = await create(
        session, settings, admin, url=f"http://rebind.test:{port}/hooks?x=1"
    )
    receiver.secret = secret
    dns = Lookups({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})

    first = await send(http, endpoint, resolver=dns, timeout=TIMEOUT)

    assert first.ok, first.error
    assert dns.calls == [("rebind.test", port)]
    [request] = receiver.requests
    assert request.verified and request.target == "/hooks?x=1"
    assert request.headers["host"] == f"rebind.test:{port}"

    # The next delivery looks up again (once), and goes only where that answer says.
    second = await send(http, endpoint, resolver=dns, timeout=TIMEOUT)
    assert (second.ok, second.error) == (False, no_answer(TIMEOUT))
    assert len(dns.calls) == 2 and len(receiver.requests) == 1


async def test_a_refused_first_answer_is_not_followed_by_a_second_lookup(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    port = port_of(receiver)
    endpoint, _ = await create(session, settings, admin, url=f"http://rebind.test:{port}/hooks")
    dns = Lookups({"rebind.test": [["127.0.0.1"], ["8.8.8.8"]]})

    result = await send(http, endpoint, allow_private=False, resolver=dns, timeout=TIMEOUT)

    assert (result.ok, result.error) == (False, no_answer(TIMEOUT))
    assert dns.calls == [("rebind.test", port)]
    assert receiver.requests == []


async def test_the_next_checked_address_is_tried_when_one_refuses(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    port = port_of(receiver)
    endpoint, secret = await create(session, settings, admin, url=f"http://multi.test:{port}/h")
    receiver.secret = secret
    dns = Lookups({"multi.test": [["127.0.0.2", "127.0.0.1"]]})

    result = await send(http, endpoint, resolver=dns, timeout=TIMEOUT)

    assert result.ok, result.error
    assert dns.calls == [("multi.test", port)]
    assert [r.headers["host"] for r in receiver.requests] == [f"multi.test:{port}"]


# --- TLS: connected to the address, verified for the name -----------------------------------------


async def test_tls_names_the_host_while_connecting_to_the_checked_address(
    session: AsyncSession, settings: Settings, admin: Actor, tmp_path: Path
) -> None:
    ca, cert_file, key_file = issue("hooks.partner.test", tmp_path)
    trusted = ssl.create_default_context(cadata=ca)
    dns = Lookups({"hooks.partner.test": [["127.0.0.1"]], "other.partner.test": [["127.0.0.1"]]})
    with TlsReceiver(cert_file, key_file) as tls:
        good, _ = await create(
            session, settings, admin, url=f"https://hooks.partner.test:{tls.port}/hooks"
        )
        # Same address, a name the certificate does not cover.
        wrong, _ = await create(
            session, settings, admin, url=f"https://other.partner.test:{tls.port}/hooks"
        )
        async with httpx.AsyncClient(verify=trusted, trust_env=False) as http:
            sent = await post_event(
                http,
                good,
                message_id="evt_tls",
                event_type="lead.won",
                payload={},
                now=datetime.now(UTC),
                timeout=TIMEOUT,
                allow_private=True,
                resolver=dns,
            )
            refused = await send(http, wrong, resolver=dns, timeout=TIMEOUT)

    assert sent.ok, sent.error
    assert tls.hosts == [f"hooks.partner.test:{tls.port}"]  # nothing sent to the wrong name
    assert tls.server_names[0] == "hooks.partner.test"
    assert "other.partner.test" in tls.server_names
    assert (refused.ok, refused.error) == (False, no_answer(TIMEOUT))
