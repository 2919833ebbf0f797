"""Annotated pydantic field types that encode the contract's coercion rules (§2.2-2.6).

Every request schema is built from these, so a rule such as "names are trimmed and
lower-cased" or "booleans are never integers" is written once.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from .dateparts import DATEPARTS
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


def storable_text(value: str) -> str:
    """Text every backend can store: no NUL characters, no lone surrogates."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "String must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_unicode", "String must be valid Unicode text") from None
    return value


def _length(minimum: int, maximum: int):
    def check(value: str) -> str:
        if len(value) < minimum:
            raise PydanticCustomError("string_too_short", "String should have at least {min_length} character", {"min_length": minimum})
        if len(value) > maximum:
            raise PydanticCustomError("string_too_long", "String should have at most {max_length} characters", {"max_length": maximum})
        return storable_text(value)

    return AfterValidator(check)


MAX_JSON_DEPTH = 64


def _json_safe(value: Any) -> Any:
    """JSON objects must hold finite numbers and storable text at every level, at most MAX_JSON_DEPTH deep."""
    problem = json_problem(value)
    if problem is not None:
        raise problem[1]
    return value


def json_problem(value: Any, depth: int = 1, path: tuple[str | int, ...] = ()) -> tuple[tuple[str | int, ...], PydanticCustomError] | None:
    """The first place where `value` is not JSON every backend can store, and why; None when it is."""
    problem = _problem(value, depth)
    if problem is None:
        return None
    inside, error = problem
    return (*path, *reversed(inside)), error


def _problem(value: Any, depth: int) -> tuple[list[str | int], PydanticCustomError] | None:
    """json_problem's walk; the path is built only for a problem, innermost key first, on the way out."""
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, dict):
        if depth > MAX_JSON_DEPTH:
            return [], _too_deep()
        for key, item in value.items():
            if (problem := _text_problem(key)) is not None:
                return problem
            if (problem := _problem(item, depth + 1)) is not None:
                problem[0].append(key)
                return problem
    elif isinstance(value, list):
        if depth > MAX_JSON_DEPTH:
            return [], _too_deep()
        for index, item in enumerate(value):
            if (problem := _problem(item, depth + 1)) is not None:
                problem[0].append(index)
                return problem
    elif isinstance(value, float) and not math.isfinite(value):
        return [], PydanticCustomError("json_number", "JSON numbers must be finite (no NaN or Infinity)")
    return None


def _text_problem(value: str) -> tuple[list[str | int], PydanticCustomError] | None:
    if value.isascii() and "\x00" not in value:  # nearly every string, without encoding it
        return None
    try:
        storable_text(value)
    except PydanticCustomError as error:
        return [], error
    return None


def _too_deep() -> PydanticCustomError:
    return PydanticCustomError("json_depth", "JSON objects may nest at most {max_depth} levels", {"max_depth": MAX_JSON_DEPTH})


# A name after trimming and lower-casing (core.text.normalize, the one rule), 1-150 characters.
Name = Annotated[str, _Normalized, _length(1, 150)]
# An optional descriptive part (database/schema/table names), up to 150 characters.
Part = Annotated[str, _Normalized, _length(0, 150)]

# Counts and sizes: lax integers, never booleans, within their column range.
Int32Positive = Annotated[int, _NoBool, Field(gt=0, le=INT32_MAX)]
Int64Count = Annotated[int, _NoBool, Field(ge=0, le=INT64_MAX)]
# Ids: any integer; one that matches no row is a 404, whatever its value (§2.8).
Id = Annotated[int, _NoBool]

DatePartValue = Annotated[Literal[DATEPARTS], _Normalized]

Watermark = Annotated[str | None, BeforeValidator(watermark_text), AfterValidator(lambda v: v if v is None else storable_text(v))]

UtcDatetime = Annotated[dt.datetime, BeforeValidator(parse_datetime)]

JsonObject = Annotated[dict[str, Any] | None, AfterValidator(lambda value: _json_safe(value))]

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
    "json_problem",
]
