"""What a lifecycle step leaves behind: one history row, and one outbox row per side effect the
domain chooses for it (`effects_of`). The event payload is defined once here, for steps applied
one by one in Python (`record_step`) and for the set-based sweeps, which build the same payload in
SQL from `snapshot_sql` (app/services/sweeps.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, OutboxMessage
from app.domain.events import Audience, Topic, effects_of
from app.domain.lifecycle import ActorKind, Transition
from app.jobs import refresh_affinity, relay, stage
from app.services.affinity_counts import answers_changed
from app.services.auth import Actor
from app.services.lead_state import json_value, lead_state_json, minor_units_sql, money_json

__all__ = ["json_value", "money_json"]  # re-exported: where event values were always built


def api_name(name: str) -> str:
    """`deal_name` -> `dealName`: history and events speak the API's own field names."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# A lead's state in an event: payload key -> column. Money is a pair of columns.
SNAPSHOT_COLUMNS: dict[str, str] = {
    api_name(column): column
    for column in (
        "stage",
        "outcome",
        "version",
        "deal_name",
        "estimated_purchase_date",
        "notes",
        "crm_id",
        "campaign_id",
    )
}
SNAPSHOT_MONEY: dict[str, tuple[str, str]] = {
    api_name("estimated_value"): ("estimated_value_amount", "estimated_value_currency"),
}


def field_change(old: Any, new: Any) -> dict[str, Any]:
    """How a changed field is recorded."""
    return {"from": json_value(old), "to": json_value(new)}


def members_change(kind: str, members: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """Team members added or removed, always as a list of {name, email}, however many."""
    key = {"added": "teamMembersAdded", "removed": "teamMembersRemoved"}[kind]
    return {key: [{"name": name, "email": email} for name, email in members]}


def snapshot(lead: Lead) -> dict[str, Any]:
    state = {key: json_value(getattr(lead, column)) for key, column in SNAPSHOT_COLUMNS.items()}
    for key, (amount, currency) in SNAPSHOT_MONEY.items():
        state[key] = money_json(getattr(lead, amount), getattr(lead, currency))
    return state


def snapshot_sql(alias: str) -> str:
    """`snapshot` as a jsonb expression over the leads row `alias`: the same keys and values."""
    parts = [f"'{key}', {alias}.{column}" for key, column in SNAPSHOT_COLUMNS.items()]
    parts += [
        f"'{key}', CASE WHEN {alias}.{amount} IS NULL THEN NULL ELSE jsonb_build_object("
        f"'amount', round({alias}.{amount}, {minor_units_sql(f'{alias}.{currency}')})::text, "
        f"'currency', {alias}.{currency}) END"
        for key, (amount, currency) in SNAPSHOT_MONEY.items()
    ]
    return f"jsonb_build_object({', '.join(parts)})"


# The history row and the outbox rows of one step in one statement: one round trip, and no ORM
# unit of work for rows nothing reads back in the transaction. Payloads come as JSON text.
_RECORD_STEP_SQL = text("""
WITH history AS (
    INSERT INTO lead_history
        (lead_id, action, from_stage, to_stage, outcome, actor_kind, actor_user_id, api_key_id,
         changes, at)
    VALUES (:lead_id, :action, :from_stage, :to_stage, :outcome, :actor_kind, :actor_user_id,
            :api_key_id, CAST(:changes AS jsonb), :now)
)
INSERT INTO outbox (topic, lead_id, organisation_id, payload, created_at)
SELECT effect.topic, :lead_id, :organisation_id, CAST(effect.payload AS jsonb), :now
FROM unnest(CAST(:topics AS text[]), CAST(:payloads AS text[])) AS effect(topic, payload)
""")


def actor_kind(actor: Actor | None) -> ActorKind:
    if actor is None:
        return ActorKind.SYSTEM
    return ActorKind.USER if actor.api_key_id is None else ActorKind.API_KEY


def actor_payload(actor: Actor | None) -> dict[str, str]:
    """Who acted, in an event's body."""
    if actor is None:
        return {"kind": ActorKind.SYSTEM.value}
    if actor.api_key_id is not None:
        return {"kind": ActorKind.API_KEY.value, "apiKeyId": str(actor.api_key_id)}
    return {"kind": ActorKind.USER.value, "userId": str(actor.user_id)}


async def record_step(
    session: AsyncSession,
    lead: Lead,
    step: Transition,
    actor: Actor | None,
    now: datetime,
    changes: Mapping[str, Any],
    previous: dict[str, Any] | None,
    *,
    event: Mapping[str, Any] | None = None,
) -> None:
    """History row and outbox rows for one applied step, in the caller's transaction; the relay
    that delivers them (and, when the step answers the lead, the refresh of the partner's
    similar-deal counts) is staged for after the commit. `event`: more keys for the events'
    bodies only (what the history need not keep, e.g. an activity's text)."""
    # The statement below is not the ORM's: the lead's own INSERT or UPDATE goes out first.
    await session.flush()
    current = snapshot(lead)
    state = lead_state_json(lead)
    topics: list[str] = []
    payloads: list[str] = []
    for effect in effects_of(step):
        payload: dict[str, Any] = {
            "eventId": str(uuid.uuid4()),
            "type": effect.topic.value,
            "leadId": str(lead.id),
            "organisationId": str(lead.organisation_id),
            "action": step.action.value,
            "occurredAt": now.isoformat(),
            "actor": actor_payload(actor),
            "previous": previous,
            "current": current,
            "changes": dict(changes),
            "lead": state,
            **(event or {}),
        }
        if effect.audience is Audience.CUSTOMER:
            payload["recipient"] = {"name": lead.contact_name, "email": lead.contact_email}
        elif effect.audience is not None:
            payload["audience"] = effect.audience.value
        topics.append(effect.topic.value)
        payloads.append(orjson.dumps(payload).decode())
    await session.execute(
        _RECORD_STEP_SQL,
        {
            "lead_id": lead.id,
            "organisation_id": lead.organisation_id,
            "action": step.action.value,
            "from_stage": step.previous.stage.value if step.previous else None,
            "to_stage": step.current.stage.value,
            "outcome": step.current.outcome.value if step.current.outcome else None,
            "actor_kind": actor_kind(actor).value,
            "actor_user_id": actor.user_id if actor and actor.api_key_id is None else None,
            "api_key_id": actor.api_key_id if actor else None,
            "changes": orjson.dumps(dict(changes)).decode(),
            "now": now,
            "topics": topics,
            "payloads": payloads,
        },
    )
    if topics:
        stage(session, relay())
    if answers_changed(step):
        stage(session, refresh_affinity(lead.organisation_id))


def system_event(
    lead: Lead, topic: Topic, action: str, now: datetime, changes: Mapping[str, Any]
) -> OutboxMessage:
    """The outbox row of a lead event the system causes outside the lifecycle table (a reroute):
    the payload `record_step` writes, with the lead unchanged before and after. The caller
    adds it and stages the relay."""
    current = snapshot(lead)
    return OutboxMessage(
        topic=topic.value,
        lead_id=lead.id,
        organisation_id=lead.organisation_id,
        payload={
            "eventId": str(uuid.uuid4()),
            "type": topic.value,
            "leadId": str(lead.id),
            "organisationId": str(lead.organisation_id),
            "action": action,
            "occurredAt": now.isoformat(),
            "actor": {"kind": ActorKind.SYSTEM.value},
            "previous": current,
            "current": current,
            "changes": dict(changes),
            "lead": lead_state_json(lead),
        },
        created_at=now,
    )
