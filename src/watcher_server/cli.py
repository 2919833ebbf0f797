"""The `watcher` command line."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator

import click

from .logs import LEVELS
from .settings import Settings, documented_settings

LogLevel = click.Choice(LEVELS)
log = logging.getLogger("watcher")


class StartupError(click.ClickException):
    """A start-up or configuration problem: one line naming the fix, exit status 2, no traceback."""

    exit_code = 2

    def format_message(self) -> str:
        return self.message


def _settings_help() -> str:
    lines = ["\b", "Settings (environment variables):"]
    for variable, default, description in documented_settings():
        lines.append(f"  {variable} (default {default})")
        lines.append(f"      {description}")
    return "\n".join(lines)


def _load_settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = "_".join(str(part) for part in error["loc"])
            variable = f"WATCHER_{field.upper()}" if field else "settings"
            reason = error["msg"].removeprefix("Value error, ")
            problems.append(f"  {variable}: {reason}")
        raise StartupError("invalid settings\n" + "\n".join(problems)) from None


@contextlib.contextmanager
def _database_errors(database_url: str) -> Iterator[None]:
    """Connection failures become one line naming the URL (password hidden) and the likely fix."""
    from .db.connect_errors import explain

    try:
        yield
    except Exception as exc:
        message = explain(exc, database_url)
        if message is None:
            raise
        raise StartupError(message) from None


def _public_url(host: str, port: int) -> str:
    """Where people reach this server when WATCHER_PUBLIC_URL is not set: the bound address, or
    this machine's name when bound to every interface."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _where(database_url: str) -> str:
    """The database for the start-up line: a SQLite file's absolute path, otherwise the URL without password."""
    from sqlalchemy.engine import make_url

    from .db.connect_errors import redacted

    url = make_url(redacted(database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return f"SQLite file {os.path.abspath(os.path.expanduser(url.database))}"
    return url.render_as_string(hide_password=True)


@click.group(epilog=_settings_help())
@click.version_option(package_name="watcher-server", prog_name="watcher")
def main() -> None:
    """Watcher: metadata and observability server for data pipelines."""


@main.command(epilog=_settings_help())
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
@click.option("--log-level", default="info", show_default=True, type=LogLevel, help="Least severe level logged.")
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True, help="One line per request (method, path, status, ms, request id)."
)
def serve(host: str, port: int, workers: int, database_url: str | None, log_level: str, access_log: bool) -> None:
    """Apply migrations, then serve the API (default database: ./watcher.db)."""
    import uvicorn

    from .logs import configure_logging

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    if not os.environ.get("WATCHER_PUBLIC_URL"):
        os.environ["WATCHER_PUBLIC_URL"] = _public_url(host, port)  # alert links; read again by each worker
    settings = _load_settings()
    log_config = configure_logging(log_level, settings.log_format, access_log)
    _prepare_database(settings)
    from .metrics import prepare_multiprocess_directory

    prepare_multiprocess_directory(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))  # before workers start: they inherit it
    log.info("serving %s on http://%s:%s (docs at /docs)", _where(settings.database_url), host, port)
    uvicorn.run(
        "watcher_server.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http="watcher_server.http_protocol:UpgradeDecliningProtocol",
        log_config=log_config,
        log_level=log_level,
        access_log=False,  # our own access line (request_observer) replaces uvicorn's
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        # Header and body timeouts, the header size limit and the connection cap are enforced by the
        # protocol class itself (each worker reads them from WATCHER_*); not uvicorn's
        # limit_concurrency, which would answer 503 on every connection once the cap is reached.
        timeout_keep_alive=settings.http_keepalive_timeout_seconds,
    )


def _prepare_database(settings: Settings) -> None:
    """Our migrations, plus Procrastinate's job tables in scale-out mode; then a warning for whatever keeps
    PostgreSQL from vacuuming the tables."""
    from .db.migrate import upgrade

    log.info("applying migrations to %s", _where(settings.database_url))
    with _database_errors(settings.database_url):
        upgrade(settings.database_url)
        if settings.job_queue == "procrastinate":
            import asyncio

            from .jobs.scale_out import apply_queue_schema

            asyncio.run(apply_queue_schema(settings))
    _warn_about_vacuum(settings)


def _warn_about_vacuum(settings: Settings) -> None:
    import asyncio

    from .db.vacuum import database_vacuum_problems

    try:
        problems = asyncio.run(database_vacuum_problems(settings.database_url, settings.db_timeouts))
    except Exception:  # a check that cannot run must not stop start-up
        log.debug("could not check the database's vacuum settings", exc_info=True)
        return
    for problem in problems:
        log.warning(problem)


