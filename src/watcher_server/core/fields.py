"""Annotated pydantic field types that encode the contract's coercion rules (§2.2-2.6).

Every request schema is built from these, so a rule such as "names are trimmed and
lower-cased" or "booleans are never integers" is written once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from .datetimes import parse_datetime
from .numbers import INT32_MAX, INT64_MAX
from .text import normalize
from .watermarks import watermark_text


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    return value


_NoBool = BeforeValidator(_reject_bool)
_Normalized = BeforeValidator(normalize)

# A name after trimming and lower-casing, 1-150 characters.
Name = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=150)]
# An optional descriptive part (database/schema/table names), up to 150 characters.
Part = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=150)]

# Counts and sizes: lax integers, never booleans, within their column range.
Int32Positive = Annotated[int, _NoBool, Field(gt=0, le=INT32_MAX)]
Int64Count = Annotated[int, _NoBool, Field(ge=0, le=INT64_MAX)]
# Ids: any integer; one that matches no row is a 404, whatever its value (§2.8).
Id = Annotated[int, _NoBool]

DatePartValue = Annotated[Literal["minute", "hour", "day", "week", "month", "quarter", "year"], _Normalized]

Watermark = Annotated[str | None, BeforeValidator(watermark_text)]

UtcDatetime = Annotated[dt.datetime, BeforeValidator(parse_datetime)]

JsonObject = dict[str, Any] | None

__all__ = [
    "DatePartValue",
    "Id",
    "Int32Positive",
    "Int64Count",
    "JsonObject",
    "Name",
    "Part",
    "UtcDatetime",
    "Watermark",
]
