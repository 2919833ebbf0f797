"""Start, end and read executions; the execution closure is written in the start statement (trigger)."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    Integer,
    Numeric,
    and_,
    bindparam,
    case,
    cast,
    exists,
    extract,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.clock import CLOCK
from ..core.errors import Invalid, NotFound
from ..core.ids import fits_int32, fits_int64
from ..core.numbers import INT32_MAX, duration_seconds, throughput
from ..db.engine import Database
from ..db.filters import id_equals, uuid_equals
from ..db.locks import locking_rows
from ..db.paging import Page
from ..db.types import JSONDocument, UTCDateTime
from ..pipelines.service import PIPELINE_NOT_FOUND, require_pipeline
from ..pipelines.tables import pipeline
from .schemas import EndExecution, StartExecution, render_execution
from .tables import API_COLUMNS
from .tables import pipeline_execution as pe
from .tables import pipeline_execution_closure as closure

EXECUTION_NOT_FOUND = "Pipeline execution not found"
PARENT_NOT_FOUND = "Parent execution not found"

# The (counter in the request, pipeline column it advances) pairs of contract §7.2.
LAST_TARGET = (("inserts", "last_target_insert"), ("updates", "last_target_update"), ("soft_deletes", "last_target_soft_delete"))


# Hot-path statements are built once: constructing and cache-keying Core statements per request
# cost more CPU than executing them.

# A start is one INSERT that only happens when the parent (if any) exists; the closure rows are written
# by the trigger of migration 0002 in the same statement.
_START_COLUMNS = (
    "pipeline_id",
    "parent_id",
    "start_date",
    "date_recorded",
    "hour_recorded",
    "weekday_recorded",
    "watermark",
    "next_watermark",
)
_PARENT = bindparam("parent_id", type_=BigInteger)
_START = (
    insert(pe)
    .from_select(
        list(_START_COLUMNS),
        select(*[_PARENT if c == "parent_id" else bindparam(c, type_=pe.c[c].type) for c in _START_COLUMNS]).where(
            or_(_PARENT.is_(None), exists().where(pe.c.id == _PARENT))
        ),
    )
    .returning(pe.c.id)
)


def _last_target(column_name: str, counter: str):
    column = pipeline.c[column_name]
    moves = and_(
        bindparam(f"moves_{counter}", type_=Boolean), or_(column.is_(None), column < bindparam("advance_end_date", type_=UTCDateTime))
    )
    return case((moves, bindparam("advance_end_date", type_=UTCDateTime)), else_=column)


# Successful end (§7.2 step 3): watermark := next_watermark, last_target_* forward only, load_lineage off.
_ADVANCE = update(pipeline).values(
    watermark=func.coalesce(pipeline.c.next_watermark, pipeline.c.watermark),
    load_lineage=false(),
    **{column_name: _last_target(column_name, counter) for counter, column_name in LAST_TARGET},
)
_ADVANCE_PIPELINE = _ADVANCE.where(pipeline.c.id == bindparam("advance_pipeline_id"))


@functools.lru_cache(maxsize=128)
def _end_statement(columns: tuple[str, ...]):
    """UPDATE ... RETURNING for one combination of written columns (few combinations exist)."""
    return (
        update(pe)
        .where(pe.c.id == bindparam("execution_id"))
        .values({c: bindparam(c, type_=pe.c[c].type) for c in columns})
        .returning(*API_COLUMNS)
    )


# Ends that read the execution first (PostgreSQL 13, the locked path, OpenLineage's end_as_read): one
# statement (data-modifying CTE) updates the execution and advances the pipeline.
_READ_FOR_END = select(pe.c.start_date, pe.c.total_rows, pe.c.pipeline_id).where(pe.c.id == bindparam("id"))
_LOCK_FOR_END = locking_rows(_READ_FOR_END)


@functools.lru_cache(maxsize=128)
def _end_in_one_statement(columns: tuple[str, ...], advance: bool, unended: bool = False, then=None):
    """Update the execution only if total_rows is still what we read (the inputs of throughput), and
    advance the pipeline in the same statement when the end is successful. `unended`: only while the
    execution is not ended and its start and metadata are as read too. `then(ended)`: a statement fed by
    the ended row, run in the same statement; its RETURNING is what the statement returns."""
    ended = _end_statement(columns).where(pe.c.total_rows.is_not_distinct_from(bindparam("seen_total_rows", type_=BigInteger)))
    if unended:
        ended = ended.where(
            pe.c.end_date.is_(None),
            pe.c.start_date == bindparam("seen_start_date", type_=UTCDateTime),
            pe.c.execution_metadata.is_not_distinct_from(bindparam("seen_execution_metadata", type_=JSONDocument)),
        )
    ended = ended.cte("ended")
    statement = select(*ended.c)
    if then is not None:
        followed = then(ended).cte("followed")
        statement = select(*followed.c).add_cte(followed)
    if advance:
        statement = statement.add_cte(_ADVANCE_PIPELINE.where(exists(select(ended.c.id))).cte("advanced"))
    return statement


# PostgreSQL's usual end is one statement that reads nothing first: the database computes duration and
# throughput from the stored start with exact numeric arithmetic, to the same values as
# core.numbers (tests/executions/test_end_arithmetic.py holds the two to each other). Whatever it
# does not apply to (an unknown id, an end not after the start) goes the way that reads the row
# first, which also gives the errors. (total_rows is never negative: a check constraint.)
_END_DATE = bindparam("end_date", type_=UTCDateTime)
_MICROSECONDS = extract("epoch", _END_DATE - pe.c.start_date) * 1_000_000
_DURATION = func.div(_MICROSECONDS + 500_000, 1_000_000)  # whole seconds, half up (never negative here)


def _throughput(total_rows):
    """Rows per second rounded half up to 4 places, in exact integers: floor((20000 t + d) / 2d) / 10^4
    (t, d >= 0; numeric to float8 rounds correctly, as float(Decimal) does)."""
    exact = func.div(cast(total_rows, Numeric) * 20_000 + _DURATION, _DURATION * 2) * Decimal("0.0001")
    return case((_DURATION == 0, 0.0), (total_rows.is_(None), None), else_=cast(exact, Double))


@functools.lru_cache(maxsize=128)
def _unread_end_statement(recorded: tuple[str, ...], advance: bool):
    total_rows = bindparam("total_rows", type_=BigInteger) if "total_rows" in recorded else pe.c.total_rows
    values = {c: bindparam(c, type_=pe.c[c].type) for c in (*recorded, "end_date", "completed_successfully")}
    values.update(duration_seconds=cast(_DURATION, BigInteger), throughput=_throughput(total_rows))
    if advance:
        values["anomaly_checked_at"] = None
    ended = (
        update(pe)
        .where(pe.c.id == bindparam("execution_id"), pe.c.start_date < _END_DATE)
        .values(values)
        .returning(*API_COLUMNS)
        .cte("ended")
    )
    statement = select(*ended.c)
    if advance:
        statement = statement.add_cte(_ADVANCE.where(pipeline.c.id == select(ended.c.pipeline_id).scalar_subquery()).cte("advanced"))
    return statement


def _unread_end(body: EndExecution):
    """(statement, parameters) of the one-statement end."""
    recorded = body.recorded_values()
    statement = _unread_end_statement(tuple(sorted(recorded)), body.completed_successfully)
    parameters = {**recorded, "end_date": body.end_date, "completed_successfully": body.completed_successfully}
    return statement, {**parameters, **_advance_moves(body), "execution_id": body.id}


def end_as_read(body: EndExecution, current, *, then=None):
    """PostgreSQL: the end of an execution read without a lock (`current`: its start_date, total_rows,
    pipeline_id, end_date and execution_metadata), as (statement, parameters) of one autocommit statement
    that applies only while the execution is unended and as read, and returns nothing otherwise. `then`
    as for _end_in_one_statement: a module-level function, so the statement is built once."""
    return _one_statement_end(body, current, unended=True, then=then)


def _one_statement_end(body: EndExecution, current, unended: bool = False, then=None):
    """(statement, parameters) of _end_in_one_statement for this end of `current` as read."""
    values = _end_values(body, current)
    statement = _end_in_one_statement(tuple(sorted(values)), body.completed_successfully, unended, then)
    parameters = {**values, **_advance_parameters(body, current), "execution_id": body.id, "seen_total_rows": current.total_rows}
    if unended:
        parameters.update(seen_start_date=current.start_date, seen_execution_metadata=current.execution_metadata)
    return statement, parameters


def start_values(start_date: dt.datetime) -> dict[str, Any]:
    """The start and the date parts recorded with it (the hour and weekday that anomaly baselines use)."""
    return {
        "start_date": start_date,
        "date_recorded": start_date.date(),
        "hour_recorded": start_date.hour,
        "weekday_recorded": start_date.isoweekday(),
    }


async def start(db: Database, body: StartExecution) -> int:
    if not fits_int32(body.pipeline_id):
        raise NotFound(PIPELINE_NOT_FOUND)
    parent_id = body.parent_id
    if parent_id is not None and not fits_int64(parent_id):
        raise NotFound(PARENT_NOT_FOUND)
    values = {
        "pipeline_id": body.pipeline_id,
        "parent_id": parent_id,
        **start_values(body.start_date or CLOCK.now()),
        "watermark": body.watermark,
        "next_watermark": body.next_watermark,
    }
    async with db.single_statement() as conn:
        try:
            execution_id = (await conn.execute(_START, values)).scalar()
        except IntegrityError:  # the pipeline does not exist (foreign key)
            raise NotFound(PIPELINE_NOT_FOUND) from None
        if execution_id is None:  # nothing inserted: the parent does not exist
            await require_pipeline(conn, body.pipeline_id)
            raise NotFound(PARENT_NOT_FOUND)
    return execution_id


async def end(db: Database, body: EndExecution):
    if not fits_int64(body.id):
        raise NotFound(EXECUTION_NOT_FOUND)
    if db.dialect == "postgresql":
        async with db.single_statement() as conn:
            ended = await _end_at_once(conn, body)
        if ended is not None:
            return ended
        # an unknown id, an end not after the start, or (13) a concurrent end: the locking path decides
    async with db.write() as conn:
        current = (await conn.execute(_LOCK_FOR_END, {"id": body.id})).first()
        return await end_locked(conn, body, current)


async def _end_at_once(conn: AsyncConnection, body: EndExecution):
    """PostgreSQL's end without a transaction: one statement from 14 on (EXTRACT gives exact numerics),
    else a read and one statement; None when it applied to nothing."""
    if conn.dialect.server_version_info >= (14,):
        return (await conn.execute(*_unread_end(body))).first()
    current = (await conn.execute(_READ_FOR_END, {"id": body.id})).first()
    return None if current is None else (await conn.execute(*_one_statement_end(body, current))).first()


async def end_locked(conn: AsyncConnection, body: EndExecution, current):
    """End the execution `current` (its start_date, total_rows and pipeline_id, or None when it does not
    exist) whose row this transaction has locked; returns the ended execution."""
    if conn.dialect.name == "postgresql":  # one round trip: the row is locked, so total_rows is as read
        return (await conn.execute(*_one_statement_end(body, current))).one()
    values = _end_values(body, current)
    ended = (await conn.execute(_end_statement(tuple(sorted(values))), {**values, "execution_id": body.id})).one()
    if body.completed_successfully:
        await conn.execute(_ADVANCE_PIPELINE, _advance_parameters(body, current))
    return ended


def _end_values(body: EndExecution, current) -> dict[str, Any]:
    """The execution's new column values (§7.2 steps 1-2, 4); raises for unknown ids and bad dates."""
    if current is None:
        raise NotFound(EXECUTION_NOT_FOUND)
    if body.end_date <= current.start_date:
        raise Invalid("end_date must be greater than start_date")
    recorded = body.recorded_values()
    duration = duration_seconds(current.start_date, body.end_date)
    total_rows = recorded.get("total_rows", current.total_rows)
    values: dict[str, Any] = {
        **recorded,
        "end_date": body.end_date,
        "completed_successfully": body.completed_successfully,
        "duration_seconds": duration,
        "throughput": throughput(total_rows, duration),
    }
    if body.completed_successfully:
        values["anomaly_checked_at"] = None  # pending for anomaly detection (§7.2 step 4)
    return values


