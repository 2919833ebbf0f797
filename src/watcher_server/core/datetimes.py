"""Datetime input parsing and output formatting (API contract §2.6)."""

from __future__ import annotations

import datetime as dt
import math

UTC = dt.UTC


def parse_datetime(value: object) -> dt.datetime:
    """Read any accepted datetime input as an aware UTC datetime, or raise ValueError."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"Unable to parse datetime from boolean {value!r}")
    elif isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"Unable to parse datetime from {value!r}")
        try:
            result = dt.datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"Unable to parse datetime from epoch seconds {value!r}") from None
    elif isinstance(value, str):
        text = value.strip().upper()
        try:
            if len(text) == 10 and text[4:5] == "-":
                result = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), UTC)
            else:
                result = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"Unable to parse datetime {value!r}; use ISO-8601 such as 2024-01-01T10:00:00Z") from None
    else:
        raise ValueError(f"Unable to parse datetime from {type(value).__name__}")
    if result.tzinfo is None:
        return result.replace(tzinfo=UTC)
    try:
        return result.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"Unable to parse datetime {value!r}: outside years 1-9999 in UTC") from None


def format_datetime(value: dt.datetime | None) -> str | None:
    """UTC, ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``; the fraction only when non-zero."""
    if value is None:
        return None
    if value.tzinfo is UTC:  # what the database layer returns: drop the "+00:00" suffix
        return value.isoformat()[:-6] + "Z"
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    # isoformat() already omits a zero fraction, and is several times faster than strftime
    return value.isoformat() + "Z"
