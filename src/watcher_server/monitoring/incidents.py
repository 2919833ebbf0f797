"""Reading incidents: freshness incidents and the timeliness log, filtered and paged (contract §10.5, §11.4)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from sqlalchemy import select

from ..core.rendering import render_row
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.paging import Page
from ..pipelines.tables import pipeline
from .freshness import LAST_FRESHNESS_RUN
from .tables import freshness_pipeline_log, timeliness_pipeline_execution_log

IncidentState = Literal["open", "resolved"]

INCIDENT_KEYS = (
    "id", "pipeline_id", "pipeline_name", "status", "last_dml_timestamp", "deadline", "freshness_number",
    "freshness_datepart", "used_child_config", "evaluation_timestamp", "last_evaluated_at", "resolved_at",
    "resolution", "created_at",
)  # fmt: skip
TIMELINESS_KEYS = (
    "pipeline_execution_id", "pipeline_id", "pipeline_name", "execution_status", "status", "duration_seconds",
    "seconds_threshold", "timely_number", "timely_datepart", "used_child_config", "final_status", "created_at",
    "resolved_at",
)  # fmt: skip


def _in_state(resolved_at, status: IncidentState):
    """`open` incidents have no resolution time yet; `resolved` ones do."""
    return resolved_at.is_(None) if status == "open" else resolved_at.is_not(None)


def _state(resolved_at) -> IncidentState:
    return "open" if resolved_at is None else "resolved"


async def freshness_incidents(
    db: Database, page: Page, pipeline_id: int | None, status: IncidentState | None, since: dt.datetime | None
) -> list[dict[str, Any]]:
    incidents = freshness_pipeline_log
    statement = select(incidents, pipeline.c.name.label("pipeline_name"), LAST_FRESHNESS_RUN.label("last_run")).join(
        pipeline, pipeline.c.id == incidents.c.pipeline_id
    )
    if pipeline_id is not None:
        statement = statement.where(id_equals(incidents.c.pipeline_id, pipeline_id))
    if status is not None:
        statement = statement.where(_in_state(incidents.c.resolved_at, status))
    if since is not None:
        statement = statement.where(incidents.c.created_at >= since)
    rows = await page.fetch(db, statement, incidents.c.id)

    def evaluated_at(r):  # every run evaluates every open incident (see check_run)
        return max(r.last_evaluated_at, r.last_run) if r.resolved_at is None and r.last_run is not None else r.last_evaluated_at

    return [render_row(r, INCIDENT_KEYS, status=_state(r.resolved_at), last_evaluated_at=evaluated_at(r)) for r in rows]


async def timeliness_log(
    db: Database,
    page: Page,
    pipeline_id: int | None,
    pipeline_execution_id: int | None,
    execution_status: str | None,
    status: IncidentState | None,
    since: dt.datetime | None,
) -> list[dict[str, Any]]:
    entries = timeliness_pipeline_execution_log
    statement = select(entries, pipeline.c.name.label("pipeline_name")).join(pipeline, pipeline.c.id == entries.c.pipeline_id)
    if pipeline_id is not None:
        statement = statement.where(id_equals(entries.c.pipeline_id, pipeline_id))
    if pipeline_execution_id is not None:
        statement = statement.where(id_equals(entries.c.pipeline_execution_id, pipeline_execution_id))
    if execution_status is not None:
        statement = statement.where(entries.c.execution_status == execution_status)
    if status is not None:
        statement = statement.where(_in_state(entries.c.resolved_at, status))
    if since is not None:
        statement = statement.where(entries.c.created_at >= since)
    rows = await page.fetch(db, statement, entries.c.pipeline_execution_id)
    return [render_row(r, TIMELINESS_KEYS, status=_state(r.resolved_at)) for r in rows]
