"""The embedded runner: cron ticks claimed once per database, queued checks, alert delivery.

Truth lives in the domain tables (incidents, alert rows, periodic_run claims), so the runner only
decides *when* work runs; a lost trigger is picked up by the next tick or sweep.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import update

from ..core.datetimes import utcnow
from ..db.engine import Database
from ..db.upsert import insert_ignoring_conflicts
from .schedule import next_fire, parse_cron
from .tables import periodic_run

log = logging.getLogger("watcher.jobs")

Job = Callable[[], Awaitable[object]]


async def claim_tick(db: Database, job: str, scheduled_for: dt.datetime) -> bool:
    """True for exactly one process per (job, tick): the first to insert the claim row."""
    async with db.write() as conn:
        statement = insert_ignoring_conflicts(conn, periodic_run, ["job", "scheduled_for"]).values(
            job=job, scheduled_for=scheduled_for, started_at=utcnow()
        )
        return (await conn.execute(statement)).rowcount == 1


class JobRunner:
    def __init__(self, db: Database, jobs: dict[str, Job]):
        self.db = db
        self.jobs = jobs
        self._locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task] = set()
        self.pending: dict[str, int] = collections.Counter()
        self.running: dict[str, int] = collections.Counter()

    def delivering(self, check: Job) -> Job:
        """The check, followed by alert delivery when it created alerts."""

        async def run():
            result = await check()
            if isinstance(result, dict) and result.get("alerts_created"):
                self.enqueue("deliver_alert")
            return result

        return run

    def enqueue(self, name: str, job: Job | None = None) -> None:
        """Run a job soon (`job` overrides its default function, e.g. with a request's parameters),
        after any run of the same job in progress: runs of one job never overlap."""
        self.pending[name] += 1
        self._spawn(self._run_queued(name, job or self.jobs[name]))

    async def run_now(self, name: str, job: Job, queued: bool = False):
        """Run `job` once no other run of `name` is in progress."""
        async with self._locks[name]:
            if queued:
                self.pending[name] -= 1
            self.running[name] += 1
            try:
                return await job()
            finally:
                self.running[name] -= 1

    async def _run_queued(self, name: str, job: Job) -> None:
        try:
            await self.run_now(name, job, queued=True)
        except Exception:  # a failing job must not take the server down; the next tick retries
            log.exception("job %s failed", name)

    def start_schedules(self, schedules: dict[str, str]) -> None:
        for name, expression in schedules.items():
            if expression:
                self._spawn(self._tick_loop(name, expression))

    def start_loop(self, name: str, every_seconds: float) -> None:
        self._spawn(self._every(name, every_seconds))

    def _spawn(self, coroutine) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self, name: str, expression: str) -> None:
        trigger = parse_cron(expression)
        while True:
            tick = next_fire(trigger, utcnow())
            await asyncio.sleep(max(0.0, (tick - utcnow()).total_seconds()))
            try:
                if await claim_tick(self.db, name, tick):
                    self.enqueue(name, self._recorded(name, tick))
            except Exception:
                log.exception("could not claim tick %s of %s", tick, name)

    def _recorded(self, name: str, tick: dt.datetime) -> Job:
        """The job, then its outcome written on the tick's claim row."""

        async def run():
            outcome = await self.jobs[name]()
            summary = {k: v for k, v in (outcome or {}).items() if isinstance(v, (str, int, float, bool))} if isinstance(outcome, dict) else None
            async with self.db.write() as conn:
                await conn.execute(
                    update(periodic_run)
                    .where(periodic_run.c.job == name, periodic_run.c.scheduled_for == tick)
                    .values(finished_at=utcnow(), outcome=summary)
                )
            return outcome

        return run

    async def _every(self, name: str, every_seconds: float) -> None:
        while True:
            self.enqueue(name)
            await asyncio.sleep(every_seconds)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
