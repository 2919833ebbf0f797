"""Freshness: has each pipeline's target data changed recently enough? (contract §10)

One run, one transaction: the query (`_freshness_rows`) returns every monitored pipeline and every open
incident, `evaluate_freshness` decides (freshness_evaluation.py), `_persist` writes the incidents
and `_alert` records at most two alerts."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import and_, bindparam, case, insert, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts import texts
from ..alerts.service import Outbox, record_alert
from ..core.datetimes import format_datetime
from ..core.memory import collection_paused
from ..db.engine import Database
from ..db.filters import latest
from ..db.locks import exclusive
from ..db.types import UTCDateTime
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .freshness_evaluation import FreshnessEvaluation, PipelineFreshness, evaluate_freshness
from .rules import effective_config_columns, eligible_condition
from .tables import check_run
from .tables import freshness_pipeline_log as incidents

TITLE = "Freshness Check - Pipeline DML"


@functools.cache
def _freshness_rows(dialect: str, skip_inactive: bool):
    """Every monitored pipeline, and every pipeline with an open incident, with its effective config
    (NULL when it is not monitored) and that incident, as PipelineFreshness rows (same columns, same
    order). The rules decide here in SQL; only the deadline (calendar arithmetic, one function) is
    computed in Python."""
    last_dml = type_coerce(
        latest(dialect, pipeline.c.last_target_insert, pipeline.c.last_target_update, pipeline.c.last_target_soft_delete), UTCDateTime
    )
    number, datepart, own = effective_config_columns(
        pipeline.c.freshness_number, pipeline.c.freshness_datepart, pipeline_type.c.freshness_number, pipeline_type.c.freshness_datepart
    )
    monitored = and_(
        eligible_condition(pipeline.c.mute_freshness_check, pipeline_type.c.mute_freshness_check, pipeline.c.active, skip_inactive),
        number.is_not(None),
        last_dml.is_not(None),  # §10.3: no DML recorded yet, nothing to judge
    )
    return (
        select(
            pipeline.c.id.label("pipeline_id"),
            pipeline.c.name.label("pipeline_name"),
            case((monitored, number)).label("number"),
            datepart.label("datepart"),
            own.label("used_child_config"),
            last_dml.label("last_dml"),
            incidents.c.id.label("incident_id"),
            incidents.c.last_dml_timestamp.label("incident_last_dml"),
            incidents.c.deadline.label("incident_deadline"),
        )  # fmt: skip
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .outerjoin(incidents, and_(incidents.c.pipeline_id == pipeline.c.id, incidents.c.resolved_at.is_(None)))
        .where(or_(monitored, incidents.c.id.is_not(None)))
        .order_by(pipeline.c.id)  # results and alert lines in pipeline order, on both backends
    )


_OPEN = insert(incidents).returning(incidents.c.id, sort_by_parameter_order=True)
_REFRESH = (
    update(incidents)
    .where(incidents.c.id == bindparam("incident_id"))
    .values(last_dml_timestamp=bindparam("b_last_dml"), deadline=bindparam("b_deadline"), last_evaluated_at=bindparam("b_now"))
)
_STAMP_RUN = update(check_run).where(check_run.c.check_name == "freshness")
CHUNK = 5000  # ids per IN list: well under SQLite's bound-parameter limit


LAST_FRESHNESS_RUN = select(check_run.c.last_run_at).where(check_run.c.check_name == "freshness").scalar_subquery()


async def run_freshness(db: Database, settings: Settings, now: dt.datetime, outbox: Outbox) -> dict[str, Any]:
    """Evaluate every pipeline at once, update incidents, and write at most two alerts."""
    async with db.write() as conn:
        await exclusive(conn, "freshness")
        # One row at a time, not all() first: 100,000 Row objects held at once slow down every garbage
        # collection of the run. PipelineFreshness._make: its fields read twice as fast as a Row's.
        rows = await conn.execute(_freshness_rows(conn.dialect.name, settings.skip_inactive_pipelines))
        with collection_paused():
            evaluation = evaluate_freshness(map(PipelineFreshness._make, rows), now)
        incident_ids = await _persist(conn, evaluation, now)
        recorded_before = len(outbox.recorded)
        await _alert(conn, settings, now, outbox, evaluation)
        alerts_created = len(outbox.recorded) - recorded_before
    return {
        "status": "warning" if evaluation.stale else "success",
        "check": "freshness",
        "evaluated_at": format_datetime(now),
        "pipelines_evaluated": evaluation.pipelines_evaluated,
        "failing": [
            {
                "pipeline_id": stale.pipeline_id, "pipeline_name": stale.pipeline_name,
                "last_dml_timestamp": format_datetime(stale.last_dml), "deadline": format_datetime(stale.deadline),
                "freshness_number": stale.number, "freshness_datepart": stale.datepart, "used_child_config": stale.used_child_config,
                "incident_id": incident_id, "new": stale.new,
            }
            for stale, incident_id in zip(evaluation.stale, incident_ids, strict=True)
        ],
        "recovered": [
            {"pipeline_id": recovered.pipeline_id, "pipeline_name": recovered.pipeline_name, "incident_id": recovered.incident_id}
            for recovered in evaluation.recovered
        ],
        "alerts_created": alerts_created,
    }  # fmt: skip


async def _persist(conn: AsyncConnection, evaluation: FreshnessEvaluation, now: dt.datetime) -> list[int]:
    """Open, refresh and resolve incidents and stamp the run; returns each stale pipeline's incident id."""
    opening, refresh = [], []
    for stale in evaluation.stale:
        if stale.new:
            opening.append(
                {
                    "pipeline_id": stale.pipeline_id, "last_dml_timestamp": stale.last_dml, "evaluation_timestamp": now,
                    "last_evaluated_at": now, "deadline": stale.deadline, "freshness_number": stale.number,
                    "freshness_datepart": stale.datepart, "used_child_config": stale.used_child_config, "created_at": now,
                }
            )  # fmt: skip
        elif stale.incident_outdated:
            refresh.append({"incident_id": stale.incident_id, "b_last_dml": stale.last_dml, "b_deadline": stale.deadline, "b_now": now})
    opened_ids = iter((await conn.execute(_OPEN, opening)).scalars().all() if opening else ())
    if refresh:
        await conn.execute(_REFRESH, refresh)
    await _resolve(conn, [recovered.incident_id for recovered in evaluation.recovered], "recovered", now)
    await _resolve(conn, list(evaluation.unmonitored), "unmonitored", now)
    # Incidents left open were all evaluated by this run: their last_evaluated_at is this stamp.
    await conn.execute(_STAMP_RUN.values(last_run_at=now))
    return [next(opened_ids) if stale.new else stale.incident_id for stale in evaluation.stale]


