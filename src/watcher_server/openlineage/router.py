"""HTTP shape of OpenLineage in (docs/openlineage.md): bodies decoded, events read, answers shaped."""

from __future__ import annotations

import json
import zlib
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError

from ..core.errors import DomainError
from ..errors import clean_errors, describe_json_error, domain_error_answer
from ..http import JSON, DatetimeQuery, ExactText, Paging, ServicesDep, api_router, read_json_exactly
from ..jobs import triggers
from . import service
from .events import EVENT_KINDS, BadEvent, read_event
from .schemas import render_event

router = api_router(tags=["openlineage"])

MAX_BATCH = 1000
ENCODINGS = ("gzip", "x-gzip", "identity", "")

_EVENT_SCHEMA = {
    "description": "An OpenLineage RunEvent, JobEvent or DatasetEvent (spec 2-0-x), or an array of at most "
    f"{MAX_BATCH} of them. May be sent with Content-Encoding: gzip.",
    "content": {"application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}},
    "required": True,
}
_ANSWERS = {200: {"description": "A repeat of an event already accepted, or the per-item results of a batch."}}


def _decoded(request: Request, body: bytes, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in ENCODINGS:
        raise HTTPException(415, f"Content-Encoding {encoding!r} is not supported; send gzip or no encoding")
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error as error:
            raise HTTPException(400, f"The body is not valid gzip ({error})") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise HTTPException(413, f"The decompressed body is larger than {limit} bytes (raise WATCHER_MAX_BODY_BYTES to allow more)")
        if not inflater.eof:
            raise HTTPException(400, "The body is not valid gzip (it ends early)")
        if inflater.unused_data:
            raise HTTPException(400, "The body has data after its gzip stream; send one gzip stream")
    return body


def _parsed(body: bytes) -> Any:
    """orjson when it reads the body exactly (facets are stored as sent), else the standard parser,
    which reads numbers beyond 64 bits exactly and names what is wrong."""
    read, value = read_json_exactly(body)
    if read:
        return value
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(400, f"The body is not UTF-8 text ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise HTTPException(400, describe_json_error(text, error.pos, error.msg)) from None
    except RecursionError:
        raise HTTPException(400, "The body's JSON nests too deeply") from None


def _located(errors: list[dict[str, Any]], *prefix: str | int) -> list[dict[str, Any]]:
    return clean_errors([{**error, "loc": (*prefix, *error["loc"])} for error in errors])


@router.post("/api/v1/lineage", status_code=201, openapi_extra={"requestBody": _EVENT_SCHEMA}, responses=_ANSWERS)
async def post_lineage(request: Request, s: ServicesDep):
    """Take OpenLineage events: each job becomes a pipeline, each run an execution, each dataset an address
    (docs/openlineage.md). 201 for a new event, 200 for a repeat, or 200 with one result per batch item."""
    payload = _parsed(_decoded(request, await request.body(), s.settings.max_body_bytes))
    if not isinstance(payload, list):
        try:
            outcome = await _apply(s, read_event(payload))
        except BadEvent as bad:
            raise RequestValidationError(_located(bad.errors, "body")) from None
        return JSON(outcome.response(), status_code=201 if outcome.status == "created" else 200)
    if len(payload) > MAX_BATCH:
        raise RequestValidationError(
            [
                {
                    "type": "too_long",
                    "loc": ("body",),
                    "msg": f"A batch holds at most {MAX_BATCH} events; got {len(payload)}",
                    "input": len(payload),
                }
            ]
        )
    results = []
    for index, item in enumerate(payload):
        try:
            outcome = await _apply(s, read_event(item))
        except BadEvent as bad:
            results.append({"status_code": 422, "status": "rejected", "detail": _located(bad.errors, "body", index)})
            continue
        except DomainError as refused:  # one item refused by a rule: the others still count
            status, detail = domain_error_answer(refused)
            results.append({"status_code": status, "status": "rejected", "detail": detail})
            continue
        results.append({"status_code": 201 if outcome.status == "created" else 200, **outcome.response()})
    counts = {
        name: sum(1 for r in results if r["status"] == status)
        for name, status in (("created", "created"), ("repeated", "repeat"), ("rejected", "rejected"))
    }
    return JSON({"results": results, **counts})


async def _apply(s, received) -> service.Outcome:
    outcome = await service.receive(s.db, s.settings, received)
    if outcome.ended is not None:
        triggers.execution_ended(s, *outcome.ended)
    return outcome


@router.get("/api/v1/lineage/events")
async def list_lineage_events(
    s: ServicesDep,
    paging: Paging,
    namespace: Annotated[ExactText, Query(description="The job's namespace (the dataset's for a DatasetEvent), exactly.")] = None,
    name: Annotated[ExactText, Query(description="The job's name (the dataset's for a DatasetEvent), exactly.")] = None,
    run_id: Annotated[str | None, Query(description="The run's runId.")] = None,
    event_kind: Annotated[Literal[EVENT_KINDS] | None, Query(description="run, job or dataset")] = None,
    since: Annotated[DatetimeQuery, Query(description="eventTime >= since")] = None,
    until: Annotated[DatetimeQuery, Query(description="eventTime < until")] = None,
):
    """The accepted OpenLineage events, each exactly as received, oldest first (for replay and audit)."""
    rows = await service.list_events(
        s.db,
        paging,
        namespace=namespace,
        name=name,
        run_id=run_id,
        event_kind=event_kind,
        since=since,
        until=until,
    )
    return JSON([render_event(row) for row in rows])
