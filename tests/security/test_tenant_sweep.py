"""The tenant sweep, generated from the schema: every Query field, with a selection of every field
reachable from it (built from the strawberry schema in-process, so a field added
tomorrow is swept without editing this file), is asked by every kind of member of organisation B
and by strangers, with organisation A's ids wherever an ID is asked for. Nothing of A's may come
back: no id, name, e-mail, URL or text of its leads, notifications, webhooks, deliveries or its
unpublished profile.

The same documents asked by A's own admin do show A's data: the sweep can see a leak."""

from __future__ import annotations

import functools
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
)
from graphql.pyutils import Undefined
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.domain.events import Channel, Topic
from app.domain.lifecycle import LeadStage
from app.domain.roles import Role
from app.graphql.schema import schema as strawberry_schema
from app.services.auth import issue_token
from tests.edge.conftest import PRODUCTION
from tests.factories import World, WorldPartner, make_api_key, make_lead, make_profile, unique
from tests.security.conftest import ProductionFactory

# How far below each root field the selection reaches: deep enough for every type the API has
# (Query -> Lead -> Deal -> Money), shallow enough for the cost and depth limits.
OBJECT_DEPTH = 4
PAGE = 5
SCALAR_VALUES = {
    "String": '"x"',
    "Int": "1",
    "Float": "1.0",
    "Boolean": "true",
    "Date": '"2026-01-01"',
    "DateTime": '"2026-01-01T00:00:00+00:00"',
    "Decimal": '"1.00"',
    "JSON": '"x"',
}


@functools.cache
def _introspected() -> GraphQLSchema:
    # The running code's schema, not the committed schema.graphql: a field added is swept even
    # before `make schema`. (strawberry's own introspect() runs the request extensions.) Built
    # once: it is the same for every test of the session.
    return build_schema(strawberry_schema.as_str())


def _named(type_: GraphQLOutputType | GraphQLInputType) -> GraphQLNamedType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def _value(type_: GraphQLInputType, an_id: str) -> str:
    """A value for an input of this type: A's id for every ID, the smallest valid-looking
    value otherwise (required fields only)."""
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, an_id)
    if isinstance(type_, GraphQLList):
        return f"[{_value(type_.of_type, an_id)}]"
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        fields = ", ".join(
            f"{name}: {_value(f.type, an_id)}"
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        )
        return f"{{{fields}}}"
    assert isinstance(type_, GraphQLScalarType)
    if type_.name == "ID":
        return json.dumps(an_id)
    return SCALAR_VALUES[type_.name]


def _arguments(
    args: dict[str, GraphQLArgument], an_id: str, chosen: dict[str, str] | None = None
) -> str:
    given = []
    for name, arg in args.items():
        if chosen and name in chosen:
            given.append(f"{name}: {chosen[name]}")
        elif isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined:
            given.append(f"{name}: {_value(arg.type, an_id)}")
        elif name == "first":
            given.append(f"first: {PAGE}")
        elif _named(arg.type).name == "ID":
            given.append(f"{name}: {json.dumps(an_id)}")
    return f"({', '.join(given)})" if given else ""


def _selection(type_: GraphQLNamedType, an_id: str, depth: int, seen: frozenset[str]) -> str:
    """Every field of `type_` that can be selected from here: leaves, and objects not already on
    the path, down to OBJECT_DEPTH."""
    if not isinstance(type_, GraphQLObjectType):
        return "__typename"
    parts = []
    for name, field_ in type_.fields.items():
        inner = _named(field_.type)
        arguments = _arguments(field_.args, an_id)
        if not isinstance(inner, GraphQLObjectType):
            parts.append(f"{name}{arguments}")
        elif depth < OBJECT_DEPTH and inner.name not in seen:
            below = _selection(inner, an_id, depth + 1, seen | {inner.name})
            if below:
                parts.append(f"{name}{arguments} {{ {below} }}")
    return " ".join(parts)


def _enum_variants(field_: GraphQLField) -> Iterator[dict[str, str]]:
    """Each value of each required enum argument (a tab, say): they select different data."""
    enums = {}
    for name, arg in field_.args.items():
        named = _named(arg.type)
        if isinstance(arg.type, GraphQLNonNull) and isinstance(named, GraphQLEnumType):
            enums[name] = list(named.values)
    for combination in itertools.product(*enums.values()):
        yield dict(zip(enums, combination, strict=True))


def sweep_documents(ids: list[str], operation: str = "query") -> list[str]:
    """One document per root field, per id of A's (where the field takes an ID, even inside an
    input), per value of its required enum arguments."""
    schema = _introspected()
    root = schema.query_type if operation == "query" else schema.mutation_type
    assert root is not None
    documents = []
    for name, field_ in root.fields.items():
        inner = _named(field_.type)
        probe = str(uuid.uuid4())
        takes_id = probe in _arguments(field_.args, probe)
        for an_id in ids if takes_id else ids[:1]:
            for enums in _enum_variants(field_):
                arguments = _arguments(field_.args, an_id, enums)
                below = _selection(inner, an_id, 1, frozenset({inner.name}))
                selection = f" {{ {below} }}" if isinstance(inner, GraphQLObjectType) else ""
                documents.append(f"{operation} {{ {name}{arguments}{selection} }}")
    return documents


