"""Random selections over Lead and everything it reaches, with aliases, fragments, `@include`
/ `@skip` and `__typename`, asked by the lead's own partner, another partner, platform staff
and anonymous callers: the compiled path answers each exactly as strawberry does (the `gql`
client compares every answer), and nobody sees another organisation's lead."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.graphql.schema import schema
from tests.factories import World
from tests.graphql_client import GraphQLClient

TYPES = schema._schema.type_map
# (root field, the type its selection is made over)
ROOTS = [
    (
        "leads(tab: {tab}, first: {first}) {{ totalCount pageInfo {{ hasNextPage endCursor }} "
        "edges {{ cursor node {{ {sel} }} }} }}",
        "Lead",
    ),
    ("leads(tab: {tab}, first: {first}, orderBy: RESPOND_BY_ASC) {{ nodes {{ {sel} }} }}", "Lead"),
    ("sentLeads(first: {first}) {{ nodes {{ {sel} }} }}", "Lead"),
    ("lead(id: $id) {{ {sel} }}", "Lead"),
    ("viewer {{ {sel} }}", "Viewer"),
    (
        "notifications(first: {first}) {{ unreadCount edges {{ cursor node {{ {sel} }} }} }}",
        "Notification",
    ),
]
WHO = ["owner", "other partner", "seller", "anonymous"]


def _object(t: Any) -> GraphQLObjectType | None:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t if isinstance(t, GraphQLObjectType) else None


@st.composite
def selections(draw: st.DrawFn, type_name: str = "Lead", depth: int = 3) -> str:
    object_type = TYPES[type_name]
    assert isinstance(object_type, GraphQLObjectType)
    names = sorted(object_type.fields)
    if depth == 0:
        names = [n for n in names if _object(object_type.fields[n].type) is None]
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=6, unique=True))
    parts = []
    for name in chosen:
        inner = _object(object_type.fields[name].type)
        field = name
        if draw(st.booleans()):
            field = f"{draw(st.sampled_from(['a', 'b', 'x_1']))}{len(parts)}: {name}"
        directive = draw(
            st.sampled_from(["", "", "@include(if: true)", "@skip(if: true)", "@include(if: $on)"])
        )
        part = f"{field} {directive}".strip()
        if inner is not None:
            part += " { " + draw(selections(inner.name, depth - 1)) + " }"
        if draw(st.integers(0, 4)) == 0:
            part = f"... on {type_name} {{ {part} }}"
        parts.append(part)
    if draw(st.booleans()):
        parts.append("__typename")
    return " ".join(parts)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    root=st.sampled_from(ROOTS),
    tab=st.sampled_from(["MARKETPLACE", "QUALIFIED", "FAVORITES"]),
    first=st.integers(0, 6),
    who=st.sampled_from(WHO),
    on=st.booleans(),
)
async def test_any_selection_is_answered_as_strawberry_answers_it(
    gql: GraphQLClient,
    world: World,
    data: st.DataObject,
    root: tuple[str, str],
    tab: str,
    first: int,
    who: str,
    on: bool,
) -> None:
    user = {
        "owner": world.contoso.referrals_admin,
        "other partner": world.fabrikam.partner_admin,
        "seller": world.seller,
        "anonymous": None,
    }[who]
    client = gql.as_user(user)
    owner = gql.as_user(world.contoso.referrals_admin)
    ids = await owner.data(
        "{ leads(tab: QUALIFIED, first: 1) { nodes { id organisationId: id } } }"
    )
    lead_id = ids["leads"]["nodes"][0]["id"]
    template, type_name = root
    selection = data.draw(selections(type_name))
    field = template.format(tab=tab, first=first, sel=selection)
    declared = {"$id": "$id: ID!", "$on": "$on: Boolean!"}
    variables = ", ".join(v for name, v in declared.items() if name in field)
    document = f"query{f'({variables})' if variables else ''} {{ {field} }}"
    body = await client(document, {"id": lead_id, "on": on})  # compared with strawberry's
    assert "errors" not in body, body
    if who != "owner" and "lead(id" in template:
        assert body["data"]["lead"] is None, "another organisation's lead does not exist"
