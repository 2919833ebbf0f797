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
    if _storable(value, depth):  # the usual answer, found without building a path per node
        return None
    try:
        if isinstance(value, float) and not math.isfinite(value):
            raise PydanticCustomError("json_number", "JSON numbers must be finite (no NaN or Infinity)")
        if isinstance(value, str):
            storable_text(value)
        elif isinstance(value, (dict, list)) and depth > MAX_JSON_DEPTH:
            raise PydanticCustomError("json_depth", "JSON objects may nest at most {max_depth} levels", {"max_depth": MAX_JSON_DEPTH})
    except PydanticCustomError as error:
        return path, error
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                storable_text(key)
            except PydanticCustomError as error:
                return path, error
            if (problem := json_problem(item, depth + 1, (*path, key))) is not None:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (problem := json_problem(item, depth + 1, (*path, index))) is not None:
                return problem
    return None


def _storable(value: Any, depth: int) -> bool:
    """json_problem(value) is None, decided by the same rules, faster."""
    if isinstance(value, str):
        return "\x00" not in value and (value.isascii() or _encodes(value))
    if isinstance(value, dict):
        if depth > MAX_JSON_DEPTH:
            return False
        for key, item in value.items():  # noqa: SIM110 (all() over a generator costs a frame per container)
            if not (_storable(key, depth) and _storable(item, depth + 1)):
                return False
        return True
    if isinstance(value, list):
        if depth > MAX_JSON_DEPTH:
            return False
        for item in value:  # noqa: SIM110 (as above)
            if not _storable(item, depth + 1):
                return False
        return True
    return not isinstance(value, float) or math.isfinite(value)


def _encodes(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