@main.command(epilog=_settings_help())
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Jobs run at once by this worker.")
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
@click.option("--log-level", default="info", show_default=True, type=LogLevel, help="Least severe level logged.")
def worker(concurrency: int, database_url: str | None, log_level: str) -> None:
    """Run background jobs in scale-out mode (PostgreSQL): checks on their cron schedules, anomaly
    detection, alert delivery. Start any number; each tick runs once across all of them.

    Every `watcher serve` of the deployment needs WATCHER_JOB_QUEUE=procrastinate (workers assume
    it). SIGTERM or Ctrl-C stops taking jobs and lets running ones finish."""
    import asyncio

    from .alerts.delivery import webhook_client
    from .db.engine import open_database
    from .db.urls import backend_name
    from .jobs.scale_out import run_worker, worker_database_pool
    from .logs import configure_logging
    from .services import Services

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    configured_url = os.environ.get("WATCHER_DATABASE_URL", Settings.model_fields["database_url"].default)
    with contextlib.suppress(ValueError):  # an unusable URL is reported by _load_settings below
        if backend_name(configured_url) == "sqlite":
            raise StartupError(
                "`watcher worker` is only for PostgreSQL deployments. With SQLite there is nothing to start: "
                "`watcher serve` runs every check and alert itself. To scale out, set WATCHER_DATABASE_URL=postgresql://... "
                "and WATCHER_JOB_QUEUE=procrastinate on every `watcher serve` and `watcher worker`."
            )
    os.environ.setdefault("WATCHER_JOB_QUEUE", "procrastinate")
    settings = _load_settings()
    if settings.job_queue != "procrastinate":
        raise StartupError(
            "`watcher worker` runs scale-out mode: set WATCHER_JOB_QUEUE=procrastinate on it and on every "
            "`watcher serve` of the deployment (or unset WATCHER_JOB_QUEUE and let `watcher serve` run the jobs)"
        )
    configure_logging(log_level, settings.log_format)
    _prepare_database(settings)

    async def run() -> None:
        db = open_database(settings.database_url, *worker_database_pool(concurrency), settings.db_timeouts)
        try:
            async with webhook_client(settings) as client:
                await run_worker(settings, Services(db=db, settings=settings, webhook_client=client), concurrency)
        finally:
            await db.dispose()

    log.info("worker on %s, %s jobs at once", _where(settings.database_url), concurrency)
    with _database_errors(settings.database_url):
        asyncio.run(run())


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command(epilog=_settings_help())
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
@click.option("--revision", default="head", show_default=True, help="Target Alembic revision.")
def upgrade(database_url: str | None, revision: str) -> None:
    """Apply migrations explicitly (serve does this on start)."""
    from .db.migrate import upgrade as run_upgrade

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    settings = _load_settings()
    with _database_errors(settings.database_url):
        run_upgrade(settings.database_url, revision)
    click.echo(f"database at {_where(settings.database_url)} is at revision {revision}")


@main.command(epilog=_settings_help())
@click.option("--retention-days", required=True, type=click.IntRange(90, 36_500), help="Keep this many days (90-36500).")
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1, 100_000), help="Executions per committed batch.")
@click.option(
    "--pause-ratio", default=1.0, show_default=True, type=click.FloatRange(0, 100),
    help="Rest this many times each batch's duration before the next (1 = delete at most half the time; 0 = full speed).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
def cleanup(retention_days: int, batch_size: int, pause_ratio: float, dry_run: bool, database_url: str | None) -> None:
    """Delete executions older than the retention (and their logs) in committed batches.

    Safe while pipelines keep writing: nothing younger than the cutoff is touched."""
    import asyncio

    from .core.clock import CLOCK
    from .db.engine import Database, DbTimeouts, create_engine
    from .monitoring.cleanup import cleanup as run_cleanup
    from .monitoring.cleanup import count_old_executions, cutoff_for

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    settings = _load_settings()

    async def run() -> dict[str, int]:
        # a batch of a big cleanup may run longer than a request's statement bound
        timeouts = DbTimeouts(lock=settings.db_lock_timeout_seconds, statement=None, connect=settings.db_connect_timeout_seconds)
        db = Database(create_engine(settings.database_url, pool_size=2, max_overflow=0, timeouts=timeouts))
        try:
            now = CLOCK.now()
            cutoff = cutoff_for(now, retention_days)
            total = await count_old_executions(db, cutoff)
            click.echo(f"cutoff {cutoff:%Y-%m-%d %H:%M} UTC: {total} executions started on or before it", err=True)
            with click.progressbar(length=total, label="deleting executions", file=sys.stderr) as bar:
                return await run_cleanup(db, now, retention_days, batch_size, dry_run, progress=bar.update, pause_ratio=pause_ratio)
        finally:
            await db.dispose()

    totals = asyncio.run(run())
    width = max(len(k) for k in totals)
    for key, value in totals.items():
        click.echo(f"{key:<{width}}  {value}")
    if dry_run:
        click.echo("dry run: nothing was deleted", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
