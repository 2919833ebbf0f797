"""Read models of the pipelines pages: one page of the pipeline list (with each row's last run and health),
and everything the pipeline page shows of one pipeline. Each is a few set-based statements in one read
transaction; no statement runs per row."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..anomalies.tables import anomaly_detection_result as result
from ..anomalies.tables import anomaly_detection_rule as rule
from ..anomalies.vocabulary import METRICS
from ..db.engine import Database
from ..db.filters import contains, id_equals
from ..executions.tables import pipeline_execution as pe
from ..lineage.tables import address, address_lineage, address_type
from ..monitoring.rules import effective_config_columns
from ..monitoring.tables import freshness_pipeline_log as freshness_log
from ..monitoring.tables import timeliness_pipeline_execution_log as timeliness_log
from ..pipelines.tables import pipeline, pipeline_type
from .health import in_state, states_of

SORTS = ("name", "-name", "id", "-id")
CHECKS = ("freshness", "timeliness")
TYPES_SHOWN = 1000  # a type filter offers at most this many types (deployments have tens)
CHART_RUNS = 100
INCIDENTS_SHOWN = 20
RESULTS_SHOWN = 20
ADDRESSES_SHOWN = 100  # per side; a pipeline may declare up to lineage_max_addresses_per_side (1,000)


# ---------------------------------------------------------------- the list


@dataclass(frozen=True)
class PipelineFilter:
    """What the list page asks for; None means "any"."""

    name_contains: str | None = None  # already normalised like stored names
    type_id: int | None = None
    active: bool | None = None
    state: str | None = None  # one of health.STATES
    sort: str = "name"


@dataclass(frozen=True)
class LastRun:
    id: int
    start_date: dt.datetime
    end_date: dt.datetime | None
    duration_seconds: int | None
    completed_successfully: bool | None


@dataclass(frozen=True)
class PipelineRow:
    id: int
    name: str
    type_id: int
    type_name: str
    active: bool
    watermark: str | None
    last_run: LastRun | None
    states: list[str]


@dataclass(frozen=True)
class PipelineList:
    rows: list[PipelineRow]
    has_next: bool
    types: list[tuple[int, str]]  # (id, name) for the type filter, by name


def _latest_run_id(pipeline_id) -> Any:
    """The id of the pipeline's run that started last: a backward walk of (pipeline_id, start_date), one
    index entry per pipeline (PostgreSQL runs it as a per-row subplan, like a LATERAL ... LIMIT 1)."""
    return (
        select(pe.c.id).where(pe.c.pipeline_id == pipeline_id).order_by(pe.c.start_date.desc(), pe.c.id.desc()).limit(1).scalar_subquery()
    )


def _order(columns, sort: str, from_the_set: bool = False) -> list:
    """ORDER BY for `sort`. `from_the_set`: the rows come from a small set (a health state), so the key is an
    expression no index provides. Otherwise PostgreSQL may walk the whole name or id index for the LIMIT,
    testing each pipeline against the set, and when the set sits at the far end of the index (anomalies on
    the oldest pipelines, newest first) that walk passes 95,000 pipelines before it finds the first."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; one of {', '.join(SORTS)}")
    if sort.endswith("name"):
        key = columns.name.concat("") if from_the_set else columns.name  # unique: the order is total
    else:
        key = columns.id + 0 if from_the_set else columns.id
    return [key.desc() if sort.startswith("-") else key.asc()]


def list_statement(where: PipelineFilter, offset: int, limit: int, now: dt.datetime) -> Select:
    """One page of pipelines with their type and last run. The page's ids are cut first (filters, order,
    offset and limit over narrow rows of the pipeline table and its indexes); only those rows are then
    read whole and look up their last run."""
    chosen = select(pipeline.c.id)
    if where.name_contains:
        chosen = chosen.where(contains(pipeline.c.name, where.name_contains))
    if where.type_id is not None:
        chosen = chosen.where(id_equals(pipeline.c.pipeline_type_id, where.type_id))
    if where.active is not None:
        chosen = chosen.where(pipeline.c.active == where.active)
    if where.state is not None:
        chosen = chosen.where(pipeline.c.id.in_(in_state(where.state, now)))
    order = _order(pipeline.c, where.sort, from_the_set=where.state is not None)
    page = chosen.order_by(*order).limit(limit).offset(offset).subquery("page")
    with_run = select(page.c.id, _latest_run_id(page.c.id).label("run_id")).subquery("with_run")
    return (
        select(
            pipeline.c.id,
            pipeline.c.name,
            pipeline.c.pipeline_type_id,
            pipeline.c.active,
            pipeline.c.watermark,
            pipeline_type.c.name.label("type_name"),
            pe.c.id.label("run_id"),
            pe.c.start_date,
            pe.c.end_date,
            pe.c.duration_seconds,
            pe.c.completed_successfully,
        )
        .select_from(with_run)
        .join(pipeline, pipeline.c.id == with_run.c.id)
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .outerjoin(pe, pe.c.id == with_run.c.run_id)  # PostgreSQL runs the subplan once per page row, in this index lookup
        .order_by(*_order(pipeline.c, where.sort))
    )


