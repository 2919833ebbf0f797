"""Rows as JSON values: the one place datetimes become the contract's UTC text and decimals numbers."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from .datetimes import format_datetime


def render_row(row, keys: tuple[str, ...], **computed: Any) -> dict[str, Any]:
    """The named columns of a row (or dict), in that order, as JSON values: datetimes in the
    contract's UTC text (§2.6), NUMERIC values as numbers. `computed` supplies keys the row lacks."""
    values = row if isinstance(row, dict) else row._mapping
    return {key: json_value(computed[key] if key in computed else values[key]) for key in keys}


def json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value
