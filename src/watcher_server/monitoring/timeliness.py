"""Timeliness: is or was an execution taking too long? Plus failed-execution alerts (contract §11).

One run, one transaction: the query (`_candidates`) returns the executions SQL could not already
count as on time, `evaluate_timeliness` decides (timeliness_evaluation.py), `_persist` writes the
log and `_alert` records at most three alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, and_, any_, bindparam, case, cast, func, insert, not_, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts import texts
from ..alerts.service import Outbox, record_alert
from ..core.dateparts import SHORTEST_SECONDS
from ..core.datetimes import format_datetime
from ..db.engine import Database
from ..db.locks import exclusive
from ..executions.tables import pipeline_execution as pe
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .rules import Effective, effective_config_columns, eligible_condition
from .tables import timeliness_pipeline_execution_log as timeliness_log
from .timeliness_evaluation import Candidate, TimelinessEvaluation, evaluate_timeliness

TITLE = "Timeliness Check - Pipeline Execution"


def _candidates(dialect: str, since: dt.datetime, open_ids: list[int], skip_inactive: bool):
    """(Candidate rows to judge, count of eligible candidates certainly on time). The rules decide
    eligibility and the effective config in SQL; a successful, not yet logged run shorter than the
    shortest possible threshold is certainly on time, so it is counted but not fetched."""
    if dialect == "postgresql":
        # The open incidents' ids as one array parameter keep the OR index-only (a BitmapOr); with a
        # subquery in the OR, PostgreSQL scans all executions instead (seconds at 10 M rows).
        logged_open = pe.c.id == any_(bindparam("open_ids", open_ids, type_=ARRAY(BigInteger)))
    else:
        logged_open = pe.c.id.in_(_OPEN_IDS)
    candidate = or_(
        pe.c.start_date >= since,
        pe.c.end_date >= since,
        pe.c.completed_successfully.is_(None),  # still running, whatever its start
        logged_open,
    )
    number, datepart, own = effective_config_columns(
        pipeline.c.timeliness_number, pipeline.c.timeliness_datepart, pipeline_type.c.timeliness_number, pipeline_type.c.timeliness_datepart
    )
    is_eligible = eligible_condition(
        pipeline.c.mute_timeliness_check, pipeline_type.c.mute_timeliness_check, pipeline.c.active, skip_inactive
    )
    shortest = case(*((datepart == part, seconds) for part, seconds in SHORTEST_SECONDS.items()))
    on_time = and_(
        is_eligible,
        pe.c.completed_successfully.is_(True),
        timeliness_log.c.pipeline_execution_id.is_(None),
        pe.c.duration_seconds.is_not(None),
        or_(number.is_(None), pe.c.duration_seconds < cast(number, BigInteger) * shortest),  # 64-bit: 100 years overflow int4
    )
    joined = (
        pe.join(pipeline, pipeline.c.id == pe.c.pipeline_id)
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .outerjoin(timeliness_log, timeliness_log.c.pipeline_execution_id == pe.c.id)
    )
    rows = (
        select(
            pe.c.id.label("execution_id"), pe.c.pipeline_id, pipeline.c.name.label("pipeline_name"), pe.c.start_date, pe.c.end_date,
            pe.c.duration_seconds, pe.c.completed_successfully, is_eligible.label("eligible"), number.label("number"),
            datepart.label("datepart"), own.label("used_child_config"), timeliness_log.c.execution_status.label("logged_status"),
            timeliness_log.c.resolved_at.label("logged_resolved_at"), timeliness_log.c.timely_datepart.label("logged_datepart"),
        )
        .select_from(joined)
        .where(candidate, not_(on_time))
        .order_by(pe.c.id)
    )  # fmt: skip
    skipped = select(func.count()).select_from(joined).where(candidate, on_time)
    return rows, skipped


_OPEN_IDS = select(timeliness_log.c.pipeline_execution_id).where(timeliness_log.c.resolved_at.is_(None))

_RESOLVE = (
    update(timeliness_log)
    .where(timeliness_log.c.pipeline_execution_id == bindparam("b_execution_id"))
    .values(final_status=bindparam("b_final_status"), resolved_at=bindparam("b_now"))
)


async def run_timeliness(db: Database, settings: Settings, now: dt.datetime, lookback_minutes: int, outbox: Outbox) -> dict[str, Any]:
    since = now - dt.timedelta(minutes=lookback_minutes)
    async with db.write() as conn:
        await exclusive(conn, "timeliness")
        if conn.dialect.name == "postgresql":
            # Recent executions sit together at the end of the table, which the default cost of a
            # random page (4, tuned for spinning disks) hides: PostgreSQL then prefers scanning all
            # 10 M executions (0.6 s) to the candidates' index bitmap (0.1 s). 1.1 is the usual SSD value.
            await conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        open_ids = (await conn.execute(_OPEN_IDS)).scalars().all() if conn.dialect.name == "postgresql" else []
        to_judge, on_time = _candidates(conn.dialect.name, since, open_ids, settings.skip_inactive_pipelines)
        rows = (await conn.execute(to_judge)).all()
        certainly_on_time = (await conn.execute(on_time)).scalar_one()
        # Candidate._make: a field of a NamedTuple reads about twice as fast as one of SQLAlchemy's Row
        evaluation = evaluate_timeliness(map(Candidate._make, rows), now, alert_on_failed_executions=settings.alert_on_failed_executions)
        await _persist(conn, evaluation, now)
        recorded_before = len(outbox.recorded)
        await _alert(conn, settings, now, outbox, evaluation)
        alerts_created = len(outbox.recorded) - recorded_before
    return {
        "status": "warning" if evaluation.overdue or evaluation.failed else "success",
        "check": "timeliness",
        "evaluated_at": format_datetime(now),
        "lookback_minutes": lookback_minutes,
        "executions_evaluated": certainly_on_time + evaluation.executions_evaluated,
        "overdue": [
            {
                "pipeline_execution_id": overdue.execution_id, "pipeline_id": overdue.pipeline_id, "pipeline_name": overdue.pipeline_name,
                "execution_status": overdue.status, "duration_seconds": overdue.duration_seconds,
                "seconds_threshold": overdue.seconds_threshold, "timely_number": overdue.config.number,
                "timely_datepart": overdue.config.datepart, "used_child_config": overdue.config.used_child_config, "new": overdue.new,
            }
            for overdue in evaluation.overdue
        ],
        "failed": [
            {"pipeline_execution_id": failed.execution_id, "pipeline_id": failed.pipeline_id, "pipeline_name": failed.pipeline_name,
             "end_date": format_datetime(failed.end_date), "new": failed.new}
            for failed in evaluation.failed
        ],
        "recovered": [
            {"pipeline_execution_id": recovered.execution_id, "pipeline_id": recovered.pipeline_id,
             "final_status": recovered.final_status, "duration_seconds": recovered.duration_seconds}
            for recovered in evaluation.recovered
        ],
        "alerts_created": alerts_created,
    }  # fmt: skip


async def _persist(conn: AsyncConnection, evaluation: TimelinessEvaluation, now: dt.datetime) -> None:
    """Log each new failure and overdue execution (completed and failed ones resolved at once) and
    resolve the open incidents whose execution has ended."""
    new_rows = [
        _log_row(failed.execution_id, failed.pipeline_id, "failed", failed.duration_seconds, None, failed.config, now)
        for failed in evaluation.failed
        if failed.new
    ]
    new_rows += [
        _log_row(o.execution_id, o.pipeline_id, o.status, o.duration_seconds, o.seconds_threshold, o.config, now)
        for o in evaluation.overdue
        if o.new
    ]
    if new_rows:
        await conn.execute(insert(timeliness_log), new_rows)
    if evaluation.resolutions:
        await conn.execute(
            _RESOLVE,
            [{"b_execution_id": r.execution_id, "b_final_status": r.final_status, "b_now": now} for r in evaluation.resolutions],
        )


def _log_row(
    execution_id: int, pipeline_id: int, status: str, duration: int, threshold: int | None, config: Effective | None, now: dt.datetime
) -> dict[str, Any]:
    resolved = status != "running"  # only a running execution's incident stays open
    return {
        "pipeline_execution_id": execution_id,
        "pipeline_id": pipeline_id,
        "execution_status": status,
        "duration_seconds": duration,
        "seconds_threshold": threshold,
        "timely_number": config.number if config else None,
        "timely_datepart": config.datepart if config else None,
        "used_child_config": config.used_child_config if config else None,
        "final_status": status if resolved else None,
        "resolved_at": now if resolved else None,
        "created_at": now,
    }


async def _alert(conn: AsyncConnection, settings: Settings, now: dt.datetime, outbox: Outbox, evaluation: TimelinessEvaluation) -> None:
    """Per run: one `opened` alert for the new overdue executions, one `failed` alert for the new
    failures, one `recovered` alert for the overdue executions that ended."""
    opened = [overdue for overdue in evaluation.overdue if overdue.new]
    if opened:
        items = [
            f"Pipeline '{o.pipeline_name}' (Execution ID: {o.execution_id}): {texts.duration_in(o.duration_seconds, o.config.datepart)} "
            f"({o.status}), Expected within {o.config.number} {texts.unit(o.config.number, o.config.datepart)} "
            f"({'child' if o.config.used_child_config else 'parent'} config)"
            for o in opened
        ]
        await record_alert(
            conn, settings, now, outbox, kind="timeliness", event="opened", level="warning", title=TITLE,
            message=f"Pipeline Execution Timeliness Check - {len(opened)} new execution(s) overdue",
            details={"Failed Executions": texts.lines(items)},
            pipeline_ids=[o.pipeline_id for o in opened], execution_ids=[o.execution_id for o in opened],
        )  # fmt: skip
    new_failures = [failed for failed in evaluation.failed if failed.new]
    if new_failures:
        items = [
            f"Pipeline '{f.pipeline_name}' (Execution ID: {f.execution_id}): failed at {format_datetime(f.end_date)}" for f in new_failures
        ]
        await record_alert(
            conn, settings, now, outbox, kind="execution_failure", event="failed", level="error", title="Pipeline Execution Failure",
            message=f"Pipeline Execution Failure Check - {len(new_failures)} execution(s) failed",
            details={"Failed Executions": texts.lines(items)},
            pipeline_ids=[f.pipeline_id for f in new_failures], execution_ids=[f.execution_id for f in new_failures],
        )  # fmt: skip
    if evaluation.recovered:
        items = [
            f"Pipeline '{r.pipeline_name}' (Execution ID: {r.execution_id}): finished ({r.final_status}) after "
            f"{texts.duration_in(r.duration_seconds or 0, r.logged_datepart)}"
            if r.logged_datepart
            else f"Pipeline '{r.pipeline_name}' (Execution ID: {r.execution_id}): finished ({r.final_status})"
            for r in evaluation.recovered
        ]
        await record_alert(
            conn, settings, now, outbox, kind="timeliness", event="recovered", level="success", title=TITLE,
            message=f"Pipeline Execution Timeliness Check - {len(evaluation.recovered)} overdue execution(s) finished",
            details={"Recovered Executions": texts.lines(items)},
            pipeline_ids=[r.pipeline_id for r in evaluation.recovered], execution_ids=[r.execution_id for r in evaluation.recovered],
        )  # fmt: skip
