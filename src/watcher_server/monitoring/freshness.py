"""Freshness: has each pipeline's target data changed recently enough? (contract §10)"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import and_, bindparam, case, insert, or_, select, type_coerce, update

from ..alerts import texts
from ..alerts.service import Outbox, record_alert
from ..core.dateparts import add_dateparts
from ..core.datetimes import format_datetime
from ..db.engine import Database
from ..db.filters import latest
from ..db.locks import exclusive
from ..db.types import UTCDateTime
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .rules import effective_config_columns, eligible_condition
from .tables import check_run
from .tables import freshness_pipeline_log as log

TITLE = "Freshness Check - Pipeline DML"


@functools.cache
def _evaluation(dialect: str, skip_inactive: bool):
    """Every monitored pipeline, and every pipeline with an open incident, with its effective config
    (NULL when it is not monitored) and that incident. The rules decide here in SQL; only the deadline
    (calendar arithmetic, one function) is computed in Python."""
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
            pipeline.c.id,
            pipeline.c.name,
            case((monitored, number)),
            datepart,
            own,
            last_dml,
            log.c.id,
            log.c.last_dml_timestamp,
            log.c.deadline,
        )  # fmt: skip
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .outerjoin(log, and_(log.c.pipeline_id == pipeline.c.id, log.c.resolved_at.is_(None)))
        .where(or_(monitored, log.c.id.is_not(None)))
        .order_by(pipeline.c.id)  # results and alert lines in pipeline order, on both backends
    )


_REFRESH = (
    update(log)
    .where(log.c.id == bindparam("incident_id"))
    .values(last_dml_timestamp=bindparam("b_last_dml"), deadline=bindparam("b_deadline"), last_evaluated_at=bindparam("b_now"))
)
_STAMP_RUN = update(check_run).where(check_run.c.check_name == "freshness")
CHUNK = 5000  # ids per IN list: well under SQLite's bound-parameter limit


LAST_FRESHNESS_RUN = select(check_run.c.last_run_at).where(check_run.c.check_name == "freshness").scalar_subquery()


async def run_freshness(db: Database, settings: Settings, now: dt.datetime, outbox: Outbox) -> dict[str, Any]:
    """Evaluate every pipeline at once, update incidents, and write at most two alerts."""
    async with db.write() as conn:
        await exclusive(conn, "freshness")
        rows = (await conn.execute(_evaluation(conn.dialect.name, settings.skip_inactive_pipelines))).all()
        evaluated = 0
        stale, fresh, unmonitored = [], [], []
        for row in rows:
            pipeline_id, name, number, datepart, own, last_dml, incident_id, known_dml, known_deadline = row
            if number is None:  # an open incident whose pipeline is no longer evaluated
                unmonitored.append(incident_id)
                continue
            evaluated += 1
            deadline = add_dateparts(last_dml, number, datepart)
            if deadline < now:
                stale.append((pipeline_id, name, number, datepart, bool(own), last_dml, deadline, incident_id, known_dml, known_deadline))
            elif incident_id is not None:
                fresh.append((pipeline_id, name, last_dml, incident_id))

        new_rows = [
            {
                "pipeline_id": pipeline_id, "last_dml_timestamp": last_dml, "evaluation_timestamp": now, "last_evaluated_at": now,
                "deadline": deadline, "freshness_number": number, "freshness_datepart": datepart,
                "used_child_config": own, "created_at": now,
            }
            for pipeline_id, _, number, datepart, own, last_dml, deadline, incident_id, _, _ in stale
            if incident_id is None
        ]  # fmt: skip
        new_ids = iter([])
        if new_rows:
            inserted = await conn.execute(insert(log).returning(log.c.id, sort_by_parameter_order=True), new_rows)
            new_ids = iter(inserted.scalars().all())
        failing, opened, refresh = [], [], []
        for pipeline_id, name, number, datepart, own, last_dml, deadline, incident_id, known_dml, known_deadline in stale:
            is_new = incident_id is None
            if is_new:
                incident_id = next(new_ids)
                opened.append((pipeline_id, name, number, datepart, last_dml))
            elif (known_dml, known_deadline) != (last_dml, deadline):
                refresh.append({"incident_id": incident_id, "b_last_dml": last_dml, "b_deadline": deadline, "b_now": now})
            failing.append(
                {
                    "pipeline_id": pipeline_id, "pipeline_name": name, "last_dml_timestamp": format_datetime(last_dml),
                    "deadline": format_datetime(deadline), "freshness_number": number, "freshness_datepart": datepart,
                    "used_child_config": own, "incident_id": incident_id, "new": is_new,
                }
            )  # fmt: skip
        if refresh:
            await conn.execute(_REFRESH, refresh)
        await _resolve(conn, [incident_id for *_, incident_id in fresh], "recovered", now)
        await _resolve(conn, unmonitored, "unmonitored", now)
        # Incidents left open were all evaluated by this run: their last_evaluated_at is this stamp.
        await conn.execute(_STAMP_RUN.values(last_run_at=now))

        alerts_created = 0
        if opened:
            await record_alert(
                conn, settings, now, outbox, kind="freshness", event="opened", level="warning", title=TITLE,
                message=f"Pipeline Freshness Check - {len(opened)} NEW pipeline(s) overdue",
                details={
                    "Failed Pipelines": texts.lines(
                        [
                            f"{name} (ID: {pipeline_id}): Last DML {format_datetime(last_dml)}, "
                            f"Expected within {number} {texts.unit(number, datepart)}"
                            for pipeline_id, name, number, datepart, last_dml in opened
                        ]
                    ),
                },
                pipeline_ids=[opened_row[0] for opened_row in opened],
            )  # fmt: skip
            alerts_created += 1
        if fresh:
            await record_alert(
                conn, settings, now, outbox, kind="freshness", event="recovered", level="success", title=TITLE,
                message=f"Pipeline Freshness Check - {len(fresh)} pipeline(s) recovered",
                details={
                    "Recovered Pipelines": texts.lines(
                        [f"{name} (ID: {pipeline_id}): Last DML {format_datetime(last_dml)}" for pipeline_id, name, last_dml, _ in fresh]
                    ),
                },
                pipeline_ids=[recovered[0] for recovered in fresh],
            )  # fmt: skip
            alerts_created += 1
    return {
        "status": "warning" if failing else "success",
        "check": "freshness",
        "evaluated_at": format_datetime(now),
        "pipelines_evaluated": evaluated,
        "failing": failing,
        "recovered": [
            {"pipeline_id": pipeline_id, "pipeline_name": name, "incident_id": incident_id} for pipeline_id, name, _, incident_id in fresh
        ],
        "alerts_created": alerts_created,
    }


async def _resolve(conn, incident_ids: list[int], resolution: str, now: dt.datetime) -> None:
    for start in range(0, len(incident_ids), CHUNK):
        chunk = incident_ids[start : start + CHUNK]
        await conn.execute(update(log).where(log.c.id.in_(chunk)).values(resolved_at=now, resolution=resolution, last_evaluated_at=now))
