"""The alert outbox: alerts are rows written in the transaction that raised them (contract §12)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.errors import Conflict, NotFound
from ..db.engine import Database
from ..db.filters import id_equals
from ..db.paging import Page
from ..settings import Settings
from . import texts
from .tables import alert, alert_subject
from .vocabulary import UNDELIVERED


def delivery_configured(settings: Settings) -> bool:
    return bool(settings.slack_webhook_url or settings.alert_webhook_url)


def retry_window(settings: Settings) -> dt.timedelta:
    return dt.timedelta(hours=settings.alert_retry_hours)


@dataclass
class Outbox:
    """The alerts one job run recorded. The runner sends their delivery on its way once the run's
    transactions have committed (a delivery started earlier would not see them yet)."""

    recorded: list[int] = field(default_factory=list)


async def record_alert(
    conn: AsyncConnection,
    settings: Settings,
    now: dt.datetime,
    outbox: Outbox,
    *,
    kind: str,
    event: str,
    level: str,
    title: str,
    message: str,
    details: dict[str, Any],
    pipeline_ids: list[int] = (),
    execution_ids: list[int] = (),
) -> int:
    """Store one alert and its subjects; delivery happens later, from this row. An alert about
    pipelines links to each of them in Watcher."""
    status = "pending" if delivery_configured(settings) else "not_configured"
    retry_until = now + retry_window(settings) if status == "pending" else None
    if pipeline_ids:
        details = {**details, "Links": texts.pipeline_links(settings.base_url, list(dict.fromkeys(pipeline_ids)))}
    alert_id = (
        await conn.execute(
            insert(alert)
            .values(
                kind=kind,
                event=event,
                level=level,
                title=title,
                message=message,
                details=details,
                created_at=now,
                delivery_status=status,
                retry_until=retry_until,
            )  # fmt: skip
            .returning(alert.c.id)
        )
    ).scalar_one()
    subjects = [{"alert_id": alert_id, "pipeline_id": p, "pipeline_execution_id": None} for p in dict.fromkeys(pipeline_ids)]
    subjects += [{"alert_id": alert_id, "pipeline_id": None, "pipeline_execution_id": e} for e in dict.fromkeys(execution_ids)]
    if subjects:
        await conn.execute(insert(alert_subject), subjects)
    outbox.recorded.append(alert_id)
    return alert_id


async def list_alerts(db: Database, paging: Page, filters: dict[str, Any]) -> list[dict[str, Any]]:
    statement = select(alert)
    for column in ("kind", "event", "level"):
        if filters.get(column) is not None:
            statement = statement.where(alert.c[column] == filters[column])
    for column in ("pipeline_id", "pipeline_execution_id"):
        if filters.get(column) is not None:
            subject = select(alert_subject.c.alert_id).where(id_equals(alert_subject.c[column], filters[column]))
            statement = statement.where(alert.c.id.in_(subject))
    if filters.get("since") is not None:
        statement = statement.where(alert.c.created_at >= filters["since"])
    async with db.read() as conn:
        rows = (await conn.execute(paging.apply(statement, alert.c.id))).all()
        return await _with_subjects(conn, rows)


async def _with_subjects(conn: AsyncConnection, rows: list) -> list[tuple[Any, list[int], list[int]]]:
    """Each alert row with the ids of the pipelines and executions it is about."""
    subjects: dict[int, tuple[list[int], list[int]]] = {row.id: ([], []) for row in rows}
    if rows:
        found = await conn.execute(select(alert_subject).where(alert_subject.c.alert_id.in_(list(subjects))))
        for subject in found:
            pipelines, executions = subjects[subject.alert_id]
            if subject.pipeline_id is not None:
                pipelines.append(subject.pipeline_id)
            if subject.pipeline_execution_id is not None:
                executions.append(subject.pipeline_execution_id)
    return [(row, *subjects[row.id]) for row in rows]


NO_WEBHOOK = (
    "No webhook is configured, so the alert cannot be sent: set WATCHER_SLACK_WEBHOOK_URL or WATCHER_ALERT_WEBHOOK_URL "
    "and restart the server"
)


def due(now: dt.datetime):
    """Undelivered and not waiting out a back-off or a lease: what a delivery run takes now."""
    return and_(alert.c.delivery_status.in_(UNDELIVERED), or_(alert.c.next_attempt_at.is_(None), alert.c.next_attempt_at <= now))


async def resend_alert(db: Database, settings: Settings, alert_id: int, now: dt.datetime) -> tuple[Any, list[int], list[int]]:
    """Make an alert due now, as if just recorded: a fresh retry window, its attempts counted from zero,
    sent alone (out of any digest it was in).
    Any state is accepted: a failed one after the receiver is fixed, a sent one the receiver lost, a
    retrying one that should not wait for its next attempt."""
    async with db.write() as conn:
        found = await conn.execute(
            update(alert)
            .where(id_equals(alert.c.id, alert_id))
            .values(
                delivery_status="pending", delivery_attempts=0, delivery_error=None, sent_at=None, next_attempt_at=None,
                retry_until=now + retry_window(settings), digest_id=None,
            )
            .returning(alert)
        )  # fmt: skip
        row = found.one_or_none()
        if row is None:
            raise NotFound("Alert not found")
        if not delivery_configured(settings):
            raise Conflict(NO_WEBHOOK)  # raised inside the transaction: the alert is left as it was
        [rendered] = await _with_subjects(conn, [row])
        return rendered


async def prune_alerts(db: Database, settings: Settings, now) -> int:
    """Drop alert history older than WATCHER_ALERT_RETENTION_DAYS that is no longer waiting to be sent."""
    cutoff = now - dt.timedelta(days=settings.alert_retention_days)
    async with db.write() as conn:
        old = select(alert.c.id).where(alert.c.created_at < cutoff, alert.c.delivery_status.not_in(UNDELIVERED))
        await conn.execute(delete(alert_subject).where(alert_subject.c.alert_id.in_(old)))
        return (await conn.execute(delete(alert).where(alert.c.id.in_(old)))).rowcount