@dataclass
class TenantA:
    """Organisation A's private data: the strings that must not reach anyone else."""

    ids: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    admin: uuid.UUID | None = None
    # What A's own admin must see through the same documents (the sweep's control).
    shown_to_owner: list[str] = field(default_factory=list)

    def found_in(self, text: str) -> list[str]:
        return [s for s in self.secrets if s.lower() in text.lower()]


@pytest.fixture
async def tenant_a(session: AsyncSession, settings: Settings) -> TenantA:
    """A partner with an unpublished profile (a location, a private contact), leads in every
    stage with a deal, a team member and a favourite, a notification, a webhook endpoint with a
    failed delivery: all inside the test's rolled-back transaction."""
    a = TenantA()
    name = unique("Secret Partner")
    profile = await make_profile(
        session,
        name=name,
        description=unique("secret-about"),
        keywords=[unique("secretword")],
        published=False,
    )
    organisation = await session.get(models.Organisation, profile.organisation_id)
    assert organisation is not None
    users = list(
        await session.scalars(
            select(models.User.id).where(models.User.organisation_id == organisation.id)
        )
    )
    a.admin = await session.scalar(
        select(models.User.id).where(
            models.User.email == f"partner_admin@{organisation.slug}.example"
        )
    )
    locations = list(
        await session.scalars(
            select(models.ProfileLocation.id).where(models.ProfileLocation.profile_id == profile.id)
        )
    )
    contacts = list(
        await session.scalars(
            select(models.LocationContact.id).where(
                models.LocationContact.location_id.in_(locations)
            )
        )
    )
    a.ids += [str(organisation.id), str(profile.id), *map(str, users), *map(str, locations)]
    a.ids += map(str, contacts)
    a.secrets += [name, organisation.slug, f"private-{organisation.slug}@secret.example"]
    a.secrets += [profile.description or "", *profile.keywords]
    for stage in (LeadStage.RECEIVED, LeadStage.ACCEPTED):
        company, email, deal = (
            unique("SecretCo"),
            f"{unique('buyer')}@secret.example",
            unique("secret-deal"),
        )
        lead = await make_lead(
            session,
            organisation_id=organisation.id,
            stage=stage,
            company_name=company,
            contact_email=email,
            **({"deal_name": deal} if stage is LeadStage.ACCEPTED else {}),
        )
        a.ids.append(str(lead.id))
        a.secrets += [company, email] + ([deal] if stage is LeadStage.ACCEPTED else [])
        member = models.LeadTeamMember(
            id=uuid.uuid4(),
            lead_id=lead.id,
            name=unique("Secret Member"),
            email=f"{unique('member')}@secret.example",
        )
        session.add(member)
        session.add(models.LeadFavorite(user_id=a.admin, lead_id=lead.id))
        a.ids.append(str(member.id))
        a.secrets += [member.name, member.email or ""]
    notification = models.Notification(
        id=uuid.uuid4(),
        user_id=a.admin,
        lead_id=uuid.UUID(a.ids[-2]),
        kind="lead.received",
        title=unique("secret-title"),
        body=unique("secret-body"),
    )
    endpoint = models.WebhookEndpoint(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        url=f"https://{unique('hooks')}.secret.example/in",
        events=["lead.received"],
        secret=unique("whsec"),
    )
    session.add_all([notification, endpoint])
    await session.flush()
    outbox = models.OutboxMessage(
        topic=Topic.LEAD_RECEIVED.value, organisation_id=organisation.id, payload={}
    )
    session.add(outbox)
    await session.flush()
    delivery = models.Delivery(
        outbox_id=outbox.id,
        channel=Channel.WEBHOOK.value,
        recipient=str(endpoint.id),
        status="DEAD",
        attempts=1,
        last_error=unique("secret-error"),
        created_at=datetime.now(UTC),
    )
    session.add(delivery)
    await session.flush()
    # An integration's key, and an action it took: its name shows in the lead's history.
    key, key_secret = await make_api_key(
        session,
        settings.model_copy(update=PRODUCTION),
        organisation_id=organisation.id,
        name=unique("secret-key"),
    )
    session.add(
        models.LeadHistory(
            lead_id=lead.id,
            action="UPDATE",
            from_stage="ACCEPTED",
            to_stage="ACCEPTED",
            actor_kind="API_KEY",
            api_key_id=key.id,
            changes={},
        )
    )
    await session.flush()
    a.ids.append(str(key.id))
    a.secrets += [key.name, key.prefix, key_secret]
    # (The delivery's id is a small integer: its unique error text stands for it.)
    a.ids += [str(notification.id), str(endpoint.id)]
    a.secrets += [notification.title, notification.body, endpoint.url, endpoint.secret]
    a.secrets += [delivery.last_error or ""]
    a.secrets += a.ids
    # All but the secret (shown once, at creation) and the users other than the admin.
    hidden = {endpoint.secret, key_secret, *(str(u) for u in users if u != a.admin)}
    a.shown_to_owner = [s for s in a.secrets if s not in hidden]
    return a


