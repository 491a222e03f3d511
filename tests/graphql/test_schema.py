"""The committed contract is what the code serves."""

from __future__ import annotations

from app.config import PROJECT_ROOT
from app.graphql.sdl import schema_sdl


def test_committed_schema_matches_the_code() -> None:
    committed = (PROJECT_ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), "schema.graphql is stale: run `make schema` and commit it"


def test_contract_names_that_clients_depend_on() -> None:
    sdl = schema_sdl()
    for line in [
        "viewer: Viewer",
        "lead(id: ID!): Lead",
        "leads(tab: LeadTab!, filter: LeadFilter = null, orderBy: LeadOrder! = RECEIVED_AT_DESC, "
        "first: Int = null, after: String = null, last: Int = null, before: String = null): "
        "LeadConnection!",
        "node(id: ID!): Node",
        "nodes(ids: [ID!]!): [Node]!",
        "leadCounts: [LeadCount!]!",
        "acceptLead(input: AcceptLeadInput!): LeadPayload!",
        "declineLead(input: DeclineLeadInput!): LeadPayload!",
        "updateLead(input: UpdateLeadInput!): LeadPayload!",
        "addLeadTeamMember(input: AddLeadTeamMemberInput!): LeadPayload!",
        "removeLeadTeamMember(input: RemoveLeadTeamMemberInput!): LeadPayload!",
        "markLeadWon(input: MarkLeadWonInput!): LeadPayload!",
        "markLeadLost(input: MarkLeadLostInput!): LeadPayload!",
        "setLeadFavorite(input: SetLeadFavoriteInput!): LeadPayload!",
    ]:
        assert line in sdl, line
    for type_line in [
        "enum LeadTab {\n  MARKETPLACE\n  QUALIFIED\n  FAVORITES\n}",
        "type LeadPayload {\n  lead: Lead\n  errors: [UserError!]!\n}",
        "input MoneyInput {\n  amount: Decimal!\n",
        "interface Node {\n  id: ID!\n}",
        "type Lead implements Node {\n",
    ]:
        assert type_line in sdl, type_line


def test_error_codes_are_stable() -> None:
    sdl = schema_sdl()
    block = sdl[sdl.index("enum ErrorCode {") :]
    codes = block[: block.index("}")].split()[3:]
    assert {"NOT_FOUND", "FORBIDDEN", "INVALID_TRANSITION", "VALIDATION", "CONFLICT"} <= set(codes)
