"""The timeliness decision on its own (§11.2): candidate executions in, overdue / failed / recovered out.

No database and no app: each candidate is what the timeliness query would return for one execution."""

import datetime as dt
import itertools

import pytest

from watcher_server.monitoring.rules import Effective
from watcher_server.monitoring.timeliness import _candidates
from watcher_server.monitoring.timeliness_evaluation import (
    Candidate,
    Failed,
    Overdue,
    Recovered,
    Resolution,
    TimelinessEvaluation,
    evaluate_timeliness,
)

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)
NOTHING = TimelinessEvaluation(executions_evaluated=0, overdue=(), failed=(), resolutions=(), recovered=())


def running(execution_id=1, *, start=T0, **fields) -> Candidate:
    return candidate(execution_id, start=start, **fields)


def ended(execution_id=1, *, start=T0, end, ok=True, duration=None, **fields) -> Candidate:
    seconds = round((end - start).total_seconds()) if duration is None else duration
    return candidate(execution_id, start=start, end=end, ok=ok, duration=seconds, **fields)


def candidate(
    execution_id, *, start, end=None, ok=None, duration=None, number=2, datepart="hour", own=True, eligible=True,
    logged=None, logged_resolved_at=None, logged_datepart=None,
) -> Candidate:  # fmt: skip
    return Candidate(
        execution_id=execution_id, pipeline_id=100 + execution_id, pipeline_name=f"pipeline {execution_id}", start_date=start,
        end_date=end, duration_seconds=duration, completed_successfully=ok, eligible=eligible, number=number, datepart=datepart,
        used_child_config=own, logged_status=logged, logged_resolved_at=logged_resolved_at, logged_datepart=logged_datepart,
    )  # fmt: skip


def evaluate(*candidates: Candidate, now: dt.datetime, alert_on_failed_executions: bool = True) -> TimelinessEvaluation:
    return evaluate_timeliness(candidates, now, alert_on_failed_executions=alert_on_failed_executions)


# Running executions


def test_a_running_execution_past_its_deadline_is_overdue_for_now_minus_start_seconds():
    # test_timeliness.py's first case: 2 hours allowed, still running 3 hours after its start
    evaluation = evaluate(running(812), now=T0 + dt.timedelta(hours=3))
    assert evaluation == TimelinessEvaluation(
        executions_evaluated=1,
        overdue=(
            Overdue(
                execution_id=812, pipeline_id=912, pipeline_name="pipeline 812", status="running", duration_seconds=10800,
                start_date=T0, deadline=T0 + dt.timedelta(hours=2), config=Effective(2, "hour", True), new=True,
            ),
        ),
        failed=(), resolutions=(), recovered=(),
    )  # fmt: skip
    assert evaluation.overdue[0].seconds_threshold == 7200


def test_a_running_execution_at_its_deadline_is_on_time_and_one_microsecond_later_overdue():
    deadline = T0 + dt.timedelta(hours=2)
    on_time = evaluate(running(), now=deadline)
    assert (on_time.executions_evaluated, on_time.overdue) == (1, ())
    [late] = evaluate(running(), now=deadline + MICROSECOND).overdue
    assert (late.status, late.duration_seconds) == ("running", 7200)  # whole seconds, rounded down


def test_the_running_duration_is_rounded_down():
    [late] = evaluate(running(), now=T0 + dt.timedelta(hours=2, seconds=5, microseconds=999_999)).overdue
    assert late.duration_seconds == 7205


def test_a_running_execution_already_logged_is_overdue_but_not_new():
    logged = running(logged="running", logged_datepart="hour")
    [overdue] = evaluate(logged, now=T0 + dt.timedelta(hours=5)).overdue
    assert (overdue.new, overdue.duration_seconds) == (False, 18000)


def test_a_running_execution_whatever_its_age_uses_the_calendar_for_its_deadline():
    start = dt.datetime(2025, 1, 31, 8, 0, tzinfo=UTC)  # + 1 month = Feb 28, not Mar 3
    [overdue] = evaluate(running(start=start, number=1, datepart="month"), now=dt.datetime(2025, 2, 28, 8, 0, 1, tzinfo=UTC)).overdue
    assert (overdue.deadline, overdue.seconds_threshold) == (dt.datetime(2025, 2, 28, 8, 0, tzinfo=UTC), 28 * 86400)


# Successful executions


