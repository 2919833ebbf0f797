"""Timeliness, the decision (contract §11.2): which executions are overdue, which failed, which
overdue ones have ended. Plain Python over the candidates the timeliness query returned, so every
rule is testable without a database; writing the log and alerting stay in timeliness.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ..core.dateparts import add_dateparts
from .rules import Effective


class Candidate(NamedTuple):
    """One row of the timeliness query: an execution SQL could not already count as on time.

    SQL already decided eligibility and chose the effective configuration (monitoring/rules.py):
    `number` and `datepart` are None when neither level configures timeliness. The `logged_*` fields
    are the execution's row in the timeliness log, None when it has none."""

    execution_id: int
    pipeline_id: int
    pipeline_name: str
    start_date: dt.datetime
    end_date: dt.datetime | None
    duration_seconds: int | None
    completed_successfully: bool | None  # None while running
    eligible: bool
    number: int | None
    datepart: str | None
    used_child_config: bool
    logged_status: str | None
    logged_resolved_at: dt.datetime | None
    logged_datepart: str | None


# The items are NamedTuples rather than frozen dataclasses: a run may build one per candidate, and a
# frozen dataclass takes three times as long to build.


class Overdue(NamedTuple):
    """An execution past its deadline: still running (`running`), or ended after it (`completed`).
    `new` when this run logs it (and alerts); a `completed` one is logged resolved at once."""

    execution_id: int
    pipeline_id: int
    pipeline_name: str
    status: str
    duration_seconds: int
    start_date: dt.datetime
    deadline: dt.datetime
    config: Effective
    new: bool

    @property
    def seconds_threshold(self) -> int:
        return int((self.deadline - self.start_date).total_seconds())


class Failed(NamedTuple):
    """A failed execution, alerted on whatever its configuration; `new` when this run logs it (and
    alerts). Its log row records the effective configuration when there is one."""

    execution_id: int
    pipeline_id: int
    pipeline_name: str
    end_date: dt.datetime
    duration_seconds: int
    config: Effective | None
    new: bool


class Resolution(NamedTuple):
    """An open `running` incident whose execution has ended: resolved, eligible or not."""

    execution_id: int
    final_status: str  # completed | failed


class Recovered(NamedTuple):
    """A resolution whose pipeline is still eligible: it gets the recovered alert."""

    execution_id: int
    pipeline_id: int
    pipeline_name: str
    final_status: str
    duration_seconds: int | None
    logged_datepart: str | None  # the unit the incident was opened with, for the alert's duration


@dataclass(frozen=True, slots=True)
class TimelinessEvaluation:
    """Every list in execution order, the order of the query's rows. `executions_evaluated` counts the
    eligible candidates judged here; the ones SQL counted as certainly on time come on top."""

    executions_evaluated: int
    overdue: tuple[Overdue, ...]
    failed: tuple[Failed, ...]
    resolutions: tuple[Resolution, ...]
    recovered: tuple[Recovered, ...]


def evaluate_timeliness(candidates: Iterable[Candidate], now: dt.datetime, *, alert_on_failed_executions: bool) -> TimelinessEvaluation:
    evaluated = 0
    overdue: list[Overdue] = []
    failed: list[Failed] = []
    resolutions: list[Resolution] = []
    recovered: list[Recovered] = []
    for row in candidates:
        ended = row.completed_successfully is not None
        if ended and row.logged_status == "running" and row.logged_resolved_at is None:
            final = "completed" if row.completed_successfully else "failed"
            resolutions.append(Resolution(row.execution_id, final))
            if row.eligible:
                recovered.append(
                    Recovered(row.execution_id, row.pipeline_id, row.pipeline_name, final, row.duration_seconds, row.logged_datepart)
                )
            continue  # an overdue execution that then failed gets the recovered alert only
        if not row.eligible:
            continue
        evaluated += 1
        config = None if row.number is None else Effective(row.number, row.datepart, bool(row.used_child_config))
        new = row.logged_status is None
        if row.completed_successfully is False and alert_on_failed_executions and row.logged_status in (None, "failed"):
            failed.append(
                Failed(row.execution_id, row.pipeline_id, row.pipeline_name, row.end_date, row.duration_seconds or 0, config, new)
            )
            continue
        if config is None:
            continue
        deadline = add_dateparts(row.start_date, config.number, config.datepart)
        if not ended and now > deadline:
            status, duration = "running", int((now - row.start_date).total_seconds())
        elif row.completed_successfully and row.end_date > deadline:
            status, duration = "completed", row.duration_seconds
        else:
            continue
        overdue.append(
            Overdue(row.execution_id, row.pipeline_id, row.pipeline_name, status, duration, row.start_date, deadline, config, new)
        )
    return TimelinessEvaluation(evaluated, tuple(overdue), tuple(failed), tuple(resolutions), tuple(recovered))
