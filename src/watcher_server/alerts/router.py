"""GET /alerts: the alert history with delivery status (contract §12.3)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from ..core.datetimes import format_datetime
from ..core.text import normalize
from ..http import DB, JSON, DatetimeQuery, Paging, api_router
from .service import list_alerts
from .tables import EVENTS, KINDS, LEVELS

router = api_router(tags=["alerts"])



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
        [
            {
                "id": row.id, "kind": row.kind, "event": row.event, "level": row.level, "title": row.title,
                "message": row.message, "details": row.details, "pipeline_ids": pipelines,
                "pipeline_execution_ids": executions, "created_at": format_datetime(row.created_at),
                "delivery_status": row.delivery_status, "delivery_attempts": row.delivery_attempts,
                "sent_at": format_datetime(row.sent_at),
            }
            for row, pipelines, executions in rows
        ]
    )  # fmt: skip
