"""GraphQL documents, lead set-ups and database probes shared by the mutation tests.

Holds no tests: the mutation tests import from here."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, LeadFavorite, LeadHistory, LeadTeamMember, OutboxMessage, User
from app.domain.lifecycle import LeadStage
from tests.factories import make_lead
from tests.graphql_client import GraphQLClient

LEAD_FIELDS = """
fragment LeadFields on Lead {
  id version stage outcome respondedAt archivedAt updatedAt allowedActions isFavorite
  deal {
    name estimatedValue { amount currency } estimatedPurchaseDate notes crmId campaignId
    declineReason declineNotes finalValue { amount currency } closingDate lostReason lostNotes
  }
  team { id name email phone }
  history { action fromStage toStage outcome actor { kind name } changes { field from to } }
}
"""

INPUT_TYPES: dict[str, str] = {
    "acceptLead": "AcceptLeadInput",
    "declineLead": "DeclineLeadInput",
    "updateLead": "UpdateLeadInput",
    "addLeadTeamMember": "AddLeadTeamMemberInput",
    "removeLeadTeamMember": "RemoveLeadTeamMemberInput",
    "markLeadWon": "MarkLeadWonInput",
    "markLeadLost": "MarkLeadLostInput",
    "setLeadFavorite": "SetLeadFavoriteInput",
}
MUTATIONS = list(INPUT_TYPES)
# The mutations that move a lead through its lifecycle (versioned, recorded, published).
LIFECYCLE = [name for name in MUTATIONS if name != "setLeadFavorite"]
# The stage each mutation needs to succeed.
READY_STAGE: dict[str, LeadStage] = {
    name: LeadStage.RECEIVED if name in ("acceptLead", "declineLead") else LeadStage.ACCEPTED
    for name in MUTATIONS
}
# A stage (other than ARCHIVED) each lifecycle mutation is refused at.
WRONG_STAGE: dict[str, LeadStage] = {
    name: LeadStage.ACCEPTED if stage is LeadStage.RECEIVED else LeadStage.RECEIVED
    for name, stage in READY_STAGE.items()
}

ACCEPTED_ACTIONS = ["UPDATE", "ADD_TEAM_MEMBER", "REMOVE_TEAM_MEMBER", "MARK_WON", "MARK_LOST"]
RECEIVED_ACTIONS = ["ACCEPT", "DECLINE"]

LEAD_QUERY = "query Lead($id: ID!) { lead(id: $id) { ...LeadFields } }" + LEAD_FIELDS

MISSING = object()  # an override that removes the key from the input


def mutation_document(name: str) -> str:
    return (
        f"mutation Run($input: {INPUT_TYPES[name]}!) {{ {name}(input: $input) {{ "
        "lead { ...LeadFields } errors { code field message } } }" + LEAD_FIELDS
    )


async def mutate(client: GraphQLClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    """The mutation's payload ({lead, errors}); the request itself must not fail."""
    data = await client.data(mutation_document(name), {"input": input})
    payload: dict[str, Any] = data[name]
    return payload


async def succeed(client: GraphQLClient, name: str, input: dict[str, Any]) -> dict[str, Any]:
    payload = await mutate(client, name, input)
    assert payload["errors"] == [], payload["errors"]
    assert payload["lead"] is not None
    lead: dict[str, Any] = payload["lead"]
    return lead


async def refuse(client: GraphQLClient, name: str, input: dict[str, Any]) -> list[dict[str, Any]]:
    payload = await mutate(client, name, input)
    assert payload["lead"] is None, payload
    errors: list[dict[str, Any]] = payload["errors"]
    assert errors, "a refusal must say why"
    return errors


