"""`partner-leads`: run the dev stack, serve, migrate, seed, mint tokens, export the schema."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from app.config import PROJECT_ROOT, Settings, get_settings
from app.domain.roles import Role

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
log = logging.getLogger("partner_leads")

# How long a stopping worker may finish its jobs before it is killed.
WORKER_STOP_SECONDS = 15.0


def _settings(**overrides: object) -> Settings:
    settings = get_settings()
    return settings.model_copy(update=overrides) if overrides else settings


@contextmanager
def _stack(settings: Settings, *, redis: bool = True, quiet: bool = False) -> Iterator[Settings]:
    """The settings with DATABASE_URL / REDIS_URL filled in by embedded servers where unset."""
    from app.dev.stack import DevStack

    stack = DevStack(
        settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url if redis else (settings.redis_url or "unused"),
    )
    started = time.monotonic()
    stack.start()
    try:
        if stack.embedded and not quiet:
            typer.echo(
                f"embedded {' + '.join(stack.embedded)} in {settings.data_dir} "
                f"({time.monotonic() - started:.1f}s)",
                err=True,
            )
        yield settings.model_copy(
            update={
                "database_url": stack.database_url,
                "redis_url": stack.redis_url if redis else settings.redis_url,
            }
        )
    finally:
        stack.stop()


def _require_schema(settings: Settings) -> None:
    """Stop with a clear message (not a traceback) when the database is not migrated."""
    from app.db.migrate import schema_problem
    from app.db.session import create_engine

    async def check() -> str | None:
        engine = create_engine(settings, pool_size=1, max_overflow=0)
        try:
            return await schema_problem(engine)
        finally:
            await engine.dispose()

    problem = asyncio.run(check())
    if problem is not None:
        typer.echo(f"{problem} (or start everything with `make run`)", err=True)
        raise typer.Exit(1)


def _migrate(settings: Settings) -> None:
    from app.db.migrate import upgrade

    assert settings.database_url
    upgrade(settings.database_url)


@cli.command()
def migrate() -> None:
    """Apply database migrations (Alembic) up to head."""
    with _stack(_settings(), redis=False) as settings:
        _migrate(settings)
        typer.echo("migrated to head")


@cli.command()
def revision(message: str) -> None:
    """Autogenerate a migration from the models (review it before committing)."""
    from app.db.migrate import revision as make_revision

    with _stack(_settings(), redis=False) as settings:
        assert settings.database_url
        _migrate(settings)
        make_revision(settings.database_url, message)


@cli.command()
def seed(
    partners: Annotated[int, typer.Option(help="Extra partners beyond the demo three.")] = 0,
    leads: Annotated[int, typer.Option(help="Leads for the extra partners, in bulk.")] = 0,
    force: Annotated[bool, typer.Option(help="Seed the demo world even if data exists.")] = False,
) -> None:
    """Create the demo world (contoso, fabrikam, northwind); --partners/--leads for big worlds."""
    from app.dev.bulk import seed_bulk
    from app.dev.demo_world import seed_demo

    with _stack(_settings(), redis=False) as settings:
        _migrate(settings)
        created = asyncio.run(seed_demo(settings, force=force))
        typer.echo("demo world created" if created else "demo world already present")
        if partners or leads:
            asyncio.run(seed_bulk(settings, partners=max(partners, 1), leads=leads, progress=True))


@cli.command()
def token(
    partner: Annotated[str | None, typer.Option(help="Partner slug, e.g. contoso.")] = None,
    role: Annotated[Role | None, typer.Option(help="Pick the demo user with this role.")] = None,
    email: Annotated[str | None, typer.Option(help="Pick this user instead.")] = None,
    hours: Annotated[int, typer.Option(help="Lifetime of the token.")] = 12,
) -> None:
    """Print a bearer token for a demo user: a partner's (--partner, --role) or platform staff's
    (--role SELLER | MARKETER | PLATFORM_ADMIN), or any user by --email."""
    from app.dev.demo_users import find_user
    from app.services.auth import issue_token

    with _stack(_settings(), redis=False, quiet=True) as settings:
        _require_schema(settings)
        user = asyncio.run(find_user(settings, partner=partner, role=role, email=email))
    if user is None:
        typer.echo("no such user (run `partner-leads seed` first?)", err=True)
        raise typer.Exit(1)
    typer.echo(issue_token(settings, user, ttl=timedelta(hours=hours)))


@cli.command("demo-lead")
def demo_lead(
    partner: Annotated[str, typer.Option(help="Partner slug that receives it.")] = "contoso",
    contact_me: Annotated[bool, typer.Option(help="The customer asks to be contacted.")] = True,
    days_ago: Annotated[float, typer.Option(help="Pretend it arrived this long ago.")] = 0.0,
    from_seller: Annotated[
        bool, typer.Option(help="A sales-qualified lead sent by the demo seller.")
    ] = False,
) -> None:
    """Simulate a lead arriving now, with its alerts queued, to watch the workers deliver
    them. `--from-seller --days-ago 15` makes one that expires on the next sweep and tells
    the seller."""
    from app.dev.demo_lead import demo_lead as receive_demo_lead

    with _stack(_settings(), quiet=True) as settings:
        _require_schema(settings)
        lead_id = asyncio.run(
            receive_demo_lead(
                settings,
                partner,
                contact_me=contact_me,
                days_ago=days_ago,
                from_seller=from_seller,
            )
        )
    if lead_id is None:
        typer.echo(f"no partner {partner!r} (run `partner-leads seed` first?)", err=True)
        raise typer.Exit(1)
    typer.echo(str(lead_id))


@cli.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = PROJECT_ROOT
    / "schema.graphql",
) -> None:
    """Write the GraphQL schema (SDL) generated from the code."""
    from app.graphql.sdl import schema_sdl

    output.write_text(schema_sdl())
    typer.echo(f"wrote {output}")


class _StopSignals:
    """SIGINT and SIGTERM for a process that owns servers, from Ctrl-C (a terminal signals the
    whole foreground process group; the embedded servers and the worker run in sessions of
    their own, so only we hear it) or from `kill`.

    Before serving, the first signal unwinds startup as KeyboardInterrupt, so the `finally`
    blocks stop what was started. While serving, every signal goes to the server's loop: the
    first stops, later ones kill the worker rather than wait for its jobs. Once stopping, both
    signals are ignored, by us and by the commands stopping the embedded servers (pg_ctl
    inherits that): nothing interrupts their shutdown halfway, and no traceback is printed."""

    def __init__(self) -> None:
        self.received = 0
        self._forward: Callable[[int], None] | None = None

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _ignore(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    @contextmanager
    def forwarded(self, callback: Callable[[int], None]) -> Iterator[None]:
        """While serving: `callback(number of signals so far)` on the running loop."""
        loop = asyncio.get_running_loop()

        def forward(count: int) -> None:
            loop.call_soon_threadsafe(callback, count)

        self._forward = forward
        try:
            yield
        finally:
            self._forward = None
            self._ignore()

    def _handle(self, signum: int, frame: object) -> None:
        self.received += 1
        if self._forward is not None:
            self._forward(self.received)
        else:
            self._ignore()
            raise KeyboardInterrupt


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by kill -9 (Linux)."""
    with suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _supervise_worker(settings: Settings, stop: asyncio.Event, hurry: asyncio.Event) -> None:
    """Keep one worker process running beside the API: arq's worker exits when Redis goes
    away, so it is restarted (with a growing pause) until we stop. On stop it gets SIGTERM and
    WORKER_STOP_SECONDS to finish its jobs, or SIGKILL at once when hurried."""
    env = dict(os.environ)
    for key, value in (
        ("DATABASE_URL", settings.database_url),
        ("REDIS_URL", settings.redis_url),
        ("SMTP_URL", settings.smtp_url),
        ("APP_ENV", settings.app_env.value),
    ):
        if value:
            env[key] = value
    executable = str(Path(sys.executable).parent / "partner-leads")
    pause = 1.0
    while not stop.is_set():
        started = time.monotonic()
        # Its own session: a terminal's Ctrl-C reaches us, and we stop it before the servers
        # it talks to.
        process = await asyncio.create_subprocess_exec(
            executable, "worker", env=env, preexec_fn=_die_with_parent, start_new_session=True
        )
        waiter = asyncio.ensure_future(process.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            if process.returncode is None:
                process.terminate()
                hurried = asyncio.ensure_future(hurry.wait())
                await asyncio.wait(
                    {waiter, hurried},
                    timeout=WORKER_STOP_SECONDS,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                hurried.cancel()
                if process.returncode is None:
                    process.kill()
                    await waiter
            return
        stopper.cancel()
        pause = 1.0 if time.monotonic() - started > 30 else min(pause * 2, 30.0)
        log.warning("worker exited with %s; restarting in %.0fs", process.returncode, pause)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


def _serve(settings: Settings, signals: _StopSignals, *, with_worker: bool = False) -> None:
    """uvicorn in this process, stopping cleanly on Ctrl-C and SIGTERM (`signals`): uvicorn's
    own handlers re-raise the signal after its shutdown, which would skip our `finally` blocks
    and leave embedded servers running."""
    import uvicorn

    from app.main import create_app

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info",
        # Our formatter (app/observability/logs.py) writes uvicorn's lines too, and the app
        # its own access line, with the request id and the operation.
        log_config=None,
        access_log=False,
        lifespan="on",
        # The app trusts X-Forwarded-For from TRUSTED_PROXIES itself (app.main.edge_middleware).
        proxy_headers=False,
        ws_max_size=settings.max_body_bytes,
    )
    server = Server(config)

    async def main() -> None:
        stop, hurry = asyncio.Event(), asyncio.Event()

        def on_signal(count: int) -> None:
            # Later signals do not force uvicorn: that skips the app's lifespan shutdown (and
            # prints its cancellation); the requests in flight finish anyway.
            if count == 1:
                server.should_exit = True
                stop.set()
            else:
                hurry.set()

        with signals.forwarded(on_signal):
            supervisor = (
                asyncio.ensure_future(_supervise_worker(settings, stop, hurry))
                if with_worker
                else None
            )
            try:
                await server.serve()
            finally:
                stop.set()
                if supervisor is not None:
                    await supervisor

    asyncio.run(main())


@cli.command()
def worker() -> None:
    """Run an arq worker (expiry, reminders, deliveries, scores) against DATABASE_URL and
    REDIS_URL. Run as many as you like; `make run` starts one and restarts it if it exits."""
    settings = _settings()
    if not settings.jobs_database_url or not settings.redis_url:
        typer.echo(
            "set DATABASE_URL (or WORKER_DATABASE_URL) and REDIS_URL "
            "(make run passes them to its worker)",
            err=True,
        )
        raise typer.Exit(2)
    from workers.settings import build_worker

    asyncio.set_event_loop(asyncio.new_event_loop())
    build_worker(settings).run()


@cli.command()
def serve(
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="API processes on the port (0: one per CPU core; default API_WORKERS, 1).",
        ),
    ] = None,
) -> None:
    """Serve the API against DATABASE_URL / REDIS_URL (no embedded servers)."""
    from app.processes import process_count, serve_processes

    settings = _settings()
    count = process_count(settings.api_workers if workers is None else workers)
    if count > 1:
        raise typer.Exit(serve_processes(settings, count))
    signals = _StopSignals()
    signals.install()
    _serve(settings, signals)