def _advance_parameters(body: EndExecution, current) -> dict[str, Any]:
    return {"advance_pipeline_id": current.pipeline_id, **_advance_moves(body)}


def _advance_moves(body: EndExecution) -> dict[str, Any]:
    advance = {f"moves_{counter}": (getattr(body, counter) or 0) > 0 for counter, _ in LAST_TARGET}
    # names distinct from any column: UPDATE would treat a column-named parameter as a SET value
    return {"advance_end_date": body.end_date, **advance}


_SUBTREE = (
    select(*API_COLUMNS, closure.c.depth)
    .join(closure, closure.c.child_execution_id == pe.c.id)
    .where(closure.c.parent_execution_id == bindparam("root", type_=BigInteger))
    .order_by(pe.c.id)
)
_SUBTREE_TO_DEPTH = _SUBTREE.where(closure.c.depth <= bindparam("max_depth", type_=Integer))


async def get_tree(db: Database, execution_id: int, max_depth: int | None) -> dict[str, Any]:
    """The execution with its subtree, read through the closure in one query (§7.3)."""
    if not fits_int64(execution_id):
        raise NotFound(EXECUTION_NOT_FOUND)
    statement = _SUBTREE if max_depth is None else _SUBTREE_TO_DEPTH
    max_depth = None if max_depth is None else min(max_depth, INT32_MAX)  # deeper than any tree
    async with db.single_statement(writes=False) as conn:
        rows = (await conn.execute(statement, {"root": execution_id, "max_depth": max_depth})).all()
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
    paging: Page,
    *,
    pipeline_id: int | None = None,
    parent_id: int | None = None,
    status: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    run_id: str | None = None,
    require_pipeline_id: int | None = None,
) -> list:
    statement = select(*API_COLUMNS)
    if run_id is not None:
        statement = statement.where(uuid_equals(pe.c.run_id, run_id))
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
