"""Every background job, once: a function of the shared services and JSON-able keyword arguments.

Both runners use this table, so a job behaves the same in `watcher serve` (embedded) and in
`watcher worker` (Procrastinate). Adding a job is one function and one line in JOBS.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from ..alerts.delivery import deliver_due
from ..alerts.service import prune_alerts
from ..core.datetimes import utcnow
from ..db.engine import Database
from ..monitoring.anomalies import detect
from ..monitoring.anomaly_jobs import sweep
from ..monitoring.check_runs import record_check_run
from ..monitoring.freshness import run_freshness
from ..monitoring.rule_index import RuleIndex
from ..monitoring.timeliness import run_timeliness
from ..settings import Settings
from .status import queue_health_check


class Queue(Protocol):
    """Where jobs are sent: the embedded runner, or Procrastinate's job table in scale-out mode."""

    def enqueue(self, name: str, **kwargs: Any) -> None: ...


@dataclass
class Services:
    """What jobs (and the HTTP layer) share in one process."""

    db: Database
    settings: Settings
    webhook_client: httpx.AsyncClient
    clock: Callable[[], dt.datetime] = utcnow
    rule_index: RuleIndex = field(default_factory=RuleIndex)
    jobs: Any = None  # the Queue (and, in `watcher serve`, the runner that also runs jobs now)


async def freshness_check(s: Services) -> dict:
    return await run_freshness(s.db, s.settings, s.clock())


async def timeliness_check(s: Services, lookback_minutes: int | None = None) -> dict:
    return await run_timeliness(s.db, s.settings, s.clock(), lookback_minutes or s.settings.timeliness_check_lookback_minutes)


async def detect_anomalies(s: Services, execution_id: int) -> dict:
    return await detect(s.db, s.settings, execution_id, s.clock())


async def deliver_alert(s: Services) -> Any:
    return await deliver_due(s.db, s.settings, s.webhook_client)


async def anomaly_sweep(s: Services) -> int:
    return await sweep(s)


async def prune_alert_history(s: Services) -> int:
    return await prune_alerts(s.db, s.settings, s.clock())


async def queue_health(s: Services) -> dict:
    return await queue_health_check(s)


async def refresh_rule_index(s: Services) -> None:
    await s.rule_index.refresh(s.db)


JOBS: dict[str, Callable[..., Awaitable[Any]]] = {
    "freshness_check": freshness_check,
    "timeliness_check": timeliness_check,
    "queue_health_check": queue_health,
    "detect_anomalies": detect_anomalies,
    "deliver_alert": deliver_alert,
    "anomaly_sweep": anomaly_sweep,
    "prune_alerts": prune_alert_history,
    "refresh_rule_index": refresh_rule_index,
}

# Sweeps and periodic maintenance that are not cron-configurable: (job, seconds between runs).
LOOPS = (("deliver_alert", 5), ("anomaly_sweep", 60), ("prune_alerts", 3600))


def cron_schedules(settings: Settings) -> dict[str, str]:
    """The cron-scheduled checks (contract §15, §16); an empty expression disables one."""
    schedules = {
        "freshness_check": settings.freshness_check_schedule,
        "timeliness_check": settings.timeliness_check_schedule,
        "queue_health_check": settings.queue_health_check_schedule,
    }
    return {name: expression for name, expression in schedules.items() if expression}


# The jobs that are checks: each run is logged with its counts and stamped in check_run (for /metrics).
CHECKS = {
    "freshness_check": "freshness",
    "timeliness_check": "timeliness",
    "queue_health_check": "queue_health",
    "anomaly_sweep": "anomaly_sweep",
    "prune_alerts": "alert_pruning",
}


async def run_job(s: Services, name: str, **kwargs: Any) -> Any:
    """Run one job; a run that created alerts sends delivery on its way at once."""
    started = time.perf_counter()
    result = await JOBS[name](s, **kwargs)
    if name in CHECKS:
        await record_check_run(s.db, CHECKS[name], s.clock(), time.perf_counter() - started, result)
    if isinstance(result, dict) and result.get("alerts_created"):
        s.jobs.enqueue("deliver_alert")
    return result
