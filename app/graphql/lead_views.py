"""Saved lead views over GraphQL (issue 11): `saveLeadView`, `leadViews`, `deleteLeadView`.
Merged into the schema's Query and Mutation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.utils.str_converters import to_camel_case

from app.graphql.context import Context
from app.graphql.errors import ArgumentPaths, UserError, user_errors
from app.graphql.types.enums import LeadOrder, LeadTab
from app.graphql.types.inputs import LeadFilter
from app.graphql.types.node import Node
from app.services import lead_queries, lead_views
from app.services.errors import Refused

# The view is `input.id`; the filter's fields sit under `input.filter`.
VIEW_INPUT = ArgumentPaths(under=("input",), renames={"view_id": ("input", "id")})


@strawberry.type(description="A saved list: a tab, a filter and an order, by name.")
class LeadView(Node):
    id: strawberry.ID
    name: str
    tab: LeadTab
    order_by: LeadOrder
    filter: strawberry.scalars.JSON = strawberry.field(
        description="As `leads(filter:)` takes it (camelCase fields): pass it back as is."
    )
    valid: bool = strawberry.field(
        description="False when the stored filter no longer checks (e.g. a value since "
        "renamed): re-save the view with a new filter."
    )
    shared: bool = strawberry.field(description="Seen by every lead manager of the organisation.")
    mine: bool
    owner_name: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: lead_views.ViewRow) -> LeadView:
        view = row.view
        stored: Any = view.filter
        shown: Any = (
            {to_camel_case(k): v for k, v in stored.items()} if isinstance(stored, dict) else {}
        )
        return cls(
            id=strawberry.ID(str(view.id)),
            name=view.name,
            tab=LeadTab(view.tab),
            order_by=LeadOrder(view.order_by),
            filter=shown,
            valid=row.filter is not None,
            shared=view.shared,
            mine=row.mine,
            owner_name=row.owner_name,
            updated_at=view.updated_at,
        )


@strawberry.input
class SaveLeadViewInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="One of your views to change; null creates one."
    )
    name: str = strawberry.field(description="Unique among your views; 1 to 100 characters.")
    tab: LeadTab
    filter: LeadFilter | None = strawberry.field(
        default=None, description="Checked as `leads` checks it."
    )
    order_by: LeadOrder = LeadOrder.RECEIVED_AT_DESC
    shared: bool = strawberry.field(default=False, description="Show it to the organisation.")


@strawberry.input
class DeleteLeadViewInput:
    id: strawberry.ID


@strawberry.type(description="The saved view, or why nothing was saved.")
class SaveLeadViewPayload:
    view: LeadView | None
    errors: list[UserError]


@strawberry.type(description="The deleted view's id, or why nothing was deleted.")
class DeleteLeadViewPayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.type
class LeadViewQuery:
    @strawberry.field(
        description="Your saved views and the views shared in your organisation, by name."
    )
    async def lead_views(self, info: Info[Context, None]) -> list[LeadView]:
        async with info.context.db() as session:
            rows = await lead_views.list_views(session, info.context.actor)
        return [LeadView.of(row) for row in rows]


@strawberry.type
class LeadViewMutation:
    @strawberry.mutation(description="Create a view of yours, or change one (`id`).")
    async def save_lead_view(
        self, info: Info[Context, None], input: SaveLeadViewInput
    ) -> SaveLeadViewPayload:
        ctx = info.context
        data = lead_views.SaveView(
            name=input.name,
            tab=input.tab,
            filter=input.filter.to_service() if input.filter else lead_queries.LeadFilter(),
            order_by=input.order_by,
            shared=input.shared,
            view_id=input.id,
        )
        result = await ctx.transact(lambda s: lead_views.save_view(s, ctx.actor, data, now=ctx.now))
        if isinstance(result, Refused):
            return SaveLeadViewPayload(view=None, errors=user_errors(result, VIEW_INPUT))
        return SaveLeadViewPayload(view=LeadView.of(result), errors=[])

    @strawberry.mutation(description="Delete one of your views (shared ones too; only yours).")
    async def delete_lead_view(
        self, info: Info[Context, None], input: DeleteLeadViewInput
    ) -> DeleteLeadViewPayload:
        ctx = info.context
        result = await ctx.transact(lambda s: lead_views.delete_view(s, ctx.actor, input.id))
        if isinstance(result, Refused):
            return DeleteLeadViewPayload(deleted_id=None, errors=user_errors(result, VIEW_INPUT))
        return DeleteLeadViewPayload(deleted_id=strawberry.ID(str(result)), errors=[])