async def _resolve(conn: AsyncConnection, incident_ids: list[int], resolution: str, now: dt.datetime) -> None:
    for start in range(0, len(incident_ids), CHUNK):
        chunk = incident_ids[start : start + CHUNK]
        await conn.execute(
            update(incidents).where(incidents.c.id.in_(chunk)).values(resolved_at=now, resolution=resolution, last_evaluated_at=now)
        )


async def _alert(conn: AsyncConnection, settings: Settings, now: dt.datetime, outbox: Outbox, evaluation: FreshnessEvaluation) -> None:
    """One `opened` alert for every incident this run opened, one `recovered` alert for every recovery."""
    opened = [stale for stale in evaluation.stale if stale.new]
    if opened:
        await record_alert(
            conn, settings, now, outbox, kind="freshness", event="opened", level="warning", title=TITLE,
            message=f"Pipeline Freshness Check - {len(opened)} NEW pipeline(s) overdue",
            details={
                "Failed Pipelines": texts.lines(
                    [
                        f"{stale.pipeline_name} (ID: {stale.pipeline_id}): Last DML {format_datetime(stale.last_dml)}, "
                        f"Expected within {stale.number} {texts.unit(stale.number, stale.datepart)}"
                        for stale in opened
                    ]
                ),
            },
            pipeline_ids=[stale.pipeline_id for stale in opened],
        )  # fmt: skip
    if evaluation.recovered:
        await record_alert(
            conn, settings, now, outbox, kind="freshness", event="recovered", level="success", title=TITLE,
            message=f"Pipeline Freshness Check - {len(evaluation.recovered)} pipeline(s) recovered",
            details={
                "Recovered Pipelines": texts.lines(
                    [
                        f"{recovered.pipeline_name} (ID: {recovered.pipeline_id}): Last DML {format_datetime(recovered.last_dml)}"
                        for recovered in evaluation.recovered
                    ]
                ),
            },
            pipeline_ids=[recovered.pipeline_id for recovered in evaluation.recovered],
        )  # fmt: skip
