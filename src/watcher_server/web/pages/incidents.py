"""/ui/incidents: open and recent incidents of every kind, with their durations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from ...http import DB, ClockDep
from ...reporting.incidents import KINDS, incidents
from ..paging import PAGE_SIZE, pager
from ..templating import page

router = APIRouter(include_in_schema=False)

# Each kind is read up to the page's end and merged, so a page's cost grows with its depth: the newest
# 1,000 incidents of each filter are paged here, older ones are in the API (GET /freshness, /timeliness,
# /anomaly_detection_result with since=…).
MAX_PAGE = 20


@router.get("/ui/incidents")
async def incidents_page(
    request: Request,
    db: DB,
    clock: ClockDep,
    kind: Literal[("any", *KINDS)] = "any",  # type: ignore[valid-type]
    status: Literal["any", "open", "resolved"] = "any",
    page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
):
    now = clock.now()
    number = page_number
    rows = await incidents(
        db, now, None if kind == "any" else kind, None if status == "any" else status, (number - 1) * PAGE_SIZE, PAGE_SIZE
    )
    more = len(rows) > PAGE_SIZE
    paging = pager(request, number, PAGE_SIZE, more and number < MAX_PAGE)
    context = {
        "incidents": rows[:PAGE_SIZE],
        "kind": kind,
        "status": status,
        "pager": paging,
        "now": now,
        "beyond": more and number == MAX_PAGE,
    }
    return page(request, "incidents.html", context)
