"""The freshness decision on its own (§10.3): plain rows in, stale / recovered / unmonitored out.

No database and no app: each row is what the freshness query would return for one pipeline."""

import datetime as dt
import itertools

import pytest

from watcher_server.monitoring.freshness import _freshness_rows
from watcher_server.monitoring.freshness_evaluation import FreshnessEvaluation, PipelineFreshness, Recovered, Stale, evaluate_freshness

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
MICROSECOND = dt.timedelta(microseconds=1)


def row(pipeline_id=1, *, last_dml=T0, number=1, datepart="hour", own=True, incident=None, incident_last_dml=None, incident_deadline=None):
    return PipelineFreshness(
        pipeline_id=pipeline_id, pipeline_name=f"pipeline {pipeline_id}", number=number, datepart=datepart,
        used_child_config=own, last_dml=last_dml, incident_id=incident,
        incident_last_dml=incident_last_dml, incident_deadline=incident_deadline,
    )  # fmt: skip


def deadline_of(last_dml: dt.datetime, number: int, datepart: str) -> dt.datetime:
    """The deadline the evaluation reports for a pipeline long overdue."""
    [stale] = evaluate_freshness(
        [row(last_dml=last_dml, number=number, datepart=datepart)], last_dml + dt.timedelta(days=400 * number)
    ).stale
    return stale.deadline


