"""Geometry of the overview's bar chart of runs per hour: plain numbers the template draws as SVG.

One bar per hour; a failed-runs bar is drawn over the bottom of each bar, so the red part is the share
of that hour's runs that failed. The vertical scale ends at a round number at or above the tallest bar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

WIDTH = 720
HEIGHT = 190
LEFT = 44  # room for the count labels
RIGHT = 8
TOP = 10
BOTTOM = 22  # room for the hour labels
GAP = 0.2  # share of an hour's slot left empty between bars
LABEL_EVERY = 3  # hours between x-axis labels


class HourRuns(Protocol):
    hour: dt.datetime  # the hour's start, UTC
    runs: int
    failures: int


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float  # top of the runs bar
    height: float
    failed_y: float
    failed_height: float
    label: str  # the bar's tooltip


@dataclass(frozen=True)
class Tick:
    position: float  # x for hour labels, y for count labels
    label: str


@dataclass(frozen=True)
class HourlyChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float  # y of the baseline
    bars: list[Bar]
    hour_ticks: list[Tick]
    count_ticks: list[Tick]
    scale_max: int
    total_runs: int
    total_failures: int

    @property
    def empty(self) -> bool:
        return self.total_runs == 0


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … that is at least `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _height(count: int, scale_max: int, plot_height: float) -> float:
    if count <= 0:
        return 0.0
    # a single run next to thousands still shows as a sliver
    return max(1.0, plot_height * count / scale_max)


def hourly_chart(hours: Sequence[HourRuns]) -> HourlyChart:
    """Lay out one bar per entry of `hours` (oldest first)."""
    right = WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    plot_width = right - LEFT
    plot_height = bottom - TOP
    scale_max = nice_ceiling(max((h.runs for h in hours), default=0))
    slot = plot_width / max(len(hours), 1)
    width = slot * (1 - GAP)
    bars, hour_ticks = [], []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot + (slot - width) / 2
        height = _height(hour.runs, scale_max, plot_height)
        failed = min(height, _height(hour.failures, scale_max, plot_height))
        end = hour.hour + dt.timedelta(hours=1)
        runs = "1 run" if hour.runs == 1 else f"{hour.runs:,} runs"
        label = f"{hour.hour:%Y-%m-%d %H:%M}–{end:%H:%M} UTC: {runs}, {hour.failures:,} failed"
        bars.append(
            Bar(
                round(x, 2),
                round(width, 2),
                round(bottom - height, 2),
                round(height, 2),
                round(bottom - failed, 2),
                round(failed, 2),
                label,
            )
        )
        if hour.hour.hour % LABEL_EVERY == 0:
            hour_ticks.append(Tick(round(x + width / 2, 2), f"{hour.hour:%H}:00"))
    values = (0, scale_max // 2, scale_max) if scale_max % 2 == 0 else (0, scale_max)  # never half a run
    count_ticks = [Tick(round(bottom - plot_height * value / scale_max, 2), f"{value:,}") for value in values]
    return HourlyChart(
        WIDTH, HEIGHT, LEFT, right, TOP, bottom, bars, hour_ticks, count_ticks, scale_max,
        sum(h.runs for h in hours), sum(h.failures for h in hours),
    )  # fmt: skip
