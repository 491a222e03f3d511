from tests.factories import World
from tests.graphql_client import GraphQLClient


async def test_viewer_sees_own_organisation(gql: GraphQLClient, world: World) -> None:
    data = await gql.as_user(world.contoso.referrals_admin).data(
        "{ viewer { organisation { name slug } roles canManageLeads } }"
    )
    assert data["viewer"] == {
        "organisation": {"name": "Contoso Ltd", "slug": "contoso"},
        "roles": ["REFERRALS_ADMIN"],
        "canManageLeads": True,
    }


async def test_graphiql_is_served_in_dev_only(settings, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from app.config import AppEnv
    from app.main import create_app

    for env, expected in ((AppEnv.DEV, 200), (AppEnv.TEST, 404)):
        app = create_app(settings.model_copy(update={"app_env": env}), sessionmaker=sessionmaker)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                response = await http.get("/graphql", headers={"Accept": "text/html"})
        assert response.status_code == expected, env
        if expected == 200:
            assert "graphiql" in response.text.lower()


async def test_health_reports_the_database(gql: GraphQLClient) -> None:
    response = await gql.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
