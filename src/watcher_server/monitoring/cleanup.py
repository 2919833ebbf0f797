"""Log cleanup: batched deletes of old executions and resolved incidents, each batch committed (§14)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

from sqlalchemy import and_, delete, func, select

from ..anomalies.tables import anomaly_detection_result, anomaly_incident
from ..db.engine import Database
from ..db.locks import exclusive
from ..executions.tables import pipeline_execution as pe
from ..executions.tables import pipeline_execution_closure as closure
from ..openlineage.tables import openlineage_event
from .check_runs import record_check_run
from .tables import (
    freshness_pipeline_log,
    timeliness_pipeline_execution_log,
)

KEYS = (
    "total_pipeline_executions_deleted",
    "total_timeliness_pipeline_execution_logs_deleted",
    "total_anomaly_detection_results_deleted",
    "total_pipeline_execution_closure_parent_deleted",
    "total_pipeline_execution_closure_child_deleted",
    "total_freshness_pipeline_logs_deleted",
)


def cutoff_for(now: dt.datetime, retention_days: int) -> dt.datetime:
    """The UTC midnight that begins (today, UTC) minus retention_days days."""
    today = now.astimezone(dt.UTC).date()
    return dt.datetime.combine(today - dt.timedelta(days=retention_days), dt.time(), dt.UTC)


async def count_old_executions(db: Database, cutoff: dt.datetime) -> int:
    async with db.read() as conn:
        return (await conn.execute(select(func.count()).select_from(pe).where(pe.c.start_date <= cutoff))).scalar_one()


async def cleanup(
    db: Database,
    now: dt.datetime,
    retention_days: int,
    batch_size: int = 10_000,
    dry_run: bool = False,
    progress: Callable[[int], None] = lambda _deleted: None,
    pause_ratio: float = 1.0,
) -> dict[str, int]:
    """`pause_ratio`: after each batch, rest `ratio` x the batch's duration, so the pipelines writing
    meanwhile keep most of the machine (1.0 = cleanup works at most half the time)."""
    cutoff = cutoff_for(now, retention_days)
    totals = dict.fromkeys(KEYS, 0)
    if dry_run:
        return await _dry_run(db, cutoff)
    began = time.perf_counter()
    after = 0  # a cursor, not a selection: every row deleted is chosen by its start_date alone
    while True:  # executions, oldest ids first
        started = time.perf_counter()
        async with db.write() as conn:
            await exclusive(conn, "cleanup")
            ids = (
                await conn.execute(
                    select(pe.c.id).where(pe.c.start_date <= cutoff, pe.c.id > after).order_by(pe.c.id).limit(batch_size)
                )
            ).scalars().all()  # fmt: skip
            if not ids:
                break
            after = ids[-1]
            totals["total_timeliness_pipeline_execution_logs_deleted"] += await _delete(
                conn, timeliness_pipeline_execution_log, timeliness_pipeline_execution_log.c.pipeline_execution_id.in_(ids)
            )
            totals["total_anomaly_detection_results_deleted"] += await _delete(
                conn, anomaly_detection_result, anomaly_detection_result.c.pipeline_execution_id.in_(ids)
            )
            totals["total_pipeline_execution_closure_parent_deleted"] += await _delete(
                conn, closure, and_(closure.c.parent_execution_id.in_(ids), closure.c.depth >= 1)
            )
            await _delete(conn, closure, closure.c.parent_execution_id.in_(ids))  # self rows, not counted
            totals["total_pipeline_execution_closure_child_deleted"] += await _delete(conn, closure, closure.c.child_execution_id.in_(ids))
            totals["total_pipeline_executions_deleted"] += await _delete(conn, pe, pe.c.id.in_(ids))
        progress(len(ids))
        await asyncio.sleep((time.perf_counter() - started) * pause_ratio)
    # resolved incidents; open ones are never deleted
    totals["total_freshness_pipeline_logs_deleted"] = await _delete_before(
        db, freshness_pipeline_log, freshness_pipeline_log.c.resolved_at, cutoff, batch_size
    )
    # Resolved anomaly incidents and old OpenLineage events go too; the contract's response has exactly
    # six keys, so their counts are in the run's log line only.
    resolved_anomaly_incidents = await _delete_before(db, anomaly_incident, anomaly_incident.c.resolved_at, cutoff, batch_size)
    lineage_events = await _delete_before(db, openlineage_event, openlineage_event.c.received_at, cutoff, batch_size)
    seconds = time.perf_counter() - began
    outcome = {**totals, "anomaly_incidents_deleted": resolved_anomaly_incidents, "openlineage_events_deleted": lineage_events}
    await record_check_run(db, "cleanup", now + dt.timedelta(seconds=seconds), seconds, outcome)
    return totals


async def _delete_before(db: Database, table, column, cutoff: dt.datetime, batch_size: int) -> int:
    """Delete the rows whose `column` is at or before `cutoff`, in committed batches."""
    deleted = 0
    while True:
        async with db.write() as conn:
            statement = select(table.c.id).where(column <= cutoff).order_by(table.c.id).limit(batch_size)
            ids = (await conn.execute(statement)).scalars().all()
            if not ids:
                return deleted
            deleted += await _delete(conn, table, table.c.id.in_(ids))


async def _delete(conn, table, condition) -> int:
    return (await conn.execute(delete(table).where(condition))).rowcount


async def _dry_run(db: Database, cutoff: dt.datetime) -> dict[str, int]:
    """What one batch holding every old execution would delete; nothing is written."""
    old = select(pe.c.id).where(pe.c.start_date <= cutoff)

    async def count(table, condition) -> int:
        return (await conn.execute(select(func.count()).select_from(table).where(condition))).scalar_one()

    async with db.read() as conn:
        return {
            "total_pipeline_executions_deleted": await count(pe, pe.c.start_date <= cutoff),
            "total_timeliness_pipeline_execution_logs_deleted": await count(
                timeliness_pipeline_execution_log, timeliness_pipeline_execution_log.c.pipeline_execution_id.in_(old)
            ),
            "total_anomaly_detection_results_deleted": await count(
                anomaly_detection_result, anomaly_detection_result.c.pipeline_execution_id.in_(old)
            ),
            "total_pipeline_execution_closure_parent_deleted": await count(
                closure, and_(closure.c.parent_execution_id.in_(old), closure.c.depth >= 1)
            ),
            "total_pipeline_execution_closure_child_deleted": await count(
                closure, and_(closure.c.child_execution_id.in_(old), closure.c.parent_execution_id.not_in(old), closure.c.depth >= 1)
            ),
            "total_freshness_pipeline_logs_deleted": await count(freshness_pipeline_log, freshness_pipeline_log.c.resolved_at <= cutoff),
        }
