"""Scale-out mode (PostgreSQL only): jobs go through Procrastinate's job tables and run in
`watcher worker` processes; cron ticks are deferred at most once per tick across the cluster.

The job functions are the ones of registry.JOBS; only the transport differs from embedded mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import procrastinate
from sqlalchemy.engine import make_url

from ..core.clock import CLOCK
from ..db.engine import DEFAULT_POOL_IDLE_SECONDS
from ..services import Services
from ..settings import Settings
from .registry import JOBS, cron_schedules, periodic, run_job

log = logging.getLogger("watcher.jobs")

SUCCEEDED_JOB_RETENTION_HOURS = 1
FAILED_JOB_RETENTION_HOURS = 7 * 24
STALLED_SECONDS = 60  # workers beat every 10 s
SCHEMA_LOCK = 0x5741_5443_4851  # advisory lock id: one process creates the queue tables
API_QUEUE_CONNECTIONS = 2  # an API process only defers jobs and reads their counts


def worker_queue_connections(concurrency: int) -> int:
    """A worker's Procrastinate pool: fetching and finishing jobs, the heartbeat, defers."""
    return concurrency + 3


def worker_database_pool(concurrency: int) -> tuple[int, int]:
    """A worker's own (pool size, overflow): one per running job, plus sweeps and the defers' reads."""
    return concurrency + 2, 2


def worker_connections(concurrency: int) -> int:
    """The most PostgreSQL connections one `watcher worker` opens: both pools full, plus the LISTEN
    connection Procrastinate keeps outside its pool."""
    return sum(worker_database_pool(concurrency)) + worker_queue_connections(concurrency) + 1


