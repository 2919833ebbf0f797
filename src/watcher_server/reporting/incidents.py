"""Incidents of every kind in one list: freshness incidents, timeliness log entries (late or failed runs)
and anomaly incidents (a pipeline's metric while it is anomalous, anomalies/incidents.py), open ones
first, then the newest.

Each kind and status is read by its own statement, at most offset + limit + 1 rows in this order, with
the pipeline's name joined; the page is the merge of those. Every statement follows an index:

* freshness — the primary key backwards: incidents are inserted in the order the checks open them, so
  a higher id is a later opening (created_at);
* timeliness open — the partial ix_timeliness_pipeline_execution_log_open (a handful of running runs);
  timeliness resolved — ordered by created_at, which has no index yet (a top-N sort of the log);
* anomalies — the primary key backwards, as freshness (incidents are inserted as they open)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select, select

from ..anomalies.tables import anomaly_incident as anomaly
from ..db.engine import Database
from ..monitoring.tables import freshness_pipeline_log as freshness
from ..monitoring.tables import timeliness_pipeline_execution_log as timeliness
from ..pipelines.tables import pipeline

KINDS = ("freshness", "timeliness", "anomaly")
Kind = Literal["freshness", "timeliness", "anomaly"]
Status = Literal["open", "resolved"]


@dataclass(frozen=True)
class Incident:
    kind: str
    key: tuple[int, ...]  # unique within the kind
    pipeline_id: int
    pipeline_name: str | None  # None: the pipeline row is gone
    opened: dt.datetime
    resolved: dt.datetime | None
    is_open: bool
    duration_seconds: float | None  # resolved - opened; now - opened while open
    # freshness
    deadline: dt.datetime | None = None
    last_dml: dt.datetime | None = None
    freshness_number: int | None = None
    freshness_datepart: str | None = None
    resolution: str | None = None
    # timeliness and anomaly
    execution_id: int | None = None
    execution_status: str | None = None
    run_seconds: int | None = None
    threshold_seconds: int | None = None
    timely_number: int | None = None
    timely_datepart: str | None = None
    final_status: str | None = None
    # anomaly
    metric: str | None = None
    flagged_count: int | None = None
    opened_execution_id: int | None = None


def _named(statement: Select) -> Select:
    """The limited statement with each row's pipeline name, joined after the limit: a handful of
    primary-key lookups, never a join over the whole table."""
    rows = statement.subquery()
    return select(rows, pipeline.c.name.label("pipeline_name")).outerjoin(pipeline, pipeline.c.id == rows.c.pipeline_id)


def _freshness(status: Status, rows: int) -> Select:
    f = freshness
    condition = f.c.resolved_at.is_(None) if status == "open" else f.c.resolved_at.is_not(None)
    statement = select(
        f.c.id, f.c.pipeline_id, f.c.created_at, f.c.resolved_at, f.c.deadline, f.c.last_dml_timestamp, f.c.freshness_number,
        f.c.freshness_datepart, f.c.resolution,
    )  # fmt: skip
    return _named(statement.where(condition).order_by(f.c.id.desc()).limit(rows))


def _timeliness(status: Status, rows: int) -> Select:
    t = timeliness
    condition = t.c.resolved_at.is_(None) if status == "open" else t.c.resolved_at.is_not(None)
    statement = select(
        t.c.pipeline_execution_id, t.c.pipeline_id, t.c.created_at, t.c.resolved_at, t.c.execution_status, t.c.duration_seconds,
        t.c.seconds_threshold, t.c.timely_number, t.c.timely_datepart, t.c.final_status,
    )  # fmt: skip
    ordering = (t.c.created_at.desc(), t.c.pipeline_execution_id.desc())
    return _named(statement.where(condition).order_by(*ordering).limit(rows))


def _anomalies(status: Status, rows: int) -> Select:
    a = anomaly
    condition = a.c.resolved_at.is_(None) if status == "open" else a.c.resolved_at.is_not(None)
    statement = select(
        a.c.id, a.c.pipeline_id, a.c.opened_at, a.c.resolved_at, a.c.metric_field, a.c.flagged_count, a.c.opened_execution_id,
        a.c.last_execution_id, a.c.resolution,
    )  # fmt: skip
    return _named(statement.where(condition).order_by(a.c.id.desc()).limit(rows))


def _seconds(start: dt.datetime, end: dt.datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _statement(kind: Kind, status: Status, rows: int) -> Select:
    if kind == "freshness":
        return _freshness(status, rows)
    if kind == "timeliness":
        return _timeliness(status, rows)
    return _anomalies(status, rows)


def _sort_key(kind: Kind, is_open: bool, row) -> tuple:
    """Open first, then the latest opening; ties by kind and, within a kind, the highest key first."""
    if kind == "freshness":
        return (not is_open, -row.created_at.timestamp(), 0, -row.id, 0)
    if kind == "timeliness":
        return (not is_open, -row.created_at.timestamp(), 1, -row.pipeline_execution_id, 0)
    return (not is_open, -row.opened_at.timestamp(), 2, -row.id, 0)


def _incident(kind: Kind, is_open: bool, r, now: dt.datetime) -> Incident:
    if kind == "freshness":
        return Incident(
            "freshness", (r.id,), r.pipeline_id, r.pipeline_name, r.created_at, r.resolved_at, is_open,
            _seconds(r.created_at, r.resolved_at or now), deadline=r.deadline, last_dml=r.last_dml_timestamp,
            freshness_number=r.freshness_number, freshness_datepart=r.freshness_datepart, resolution=r.resolution,
        )  # fmt: skip
    if kind == "timeliness":
        return Incident(
            "timeliness", (r.pipeline_execution_id,), r.pipeline_id, r.pipeline_name, r.created_at, r.resolved_at, is_open,
            _seconds(r.created_at, r.resolved_at or now), execution_id=r.pipeline_execution_id,
            execution_status=r.execution_status, run_seconds=r.duration_seconds, threshold_seconds=r.seconds_threshold,
            timely_number=r.timely_number, timely_datepart=r.timely_datepart, final_status=r.final_status,
        )  # fmt: skip
    return Incident(
        "anomaly", (r.id,), r.pipeline_id, r.pipeline_name, r.opened_at, r.resolved_at, is_open,
        _seconds(r.opened_at, r.resolved_at or now), execution_id=r.last_execution_id, metric=r.metric_field,
        flagged_count=r.flagged_count, opened_execution_id=r.opened_execution_id, resolution=r.resolution,
    )  # fmt: skip


async def incidents(
    db: Database, now: dt.datetime, kind: Kind | None = None, status: Status | None = None, offset: int = 0, limit: int = 50
) -> list[Incident]:
    """One page (limit + 1 rows, so the caller knows whether another page follows) of the incidents of
    `kind` and `status` (None: all), open first, then the most recently opened."""
    rows = offset + limit + 1
    found = []
    async with db.read() as conn:
        for each_kind in KINDS if kind is None else (kind,):
            for each_status in ("open", "resolved") if status is None else (status,):
                is_open = each_status == "open"
                for row in await conn.execute(_statement(each_kind, each_status, rows)):
                    found.append((_sort_key(each_kind, is_open, row), each_kind, is_open, row))
    found.sort(key=lambda entry: entry[0])  # only the page's rows become Incidents: a deep page reads thousands
    return [_incident(each_kind, is_open, row, now) for _, each_kind, is_open, row in found[offset:rows]]
