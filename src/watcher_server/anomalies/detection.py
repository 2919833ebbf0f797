"""Anomaly detection for successful executions, one or a batch at a time (contract §13.2-13.3): read,
evaluate, persist, alert.

The z-score rule lives in evaluation.py and sees plain values only. This module reads what it needs
(the baselines reduced to count, mean and deviation by the database), writes what it concluded (result
rows, flags, anomaly_checked_at) and moves the pipelines' anomaly incidents on (incidents.py: they, not
each flagged execution, raise the alerts), all in one transaction under the executions' row locks.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Double, Select, and_, bindparam, case, cast, delete, false, func, insert, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..alerts.service import Outbox
from ..core.errors import NotFound
from ..core.ids import fits_int64
from ..db.engine import Database
from ..db.filters import id_equals, one_of_parameter
from ..db.locks import locking_rows
from ..executions.service import EXECUTION_NOT_FOUND
from ..executions.tables import pipeline_execution as pe
from ..settings import Settings
from . import incidents
from .evaluation import SEASON_COLUMN, Anomaly, Baseline, Evaluation, Execution, Rule, Skipped, evaluate_rules
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


async def unknown_executions(db: Database, execution_ids: set[int]) -> list[int]:
    """Which of these ids no execution has, in order."""
    if not execution_ids:
        return []
    async with db.read() as conn:
        found = set(
            (
                await conn.execute(select(pe.c.id).where(one_of_parameter(conn.dialect.name, pe.c.id, "ids")), {"ids": list(execution_ids)})
            ).scalars()
        )
    return sorted(execution_ids - found)


async def detect(db: Database, settings: Settings, execution_id: int, now: dt.datetime, outbox: Outbox) -> dict[str, Any]:
    """Detection for one execution (POST /detect_anomalies, scale-out jobs): its outcome (§13.3)."""
    if not fits_int64(execution_id):
        raise NotFound(EXECUTION_NOT_FOUND)
    outcomes = await detect_many(db, settings, [execution_id], now, outbox)
    if not outcomes:
        raise NotFound(EXECUTION_NOT_FOUND)
    return outcomes[0]


async def detect_many(
    db: Database, settings: Settings, execution_ids: Sequence[int], now: dt.datetime, outbox: Outbox, only_pending: bool = False
) -> list[dict[str, Any]]:
    """Detection for each of these executions (unknown ids are left out), in one transaction and a
    handful of statements whatever their number: the queued ends are checked in batches, so detection
    keeps up with a sustained stream of them. With `only_pending`, an execution another run already
    checked is left alone (a sweep and a trigger may queue the same one)."""
    async with db.write() as conn:
        # Row locks serialise the runs for one execution (and unflag, which takes the same lock), so
        # re-runs and duplicate jobs are idempotent (§13.2.7); taken in id order, so batches never deadlock.
        found = await conn.execute(_statement(conn, "lock"), {"ids": list(execution_ids)})
        executions = [e for e in found if not (only_pending and e.anomaly_checked_at is not None)]
        succeeded = [e for e in executions if e.completed_successfully is True]
        rules = await _active_rules(conn, {e.pipeline_id for e in succeeded})
        watched = [e for e in succeeded if rules.get(e.pipeline_id)]
        already = await _rules_with_results(conn, [e.id for e in watched])
        subjects = {e.id: _subject(e) for e in watched}
        checked = [e.id for e in succeeded if not rules.get(e.pipeline_id)]
        done: dict[int, tuple[list, Evaluation]] = {}
        followed = []
        for round_ in _rounds(watched):
            # A round holds one run per pipeline; what a round flags is left out of the next round's
            # baselines, as if the runs had been checked one after another.
            baselines = await baseline_statistics(conn, [(e, subjects[e.id], rules[e.pipeline_id]) for e in round_], now)
            for execution in round_:
                subject, own_rules = subjects[execution.id], rules[execution.pipeline_id]
                own = {rule.id: baselines[(execution.id, rule.id)] for rule in own_rules if (execution.id, rule.id) in baselines}
                evaluation = evaluate_rules(subject, own_rules, own)
                rows = await _persist(conn, execution, evaluation.anomalies, now) if evaluation.anomalies else []
                if not rows:
                    checked.append(execution.id)
                done[execution.id] = (rows, evaluation)
                first_time = [anomaly for anomaly in evaluation.anomalies if anomaly.rule.id not in already.get(execution.id, ())]
                followed.append((execution, first_time, _normal(subject, own_rules, own, evaluation)))
        outcomes = []
        for execution in executions:
            base = {"pipeline_execution_id": execution.id, "pipeline_id": execution.pipeline_id, "anomalies": [], "skipped_rules": []}
            if execution.completed_successfully is not True:
                outcomes.append({"status": "skipped", "reason": NOT_SUCCESSFUL, **base})
            elif execution.id not in done:
                outcomes.append({"status": "skipped", "reason": NO_ACTIVE_RULE, **base})
            else:
                rows, evaluation = done[execution.id]
                outcomes.append({
                    "status": "warning" if rows else "success", **base,
                    "anomalies": [render_result(row) for row in rows],
                    "skipped_rules": [_render_skipped(skipped) for skipped in evaluation.skipped],
                })  # fmt: skip
        if checked:
            await conn.execute(_statement(conn, "stamp"), {"ids": checked, "checked_at": now})
        await incidents.follow_many(conn, settings, now, outbox, sorted(followed, key=lambda item: item[0].id))
    return outcomes


def _rounds(executions: Sequence[Any]) -> list[list[Any]]:
    """The executions (in id order) dealt into rounds with at most one run of each pipeline: a
    pipeline's k-th run goes in round k."""
    rounds: list[list[Any]] = []
    seen: collections.Counter[int] = collections.Counter()
    for execution in executions:
        k = seen[execution.pipeline_id]
        seen[execution.pipeline_id] += 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(execution)
    return rounds


