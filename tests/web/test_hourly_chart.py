"""The overview's runs-per-hour bar chart geometry (web/hourly_chart.py): pure numbers, no database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from watcher_server.web.hourly_chart import hourly_chart, nice_ceiling

START = dt.datetime(2026, 3, 9, 13, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Hour:
    hour: dt.datetime
    runs: int
    failures: int


def _day(counts: dict[int, tuple[int, int]] | None = None) -> list[Hour]:
    """24 hours from 13:00; `counts` maps an index to (runs, failures)."""
    counts = counts or {}
    return [Hour(START + dt.timedelta(hours=i), *counts.get(i, (0, 0))) for i in range(24)]


def _inside(chart, bar) -> bool:
    return chart.left <= bar.x and bar.x + bar.width <= chart.right and chart.top <= bar.y and bar.y + bar.height <= chart.bottom + 1e-9


def test_an_empty_day_draws_24_empty_slots_and_says_so():
    chart = hourly_chart(_day())
    assert chart.empty and chart.total_runs == 0
    assert len(chart.bars) == 24
    assert all(bar.height == 0 and bar.failed_height == 0 for bar in chart.bars)
    assert chart.scale_max == 1
    assert [tick.label for tick in chart.count_ticks] == ["0", "1"]


def test_one_busy_hour_fills_the_plot_and_the_others_stay_empty():
    chart = hourly_chart(_day({5: (7, 0)}))
    assert not chart.empty and chart.total_runs == 7
    tall = [i for i, bar in enumerate(chart.bars) if bar.height > 0]
    assert tall == [5]
    bar = chart.bars[5]
    assert chart.scale_max == 10
    assert bar.height == pytest.approx((chart.bottom - chart.top) * 0.7, abs=0.01)
    assert bar.y + bar.height == pytest.approx(chart.bottom)
    assert bar.label == "2026-03-09 18:00–19:00 UTC: 7 runs, 0 failed"


def test_tall_bars_scale_to_the_plot_and_small_ones_stay_visible():
    chart = hourly_chart(_day({0: (100_000, 250), 1: (1, 1), 2: (50_000, 0)}))
    assert chart.scale_max == 100_000
    plot = chart.bottom - chart.top
    assert chart.bars[0].height == pytest.approx(plot)
    assert chart.bars[2].height == pytest.approx(plot / 2)
    assert chart.bars[1].height == 1.0  # one run among a hundred thousand is still a sliver
    assert chart.bars[1].failed_height == 1.0
    assert [tick.label for tick in chart.count_ticks] == ["0", "50,000", "100,000"]
    assert all(_inside(chart, bar) for bar in chart.bars)


def test_failures_are_the_bottom_part_of_their_hour_bar():
    chart = hourly_chart(_day({3: (20, 5)}))
    bar = chart.bars[3]
    assert bar.failed_height == pytest.approx(bar.height / 4)
    assert bar.failed_y + bar.failed_height == pytest.approx(bar.y + bar.height)  # both sit on the baseline
    assert bar.label.endswith("20 runs, 5 failed")


def test_bars_are_left_to_right_in_time_without_overlapping():
    chart = hourly_chart(_day({i: (i + 1, 0) for i in range(24)}))
    xs = [bar.x for bar in chart.bars]
    assert xs == sorted(xs)
    assert all(a.x + a.width < b.x for a, b in zip(chart.bars, chart.bars[1:], strict=False))
    assert all(_inside(chart, bar) for bar in chart.bars)


def test_hours_are_labelled_every_three_hours_under_their_bar():
    chart = hourly_chart(_day())
    assert [tick.label for tick in chart.hour_ticks] == ["15:00", "18:00", "21:00", "00:00", "03:00", "06:00", "09:00", "12:00"]
    bar = chart.bars[2]  # 15:00
    assert chart.hour_ticks[0].position == pytest.approx(bar.x + bar.width / 2, abs=0.01)


@pytest.mark.parametrize(("value", "expected"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (999, 1000), (1001, 2000)])
def test_the_scale_ends_at_a_round_number_at_or_above_the_tallest_bar(value, expected):
    assert nice_ceiling(value) == expected