def test_a_successful_execution_that_ended_after_its_deadline_is_overdue_completed():
    # test_timeliness.py: 30 minutes allowed, 07:00 to 07:45
    late = ended(start=T0 - dt.timedelta(hours=1), end=T0 - dt.timedelta(minutes=15), number=30, datepart="minute")
    [overdue] = evaluate(late, now=T0).overdue
    assert (overdue.status, overdue.duration_seconds, overdue.seconds_threshold, overdue.new) == ("completed", 2700, 1800, True)


def test_a_successful_execution_is_judged_by_its_end_date_not_its_rounded_duration():
    deadline = T0 + dt.timedelta(minutes=1)
    at_deadline = ended(1, end=deadline, number=1, datepart="minute")
    just_after = ended(2, end=deadline + MICROSECOND, duration=60, number=1, datepart="minute")  # 60.000001 s, stored as 60
    evaluation = evaluate(at_deadline, just_after, now=T0 + dt.timedelta(hours=1))
    assert evaluation.executions_evaluated == 2
    assert [(o.execution_id, o.status, o.duration_seconds) for o in evaluation.overdue] == [(2, "completed", 60)]


def test_a_successful_execution_within_its_deadline_is_only_counted():
    evaluation = evaluate(ended(end=T0 + dt.timedelta(hours=1)), now=T0 + dt.timedelta(hours=3))
    assert evaluation == TimelinessEvaluation(executions_evaluated=1, overdue=(), failed=(), resolutions=(), recovered=())


def test_a_late_completion_already_logged_is_reported_but_not_new():
    logged = ended(end=T0 + dt.timedelta(hours=3), logged="completed", logged_resolved_at=T0 + dt.timedelta(hours=3))
    [overdue] = evaluate(logged, now=T0 + dt.timedelta(hours=4)).overdue
    assert (overdue.status, overdue.new) == ("completed", False)


def test_a_month_that_was_28_days_long():
    # test_timeliness.py: Feb 1 + 1 month = Mar 1, so an end one second later is late
    start = dt.datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    february = ended(start=start, end=dt.datetime(2025, 3, 1, 8, 0, 1, tzinfo=UTC), number=1, datepart="month")
    [overdue] = evaluate(february, now=T0 + dt.timedelta(minutes=30)).overdue
    assert (overdue.seconds_threshold, overdue.duration_seconds) == (28 * 86400, 28 * 86400 + 1)


# Failed executions


def test_a_failed_execution_is_alerted_once_without_any_configuration():
    start, end = T0 - dt.timedelta(minutes=30), T0 - dt.timedelta(minutes=20)
    failed = ended(815, start=start, end=end, ok=False, number=None, datepart=None, own=False)
    evaluation = evaluate(failed, now=T0)
    assert evaluation == TimelinessEvaluation(
        executions_evaluated=1, overdue=(),
        failed=(
            Failed(
                execution_id=815, pipeline_id=915, pipeline_name="pipeline 815", end_date=end, duration_seconds=600, config=None,
                new=True,
            ),
        ),
        resolutions=(), recovered=(),
    )  # fmt: skip
    [again] = evaluate(failed._replace(logged_status="failed", logged_resolved_at=T0), now=T0).failed
    assert again.new is False


def test_a_failed_execution_keeps_its_configuration_and_duration_for_the_log():
    slow = ended(end=T0 + dt.timedelta(hours=3), ok=False, own=False)  # also past its deadline: a failure, not an overdue run
    evaluation = evaluate(slow, now=T0 + dt.timedelta(hours=4))
    assert evaluation.overdue == ()
    assert [(f.duration_seconds, f.config) for f in evaluation.failed] == [(10800, Effective(2, "hour", False))]


def test_a_failed_execution_without_a_duration_is_logged_with_zero_seconds():
    [failed] = evaluate(candidate(1, start=T0, end=T0 + dt.timedelta(minutes=10), ok=False, duration=None), now=T0).failed
    assert failed.duration_seconds == 0


def test_failure_alerts_switched_off_leave_a_failed_execution_counted_and_nothing_else():
    slow = ended(end=T0 + dt.timedelta(hours=3), ok=False)
    evaluation = evaluate(slow, now=T0 + dt.timedelta(hours=4), alert_on_failed_executions=False)
    assert evaluation == TimelinessEvaluation(executions_evaluated=1, overdue=(), failed=(), resolutions=(), recovered=())


def test_a_failed_execution_logged_as_an_overdue_run_already_resolved_is_not_a_failure():
    resolved = ended(end=T0 + dt.timedelta(hours=3), ok=False, logged="running", logged_resolved_at=T0 + dt.timedelta(hours=3))
    evaluation = evaluate(resolved, now=T0 + dt.timedelta(hours=4))
    assert (evaluation.executions_evaluated, evaluation.failed, evaluation.overdue, evaluation.resolutions) == (1, (), (), ())