def _statement(conn: AsyncConnection, name: str):
    return _statements(conn.dialect.name)[name]


@functools.cache
def _statements(dialect: str) -> dict[str, Any]:
    """Detection's fixed statements, built once per dialect (building one costs more than running it);
    each takes its id list as parameter `ids`."""
    rule = anomaly_detection_rule
    return {
        # row locks, taken in id order so two batches never deadlock
        "lock": locking_rows(select(pe).where(one_of_parameter(dialect, pe.c.id, "ids")).order_by(pe.c.id)),
        "rules": select(rule).where(one_of_parameter(dialect, rule.c.pipeline_id, "ids"), rule.c.active.is_(True)).order_by(rule.c.id),
        "results": select(result.c.pipeline_execution_id, result.c.rule_id).where(
            one_of_parameter(dialect, result.c.pipeline_execution_id, "ids")
        ),
        "stamp": update(pe).where(one_of_parameter(dialect, pe.c.id, "ids")).values(anomaly_checked_at=bindparam("checked_at")),
    }


async def _active_rules(conn: AsyncConnection, pipeline_ids: set[int]) -> dict[int, list[Rule]]:
    """Each pipeline's active rules, in rule order."""
    if not pipeline_ids:
        return {}
    rules: dict[int, list[Rule]] = collections.defaultdict(list)
    for row in await conn.execute(_statement(conn, "rules"), {"ids": list(pipeline_ids)}):
        rules[row.pipeline_id].append(
            Rule(
                row.id, row.metric_field, float(row.z_threshold), row.lookback_days, row.minimum_executions, row.direction, row.seasonality
            )
        )
    return rules


async def _rules_with_results(conn: AsyncConnection, execution_ids: list[int]) -> dict[int, set[int]]:
    """The rules that already fired for each execution: they are not alerted again (§13.2.7)."""
    fired: dict[int, set[int]] = collections.defaultdict(set)
    if execution_ids:
        for row in await conn.execute(_statement(conn, "results"), {"ids": execution_ids}):
            fired[row.pipeline_execution_id].add(row.rule_id)
    return fired


def _subject(execution) -> Execution:
    return Execution(
        {metric: _number(getattr(execution, metric)) for metric in METRICS}, execution.hour_recorded, execution.weekday_recorded
    )


def _number(value) -> float | None:
    # Float64 throughout, so counts up to 2^63 never overflow (§13.2.3).
    return None if value is None else float(value)


async def baseline_statistics(
    conn: AsyncConnection, subjects: Sequence[tuple[Any, Execution, Sequence[Rule]]], now: dt.datetime
) -> dict[tuple[int, int], Baseline]:
    """Each (execution, rule)'s baseline (§13.2 step 1): the pipeline's other successful runs that
    ended within the rule's lookback, in the same season, with a value, not flagged for the metric.
    The database reduces them to count, mean and sample deviation, so no history crosses the wire:
    one statement for all the executions whose rules share a lookback and seasonality (with default
    rules, one statement per batch). Rules on a metric the execution has no value for need none."""
    groups: dict[tuple[int, str], list[tuple[Any, list[Rule]]]] = collections.defaultdict(list)
    for execution, subject, rules in subjects:
        by_group: dict[tuple[int, str], list[Rule]] = collections.defaultdict(list)
        for rule in rules:
            if subject.values[rule.metric_field] is not None:
                by_group[(rule.lookback_days, rule.seasonality)].append(rule)
        for key, members in by_group.items():
            groups[key].append((execution, members))
    baselines: dict[tuple[int, int], Baseline] = {}
    for (lookback_days, seasonality), members in groups.items():
        metrics = list(dict.fromkeys(rule.metric_field for _, rules in members for rule in rules))
        statement = baseline_statement(conn.dialect.name, tuple(metrics), seasonality)
        parameters = {"ids": [e.id for e, _ in members], "since": now - dt.timedelta(days=lookback_days)}
        found = {row.subject: row for row in await conn.execute(statement, parameters)}
        for execution, rules in members:
            row = found.get(execution.id)
            for rule in rules:
                baselines[(execution.id, rule.id)] = _baseline(row, rule.metric_field)
    return baselines


