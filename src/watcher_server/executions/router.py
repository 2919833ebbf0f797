"""HTTP shape of executions; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ..http import DB, JSON, DatetimeQuery, Paging, ServicesDep, api_router
from ..jobs import triggers
from . import service
from .schemas import (
    EndExecution,
    StartedExecution,
    StartExecution,
    Status,
    render_execution,
)

router = api_router(tags=["executions"])


@router.post("/start_pipeline_execution", response_model=StartedExecution, status_code=201)
async def start_pipeline_execution(body: StartExecution, db: DB):
    """Start an execution; with `parent_id` (alias `parent_execution_id`) it is nested under that parent."""
    return JSON({"id": await service.start(db, body)}, status_code=201)


@router.post("/end_pipeline_execution")
async def end_pipeline_execution(body: EndExecution, s: ServicesDep):
    """End an execution and answer with it, including `duration_seconds` and `throughput`."""
    ended = await service.end(s.db, body)
    triggers.execution_ended(s, ended.id, ended.pipeline_id, ended.completed_successfully)
    return JSON(render_execution(ended))


@router.get("/pipeline_execution/{id}")
async def get_pipeline_execution(
    id: int, db: DB, max_depth: Annotated[int | None, Query(ge=0, description="Levels of children to include.")] = None
):
    """The execution with its whole subtree in `child_executions` (direct children, recursively)."""
    return JSON(await service.get_tree(db, id, max_depth))


@router.get("/pipeline_execution")
async def list_pipeline_executions(
    db: DB,
    paging: Paging,
    pipeline_id: int | None = None,
    parent_id: int | None = None,
    status: Annotated[Status | None, Query(description="running, succeeded or failed")] = None,
    since: Annotated[DatetimeQuery, Query(description="start_date >= since")] = None,
    until: Annotated[DatetimeQuery, Query(description="start_date < until")] = None,
    run_id: Annotated[str | None, Query(description="The OpenLineage runId of an execution reported through /api/v1/lineage.")] = None,
):
    rows = await service.list_executions(
        db, paging, pipeline_id=pipeline_id, parent_id=parent_id, status=status, since=since, until=until, run_id=run_id
    )
    return JSON([render_execution(r) for r in rows])


@router.get("/pipeline/{id}/executions")
async def list_executions_of_pipeline(
    id: int,
    db: DB,
    paging: Paging,
    parent_id: int | None = None,
    status: Annotated[Status | None, Query(description="running, succeeded or failed")] = None,
    since: Annotated[DatetimeQuery, Query(description="start_date >= since")] = None,
    until: Annotated[DatetimeQuery, Query(description="start_date < until")] = None,
):
    rows = await service.list_executions(
        db, paging, pipeline_id=id, parent_id=parent_id, status=status, since=since, until=until, require_pipeline_id=id
    )
    return JSON([render_execution(r) for r in rows])
