"""HTTP shape of the queue status: GET /jobs/status and the kept POST /celery/monitor-queue (contract §15)."""

from __future__ import annotations

from typing import Any

from ..http import JSON, ServicesDep, api_router
from .queue_health import level, pending
from .registry import SHOWN_IN_STATUS

router = api_router(tags=["jobs"])


@router.get("/jobs/status")
async def jobs_status(s: ServicesDep):
    work = await pending(s, SHOWN_IN_STATUS)
    queue = work.queue
    return JSON(
        {
            "status": level(s.settings, work.total),
            "total_pending": work.total,
            "total_running": sum(queue.get(job, {}).get("running", 0) for job in SHOWN_IN_STATUS),
            "oldest_pending_seconds": None if work.oldest_seconds is None else round(work.oldest_seconds, 1),
            "jobs": {
                job: {
                    "pending": work.counts[job],
                    "running": queue.get(job, {}).get("running", 0),
                    "failed_last_24h": queue.get(job, {}).get("failed_last_24h", 0),
                }
                for job in SHOWN_IN_STATUS
            },
        }
    )


@router.post("/celery/monitor-queue")
async def monitor_queue(s: ServicesDep):
    """Kept for old clients: the queue summary in the reference's shape. Never sends an alert."""
    work = await pending(s, SHOWN_IN_STATUS)
    counts = work.counts
    raw: dict[str, Any] = {
        "detect_anomalies_task": counts["detect_anomalies"], "timeliness_check_task": counts["timeliness_check"],
        "freshness_check_task": counts["freshness_check"], "address_lineage_closure_rebuild_task": 0,
        "pipeline_execution_closure_maintain_task": 0, "scheduled_freshness_check": 0, "scheduled_timeliness_check": 0,
        "scheduled_queue_health_check": 0, "unknown": counts["deliver_alert"],
    }  # fmt: skip
    return JSON(
        {
            "status": level(s.settings, work.total, ok="success"),
            "total_pending": work.total,
            "regular_queue_pending": counts["detect_anomalies"] + counts["deliver_alert"],
            "scheduled_queue_pending": counts["freshness_check"] + counts["timeliness_check"],
            "beat_scheduled_tasks": 0,
            "task_breakdown_raw": raw,
            "task_breakdown": [f"{key.replace('_', ' ').title()}: {n}" for key, n in raw.items() if n],
        }
    )
