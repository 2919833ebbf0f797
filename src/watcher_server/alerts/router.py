"""GET /alerts: the alert history with delivery status (contract §12.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from ..core.rendering import render_row
from ..core.text import normalize
from ..http import DB, JSON, DatetimeQuery, Paging, api_router
from .service import list_alerts
from .vocabulary import EVENTS, KINDS, LEVELS

router = api_router(tags=["alerts"])


ALERT_KEYS = (
    "id", "kind", "event", "level", "title", "message", "details", "pipeline_ids", "pipeline_execution_ids",
    "created_at", "delivery_status", "delivery_attempts", "sent_at",
)  # fmt: skip


@router.get("/alerts")
async def alerts(
    db: DB,
    paging: Paging,
    kind: Annotated[Literal[KINDS] | None, BeforeValidator(normalize)] = None,
    event: Annotated[Literal[EVENTS] | None, BeforeValidator(normalize)] = None,
    level: Annotated[Literal[LEVELS] | None, BeforeValidator(normalize)] = None,
    pipeline_id: int | None = None,
    pipeline_execution_id: int | None = None,
    since: DatetimeQuery = None,
):
    filters = {"kind": kind, "event": event, "level": level, "pipeline_id": pipeline_id,
               "pipeline_execution_id": pipeline_execution_id, "since": since}  # fmt: skip
    rows = await list_alerts(db, paging, filters)
    return JSON(
        [render_row(row, ALERT_KEYS, pipeline_ids=pipelines, pipeline_execution_ids=executions) for row, pipelines, executions in rows]
    )
