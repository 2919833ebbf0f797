"""The overview page's numbers: what exists, what runs, what is wrong right now, and the last day's runs
per hour. A handful of statements in one read transaction, each answered from an index:

* counts — pipeline (ix_pipeline_active, index only), running runs (the partial ix_pipeline_execution_running),
  open freshness / timeliness / anomaly incidents (their partial "open" indexes), pipelines per health state (reporting.health.in_state:
  the same indexes, and ix_pipeline_execution_failed_end_date), the last queue alert (ix_alert_kind_id);
* runs per hour — ix_pipeline_execution_start_date (index only);
* failures per hour — the partial ix_pipeline_execution_failed_end_date: a run's end follows its start
  (the end_after_start constraint), so every failed run that started in the window also ended in it;
* problem pipelines — the first 20 by name of each state (uq_pipeline_name walked until 20 are found, or
  the state's few ids looked up by primary key); recent alerts — the alert primary key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, case, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts.tables import alert
from ..anomalies.tables import anomaly_incident as anomaly
from ..db.engine import Database
from ..db.types import UTCDateTime
from ..executions.tables import pipeline_execution as pe
from ..monitoring.tables import freshness_pipeline_log as freshness
from ..monitoring.tables import timeliness_pipeline_execution_log as timeliness
from ..pipelines.tables import pipeline
from .health import RECENT, STATES, count_in, in_state

PROBLEMS_SHOWN = 20  # pipelines listed per state; the rest are one link away
RECENT_ALERTS = 10
HOURS = 24


@dataclass(frozen=True)
class RunsInHour:
    hour: dt.datetime  # the hour's start, UTC
    runs: int
    failures: int


@dataclass(frozen=True)
class QueueIncident:
    level: str
    since: dt.datetime


@dataclass(frozen=True)
class ProblemPipelines:
    state: str
    count: int
    pipelines: list[tuple[int, str]]  # (id, name), by name, at most PROBLEMS_SHOWN


@dataclass(frozen=True)
class RecentAlert:
    id: int
    created_at: dt.datetime
    kind: str
    event: str
    level: str
    title: str
    delivery_status: str
    delivery_attempts: int


@dataclass(frozen=True)
class Overview:
    pipelines: int
    active: int
    running: int
    runs_24h: int
    failures_24h: int
    open_freshness: int
    open_timeliness: int
    open_anomalies: int
    queue: QueueIncident | None
    problems: list[ProblemPipelines]
    hours: list[RunsInHour]  # the last HOURS clock hours, oldest first, the current one last
    alerts: list[RecentAlert] = field(default_factory=list)


def hour_of(dialect: str, column):
    """The UTC hour a timestamp falls in: a timestamptz on PostgreSQL, 'YYYY-MM-DD HH:00:00' text on
    SQLite, where timestamps are stored as naive UTC text (db/types.UTCDateTime)."""
    if dialect == "postgresql":
        # the sessions' time zone is UTC (db/engine.py); the three-argument form would convert every row (3x slower)
        return func.date_trunc("hour", column, type_=UTCDateTime)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hour(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _count(table, *conditions):
    return select(func.count()).select_from(table).where(*conditions).scalar_subquery()


async def _counts(conn: AsyncConnection, now: dt.datetime):
    pipelines = select(func.count().label("pipelines"), func.count(case((pipeline.c.active, 1))).label("active")).subquery()
    statement = select(
        pipelines.c.pipelines,
        pipelines.c.active,
        _count(pe, pe.c.completed_successfully.is_(None)).label("running"),
        _count(freshness, freshness.c.resolved_at.is_(None)).label("open_freshness"),
        _count(timeliness, timeliness.c.resolved_at.is_(None)).label("open_timeliness"),
        _count(anomaly, anomaly.c.resolved_at.is_(None)).label("open_anomalies"),
        # a pipeline has at most one open freshness incident (uq_freshness_pipeline_log_open): stale = open_freshness
        *(count_in(state, now).label(state) for state in STATES if state != "stale"),
    )
    counts = dict((await conn.execute(statement)).one()._mapping)
    counts["stale"] = counts["open_freshness"]
    last_queue_alert = select(alert.c.event, alert.c.level, alert.c.created_at).where(alert.c.kind == "queue")
    queue = (await conn.execute(last_queue_alert.order_by(alert.c.id.desc()).limit(1))).first()
    return counts, QueueIncident(queue.level, queue.created_at) if queue is not None and queue.event == "opened" else None


async def runs_per_hour(conn: AsyncConnection, since: dt.datetime, until: dt.datetime) -> dict[dt.datetime, tuple[int, int]]:
    """(runs, failed runs) started in [since, until], per UTC hour."""
    dialect = conn.dialect.name
    hour = hour_of(dialect, pe.c.start_date).label("hour")
    runs = select(hour, func.count().label("n")).where(pe.c.start_date.between(since, until)).group_by(hour)
    failed = (
        select(hour, func.count().label("n"))
        # end_date >= since adds nothing (a run ends after it starts) but lets the failed-runs index answer
        .where(and_(pe.c.completed_successfully == false(), pe.c.end_date >= since, pe.c.start_date.between(since, until)))
        .group_by(hour)
    )
    found: dict[dt.datetime, list[int]] = {}
    for row in await conn.execute(runs):
        found.setdefault(_as_hour(row.hour), [0, 0])[0] = int(row.n)
    for row in await conn.execute(failed):
        found.setdefault(_as_hour(row.hour), [0, 0])[1] = int(row.n)
    return {hour: (n[0], n[1]) for hour, n in found.items()}


async def _problems(conn: AsyncConnection, now: dt.datetime, counts: dict[str, int]) -> list[ProblemPipelines]:
    problems = []
    for state in STATES:
        listed = []
        if counts[state]:
            statement = (
                select(pipeline.c.id, pipeline.c.name)
                .where(pipeline.c.id.in_(in_state(state, now)))
                .order_by(pipeline.c.name)
                .limit(PROBLEMS_SHOWN)
            )
            listed = [(row.id, row.name) for row in await conn.execute(statement)]
        problems.append(ProblemPipelines(state, counts[state], listed))
    return problems


async def recent_alerts(conn: AsyncConnection, limit: int = RECENT_ALERTS) -> list[RecentAlert]:
    columns = (alert.c.id, alert.c.created_at, alert.c.kind, alert.c.event, alert.c.level, alert.c.title)
    statement = select(*columns, alert.c.delivery_status, alert.c.delivery_attempts).order_by(alert.c.id.desc()).limit(limit)
    return [RecentAlert(*row) for row in await conn.execute(statement)]


def hour_start(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


async def overview(db: Database, now: dt.datetime) -> Overview:
    """Everything the overview shows, as of `now`. "The last 24 h" of the counts is exactly that; the
    chart shows the 24 clock hours ending with the current one, which lie within it."""
    since = now - RECENT
    async with db.read() as conn:
        if conn.dialect.name == "postgresql":
            # The default cost of a random page (4, for spinning disks) makes PostgreSQL scan all 100,000
            # pipelines to name the 20 of a small state instead of looking up its few ids (25 ms against 8).
            await conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        counts, queue = await _counts(conn, now)
        per_hour = await runs_per_hour(conn, since, now)
        problems = await _problems(conn, now, counts)
        alerts = await recent_alerts(conn)
    current = hour_start(now)
    hours = [current - dt.timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    return Overview(
        pipelines=counts["pipelines"],
        active=counts["active"],
        running=counts["running"],
        runs_24h=sum(runs for runs, _ in per_hour.values()),
        failures_24h=sum(failures for _, failures in per_hour.values()),
        open_freshness=counts["open_freshness"],
        open_timeliness=counts["open_timeliness"],
        open_anomalies=counts["open_anomalies"],
        queue=queue,
        problems=problems,
        hours=[RunsInHour(hour, *per_hour.get(hour, (0, 0))) for hour in hours],
        alerts=alerts,
    )
