"""/ui/executions/{id}: one run, its anomaly flags and results, and the whole tree it belongs to, drawn
as a timeline (SVG) and listed as a nested list (readable without SVG or JavaScript)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ...http import DB, ClockDep
from ...reporting.executions import execution_page
from ..templating import page
from ..timeline import Run, timeline

router = APIRouter(include_in_schema=False)


@router.get("/ui/executions/{execution_id}")
async def execution(execution_id: int, request: Request, db: DB, clock: ClockDep):
    found = await execution_page(db, execution_id)
    now = clock.now()
    runs = [Run(n.id, n.parent_id, n.pipeline_name, n.start_date, n.end_date, n.completed_successfully) for n in found.tree]
    drawn = timeline(runs, now)
    run = found.run
    return page(
        request,
        "execution.html",
        {
            "run": run,
            "found": found,
            "drawn": drawn,
            "nodes": {node.id: node for node in found.tree},
            "running_for": (now - run.start_date).total_seconds() if run.end_date is None else None,
        },
    )
