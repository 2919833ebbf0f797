"""Error responses: every error body carries `detail` and `message` (contract §2.8)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from .core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unprocessable
from .db.engine import DatabaseBusy
from .db.transient import is_transient

log = logging.getLogger("watcher.errors")


# The status each domain failure gets (services know nothing of HTTP).
DOMAIN_STATUS = {Invalid: 400, Forbidden: 403, NotFound: 404, Conflict: 409, Unprocessable: 422}


def error_body(detail, message: str) -> dict:
    return {"detail": detail, "message": message}


def _json_error(status: int, detail, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(detail, message), status_code=status, headers=headers)


def describe_json_error(document: str | bytes, position: int, reason: str) -> str:
    """ "Invalid JSON at line L, column C: <reason>" with trailing commas called by name."""
    if isinstance(document, bytes):
        document = document.decode("utf-8", errors="replace")
    position = max(0, min(position, len(document)))
    line = document.count("\n", 0, position) + 1
    column = position - (document.rfind("\n", 0, position) + 1) + 1
    before = document[:position].rstrip()
    if before.endswith(",") and document[position : position + 1] in ("}", "]"):
        reason = "trailing comma"
    else:
        reason = reason[:1].lower() + reason[1:]
    return f"Invalid JSON at line {line}, column {column}: {reason}"


def _jsonable(value):
    """The echoed input, made safe to write: NaN, Infinity and lone surrogates become text."""
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
        return value
    except (TypeError, ValueError, UnicodeEncodeError):
        return repr(value).encode("utf-8", errors="replace").decode("utf-8")


def _clean_validation_errors(exc: RequestValidationError) -> list[dict]:
    return clean_errors(exc.errors(), exc.body)


def clean_errors(raw_errors, body=None) -> list[dict]:
    """Validation errors as the API writes them: type, loc, msg and the offending input, all JSON-safe."""
    errors = []
    for error in raw_errors:
        item = {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"], "input": _jsonable(error.get("input"))}
        if error["type"] == "json_invalid":
            position = error["loc"][1] if len(error["loc"]) > 1 else 0
            reason = (error.get("ctx") or {}).get("error", "malformed JSON")
            item["msg"] = describe_json_error(body or "", position, reason)
            item["loc"] = ["body", position]
            item["input"] = {}
            item["ctx"] = {"error": item["msg"]}
        elif isinstance(error.get("input"), (bytes, bytearray)):
            item["msg"] = "Request body must be a JSON object sent with Content-Type: application/json"
            item["input"] = error["input"][:200].decode("utf-8", errors="replace")
        elif error.get("ctx"):
            item["ctx"] = {k: _jsonable(v) for k, v in error["ctx"].items()}
        errors.append(item)
    return errors


async def _validation_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = _clean_validation_errors(exc)
    return _json_error(422, errors, errors[0]["msg"] if errors else "Validation error")


def domain_error_answer(exc: DomainError) -> tuple[int, Any]:
    """(status, detail) of a domain error: 422 in the validation shape for Unprocessable, else its text."""
    if isinstance(exc, Unprocessable):
        return 422, [{"type": exc.kind, "loc": list(exc.loc), "msg": exc.detail, "input": _jsonable(exc.input_value)}]
    return next(code for kind, code in DOMAIN_STATUS.items() if isinstance(exc, kind)), exc.detail


async def _domain_error_handler(_request: Request, exc: DomainError) -> JSONResponse:
    status, detail = domain_error_answer(exc)
    return _json_error(status, detail, exc.detail)


def _undecodable_body(exc: StarletteHTTPException) -> dict | None:
    """FastAPI answers 400 "There was an error parsing the body" when json.loads fails with anything but
    a JSONDecodeError; the contract calls those bodies invalid (422) and the client needs to know why."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        msg = f"Request body is not valid UTF-8: byte 0x{cause.object[cause.start]:02x} at position {cause.start}"
        return {"type": "json_invalid", "loc": ["body", cause.start], "msg": msg, "input": {}, "ctx": {"error": msg}}
    if isinstance(cause, RecursionError):
        msg = "Request body JSON is nested too deeply to parse"
        return {"type": "json_invalid", "loc": ["body"], "msg": msg, "input": {}, "ctx": {"error": msg}}
    return None


async def _http_exception_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and (item := _undecodable_body(exc)) is not None:
        return _json_error(422, [item], item["msg"])
    detail = exc.detail if exc.detail is not None else "Error"
    message = detail if isinstance(detail, str) else json.dumps(detail)
    return _json_error(exc.status_code, detail, message, headers=getattr(exc, "headers", None))


async def _unavailable_handler(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return _json_error(503, "Service unavailable", "Service unavailable", headers={"Retry-After": "1"})


async def _unexpected_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A brief database outage (restart, freeze, lost connection, timeout) is a 503 the client can retry;
    anything else is a server fault: 500, and the connection is closed cleanly rather than dropped."""
    if is_transient(exc):
        return await _unavailable_handler(request, exc)
    log.exception("unexpected server fault", exc_info=exc)
    return _json_error(500, "Internal server error", "Internal server error", headers={"Connection": "close"})


def _for_pages_too(handler):
    """The web pages (under /ui) show the same error as a page: `app.state.render_error(request, response)`,
    set by whoever installs the pages, turns the JSON answer into HTML with the same status and headers."""

    async def handle(request: Request, exc: Exception):
        response = await handler(request, exc)
        render = getattr(request.app.state, "render_error", None)
        if render is not None and (request.url.path == "/ui" or request.url.path.startswith("/ui/")):
            return render(request, response)
        return response

    return handle


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _for_pages_too(_validation_handler))
    for kind in DOMAIN_STATUS:
        app.add_exception_handler(kind, _for_pages_too(_domain_error_handler))
    app.add_exception_handler(StarletteHTTPException, _for_pages_too(_http_exception_handler))
    for unavailable in (OperationalError, InterfaceError, DatabaseBusy):
        app.add_exception_handler(unavailable, _for_pages_too(_unavailable_handler))
    # Database errors in the inner middleware (answered there); Exception in Starlette's outermost one,
    # which re-raises after answering (request_observer handles that).
    for database_failure in (DBAPIError, PoolTimeout, OSError, TimeoutError, Exception):
        app.add_exception_handler(database_failure, _for_pages_too(_unexpected_error_handler))
