"""Query resolvers: authorize, call one service, map the result."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import query_error
from app.graphql.types.enums import LeadOrder, LeadTab
from app.graphql.types.inputs import LeadFilter
from app.graphql.types.lead import Lead, LeadCount, LeadEdge, PageInfo
from app.graphql.types.viewer import Viewer
from app.services import lead_queries, viewer
from app.services.errors import Refused


@strawberry.type(description="A page of leads in keyset order (Relay connection).")
class LeadConnection:
    edges: list[LeadEdge]
    nodes: list[Lead]
    page_info: PageInfo
    page: strawberry.Private[lead_queries.LeadPage]

    @classmethod
    def build(cls, page: lead_queries.LeadPage, context: Context) -> LeadConnection:
        nodes = [Lead.from_row(row, context) for row in page.items]
        cursors = page.cursors
        return cls(
            edges=[LeadEdge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
            nodes=nodes,
            page_info=PageInfo.of(page),
            page=page,
        )

    @strawberry.field(description="Leads matching tab and filter, all pages together.")
    async def total_count(self, info: Info[Context, None]) -> int:
        async with info.context.db() as session:
            return await lead_queries.count_page(session, self.page)


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user; null for anonymous requests.")
    async def viewer(self, info: Info[Context, None]) -> Viewer | None:
        actor = info.context.actor
        if actor is None:
            return None
        # Only ever the caller's own organisation: its profile's score is not shown to others.
        async with info.context.db() as session:
            own = await viewer.own_organisation(session, actor)
        return Viewer.build(
            actor,
            own.organisation,
            own.profile,
            own.score,
            locale=own.locale,
            time_zone=own.time_zone,
        )

    @strawberry.field(description="One lead of the viewer's organisation; null if not visible.")
    async def lead(self, info: Info[Context, None], id: strawberry.ID) -> Lead | None:
        async with info.context.db() as session:
            row = await lead_queries.get_lead(session, info.context.actor, id)
        return Lead.from_row(row, info.context) if row is not None else None

    @strawberry.field(description="A tab's leads, filtered and paged (first <= 100).")
    async def leads(
        self,
        info: Info[Context, None],
        tab: LeadTab,
        filter: LeadFilter | None = None,
        order_by: LeadOrder = lead_queries.LeadOrder.RECEIVED_AT_DESC,
        first: int | None = None,
        after: str | None = None,
    ) -> LeadConnection:
        async with info.context.db() as session:
            page = await lead_queries.list_leads(
                session,
                info.context.actor,
                tab,
                filter.to_service() if filter else None,
                order_by,
                first,
                after,
                contact_hidden_before=info.context.contact_hidden_before,
            )
        if isinstance(page, Refused):
            raise query_error(page)
        return LeadConnection.build(page, info.context)

    @strawberry.field(description="Badge counts per tab and stage, zeros included.")
    async def lead_counts(self, info: Info[Context, None]) -> list[LeadCount]:
        async with info.context.db() as session:
            counts = await lead_queries.lead_counts(session, info.context.actor)
        return [LeadCount(tab=c.tab, stage=c.stage, count=c.count) for c in counts]
