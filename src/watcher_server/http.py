"""HTTP plumbing shared by every router: JSON responses, typed dependencies, query parameters."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, BeforeValidator, ValidationError
from starlette.routing import BaseRoute, Match

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


class LeanRoute(BaseRoute):
    """A busy route answered without FastAPI's per-request machinery (exit stacks, telemetry spans,
    dependency solving: about a tenth of the server's CPU on the hot paths). It takes only what the
    endpoint already declares: a JSON body model and ServicesDep/DB. A body it does not accept at once
    (bad JSON, a validation error, another content type, too large) goes to the FastAPI route, which
    answers it exactly as before; what the endpoint raises goes to the app's handlers as before."""

    def __init__(self, route: APIRoute, max_body_bytes: int):
        dependant = route.dependant
        (body,) = dependant.body_params
        self.route, self.path, self.max_body_bytes = route, route.path, max_body_bytes
        self.method = next(iter(route.methods))
        self.endpoint = dependant.call
        self.body_name, self.model = body.name, body.field_info.annotation
        self.parts = {dependency.name: _SERVICE_PARTS[dependency.call] for dependency in dependant.dependencies}

    @staticmethod
    def fits(route: APIRoute) -> bool:
        dependant = route.dependant
        plain = not (dependant.query_params or dependant.path_params or dependant.header_params or dependant.cookie_params)
        return (
            plain
            and len(route.methods) == 1
            and len(dependant.body_params) == 1
            and isinstance(dependant.body_params[0].field_info.annotation, type)
            and issubclass(dependant.body_params[0].field_info.annotation, BaseModel)
            and all(d.call in _SERVICE_PARTS and not d.dependencies for d in dependant.dependencies)
        )

    def matches(self, scope) -> tuple[Match, dict]:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == self.method:
            return Match.FULL, {"endpoint": self.endpoint, "path_params": {}}
        return Match.NONE, {}

    async def handle(self, scope, receive, send) -> None:
        chunks, complete = await _read_body(receive, self.max_body_bytes)
        value = _json_object(b"".join(chunks)) if complete and _json_content(scope["headers"]) else None
        if value is not None:
            try:
                body = self.model.model_validate(value)
            except ValidationError:
                body = None
            if body is not None:
                services = scope["app"].state.services
                response = await self.endpoint(**{self.body_name: body}, **{name: part(services) for name, part in self.parts.items()})
                return await response(scope, receive, send)
        await self.route.handle(scope, _replay(chunks, complete, receive), send)


_SERVICE_PARTS = {_services: lambda services: services, _database: lambda services: services.db}


async def _read_body(receive, limit: int) -> tuple[list[bytes], bool]:
    """The body's chunks, and whether they are all of it (False: the client left, or it is over `limit`)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return chunks, False
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return chunks, False
        if not message.get("more_body", False):
            return chunks, True


def _replay(chunks: list[bytes], complete: bool, receive):
    """`receive` for the full route: what was read, then (if it was not all) the rest of the stream."""
    pending = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if complete:
        pending[-1]["more_body"] = False

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


def _json_content(headers) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return True  # no Content-Type: read as JSON (api_router)


def _json_object(body: bytes) -> dict | None:
    read, value = read_json_exactly(body)
    return value if read and isinstance(value, dict) else None


_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # every integer of at most 18 digits fits in 64 bits


def read_json_exactly(body: bytes) -> tuple[bool, Any]:
    """(True, value) when orjson, several times faster, reads the body exactly as json.loads would;
    (False, None) when the standard parser must: orjson reads an integer beyond 64 bits as a float
    (so any run of 19 digits goes to json.loads), and refuses NaN, other encodings and bad JSON."""
    if _LONG_DIGITS.search(body) is not None:
        return False, None
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None
