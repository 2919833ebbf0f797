"""Reading and clearing detection results: the result list and unflag (contract §13.3-13.4); an unflag may
end an anomaly incident (incidents.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from ..core.clock import CLOCK
from ..core.errors import NotFound
from ..core.ids import fits_int64
from ..core.rendering import render_row
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.locks import locking_rows
from ..db.paging import Page
from ..executions.tables import pipeline_execution as pe
from . import incidents
from .tables import anomaly_detection_result as result

RESULT_KEYS = (
    "pipeline_execution_id", "rule_id", "pipeline_id", "metric_field", "direction", "seasonality",
    "violation_value", "z_score", "historical_mean", "std_deviation_value", "z_threshold",
    "threshold_min_value", "threshold_max_value", "context", "detected_at",
)  # fmt: skip


def render_result(row) -> dict[str, Any]:
    return render_row(row, RESULT_KEYS)


async def list_results(db: Database, paging: Page, filters: dict[str, Any]) -> list:
    statement = select(result)
    for column in ("pipeline_id", "pipeline_execution_id", "rule_id"):
        if filters.get(column) is not None:
            statement = statement.where(id_equals(result.c[column], filters[column]))
    if filters.get("metric_field") is not None:
        statement = statement.where(result.c.metric_field == filters["metric_field"])
    if filters.get("since") is not None:
        statement = statement.where(result.c.detected_at >= filters["since"])
    descending = paging.order == "desc"
    keys = (
        (result.c.pipeline_execution_id.desc(), result.c.rule_id.desc())
        if descending
        else (result.c.pipeline_execution_id, result.c.rule_id)
    )
    statement = statement.order_by(*keys).limit(paging.limit).offset(paging.offset)
    async with db.read() as conn:
        return (await conn.execute(statement)).all()


async def unflag(db: Database, pipeline_id: int, execution_id: int, metrics: list[str]) -> None:
    missing = f"Pipeline execution {execution_id} not found"
    if not fits_int64(execution_id):
        raise NotFound(missing)
    async with db.write() as conn:
        # The row lock detection takes: an unflag never interleaves with a detection run of the same execution.
        statement = locking_rows(select(pe.c.pipeline_id, pe.c.anomaly_flags).where(pe.c.id == execution_id))
        execution = (await conn.execute(statement)).first()
        if execution is None or execution.pipeline_id != pipeline_id:
            raise NotFound(missing)
        flags = dict(execution.anomaly_flags or {})
        if not flags:
            raise NotFound(f"No anomaly flags found for execution {execution_id}")
        flagged = [m for m in dict.fromkeys(metrics) if flags.get(m) is True]
        if not flagged:
            raise NotFound(f"None of the requested metrics {list(dict.fromkeys(metrics))} are currently flagged")
        flags.update({m: False for m in flagged})
        await conn.execute(update(pe).where(pe.c.id == execution_id).values(anomaly_flags=flags))
        await conn.execute(delete(result).where(result.c.pipeline_execution_id == execution_id, result.c.metric_field.in_(flagged)))
        await incidents.unflagged(conn, pipeline_id, execution_id, flagged, CLOCK.now())
