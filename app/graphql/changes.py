"""What an integration syncs by: the change feed (`leadChanges`) and exact lookup by the
partner's own CRM id (`leadByCrmId`). Merged into the schema's Query; answered by strawberry
(the compiled path's planner does not know these fields and falls back)."""

from __future__ import annotations

import dataclasses

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import query_error
from app.graphql.types.history import LeadHistoryEntry
from app.graphql.types.lead import Lead
from app.services import lead_changes, lead_queries
from app.services.errors import Refused
from app.services.lead_changes import DEFAULT_PAGE as CHANGES_PAGE


@strawberry.type(description="One change to a lead (a history entry) with the lead as it is now.")
class LeadChange(LeadHistoryEntry):
    version: int = strawberry.field(description="The lead's version after this change.")
    lead: Lead = strawberry.field(description="The lead's current state (not as of the change).")

    @classmethod
    def of(cls, change: lead_changes.LeadChange, context: Context) -> LeadChange:
        entry = LeadHistoryEntry.from_row(change.entry)
        parts = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry) if f.init}
        return cls(**parts, version=change.entry.version, lead=Lead.from_row(change.lead, context))


@strawberry.type
class LeadChangeEdge:
    cursor: str
    node: LeadChange


@strawberry.type
class LeadChangePageInfo:
    end_cursor: str | None = strawberry.field(
        description="Where to resume: the last change's cursor, or `after` when there was none."
    )
    has_next_page: bool


@strawberry.type(description="Changes in the order they became final; resume with `after`.")
class LeadChangeConnection:
    edges: list[LeadChangeEdge]
    page_info: LeadChangePageInfo


@strawberry.type
class ChangesQuery:
    @strawberry.field(
        description="Every change to the organisation's leads, oldest first, never skipping one: "
        "store pageInfo.endCursor and pass it as `after` (first <= 100)."
    )
    async def lead_changes(
        self,
        info: Info[Context, None],
        after: str | None = None,
        # Declared, so that the cost limit sizes the page as served (app/graphql/cost.py).
        first: int | None = CHANGES_PAGE,
    ) -> LeadChangeConnection:
        async with info.context.db() as session:
            page = await lead_changes.lead_changes(
                session, info.context.actor, after=after, first=first
            )
        if isinstance(page, Refused):
            raise query_error(page)
        edges = [
            LeadChangeEdge(cursor=c.cursor, node=LeadChange.of(c, info.context))
            for c in page.changes
        ]
        return LeadChangeConnection(
            edges=edges,
            page_info=LeadChangePageInfo(
                end_cursor=page.end_cursor, has_next_page=page.has_next_page
            ),
        )

    @strawberry.field(description="The organisation's lead with this CRM id; null when none.")
    async def lead_by_crm_id(self, info: Info[Context, None], crm_id: str) -> Lead | None:
        async with info.context.db() as session:
            row = await lead_queries.get_lead_by_crm_id(session, info.context.actor, crm_id)
        return Lead.from_row(row, info.context) if row is not None else None
