"""Queue status: GET /jobs/status and the kept POST /celery/monitor-queue (contract §15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from sqlalchemy import func, select

from ..alerts.tables import alert
from ..core.datetimes import utcnow
from ..executions.tables import pipeline_execution as pe
from ..http import JSON, api_router

router = api_router(tags=["jobs"])

JOBS = ("detect_anomalies", "freshness_check", "timeliness_check", "deliver_alert")
WARNING_THRESHOLD = 50
CRITICAL_THRESHOLD = 100


async def _pending(request: Request) -> tuple[dict[str, int], float | None]:
    """Pending work: queued runs in this process plus what the domain tables say is still to do."""
    state = request.app.state
    counts = {job: state.jobs.pending.get(job, 0) for job in JOBS}
    now = utcnow()
    async with state.db.read() as conn:
        undelivered = (
            await conn.execute(
                select(func.count(), func.min(alert.c.created_at)).where(alert.c.delivery_status.in_(("pending", "retrying")))
            )
        ).one()
        pipelines = list(state.rule_index.pipelines)
        unchecked = (0, None)
        if pipelines:
            unchecked = (
                await conn.execute(
                    select(func.count(), func.min(pe.c.end_date)).where(
                        pe.c.completed_successfully.is_(True), pe.c.anomaly_checked_at.is_(None),
                        pe.c.end_date >= now - dt.timedelta(days=1), pe.c.pipeline_id.in_(pipelines),
                    )
                )
            ).one()  # fmt: skip
    counts["deliver_alert"] = max(counts["deliver_alert"], undelivered[0])
    counts["detect_anomalies"] = max(counts["detect_anomalies"], unchecked[0])
    oldest = [t for t in (undelivered[1], unchecked[1]) if t is not None]
    age = (now - min(oldest)).total_seconds() if oldest and sum(counts.values()) else None
    return counts, age


def _level(total: int, ok: str) -> str:
    return "critical" if total >= CRITICAL_THRESHOLD else "warning" if total >= WARNING_THRESHOLD else ok


@router.get("/jobs/status")
async def jobs_status(request: Request):
    counts, age = await _pending(request)
    running = request.app.state.jobs.running
    total = sum(counts.values())
    return JSON(
        {
            "status": _level(total, "ok"),
            "total_pending": total,
            "total_running": sum(running.get(job, 0) for job in JOBS),
            "oldest_pending_seconds": None if age is None else round(age, 1),
            "jobs": {job: {"pending": counts[job], "running": running.get(job, 0), "failed_last_24h": 0} for job in JOBS},
        }
    )


@router.post("/celery/monitor-queue")
async def monitor_queue(request: Request):
    """Kept for old clients: the queue summary in the reference's shape. Never sends an alert."""
    counts, _age = await _pending(request)
    total = sum(counts.values())
    raw: dict[str, Any] = {
        "detect_anomalies_task": counts["detect_anomalies"], "timeliness_check_task": counts["timeliness_check"],
        "freshness_check_task": counts["freshness_check"], "address_lineage_closure_rebuild_task": 0,
        "pipeline_execution_closure_maintain_task": 0, "scheduled_freshness_check": 0, "scheduled_timeliness_check": 0,
        "scheduled_queue_health_check": 0, "unknown": counts["deliver_alert"],
    }  # fmt: skip
    return JSON(
        {
            "status": _level(total, "success"),
            "total_pending": total,
            "regular_queue_pending": counts["detect_anomalies"] + counts["deliver_alert"],
            "scheduled_queue_pending": counts["freshness_check"] + counts["timeliness_check"],
            "beat_scheduled_tasks": 0,
            "task_breakdown_raw": raw,
            "task_breakdown": [f"{key.replace('_', ' ').title()}: {n}" for key, n in raw.items() if n],
        }
    )
