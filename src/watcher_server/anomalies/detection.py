"""Anomaly detection for one successful execution (contract §13.2-13.4)."""

from __future__ import annotations

import collections
import datetime as dt
import math
import statistics
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts.service import Outbox, record_alert
from ..alerts.texts import lines
from ..core.errors import NotFound
from ..core.ids import fits_int64
from ..core.rendering import render_row
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.locks import exclusive
from ..db.paging import Page
from ..executions.service import EXECUTION_NOT_FOUND
from ..executions.tables import pipeline_execution as pe
from ..pipelines.tables import pipeline
from ..settings import Settings
from .tables import anomaly_detection_result as result
from .tables import anomaly_detection_rule as rule

SEASON_COLUMN = {"hour_of_day": "hour_recorded", "day_of_week": "weekday_recorded"}


def evaluate(value: float, baseline: list[float], z: float, direction: str) -> dict[str, Any] | None:
    """The z-score rule: None when the value is inside the band (or fires in the other direction)."""
    mean = statistics.fmean(baseline)
    sd = statistics.stdev(baseline) if len(baseline) > 1 else 0.0
    if sd > 0:
        lower, upper, z_score = max(0.0, mean - z * sd), mean + z * sd, (value - mean) / sd
        kind = "spike" if value > upper else "drop" if value < lower else None
    else:
        lower = upper = mean
        z_score = None
        kind = "spike" if value > mean else "drop" if value < mean else None
    if kind is None or (direction != "both" and direction != kind):
        return None
    return {"kind": kind, "mean": mean, "sd": sd, "lower": lower, "upper": upper, "z_score": z_score}


def _number(value) -> float | None:
    return None if value is None else float(value)


async def _baselines(conn: AsyncConnection, execution, rules, now: dt.datetime) -> dict[int, list[float]]:
    """Each rule's baseline: the pipeline's other successful runs that ended within the rule's
    lookback (in the same season), with a value, not flagged for that metric. Rules sharing a
    lookback and seasonality share one query (six rules on one pipeline: one round trip)."""
    groups: dict[tuple[int, str | None], list] = collections.defaultdict(list)
    for active_rule in rules:
        groups[(active_rule.lookback_days, SEASON_COLUMN.get(active_rule.seasonality))].append(active_rule)
    baselines = {}
    for (lookback_days, season), members in groups.items():
        metrics = list(dict.fromkeys(member.metric_field for member in members))
        statement = select(pe.c.anomaly_flags, *(pe.c[m] for m in metrics)).where(
            pe.c.pipeline_id == execution.pipeline_id,
            pe.c.id != execution.id,
            pe.c.completed_successfully.is_(True),
            pe.c.end_date.is_not(None),
            pe.c.end_date >= now - dt.timedelta(days=lookback_days),
        )
        if season is not None:
            statement = statement.where(pe.c[season] == getattr(execution, season))
        rows = (await conn.execute(statement)).all()
        for member in members:
            column = metrics.index(member.metric_field) + 1
            baselines[member.id] = [
                float(row[column]) for row in rows if row[column] is not None and (row[0] or {}).get(member.metric_field) is not True
            ]
    return baselines


def pending_detection(pipelines: list[int], since: dt.datetime) -> Select:
    """Successful executions of these pipelines, ended since `since`, whose detection has not run
    (their trigger was lost, or is still queued): (id, end_date) by id."""
    return (
        select(pe.c.id, pe.c.end_date)
        .where(pe.c.completed_successfully.is_(True), pe.c.anomaly_checked_at.is_(None))
        .where(pe.c.end_date >= since, pe.c.pipeline_id.in_(pipelines))
        .order_by(pe.c.id)
    )


