"""The embedded runner: cron ticks claimed once per database, queued jobs, sweeps, all in-process.

Truth lives in the domain tables (incidents, alert rows, periodic_run claims), so the runner only
decides *when* work runs; a lost trigger is picked up by the next tick or sweep.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import itertools
import logging
import time
from typing import Any

from sqlalchemy import update

from ..core.clock import CLOCK
from ..core.cron import next_fire, parse_cron
from ..core.errors import DomainError
from ..db.engine import Database
from ..db.upsert import insert_ignoring_conflicts
from ..services import Services
from .registry import JOBS, cron_schedules, periodic, run_batch, run_job
from .tables import periodic_run

log = logging.getLogger("watcher.jobs")

FAILURE_WINDOW_SECONDS = 24 * 3600


async def claim_tick(db: Database, job: str, scheduled_for: dt.datetime) -> bool:
    """True for exactly one process per (job, tick): the first to insert the claim row."""
    async with db.write() as conn:
        statement = insert_ignoring_conflicts(conn, periodic_run, ["job", "scheduled_for"]).values(
            job=job, scheduled_for=scheduled_for, started_at=CLOCK.now()
        )
        return (await conn.execute(statement)).rowcount == 1


# Runs of a job declared serial=False that may go on at once in one process (each holds a connection).
PARALLEL_RUNS = 4
# Queued runs of a batched job (Job.batch) handed over in one call, and the most kept waiting in memory:
# beyond that, new ones are left to the job's sweep, which finds them in the database (detection:
# the anomaly sweep), so memory stays bounded however far behind the process falls.
BATCH_SIZE = 200
BATCH_QUEUE_LIMIT = 20_000
# How long a drain lets runs gather before it takes a batch smaller than BATCH_SIZE. A batch costs a
# handful of statements however many runs it holds, and every round trip costs a socket write that
# wakes the database: under load, batches taken at once held a few ends each, and detection cost more
# round trips than the ends themselves. This much delay is a small part of detection's 5 s budget.
BATCH_GATHER_SECONDS = 0.2


def _wall_clock() -> dt.datetime:
    """Cron ticks follow real time (the asyncio sleeps between them do), even while tests stop CLOCK."""
    return dt.datetime.now(dt.UTC)


class JobRunner:
    """Runs jobs inside this process; runs of a serial job never overlap."""

    def __init__(self, services: Services):
        self.services = services
        self._locks: dict[str, asyncio.Semaphore] = {
            name: asyncio.Semaphore(1 if job.serial else PARALLEL_RUNS) for name, job in JOBS.items()
        }
        self._tasks: set[asyncio.Task] = set()  # job runs
        self._timers: set[asyncio.Task] = set()  # the loops that start them
        self.pending: dict[str, int] = collections.Counter()
        self.running: dict[str, int] = collections.Counter()
        self._failures: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._batches: dict[str, dict[tuple, dict[str, Any]]] = collections.defaultdict(dict)  # queued runs, merged
        self._draining: set[str] = set()

    def enqueue(self, name: str, **kwargs: Any) -> None:
        """Run a job soon, after any run of the same job in progress."""
        if JOBS[name].batch is not None:
            self._queue_for_batch(name, kwargs)
            return
        self.pending[name] += 1
        self._spawn(self._run_queued(name, kwargs))

    def _queue_for_batch(self, name: str, kwargs: dict[str, Any]) -> None:
        queued = self._batches[name]
        key = tuple(sorted(kwargs.items()))
        if key not in queued and len(queued) < BATCH_QUEUE_LIMIT:
            queued[key] = kwargs
            self.pending[name] += 1
        if name not in self._draining:
            self._draining.add(name)
            self._spawn(self._drain(name))

    async def _drain(self, name: str) -> None:
        """Run the queued runs of a batched job, BATCH_SIZE at a time, until none is left; what is
        queued meanwhile goes in the next batch."""
        queued = self._batches[name]
        try:
            while queued:
                if len(queued) < BATCH_SIZE:
                    await asyncio.sleep(BATCH_GATHER_SECONDS)
                keys = list(itertools.islice(queued, BATCH_SIZE))
                batch = [queued.pop(key) for key in keys]
                self.pending[name] -= len(batch)
                self.running[name] += len(batch)
                try:
                    await run_batch(self.services, name, batch)
                except Exception:  # the batch is left to the job's sweep
                    self._failures[name].append(time.monotonic())
                    log.exception("job %s failed for a batch of %d", name, len(batch))
                finally:
                    self.running[name] -= len(batch)
        finally:
            self._draining.discard(name)

    async def run_now(self, name: str, _queued: bool = False, **kwargs: Any) -> Any:
        """Run a job once no other run of it is in progress, and return its result."""
        async with self._locks[name]:
            if _queued:
                self.pending[name] -= 1
            self.running[name] += 1
            try:
                return await run_job(self.services, name, **kwargs)
            except Exception as exc:
                # a `?wait=true` request's own error (an unknown execution: 404) is the client's, not a job failure
                if _queued or not isinstance(exc, DomainError):
                    self._failures[name].append(time.monotonic())
                raise
            finally:
                self.running[name] -= 1

    async def snapshot(self) -> dict[str, dict[str, int]]:
        horizon = time.monotonic() - FAILURE_WINDOW_SECONDS
        for times in self._failures.values():
            while times and times[0] < horizon:
                times.popleft()
        names = set(self.pending) | set(self.running) | set(self._failures)
        return {
            name: {"pending": self.pending.get(name, 0), "running": self.running.get(name, 0), "failed_last_24h": len(self._failures[name])}
            for name in names
        }

    async def _run_queued(self, name: str, kwargs: dict[str, Any]) -> None:
        try:
            await self.run_now(name, _queued=True, **kwargs)
        except Exception:  # a failing job must not take the server down; the next tick or sweep retries
            log.exception("job %s failed", name)

    def start(self, deployment_jobs: bool = True) -> None:
        """Start the periodic jobs of this process: with `deployment_jobs`, the cron checks and sweeps
        (embedded mode); always, those declared to run in every process."""
        if deployment_jobs:
            for name, expression in cron_schedules(self.services.settings).items():
                self._spawn(self._tick_loop(name, expression), self._timers)
            for name, every_seconds in periodic(every_process=False).items():
                self._spawn(self._every(name, every_seconds), self._timers)
        for name, every_seconds in periodic(every_process=True).items():
            self._spawn(self._every(name, every_seconds), self._timers)

    def _spawn(self, coroutine, tasks: set[asyncio.Task] | None = None) -> None:
        tasks = self._tasks if tasks is None else tasks
        task = asyncio.get_running_loop().create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _tick_loop(self, name: str, expression: str) -> None:
        trigger = parse_cron(expression)
        while True:
            tick = next_fire(trigger, _wall_clock())
            await asyncio.sleep(max(0.0, (tick - _wall_clock()).total_seconds()))
            await self.tick(name, tick)

    async def tick(self, name: str, scheduled_for: dt.datetime) -> bool:
        """The cron tick of `name` at `scheduled_for`: run in the background by the one process that
        claims it first. Tests call it to drive a tick without waiting for the minute."""
        try:
            if await claim_tick(self.services.db, name, scheduled_for):
                self.pending[name] += 1
                self._spawn(self._run_tick(name, scheduled_for))
                return True
        except Exception:
            log.exception("could not claim tick %s of %s", scheduled_for, name)
        return False

    async def _run_tick(self, name: str, tick: dt.datetime) -> None:
        """The job, then its outcome written on the tick's claim row."""
        try:
            outcome = await self.run_now(name, _queued=True)
        except Exception:
            log.exception("job %s failed", name)
            outcome = {"status": "failed"}
        summary = {k: v for k, v in outcome.items() if isinstance(v, (str, int, float, bool))} if isinstance(outcome, dict) else None
        with contextlib.suppress(Exception):
            async with self.services.db.write() as conn:
                await conn.execute(
                    update(periodic_run)
                    .where(periodic_run.c.job == name, periodic_run.c.scheduled_for == tick)
                    .values(finished_at=CLOCK.now(), outcome=summary)
                )

    async def _every(self, name: str, every_seconds: float) -> None:
        while True:
            self.enqueue(name)
            await asyncio.sleep(every_seconds)

    async def stop(self, grace_seconds: float = 0) -> None:
        """Start nothing new, let running jobs finish for up to `grace_seconds`, then cancel the rest
        (a cancelled delivery gives its alerts back; a cancelled check's transaction rolls back)."""
        for task in list(self._timers):
            task.cancel()
        running = list(self._tasks)
        if running and grace_seconds > 0:
            await asyncio.wait(running, timeout=grace_seconds)
        for task in [*self._timers, *self._tasks]:
            task.cancel()
        for task in [*self._timers, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
