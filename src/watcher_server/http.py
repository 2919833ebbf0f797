"""HTTP plumbing shared by every router: JSON responses, list parameters, the database handle."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy import Select

from .core.datetimes import format_datetime, parse_datetime
from .core.fields import storable_text
from .core.text import normalize
from .db.engine import Database


def api_router(**options) -> APIRouter:
    """Every router of the API: a body without Content-Type is read as JSON (the SDK sends some so)."""
    return APIRouter(strict_content_type=False, **options)


class JSON(Response):
    """orjson-encoded response; bodies are plain dicts whose datetimes are already formatted."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def render_row(row, keys: tuple[str, ...], **computed: Any) -> dict[str, Any]:
    """The named columns of a row (or dict), in that order, as JSON values: datetimes in the
    contract's UTC text (§2.6), NUMERIC values as numbers. `computed` supplies keys the row lacks."""
    values = row if isinstance(row, dict) else row._mapping
    return {key: _json_value(computed[key] if key in computed else values[key]) for key in keys}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


async def database(request: Request) -> Database:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop per request
    return request.app.state.db


DB = Annotated[Database, Depends(database)]


async def _body_is_not_null(request: Request) -> None:
    """An optional body may be absent or empty, but JSON `null` is not an object (§2.1): 422.
    FastAPI reads an absent body and `null` alike as None, so the raw body decides."""
    if (await request.body()).strip() == b"null":
        raise RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "Input should be a valid dictionary or object", "input": None}]
        )


# For endpoints whose body is optional: `dependencies=[OPTIONAL_OBJECT_BODY]`.
OPTIONAL_OBJECT_BODY = Depends(_body_is_not_null)


class ListParams(BaseModel):
    limit: int = Field(1000, ge=1, le=10_000, description="Rows per page (1-10000).")
    offset: int = Field(0, ge=0, le=2**63 - 1, description="Rows to skip.")
    order: Annotated[Literal["asc", "desc"], BeforeValidator(normalize)] = Field("asc", description="Order by id.")

    def apply(self, statement: Select, id_column) -> Select:
        ordering = id_column.desc() if self.order == "desc" else id_column.asc()
        return statement.order_by(ordering).limit(self.limit).offset(self.offset)

    async def fetch(self, db: Database, statement: Select, id_column) -> list:
        """One page of `statement`, ordered by `id_column`, read in its own transaction."""
        async with db.read() as conn:
            return (await conn.execute(self.apply(statement, id_column))).all()


Paging = Annotated[ListParams, Query()]

def _query_datetime(value):
    """Query strings are text, so epoch seconds arrive as digits: read those as numbers (§2.6)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass  # not a number: an ISO-8601 text, parsed below
    return None if value is None else parse_datetime(value)


def _text_filter(value):
    value = normalize(value)
    return value if value is None else storable_text(value)


# A text filter: trimmed and lower-cased like the names it is matched against; NUL is refused (422).
TextFilter = Annotated[str | None, BeforeValidator(_text_filter), Query(description="Trimmed, case-insensitive.")]
NameContains = Annotated[
    str | None, BeforeValidator(_text_filter), Query(description="Case-insensitive literal substring of the name.")
]

# A datetime query parameter accepts every §2.6 input form.
DatetimeQuery = Annotated[dt.datetime | None, BeforeValidator(_query_datetime)]