def conninfo(database_url: str) -> str:
    """A libpq connection string for the configured (SQLAlchemy-style) PostgreSQL URL."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def every(seconds: int) -> str:
    """A Procrastinate cron expression firing every `seconds` (its 6th field is seconds)."""
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{seconds // 60} * * * *" if seconds < 3600 else f"0 */{seconds // 3600} * * *"


def build_app(settings: Settings, services: Services | None = None, schedules: bool = True, connections: int = 4) -> procrastinate.App:
    """The Procrastinate app with one task per job; with `services`, tasks can run here and (unless
    `schedules` is false) the cron schedules are registered: a worker. Without, this process only
    defers jobs: an API replica. `connections` caps its psycopg pool."""
    # max_idle: connections a burst of defers opened close again, down to min_size, like the API's own pool
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo(settings.database_url), min_size=1, max_size=connections, max_idle=DEFAULT_POOL_IDLE_SECONDS
    )
    app = procrastinate.App(connector=connector)
    # A serial job's runs never overlap (Procrastinate `lock`), and its duplicates are merged while one
    # is still waiting (`queueing_lock`): a second queued freshness check would do the same work.
    schedule = {**cron_schedules(settings), **{name: every(seconds) for name, seconds in periodic(every_process=False).items()}}
    for name, job in JOBS.items():
        serial = name if job.serial else None
        task = app.task(name=name, lock=serial, queueing_lock=serial)(_task_body(services, name))
        if services is not None and schedules and name in schedule:
            app.periodic(cron=schedule[name])(task)
    if services is not None and schedules:

        @app.periodic(cron="0 * * * *")
        @app.task(name="prune_finished_jobs", queueing_lock="prune_finished_jobs")
        async def prune_finished_jobs(timestamp: int) -> None:
            # Finished jobs are pruned (§15): successful ones after an hour (the delivery sweep alone
            # finishes 720 an hour), failed ones after a week, for /jobs/status and for debugging.
            await app.job_manager.delete_old_jobs(nb_hours=SUCCEEDED_JOB_RETENTION_HOURS)
            await app.job_manager.delete_old_jobs(
                nb_hours=FAILED_JOB_RETENTION_HOURS, include_failed=True, include_cancelled=True, include_aborted=True
            )

        @app.periodic(cron="* * * * *")
        @app.task(name="release_stalled_jobs", queueing_lock="release_stalled_jobs")
        async def release_stalled_jobs(timestamp: int) -> None:
            await release_stalled(app)

    return app


async def release_stalled(app: procrastinate.App) -> int:
    """Put back in the queue the jobs of workers that died without a word (no heartbeat for
    STALLED_SECONDS). Without this, a check whose worker was killed mid-run would hold its lock in
    `doing` and no later run of that check would ever start."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_SECONDS)
    for job in stalled:
        log.warning("job %s (%s) of a stopped worker goes back to the queue", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    return len(stalled)


def queueing_lock(name: str, kwargs: dict[str, Any]) -> str:
    """Queued runs with the same job and arguments are merged while one waits; others are not."""
    return name + (json.dumps(kwargs, sort_keys=True, separators=(",", ":")) if kwargs else "")


def _task_body(services: Services | None, name: str):
    async def body(timestamp: int | None = None, **kwargs: Any) -> None:
        # `timestamp` is the tick of a periodic run; the job itself takes "now" from the clock
        if services is None:
            raise RuntimeError("jobs run in `watcher worker`, not in an API replica")
        await run_job(services, name, **kwargs)

    body.__name__ = body.__qualname__ = name
    return body


async def apply_queue_schema(settings: Settings) -> None:
    """Create Procrastinate's tables once (under an advisory lock) if this database lacks them."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(conninfo(settings.database_url), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            found = await (await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).fetchone()
            if not found[0]:
                await conn.execute(procrastinate.schema.SchemaManager.get_schema())
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class ProcrastinateQueue:
    """The API process's side of scale-out mode: defers jobs, and runs `?wait=true` requests itself."""

    def __init__(self, app: procrastinate.App, runner):
        self.app = app
        self.runner = runner
        self._tasks: set[asyncio.Task] = set()

    def enqueue(self, name: str, **kwargs: Any) -> None:
        # Deferred in the background so a request (e.g. an execution's end) never waits for it; a lost
        # defer is picked up by the worker's sweeps, whose truth lives in the domain tables.
        task = asyncio.get_running_loop().create_task(self.defer(name, **kwargs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def defer(self, name: str, **kwargs: Any) -> None:
        try:
            await self.app.tasks[name].configure(queueing_lock=queueing_lock(name, kwargs)).defer_async(**kwargs)
        except procrastinate.exceptions.AlreadyEnqueued:
            pass  # an identical run is already waiting
        except Exception:
            log.exception("could not queue job %s", name)

    async def run_now(self, name: str, **kwargs: Any) -> Any:
        return await self.runner.run_now(name, **kwargs)

    async def snapshot(self) -> dict[str, dict[str, int]]:
        """Pending, running and recently failed jobs, as Procrastinate's tables say, for the whole cluster."""
        since = CLOCK.now() - dt.timedelta(hours=24)
        async with self.app.connector.pool.connection() as conn:
            rows = await (
                await conn.execute(
                    """
                    SELECT task_name,
                           count(*) FILTER (WHERE status = 'todo'),
                           count(*) FILTER (WHERE status = 'doing'),
                           count(*) FILTER (WHERE status = 'failed' AND EXISTS (
                               SELECT 1 FROM procrastinate_events e
                               WHERE e.job_id = j.id AND e.type = 'failed' AND e.at >= %s))
                    FROM procrastinate_jobs j
                    WHERE status IN ('todo', 'doing', 'failed')
                    GROUP BY task_name
                    """,
                    (since,),
                )
            ).fetchall()
        return {name: {"pending": todo, "running": doing, "failed_last_24h": failed} for name, todo, doing, failed in rows}

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task


@contextlib.asynccontextmanager
async def open_queue(settings: Settings, runner) -> AsyncIterator[ProcrastinateQueue]:
    app = build_app(settings, connections=API_QUEUE_CONNECTIONS)
    async with app.open_async():
        queue = ProcrastinateQueue(app, runner)
        try:
            yield queue
        finally:
            await queue.close()


async def run_worker(settings: Settings, services: Services, concurrency: int, wait: bool = True, schedules: bool = True) -> None:
    """Run jobs until SIGINT/SIGTERM (running jobs finish first), or with `wait=False` until the queue
    is empty."""
    app = build_app(settings, services, schedules, connections=worker_queue_connections(concurrency))
    services.jobs = ProcrastinateQueue(app, None)
    async with app.open_async():
        await services.rule_index.refresh(services.db)
        try:
            await app.run_worker_async(concurrency=concurrency, wait=wait, name="watcher-worker")
        finally:
            await services.jobs.close()  # defers still in flight (e.g. delivery after a check) land first
