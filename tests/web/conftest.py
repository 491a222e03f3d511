"""The reference SPA (web/) in headless Chromium, against a real server.

One uvicorn server on loopback, wired as in production (its own engine and read pools, as
partner_leads_app), over a committing database of its own; one browser for the session and a
fresh context per test. Each test gets a partner of its own (`partner`), so tests never see
each other's leads. A page that logs an error to its console, throws, or has a request fail
fails its test.

Chromium is Debian's (`make chromium` installs it); Playwright's own browsers are never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.db.urls import database_url_for
from app.dev.smtp_sink import MailSink
from app.dev.stack import DevStack, drop_database, ensure_database
from app.notify.deliver import Deps
from app.services.auth import issue_token
from tests.factories import WorldPartner, make_partner
from tests.integration.test_connector import server
from workers.outbox import relay

# Playwright's expect() waits up to this long for a condition (the default, 5 s, is tight on
# a machine running other test processes).
EXPECT_TIMEOUT_MS = 15_000
# How often `relaying` runs the relay (the worker's own poll is 0.05 s, its cron 10 s).
RELAY_POLL_SECONDS = 0.1


@dataclass
class Site:
    settings: Settings
    engine: AsyncEngine  # the owner's: test data and checks
    url: str  # http://127.0.0.1:<port>


@pytest.fixture(scope="session")
async def site(stack: DevStack, settings: Settings) -> AsyncIterator[Site]:
    assert stack.database_url
    name = f"partner_leads_web_{uuid.uuid4().hex[:8]}"
    ensure_database(stack.database_url, name)
    url = database_url_for(stack.database_url, name)
    with tempfile.TemporaryDirectory(prefix="spa-mail-") as mail:
        sink = MailSink(Path(mail))
        sink.start()
        try:
            upgrade(url)
            own = settings.model_copy(update={"database_url": url, "smtp_url": sink.url})
            engine = create_engine(own, pool_size=2, max_overflow=2)
            try:
                async with server(own) as address:
                    yield Site(own, engine, f"http://{address}")
            finally:
                await engine.dispose()
        finally:
            sink.stop()
            drop_database(stack.database_url, name)


@pytest.fixture
async def relaying(site: Site) -> AsyncIterator[None]:
    """The worker's relay job, run again and again while the test runs, as the worker's
    after-commit jobs and its cron run it: committed lead events reach the subscriptions (and
    the alerts the mail sink). Only for the test that asks: a worker for the whole session
    would also take the jobs other tests enqueue."""
    settings = site.settings
    workers = create_engine(settings, settings.jobs_database_url, pool_size=2, max_overflow=0)
    redis = aioredis.from_url(settings.redis_url or "")
    stop = asyncio.Event()
    async with httpx.AsyncClient(trust_env=False) as http:
        ctx = {
            "sessionmaker": async_sessionmaker(workers, expire_on_commit=False),
            "deps": Deps(settings=settings, http=http, redis=redis),
        }

        async def loop() -> None:
            while not stop.is_set():
                await relay(ctx)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RELAY_POLL_SECONDS)

        task = asyncio.ensure_future(loop())
        try:
            yield
        finally:
            stop.set()
            await task
            await redis.aclose()
            await workers.dispose()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: `make chromium` installs it"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Iterator[Path]:
    """SCREENSHOT_DIR when set (`make screenshots`: docs/screenshots), else a temporary one."""
    configured = os.environ.get("SCREENSHOT_DIR")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="spa-screenshots-") as tmp:
        yield Path(tmp)


@dataclass
class Partner:
    """A partner organisation of its own, with its users' tokens."""

    site: Site
    world: WorldPartner
    name: str

    def token(self, user_id: uuid.UUID) -> str:
        return issue_token(self.site.settings, user_id)

    @property
    def admin_token(self) -> str:
        return self.token(self.world.partner_admin)

    @property
    def referrals_token(self) -> str:
        return self.token(self.world.referrals_admin)

    async def as_admin(self, query: str, **variables: Any) -> dict[str, Any]:
        """A colleague's request: `query` through the API as the partner's admin; its data."""
        async with httpx.AsyncClient(base_url=self.site.url) as http:
            answer = await http.post(
                "/graphql",
                headers={"Authorization": f"Bearer {self.admin_token}"},
                json={"query": query, "variables": variables},
            )
        data: dict[str, Any] = answer.json()["data"]
        return data

    async def add(self, make: Any, **fields: Any) -> Any:
        """`make(session, organisation_id=..., **fields)` in a committed transaction."""
        async with (
            AsyncSession(self.site.engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            return await make(session, organisation_id=self.world.organisation_id, **fields)


@pytest.fixture
async def partner(site: Site) -> Partner:
    # One name for all (slugs differ): the screenshots show a plausible partner.
    name = "Tropical Cloud"
    async with AsyncSession(site.engine, expire_on_commit=False) as session, session.begin():
        world = await make_partner(session, name=name)
    return Partner(site, world, name)


@dataclass
class Problems:
    """What a page reported that a user would call broken."""

    messages: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.messages.append(f"uncaught: {err}"))
        page.on("requestfailed", self._request_failed)

    def _request_failed(self, request: Any) -> None:
        # A reload or a navigation the test makes cancels what is in flight (ERR_ABORTED):
        # the user asked for that. Refused connections, resets and timeouts count.
        if request.failure != "net::ERR_ABORTED":
            self.messages.append(
                f"request failed: {request.method} {request.url} ({request.failure})"
            )

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")


class Browsing:
    """Fresh browser contexts for one test; each page's problems fail the test."""

    def __init__(self, browser: Browser, site: Site, screenshots: Path) -> None:
        self.browser, self.site, self.screenshots = browser, site, screenshots
        self.contexts: list[BrowserContext] = []
        self.problems = Problems()

    async def page(self, *, width: int = 1280, height: int = 900, **options: Any) -> Page:
        context = await self.browser.new_context(
            viewport={"width": width, "height": height},
            base_url=self.site.url,
            locale="en-US",
            **options,
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        self.problems.watch(page)
        return page

    async def signed_in(self, token: str, *, hash: str = "", **options: Any) -> Page:
        """A page that opened the SPA through the `#token=` link `make run` prints."""
        page = await self.page(**options)
        await page.goto(f"/#token={token}")
        await page.get_by_role("button", name="Sign out").wait_for()
        if hash:
            await page.evaluate("hash => { location.hash = hash; }", hash)
        return page

    async def screenshot(self, page: Page, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=False)
        return path

    async def close(self) -> list[str]:
        problems = list(self.problems.messages)
        for context in self.contexts:
            # Closing tears down open sockets and fetches: what it reports is not counted.
            await context.close()
        return problems


@pytest.fixture
async def browsing(browser: Browser, site: Site, screenshot_dir: Path) -> AsyncIterator[Browsing]:
    from playwright.async_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    browsing = Browsing(browser, site, screenshot_dir)
    try:
        yield browsing
    finally:
        problems = await browsing.close()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)
