"""What is wrong with a pipeline right now, one definition for every page:

* stale      — a freshness incident is open;
* late       — a timeliness incident is open;
* failing    — a run that ended in the last 24 h failed and no run started after it has succeeded;
* anomalous  — an anomaly was detected in the last 24 h (unflagging deletes it).

Each state is a small set read from an index (open incidents, recent failures, recent anomalies), so a
page can filter 100,000 pipelines by state or badge a page of them in one query per state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Select, exists, false, func, literal, select, true, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from ..anomalies.tables import anomaly_detection_result as anomaly
from ..executions.tables import pipeline_execution as pe
from ..monitoring.tables import freshness_pipeline_log as freshness
from ..monitoring.tables import timeliness_pipeline_execution_log as timeliness

STATES = ("stale", "late", "failing", "anomalous")
RECENT = dt.timedelta(hours=24)


def _failing(since: dt.datetime) -> Select:
    failed = pe.alias("failed")
    later = pe.alias("later")
    recovered = exists().where(
        later.c.pipeline_id == failed.c.pipeline_id,
        later.c.start_date > failed.c.start_date,
        later.c.completed_successfully == true(),
    )
    return select(failed.c.pipeline_id).where(failed.c.completed_successfully == false(), failed.c.end_date >= since, ~recovered)


def in_state(state: str, now: dt.datetime) -> Select:
    """SELECT pipeline_id of the pipelines in `state` (may repeat an id)."""
    if state == "stale":
        return select(freshness.c.pipeline_id).where(freshness.c.resolved_at.is_(None))
    if state == "late":
        return select(timeliness.c.pipeline_id).where(timeliness.c.resolved_at.is_(None))
    if state == "failing":
        return _failing(now - RECENT)
    if state == "anomalous":
        return select(anomaly.c.pipeline_id).where(anomaly.c.detected_at >= now - RECENT)
    raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")


def _labelled(now: dt.datetime, pipeline_ids: Sequence[int] | None) -> Select:
    parts = []
    for state in STATES:
        statement = in_state(state, now)
        column = statement.selected_columns[0]
        if pipeline_ids is not None:
            statement = statement.where(column.in_(list(pipeline_ids)))
        parts.append(statement.with_only_columns(column.label("pipeline_id"), literal(state).label("state")))
    return union_all(*parts).subquery()


async def states_of(conn: AsyncConnection, pipeline_ids: Sequence[int], now: dt.datetime) -> dict[int, list[str]]:
    """The problem states of these pipelines, in STATES order; a pipeline with none is absent (ok)."""
    if not pipeline_ids:
        return {}
    labelled = _labelled(now, pipeline_ids)
    rows = (await conn.execute(select(labelled.c.pipeline_id, labelled.c.state).distinct())).all()
    found: dict[int, set[str]] = {}
    for row in rows:
        found.setdefault(row.pipeline_id, set()).add(row.state)
    return {pid: [s for s in STATES if s in states] for pid, states in found.items()}


async def problem_counts(conn: AsyncConnection, now: dt.datetime) -> dict[str, int]:
    """How many pipelines are in each state right now."""
    labelled = _labelled(now, None)
    statement = select(labelled.c.state, func.count(func.distinct(labelled.c.pipeline_id))).group_by(labelled.c.state)
    counts = dict.fromkeys(STATES, 0)
    counts.update({row[0]: row[1] for row in (await conn.execute(statement)).all()})
    return counts
