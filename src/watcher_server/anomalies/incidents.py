"""Anomaly incidents: a pipeline's metric is anomalous from its first flagged run until a later run is normal.

Detection results stay one per flagged execution (contract §13.2); what changes is what people hear:
one `opened` alert when a metric turns anomalous and one `recovered` alert when it is normal again,
instead of an alert per flagged execution. Every transition happens in the transaction of the
detection (or unflag, or rule change) that caused it, under one lock per pipeline, so two executions
of a pipeline detected at once never open two incidents nor miss a recovery. "Later" means a higher
execution id (started later): detection may run out of order (backfills, the sweep, a backlog), and an
older run must not decide the metric's present state.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts import texts
from ..alerts.service import Outbox, record_alert
from ..core.rendering import render_row
from ..db.engine import Database
from ..db.filters import id_equals, one_of_parameter
from ..db.locks import exclusive, exclusive_all
from ..db.paging import Page
from ..db.upsert import dialect_insert
from ..pipelines.tables import pipeline
from ..settings import Settings
from .evaluation import Anomaly, Baseline, Rule, band
from .tables import anomaly_detection_rule as rule_table
from .tables import anomaly_incident as incident

TITLE = "Anomaly Detection"
OPEN = incident.c.resolved_at.is_(None)

IncidentState = Literal["open", "resolved"]

INCIDENT_KEYS = (
    "id", "pipeline_id", "pipeline_name", "metric_field", "rule_id", "status", "opened_execution_id",
    "last_execution_id", "resolved_execution_id", "flagged_count", "opened_at", "resolved_at", "resolution",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Normal:
    """A rule that evaluated the execution and did not fire: its metric's value and the baseline (its
    band is worked out only for a recovery, the rare case)."""

    rule: Rule
    value: float
    baseline: Baseline

    def bounds(self) -> tuple[float, float]:
        _, _, lower, upper = band(self.baseline, self.rule.z_threshold)
        return lower, upper


def lock(pipeline_id: int) -> str:
    """The lock every incident transition of a pipeline takes. Callers that also hold an execution's
    detection lock take that one first, so the two never wait on each other in a cycle."""
    return f"anomaly_incident:{pipeline_id}"


async def follow_many(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    outbox: Outbox,
    detections: Sequence[tuple[Any, Sequence[Anomaly], Sequence[Normal]]],
) -> None:
    """`follow` for a batch of detections (execution, fired, normal), in execution order. Most runs
    fire nothing on a pipeline with nothing open, so the batch takes every pipeline's lock and reads
    which have an open incident in two statements; only the rest go through `follow`."""
    pipelines = {execution.pipeline_id for execution, fired, normal in detections if fired or normal}
    if not pipelines:
        return
    await exclusive_all(conn, [lock(p) for p in pipelines])
    moving = set((await conn.execute(_with_open_incidents(conn.dialect.name), {"ids": list(pipelines)})).scalars())
    for execution, fired, normal in detections:
        if fired or execution.pipeline_id in moving:
            moving.add(execution.pipeline_id)  # what it opens, a later run of the batch may recover
            await follow(conn, settings, now, outbox, execution, fired, normal)


@functools.cache
def _with_open_incidents(dialect: str):
    """Which of the pipelines `ids` have an open incident (built once: building costs more than running)."""
    return select(incident.c.pipeline_id).where(one_of_parameter(dialect, incident.c.pipeline_id, "ids"), OPEN).distinct()


async def follow(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    outbox: Outbox,
    execution,
    fired: Sequence[Anomaly],
    normal: Sequence[Normal],
) -> None:
    """Move the pipeline's incidents on after a detection of `execution`: open one for each metric that
    fired for the first time for it (unless one is open), recover the open ones of metrics it was
    normal on. `fired` excludes rules that already had a result for it: a re-run changes nothing."""
    if not fired and not normal:
        return
    await exclusive(conn, lock(execution.pipeline_id))
    # Read after the lock: a rule deactivated or moved meanwhile has resolved its incident, and must
    # not open a new one; the open incidents are those a concurrent detection just committed.
    watched = await conn.execute(
        select(rule_table.c.id, rule_table.c.metric_field, incident.c.id.label("incident_id"), incident.c.last_execution_id)
        .outerjoin(incident, and_(incident.c.pipeline_id == rule_table.c.pipeline_id, incident.c.metric_field == rule_table.c.metric_field, OPEN))
        .where(rule_table.c.pipeline_id == execution.pipeline_id, rule_table.c.active.is_(True))
    )  # fmt: skip
    current = {(row.id, row.metric_field): row for row in watched}
    opened: list[Anomaly] = []
    for anomaly in fired:
        found = current.get((anomaly.rule.id, anomaly.rule.metric_field))
        if found is None:
            continue
        if found.incident_id is not None:
            await conn.execute(
                update(incident)
                .where(incident.c.id == found.incident_id)
                .values(
                    flagged_count=incident.c.flagged_count + 1,
                    last_execution_id=case((incident.c.last_execution_id < execution.id, execution.id), else_=incident.c.last_execution_id),
                )
            )
        elif await _opens(conn, execution, anomaly, now):
            opened.append(anomaly)
    recovered: list[tuple[Normal, Any]] = []
    for outcome in normal:
        found = current.get((outcome.rule.id, outcome.rule.metric_field))
        if found is None or found.incident_id is None or execution.id <= found.last_execution_id:
            continue
        resolved = await conn.execute(
            update(incident)
            .where(incident.c.id == found.incident_id)
            .values(resolved_at=now, resolution="recovered", resolved_execution_id=execution.id)
            .returning(incident.c.flagged_count, incident.c.opened_execution_id, incident.c.opened_at)
        )
        recovered.append((outcome, resolved.one()))
    if opened or recovered:
        name = (await conn.execute(select(pipeline.c.name).where(pipeline.c.id == execution.pipeline_id))).scalar_one()
        if opened:
            await _alert_opened(conn, settings, now, outbox, execution, name, opened)
        if recovered:
            await _alert_recovered(conn, settings, now, outbox, execution, name, recovered)


async def _opens(conn: AsyncConnection, execution, anomaly: Anomaly, now: dt.datetime) -> bool:
    """Open an incident for this anomaly, unless the execution is older than the end of the metric's
    last incident (a late detection of an old run is old news). True when it opened."""
    metric = anomaly.rule.metric_field
    last = (
        await conn.execute(
            select(func.coalesce(incident.c.resolved_execution_id, incident.c.last_execution_id))
            .where(incident.c.pipeline_id == execution.pipeline_id, incident.c.metric_field == metric)
            .order_by(incident.c.id.desc())
            .limit(1)
        )
    ).scalar()
    if last is not None and execution.id <= last:
        return False
    values = {
        "pipeline_id": execution.pipeline_id, "metric_field": metric, "rule_id": anomaly.rule.id,
        "opened_execution_id": execution.id, "last_execution_id": execution.id, "flagged_count": 1, "opened_at": now,
    }  # fmt: skip
    # The lock already makes this the only opener; the partial unique index is the last word if it did not.
    statement = (
        dialect_insert(conn.dialect.name, incident)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["pipeline_id", "metric_field"], index_where=OPEN)
        .returning(incident.c.id)
    )
    return (await conn.execute(statement)).scalar() is not None


async def unflagged(conn: AsyncConnection, pipeline_id: int, execution_id: int, metrics: list[str], now: dt.datetime) -> None:
    """After `POST /unflag_anomaly`: an open incident whose last flagged run is this execution is
    resolved as `unflagged`, without an alert (a person said the value is fine; nothing recovered).
    Unflagging an earlier run of an open incident only takes it off the incident's count."""
    await exclusive(conn, lock(pipeline_id))
    of_metrics = and_(incident.c.pipeline_id == pipeline_id, incident.c.metric_field.in_(metrics), OPEN)
    await conn.execute(
        update(incident)
        .where(of_metrics, incident.c.last_execution_id == execution_id)
        .values(resolved_at=now, resolution="unflagged", flagged_count=incident.c.flagged_count - 1)
    )
    await conn.execute(
        update(incident)
        .where(
            of_metrics,
            incident.c.opened_execution_id <= execution_id,
            incident.c.last_execution_id > execution_id,
            incident.c.flagged_count > 1,
        )
        .values(flagged_count=incident.c.flagged_count - 1)
    )


