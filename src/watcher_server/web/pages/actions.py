"""What a person can do from the pages: pause/resume a pipeline, mute/unmute its checks, clear an anomaly
flag, run a check now. Each is a form POST (CSRF-checked, read-write viewers only) that calls the same
domain service as the API and leads back to the page with a notice (303, so a reload does not repeat it)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from ...anomalies.results import unflag
from ...anomalies.vocabulary import METRICS
from ...core.errors import Forbidden, Invalid
from ...http import DB, Jobs
from ...pipelines.schemas import PipelineUpdate
from ...pipelines.service import patch_pipeline
from ..forms import check_form, local_path
from ..templating import redirect, viewer_role

router = APIRouter(include_in_schema=False)


async def _acting_form(request: Request) -> dict[str, str]:
    form = await check_form(request)
    if viewer_role(request) != "write":
        raise Forbidden("Your login is read-only; log in with a read-write token to change pipelines.")
    return form


def _flag(form: dict[str, str], name: str) -> bool:
    value = form.get(name, "").lower()
    if value not in ("true", "false"):
        raise Invalid(f"Form field {name!r} must be true or false")
    return value == "true"


@router.post("/ui/pipelines/{pipeline_id}/active")
async def set_active(pipeline_id: int, request: Request, db: DB):
    active = _flag(await _acting_form(request), "active")
    await patch_pipeline(db, PipelineUpdate(id=pipeline_id, active=active))
    return redirect(f"/ui/pipelines/{pipeline_id}?done={'resumed' if active else 'paused'}")


@router.post("/ui/pipelines/{pipeline_id}/mute")
async def set_muted(pipeline_id: int, request: Request, db: DB):
    form = await _acting_form(request)
    check = form.get("check", "")
    if check not in ("freshness", "timeliness"):
        raise Invalid("Form field 'check' must be freshness or timeliness")
    muted = _flag(form, "muted")
    await patch_pipeline(db, PipelineUpdate.model_validate({"id": pipeline_id, f"mute_{check}_check": muted}))
    return redirect(f"/ui/pipelines/{pipeline_id}?done={check}-{'muted' if muted else 'unmuted'}")


@router.post("/ui/executions/{execution_id}/unflag")
async def unflag_execution(execution_id: int, request: Request, db: DB):
    form = await _acting_form(request)
    metric = form.get("metric", "")
    if metric not in METRICS:
        raise Invalid(f"Form field 'metric' must be one of {', '.join(METRICS)}")
    pipeline_id = form.get("pipeline_id", "")
    if not pipeline_id.isdigit():
        raise Invalid("Form field 'pipeline_id' must be a pipeline id")
    await unflag(db, int(pipeline_id), execution_id, [metric])
    return redirect(f"/ui/executions/{execution_id}?done=unflagged")


@router.post("/ui/checks/{check}")
async def run_check(check: Literal["freshness", "timeliness"], request: Request, jobs: Jobs):
    form = await _acting_form(request)
    if check == "freshness":
        await jobs.run_now("freshness_check")
    else:
        await jobs.run_now("timeliness_check", lookback_minutes=request.app.state.settings.timeliness_check_lookback_minutes)
    target = local_path(form.get("next"))
    separator = "&" if "?" in target else "?"
    return redirect(f"{target}{separator}done={check}-run")
