"""HTTP shape of the checks (contract §10-11)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query, Request
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import select

from ..core.text import normalize
from ..db.filters import id_equals
from ..http import DB, JSON, OPTIONAL_OBJECT_BODY, DatetimeQuery, Paging, api_router, render_row
from ..pipelines.tables import pipeline
from .cleanup import cleanup
from .freshness import LAST_FRESHNESS_RUN
from .tables import freshness_pipeline_log, timeliness_pipeline_execution_log

router = api_router(tags=["monitoring"])

Wait = Annotated[bool, Query(description="Run now and answer with the result instead of queueing.")]
OpenOrResolved = Annotated[Literal["open", "resolved"] | None, BeforeValidator(normalize)]


def _in_state(resolved_at, status: str):
    """`open` incidents have no resolution time yet; `resolved` ones do."""
    return resolved_at.is_(None) if status == "open" else resolved_at.is_not(None)


def _state(resolved_at) -> str:
    return "open" if resolved_at is None else "resolved"


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


class TimelinessRequest(BaseModel):
    lookback_minutes: int = Field(60, ge=5, le=525_600)


@router.post("/freshness", dependencies=[OPTIONAL_OBJECT_BODY])
async def freshness(request: Request, body: Annotated[dict[str, Any] | None, Body()] = None, wait: Wait = False):
    """Run the freshness check (queued by default; `?wait=true` answers with the run result)."""
    jobs = request.app.state.jobs
    if not wait:
        jobs.enqueue("freshness_check")
        return JSON({"status": "queued"})
    return JSON(await jobs.run_now("freshness_check"))


@router.post("/timeliness", dependencies=[OPTIONAL_OBJECT_BODY])
async def timeliness(request: Request, body: Annotated[TimelinessRequest | None, Body()] = None, wait: Wait = False):
    """Run the timeliness check over the last `lookback_minutes` (default 60)."""
    jobs = request.app.state.jobs
    lookback = (body or TimelinessRequest()).lookback_minutes
    if not wait:
        jobs.enqueue("timeliness_check", lookback_minutes=lookback)
        return JSON({"status": "queued"})
    return JSON(await jobs.run_now("timeliness_check", lookback_minutes=lookback))


@router.get("/freshness")
async def freshness_incidents(
    db: DB, paging: Paging, pipeline_id: int | None = None, status: OpenOrResolved = None, since: DatetimeQuery = None
):
    incidents = freshness_pipeline_log
    statement = select(incidents, pipeline.c.name.label("pipeline_name"), LAST_FRESHNESS_RUN.label("last_run")).join(pipeline, pipeline.c.id == incidents.c.pipeline_id)
    if pipeline_id is not None:
        statement = statement.where(id_equals(incidents.c.pipeline_id, pipeline_id))
    if status is not None:
        statement = statement.where(_in_state(incidents.c.resolved_at, status))
    if since is not None:
        statement = statement.where(incidents.c.created_at >= since)
    rows = await paging.fetch(db, statement, incidents.c.id)

    def evaluated_at(r):  # every run evaluates every open incident (see check_run)
        return max(r.last_evaluated_at, r.last_run) if r.resolved_at is None and r.last_run is not None else r.last_evaluated_at

    return JSON([render_row(r, INCIDENT_KEYS, status=_state(r.resolved_at), last_evaluated_at=evaluated_at(r)) for r in rows])


@router.get("/timeliness")
async def timeliness_log(
    db: DB,
    paging: Paging,
    pipeline_id: int | None = None,
    pipeline_execution_id: int | None = None,
    execution_status: Annotated[Literal["running", "completed", "failed"] | None, BeforeValidator(normalize)] = None,
    status: OpenOrResolved = None,
    since: DatetimeQuery = None,
):
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
    rows = await paging.fetch(db, statement, entries.c.pipeline_execution_id)
    return JSON([render_row(r, TIMELINESS_KEYS, status=_state(r.resolved_at)) for r in rows])


class CleanupRequest(BaseModel):
    retention_days: int = Field(ge=90, le=36_500)
    batch_size: int = Field(10_000, ge=1, le=100_000)
    dry_run: bool = False


@router.post("/log_cleanup")
async def log_cleanup(body: CleanupRequest, request: Request):
    """Delete executions started before the retention cutoff (and their logs), in committed batches."""
    state = request.app.state
    # unpaced: a client waits for this answer; `watcher cleanup` paces its batches by default
    return JSON(await cleanup(state.db, state.clock(), body.retention_days, body.batch_size, body.dry_run, pause_ratio=0))
