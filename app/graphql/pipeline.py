"""The pipeline (R14): `pipeline(filter, groupBy)`. Merged into the schema's Query; answered by
strawberry (the compiled path's planner does not know it and falls back). Definitions live in
app/services/pipeline.py and are repeated in the descriptions below."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import query_error
from app.graphql.types.enums import CompanySize, LeadTab, LeadType
from app.graphql.types.lead import Money, money
from app.services import pipeline
from app.services.errors import Refused
from app.services.pipeline import PipelineAudience, PipelineGrouping

strawberry.enum(
    PipelineAudience,
    description="RECEIVED: the leads your partner received (lead managers). SENT: the leads "
    "you sent (platform marketers and sellers, referring partners' admins).",
)
strawberry.enum(
    PipelineGrouping,
    description="What groups split the figures by: lead type, month received (UTC, YYYY-MM), "
    "industry, company size, sender organisation, campaign id, and (for SENT) the receiving "
    "partner.",
)


@strawberry.input(description="Which leads count: received in [from, to), at most two years.")
class PipelineFilter:
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="Received at or after; default: `to` - 365 days."
    )
    to: datetime | None = strawberry.field(
        default=None, description="Received before; default: now."
    )
    types: list[LeadType] | None = None
    sources: list[LeadTab] | None = strawberry.field(
        default=None, description="Where leads came from: MARKETPLACE inquiries or QUALIFIED."
    )
    audience: PipelineAudience | None = strawberry.field(
        default=None, description="Default: RECEIVED for lead managers, SENT for senders."
    )

    def to_service(self) -> pipeline.PipelineFilter:
        return pipeline.PipelineFilter(
            received_from=self.from_,
            received_to=self.to,
            types=self.types,
            sources=self.sources,
            audience=self.audience,
        )


@strawberry.type(description="Pipeline figures over a set of leads.")
class PipelineFigures:
    received: int
    accepted: int = strawberry.field(
        description="Accepted, whatever became of them (incl. won and lost)."
    )
    declined: int
    expired: int = strawberry.field(description="Never answered in time; not in acceptanceRate.")
    won: int
    lost: int
    acceptance_rate: float | None = strawberry.field(
        description="accepted / (accepted + declined); null when none was answered."
    )
    win_rate: float | None = strawberry.field(
        description="won / (won + lost); null when none closed."
    )
    median_response_hours: float | None = strawberry.field(
        description="Median of responded_at - received_at over accepted and declined leads."
    )
    p90_response_hours: float | None = strawberry.field(
        description="90th percentile of the same response times."
    )
    estimated_value: list[Money] = strawberry.field(
        description="Estimated value of accepted leads, one sum per currency (never converted)."
    )
    won_value: list[Money] = strawberry.field(
        description="Final value of won leads, one sum per currency (never converted)."
    )

    @classmethod
    def of(cls, f: pipeline.Figures) -> PipelineFigures:
        return cls(
            received=f.received,
            accepted=f.accepted,
            declined=f.declined,
            expired=f.expired,
            won=f.won,
            lost=f.lost,
            acceptance_rate=f.acceptance_rate,
            win_rate=f.win_rate,
            median_response_hours=f.median_response_hours,
            p90_response_hours=f.p90_response_hours,
            estimated_value=[m for a in f.estimated_value if (m := money(a.amount, a.currency))],
            won_value=[m for a in f.won_value if (m := money(a.amount, a.currency))],
        )


@strawberry.type(description="A group's values; only the groupings asked for are set.")
class PipelineGroupKey:
    type: LeadType | None = None
    month: str | None = strawberry.field(default=None, description="YYYY-MM, UTC.")
    industry: str | None = None
    company_size: CompanySize | None = None
    sender_organisation_id: strawberry.ID | None = None
    campaign_id: str | None = None
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="The receiving partner (SENT only)."
    )


@strawberry.type
class PipelineGroup:
    key: PipelineGroupKey
    figures: PipelineFigures


@strawberry.type(description="Overall figures and, with groupBy, one group per key.")
class Pipeline:
    overall: PipelineFigures
    groups: list[PipelineGroup]


def _key(key: dict[PipelineGrouping, str | None]) -> PipelineGroupKey:
    lead_type, size = key.get(PipelineGrouping.TYPE), key.get(PipelineGrouping.COMPANY_SIZE)
    sender, partner = (
        key.get(PipelineGrouping.SENDER_ORGANISATION),
        key.get(PipelineGrouping.PARTNER),
    )
    return PipelineGroupKey(
        type=LeadType(lead_type) if lead_type else None,
        month=key.get(PipelineGrouping.MONTH),
        industry=key.get(PipelineGrouping.INDUSTRY),
        company_size=CompanySize(size) if size else None,
        sender_organisation_id=strawberry.ID(sender) if sender else None,
        campaign_id=key.get(PipelineGrouping.CAMPAIGN),
        partner_id=strawberry.ID(partner) if partner else None,
    )


@strawberry.type
class PipelineQuery:
    @strawberry.field(
        description="Counts by stage and outcome, acceptance and win rates, response times and "
        "values per currency (R14): a partner's lead managers over its leads, senders over the "
        "leads they sent. See the README's Pipeline part for the definitions."
    )
    async def pipeline(
        self,
        info: Info[Context, None],
        filter: PipelineFilter | None = None,
        group_by: list[PipelineGrouping] | None = None,
    ) -> Pipeline:
        async with info.context.db() as session:
            result = await pipeline.pipeline(
                session, info.context.actor, filter.to_service() if filter else None, group_by
            )
        if isinstance(result, Refused):
            raise query_error(result)
        return Pipeline(
            overall=PipelineFigures.of(result.overall),
            groups=[
                PipelineGroup(key=_key(g.key), figures=PipelineFigures.of(g.figures))
                for g in result.groups
            ],
        )
