"""Executions known by an external run id (an OpenLineage runId): found and created under a row lock, so
events of one run arriving at once, in any order, meet one execution."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, insert, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.numbers import duration_seconds, throughput
from ..db.locks import locking_rows
from ..db.upsert import dialect_insert
from .service import start_values
from .tables import pipeline_execution as pe
from .tables import pipeline_execution_closure as closure

_RUN_COLUMNS = (
    pe.c.id, pe.c.pipeline_id, pe.c.parent_id, pe.c.start_date, pe.c.end_date, pe.c.completed_successfully, pe.c.total_rows,
    pe.c.execution_metadata,
)  # fmt: skip
_READ_RUN = select(*_RUN_COLUMNS).where(pe.c.run_id == bindparam("run_id"))
_LOCK_RUN = locking_rows(_READ_RUN)
_RUN_ID = select(pe.c.id).where(pe.c.run_id == bindparam("run_id"))


async def lock_run(conn: AsyncConnection, run_id: str):
    """The run's execution, locked for this transaction, or None."""
    return (await conn.execute(_LOCK_RUN, {"run_id": run_id})).first()


async def read_run(conn: AsyncConnection, run_id: str):
    """The run's execution as lock_run reads it, without the lock, or None."""
    return (await conn.execute(_READ_RUN, {"run_id": run_id})).first()


async def run_execution_id(conn: AsyncConnection, run_id: str) -> int | None:
    """The run's execution id, without locking it (a parent's children need its id, not its row)."""
    return (await conn.execute(_RUN_ID, {"run_id": run_id})).scalar()


@dataclass(frozen=True)
class NewRun:
    """A run's execution to create, running since `start_date`."""

    run_id: str
    pipeline_id: int
    parent_id: int | None
    start_date: dt.datetime
    total_rows: int | None = None
    metadata: dict[str, Any] | None = None

    def values(self) -> dict[str, Any]:
        """The parameters of create_statement."""
        return {
            "run_id": self.run_id,
            "pipeline_id": self.pipeline_id,
            "parent_id": self.parent_id,
            "total_rows": self.total_rows,
            "execution_metadata": self.metadata,
            **start_values(self.start_date),
        }


async def create_run(conn: AsyncConnection, run: NewRun) -> int | None:
    """Create the run's execution; None when another transaction created it first. The closure rows
    under the parent are written by the insert's trigger."""
    return (await conn.execute(create_statement(conn.dialect.name), run.values())).scalar()


_CREATE_COLUMNS = (
    "run_id", "pipeline_id", "parent_id", "total_rows", "execution_metadata", "start_date", "date_recorded", "hour_recorded",
    "weekday_recorded",
)  # fmt: skip


@functools.lru_cache(maxsize=2)
def create_statement(dialect: str):
    """INSERT ... ON CONFLICT (run_id) DO NOTHING RETURNING id: the run's execution, or no row when it
    exists. Built once per backend, as the start's INSERT is (service.py)."""
    statement = dialect_insert(dialect, pe).values({c: bindparam(c, type_=pe.c[c].type) for c in _CREATE_COLUMNS})
    return statement.on_conflict_do_nothing(index_elements=["run_id"], index_where=pe.c.run_id.is_not(None)).returning(pe.c.id)


async def revise_run(conn: AsyncConnection, current, start_date: dt.datetime, total_rows: int | None, metadata: dict[str, Any]) -> bool:
    """Write a locked run's start, total_rows and metadata; an ended run's duration and throughput follow,
    and a successful one is checked for anomalies again. True when that check is due."""
    values: dict[str, Any] = {"execution_metadata": metadata, "total_rows": total_rows}
    if start_date != current.start_date:
        values.update(start_values(start_date))
    recheck = False
    if current.end_date is not None and (start_date != current.start_date or total_rows != current.total_rows):
        duration = duration_seconds(start_date, current.end_date)
        values.update(duration_seconds=duration, throughput=throughput(total_rows, duration))
        if current.completed_successfully:
            values["anomaly_checked_at"] = None
            recheck = True
    await conn.execute(update(pe).where(pe.c.id == current.id).values(**values))
    return recheck


async def adopt(conn: AsyncConnection, execution_id: int, parent_id: int) -> bool:
    """Nest a locked execution without a parent (and its subtree) under `parent_id`: every ancestor of the
    parent becomes an ancestor of every execution of the subtree. False, and nothing written, when the
    parent is inside the subtree (a cycle)."""
    inside = exists().where(closure.c.parent_execution_id == execution_id, closure.c.child_execution_id == parent_id)
    if parent_id == execution_id or (await conn.execute(select(inside))).scalar():
        return False
    above, below = closure.alias("above"), closure.alias("below")
    links = (
        select(above.c.parent_execution_id, below.c.child_execution_id, above.c.depth + below.c.depth + literal(1))
        .select_from(above.join(below, true()))
        .where(and_(above.c.child_execution_id == parent_id, below.c.parent_execution_id == execution_id))
    )
    await conn.execute(insert(closure).from_select(["parent_execution_id", "child_execution_id", "depth"], links))
    await conn.execute(update(pe).where(pe.c.id == execution_id).values(parent_id=parent_id))
    return True


async def hold_anomaly_check(conn: AsyncConnection, execution_id: int, now: dt.datetime) -> None:
    """Mark an ended run as not due for anomaly detection (its start is not known yet)."""
    await conn.execute(update(pe).where(pe.c.id == execution_id).values(anomaly_checked_at=now))
