"""Start, end and read executions; the execution closure is kept in the start transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, insert, literal, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.datetimes import utcnow
from ..core.ids import fits_int32, fits_int64
from ..core.numbers import duration_seconds, throughput
from ..db.engine import Database
from ..db.filters import id_equals
from ..errors import BadRequest, NotFound
from ..http import ListParams
from ..pipelines.service import PIPELINE_NOT_FOUND, require_pipeline
from ..pipelines.tables import pipeline
from .schemas import EndExecution, StartExecution, render_execution
from .tables import pipeline_execution as pe
from .tables import pipeline_execution_closure as closure

EXECUTION_NOT_FOUND = "Pipeline execution not found"
PARENT_NOT_FOUND = "Parent execution not found"

# Columns exposed by the API, in contract order (date_recorded & co. stay internal).
EXECUTION_COLUMNS = (
    pe.c.id, pe.c.parent_id, pe.c.pipeline_id, pe.c.start_date, pe.c.end_date, pe.c.duration_seconds,
    pe.c.completed_successfully, pe.c.inserts, pe.c.updates, pe.c.soft_deletes, pe.c.total_rows,
    pe.c.watermark, pe.c.next_watermark, pe.c.execution_metadata, pe.c.anomaly_flags, pe.c.throughput,
)  # fmt: skip

# The (counter in the request, pipeline column it advances) pairs of contract §7.2.
LAST_TARGET = (("inserts", "last_target_insert"), ("updates", "last_target_update"), ("soft_deletes", "last_target_soft_delete"))


async def start(db: Database, body: StartExecution) -> int:
    if not fits_int32(body.pipeline_id):
        raise NotFound(PIPELINE_NOT_FOUND)
    parent_id = body.parent_id
    if parent_id is not None and not fits_int64(parent_id):
        raise NotFound(PARENT_NOT_FOUND)
    start_date = body.start_date or utcnow()
    values = {
        "pipeline_id": body.pipeline_id,
        "parent_id": parent_id,
        "start_date": start_date,
        "date_recorded": start_date.date(),
        "hour_recorded": start_date.hour,
        "weekday_recorded": start_date.isoweekday(),
        "watermark": body.watermark,
        "next_watermark": body.next_watermark,
    }
    async with db.write() as conn:
        try:
            execution_id = (await conn.execute(insert(pe).values(**values).returning(pe.c.id))).scalar_one()
        except IntegrityError:
            raise NotFound(PIPELINE_NOT_FOUND) from None
        linked = await _link_into_closure(conn, execution_id, parent_id)
        if parent_id is not None and linked == 1:
            raise NotFound(PARENT_NOT_FOUND)  # the parent had no self row: it does not exist
    return execution_id


async def _link_into_closure(conn: AsyncConnection, execution_id: int, parent_id: int | None) -> int:
    """Insert (id,id,0) and (A,id,d+1) for each ancestor row (A,parent,d); return rows written."""
    self_row = select(literal(execution_id).label("p"), literal(execution_id).label("c"), literal(0).label("d"))
    if parent_id is None:
        source = self_row
    else:
        ancestors = select(
            closure.c.parent_execution_id, literal(execution_id), closure.c.depth + 1
        ).where(closure.c.child_execution_id == parent_id)
        source = union_all(self_row, ancestors)
    statement = insert(closure).from_select(["parent_execution_id", "child_execution_id", "depth"], source)
    return (await conn.execute(statement)).rowcount


async def end(db: Database, body: EndExecution):
    if not fits_int64(body.id):
        raise NotFound(EXECUTION_NOT_FOUND)
    recorded = body.recorded_values()
    async with db.write() as conn:
        current = (
            await conn.execute(
                select(pe.c.start_date, pe.c.total_rows, pe.c.pipeline_id).where(pe.c.id == body.id).with_for_update()
            )
        ).first()
        if current is None:
            raise NotFound(EXECUTION_NOT_FOUND)
        if body.end_date <= current.start_date:
            raise BadRequest("end_date must be greater than start_date")
        duration = duration_seconds(current.start_date, body.end_date)
        total_rows = recorded["total_rows"] if "total_rows" in recorded else current.total_rows
        values: dict[str, Any] = {
            **recorded,
            "end_date": body.end_date,
            "completed_successfully": body.completed_successfully,
            "duration_seconds": duration,
            "throughput": throughput(total_rows, duration),
        }
        if body.completed_successfully:
            values["anomaly_checked_at"] = None  # pending for anomaly detection (§7.2 step 4)
        ended = (await conn.execute(update(pe).where(pe.c.id == body.id).values(**values).returning(*EXECUTION_COLUMNS))).one()
        if body.completed_successfully:
            await _advance_pipeline(conn, current.pipeline_id, body)
    return ended


async def _advance_pipeline(conn: AsyncConnection, pipeline_id: int, body: EndExecution) -> None:
    """Successful end: watermark := next_watermark, last_target_* forward only, load_lineage off."""
    values: dict[str, Any] = {
        "watermark": case((pipeline.c.next_watermark.is_not(None), pipeline.c.next_watermark), else_=pipeline.c.watermark),
        "load_lineage": False,
    }
    for counter, column_name in LAST_TARGET:
        if (getattr(body, counter) or 0) > 0:
            column = pipeline.c[column_name]
            values[column_name] = case((or_(column.is_(None), column < body.end_date), body.end_date), else_=column)
    await conn.execute(update(pipeline).where(pipeline.c.id == pipeline_id).values(**values))


async def get_tree(db: Database, execution_id: int, max_depth: int | None) -> dict[str, Any]:
    """The execution with its subtree, read through the closure in one query (§7.3)."""
    if not fits_int64(execution_id):
        raise NotFound(EXECUTION_NOT_FOUND)
    statement = (
        select(*EXECUTION_COLUMNS, closure.c.depth)
        .join(closure, closure.c.child_execution_id == pe.c.id)
        .where(closure.c.parent_execution_id == execution_id)
        .order_by(pe.c.id)
    )
    if max_depth is not None:
        statement = statement.where(closure.c.depth <= max_depth)
    async with db.read() as conn:
        rows = (await conn.execute(statement)).all()
    if not rows:
        raise NotFound(EXECUTION_NOT_FOUND)
    nodes = {row.id: {**render_execution(row), "child_executions": []} for row in rows}
    root = None
    for row in rows:
        if row.depth == 0:
            root = nodes[row.id]
        elif row.parent_id in nodes:
            nodes[row.parent_id]["child_executions"].append(nodes[row.id])
    return root


async def list_executions(
    db: Database,
    paging: ListParams,
    *,
    pipeline_id: int | None = None,
    parent_id: int | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    require_pipeline_id: int | None = None,
) -> list:
    statement = select(*EXECUTION_COLUMNS)
    if pipeline_id is not None:
        statement = statement.where(id_equals(pe.c.pipeline_id, pipeline_id))
    if parent_id is not None:
        statement = statement.where(id_equals(pe.c.parent_id, parent_id))
    if status == "running":
        statement = statement.where(pe.c.completed_successfully.is_(None))
    elif status is not None:
        statement = statement.where(pe.c.completed_successfully == (status == "succeeded"))
    if since is not None:
        statement = statement.where(pe.c.start_date >= since)
    if until is not None:
        statement = statement.where(pe.c.start_date < until)
    async with db.read() as conn:
        if require_pipeline_id is not None:
            await require_pipeline(conn, require_pipeline_id)
        return (await conn.execute(paging.apply(statement, pe.c.id))).all()
