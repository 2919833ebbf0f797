"""Queueing anomaly detection: after a successful end, and a sweep for triggers that were lost."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ..executions.tables import pipeline_execution as pe

SWEEP_WINDOW = dt.timedelta(days=1)


def queue_detection(state, execution_id: int) -> None:
    state.jobs.enqueue("detect_anomalies", execution_id=execution_id)


async def sweep(state) -> int:
    """Queue every recent successful execution of a pipeline with active rules not yet checked."""
    await state.rule_index.refresh(state.db)
    pipelines = list(state.rule_index.pipelines)
    if not pipelines:
        return 0
    since = state.clock() - SWEEP_WINDOW
    async with state.db.read() as conn:
        pending = (
            await conn.execute(
                select(pe.c.id)
                .where(pe.c.completed_successfully.is_(True), pe.c.anomaly_checked_at.is_(None))
                .where(pe.c.end_date >= since, pe.c.pipeline_id.in_(pipelines))
                .order_by(pe.c.id)
            )
        ).scalars().all()
    for execution_id in pending:
        queue_detection(state, execution_id)
    return len(pending)
