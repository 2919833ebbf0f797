"""Freshness: has each pipeline's target data changed recently enough? (contract §10)"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import bindparam, insert, select, type_coerce, update

from ..alerts import texts
from ..alerts.service import record_alert
from ..core.dateparts import add_dateparts
from ..core.datetimes import format_datetime
from ..db.engine import Database
from ..db.filters import latest
from ..db.locks import exclusive
from ..db.types import UTCDateTime
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .rules import effective_config, eligible
from .tables import freshness_pipeline_log as log

TITLE = "Freshness Check - Pipeline DML"


@functools.cache
def _pipelines(dialect: str):
    last_dml = latest(dialect, pipeline.c.last_target_insert, pipeline.c.last_target_update, pipeline.c.last_target_soft_delete)
    return select(
        pipeline.c.id,
        pipeline.c.name,
        pipeline.c.active,
        pipeline.c.freshness_number,
        pipeline.c.freshness_datepart,
        pipeline.c.mute_freshness_check,
        type_coerce(last_dml, UTCDateTime).label("last_dml"),
        pipeline_type.c.freshness_number.label("type_number"),
        pipeline_type.c.freshness_datepart.label("type_datepart"),
        pipeline_type.c.mute_freshness_check.label("type_mute"),
    ).join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)


_OPEN_INCIDENTS = select(log.c.id, log.c.pipeline_id, log.c.last_dml_timestamp, log.c.deadline).where(log.c.resolved_at.is_(None))

_REFRESH = (
    update(log)
    .where(log.c.id == bindparam("incident_id"))
    .values(last_dml_timestamp=bindparam("b_last_dml"), deadline=bindparam("b_deadline"), last_evaluated_at=bindparam("b_now"))
)
_RESOLVE = update(log).where(log.c.id == bindparam("incident_id")).values(resolved_at=bindparam("b_now"), resolution=bindparam("b_resolution"))


async def run_freshness(db: Database, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Evaluate every pipeline at once, update incidents, and write at most two alerts."""
    async with db.write() as conn:
        await exclusive(conn, "freshness")
        pipelines = (await conn.execute(_pipelines(conn.dialect.name))).all()
        open_incidents = {row.pipeline_id: row for row in (await conn.execute(_OPEN_INCIDENTS)).all()}
        evaluated = 0
        stale, fresh, unmonitored = [], [], []
        for row in pipelines:
            config = None
            if eligible(row.mute_freshness_check, row.type_mute, row.active, settings.skip_inactive_pipelines):
                config = effective_config(row.freshness_number, row.freshness_datepart, row.type_number, row.type_datepart)
            last_dml = row.last_dml  # the latest non-null of the three last_target_* (§10.3)
            if config is None or last_dml is None:
                if row.id in open_incidents:
                    unmonitored.append(open_incidents[row.id])
                continue
            evaluated += 1
            deadline = add_dateparts(last_dml, config.number, config.datepart)
            if deadline < now:
                stale.append((row, config, last_dml, deadline))
            elif row.id in open_incidents:
                fresh.append((row, last_dml, open_incidents[row.id]))

        new_rows = [
            {
                "pipeline_id": row.id, "last_dml_timestamp": last_dml, "evaluation_timestamp": now, "last_evaluated_at": now,
                "deadline": deadline, "freshness_number": config.number, "freshness_datepart": config.datepart,
                "used_child_config": config.used_child_config, "created_at": now,
            }
            for row, config, last_dml, deadline in stale
            if row.id not in open_incidents
        ]  # fmt: skip
        new_ids = iter([])
        if new_rows:
            inserted = await conn.execute(insert(log).returning(log.c.id, sort_by_parameter_order=True), new_rows)
            new_ids = iter(inserted.scalars().all())
        failing, opened, refresh = [], [], []
        for row, config, last_dml, deadline in stale:
            incident = open_incidents.get(row.id)
            if incident is None:
                incident_id = next(new_ids)
                opened.append((row, config, last_dml))
            else:
                incident_id = incident.id
                if (incident.last_dml_timestamp, incident.deadline) != (last_dml, deadline):
                    refresh.append({"incident_id": incident_id, "b_last_dml": last_dml, "b_deadline": deadline, "b_now": now})
            failing.append(
                {
                    "pipeline_id": row.id, "pipeline_name": row.name, "last_dml_timestamp": format_datetime(last_dml),
                    "deadline": format_datetime(deadline), "freshness_number": config.number,
                    "freshness_datepart": config.datepart, "used_child_config": config.used_child_config,
                    "incident_id": incident_id, "new": incident is None,
                }
            )  # fmt: skip
        if refresh:
            await conn.execute(_REFRESH, refresh)
        resolutions = [{"incident_id": i.id, "b_now": now, "b_resolution": "recovered"} for _, _, i in fresh]
        resolutions += [{"incident_id": i.id, "b_now": now, "b_resolution": "unmonitored"} for i in unmonitored]
        if resolutions:
            await conn.execute(_RESOLVE, resolutions)
        # Every incident still open belongs to a pipeline found stale by this run: one statement
        # stamps them all, instead of one update per incident.
        await conn.execute(update(log).where(log.c.resolved_at.is_(None)).values(last_evaluated_at=now))

        alerts_created = 0
        if opened:
            await record_alert(
                conn, settings, now, kind="freshness", event="opened", level="warning", title=TITLE,
                message=f"Pipeline Freshness Check - {len(opened)} NEW pipeline(s) overdue",
                details={
                    "Failed Pipelines": texts.lines(
                        [
                            f"{row.name} (ID: {row.id}): Last DML {format_datetime(last_dml)}, "
                            f"Expected within {config.number} {texts.unit(config.number, config.datepart)}"
                            for row, config, last_dml in opened
                        ]
                    ),
                    "Links": texts.lines([texts.pipeline_link(settings.public_url, row.id) for row, _, _ in opened]),
                },
                pipeline_ids=[row.id for row, _, _ in opened],
            )  # fmt: skip
            alerts_created += 1
        if fresh:
            await record_alert(
                conn, settings, now, kind="freshness", event="recovered", level="success", title=TITLE,
                message=f"Pipeline Freshness Check - {len(fresh)} pipeline(s) recovered",
                details={
                    "Recovered Pipelines": texts.lines(
                        [f"{row.name} (ID: {row.id}): Last DML {format_datetime(last_dml)}" for row, last_dml, _ in fresh]
                    ),
                    "Links": texts.lines([texts.pipeline_link(settings.public_url, row.id) for row, _, _ in fresh]),
                },
                pipeline_ids=[row.id for row, _, _ in fresh],
            )  # fmt: skip
            alerts_created += 1
    return {
        "status": "warning" if failing else "success",
        "check": "freshness",
        "evaluated_at": format_datetime(now),
        "pipelines_evaluated": evaluated,
        "failing": failing,
        "recovered": [{"pipeline_id": row.id, "pipeline_name": row.name, "incident_id": i.id} for row, _, i in fresh],
        "alerts_created": alerts_created,
    }
