"""Relay's `node(id)` and `nodes(ids)`: refetch any Node by its id (app/services/nodes.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.graphql.api_keys import ApiKey
from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, query_error
from app.graphql.lead_views import LeadView
from app.graphql.notifications import Notification
from app.graphql.owners import RoutingRule
from app.graphql.search import PublicProfile, count_public_read
from app.graphql.types.activity import LeadActivity
from app.graphql.types.lead import Lead
from app.graphql.types.node import Node
from app.graphql.types.rows import from_row
from app.graphql.webhooks import WebhookDelivery, WebhookEndpoint
from app.services import nodes
from app.services.errors import Refused
from app.services.nodes import Found, NodeKind

# Each kind's row as its own fields show it.
SHOWN: dict[NodeKind, Callable[[Any, Context], Node]] = {
    NodeKind.LEAD: Lead.from_row,
    NodeKind.NOTIFICATION: lambda row, _: from_row(Notification, row),
    NodeKind.LEAD_VIEW: lambda row, _: LeadView.of(row),
    NodeKind.WEBHOOK_ENDPOINT: lambda row, _: from_row(WebhookEndpoint, row),
    NodeKind.WEBHOOK_DELIVERY: lambda row, _: WebhookDelivery.from_record(row),
    NodeKind.API_KEY: lambda row, _: ApiKey.of(row),
    NodeKind.PUBLIC_PROFILE: lambda row, _: PublicProfile.build(row),
    NodeKind.LEAD_ACTIVITY: lambda row, _: LeadActivity.from_row(row),
    NodeKind.ROUTING_RULE: lambda row, _: RoutingRule.of(row),
}


async def _shown(context: Context, ids: list[str]) -> list[Node | None]:
    async with context.db() as session:
        found = await nodes.find_nodes(session, context.actor, ids)
    if isinstance(found, Refused):
        raise query_error(found, ARGUMENTS)
    # Each partner's page shown counts against the public read budget, as `profile(id)` counts
    # it, so `nodes` is no way around it. Ids that find nothing show nothing: not counted.
    pages = sum(1 for f in found if f is not None and f.kind is NodeKind.PUBLIC_PROFILE)
    if pages:
        await count_public_read(context, pages)
    return [_node(f, context) for f in found]


def _node(found: Found | None, context: Context) -> Node | None:
    return SHOWN[found.kind](found.row, context) if found is not None else None


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Relay: the object with this id if you may see it (as its own field would "
        "show it); null for an unknown, malformed or foreign id."
    )
    async def node(self, info: Info[Context, None], id: strawberry.ID) -> Node | None:
        [found] = await _shown(info.context, [id])
        return found

    @strawberry.field(
        description=f"Relay: `node` for each id (at most {nodes.MAX_NODES}), in the order given."
    )
    async def nodes(self, info: Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        return await _shown(info.context, list(ids))
