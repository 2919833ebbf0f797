from __future__ import annotations

import asyncio

from fastapi import Request
from fastapi.responses import RedirectResponse

from ..http import DB, JSON, api_router

router = api_router(tags=["health"])

READY_TIMEOUT_SECONDS = 2.0


@router.get("/")
async def heartbeat(request: Request):
    """API clients get a heartbeat; a browser (asking for HTML) is sent to the web pages."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/ui", status_code=303)
    return JSON({"status": "ok"})


@router.get("/health")
async def health():
    """Liveness: the process answers. No database call."""
    return JSON({"status": "ok"})


@router.get("/ready")
async def ready(db: DB):
    """Readiness: the database answers a trivial query within 2 seconds."""

    try:
        await asyncio.wait_for(db.ping(), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return JSON({"status": "unavailable", "database": "unreachable", "detail": reason}, status_code=503)
    return JSON({"status": "ok", "database": "ok"})
