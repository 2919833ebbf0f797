"""The run-tree timeline's geometry (web/timeline.py): order, scale, outcomes, running bars, labels."""

from __future__ import annotations

import datetime as dt

import pytest

from watcher_server.web.timeline import Run, depth_first, outcome, shorten, ticks, timeline

T0 = dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC)


def _at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def _run(id, parent=None, start=0, end=None, ok=None, label=None) -> Run:
    return Run(id, parent, label or f"p{id}", _at(start), None if end is None else _at(end), ok)


def test_an_empty_tree_has_no_bars_and_no_axis():
    drawn = timeline([], T0)
    assert drawn.bars == [] and drawn.ticks == [] and drawn.start is None


def test_a_single_run_fills_the_chart_width():
    drawn = timeline([_run(1, start=0, end=10, ok=True)], _at(60), width=960, label_width=280)
    [bar] = drawn.bars
    assert bar.x == pytest.approx(280) and bar.x + bar.width == pytest.approx(drawn.chart_right)
    assert bar.outcome == "succeeded" and bar.level == 0
    assert (drawn.start, drawn.end) == (_at(0), _at(10))


def test_children_follow_their_parent_depth_first_in_start_order():
    runs = [
        _run(1, start=0, end=60, ok=True),
        _run(3, parent=1, start=30, end=40, ok=True),
        _run(2, parent=1, start=10, end=20, ok=True),
        _run(4, parent=2, start=11, end=12, ok=False),
    ]
    assert [(run.id, level) for run, level in depth_first(runs)] == [(1, 0), (2, 1), (4, 2), (3, 1)]
    drawn = timeline(runs, _at(100))
    assert [bar.run.id for bar in drawn.bars] == [1, 2, 4, 3]
    assert [bar.y for bar in drawn.bars] == sorted(bar.y for bar in drawn.bars)
    assert drawn.bars[2].label_x > drawn.bars[1].label_x > drawn.bars[0].label_x  # indented by level


def test_x_is_proportional_to_time_from_the_earliest_start_to_the_latest_end():
    drawn = timeline([_run(1, start=0, end=100, ok=True), _run(2, parent=1, start=25, end=75, ok=True)], _at(500))
    root, child = drawn.bars
    chart = drawn.chart_right - drawn.chart_left
    assert child.x == pytest.approx(drawn.chart_left + chart / 4)
    assert child.width == pytest.approx(chart / 2)
    assert root.width == pytest.approx(chart)


def test_a_running_bar_reaches_now_and_sets_the_end_of_the_axis():
    runs = [_run(1, start=0, end=10, ok=True), _run(2, parent=1, start=5)]
    drawn = timeline(runs, _at(20))
    root, running = drawn.bars
    assert running.outcome == "running"
    assert drawn.end == _at(20)
    assert running.x + running.width == pytest.approx(drawn.chart_right)
    assert root.width == pytest.approx((drawn.chart_right - drawn.chart_left) / 2)


def test_a_run_starting_after_now_is_still_a_visible_bar_inside_the_chart():
    drawn = timeline([_run(1, start=0, end=10, ok=True), _run(2, parent=1, start=30)], _at(5))
    future = drawn.bars[1]
    assert future.width >= 2 and future.x + future.width <= drawn.chart_right + 1e-9


def test_outcomes_follow_the_status_badges():
    assert outcome(_run(1, end=None, ok=None)) == "running"
    assert outcome(_run(1, end=None, ok=True)) == "running"  # no end: still running, whatever the flag says
    assert outcome(_run(1, end=5, ok=True)) == "succeeded"
    assert outcome(_run(1, end=5, ok=False)) == "failed"


def test_an_instant_run_has_a_minimum_width_and_a_one_second_axis():
    drawn = timeline([_run(1, start=0, end=0, ok=True)], _at(0))
    assert drawn.bars[0].width == 2
    assert [tick.seconds for tick in drawn.ticks] == [0.0, 1.0]


def test_a_parent_missing_from_the_runs_makes_its_child_a_root():
    assert [(run.id, level) for run, level in depth_first([_run(5, parent=99, start=0, end=1, ok=True)])] == [(5, 0)]


def test_a_deep_chain_is_ordered_without_recursion():
    chain = [_run(1, start=0, end=1000, ok=True)] + [_run(i, parent=i - 1, start=i / 100, end=999, ok=True) for i in range(2, 3000)]
    ordered = depth_first(chain)
    assert [run.id for run, _ in ordered] == list(range(1, 3000)) and ordered[-1][1] == 2998


def test_long_labels_are_shortened_more_the_deeper_they_are_indented():
    name = "x" * 150
    drawn = timeline([_run(1, start=0, end=10, ok=True, label=name), _run(2, parent=1, start=1, end=2, ok=True, label=name)], _at(10))
    root, child = drawn.bars
    assert root.label.endswith("…") and len(child.label) < len(root.label) < len(name)
    assert root.run.label == name  # the full name stays available for the title
    assert shorten("abc", 5) == "abc" and shorten("abcdef", 4) == "abc…"


def test_ticks_use_a_round_step_and_never_pass_the_span():
    found = ticks(600, 0, 600)  # ten minutes over 600 px: a tick every two minutes
    assert [tick.seconds for tick in found] == [0, 120, 240, 360, 480, 600]
    assert [tick.x for tick in found] == [0, 120, 240, 360, 480, 600]
    long = ticks(90 * 86400, 0, 100)  # ninety days: whole weeks
    assert all(tick.seconds % 604800 == 0 for tick in long) and len(long) <= 8
