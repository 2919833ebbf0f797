"""Execution arithmetic: duration and throughput rounding (contract §7.2)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
_FOUR_PLACES = Decimal("0.0001")


def duration_seconds(start: dt.datetime, end: dt.datetime) -> int:
    """Whole seconds between start and end, rounded half away from zero."""
    micros = (end - start) // dt.timedelta(microseconds=1)
    sign = -1 if micros < 0 else 1
    return sign * ((abs(micros) + 500_000) // 1_000_000)


def throughput(total_rows: int | None, duration: int) -> float | None:
    """Rows per second, exact decimal rounded half away from zero to 4 places."""
    if duration == 0:
        return 0.0
    if total_rows is None:
        return None
    return float((Decimal(total_rows) / Decimal(duration)).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP))
