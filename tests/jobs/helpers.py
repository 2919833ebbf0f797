"""Shared by the job tests: waiting for a condition, an API process in scale-out mode, a worker that
works off the queue, and what Procrastinate's job table holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import psycopg
from asgi_lifespan import LifespanManager

from watcher_server.app import create_app
from watcher_server.db.engine import Database, create_engine
from watcher_server.jobs.scale_out import conninfo, run_worker
from watcher_server.services import Services
from watcher_server.settings import Settings


async def eventually(predicate: Callable[[], Awaitable[bool]], seconds: float = 20.0, interval: float = 0.02) -> None:
    """Poll `predicate` until it holds; the bound only keeps a broken test from hanging."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {seconds} s")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def api_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An API process (the app with its lifespan) and a client to it. Leaving it shuts the process
    down the way a server stops: jobs it was still deferring land in the job table first."""
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://watcher.test") as http:
            yield http


async def work_off_the_queue(settings: Settings, services: Services | None = None) -> None:
    """One worker that runs what is queued, then stops (without cron schedules, whose ticks would queue
    more work). With `services`, the worker runs jobs with them (a test can tell it was the worker)."""
    if services is not None:
        await run_worker(settings, services, concurrency=2, wait=False, schedules=False)
        return
    db = Database(create_engine(settings.database_url))
    try:
        async with httpx.AsyncClient() as client:
            await run_worker(
                settings, Services(db=db, settings=settings, webhook_client=client), concurrency=2, wait=False, schedules=False
            )
    finally:
        await db.dispose()


async def job_table(settings: Settings, task: str) -> list[tuple[str, dict]]:
    """(status, args) of every run of `task` in Procrastinate's job table, oldest first."""
    async with await psycopg.AsyncConnection.connect(conninfo(settings.database_url), autocommit=True) as conn:
        rows = await (
            await conn.execute("SELECT status, args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id", (task,))
        ).fetchall()
    return [(str(status), args) for status, args in rows]
