"""Geometry of an execution tree drawn as a timeline: one bar per run, children under their parent in
depth-first order, x from the earliest start to the latest end (a running run ends now). Pure: the
template draws what this computes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

# a tick every one of these many seconds, the first giving at most MAX_TICKS intervals
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)
MAX_TICKS = 6
INDENT = 12  # px per level of nesting in the label column
MAX_INDENT_LEVELS = 10  # deeper runs are indented as this deep, so their label keeps some room
CHAR_WIDTH = 6.5  # px of an average character at the labels' 11 px


@dataclass(frozen=True)
class Run:
    id: int
    parent_id: int | None
    label: str
    start: dt.datetime
    end: dt.datetime | None
    completed_successfully: bool | None


@dataclass(frozen=True)
class Bar:
    run: Run
    level: int  # 0 for a root
    outcome: str  # "succeeded", "failed" or "running"
    y: float  # top of the row
    x: float
    width: float
    label_x: float
    label: str  # shortened to fit the label column; the full text goes in the bar's title


@dataclass(frozen=True)
class Tick:
    x: float
    seconds: float  # after the timeline's start


@dataclass(frozen=True)
class Timeline:
    width: float
    height: float
    row_height: float
    bar_height: float
    chart_left: float
    chart_right: float
    axis_y: float
    start: dt.datetime | None
    end: dt.datetime | None
    bars: list[Bar]
    ticks: list[Tick]


def outcome(run: Run) -> str:
    """As the status badges say it: no end is running, whatever completed_successfully holds."""
    if run.end is None:
        return "running"
    return "succeeded" if run.completed_successfully else "failed"


def depth_first(runs: Sequence[Run]) -> list[tuple[Run, int]]:
    """(run, level) with each run's children right after it, ordered by start then id. A run whose parent
    is not among `runs` is a root. Iterative, so a chain of any depth cannot exhaust the stack."""
    present = {run.id for run in runs}
    children: dict[int | None, list[Run]] = {}
    for run in runs:
        parent = run.parent_id if run.parent_id in present and run.parent_id != run.id else None
        children.setdefault(parent, []).append(run)
    for siblings in children.values():
        siblings.sort(key=lambda run: (run.start, run.id))
    ordered: list[tuple[Run, int]] = []
    stack = [(run, 0) for run in reversed(children.get(None, []))]
    visited: set[int] = set()
    while stack:
        run, level = stack.pop()
        if run.id in visited:
            continue
        visited.add(run.id)
        ordered.append((run, level))
        stack.extend((child, level + 1) for child in reversed(children.get(run.id, [])))
    return ordered


def shorten(text: str, most: int) -> str:
    most = max(most, 2)
    return text if len(text) <= most else text[: most - 1] + "…"


def ticks(span_seconds: float, left: float, width: float) -> list[Tick]:
    step = next((s for s in TICK_STEPS if span_seconds / s <= MAX_TICKS), None)
    if step is None:  # longer than the longest step allows: whole weeks
        step = TICK_STEPS[-1] * int(span_seconds // (TICK_STEPS[-1] * MAX_TICKS) + 1)
    count = int(span_seconds // step)
    return [Tick(left + width * (i * step) / span_seconds, float(i * step)) for i in range(count + 1)]


def timeline(
    runs: Sequence[Run],
    now: dt.datetime,
    *,
    width: float = 960,
    label_width: float = 280,
    row_height: float = 22,
    bar_height: float = 14,
    min_bar: float = 2,
) -> Timeline:
    """Bars for `runs` (any order; drawn depth-first). A run that has not ended reaches `now`, or its
    own start if `now` is earlier (a start in the future)."""
    ordered = depth_first(runs)
    top = 24.0  # room for the tick labels
    chart_left, chart_right = label_width, width - 10
    if not ordered:
        return Timeline(width, top, row_height, bar_height, chart_left, chart_right, top, None, None, [], [])
    start = min(run.start for run, _ in ordered)
    end = max(_end(run, now) for run, _ in ordered)
    span = max((end - start).total_seconds(), 1.0)  # a zero-length tree still gets a visible axis
    chart_width = chart_right - chart_left

    def x_of(moment: dt.datetime) -> float:
        return chart_left + chart_width * (moment - start).total_seconds() / span

    bars = []
    for row, (run, level) in enumerate(ordered):
        x = x_of(run.start)
        bar_width = max(x_of(_end(run, now)) - x, min_bar)
        x = min(x, chart_right - bar_width)
        indent = min(level, MAX_INDENT_LEVELS) * INDENT
        label_x = 4 + indent
        room = int((label_width - label_x - 8) / CHAR_WIDTH)
        y = top + row * row_height
        bars.append(Bar(run, level, outcome(run), y, x, bar_width, label_x, shorten(run.label, room)))
    height = top + len(bars) * row_height + 4
    return Timeline(
        width, height, row_height, bar_height, chart_left, chart_right, top - 4, start, end, bars, ticks(span, chart_left, chart_width)
    )


def _end(run: Run, now: dt.datetime) -> dt.datetime:
    if run.end is not None:
        return max(run.end, run.start)
    return max(now, run.start)
