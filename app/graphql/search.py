"""Customer search (R2) and partner suggestions (R12): public profiles and why they rank."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.domain import reference
from app.domain.lifecycle import LeadType as DomainLeadType
from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, query_error
from app.graphql.types.enums import CompanySize, LeadType
from app.graphql.types.lead import PageInfo
from app.graphql.types.node import Node
from app.graphql.types.rows import from_row, to_service
from app.ratelimit import Limit
from app.services import matching, public_profiles, search
from app.services.errors import Refused
from app.services.paging import Page
from app.services.search import PreferenceMatch

# Per client address: a customer browsing pages is far below it, a scraper is not.
SEARCH_LIMIT = Limit("search", 60, 60)

strawberry.enum(
    PreferenceMatch, description="A customer attribute the profile's preferences match."
)

_SIZES = {s.value for s in reference.CompanySize}


@strawberry.type(
    description="What anyone may see of a published business profile. `id` is the profile id "
    "that submitInquiry takes."
)
class PublicProfile(Node):
    id: strawberry.ID
    name: str
    description: str | None
    website: str | None
    keywords: list[str]
    industries: list[str]
    solution_areas: list[str]
    preferred_sizes: list[CompanySize] = strawberry.field(
        description="Company sizes the partner prefers; empty means every size."
    )
    competencies: list[str]
    endorsements: list[str]
    countries: list[str] = strawberry.field(description="Countries of its locations.")
    responsiveness_score: float = strawberry.field(
        description="0..100 (R11); the prior for partners without a record yet."
    )

    @classmethod
    def build(cls, p: public_profiles.PublicProfile) -> PublicProfile:
        sizes = [CompanySize(s) for s in p.preferred_sizes if s in _SIZES]
        return from_row(cls, p, preferred_sizes=sizes)


@strawberry.type(
    description="Why a result ranks where it does: rank = relevance * visibility * similarDeals."
)
class RankReasons:
    relevance: float = strawberry.field(
        description="Full-text rank of the query against the profile (1 without a query)."
    )
    responsiveness_score: float
    visibility: float = strawberry.field(description="0.5 + responsivenessScore / 100.")
    similar_deals: float = strawberry.field(
        description="0.9..1.1: how much deals like this one suit the partner (R12); 1 = neutral."
    )
    matched_preferences: list[PreferenceMatch]
    matched_keywords: list[str] = strawberry.field(
        description="The profile's keywords the query matched."
    )


@strawberry.type
class PartnerSearchResult:
    profile: PublicProfile
    rank: float
    reasons: RankReasons

    @classmethod
    def build(cls, hit: search.SearchHit) -> PartnerSearchResult:
        return cls(
            profile=PublicProfile.build(hit.profile),
            rank=hit.rank,
            reasons=from_row(RankReasons, hit.reasons),
        )


@strawberry.type
class PartnerSearchEdge:
    cursor: str
    node: PartnerSearchResult


@strawberry.type(description="A page of search results, best first (Relay connection).")
class PartnerSearchConnection:
    edges: list[PartnerSearchEdge]
    nodes: list[PartnerSearchResult]
    page_info: PageInfo

    @classmethod
    def build(cls, page: Page[search.SearchHit]) -> PartnerSearchConnection:
        nodes = [PartnerSearchResult.build(hit) for hit in page.items]
        cursors = page.cursors
        return cls(
            edges=[
                PartnerSearchEdge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)
            ],
            nodes=nodes,
            page_info=PageInfo.of(page),
        )


@strawberry.input(description="The customer's attributes; each narrows the results.")
class PartnerSearchFilter:
    company_size: CompanySize | None = strawberry.field(
        default=None,
        description="Hides partners whose size preferences exclude it.",
    )
    industry: str | None = None
    country: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2: partners with a location there."
    )
    solution_area: str | None = None

    def to_service(self) -> search.SearchFilter:
        return search.SearchFilter(
            company_size=self.company_size,
            industry=self.industry,
            country=self.country,
            solution_area=self.solution_area,
        )


@strawberry.input(description="What a new lead is about, to find partners for it.")
class LeadNeedInput:
    description: str | None = None
    industry: str | None = None
    company_size: CompanySize | None = None
    country: str | None = None
    solution_area: str | None = None
    lead_type: LeadType | None = strawberry.field(
        default=None,
        description="Defaults to SALES_QUALIFIED for sellers, MARKETING_QUALIFIED for marketers.",
    )

    def to_service(self) -> matching.LeadNeed:
        lead_type = DomainLeadType(self.lead_type) if self.lead_type else None
        return to_service(matching.LeadNeed, self, lead_type=lead_type)


@strawberry.type
class PartnerSuggestion:
    profile: PublicProfile
    score: float = strawberry.field(description="0..1; higher is a better fit.")
    reasons: list[str]


async def count_public_read(context: Context, reads: int = 1) -> None:
    """Public reads (search, a partner's page) share one budget per client."""
    if context.limiter is None:
        return
    decision = await context.limiter.hit(SEARCH_LIMIT, context.client_ip, reads)
    if not decision.allowed:
        raise GraphQLError(
            "too many searches; try again later",
            extensions={"code": "RATE_LIMITED", "retryAfterSeconds": decision.retry_after_seconds},
        )


@strawberry.type
class SearchQuery:
    @strawberry.field(
        description="Public: a partner's page — the published profile with this id (what "
        "submitInquiry takes), or null. Rate limited with searchPartners, per client."
    )
    async def profile(self, info: Info[Context, None], id: strawberry.ID) -> PublicProfile | None:
        context = info.context
        await count_public_read(context)
        async with context.db() as session:
            found = await public_profiles.published_profile(session, id)
        return PublicProfile.build(found) if found is not None else None

    @strawberry.field(
        description="Public partner search (R2) over published profiles, best first; first <= 50. "
        "Rate limited per client: RATE_LIMITED with retryAfterSeconds."
    )
    async def search_partners(
        self,
        info: Info[Context, None],
        query: str | None = None,
        filter: PartnerSearchFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> PartnerSearchConnection:
        context = info.context
        await count_public_read(context)
        async with context.db() as session:
            page = await search.search_partners(
                session,
                query=query,
                filter=filter.to_service() if filter is not None else None,
                first=first,
                after=after,
                now=context.now,
            )
        if isinstance(page, Refused):
            raise query_error(page, ARGUMENTS)
        return PartnerSearchConnection.build(page)

    @strawberry.field(
        description="Partners for a new lead (R12), best first, with reasons; MARKETER and "
        "SELLER only. first: 1..20."
    )
    async def suggest_partners(
        self, info: Info[Context, None], need: LeadNeedInput, first: int = 5
    ) -> list[PartnerSuggestion]:
        async with info.context.db() as session:
            result = await matching.suggest_partners(
                session, info.context.actor, need=need.to_service(), first=first
            )
        if isinstance(result, Refused):
            raise query_error(result, ARGUMENTS)
        return [
            PartnerSuggestion(
                profile=PublicProfile.build(s.profile), score=s.score, reasons=s.reasons
            )
            for s in result
        ]
