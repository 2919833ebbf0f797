"""Response rendering of the OpenLineage event log."""

from __future__ import annotations

from typing import Any

from ..core.rendering import render_row

EVENT_KEYS = (
    "id", "received_at", "event_time", "event_kind", "event_type", "namespace", "name", "run_id", "pipeline_id", "execution_id", "event",
)  # fmt: skip


def render_event(row) -> dict[str, Any]:
    return render_row(row, EVENT_KEYS)
