"""GET /alerts: the alert history with delivery status (contract §12.3); POST /alerts/{id}/resend."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator

from ..core.rendering import render_row
from ..core.text import normalize
from ..http import DB, JSON, DatetimeQuery, Paging, ServicesDep, api_router
from .service import list_alerts, resend_alert
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
    return JSON([_render(found) for found in await list_alerts(db, paging, filters)])


@router.post("/alerts/{id}/resend")
async def resend(id: int, s: ServicesDep):
    """Send an alert again: whatever its state (`failed` after its retry window, `sent`, still retrying),
    it becomes due now with a fresh retry window and its attempts counted from zero. Answers the alert
    as `GET /alerts` lists it."""
    found = await resend_alert(s.db, s.settings, id, s.clock.now())
    s.jobs.enqueue("deliver_alert")  # now rather than at the next sweep
    return JSON(_render(found))


def _render(found) -> dict:
    row, pipelines, executions = found
    rendered = render_row(row, ALERT_KEYS, pipeline_ids=pipelines, pipeline_execution_ids=executions)
    if row.digest_id is not None:  # sent (or to be sent) in a digest: which one (docs/api.md, "Alert digests")
        rendered["digest_id"] = row.digest_id
    return rendered