async def pipeline_list(db: Database, where: PipelineFilter, offset: int, size: int, now: dt.datetime) -> PipelineList:
    """Page `offset // size` of the filtered list, the health of its pipelines and the types to filter by."""
    async with db.read() as conn:
        found = (await conn.execute(list_statement(where, offset, size + 1, now))).all()
        rows = found[:size]
        states = await states_of(conn, [r.id for r in rows], now)
        types = await _types(conn)
    return PipelineList([_list_row(r, states.get(r.id, [])) for r in rows], len(found) > size, types)


async def _types(conn: AsyncConnection) -> list[tuple[int, str]]:
    statement = select(pipeline_type.c.id, pipeline_type.c.name).order_by(pipeline_type.c.name).limit(TYPES_SHOWN)
    return [(r.id, r.name) for r in await conn.execute(statement)]


def _list_row(r, states: list[str]) -> PipelineRow:
    last = None
    if r.run_id is not None:
        last = LastRun(r.run_id, r.start_date, r.end_date, r.duration_seconds, r.completed_successfully)
    return PipelineRow(r.id, r.name, r.pipeline_type_id, r.type_name, r.active, r.watermark, last, states)


# ---------------------------------------------------------------- one pipeline


@dataclass(frozen=True)
class CheckSetting:
    """A check's effective configuration and where it comes from."""

    check: str
    number: int | None
    datepart: str | None
    source: str  # "pipeline", "type <name>" or "not set"
    muted: bool  # the pipeline's own flag (what the page's mute button changes)
    muted_by_type: bool


@dataclass(frozen=True)
class Run:
    id: int
    parent_id: int | None
    start_date: dt.datetime
    end_date: dt.datetime | None
    duration_seconds: int | None
    completed_successfully: bool | None
    inserts: int | None
    updates: int | None
    soft_deletes: int | None
    total_rows: int | None
    anomalies: list[str]  # metrics flagged true in anomaly_flags


@dataclass(frozen=True)
class Address:
    id: int
    name: str
    type_name: str


@dataclass(frozen=True)
class Side:
    """One side of the pipeline's lineage: the first addresses by name and how many there are."""

    addresses: list[Address]
    total: int


@dataclass(frozen=True)
class PipelineDetail:
    pipeline: Any  # the pipeline row (every column) plus type_name
    states: list[str]
    checks: list[CheckSetting]
    runs: list[Run]
    runs_have_next: bool
    chart_runs: list[Run]  # the last CHART_RUNS finished runs, oldest first
    rules: list[Any]
    results: list[Any]
    freshness_incidents: list[Any]
    timeliness_incidents: list[Any]
    sources: Side
    targets: Side

    def z_threshold(self, metric: str) -> float | None:
        """The z threshold of the pipeline's active rule on `metric`, if it has one."""
        for r in self.rules:
            if r.metric_field == metric and r.active:
                return float(r.z_threshold)
        return None


def _pipeline_statement(pipeline_id: int) -> Select:
    """The pipeline, its type's name and mute flags, and each check's effective number and datepart by the
    rule the checks themselves use (monitoring/rules.py)."""
    columns = []
    for check in CHECKS:
        number, datepart, own = effective_config_columns(
            pipeline.c[f"{check}_number"], pipeline.c[f"{check}_datepart"],
            pipeline_type.c[f"{check}_number"], pipeline_type.c[f"{check}_datepart"],
        )  # fmt: skip
        columns += [
            number.label(f"effective_{check}_number"),
            datepart.label(f"effective_{check}_datepart"),
            own.label(f"{check}_from_pipeline"),
            pipeline_type.c[f"mute_{check}_check"].label(f"type_mute_{check}_check"),
        ]
    return (
        select(pipeline, pipeline_type.c.name.label("type_name"), *columns)
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .where(id_equals(pipeline.c.id, pipeline_id))
    )


def _check_setting(row, check: str) -> CheckSetting:
    number = row._mapping[f"effective_{check}_number"]
    if number is None:
        source = "not set"
    elif row._mapping[f"{check}_from_pipeline"]:
        source = "pipeline"
    else:
        source = f"type {row.type_name}"
    return CheckSetting(
        check, number, row._mapping[f"effective_{check}_datepart"], source,
        bool(row._mapping[f"mute_{check}_check"]), bool(row._mapping[f"type_mute_{check}_check"]),
    )  # fmt: skip


