"""Queue status: GET /jobs/status and the kept POST /celery/monitor-queue (contract §15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from sqlalchemy import func, select

from ..alerts.service import record_alert
from ..alerts.tables import alert
from ..core.datetimes import utcnow
from ..db.locks import exclusive
from ..executions.tables import pipeline_execution as pe
from ..http import JSON, api_router

router = api_router(tags=["jobs"])

JOBS = ("detect_anomalies", "freshness_check", "timeliness_check", "deliver_alert")


async def _pending(state) -> tuple[dict[str, int], float | None, dict]:
    """Pending work: what the queue holds plus what the domain tables say is still to do."""
    queue = await state.jobs.snapshot()
    counts = {job: queue.get(job, {}).get("pending", 0) for job in JOBS}
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
    return counts, age, queue


def _level(settings, total: int, ok: str) -> str:
    if total >= settings.queue_critical_threshold:
        return "critical"
    return "warning" if total >= settings.queue_warning_threshold else ok


async def queue_health_check(state) -> dict:
    """One queue/opened alert when pending work reaches the warning threshold, one queue/recovered
    when it drops back below it; the last queue alert is the state, so restarts change nothing."""
    counts, _age, _queue = await _pending(state)
    total = sum(counts.values())
    level = _level(state.settings, total, "ok")
    by_type = ", ".join(f"{job}: {n}" for job, n in counts.items() if n) or "none"
    async with state.db.write() as conn:
        await exclusive(conn, "queue_health")
        last = (await conn.execute(select(alert.c.event).where(alert.c.kind == "queue").order_by(alert.c.id.desc()).limit(1))).scalar()
        is_open = last == "opened"
        if level != "ok" and not is_open:
            await record_alert(
                conn, state.settings, state.clock(), kind="queue", event="opened", level=level, title="Background Queue Alert",
                message=f"Queue has {total} pending jobs", details={"Total pending": total, "By type": by_type},
            )  # fmt: skip
            return {"status": level, "alerts_created": 1}
        if level == "ok" and is_open:
            await record_alert(
                conn, state.settings, state.clock(), kind="queue", event="recovered", level="success", title="Background Queue Alert",
                message=f"Queue back to {total} pending jobs", details={"Total pending": total, "By type": by_type},
            )  # fmt: skip
            return {"status": level, "alerts_created": 1}
    return {"status": level, "alerts_created": 0}


@router.get("/jobs/status")
async def jobs_status(request: Request):
    counts, age, queue = await _pending(request.app.state)
    total = sum(counts.values())
    return JSON(
        {
            "status": _level(request.app.state.settings, total, "ok"),
            "total_pending": total,
            "total_running": sum(queue.get(job, {}).get("running", 0) for job in JOBS),
            "oldest_pending_seconds": None if age is None else round(age, 1),
            "jobs": {
                job: {
                    "pending": counts[job],
                    "running": queue.get(job, {}).get("running", 0),
                    "failed_last_24h": queue.get(job, {}).get("failed_last_24h", 0),
                }
                for job in JOBS
            },
        }
    )


@router.post("/celery/monitor-queue")
async def monitor_queue(request: Request):
    """Kept for old clients: the queue summary in the reference's shape. Never sends an alert."""
    counts, _age, _queue = await _pending(request.app.state)
    total = sum(counts.values())
    raw: dict[str, Any] = {
        "detect_anomalies_task": counts["detect_anomalies"], "timeliness_check_task": counts["timeliness_check"],
        "freshness_check_task": counts["freshness_check"], "address_lineage_closure_rebuild_task": 0,
        "pipeline_execution_closure_maintain_task": 0, "scheduled_freshness_check": 0, "scheduled_timeliness_check": 0,
        "scheduled_queue_health_check": 0, "unknown": counts["deliver_alert"],
    }  # fmt: skip
    return JSON(
        {
            "status": _level(request.app.state.settings, total, "success"),
            "total_pending": total,
            "regular_queue_pending": counts["detect_anomalies"] + counts["deliver_alert"],
            "scheduled_queue_pending": counts["freshness_check"] + counts["timeliness_check"],
            "beat_scheduled_tasks": 0,
            "task_breakdown_raw": raw,
            "task_breakdown": [f"{key.replace('_', ' ').title()}: {n}" for key, n in raw.items() if n],
        }
    )
