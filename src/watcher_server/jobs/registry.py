"""Every background job, declared once: what it runs, when, whether runs may overlap, whether it is a
check, whether /jobs/status lists it. Both runners (embedded: runner.py, scale-out: scale_out.py) and
the status endpoint read these declarations, so a job behaves the same everywhere.

Adding a job: write `async def my_job(s: Services, outbox: Outbox, **kwargs)` and add one `Job(...)`
line to JOBS. Nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..alerts.delivery import deliver_due
from ..alerts.service import Outbox, prune_alerts
from ..anomalies.detection import detect, detect_many, pending_detection, unknown_executions
from ..core.errors import NotFound
from ..executions.service import EXECUTION_NOT_FOUND
from ..monitoring.check_runs import record_check_run
from ..monitoring.freshness import run_freshness
from ..monitoring.timeliness import run_timeliness
from ..services import Services
from ..settings import Settings
from . import queue_health

SWEEP_WINDOW = dt.timedelta(days=1)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[..., Awaitable[Any]]  # (services, outbox, **kwargs)
    cron: Callable[[Settings], str] | None = None  # the setting holding its 5-field cron; empty disables
    every_seconds: int | None = None  # or a fixed period
    serial: bool = True  # runs never overlap, and identical queued runs are merged
    check: str | None = None  # a check: each run is logged and stamped in check_run under this name
    in_status: bool = False  # listed in GET /jobs/status
    every_process: bool = False  # periodic in every process (API replicas too), not once per deployment
    # (services, outbox, [kwargs of each queued run]): the embedded runner runs queued runs of this job
    # in batches, one call for many (scale-out and `?wait=true` still run `run`, one at a time)
    batch: Callable[..., Awaitable[Any]] | None = None


async def freshness_check(s: Services, outbox: Outbox) -> dict:
    return await run_freshness(s.db, s.settings, s.clock.now(), outbox)


async def timeliness_check(s: Services, outbox: Outbox, lookback_minutes: int | None = None) -> dict:
    lookback = lookback_minutes or s.settings.timeliness_check_lookback_minutes
    return await run_timeliness(s.db, s.settings, s.clock.now(), lookback, outbox)


async def queue_health_check(s: Services, outbox: Outbox) -> dict:
    return await queue_health.queue_health_check(s, outbox, SHOWN_IN_STATUS)


async def detect_anomalies(s: Services, outbox: Outbox, execution_id: int) -> dict:
    return await detect(s.db, s.settings, execution_id, s.clock.now(), outbox)


async def detect_queued_anomalies(s: Services, outbox: Outbox, queued: list[dict[str, Any]]) -> dict:
    ids = [kwargs["execution_id"] for kwargs in queued]
    outcomes = await detect_many(s.db, s.settings, ids, s.clock.now(), outbox, only_pending=True)
    if len(outcomes) < len(ids):
        # the rest were checked already, or do not exist: a detection queued for nothing fails (and is
        # counted), as it does in scale-out, once the batch's own work has committed
        unknown = await unknown_executions(s.db, set(ids) - {outcome["pipeline_execution_id"] for outcome in outcomes})
        if unknown:
            raise NotFound(f"{EXECUTION_NOT_FOUND}: {', '.join(map(str, unknown[:10]))}")
    return {"queued": len(ids), "checked": len(outcomes)}


async def deliver_alert(s: Services, outbox: Outbox) -> int:
    return await deliver_due(s.db, s.settings, s.webhook_client)


async def anomaly_sweep(s: Services, outbox: Outbox) -> int:
    """Queue detection for every recent successful end not yet checked (its trigger was lost)."""
    await s.rule_index.refresh(s.db)
    if not s.rule_index.pipelines:
        return 0
    async with s.db.read() as conn:
        since = s.clock.now() - SWEEP_WINDOW
        pending = (await conn.execute(pending_detection(list(s.rule_index.pipelines), since))).all()
    for execution in pending:
        s.jobs.enqueue("detect_anomalies", execution_id=execution.id)
    return len(pending)


async def prune_alert_history(s: Services, outbox: Outbox) -> int:
    return await prune_alerts(s.db, s.settings, s.clock.now())


async def refresh_rule_index(s: Services, outbox: Outbox) -> None:
    await s.rule_index.refresh(s.db)


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("freshness_check", freshness_check, cron=lambda s: s.freshness_check_schedule, check="freshness", in_status=True),
        Job("timeliness_check", timeliness_check, cron=lambda s: s.timeliness_check_schedule, check="timeliness", in_status=True),
        Job("queue_health_check", queue_health_check, cron=lambda s: s.queue_health_check_schedule, check="queue_health"),
        Job("detect_anomalies", detect_anomalies, serial=False, in_status=True, batch=detect_queued_anomalies),
        Job("deliver_alert", deliver_alert, every_seconds=5, in_status=True),
        Job("anomaly_sweep", anomaly_sweep, every_seconds=60, check="anomaly_sweep"),
        Job("prune_alerts", prune_alert_history, every_seconds=3600, check="alert_pruning"),
        Job("refresh_rule_index", refresh_rule_index, every_seconds=60, serial=False, every_process=True),
    )
}

SHOWN_IN_STATUS = tuple(name for name, job in JOBS.items() if job.in_status)


def cron_schedules(settings: Settings) -> dict[str, str]:
    """The cron-scheduled jobs (contract §15, §16) with their expressions; an empty setting disables one."""
    schedules = {name: job.cron(settings) for name, job in JOBS.items() if job.cron is not None}
    return {name: expression for name, expression in schedules.items() if expression}


def periodic(every_process: bool) -> dict[str, int]:
    """The fixed-period jobs, with their periods: once per deployment, or in every process."""
    return {name: job.every_seconds for name, job in JOBS.items() if job.every_seconds and job.every_process == every_process}


async def run_job(s: Services, name: str, **kwargs: Any) -> Any:
    """Run one job. A check is logged and stamped; alerts the run recorded are sent on their way once
    its transactions have committed."""
    return await _run(s, JOBS[name], lambda outbox: JOBS[name].run(s, outbox, **kwargs))


async def run_batch(s: Services, name: str, queued: list[dict[str, Any]]) -> Any:
    """Run queued runs of a batched job in one call (Job.batch)."""
    return await _run(s, JOBS[name], lambda outbox: JOBS[name].batch(s, outbox, queued))


async def _run(s: Services, job: Job, call: Callable[[Outbox], Awaitable[Any]]) -> Any:
    outbox = Outbox()
    started = time.perf_counter()
    result = await call(outbox)
    if job.check is not None:
        await record_check_run(s.db, job.check, s.clock.now(), time.perf_counter() - started, result)
    if outbox.recorded:
        s.jobs.enqueue("deliver_alert")
    return result