_RUN_COLUMNS = (
    pe.c.id, pe.c.parent_id, pe.c.start_date, pe.c.end_date, pe.c.duration_seconds, pe.c.completed_successfully,
    pe.c.inserts, pe.c.updates, pe.c.soft_deletes, pe.c.total_rows, pe.c.anomaly_flags,
)  # fmt: skip


def _runs(pipeline_id: int) -> Select:
    """The pipeline's runs, newest first: a backward walk of the (pipeline_id, start_date) index."""
    return select(*_RUN_COLUMNS).where(pe.c.pipeline_id == pipeline_id).order_by(pe.c.start_date.desc(), pe.c.id.desc())


def _run(r) -> Run:
    flags = r.anomaly_flags if isinstance(r.anomaly_flags, dict) else {}
    return Run(
        r.id, r.parent_id, r.start_date, r.end_date, r.duration_seconds, r.completed_successfully,
        r.inserts, r.updates, r.soft_deletes, r.total_rows, [m for m in METRICS if flags.get(m) is True],
    )  # fmt: skip


def _side(pipeline_id: int, column) -> Select:
    """The first addresses of one side by name, each with the side's total (a window over the distinct ids)."""
    ids = select(column.label("address_id")).where(address_lineage.c.pipeline_id == pipeline_id).distinct().subquery()
    return (
        select(address.c.id, address.c.name, address_type.c.name.label("type_name"), func.count().over().label("total"))
        .select_from(ids)
        .join(address, address.c.id == ids.c.address_id)
        .join(address_type, address_type.c.id == address.c.address_type_id)
        .order_by(address.c.name)
        .limit(ADDRESSES_SHOWN)
    )


async def _read_side(conn: AsyncConnection, pipeline_id: int, column) -> Side:
    rows = (await conn.execute(_side(pipeline_id, column))).all()
    return Side([Address(r.id, r.name, r.type_name) for r in rows], rows[0].total if rows else 0)


def _open_first_recent(table, id_column, pipeline_id: int) -> Select:
    """Open incidents first, then the most recent, at most INCIDENTS_SHOWN."""
    return (
        select(table)
        .where(table.c.pipeline_id == pipeline_id)
        .order_by(table.c.resolved_at.is_(None).desc(), id_column.desc())
        .limit(INCIDENTS_SHOWN)
    )


async def pipeline_detail(db: Database, pipeline_id: int, runs_offset: int, runs_size: int, now: dt.datetime) -> PipelineDetail | None:
    """Everything the pipeline page shows, read in one transaction; None when there is no such pipeline."""
    async with db.read() as conn:
        row = (await conn.execute(_pipeline_statement(pipeline_id))).first()
        if row is None:
            return None
        states = (await states_of(conn, [pipeline_id], now)).get(pipeline_id, [])
        runs = (await conn.execute(_runs(pipeline_id).limit(runs_size + 1).offset(runs_offset))).all()
        finished = _runs(pipeline_id).where(pe.c.end_date.is_not(None)).limit(CHART_RUNS)
        chart = (await conn.execute(finished)).all()
        rules = (await conn.execute(select(rule).where(rule.c.pipeline_id == pipeline_id).order_by(rule.c.metric_field))).all()
        recent_results = (
            select(result)
            .where(result.c.pipeline_id == pipeline_id)
            .order_by(result.c.detected_at.desc(), result.c.pipeline_execution_id.desc())
            .limit(RESULTS_SHOWN)
        )
        results = (await conn.execute(recent_results)).all()
        freshness = (await conn.execute(_open_first_recent(freshness_log, freshness_log.c.id, pipeline_id))).all()
        timeliness = (await conn.execute(_open_first_recent(timeliness_log, timeliness_log.c.pipeline_execution_id, pipeline_id))).all()
        sources = await _read_side(conn, pipeline_id, address_lineage.c.source_address_id)
        targets = await _read_side(conn, pipeline_id, address_lineage.c.target_address_id)
    return PipelineDetail(
        pipeline=row,
        states=states,
        checks=[_check_setting(row, check) for check in CHECKS],
        runs=[_run(r) for r in runs[:runs_size]],
        runs_have_next=len(runs) > runs_size,
        chart_runs=[_run(r) for r in reversed(chart)],
        rules=rules,
        results=results,
        freshness_incidents=freshness,
        timeliness_incidents=timeliness,
        sources=sources,
        targets=targets,
    )
