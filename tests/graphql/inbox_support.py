"""Documents, helpers and set-ups shared by the inbox read tests (tabs, paging, detail)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from tests.factories import World, make_lead
from tests.graphql_client import GraphQLClient

TABS = ("MARKETPLACE", "QUALIFIED", "FAVORITES")
STAGES = ("RECEIVED", "ACCEPTED", "ARCHIVED")
QUALIFIED_TYPES = {"MARKETING_QUALIFIED", "SALES_QUALIFIED"}

NOON = "2026-01-01T12:00:00+00:00"
# A fixed past instant for leads whose clock does not matter (ordering, paging, filters).
BASE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

LEADS = """
query Leads($tab: LeadTab!, $filter: LeadFilter, $orderBy: LeadOrder! = RECEIVED_AT_DESC,
            $first: Int, $after: String) {
  leads(tab: $tab, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id type tab stage outcome isFavorite } }
    nodes { id }
  }
}
"""

LEAD = """
query Lead($id: ID!) {
  lead(id: $id) {
    id version type tab stage outcome receivedAt respondBy timeLeftToRespond respondedAt
    archivedAt updatedAt contactAlert allowedActions isFavorite
    customer {
      companyName companySize industry country contactName contactEmail contactPhone need
      contactRequested consentToContact
    }
    deal {
      name estimatedValue { amount currency } estimatedPurchaseDate notes crmId campaignId
      declineReason declineNotes finalValue { amount currency } closingDate lostReason lostNotes
    }
    sender { kind name organisationName }
    team { id name email phone addedAt }
    history { id action fromStage toStage outcome at actor { kind name } changes { field } }
  }
}
"""

COUNTS = "query { leadCounts { tab stage count } }"

SET_FAVORITE = """
mutation Heart($id: ID!, $favorite: Boolean!) {
  setLeadFavorite(input: {id: $id, favorite: $favorite}) {
    lead { id isFavorite }
    errors { code field message }
  }
}
"""


# --- helpers -------------------------------------------------------------------------------


async def fetch_page(
    client: GraphQLClient,
    tab: str,
    *,
    filter: dict[str, Any] | None = None,
    order_by: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> dict[str, Any]:
    variables: dict[str, Any] = {"tab": tab, "filter": filter, "first": first, "after": after}
    if order_by is not None:
        variables["orderBy"] = order_by
    data = await client.data(LEADS, variables)
    connection: dict[str, Any] = data["leads"]
    # edges and nodes are the same leads in the same order
    assert [e["node"]["id"] for e in connection["edges"]] == [n["id"] for n in connection["nodes"]]
    return connection


async def page_ids(client: GraphQLClient, tab: str, **kwargs: Any) -> list[str]:
    """Ids of the first page (first=100 unless given): enough for a fresh partner's leads."""
    kwargs.setdefault("first", 100)
    connection = await fetch_page(client, tab, **kwargs)
    assert not connection["pageInfo"]["hasNextPage"], "use walk() for more than one page"
    return [e["node"]["id"] for e in connection["edges"]]


async def walk(
    client: GraphQLClient, tab: str, *, first: int, **kwargs: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a list, following endCursor; the ids in order and the pages."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        connection = await fetch_page(client, tab, first=first, after=after, **kwargs)
        pages.append(connection)
        ids.extend(e["node"]["id"] for e in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return ids, pages
        after = connection["pageInfo"]["endCursor"]
        assert len(pages) < 200, "paging does not terminate"


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single GraphQL error of a refused query, with its extensions."""
    assert body.get("errors"), body
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    return error


def iso(moment: datetime) -> str:
    return moment.isoformat()


def sid(lead: models.Lead) -> str:
    return str(lead.id)


def forge_cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def favorite(session: AsyncSession, user_id: uuid.UUID, *leads: models.Lead) -> None:
    for lead in leads:
        session.add(models.LeadFavorite(user_id=user_id, lead_id=lead.id))
    await session.flush()


async def platform_org_id(session: AsyncSession, world: World) -> uuid.UUID:
    org_id = await session.scalar(
        select(models.User.organisation_id).where(models.User.id == world.seller)
    )
    assert org_id is not None
    return org_id


async def archived(
    session: AsyncSession, organisation_id: uuid.UUID, outcome: str, **fields: Any
) -> models.Lead:
    """An ARCHIVED lead with the columns its outcome requires."""
    extra: dict[str, Any] = {"outcome": outcome, "archived_at": BASE}
    if outcome in ("WON", "LOST"):
        extra["deal_name"] = "Closed deal"
    if outcome == "LOST":
        extra["lost_reason"] = "PRICE"
    if outcome == "DECLINED":
        extra["decline_reason"] = "SPAM"
    extra.update(fields)
    return await make_lead(
        session, organisation_id=organisation_id, stage=LeadStage.ARCHIVED, **extra
    )


async def inbox_lead(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    type: LeadType,
    hours_before: int,
    state: str = "RECEIVED",
    **fields: Any,
) -> models.Lead:
    """A lead of `type` received `hours_before` BASE, in `state`: RECEIVED, ACCEPTED, or the
    outcome it was archived with."""
    received_at = BASE - timedelta(hours=hours_before)
    if state in STAGES:
        stage = LeadStage(state)
        return await make_lead(
            session,
            organisation_id=organisation_id,
            type=type,
            stage=stage,
            received_at=received_at,
            **fields,
        )
    return await archived(
        session, organisation_id, state, type=type, received_at=received_at, **fields
    )


def as_table(counts: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    table = {(c["tab"], c["stage"]): c["count"] for c in counts}
    assert len(table) == len(counts), "a (tab, stage) pair appears twice"
    return table


def zeros() -> dict[tuple[str, str], int]:
    return {(tab, stage): 0 for tab in TABS for stage in STAGES}