def _token(settings: Settings, user: uuid.UUID) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(settings.model_copy(update=PRODUCTION), user)}"}


async def _headers(
    session: AsyncSession, settings: Settings, b: WorldPartner, who: str
) -> dict[str, str]:
    """B's member `who` as a bearer token, B's integration as an API key with every partner
    role, or a stranger with nothing."""
    if who == "anonymous":
        return {}
    if who == "api_key":
        _, secret = await make_api_key(
            session,
            settings.model_copy(update=PRODUCTION),
            organisation_id=b.organisation_id,
            roles=(Role.PARTNER_ADMIN, Role.REFERRALS_ADMIN),
        )
        return {"authorization": f"Bearer {secret}"}
    return _token(settings, getattr(b, who))


def test_the_sweep_covers_every_root_field() -> None:
    query = _introspected().query_type
    assert query is not None
    mutation = _introspected().mutation_type
    assert mutation is not None
    for operation, root in (("query", query), ("mutation", mutation)):
        documents = sweep_documents([str(uuid.uuid4())], operation)
        swept = {d.split("{", 2)[1].split("(")[0].split()[0] for d in documents}
        assert swept == set(root.fields)


@pytest.mark.parametrize(
    "who", ["partner_admin", "referrals_admin", "member", "api_key", "anonymous"]
)
async def test_nothing_of_another_tenant_comes_back(
    production: ProductionFactory,
    world: World,
    settings: Settings,
    tenant_a: TenantA,
    session: AsyncSession,
    who: str,
) -> None:
    headers = await _headers(session, settings, world.fabrikam, who)
    answered = 0
    # An address of its own: searchPartners is rate limited per client.
    async with production(client=(f"198.18.200.{uuid.uuid4().int % 250 + 1}", 5000)) as pair:
        for document in sweep_documents(tenant_a.ids):
            response = await pair.post({"query": document}, headers=headers)
            assert response.status_code < 500, (document, response.text)
            assert not tenant_a.found_in(response.text), (document, response.text)
            answered += "data" in response.json() and response.json()["data"] is not None
    assert answered  # the documents are valid: the sweep asked something


async def test_the_sweep_sees_the_tenant_own_data(
    production: ProductionFactory, world: World, settings: Settings, tenant_a: TenantA
) -> None:
    """The control: A's admin, asking the same documents, gets A's data back."""
    assert tenant_a.admin is not None
    headers = _token(settings, tenant_a.admin)
    found: set[str] = set()
    async with production() as pair:
        for document in sweep_documents(tenant_a.ids):
            response = await pair.post({"query": document}, headers=headers)
            assert response.status_code < 500, (document, response.text)
            found.update(tenant_a.found_in(response.text))
    # Leads (ids, companies, deals, team), the profile, its contact, notifications, webhooks
    # and their deliveries: every kind of data the sweep looks for is reachable by its owner.
    missing = set(tenant_a.shown_to_owner) - found
    assert not missing, sorted(missing)


@pytest.mark.parametrize("who", ["partner_admin", "referrals_admin", "api_key", "anonymous"])
async def test_no_mutation_reaches_another_tenant(
    production: ProductionFactory,
    world: World,
    settings: Settings,
    tenant_a: TenantA,
    session: AsyncSession,
    who: str,
) -> None:
    """Every mutation, with A's ids wherever an ID goes, by B's admins and by strangers: the
    answers hold nothing of A's, and A sees its own data exactly as before."""
    headers = await _headers(session, settings, world.fabrikam, who)
    assert tenant_a.admin is not None
    owner = _token(settings, tenant_a.admin)
    reads = sweep_documents(tenant_a.ids)
    # An address of its own: submitInquiry is rate limited per client.
    async with production(client=(f"198.18.201.{uuid.uuid4().int % 250 + 1}", 5000)) as pair:
        before = [(await pair.post({"query": d}, headers=owner)).json() for d in reads]
        previous = None
        for document in sweep_documents(tenant_a.ids, "mutation"):
            # Mutations go to one app: the other would see the first one's writes.
            try:
                response = await pair.compiled.post(
                    "/graphql", json={"query": document}, headers=headers
                )
            except Exception as exc:  # say which request left the connection unusable
                raise AssertionError(f"{document!r} failed after {previous!r}") from exc
            previous = document
            assert response.status_code < 500, (document, response.text)
            assert not tenant_a.found_in(response.text), (document, response.text)
        after = [(await pair.post({"query": d}, headers=owner)).json() for d in reads]
    # The answers that hold A's data (public search changes with B's own profile edits).
    changed = [
        d
        for d, was, now in zip(reads, before, after, strict=True)
        if tenant_a.found_in(json.dumps(was)) and was != now
    ]
    assert not changed, changed