@cli.command()
def run() -> None:
    """What `make run` does: embedded servers where no URL is set, migrate, seed an empty
    database, print a token, serve GraphQL."""
    from app.dev.demo_users import find_user
    from app.dev.demo_world import seed_demo
    from app.services.auth import issue_token

    started = time.monotonic()
    signals = _StopSignals()
    signals.install()
    sink = None
    try:
        with _stack(_settings()) as settings:
            if settings.smtp_url is None:
                from app.dev.smtp_sink import MailSink

                sink = MailSink(settings.data_dir / "mail")
                sink.start()
                settings = settings.model_copy(update={"smtp_url": sink.url})
            typer.echo(f"DATABASE_URL={settings.database_url}")
            typer.echo(f"REDIS_URL={settings.redis_url}")
            typer.echo(
                f"SMTP_URL={settings.smtp_url}"
                + (f" (mail lands in {settings.data_dir / 'mail'} as .eml)" if sink else "")
            )
            _migrate(settings)
            if asyncio.run(seed_demo(settings)):
                typer.echo("seeded the demo world (contoso, fabrikam, northwind)")
            user = asyncio.run(find_user(settings, partner="contoso", role=Role.REFERRALS_ADMIN))
            assert user is not None
            bearer = issue_token(settings, user, ttl=timedelta(hours=12))
            url = f"http://{settings.host}:{settings.port}/graphql"
            typer.echo(
                f"\nGraphQL: {url}"
                + (" (GraphiQL in a browser)" if settings.is_dev else "")
                + "\nToken for contoso's referrals admin (12 h):\n"
                f"  export TOKEN={bearer}\n"
                f'  curl -s {url} -H "Authorization: Bearer $TOKEN" '
                "-H 'Content-Type: application/json' "
                '-d \'{"query":"{ viewer { organisation { name } } }"}\'\n'
                + (
                    "The lead inbox (the reference SPA), signed in with that token:\n"
                    f"  http://{settings.host}:{settings.port}/#token={bearer}\n"
                    if settings.serve_web_ui
                    else ""
                )
                + _operating_lines(settings)
                + f"ready in {time.monotonic() - started:.1f}s; Ctrl-C stops everything\n"
            )
            sys.stdout.flush()
            _serve(settings, signals, with_worker=True)
    except KeyboardInterrupt:
        pass
    finally:
        if sink is not None:
            sink.stop()
    typer.echo("stopped", err=True)


def _operating_lines(settings: Settings) -> str:
    """Where `run`'s health and metrics answer (README, "Operating it")."""
    base = f"http://{settings.host}:{settings.port}"
    line = f"Health: {base}/readyz  Metrics: {base}/metrics"
    if settings.worker_health_listen_port:
        line += f"  Worker: http://{settings.host}:{settings.worker_health_listen_port}/metrics"
    return line + "\n"


def configure_logging() -> None:
    """Logging for every command, set up once per process: JSON lines in production (or with
    LOG_JSON), readable lines otherwise (app/observability/logs.py)."""
    from app.observability.logs import configure_logging as configure

    try:
        settings = get_settings()
    except ValueError:
        # Refused settings: the command reports why; the lines that come first are readable.
        configure(json=False, level=os.environ.get("LOG_LEVEL", "INFO"))
        return
    configure(json=settings.logs_as_json, level=settings.log_level)


def main() -> None:
    configure_logging()
    cli()


if __name__ == "__main__":
    main()
