"""The outermost ASGI layer: a request id on every response, one access line and one metrics sample per request."""

from __future__ import annotations

import logging
import os
import re
import time

from . import metrics
from .logs import request_id

access_log = logging.getLogger("watcher.access")

MAX_REQUEST_ID_LENGTH = 128
UNMATCHED_ROUTE = "unmatched"  # metrics label for paths no route serves: never the raw path


# What a client's X-Request-ID may hold to be echoed in headers and logs: ids, UUIDs, trace ids.
_SAFE_ID = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,%d}" % MAX_REQUEST_ID_LENGTH)


def _incoming_id(headers) -> str | None:
    for name, value in headers:
        if name == b"x-request-id":
            return value.decode("ascii") if _SAFE_ID.fullmatch(value) else None
    return None


class RequestObserver:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        rid = _incoming_id(scope["headers"]) or os.urandom(8).hex()
        header = (b"x-request-id", rid.encode("ascii"))
        token = request_id.set(rid)
        status = 500  # what the client gets if the app fails before answering
        answered = False

        async def send_with_id(message):
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            elif not message.get("more_body"):
                answered = True
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette re-raises a fault after our handler answered 500 (and logged it) so that the
            # server can log it; uvicorn would log it twice and drop the connection mid-keep-alive. The
            # answer carries `Connection: close`, so the connection ends cleanly after it instead.
            if status < 500 or not answered:
                raise
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            metrics.observe_request(scope["method"], template, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                path = scope["path"]
                if scope.get("query_string"):
                    path = f"{path}?{scope['query_string'].decode('latin-1')}"
                access_log.info(
                    "%s %s %s %.1fms id=%s",
                    scope["method"],
                    path,
                    status,
                    seconds * 1000,
                    rid,
                    extra={
                        "method": scope["method"],
                        "path": path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "request_id": rid,
                    },
                )
            request_id.reset(token)
