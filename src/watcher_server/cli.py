"""The `watcher` command line."""

from __future__ import annotations

import os
import sys

import click

from .settings import Settings, documented_settings


def _settings_help() -> str:
    lines = ["\b", "Settings (environment variables):"]
    for variable, default, description in documented_settings():
        lines.append(f"  {variable} (default {default})")
        lines.append(f"      {description}")
    return "\n".join(lines)


def _load_settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic's ValidationError lists each bad variable
        raise click.ClickException(f"invalid settings:\n{exc}") from None


@click.group(epilog=_settings_help())
@click.version_option(package_name="watcher-server", prog_name="watcher")
def main() -> None:
    """Watcher: metadata and observability server for data pipelines."""


@main.command(epilog=_settings_help())
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
def serve(host: str, port: int, workers: int, database_url: str | None, log_level: str, access_log: bool) -> None:
    """Apply migrations, then serve the API (default database: ./watcher.db)."""
    import uvicorn

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    settings = _load_settings()
    _prepare_database(settings)
    click.echo(f"watcher: serving on http://{host}:{port} (docs at /docs)", err=True)
    uvicorn.run(
        "watcher_server.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=True,
    )


def _prepare_database(settings: Settings) -> None:
    """Our migrations, plus Procrastinate's job tables in scale-out mode."""
    from .db.migrate import upgrade

    click.echo(f"watcher: applying migrations to {_redacted(settings.database_url)}", err=True)
    upgrade(settings.database_url)
    if settings.job_queue == "procrastinate":
        import asyncio

        from .jobs.scale_out import apply_queue_schema

        asyncio.run(apply_queue_schema(settings))


@main.command(epilog=_settings_help())
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Jobs run at once by this worker.")
@click.option("--database-url", envvar="WATCHER_DATABASE_URL", default=None, help="Overrides WATCHER_DATABASE_URL.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
def worker(concurrency: int, database_url: str | None, log_level: str) -> None:
    """Run background jobs in scale-out mode (PostgreSQL): checks on their cron schedules, anomaly
    detection, alert delivery. Start any number; each tick runs once across all of them.

    Every `watcher serve` of the deployment needs WATCHER_JOB_QUEUE=procrastinate (workers assume
    it). SIGTERM or Ctrl-C stops taking jobs and lets running ones finish."""
    import asyncio
    import logging

    import httpx

    from .db.engine import Database, create_engine
    from .jobs.registry import Services
    from .jobs.scale_out import run_worker

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    os.environ.setdefault("WATCHER_JOB_QUEUE", "procrastinate")
    settings = _load_settings()
    if settings.job_queue != "procrastinate":
        raise click.ClickException("`watcher worker` needs WATCHER_JOB_QUEUE=procrastinate (and a PostgreSQL database)")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level != "debug":  # one line per job run (a delivery sweep every 5 s) and migration chatter: debug only
        for chatty in ("procrastinate.worker", "procrastinate.periodic", "alembic"):
            logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    _prepare_database(settings)

    async def run() -> None:
        db = Database(create_engine(settings.database_url, pool_size=concurrency + 2, max_overflow=2))
        try:
            async with httpx.AsyncClient() as client:
                await run_worker(settings, Services(db=db, settings=settings, webhook_client=client), concurrency)
        finally:
            await db.dispose()

    click.echo(f"watcher: worker on {_redacted(settings.database_url)}, {concurrency} jobs at once", err=True)
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
    run_upgrade(settings.database_url, revision)
    click.echo(f"database at {_redacted(settings.database_url)} is at revision {revision}")


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

    from .core.datetimes import utcnow
    from .db.engine import Database, create_engine
    from .monitoring.cleanup import cleanup as run_cleanup
    from .monitoring.cleanup import count_old_executions, cutoff_for

    if database_url:
        os.environ["WATCHER_DATABASE_URL"] = database_url
    settings = _load_settings()

    async def run() -> dict[str, int]:
        db = Database(create_engine(settings.database_url, pool_size=2, max_overflow=0))
        try:
            now = utcnow()
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


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
