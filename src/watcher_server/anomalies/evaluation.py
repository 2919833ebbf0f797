"""The z-score rule over plain values (contract §13.2 steps 2-5): no database, no clock, no I/O.

Detection reads an execution, its active rules and their baselines; everything it concludes from
them is decided here, so every formula and boundary can be tested on numbers alone.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SEASON_COLUMN = {"hour_of_day": "hour_recorded", "day_of_week": "weekday_recorded"}

NO_VALUE = "no_value"
INSUFFICIENT_HISTORY = "insufficient_history"


@dataclass(frozen=True, slots=True)
class Rule:
    """An active rule, as the z-score rule needs it (z_threshold already a float)."""

    id: int
    metric_field: str
    z_threshold: float
    lookback_days: int
    minimum_executions: int
    direction: str
    seasonality: str


@dataclass(frozen=True, slots=True)
class Season:
    """The execution column a baseline run must share with E, and E's value of it."""

    column: str
    value: int


@dataclass(frozen=True, slots=True)
class Execution:
    """What the rule needs of E: its metric values (floats; None when missing) and when it ran."""

    values: Mapping[str, float | None]
    hour_recorded: int
    weekday_recorded: int

    def season(self, seasonality: str) -> Season | None:
        return season_of(seasonality, self.hour_recorded, self.weekday_recorded)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A value outside its band, in a direction the rule watches. z_score is None for a zero-spread baseline."""

    kind: str
    mean: float
    sd: float
    lower: float
    upper: float
    z_score: float | None


@dataclass(frozen=True, slots=True)
class Anomaly:
    rule: Rule
    value: float
    verdict: Verdict
    execution_count: int
    season_value: int | None


@dataclass(frozen=True, slots=True)
class Skipped:
    rule_id: int
    metric_field: str
    reason: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Both in rule order: the contract lists results and skipped rules in the order of the rules."""

    anomalies: tuple[Anomaly, ...]
    skipped: tuple[Skipped, ...]


def season_of(seasonality: str, hour_recorded: int, weekday_recorded: int) -> Season | None:
    """The season a baseline is drawn from; None (`none`) means every execution of the pipeline."""
    column = SEASON_COLUMN.get(seasonality)
    if column is None:
        return None
    return Season(column, hour_recorded if column == "hour_recorded" else weekday_recorded)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the rule needs of a baseline: its size, arithmetic mean and sample standard deviation
    (divisor n - 1; 0 for fewer than two values or no spread)."""

    count: int
    mean: float
    sd: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Baseline:
        if not values:
            return cls(0, math.nan, 0.0)
        return cls(len(values), statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def band(baseline: Baseline | Sequence[float], z: float) -> tuple[float, float, float, float]:
    """(mean, sd, lower, upper) of a baseline. A zero-spread baseline has no band to speak of: both
    bounds are the mean, so any different value stands out."""
    stats = _as_baseline(baseline)
    mean, sd = stats.mean, stats.sd
    if sd > 0:
        return mean, sd, max(0.0, mean - z * sd), mean + z * sd
    return mean, sd, mean, mean


def evaluate(value: float, baseline: Baseline | Sequence[float], z: float, direction: str) -> Verdict | None:
    """The z-score rule: None when the value is inside the band (or fires in the other direction)."""
    mean, sd, lower, upper = band(baseline, z)
    z_score = (value - mean) / sd if sd > 0 else None
    kind = "spike" if value > upper else "drop" if value < lower else None
    if kind is None or (direction != "both" and direction != kind):
        return None
    return Verdict(kind, mean, sd, lower, upper, z_score)


def _as_baseline(baseline: Baseline | Sequence[float]) -> Baseline:
    return baseline if isinstance(baseline, Baseline) else Baseline.of(baseline)


def evaluate_rules(execution: Execution, rules: Sequence[Rule], baselines: Mapping[int, Baseline | Sequence[float]]) -> Evaluation:
    """Every rule's outcome for E. `baselines` needs an entry only for rules whose metric E has a
    value: a missing value is reported before history is looked at."""
    anomalies: list[Anomaly] = []
    skipped: list[Skipped] = []
    for rule in rules:
        value = execution.values.get(rule.metric_field)
        if value is None:
            skipped.append(Skipped(rule.id, rule.metric_field, NO_VALUE))
            continue
        baseline = _as_baseline(baselines[rule.id])
        if baseline.count < rule.minimum_executions:
            skipped.append(Skipped(rule.id, rule.metric_field, INSUFFICIENT_HISTORY))
            continue
        verdict = evaluate(value, baseline, rule.z_threshold, rule.direction)
        if verdict is not None:
            season = execution.season(rule.seasonality)
            anomalies.append(Anomaly(rule, value, verdict, baseline.count, None if season is None else season.value))
    return Evaluation(tuple(anomalies), tuple(skipped))