async def unmonitored(conn: AsyncConnection, pipeline_id: int, metric_field: str, now: dt.datetime) -> None:
    """A rule deactivated, or moved to another pipeline or metric, no longer watches this metric: its
    open incident ends as `unmonitored`, without an alert (as a freshness incident does, §10.3). The
    caller takes the pipeline's lock first."""
    await conn.execute(
        update(incident)
        .where(incident.c.pipeline_id == pipeline_id, incident.c.metric_field == metric_field, OPEN)
        .values(resolved_at=now, resolution="unmonitored")
    )


async def list_incidents(
    db: Database,
    page: Page,
    pipeline_id: int | None,
    metric_field: str | None,
    status: IncidentState | None,
    since: dt.datetime | None,
) -> list[dict[str, Any]]:
    statement = select(incident, pipeline.c.name.label("pipeline_name")).join(pipeline, pipeline.c.id == incident.c.pipeline_id)
    if pipeline_id is not None:
        statement = statement.where(id_equals(incident.c.pipeline_id, pipeline_id))
    if metric_field is not None:
        statement = statement.where(incident.c.metric_field == metric_field)
    if status is not None:
        statement = statement.where(OPEN if status == "open" else incident.c.resolved_at.is_not(None))
    if since is not None:
        statement = statement.where(incident.c.opened_at >= since)
    rows = await page.fetch(db, statement, incident.c.id)
    return [render_row(r, INCIDENT_KEYS, status="open" if r.resolved_at is None else "resolved") for r in rows]