# Open incidents whose execution has ended


@pytest.mark.parametrize(("ok", "final"), [(True, "completed"), (False, "failed")])
def test_an_open_running_incident_whose_execution_ended_is_resolved_and_recovers(ok, final):
    finished = ended(790, end=T0 + dt.timedelta(hours=3, minutes=1), ok=ok, logged="running", logged_datepart="hour")
    evaluation = evaluate(finished, now=T0 + dt.timedelta(hours=3, minutes=5))
    assert evaluation == TimelinessEvaluation(
        executions_evaluated=0, overdue=(), failed=(),  # an overdue run that then failed gets the recovered alert only
        resolutions=(Resolution(execution_id=790, final_status=final),),
        recovered=(
            Recovered(
                execution_id=790, pipeline_id=890, pipeline_name="pipeline 790", final_status=final, duration_seconds=10860,
                logged_datepart="hour",
            ),
        ),
    )  # fmt: skip


def test_an_ended_execution_of_a_pipeline_no_longer_eligible_is_resolved_without_recovery():
    finished = ended(end=T0 + dt.timedelta(hours=3), logged="running", logged_datepart="hour", eligible=False)
    evaluation = evaluate(finished, now=T0 + dt.timedelta(hours=4))
    assert (evaluation.resolutions, evaluation.recovered, evaluation.executions_evaluated) == ((Resolution(1, "completed"),), (), 0)


def test_an_open_running_incident_still_running_stays_open():
    evaluation = evaluate(running(logged="running", logged_datepart="hour"), now=T0 + dt.timedelta(hours=3))
    assert (evaluation.resolutions, [o.new for o in evaluation.overdue]) == ((), [False])


# Eligibility and configuration


def test_a_candidate_of_a_pipeline_not_eligible_is_not_evaluated():
    assert (
        evaluate(
            running(eligible=False), ended(2, end=T0 + dt.timedelta(minutes=10), ok=False, eligible=False), now=T0 + dt.timedelta(days=3)
        )
        == NOTHING
    )


def test_without_configuration_running_and_successful_executions_are_only_counted():
    evaluation = evaluate(
        running(1, number=None, datepart=None), ended(2, end=T0 + dt.timedelta(days=2), number=None, datepart=None),
        now=T0 + dt.timedelta(days=3),
    )  # fmt: skip
    assert evaluation == TimelinessEvaluation(executions_evaluated=2, overdue=(), failed=(), resolutions=(), recovered=())


@pytest.mark.parametrize(("own", "expected"), [(True, True), (False, False), (1, True), (0, False)])
def test_used_child_config_says_whose_pair_was_used(own, expected):
    [overdue] = evaluate(running(own=own), now=T0 + dt.timedelta(hours=3)).overdue
    assert overdue.config == Effective(2, "hour", expected) and overdue.config.used_child_config is expected


def test_every_list_keeps_the_order_of_the_candidates():
    now = T0 + dt.timedelta(hours=3)
    candidates = [
        running(1),  # overdue, new
        ended(2, end=T0 + dt.timedelta(minutes=10), ok=False),  # failed, new
        ended(3, end=T0 + dt.timedelta(hours=2, minutes=30), logged="running", logged_datepart="hour"),  # recovered
        running(4, eligible=False),  # not evaluated
        ended(5, end=T0 + dt.timedelta(minutes=5)),  # on time
        running(6, logged="running", logged_datepart="hour"),  # overdue, known
        ended(7, end=T0 + dt.timedelta(minutes=20), ok=False, logged="failed"),  # failed, known
    ]
    evaluation = evaluate_timeliness(iter(candidates), now, alert_on_failed_executions=True)  # any iterable, read once
    assert evaluation.executions_evaluated == 5
    assert [(o.execution_id, o.new) for o in evaluation.overdue] == [(1, True), (6, False)]
    assert [(f.execution_id, f.new) for f in evaluation.failed] == [(2, True), (7, False)]
    assert [r.execution_id for r in evaluation.recovered] == [3]


def test_the_timeliness_query_returns_the_candidates_fields_in_order():
    """run_timeliness reads each result row as a Candidate by position. Built, not run: no database."""
    for dialect, skip_inactive in itertools.product(("sqlite", "postgresql"), (False, True)):
        rows, _ = _candidates(dialect, T0, [], skip_inactive)
        assert tuple(rows.selected_columns.keys()) == Candidate._fields
