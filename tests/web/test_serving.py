"""How the app serves the SPA: the page, its modules, and headers that allow nothing else."""

from __future__ import annotations

import httpx

from app.config import Settings
from app.http.web_ui import CONTENT_SECURITY_POLICY
from app.main import create_app
from tests.web.conftest import Site


async def test_the_page_and_its_modules_come_with_a_strict_policy(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        page = await http.get("/")
        module = await http.get("/web/js/app.js")
        missing = await http.get("/web/js/nothing.js")
        outside = await http.get("/web/../app/config.py")

    assert page.status_code == 200
    assert '<script type="module" src="/web/js/app.js">' in page.text
    assert module.status_code == 200
    assert module.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    for response in (page, module):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert missing.status_code == 404
    assert outside.status_code == 404


async def test_serve_web_ui_off_leaves_only_the_api(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"serve_web_ui": False}))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as http:
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/web/js/app.js")).status_code == 404
