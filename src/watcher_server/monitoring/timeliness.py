"""Timeliness: is or was an execution taking too long? Plus failed-execution alerts (contract §11)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, and_, any_, bindparam, case, cast, func, insert, not_, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from ..alerts import texts
from ..alerts.service import Outbox, record_alert
from ..core.dateparts import SHORTEST_SECONDS, add_dateparts
from ..core.datetimes import format_datetime
from ..db.engine import Database
from ..db.locks import exclusive
from ..executions.tables import pipeline_execution as pe
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .rules import Effective, effective_config_columns, eligible_condition
from .tables import timeliness_pipeline_execution_log as log

TITLE = "Timeliness Check - Pipeline Execution"


def _candidates(dialect: str, since: dt.datetime, open_ids: list[int], skip_inactive: bool):
    """(rows to judge, count of eligible candidates certainly on time). The rules decide eligibility and
    the effective config in SQL; a successful, not yet logged run shorter than the shortest possible
    threshold is certainly on time, so it is counted but not fetched."""
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
        log.c.pipeline_execution_id.is_(None),
        pe.c.duration_seconds.is_not(None),
        or_(number.is_(None), pe.c.duration_seconds < cast(number, BigInteger) * shortest),  # 64-bit: 100 years overflow int4
    )
    joined = (
        pe.join(pipeline, pipeline.c.id == pe.c.pipeline_id)
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .outerjoin(log, log.c.pipeline_execution_id == pe.c.id)
    )
    rows = (
        select(
            pe.c.id, pe.c.pipeline_id, pe.c.start_date, pe.c.end_date, pe.c.duration_seconds, pe.c.completed_successfully,
            pipeline.c.name, is_eligible.label("is_eligible"), number.label("number"), datepart.label("datepart"), own.label("own"),
            log.c.execution_status.label("logged_status"), log.c.resolved_at.label("logged_resolved_at"),
            log.c.timely_datepart.label("logged_datepart"),
        )
        .select_from(joined)
        .where(candidate, not_(on_time))
        .order_by(pe.c.id)
    )  # fmt: skip
    skipped = select(func.count()).select_from(joined).where(candidate, on_time)
    return rows, skipped


_OPEN_IDS = select(log.c.pipeline_execution_id).where(log.c.resolved_at.is_(None))

_RESOLVE = (
    update(log)
    .where(log.c.pipeline_execution_id == bindparam("b_execution_id"))
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
        evaluated = (await conn.execute(on_time)).scalar_one()
        overdue, failed, recovered = [], [], []
        new_logs, resolutions = [], []
        for row in rows:
            is_eligible = bool(row.is_eligible)
            open_running = row.logged_status == "running" and row.logged_resolved_at is None
            if open_running and row.completed_successfully is not None:
                final = "completed" if row.completed_successfully else "failed"
                resolutions.append({"b_execution_id": row.id, "b_final_status": final, "b_now": now})
                if is_eligible:
                    recovered.append((row, final))
                continue
            if not is_eligible:
                continue
            evaluated += 1
            config = None if row.number is None else Effective(row.number, row.datepart, bool(row.own))
            already = row.logged_status is not None
            if row.completed_successfully is False and settings.alert_on_failed_executions and row.logged_status in (None, "failed"):
                if not already:
                    new_logs.append(_log_row(row, "failed", row.duration_seconds or 0, config, now, resolved=True))
                failed.append((row, not already))
                continue
            if config is None:
                continue
            deadline = add_dateparts(row.start_date, config.number, config.datepart)
            if row.completed_successfully is None and now > deadline:
                status, duration = "running", int((now - row.start_date).total_seconds())
            elif row.completed_successfully and row.end_date > deadline:
                status, duration = "completed", row.duration_seconds
            else:
                continue
            if not already:
                new_logs.append(_log_row(row, status, duration, config, now, resolved=status == "completed", deadline=deadline))
            overdue.append((row, status, duration, config, deadline, not already))
        if new_logs:
            await conn.execute(insert(log), new_logs)
        if resolutions:
            await conn.execute(_RESOLVE, resolutions)
        alerts_created = await _alert(conn, settings, now, outbox, overdue, failed, recovered)
    return {
        "status": "warning" if overdue or failed else "success",
        "check": "timeliness",
        "evaluated_at": format_datetime(now),
        "lookback_minutes": lookback_minutes,
        "executions_evaluated": evaluated,
        "overdue": [
            {
                "pipeline_execution_id": row.id, "pipeline_id": row.pipeline_id, "pipeline_name": row.name,
                "execution_status": status, "duration_seconds": duration,
                "seconds_threshold": _seconds(row.start_date, deadline), "timely_number": config.number,
                "timely_datepart": config.datepart, "used_child_config": config.used_child_config, "new": new,
            }
            for row, status, duration, config, deadline, new in overdue
        ],
        "failed": [
            {"pipeline_execution_id": row.id, "pipeline_id": row.pipeline_id, "pipeline_name": row.name,
             "end_date": format_datetime(row.end_date), "new": new}
            for row, new in failed
        ],
        "recovered": [
            {"pipeline_execution_id": row.id, "pipeline_id": row.pipeline_id, "final_status": final,
             "duration_seconds": row.duration_seconds}
            for row, final in recovered
        ],
        "alerts_created": alerts_created,
    }  # fmt: skip


def _seconds(start: dt.datetime, deadline: dt.datetime) -> int:
    return int((deadline - start).total_seconds())


def _log_row(row, status, duration, config, now, *, resolved: bool, deadline=None) -> dict[str, Any]:
    return {
        "pipeline_execution_id": row.id,
        "pipeline_id": row.pipeline_id,
        "execution_status": status,
        "duration_seconds": duration,
        "seconds_threshold": _seconds(row.start_date, deadline) if deadline is not None else None,
        "timely_number": config.number if config else None,
        "timely_datepart": config.datepart if config else None,
        "used_child_config": config.used_child_config if config else None,
        "final_status": status if resolved else None,
        "resolved_at": now if resolved else None,
        "created_at": now,
    }


async def _alert(conn, settings: Settings, now: dt.datetime, outbox: Outbox, overdue, failed, recovered) -> int:
    created = 0
    new_overdue = [item for item in overdue if item[5]]
    if new_overdue:
        items = [
            f"Pipeline '{row.name}' (Execution ID: {row.id}): {texts.duration_in(duration, config.datepart)} ({status}), "
            f"Expected within {config.number} {texts.unit(config.number, config.datepart)} "
            f"({'child' if config.used_child_config else 'parent'} config)"
            for row, status, duration, config, _, _ in new_overdue
        ]
        await record_alert(
            conn, settings, now, outbox, kind="timeliness", event="opened", level="warning", title=TITLE,
            message=f"Pipeline Execution Timeliness Check - {len(new_overdue)} new execution(s) overdue",
            details={"Failed Executions": texts.lines(items)},
            pipeline_ids=[row.pipeline_id for row, *_ in new_overdue], execution_ids=[row.id for row, *_ in new_overdue],
        )  # fmt: skip
        created += 1
    new_failed = [row for row, new in failed if new]
    if new_failed:
        items = [f"Pipeline '{row.name}' (Execution ID: {row.id}): failed at {format_datetime(row.end_date)}" for row in new_failed]
        await record_alert(
            conn, settings, now, outbox, kind="execution_failure", event="failed", level="error", title="Pipeline Execution Failure",
            message=f"Pipeline Execution Failure Check - {len(new_failed)} execution(s) failed",
            details={"Failed Executions": texts.lines(items)},
            pipeline_ids=[row.pipeline_id for row in new_failed], execution_ids=[row.id for row in new_failed],
        )  # fmt: skip
        created += 1
    if recovered:
        items = [
            f"Pipeline '{row.name}' (Execution ID: {row.id}): finished ({final}) after "
            f"{texts.duration_in(row.duration_seconds or 0, row.logged_datepart or 'second')}"
            if row.logged_datepart
            else f"Pipeline '{row.name}' (Execution ID: {row.id}): finished ({final})"
            for row, final in recovered
        ]
        await record_alert(
            conn, settings, now, outbox, kind="timeliness", event="recovered", level="success", title=TITLE,
            message=f"Pipeline Execution Timeliness Check - {len(recovered)} overdue execution(s) finished",
            details={"Recovered Executions": texts.lines(items)},
            pipeline_ids=[row.pipeline_id for row, _ in recovered], execution_ids=[row.id for row, _ in recovered],
        )  # fmt: skip
        created += 1
    return created
