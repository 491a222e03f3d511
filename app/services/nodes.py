"""Relay's `node(id)` and `nodes(ids)`: any object the caller may see, by its id alone.

Ids stay as they are: the tables' UUIDs are unique across tables already (webhook deliveries
keep their integer ids, the only integers among the node types), and a new id format would
break every id clients stored. One statement finds which table holds each id, under the
caller's row-level security (another tenant's row is not found at all); then each type's rows
are read by the same function, with the same authorization, as the type's own field reads
them: whatever that field would not show the caller, `node` does not show either.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import CompoundSelect, Select, String, cast, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.events import Channel
from app.services import (
    activities,
    api_keys,
    lead_queries,
    lead_views,
    notifications,
    public_profiles,
    routing,
    webhooks,
)
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused

# What one `nodes` call may ask for: a page, as every list's largest.
MAX_NODES = 100

NodeId = uuid.UUID | int


class NodeKind(StrEnum):
    """The GraphQL type of each node table."""

    LEAD = "Lead"
    NOTIFICATION = "Notification"
    LEAD_VIEW = "LeadView"
    WEBHOOK_ENDPOINT = "WebhookEndpoint"
    WEBHOOK_DELIVERY = "WebhookDelivery"
    API_KEY = "ApiKey"
    PUBLIC_PROFILE = "PublicProfile"
    LEAD_ACTIVITY = "LeadActivity"
    ROUTING_RULE = "RoutingRule"


Load = Callable[[AsyncSession, Actor | None, Any], Awaitable[dict[Any, Any]]]


async def _profiles(
    session: AsyncSession, _actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, public_profiles.PublicProfile]:
    # Anyone's, signed in or not, as `profile(id)` shows them: published ones only.
    return await public_profiles.published_profiles(session, ids)


# Each kind's reader: the same checks as the list or field that shows the type.
LOADS: dict[NodeKind, Load] = {
    NodeKind.LEAD: lead_queries.leads_by_ids,
    NodeKind.NOTIFICATION: notifications.notifications_by_ids,
    NodeKind.LEAD_VIEW: lead_views.views_by_ids,
    NodeKind.WEBHOOK_ENDPOINT: webhooks.endpoints_by_ids,
    NodeKind.WEBHOOK_DELIVERY: webhooks.deliveries_by_ids,
    NodeKind.API_KEY: api_keys.keys_by_ids,
    NodeKind.PUBLIC_PROFILE: _profiles,
    NodeKind.LEAD_ACTIVITY: activities.activities_by_ids,
    NodeKind.ROUTING_RULE: routing.rules_by_ids,
}

# The tables holding UUID-keyed nodes; a kind's extra condition narrows its table.
UUID_TABLES: tuple[tuple[NodeKind, Any], ...] = (
    (NodeKind.LEAD, models.Lead),
    (NodeKind.NOTIFICATION, models.Notification),
    (NodeKind.LEAD_VIEW, models.LeadView),
    (NodeKind.WEBHOOK_ENDPOINT, models.WebhookEndpoint),
    (NodeKind.API_KEY, models.ApiKey),
    (NodeKind.PUBLIC_PROFILE, models.BusinessProfile),
    (NodeKind.LEAD_ACTIVITY, models.LeadActivity),
    (NodeKind.ROUTING_RULE, models.RoutingRule),
)


@dataclass(frozen=True, slots=True)
class Found:
    kind: NodeKind
    row: Any


def parse_node_id(raw: str) -> NodeId | None:
    """A UUID, or a delivery's decimal id; None for anything else (Relay: null, no error)."""
    text = str(raw)
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 18 else None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _kinds_statement(uuids: list[uuid.UUID], ints: list[int]) -> CompoundSelect:
    """(kind, id as text) of every row holding one of the ids, each table by its primary key."""
    parts: list[Select[str, str]] = []
    if uuids:
        parts += [
            select(literal(kind.value).label("kind"), cast(model.id, String).label("id")).where(
                model.id.in_(uuids)
            )
            for kind, model in UUID_TABLES
        ]
    if ints:
        parts.append(
            select(
                literal(NodeKind.WEBHOOK_DELIVERY.value).label("kind"),
                cast(models.Delivery.id, String).label("id"),
            ).where(models.Delivery.id.in_(ints), models.Delivery.channel == Channel.WEBHOOK)
        )
    return union_all(*parts)


async def node_kinds(session: AsyncSession, ids: Sequence[NodeId]) -> dict[NodeId, NodeKind]:
    """Which table holds each id the caller's tenant may see, in one statement."""
    uuids = [i for i in ids if isinstance(i, uuid.UUID)]
    ints = [i for i in ids if isinstance(i, int)]
    if not uuids and not ints:
        return {}
    found: dict[NodeId, NodeKind] = {}
    for kind, raw in (await session.execute(_kinds_statement(uuids, ints))).all():
        node_kind = NodeKind(kind)
        key: NodeId = int(raw) if node_kind is NodeKind.WEBHOOK_DELIVERY else uuid.UUID(raw)
        found[key] = node_kind
    return found


async def find_nodes(
    session: AsyncSession, actor: Actor | None, raw_ids: Sequence[str]
) -> list[Found | None] | Refused:
    """Each id's object, in the order asked, if the caller may see it; None otherwise (unknown,
    malformed, another tenant's, or not shown to this caller). One statement finds the
    tables, then one per kind found reads the rows."""
    if len(raw_ids) > MAX_NODES:
        return Refused.one(ErrorCode.VALIDATION, f"must list at most {MAX_NODES} ids", "ids")
    parsed = [parse_node_id(raw) for raw in raw_ids]
    kinds = await node_kinds(session, [i for i in parsed if i is not None])
    wanted: dict[NodeKind, list[NodeId]] = defaultdict(list)
    for node_id, kind in kinds.items():
        wanted[kind].append(node_id)
    rows: dict[NodeKind, dict[Any, Any]] = {}
    for kind, ids in wanted.items():
        rows[kind] = await LOADS[kind](session, actor, ids)
    answer: list[Found | None] = []
    for asked in parsed:
        found = kinds.get(asked) if asked is not None else None
        row = rows[found].get(asked) if found is not None else None
        answer.append(Found(found, row) if found is not None and row is not None else None)
    return answer