@functools.lru_cache(maxsize=256)
def baseline_statement(dialect: str, metrics: tuple[str, ...], seasonality: str) -> Select:
    """Built once per dialect, metrics and seasonality; parameters `ids` (the executions) and `since`
    (the start of the lookback). One row per execution that has any baseline: `subject` (its id), then per metric m `n_m`,
    `mean_m`, `min_m` and `max_m` from a first pass over the baseline runs, and from a second pass over
    the same runs the sum of the deviations from that mean (`shift_m`) and of their squares (`ss_m`).
    This is the corrected two-pass formula: the first pass's mean may be off by the rounding of a plain
    sum, and the sum of deviations corrects it, so the deviation stays accurate even for values near
    2^62 with a spread of a few units (one-pass running sums lose it there).

    The baseline runs are read once: each run's value of each metric, or null when it does not count (no
    value, or flagged for the metric), with the mean of its execution's counted values beside it (a
    window over the execution's runs). One grouping then gives both passes, so the history is scanned
    once and each run's flags are looked at once per metric, not once per aggregate."""
    subject = select(pe.c.id, pe.c.pipeline_id, pe.c.hour_recorded, pe.c.weekday_recorded)
    subject = subject.where(one_of_parameter(dialect, pe.c.id, "ids")).cte("subject")
    history = pe.alias("history")
    same = [
        history.c.pipeline_id == subject.c.pipeline_id,
        history.c.id != subject.c.id,
        history.c.completed_successfully.is_(True),
        history.c.end_date >= bindparam("since", type_=pe.c.end_date.type),
    ]
    season = SEASON_COLUMN.get(seasonality)
    if season is not None:
        same.append(history.c[season] == subject.c[season])

    def kept(metric: str):
        # a NULL map (almost every run) is decided without looking inside the JSON
        flagged = func.coalesce(history.c.anomaly_flags[metric].as_boolean(), false())
        return case(
            (and_(history.c[metric].is_not(None), or_(history.c.anomaly_flags.is_(None), not_(flagged))), cast(history.c[metric], Double))
        )

    values = select(subject.c.id.label("subject"), *(kept(metric).label(metric) for metric in metrics))
    values = values.select_from(subject.join(history, and_(*same))).subquery("baseline_values")
    means = [func.avg(values.c[metric]).over(partition_by=values.c.subject).label(f"mean_{metric}") for metric in metrics]
    runs = select(values, *means).subquery("baseline_runs")
    columns = []
    for metric in metrics:
        value, mean = runs.c[metric], runs.c[f"mean_{metric}"]
        deviation = value - mean
        columns += [
            func.count(value).label(f"n_{metric}"), func.max(mean).label(f"mean_{metric}"),
            func.min(value).label(f"min_{metric}"), func.max(value).label(f"max_{metric}"),
            func.sum(deviation).label(f"shift_{metric}"), func.sum(deviation * deviation).label(f"ss_{metric}"),
        ]  # fmt: skip
    return select(runs.c.subject, *columns).group_by(runs.c.subject)


def _baseline(row, metric: str) -> Baseline:
    count = 0 if row is None else row._mapping[f"n_{metric}"]
    if not count:
        return Baseline(0, math.nan, 0.0)
    fields = row._mapping
    low, high = float(fields[f"min_{metric}"]), float(fields[f"max_{metric}"])
    if low == high:  # no spread: exactly, whatever rounding the sums saw
        return Baseline(count, low, 0.0)
    first_mean, shift, squares = float(fields[f"mean_{metric}"]), float(fields[f"shift_{metric}"]), float(fields[f"ss_{metric}"])
    variance = (squares - shift * shift / count) / (count - 1)
    return Baseline(count, first_mean + shift / count, math.sqrt(max(0.0, variance)))


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


def _normal(subject: Execution, rules: Sequence[Rule], baselines: dict[int, Baseline], evaluation: Evaluation) -> list[incidents.Normal]:
    """The rules that evaluated E and did not fire (neither skipped nor an anomaly), with E's value
    and the baseline it was measured against: what recovers an incident."""
    decided = {anomaly.rule.id for anomaly in evaluation.anomalies} | {skipped.rule_id for skipped in evaluation.skipped}
    return [incidents.Normal(r, subject.values[r.metric_field], baselines[r.id]) for r in rules if r.id not in decided]
