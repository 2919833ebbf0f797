"""HTTP shape of anomaly detection (contract §13)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field

from ..core.fields import Id
from ..core.text import normalize
from ..http import DB, JSON, DatetimeQuery, Jobs, Paging, ServicesDep, api_router
from ..jobs import triggers
from ..pipelines.schemas import IdResponse
from . import incidents, rules
from .detection import require_execution
from .results import list_results, render_result, unflag
from .rules import Metric, RuleCreate, RuleUpdate, render_rule

router = api_router(tags=["anomalies"])


class DetectRequest(BaseModel):
    pipeline_execution_id: Id


class UnflagRequest(BaseModel):
    pipeline_id: Id
    pipeline_execution_id: Id
    metric_field: Annotated[list[Metric], Field(min_length=1)]


@router.post(
    "/anomaly_detection_rule",
    response_model=IdResponse,
    status_code=201,
    responses={200: {"model": IdResponse, "description": "The rule already existed (unchanged)."}},
)
async def create_rule(body: RuleCreate, s: ServicesDep):
    """Create-or-get the rule of (pipeline_id, metric_field); other fields of an existing rule are ignored."""
    rule_id, created = await rules.create_or_get(s.db, body)
    await triggers.rules_changed(s)
    return JSON({"id": rule_id}, status_code=201 if created else 200)


@router.get("/anomaly_detection_rule")
async def list_rules(
    db: DB, paging: Paging, pipeline_id: int | None = None, metric_field: Metric | None = None, active: bool | None = None
):
    return JSON([render_rule(r) for r in await rules.list_rules(db, paging, pipeline_id, metric_field, active)])


@router.get("/anomaly_detection_rule/{id}")
async def get_rule(id: int, db: DB):
    return JSON(render_rule(await rules.get_rule(db, id)))


@router.patch("/anomaly_detection_rule")
async def patch_rule(body: RuleUpdate, s: ServicesDep):
    row = await rules.patch_rule(s.db, body)
    await triggers.rules_changed(s)
    return JSON(render_rule(row))


@router.post("/detect_anomalies")
async def detect_anomalies(body: DetectRequest, jobs: Jobs, db: DB, wait: Annotated[bool, Query()] = False):
    """Run detection for one execution (backfills); `?wait=true` answers with the outcome. 404 for an
    unknown execution, also without `wait`."""
    if not wait:
        await require_execution(db, body.pipeline_execution_id)
        jobs.enqueue("detect_anomalies", execution_id=body.pipeline_execution_id)
        return JSON({"status": "queued"})
    return JSON(await jobs.run_now("detect_anomalies", execution_id=body.pipeline_execution_id))


@router.get("/anomaly_detection_result")
async def results(
    db: DB,
    paging: Paging,
    pipeline_id: int | None = None,
    pipeline_execution_id: int | None = None,
    rule_id: int | None = None,
    metric_field: Metric | None = None,
    since: DatetimeQuery = None,
):
    filters = {"pipeline_id": pipeline_id, "pipeline_execution_id": pipeline_execution_id, "rule_id": rule_id,
               "metric_field": metric_field, "since": since}  # fmt: skip
    return JSON([render_result(r) for r in await list_results(db, paging, filters)])


@router.post("/unflag_anomaly", status_code=204)
async def unflag_anomaly(body: UnflagRequest, db: DB):
    await unflag(db, body.pipeline_id, body.pipeline_execution_id, body.metric_field)
    return Response(status_code=204)


@router.get("/anomaly_incidents")
async def anomaly_incidents(
    db: DB,
    paging: Paging,
    pipeline_id: int | None = None,
    metric_field: Metric | None = None,
    status: Annotated[Literal["open", "resolved"] | None, BeforeValidator(normalize)] = None,
    since: DatetimeQuery = None,
):
    """Anomaly incidents, ordered by id: a pipeline's metric is anomalous from the execution that opened
    the incident until a later one is normal again. `since` filters on `opened_at`."""
    return JSON(await incidents.list_incidents(db, paging, pipeline_id, metric_field, status, since))
