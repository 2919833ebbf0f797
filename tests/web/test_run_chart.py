"""The run charts' geometry (web/run_chart.py) on plain numbers: where points, the line and the baseline band
go, and that no runs, one run or equal values still give a drawable chart."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest

from watcher_server.web.run_chart import BOTTOM, LEFT, MIN_BAND_HEIGHT, RIGHT, TOP, RunValue, nice_ticks, run_chart

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def runs(*values, failed=(), anomaly=()) -> list[RunValue]:
    return [RunValue(i + 1, START + dt.timedelta(hours=i), v, i in failed, i in anomaly) for i, v in enumerate(values)]


def value_at(chart, y: float) -> float:
    """The value a pixel height stands for, read back from the axis ticks."""
    low, high = chart.ticks[0], chart.ticks[-1]
    return low.value + (low.y - y) / (low.y - high.y) * (high.value - low.value)


def near(chart, value: float):
    """`value`, give or take the positions' rounding to 0.01 px."""
    return pytest.approx(value, abs=(chart.ticks[-1].value - chart.ticks[0].value) * 0.01 / (BOTTOM - TOP))


def test_no_runs_give_an_empty_chart_with_an_axis_and_no_band():
    chart = run_chart([])
    assert chart.empty and chart.points == [] and chart.line == "" and chart.baseline is None
    assert [t.value for t in chart.ticks] == [0, 1]
    assert chart.first is None and chart.last is None


def test_one_run_sits_in_the_middle_with_a_thin_band_at_its_value():
    chart = run_chart(runs(40))
    (point,) = chart.points
    assert point.x == pytest.approx((LEFT + RIGHT) / 2)
    assert TOP <= point.y <= BOTTOM
    assert value_at(chart, point.y) == near(chart, 40)
    band = chart.baseline
    assert (band.mean, band.sd, band.low, band.high, band.count) == (40, 0, 40, 40, 1)
    assert band.height == MIN_BAND_HEIGHT
    assert band.y <= point.y <= band.y + band.height
    assert chart.line == f"M{point.x},{point.y}"


def test_equal_values_draw_a_flat_line_without_dividing_by_zero():
    chart = run_chart(runs(7, 7, 7, 7), z=2)
    assert len({p.y for p in chart.points}) == 1
    assert chart.baseline.sd == 0 and chart.baseline.height == MIN_BAND_HEIGHT
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs) and len(set(xs)) == 4


def test_all_zero_values_lie_on_the_floor_of_a_unit_axis():
    chart = run_chart(runs(0, 0, 0))
    assert {p.y for p in chart.points} == {BOTTOM}
    assert [t.value for t in chart.ticks] == [0, 1]  # row counts: no 0.25 ticks
    assert chart.baseline.y >= TOP and chart.baseline.y + chart.baseline.height <= BOTTOM


def test_points_go_left_to_right_oldest_first_and_higher_values_higher_up():
    chart = run_chart(runs(10, 30, 20))
    assert [p.run.run_id for p in chart.points] == [1, 2, 3]
    assert chart.points[0].x < chart.points[1].x < chart.points[2].x
    assert chart.points[1].y < chart.points[2].y < chart.points[0].y  # SVG y grows downward
    for point in chart.points:
        assert value_at(chart, point.y) == near(chart, point.run.value)
    assert chart.line.startswith("M") and chart.line.count("L") == 2
    assert chart.first.run_id == 1 and chart.last.run_id == 3


def test_the_band_is_mean_plus_minus_z_sigma_of_successful_runs_without_an_anomaly():
    values = [10, 12, 11, 13, 50, 9]
    chart = run_chart(runs(*values, failed={4}, anomaly={5}), z=2.5)
    usual = [10, 12, 11, 13]
    band = chart.baseline
    assert band.count == 4 and band.z == 2.5
    assert band.mean == pytest.approx(statistics.fmean(usual))
    assert band.sd == pytest.approx(statistics.stdev(usual))
    assert band.low == pytest.approx(band.mean - 2.5 * band.sd) and band.high == pytest.approx(band.mean + 2.5 * band.sd)
    assert value_at(chart, band.y) == near(chart, band.high)
    assert value_at(chart, band.y + band.height) == near(chart, band.low)


def test_failed_and_anomalous_runs_are_marked_and_an_anomaly_wins():
    chart = run_chart(runs(1, 2, 3, 4, failed={1, 3}, anomaly={2, 3}))
    assert [p.css_class for p in chart.points] == ["point", "point failed", "point anomaly", "point anomaly"]


def test_without_a_usable_run_there_is_no_band_and_z_defaults_to_three():
    assert run_chart(runs(5, 6, failed={0, 1})).baseline is None
    assert run_chart(runs(5, 6)).baseline.z == 3


def test_runs_without_a_value_are_skipped_and_counted():
    chart = run_chart(runs(None, 5, float("nan"), 6, float("inf")))
    assert [p.run.run_id for p in chart.points] == [2, 4]
    assert chart.skipped == 3


def test_the_axis_covers_every_value_and_the_band():
    chart = run_chart(runs(100, 104, 96, 250, anomaly={3}))
    assert chart.ticks[0].value == 0
    assert chart.ticks[-1].value >= max(250, chart.baseline.high)
    assert all(TOP <= p.y <= BOTTOM for p in chart.points)
    assert chart.baseline.y >= TOP and chart.baseline.y + chart.baseline.height <= BOTTOM + 1e-9


def test_a_band_reaching_below_zero_is_cut_at_the_floor():
    chart = run_chart(runs(0, 100, 0, 100))
    assert chart.baseline.low < 0
    assert chart.baseline.y + chart.baseline.height == pytest.approx(BOTTOM)


@pytest.mark.parametrize(
    ("low", "high", "options", "expected"),
    [
        (0, 17.5, {}, [0, 5, 10, 15, 20]),
        (0, 0.8, {}, [0, 0.2, 0.4, 0.6, 0.8]),
        (0, 0.8, {"whole": True}, [0, 1]),
        (0, 300, {"seconds": True}, [0, 120, 240, 360]),
        (0, 7200, {"seconds": True}, [0, 1800, 3600, 5400, 7200]),
        (0, 0, {}, [0, 0.25, 0.5, 0.75, 1]),
    ],
)
def test_axis_ticks_are_round_numbers(low, high, options, expected):
    assert nice_ticks(low, high, **options) == pytest.approx(expected)


def test_huge_values_still_give_a_few_ticks():
    ticks = nice_ticks(0, 9.2e18)
    assert 2 <= len(ticks) <= 6 and ticks[-1] >= 9.2e18
    assert len(nice_ticks(0, 10**8, seconds=True)) <= 6
