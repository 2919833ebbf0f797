"""How much background work is pending, and the queue-health check that alerts on it (contract §15)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from ..alerts.service import Outbox, due, record_alert
from ..alerts.tables import alert
from ..anomalies.detection import pending_detection
from ..db.locks import exclusive
from ..services import Services
from ..settings import Settings


@dataclass(frozen=True)
class Pending:
    """Pending work per job: what the queue holds, or what the domain tables say is still to do."""

    counts: dict[str, int]
    oldest_seconds: float | None
    queue: dict[str, dict[str, int]]  # the queue's own view: pending, running, failed_last_24h per job

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def pending(s: Services, jobs: tuple[str, ...]) -> Pending:
    """Pending work of `jobs` (those /jobs/status lists)."""
    queue = await s.jobs.snapshot()
    counts = {job: queue.get(job, {}).get("pending", 0) for job in jobs}
    now = s.clock.now()
    async with s.db.read() as conn:
        undelivered = (
            # an alert waiting out its back-off (a receiver down for hours) is scheduled, not pending
            await conn.execute(select(func.count(), func.min(alert.c.created_at)).where(due(now)))
        ).one()
        unchecked = (0, None)
        if s.rule_index.pipelines:
            detections = pending_detection(list(s.rule_index.pipelines), now - dt.timedelta(days=1)).subquery()
            unchecked = (await conn.execute(select(func.count(), func.min(detections.c.end_date)))).one()
    counts["deliver_alert"] = max(counts["deliver_alert"], undelivered[0])
    counts["detect_anomalies"] = max(counts["detect_anomalies"], unchecked[0])
    oldest = [t for t in (undelivered[1], unchecked[1]) if t is not None]
    age = (now - min(oldest)).total_seconds() if oldest and sum(counts.values()) else None
    return Pending(counts, age, queue)


def level(settings: Settings, total: int, ok: str = "ok") -> str:
    if total >= settings.queue_critical_threshold:
        return "critical"
    return "warning" if total >= settings.queue_warning_threshold else ok


async def queue_health_check(s: Services, outbox: Outbox, jobs: tuple[str, ...]) -> dict:
    """One queue/opened alert when pending work reaches the warning threshold, one queue/recovered
    when it drops back below it; the last queue alert is the state, so restarts change nothing."""
    work = await pending(s, jobs)
    total = work.total
    status = level(s.settings, total)
    by_type = ", ".join(f"{job}: {n}" for job, n in work.counts.items() if n) or "none"
    async with s.db.write() as conn:
        await exclusive(conn, "queue_health")
        last = (await conn.execute(select(alert.c.event).where(alert.c.kind == "queue").order_by(alert.c.id.desc()).limit(1))).scalar()
        is_open = last == "opened"
        if status != "ok" and not is_open:
            await record_alert(
                conn, s.settings, s.clock.now(), outbox, kind="queue", event="opened", level=status, title="Background Queue Alert",
                message=f"Queue has {total} pending jobs", details={"Total pending": total, "By type": by_type},
            )  # fmt: skip
        elif status == "ok" and is_open:
            await record_alert(
                conn, s.settings, s.clock.now(), outbox, kind="queue", event="recovered", level="success", title="Background Queue Alert",
                message=f"Queue back to {total} pending jobs", details={"Total pending": total, "By type": by_type},
            )  # fmt: skip
    return {"status": status, "alerts_created": len(outbox.recorded)}