@pytest.mark.parametrize(
    ("last_dml", "number", "datepart", "deadline"),
    [
        (T0, 30, "minute", dt.datetime(2025, 3, 1, 8, 30, tzinfo=UTC)),
        (T0, 1, "hour", dt.datetime(2025, 3, 1, 9, 0, tzinfo=UTC)),
        (T0, 2, "day", dt.datetime(2025, 3, 3, 8, 0, tzinfo=UTC)),
        (T0, 1, "week", dt.datetime(2025, 3, 8, 8, 0, tzinfo=UTC)),
        (dt.datetime(2025, 2, 28, 20, 0, tzinfo=UTC), 1, "hour", dt.datetime(2025, 2, 28, 21, 0, tzinfo=UTC)),  # §10.4's example
        # calendar parts keep the time of day and clamp to the target month's last day (§2.7)
        (dt.datetime(2025, 1, 31, 8, 0, tzinfo=UTC), 1, "month", dt.datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
        (dt.datetime(2024, 1, 31, 8, 0, tzinfo=UTC), 1, "month", dt.datetime(2024, 2, 29, 8, 0, tzinfo=UTC)),
        (dt.datetime(2025, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), 3, "month", dt.datetime(2025, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)),
        (dt.datetime(2024, 11, 30, 8, 0, tzinfo=UTC), 1, "quarter", dt.datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
        (dt.datetime(2024, 12, 31, 8, 0, tzinfo=UTC), 2, "quarter", dt.datetime(2025, 6, 30, 8, 0, tzinfo=UTC)),
        (dt.datetime(2024, 2, 29, 8, 0, tzinfo=UTC), 1, "year", dt.datetime(2025, 2, 28, 8, 0, tzinfo=UTC)),
        (dt.datetime(2024, 2, 29, 8, 0, tzinfo=UTC), 4, "year", dt.datetime(2028, 2, 29, 8, 0, tzinfo=UTC)),
        (T0, 1, "quarter", dt.datetime(2025, 6, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_the_deadline_is_the_last_dml_plus_n_date_parts(last_dml, number, datepart, deadline):
    assert deadline_of(last_dml, number, datepart) == deadline


@pytest.mark.parametrize(
    ("number", "datepart", "deadline"),
    [
        (1, "hour", dt.datetime(2025, 3, 1, 9, 0, tzinfo=UTC)),
        (2, "day", dt.datetime(2025, 3, 3, 8, 0, tzinfo=UTC)),  # test_freshness.py's boundary, over HTTP
        (1, "month", dt.datetime(2025, 4, 1, 8, 0, tzinfo=UTC)),
        (1, "year", dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_a_deadline_equal_to_now_is_on_time_and_one_microsecond_later_is_stale(number, datepart, deadline):
    on_time = evaluate_freshness([row(number=number, datepart=datepart)], deadline)
    assert (on_time.pipelines_evaluated, on_time.stale, on_time.recovered) == (1, (), ())
    late = evaluate_freshness([row(number=number, datepart=datepart)], deadline + MICROSECOND)
    assert [stale.deadline for stale in late.stale] == [deadline]


def test_a_stale_pipeline_without_an_open_incident_is_new():
    evaluation = evaluate_freshness([row(7, number=1, datepart="hour")], T0 + dt.timedelta(hours=2))
    assert evaluation == FreshnessEvaluation(
        pipelines_evaluated=1,
        stale=(
            Stale(
                pipeline_id=7, pipeline_name="pipeline 7", last_dml=T0, deadline=T0 + dt.timedelta(hours=1), number=1, datepart="hour",
                used_child_config=True, incident_id=None, incident_outdated=False,
            ),
        ),
        recovered=(),
        unmonitored=(),
    )  # fmt: skip
    assert evaluation.stale[0].new is True


def test_a_stale_pipeline_with_an_open_incident_keeps_it_and_is_not_new():
    deadline = T0 + dt.timedelta(hours=1)
    same = row(incident=4, incident_last_dml=T0, incident_deadline=deadline)
    [stale] = evaluate_freshness([same], T0 + dt.timedelta(hours=3)).stale
    assert (stale.incident_id, stale.new, stale.incident_outdated) == (4, False, False)


@pytest.mark.parametrize(
    ("incident_last_dml", "incident_deadline", "why"),
    [
        (T0 - dt.timedelta(hours=1), T0, "a later DML that is still too old"),
        (T0, T0 + dt.timedelta(days=1), "a changed threshold (1 day, now 1 hour)"),
    ],
)
def test_an_open_incident_is_outdated_when_its_last_dml_or_deadline_moved(incident_last_dml, incident_deadline, why):
    moved = row(incident=4, incident_last_dml=incident_last_dml, incident_deadline=incident_deadline)
    [stale] = evaluate_freshness([moved], T0 + dt.timedelta(days=3)).stale
    assert (stale.new, stale.incident_outdated, stale.last_dml, stale.deadline) == (False, True, T0, T0 + dt.timedelta(hours=1)), why


def test_a_fresh_pipeline_with_an_open_incident_recovers():
    fresh = row(3, last_dml=T0, number=1, datepart="day", incident=9, incident_last_dml=T0 - dt.timedelta(days=5))
    evaluation = evaluate_freshness([fresh], T0 + dt.timedelta(days=1))  # the deadline itself: on time
    assert evaluation == FreshnessEvaluation(
        pipelines_evaluated=1, stale=(), recovered=(Recovered(pipeline_id=3, pipeline_name="pipeline 3", last_dml=T0, incident_id=9),),
        unmonitored=(),
    )  # fmt: skip


def test_a_fresh_pipeline_without_an_incident_is_only_counted():
    evaluation = evaluate_freshness([row(number=1, datepart="hour")], T0 + dt.timedelta(minutes=59))
    assert evaluation == FreshnessEvaluation(pipelines_evaluated=1, stale=(), recovered=(), unmonitored=())


def test_an_open_incident_of_a_pipeline_no_longer_monitored_is_unmonitored_and_not_evaluated():
    # muted, configuration removed, inactive and skipped, or no DML: SQL returns no configuration
    evaluation = evaluate_freshness([row(5, number=None, incident=11)], T0 + dt.timedelta(days=30))
    assert evaluation == FreshnessEvaluation(pipelines_evaluated=0, stale=(), recovered=(), unmonitored=(11,))


@pytest.mark.parametrize(("own", "expected"), [(True, True), (False, False), (1, True), (0, False)])
def test_used_child_config_says_whose_pair_was_used(own, expected):
    [stale] = evaluate_freshness([row(own=own, number=1, datepart="month")], T0 + dt.timedelta(days=40)).stale
    assert stale.used_child_config is expected  # SQLite may answer 1/0: always a bool


def test_every_list_keeps_the_order_of_the_rows_and_evaluated_counts_monitored_pipelines():
    now = T0 + dt.timedelta(hours=2)
    rows = [
        row(1, number=1, datepart="hour"),  # stale, new
        row(2, number=1, datepart="day", incident=20),  # fresh again: recovers
        row(3, number=None, incident=30),  # unmonitored
        row(4, number=30, datepart="minute", incident=40, incident_last_dml=T0, incident_deadline=T0 + dt.timedelta(minutes=30)),
        row(5, number=1, datepart="week"),  # fresh
        row(6, number=None, incident=60),  # unmonitored
        row(7, number=1, datepart="minute"),  # stale, new
        row(8, number=2, datepart="hour", incident=80),  # the deadline is now: on time, recovers
    ]
    evaluation = evaluate_freshness(iter(rows), now)  # any iterable, read once
    assert evaluation.pipelines_evaluated == 6
    assert [(stale.pipeline_id, stale.new) for stale in evaluation.stale] == [(1, True), (4, False), (7, True)]
    assert [recovered.pipeline_id for recovered in evaluation.recovered] == [2, 8]
    assert evaluation.unmonitored == (30, 60)


def test_nothing_to_evaluate():
    assert evaluate_freshness([], T0) == FreshnessEvaluation(pipelines_evaluated=0, stale=(), recovered=(), unmonitored=())


def test_the_freshness_query_returns_the_rows_fields_in_order():
    """run_freshness reads each result row as a PipelineFreshness by position. Built, not run: no database."""
    for dialect, skip_inactive in itertools.product(("sqlite", "postgresql"), (False, True)):
        assert tuple(_freshness_rows(dialect, skip_inactive).selected_columns.keys()) == PipelineFreshness._fields
