"""The pipelines list (/ui/pipelines: search, filters, sort, pages) and one pipeline's page
(/ui/pipelines/{id}: configuration, runs, charts, lineage, incidents, anomaly rules)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request

from ...core.errors import NotFound, Unprocessable
from ...http import DB, ClockDep, NameContains
from ...reporting.health import STATES
from ...reporting.pipelines import SORTS, PipelineDetail, PipelineFilter, pipeline_detail, pipeline_list
from ..paging import PAGE_SIZE, pager
from ..run_chart import DEFAULT_Z, RunValue, run_chart
from ..templating import page

router = APIRouter(include_in_schema=False)

MAX_PAGE = 1_000_000
ACTIVE_CHOICES = {"any": None, "yes": True, "no": False}
SORT_LABELS = {"name": "name A→Z", "-name": "name Z→A", "id": "oldest first", "-id": "newest first"}
CHARTED = (("duration_seconds", "Duration", "duration"), ("total_rows", "Total rows", "number"))


def _bad(name: str, value: str, expected: str) -> Unprocessable:
    return Unprocessable(("query", name), f"Query parameter '{name}' must be {expected}", input_value=value[:100])


def _page_number(name: str, value: str | None) -> int:
    if value in (None, ""):
        return 1
    if not re.fullmatch(r"[0-9]{1,7}", value) or not 1 <= int(value) <= MAX_PAGE:
        raise _bad(name, value, f"a page number from 1 to {MAX_PAGE:,}")
    return int(value)


def _choice(name: str, value: str | None, choices) -> str | None:
    """A <select>'s value; "" and "any" mean no filter."""
    if value in (None, "", "any"):
        return None
    if value not in choices:
        raise _bad(name, value, "one of " + ", ".join(choices))
    return value


def _type_id(value: str | None) -> int | None:
    if value in (None, "", "any"):
        return None
    if not re.fullmatch(r"[0-9]{1,18}", value):
        raise _bad("type", value, "a pipeline type id")
    return int(value)


@router.get("/ui/pipelines")
async def pipelines(
    request: Request,
    db: DB,
    clock: ClockDep,
    q: NameContains = None,
    type: str | None = None,
    active: str | None = None,
    state: str | None = None,
    sort: str | None = None,
):
    number = _page_number("page", request.query_params.get("page"))  # `page` is the renderer's name here
    active_choice = _choice("active", active, ("yes", "no"))
    state_choice = _choice("state", state, STATES)
    sort_choice = sort or "name"
    if sort_choice not in SORTS:
        raise _bad("sort", sort_choice, "one of " + ", ".join(SORTS))
    where = PipelineFilter(
        name_contains=q or None,
        type_id=_type_id(type),
        active=None if active_choice is None else ACTIVE_CHOICES[active_choice],
        state=state_choice,
        sort=sort_choice,
    )
    found = await pipeline_list(db, where, (number - 1) * PAGE_SIZE, PAGE_SIZE, clock.now())
    context = {
        "rows": found.rows,
        "types": found.types,
        "pager": pager(request, number, PAGE_SIZE, found.has_next),
        "filters": {
            "q": request.query_params.get("q", ""),
            "type": where.type_id,
            "active": active_choice or "any",
            "state": state_choice or "any",
            "sort": sort_choice,
        },
        "states": STATES,
        "sorts": SORT_LABELS,
        "filtered": any(v is not None for v in (where.name_contains, where.type_id, where.active, where.state)),
    }
    return page(request, "pipelines.html", context)


@router.get("/ui/pipelines/{pipeline_id}")
async def pipeline_page(pipeline_id: int, request: Request, db: DB, clock: ClockDep):
    number = _page_number("runs_page", request.query_params.get("runs_page"))
    detail = await pipeline_detail(db, pipeline_id, (number - 1) * PAGE_SIZE, PAGE_SIZE, clock.now())
    if detail is None:
        raise NotFound(f"Pipeline {pipeline_id} not found")
    context = {
        "p": detail.pipeline,
        "detail": detail,
        "charts": _charts(detail),
        "runs_pager": pager(request, number, PAGE_SIZE, detail.runs_have_next, param="runs_page"),
        "skip_inactive": request.app.state.settings.skip_inactive_pipelines,
    }
    return page(request, "pipeline.html", context)


def _charts(detail: PipelineDetail) -> list[dict]:
    """Duration and total rows over the last finished runs, each with its band's z and where z comes from."""
    charts = []
    for metric, title, kind in CHARTED:
        z = detail.z_threshold(metric)
        runs = [
            RunValue(r.id, r.start_date, getattr(r, metric), r.completed_successfully is False, metric in r.anomalies)
            for r in detail.chart_runs
        ]
        chart = run_chart(runs, z, seconds=kind == "duration")
        charts.append({
            "metric": metric, "title": title, "kind": kind, "chart": chart,
            "z_from_rule": z is not None, "z": DEFAULT_Z if z is None else z, "runs": len(runs),
        })  # fmt: skip
    return charts