async def read_lead(client: GraphQLClient, lead_id: uuid.UUID | str) -> dict[str, Any] | None:
    data = await client.data(LEAD_QUERY, {"id": str(lead_id)})
    lead: dict[str, Any] | None = data["lead"]
    return lead


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in overrides.items():
        if value is MISSING:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def valid_input(
    name: str, lead_id: uuid.UUID | str, member_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """An input that `name` accepts for a lead in READY_STAGE[name]."""
    lid = str(lead_id)
    inputs: dict[str, dict[str, Any]] = {
        "acceptLead": {
            "id": lid,
            "dealName": "Adatum rollout",
            "estimatedValue": {"amount": "125000.5", "currency": "EUR"},
            "estimatedPurchaseDate": "2027-03-31",
        },
        "declineLead": {"id": lid, "reason": "NO_CAPACITY"},
        "updateLead": {"id": lid, "dealName": "Adatum rollout, phase 2"},
        "addLeadTeamMember": {"id": lid, "name": "Kim Lee", "email": "kim@contoso.example"},
        "removeLeadTeamMember": {"id": lid, "memberId": str(member_id or uuid.uuid4())},
        "markLeadWon": {
            "id": lid,
            "finalValue": {"amount": "48000", "currency": "USD"},
            "closingDate": "2026-11-30",
        },
        "markLeadLost": {"id": lid, "reason": "PRICE"},
        "setLeadFavorite": {"id": lid, "favorite": True},
    }
    return inputs[name]


def first_version_input(lead: Lead, **fields: Any) -> dict[str, Any]:
    """A mutation input of `fields` (GraphQL names) aimed at `lead` as first written."""
    return {"id": str(lead.id), "expectedVersion": 1, **fields}


async def add_member(
    session: AsyncSession,
    lead_id: uuid.UUID,
    name: str = "Sam Doe",
    email: str | None = "sam@contoso.example",
) -> LeadTeamMember:
    member = LeadTeamMember(
        id=uuid.uuid4(),
        lead_id=lead_id,
        name=name,
        email=email,
        added_at=datetime.now(UTC) - timedelta(minutes=30),
    )
    session.add(member)
    await session.flush()
    return member


ARCHIVED_FIELDS: dict[str, dict[str, Any]] = {
    "WON": {
        "deal_name": "Won deal",
        "final_value_amount": Decimal("1000"),
        "final_value_currency": "USD",
        "closing_date": date(2026, 1, 15),
    },
    "LOST": {"deal_name": "Lost deal", "lost_reason": "PRICE", "closing_date": date(2026, 1, 15)},
    "DECLINED": {"decline_reason": "SPAM"},
    "EXPIRED": {},
}


async def make_ready_lead(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    stage: LeadStage,
    outcome: str | None = None,
    **fields: Any,
) -> tuple[Lead, LeadTeamMember]:
    """A lead at `stage` (ARCHIVED with `outcome`) that already has one team member."""
    if stage is LeadStage.ARCHIVED:
        assert outcome is not None
        fields = {
            "outcome": outcome,
            "archived_at": datetime.now(UTC) - timedelta(minutes=5),
            **ARCHIVED_FIELDS[outcome],
            **fields,
        }
    lead = await make_lead(session, organisation_id=organisation_id, stage=stage, **fields)
    member = await add_member(session, lead.id)
    return lead, member


async def prepare(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    name: str,
    stage: LeadStage | None = None,
    outcome: str | None = None,
) -> tuple[Lead, dict[str, Any]]:
    """A lead (with a team member) and a valid input for `name` aimed at it."""
    lead, member = await make_ready_lead(
        session, organisation_id, stage or READY_STAGE[name], outcome
    )
    return lead, valid_input(name, lead.id, member.id)


# --- Database probes. Column selects never come from the session's identity map. ---


async def lead_row(session: AsyncSession, lead_id: uuid.UUID) -> dict[str, Any]:
    columns = [c for c in Lead.__table__.columns if c.name != "search_document"]
    row = (await session.execute(select(*columns).where(Lead.id == lead_id))).one()
    return dict(row._mapping)


async def history_rows(session: AsyncSession, lead_id: uuid.UUID) -> list[LeadHistory]:
    return await _fresh_rows(session, LeadHistory, lead_id)


async def outbox_rows(session: AsyncSession, lead_id: uuid.UUID) -> list[OutboxMessage]:
    return await _fresh_rows(session, OutboxMessage, lead_id)


Row = TypeVar("Row", LeadHistory, OutboxMessage)


async def _fresh_rows(session: AsyncSession, model: type[Row], lead_id: uuid.UUID) -> list[Row]:
    """The lead's rows of `model` in the order written, reloaded from the database."""
    rows = await session.scalars(
        select(model)
        .where(model.lead_id == lead_id)
        .order_by(model.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def team_rows(session: AsyncSession, lead_id: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = await session.execute(
        select(LeadTeamMember.id, LeadTeamMember.name, LeadTeamMember.email, LeadTeamMember.phone)
        .where(LeadTeamMember.lead_id == lead_id)
        .order_by(LeadTeamMember.added_at, LeadTeamMember.id)
    )
    return [tuple(r) for r in rows]


async def favorite_count(
    session: AsyncSession, lead_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> int:
    statement = (
        select(func.count()).select_from(LeadFavorite).where(LeadFavorite.lead_id == lead_id)
    )
    if user_id is not None:
        statement = statement.where(LeadFavorite.user_id == user_id)
    return int(await session.scalar(statement) or 0)


async def user_name(session: AsyncSession, user_id: uuid.UUID) -> str:
    name = await session.scalar(select(User.name).where(User.id == user_id))
    assert name is not None
    return name


async def capture(session: AsyncSession, *lead_ids: uuid.UUID) -> dict[str, Any]:
    """Everything a mutation could write: the leads' rows and parts, and table-wide marks."""
    marks = {
        "history_max_id": await session.scalar(select(func.coalesce(func.max(LeadHistory.id), 0))),
        "outbox_max_id": await session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))),
        "team_count": await session.scalar(select(func.count()).select_from(LeadTeamMember)),
        "favorite_count": await session.scalar(select(func.count()).select_from(LeadFavorite)),
        "lead_versions": tuple(
            (
                await session.execute(
                    select(func.count(), func.coalesce(func.sum(Lead.version), 0))
                )
            ).one()
        ),
    }
    leads = {}
    for lead_id in lead_ids:
        leads[lead_id] = {
            "row": await lead_row(session, lead_id),
            "team": await team_rows(session, lead_id),
            "history": len(await history_rows(session, lead_id)),
            "outbox": len(await outbox_rows(session, lead_id)),
            "favorites": await favorite_count(session, lead_id),
        }
    return {"marks": marks, "leads": leads}


async def assert_nothing_written(session: AsyncSession, before: dict[str, Any]) -> None:
    after = await capture(session, *before["leads"])
    assert after == before


def fields_of(errors: list[dict[str, Any]]) -> list[list[str] | None]:
    return sorted((e["field"] for e in errors), key=lambda f: f or [])


def assert_event(
    message: OutboxMessage,
    *,
    topic: str,
    lead: Lead,
    actor: uuid.UUID,
    action: str,
    previous_stage: str,
    current_stage: str,
    current_outcome: str | None = None,
    previous_version: int = 1,
) -> None:
    """One outbox row: topic, routing columns, and a payload with both snapshots."""
    payload = message.payload
    assert message.topic == topic
    assert message.lead_id == lead.id
    assert message.organisation_id == lead.organisation_id
    assert message.processed_at is None
    assert uuid.UUID(payload["eventId"])
    assert payload["type"] == topic
    assert payload["leadId"] == str(lead.id)
    assert payload["organisationId"] == str(lead.organisation_id)
    assert payload["action"] == action
    assert payload["actor"] == {"kind": "USER", "userId": str(actor)}
    assert payload["previous"]["stage"] == previous_stage
    assert payload["previous"]["version"] == previous_version
    assert payload["current"]["stage"] == current_stage
    assert payload["current"]["outcome"] == current_outcome
    assert payload["current"]["version"] == previous_version + 1


def assert_history(
    row: LeadHistory,
    *,
    action: str,
    from_stage: str,
    to_stage: str,
    actor: uuid.UUID,
    outcome: str | None = None,
) -> None:
    assert row.action == action
    assert row.from_stage == from_stage
    assert row.to_stage == to_stage
    assert row.outcome == outcome
    assert row.actor_kind == "USER"
    assert row.actor_user_id == actor


def lifecycle_of(lead: dict[str, Any]) -> tuple[Any, ...]:
    """A GraphQL lead's (stage, outcome, version, allowedActions)."""
    return lead["stage"], lead["outcome"], lead["version"], lead["allowedActions"]


def change_map(entry: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL history entry's changes as {field: (from, to)}."""
    return {c["field"]: (c["from"], c["to"]) for c in entry["changes"]}


async def assert_recorded(
    session: AsyncSession,
    lead: Lead,
    actor: uuid.UUID,
    action: str,
    stages: tuple[str, str] | tuple[str, str, str],
    topics: list[str],
) -> tuple[LeadHistory, list[OutboxMessage]]:
    """`actor`'s `action` moved a fresh `lead` between `stages` (from, to[, outcome]): exactly one
    history row after RECEIVE, and the outbox messages `topics`, each with both snapshots."""
    from_stage, to_stage, *archived_as = stages
    outcome = archived_as[0] if archived_as else None
    history = await history_rows(session, lead.id)
    assert len(history) == 2, "exactly one new history row"
    assert_history(
        history[-1],
        action=action,
        from_stage=from_stage,
        to_stage=to_stage,
        actor=actor,
        outcome=outcome,
    )
    outbox = await outbox_rows(session, lead.id)
    assert sorted(m.topic for m in outbox) == sorted(topics)
    for message in outbox:
        assert_event(
            message,
            topic=message.topic,
            lead=lead,
            actor=actor,
            action=action,
            previous_stage=from_stage,
            current_stage=to_stage,
            current_outcome=outcome,
        )
    return history[-1], outbox


async def refused_with(
    client: GraphQLClient,
    session: AsyncSession,
    name: str,
    input: dict[str, Any],
    lead_ids: list[uuid.UUID],
    code: str,
    field: list[str] | None,
) -> list[dict[str, Any]]:
    """`name` is refused with exactly one error (`code`, `field`) and writes nothing."""
    before = await capture(session, *lead_ids)
    errors = await refuse(client, name, input)
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert all(e["message"] for e in errors)
    await assert_nothing_written(session, before)
    return errors
