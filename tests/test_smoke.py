from tests.conftest import GraphQLClient
from tests.factories import World


async def test_viewer_sees_own_organisation(gql: GraphQLClient, world: World) -> None:
    data = await gql.as_user(world.contoso.referrals_admin).data(
        "{ viewer { organisation { name slug } roles canManageLeads } }"
    )
    assert data["viewer"] == {
        "organisation": {"name": "Contoso Ltd", "slug": "contoso"},
        "roles": ["REFERRALS_ADMIN"],
        "canManageLeads": True,
    }
