"""Where things go in a run chart: one metric of a pipeline's recent runs, oldest on the left, with the
baseline band (mean ± z·σ of the successful, non-anomalous runs shown). Plain numbers in, pixel positions
out; the template draws them as inline SVG. No runs, one run and equal values all give a drawable chart."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 72, 708, 10, 172  # the plot area inside the SVG's viewBox
DEFAULT_Z = 3.0  # the anomaly rules' default z_threshold
MIN_BAND_HEIGHT = 2.0  # a zero-spread baseline is still drawn, as a thin band at the mean


@dataclass(frozen=True)
class RunValue:
    """One run's value of the charted metric (None when the run did not report it)."""

    run_id: int
    start_date: dt.datetime
    value: float | None
    failed: bool
    anomaly: bool


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    run: RunValue

    @property
    def css_class(self) -> str:
        if self.run.anomaly:
            return "point anomaly"
        return "point failed" if self.run.failed else "point"


@dataclass(frozen=True)
class Baseline:
    mean: float
    sd: float
    z: float
    low: float
    high: float
    count: int  # runs it was computed from
    y: float  # top edge of the band, in pixels
    height: float


@dataclass(frozen=True)
class Tick:
    value: float
    y: float


@dataclass(frozen=True)
class Chart:
    points: list[Point]
    line: str  # SVG path data through the points, oldest first ("" with none)
    baseline: Baseline | None
    ticks: list[Tick]
    skipped: int  # runs without a (finite) value, not drawn
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    bottom: int = BOTTOM

    @property
    def empty(self) -> bool:
        return not self.points

    @property
    def first(self) -> RunValue | None:
        return self.points[0].run if self.points else None

    @property
    def last(self) -> RunValue | None:
        return self.points[-1].run if self.points else None


def baseline_stats(values: Sequence[float], z: float) -> tuple[float, float, float, float] | None:
    """(mean, σ, mean − z·σ, mean + z·σ), σ the sample standard deviation as anomaly detection computes it
    (0 for a single value); None without values."""
    if not values:
        return None
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd, mean - z * sd, mean + z * sd


# Steps a time axis reads well in: seconds, minutes, hours, days.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def nice_ticks(low: float, high: float, count: int = 4, seconds: bool = False, whole: bool = False) -> list[float]:
    """Round axis values covering [low, high]: steps of 1, 2, 2.5 or 5 times a power of ten, or for
    `seconds` whole seconds, minutes, hours or days; at least 1 for `whole` numbers (row counts)."""
    if not high > low:
        high = low + 1.0
    raw = (high - low) / count
    if seconds and raw <= TIME_STEPS[-1]:
        step = float(next(s for s in TIME_STEPS if s >= raw))
    elif seconds:
        step = _decimal_step(raw / 86400) * 86400
    else:
        step = _decimal_step(raw)
    if whole:
        step = max(step, 1.0)
    first = math.floor(low / step + 1e-9) * step
    ticks = [first]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(first + len(ticks) * step)
    return ticks


def _decimal_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def run_chart(runs: Sequence[RunValue], z: float | None = None, seconds: bool = False) -> Chart:
    """Place `runs` (oldest first) evenly from left to right; the value axis starts at 0 (or the lowest
    value, if negative) and reaches past the highest value and the band's top; `seconds` values get
    time-like axis steps."""
    z = DEFAULT_Z if z is None else z
    shown = [r for r in runs if r.value is not None and math.isfinite(r.value)]
    usual = [r.value for r in shown if not r.failed and not r.anomaly]
    stats = baseline_stats(usual, z)
    values = [r.value for r in shown]
    low = min([0.0, *values])
    high = max([low, *values, *([stats[3]] if stats else [])])
    ticks = nice_ticks(low, high, seconds=seconds, whole=all(float(v).is_integer() for v in values))
    bottom_value, top_value = ticks[0], ticks[-1]

    def y(value: float) -> float:
        clipped = min(max(value, bottom_value), top_value)
        return BOTTOM - (clipped - bottom_value) / (top_value - bottom_value) * (BOTTOM - TOP)

    step = (RIGHT - LEFT) / len(shown) if shown else 0.0
    points = [Point(round(LEFT + (i + 0.5) * step, 2), round(y(r.value), 2), r) for i, r in enumerate(shown)]
    line = " ".join(f"{'M' if i == 0 else 'L'}{p.x},{p.y}" for i, p in enumerate(points))
    band = None
    if stats is not None:
        mean, sd, band_low, band_high = stats
        top_px, height = y(band_high), y(band_low) - y(band_high)
        if height < MIN_BAND_HEIGHT:
            height = MIN_BAND_HEIGHT
            top_px = min(max(y(mean) - height / 2, TOP), BOTTOM - height)
        band = Baseline(mean, sd, z, band_low, band_high, len(usual), round(top_px, 2), round(height, 2))
    return Chart(points, line, band, [Tick(t, round(y(t), 2)) for t in ticks], len(runs) - len(shown))
