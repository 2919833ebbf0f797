"""HTTP shape of the checks (contract §10-11)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Body, Query
from pydantic import BaseModel, BeforeValidator, Field

from ..core.text import normalize
from ..http import DB, JSON, OPTIONAL_OBJECT_BODY, ClockDep, DatetimeQuery, Jobs, Paging, api_router
from . import incidents
from .cleanup import cleanup

router = api_router(tags=["monitoring"])

Wait = Annotated[bool, Query(description="Run now and answer with the result instead of queueing.")]
OpenOrResolved = Annotated[Literal["open", "resolved"] | None, BeforeValidator(normalize)]


class TimelinessRequest(BaseModel):
    lookback_minutes: int = Field(60, ge=5, le=525_600)


@router.post("/freshness", dependencies=[OPTIONAL_OBJECT_BODY])
async def freshness(jobs: Jobs, body: Annotated[dict[str, Any] | None, Body()] = None, wait: Wait = False):
    """Run the freshness check (queued by default; `?wait=true` answers with the run result)."""
    if not wait:
        jobs.enqueue("freshness_check")
        return JSON({"status": "queued"})
    return JSON(await jobs.run_now("freshness_check"))


@router.post("/timeliness", dependencies=[OPTIONAL_OBJECT_BODY])
async def timeliness(jobs: Jobs, body: Annotated[TimelinessRequest | None, Body()] = None, wait: Wait = False):
    """Run the timeliness check over the last `lookback_minutes` (default 60)."""
    lookback = (body or TimelinessRequest()).lookback_minutes
    if not wait:
        jobs.enqueue("timeliness_check", lookback_minutes=lookback)
        return JSON({"status": "queued"})
    return JSON(await jobs.run_now("timeliness_check", lookback_minutes=lookback))


@router.get("/freshness")
async def freshness_incidents(
    db: DB, paging: Paging, pipeline_id: int | None = None, status: OpenOrResolved = None, since: DatetimeQuery = None
):
    return JSON(await incidents.freshness_incidents(db, paging, pipeline_id, status, since))


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
    return JSON(await incidents.timeliness_log(db, paging, pipeline_id, pipeline_execution_id, execution_status, status, since))


class CleanupRequest(BaseModel):
    retention_days: int = Field(ge=90, le=36_500)
    batch_size: int = Field(10_000, ge=1, le=100_000)
    dry_run: bool = False


@router.post("/log_cleanup")
async def log_cleanup(body: CleanupRequest, db: DB, clock: ClockDep):
    """Delete executions started before the retention cutoff (and their logs), in committed batches."""
    # unpaced: a client waits for this answer; `watcher cleanup` paces its batches by default
    return JSON(await cleanup(db, clock.now(), body.retention_days, body.batch_size, body.dry_run, pause_ratio=0))