async def detect(db: Database, settings: Settings, execution_id: int, now: dt.datetime, outbox: Outbox) -> dict[str, Any]:
    if not fits_int64(execution_id):
        raise NotFound(EXECUTION_NOT_FOUND)
    async with db.write() as conn:
        await exclusive(conn, f"anomaly:{execution_id}")
        execution = (await conn.execute(select(pe).where(pe.c.id == execution_id))).first()
        if execution is None:
            raise NotFound(EXECUTION_NOT_FOUND)
        base = {"pipeline_execution_id": execution.id, "pipeline_id": execution.pipeline_id, "anomalies": [], "skipped_rules": []}
        if execution.completed_successfully is not True:
            return {"status": "skipped", "reason": "execution is not a successfully completed execution", **base}
        rules = (
            await conn.execute(select(rule).where(rule.c.pipeline_id == execution.pipeline_id, rule.c.active.is_(True)).order_by(rule.c.id))
        ).all()
        if not rules:
            await conn.execute(update(pe).where(pe.c.id == execution.id).values(anomaly_checked_at=now))
            return {"status": "skipped", "reason": "pipeline has no active anomaly detection rule", **base}
        already = set((await conn.execute(select(result.c.rule_id).where(result.c.pipeline_execution_id == execution.id))).scalars())
        flags = dict(execution.anomaly_flags or {})
        anomalies, skipped, first_time = [], [], []
        baselines = await _baselines(conn, execution, [r for r in rules if getattr(execution, r.metric_field) is not None], now)
        for active_rule in rules:
            value = _number(getattr(execution, active_rule.metric_field))
            if value is None:
                skipped.append({"rule_id": active_rule.id, "metric_field": active_rule.metric_field, "reason": "no_value"})
                continue
            baseline = baselines[active_rule.id]
            if len(baseline) < active_rule.minimum_executions:
                skipped.append({"rule_id": active_rule.id, "metric_field": active_rule.metric_field, "reason": "insufficient_history"})
                continue
            z = float(active_rule.z_threshold)
            fired = evaluate(value, baseline, z, active_rule.direction)
            if fired is None:
                continue
            row = {
                "pipeline_execution_id": execution.id, "rule_id": active_rule.id, "pipeline_id": execution.pipeline_id,
                "metric_field": active_rule.metric_field, "direction": active_rule.direction,
                "seasonality": active_rule.seasonality, "violation_value": value, "z_score": fired["z_score"],
                "historical_mean": fired["mean"], "std_deviation_value": fired["sd"], "z_threshold": z,
                "threshold_min_value": fired["lower"], "threshold_max_value": fired["upper"],
                "context": {
                    "lookback_days": active_rule.lookback_days, "minimum_executions": active_rule.minimum_executions,
                    "execution_count": len(baseline),
                    "season_value": getattr(execution, SEASON_COLUMN[active_rule.seasonality]) if active_rule.seasonality in SEASON_COLUMN else None,
                    "anomaly_type": fired["kind"],
                },
                "detected_at": now,
            }  # fmt: skip
            await conn.execute(delete(result).where(result.c.pipeline_execution_id == execution.id, result.c.rule_id == active_rule.id))
            await conn.execute(insert(result).values(**row))
            flags[active_rule.metric_field] = True
            anomalies.append(row)
            if active_rule.id not in already:
                first_time.append(row)
        await conn.execute(
            update(pe).where(pe.c.id == execution.id).values(anomaly_flags=flags or execution.anomaly_flags, anomaly_checked_at=now)
        )
        if first_time:
            name = (await conn.execute(select(pipeline.c.name).where(pipeline.c.id == execution.pipeline_id))).scalar_one()
            await record_alert(
                conn, settings, now, outbox, kind="anomaly", event="anomaly", level="warning", title="Anomaly Detection",
                message=f"Anomalies Detected for Pipeline '{name}' (ID: {execution.pipeline_id}) - Execution ID {execution.id} flagged",
                details={
                    "Total Anomalies": len(first_time),
                    "Metrics": [row["metric_field"] for row in first_time],
                    "Anomalies": lines(
                        [f"{row['metric_field']}: {_plain(row['violation_value'])} (Range: {row['threshold_min_value']:.0f} - {row['threshold_max_value']:.0f})"
                         for row in first_time]
                    ),
                },
                pipeline_ids=[execution.pipeline_id], execution_ids=[execution.id],
            )  # fmt: skip
    return {
        "status": "warning" if anomalies else "success",
        **base,
        "anomalies": [render_result(row) for row in anomalies],
        "skipped_rules": skipped,
    }


def _plain(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else str(value)


RESULT_KEYS = (
    "pipeline_execution_id", "rule_id", "pipeline_id", "metric_field", "direction", "seasonality",
    "violation_value", "z_score", "historical_mean", "std_deviation_value", "z_threshold",
    "threshold_min_value", "threshold_max_value", "context", "detected_at",
)  # fmt: skip


def render_result(row) -> dict[str, Any]:
    return render_row(row, RESULT_KEYS)


async def list_results(db: Database, paging: Page, filters: dict[str, Any]) -> list:
    statement = select(result)
    for column in ("pipeline_id", "pipeline_execution_id", "rule_id"):
        if filters.get(column) is not None:
            statement = statement.where(id_equals(result.c[column], filters[column]))
    if filters.get("metric_field") is not None:
        statement = statement.where(result.c.metric_field == filters["metric_field"])
    if filters.get("since") is not None:
        statement = statement.where(result.c.detected_at >= filters["since"])
    descending = paging.order == "desc"
    keys = (
        (result.c.pipeline_execution_id.desc(), result.c.rule_id.desc())
        if descending
        else (result.c.pipeline_execution_id, result.c.rule_id)
    )
    statement = statement.order_by(*keys).limit(paging.limit).offset(paging.offset)
    async with db.read() as conn:
        return (await conn.execute(statement)).all()


async def unflag(db: Database, pipeline_id: int, execution_id: int, metrics: list[str]) -> None:
    missing = f"Pipeline execution {execution_id} not found"
    if not fits_int64(execution_id):
        raise NotFound(missing)
    async with db.write() as conn:
        await exclusive(conn, f"anomaly:{execution_id}")
        execution = (await conn.execute(select(pe.c.pipeline_id, pe.c.anomaly_flags).where(pe.c.id == execution_id))).first()
        if execution is None or execution.pipeline_id != pipeline_id:
            raise NotFound(missing)
        flags = dict(execution.anomaly_flags or {})
        if not flags:
            raise NotFound(f"No anomaly flags found for execution {execution_id}")
        flagged = [m for m in dict.fromkeys(metrics) if flags.get(m) is True]
        if not flagged:
            raise NotFound(f"None of the requested metrics {list(dict.fromkeys(metrics))} are currently flagged")
        flags.update({m: False for m in flagged})
        await conn.execute(update(pe).where(pe.c.id == execution_id).values(anomaly_flags=flags))
        await conn.execute(delete(result).where(result.c.pipeline_execution_id == execution_id, result.c.metric_field.in_(flagged)))
