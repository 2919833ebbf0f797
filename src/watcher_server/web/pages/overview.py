"""/ui: the overview — counts, what is wrong right now, recent alerts and the last day's runs per hour."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ...http import DB, ClockDep
from ...reporting.overview import PROBLEMS_SHOWN, overview
from ..hourly_chart import hourly_chart
from ..templating import page

router = APIRouter(include_in_schema=False)


@router.get("/ui")
async def overview_page(request: Request, db: DB, clock: ClockDep):
    now = clock.now()
    data = await overview(db, now)
    chart = hourly_chart(data.hours)
    return page(request, "overview.html", {"data": data, "chart": chart, "now": now, "shown": PROBLEMS_SHOWN})
