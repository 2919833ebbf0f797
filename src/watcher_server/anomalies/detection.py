"""Anomaly detection for one successful execution (contract §13.2-13.3): read, evaluate, persist, alert.

The z-score rule lives in evaluation.py and sees plain values only. This module reads what it needs,
writes what it concluded (result rows, flags, anomaly_checked_at) and moves the pipeline's anomaly
incidents on (incidents.py: they, not each flagged execution, raise the alerts), all in one
transaction under the execution's lock.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts.service import Outbox
from ..core.errors import NotFound
from ..core.ids import fits_int64
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.locks import exclusive
from ..executions.service import EXECUTION_NOT_FOUND
from ..executions.tables import pipeline_execution as pe
from ..settings import Settings
from . import incidents
from .evaluation import Anomaly, Evaluation, Execution, Rule, Season, Skipped, evaluate_rules
from .results import render_result
from .tables import anomaly_detection_result as result
from .tables import anomaly_detection_rule
from .vocabulary import METRICS

NOT_SUCCESSFUL = "execution is not a successfully completed execution"
NO_ACTIVE_RULE = "pipeline has no active anomaly detection rule"


def pending_detection(pipelines: list[int], since: dt.datetime) -> Select:
    """Successful executions of these pipelines, ended since `since`, whose detection has not run
    (their trigger was lost, or is still queued): (id, end_date) by id."""
    return (
        select(pe.c.id, pe.c.end_date)
        .where(pe.c.completed_successfully.is_(True), pe.c.anomaly_checked_at.is_(None))
        .where(pe.c.end_date >= since, pe.c.pipeline_id.in_(pipelines))
        .order_by(pe.c.id)
    )


async def require_execution(db: Database, execution_id: int) -> None:
    """NotFound unless the execution exists: a detection queued for nothing would only fail later, unseen."""
    async with db.single_statement(writes=False) as conn:
        if (await conn.execute(select(pe.c.id).where(id_equals(pe.c.id, execution_id)))).first() is None:
            raise NotFound(EXECUTION_NOT_FOUND)


async def detect(db: Database, settings: Settings, execution_id: int, now: dt.datetime, outbox: Outbox) -> dict[str, Any]:
    if not fits_int64(execution_id):
        raise NotFound(EXECUTION_NOT_FOUND)
    async with db.write() as conn:
        # Runs for one execution are serialised, so re-runs and duplicate jobs are idempotent (§13.2.7).
        await exclusive(conn, f"anomaly:{execution_id}")
        execution = (await conn.execute(select(pe).where(pe.c.id == execution_id))).first()
        if execution is None:
            raise NotFound(EXECUTION_NOT_FOUND)
        base = {"pipeline_execution_id": execution.id, "pipeline_id": execution.pipeline_id, "anomalies": [], "skipped_rules": []}
        if execution.completed_successfully is not True:
            return {"status": "skipped", "reason": NOT_SUCCESSFUL, **base}
        rules = await _active_rules(conn, execution.pipeline_id)
        if not rules:
            await conn.execute(update(pe).where(pe.c.id == execution.id).values(anomaly_checked_at=now))
            return {"status": "skipped", "reason": NO_ACTIVE_RULE, **base}
        already = await _rules_with_results(conn, execution.id)
        subject = _subject(execution)
        baselines = await _baselines(conn, execution, subject, [r for r in rules if subject.values[r.metric_field] is not None], now)
        evaluation = evaluate_rules(subject, rules, baselines)
        rows = await _persist(conn, execution, evaluation.anomalies, now)
        first_time = [anomaly for anomaly in evaluation.anomalies if anomaly.rule.id not in already]
        normal = _normal(subject, rules, baselines, evaluation)
        await incidents.follow(conn, settings, now, outbox, execution, first_time, normal)
    return {
        "status": "warning" if rows else "success",
        **base,
        "anomalies": [render_result(row) for row in rows],
        "skipped_rules": [_render_skipped(skipped) for skipped in evaluation.skipped],
    }


async def _active_rules(conn: AsyncConnection, pipeline_id: int) -> list[Rule]:
    statement = (
        select(anomaly_detection_rule)
        .where(anomaly_detection_rule.c.pipeline_id == pipeline_id, anomaly_detection_rule.c.active.is_(True))
        .order_by(anomaly_detection_rule.c.id)
    )
    return [
        Rule(row.id, row.metric_field, float(row.z_threshold), row.lookback_days, row.minimum_executions, row.direction, row.seasonality)
        for row in await conn.execute(statement)
    ]


async def _rules_with_results(conn: AsyncConnection, execution_id: int) -> set[int]:
    """The rules that already fired for this execution: they are not alerted again (§13.2.7)."""
    return set((await conn.execute(select(result.c.rule_id).where(result.c.pipeline_execution_id == execution_id))).scalars())


def _subject(execution) -> Execution:
    return Execution(
        {metric: _number(getattr(execution, metric)) for metric in METRICS}, execution.hour_recorded, execution.weekday_recorded
    )


def _number(value) -> float | None:
    # Float64 throughout, so counts up to 2^63 never overflow (§13.2.3).
    return None if value is None else float(value)


async def _baselines(
    conn: AsyncConnection, execution, subject: Execution, rules: Sequence[Rule], now: dt.datetime
) -> dict[int, list[float]]:
    """Each rule's baseline: the pipeline's other successful runs that ended within the rule's
    lookback (in the same season), with a value, not flagged for that metric. Rules sharing a
    lookback and season share one query (six rules on one pipeline: one round trip)."""
    groups: dict[tuple[int, Season | None], list[Rule]] = collections.defaultdict(list)
    for rule in rules:
        groups[(rule.lookback_days, subject.season(rule.seasonality))].append(rule)
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
            statement = statement.where(pe.c[season.column] == season.value)
        rows = (await conn.execute(statement)).all()
        for member in members:
            column = metrics.index(member.metric_field) + 1
            baselines[member.id] = [
                float(row[column]) for row in rows if row[column] is not None and (row[0] or {}).get(member.metric_field) is not True
            ]
    return baselines


async def _persist(conn: AsyncConnection, execution, anomalies: Sequence[Anomaly], now: dt.datetime) -> list[dict[str, Any]]:
    """Upsert each fired rule's result row, merge its flag into E's anomaly_flags (other keys kept,
    §13.2.6) and stamp E as checked, so the sweep leaves it alone. Returns the rows written."""
    flags = dict(execution.anomaly_flags or {})
    rows = []
    for anomaly in anomalies:
        row = _result_row(execution, anomaly, now)
        await conn.execute(delete(result).where(result.c.pipeline_execution_id == execution.id, result.c.rule_id == anomaly.rule.id))
        await conn.execute(insert(result).values(**row))
        flags[anomaly.rule.metric_field] = True
        rows.append(row)
    # Flags that were null stay null when nothing fired, rather than becoming an empty map.
    await conn.execute(
        update(pe).where(pe.c.id == execution.id).values(anomaly_flags=flags or execution.anomaly_flags, anomaly_checked_at=now)
    )
    return rows


def _result_row(execution, anomaly: Anomaly, now: dt.datetime) -> dict[str, Any]:
    rule, verdict = anomaly.rule, anomaly.verdict
    return {
        "pipeline_execution_id": execution.id, "rule_id": rule.id, "pipeline_id": execution.pipeline_id,
        "metric_field": rule.metric_field, "direction": rule.direction,
        "seasonality": rule.seasonality, "violation_value": anomaly.value, "z_score": verdict.z_score,
        "historical_mean": verdict.mean, "std_deviation_value": verdict.sd, "z_threshold": rule.z_threshold,
        "threshold_min_value": verdict.lower, "threshold_max_value": verdict.upper,
        "context": {
            "lookback_days": rule.lookback_days, "minimum_executions": rule.minimum_executions,
            "execution_count": anomaly.execution_count, "season_value": anomaly.season_value, "anomaly_type": verdict.kind,
        },
        "detected_at": now,
    }  # fmt: skip


def _render_skipped(skipped: Skipped) -> dict[str, Any]:
    return {"rule_id": skipped.rule_id, "metric_field": skipped.metric_field, "reason": skipped.reason}


def _normal(subject: Execution, rules: Sequence[Rule], baselines: dict[int, list[float]], evaluation: Evaluation) -> list[incidents.Normal]:
    """The rules that evaluated E and did not fire (neither skipped nor an anomaly), with E's value
    and the baseline it was measured against: what recovers an incident."""
    decided = {anomaly.rule.id for anomaly in evaluation.anomalies} | {skipped.rule_id for skipped in evaluation.skipped}
    return [incidents.Normal(r, subject.values[r.metric_field], baselines[r.id]) for r in rules if r.id not in decided]
