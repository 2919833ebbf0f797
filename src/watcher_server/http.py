"""HTTP plumbing shared by every router: JSON responses, typed dependencies, query parameters."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BeforeValidator

from .core.clock import Clock
from .core.datetimes import parse_datetime
from .core.fields import storable_text
from .core.text import normalize
from .db.engine import Database
from .db.paging import DEFAULT_LIMIT, MAX_LIMIT, Page
from .services import JobQueue, Services


def api_router(**options) -> APIRouter:
    """Every router of the API: a body without Content-Type is read as JSON (the SDK sends some so)."""
    return APIRouter(strict_content_type=False, **options)


class JSON(Response):
    """orjson-encoded response; bodies are plain dicts whose datetimes are already formatted."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except orjson.JSONEncodeError:
            # orjson writes only 64-bit integers and nests 254 levels; stored metadata may hold more
            # (an exact big integer, or 1e20 that PostgreSQL's jsonb gives back in plain notation):
            # the standard encoder writes those exactly, so no stored value can break a read.
            return json.dumps(_finite(content), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _finite(value: Any) -> Any:
    """NaN and infinities (a SQLite row written outside the API may hold 1e400) become null, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


async def _services(request: Request) -> Services:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop per request
    return request.app.state.services


async def _database(request: Request) -> Database:
    return request.app.state.services.db


async def _clock(request: Request) -> Clock:
    return request.app.state.services.clock


async def _jobs(request: Request) -> JobQueue:
    return request.app.state.services.jobs


# Typed dependencies: what a route needs of the process's Services, and nothing else.
ServicesDep = Annotated[Services, Depends(_services)]
DB = Annotated[Database, Depends(_database)]
ClockDep = Annotated[Clock, Depends(_clock)]
Jobs = Annotated[JobQueue, Depends(_jobs)]


async def _body_is_not_null(request: Request) -> None:
    """An optional body may be absent or empty, but JSON `null` is not an object (§2.1): 422.
    FastAPI reads an absent body and `null` alike as None, so the raw body decides."""
    if (await request.body()).strip() == b"null":
        raise RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary or object", "input": None}]
        )


# For endpoints whose body is optional: `dependencies=[OPTIONAL_OBJECT_BODY]`.
OPTIONAL_OBJECT_BODY = Depends(_body_is_not_null)

Order = Annotated[Literal["asc", "desc"], BeforeValidator(normalize)]


async def _page(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page (1-{MAX_LIMIT}).")] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="Rows to skip.")] = 0,
    order: Annotated[Order, Query(description="Order by id.")] = "asc",
) -> Page:
    return Page(limit, offset, order)


Paging = Annotated[Page, Depends(_page)]


def _query_datetime(value):
    """Query strings are text, so epoch seconds arrive as digits: read those as numbers (§2.6)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a number: an ISO-8601 text, parsed below
            value = float(value)
    return None if value is None else parse_datetime(value)


def _text_filter(value):
    value = normalize(value)
    return value if value is None else storable_text(value)


# A text filter: trimmed and lower-cased like the names it is matched against; NUL is refused (422).
TextFilter = Annotated[str | None, BeforeValidator(_text_filter), Query(description="Trimmed, case-insensitive.")]
NameContains = Annotated[str | None, BeforeValidator(_text_filter), Query(description="Case-insensitive literal substring of the name.")]

# A text filter matched exactly as stored (no trimming or lower-casing); NUL is refused (422).
ExactText = Annotated[str | None, BeforeValidator(lambda value: value if value is None else storable_text(value))]

# A datetime query parameter accepts every §2.6 input form.
DatetimeQuery = Annotated[dt.datetime | None, BeforeValidator(_query_datetime)]
