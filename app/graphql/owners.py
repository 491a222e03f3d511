"""Owners and routing over GraphQL (issue 11): `assignLead`'s input (the mutation sits with the
other lead mutations, which both execution paths run), `setRoutingRules` and `routingRules`.
Merged into the schema's Query and Mutation."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.errors import INPUT, UserError, user_errors
from app.graphql.types.viewer import User
from app.services import owners, routing
from app.services.errors import Refused


@strawberry.input(description="Give a lead to one of the partner's lead managers, or to nobody.")
class AssignLeadInput:
    id: strawberry.ID
    owner_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required: a PARTNER_ADMIN or REFERRALS_ADMIN of the lead's partner, or null "
        "to unassign (omitting it is refused, so a forgotten field never unassigns).",
    )
    expected_version: int | None = None


@strawberry.input(
    description="A routing rule: what it matches (empty or omitted lists match any) and exactly "
    "one target: ownerId, roundRobinUserIds or roundRobinLocationId."
)
class RoutingRuleInput:
    industries: list[str] | None = strawberry.field(
        default=None, description="The customer's industry is one of these (any case)."
    )
    solution_areas: list[str] | None = strawberry.field(
        default=None, description="The lead's solution area is one of these (any case)."
    )
    countries: list[str] | None = strawberry.field(
        default=None, description="The customer's country: ISO 3166-1 alpha-2 codes, e.g. BR."
    )
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Always this lead manager."
    )
    round_robin_user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Each of these lead managers in turn."
    )
    round_robin_location_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Each of the lead managers who are this location's alert contacts, in turn.",
    )

    def to_service(self) -> routing.RuleInput:
        return routing.RuleInput(
            industries=tuple(self.industries or ()),
            solution_areas=tuple(self.solution_areas or ()),
            countries=tuple(self.countries or ()),
            owner_id=self.owner_id,
            round_robin_user_ids=tuple(self.round_robin_user_ids or ()),
            round_robin_location_id=self.round_robin_location_id,
        )


@strawberry.input(description="The partner's rules, in order; the first that matches wins.")
class SetRoutingRulesInput:
    rules: list[RoutingRuleInput]


@strawberry.type(description="A routing rule as stored: what it matches and whom it picks.")
class RoutingRule:
    id: strawberry.ID
    position: int = strawberry.field(description="1 for the rule tried first.")
    industries: list[str]
    solution_areas: list[str]
    countries: list[str]
    owner_id: strawberry.ID | None
    round_robin_user_ids: list[strawberry.ID]
    round_robin_location_id: strawberry.ID | None
    assigned_count: int = strawberry.field(description="Leads this rule has given an owner.")

    @classmethod
    def of(cls, rule: models.RoutingRule) -> RoutingRule:
        def sid(value: object) -> strawberry.ID:
            return strawberry.ID(str(value))

        return cls(
            id=sid(rule.id),
            position=rule.position,
            industries=list(rule.industries),
            solution_areas=list(rule.solution_areas),
            countries=list(rule.countries),
            owner_id=sid(rule.owner_user_id) if rule.owner_user_id else None,
            round_robin_user_ids=[sid(u) for u in rule.user_ids],
            round_robin_location_id=sid(rule.location_id) if rule.location_id else None,
            assigned_count=rule.assigned_count,
        )


@strawberry.type
class RoutingRulesPayload:
    rules: list[RoutingRule] | None
    errors: list[UserError]


@strawberry.type
class RoutingQuery:
    @strawberry.field(
        description="The partner's routing rules in order (its lead managers; empty otherwise)."
    )
    async def routing_rules(self, info: Info[Context, None]) -> list[RoutingRule]:
        async with info.context.db() as session:
            rules = await routing.routing_rules(session, info.context.actor)
        return [RoutingRule.of(r) for r in rules]

    @strawberry.field(
        description="The partner's active lead managers (PARTNER_ADMIN, REFERRALS_ADMIN) by name: "
        "whom assignLead and routing rules may name. For its lead managers; empty otherwise."
    )
    async def lead_managers(self, info: Info[Context, None]) -> list[User]:
        async with info.context.db() as session:
            found = await owners.assignable_owners(session, info.context.actor)
        return [User(id=strawberry.ID(str(u.id)), name=u.name, email=u.email) for u in found]


@strawberry.type
class RoutingMutation:
    @strawberry.mutation(
        description="Replace the partner's routing rules (PARTNER_ADMIN); [] removes them."
    )
    async def set_routing_rules(
        self, info: Info[Context, None], input: SetRoutingRulesInput
    ) -> RoutingRulesPayload:
        context = info.context
        rules = [r.to_service() for r in input.rules]
        result = await context.transact(
            lambda s: routing.set_routing_rules(s, context.actor, rules)
        )
        if isinstance(result, Refused):
            return RoutingRulesPayload(rules=None, errors=user_errors(result, INPUT))
        return RoutingRulesPayload(rules=[RoutingRule.of(r) for r in result], errors=[])