async def _alert_opened(
    conn: AsyncConnection, settings: Settings, now: dt.datetime, outbox: Outbox, execution, name: str, opened: Sequence[Anomaly]
) -> None:
    """One alert for the metrics that turned anomalous with this execution: each with its value, z-score and band."""
    await record_alert(
        conn, settings, now, outbox, kind="anomaly", event="opened", level="warning", title=TITLE,
        message=f"Anomalies Detected for Pipeline '{name}' (ID: {execution.pipeline_id}) - Execution ID {execution.id} flagged",
        details={
            "Total Anomalies": len(opened),
            "Metrics": [anomaly.rule.metric_field for anomaly in opened],
            "Anomalies": texts.lines(
                [
                    f"{a.rule.metric_field}: {plain(a.value)} (Range: {_range(a.verdict.lower, a.verdict.upper)}, "
                    f"z-score: {_z_score(a.verdict.z_score)})"
                    for a in opened
                ]
            ),
        },
        pipeline_ids=[execution.pipeline_id], execution_ids=[execution.id],
    )  # fmt: skip


async def _alert_recovered(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    outbox: Outbox,
    execution,
    name: str,
    recovered: Sequence[tuple[Normal, Any]],
) -> None:
    """One alert for the metrics this execution found normal again: each with its value, band, and
    how many flagged runs and how long it had been anomalous."""
    await record_alert(
        conn, settings, now, outbox, kind="anomaly", event="recovered", level="success", title=TITLE,
        message=f"Anomalies Recovered for Pipeline '{name}' (ID: {execution.pipeline_id}) - Execution ID {execution.id} within range",
        details={
            "Total Recovered": len(recovered),
            "Metrics": [outcome.rule.metric_field for outcome, _ in recovered],
            "Recovered": texts.lines(
                [
                    f"{o.rule.metric_field}: {plain(o.value)} (Range: {_range(*o.bounds())}), anomalous since Execution ID "
                    f"{i.opened_execution_id} for {i.flagged_count} {texts.unit(i.flagged_count, 'flagged run')} "
                    f"over {_elapsed(now - i.opened_at)}"
                    for o, i in recovered
                ]
            ),
        },
        pipeline_ids=[execution.pipeline_id],
        execution_ids=list(dict.fromkeys([*(i.opened_execution_id for _, i in recovered), execution.id])),
    )  # fmt: skip


def plain(value: float) -> str:
    """Whole numbers without a trailing .0, as people write counts."""
    return str(int(value)) if math.isfinite(value) and value == int(value) else str(value)


def _range(lower: float, upper: float) -> str:
    return f"{lower:.0f} - {upper:.0f}"  # rounded to 0 decimals, as the contract's anomaly alert (§12.2)


def _z_score(z_score: float | None) -> str:
    return "n/a (no spread in the baseline)" if z_score is None else f"{z_score:.2f}"


def _elapsed(elapsed: dt.timedelta) -> str:
    """In minutes, hours or days, whichever reads naturally."""
    seconds = max(0, int(elapsed.total_seconds()))
    datepart = "minute" if seconds < 3600 else "hour" if seconds < 86_400 else "day"
    return texts.duration_in(seconds, datepart)
