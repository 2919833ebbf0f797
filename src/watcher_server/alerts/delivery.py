"""Deliver stored alerts to the configured webhooks, with retries and back-off (contract §12.1, §15).

An alert is claimed with a lease before it is sent, so two processes never send the same alert;
the outcome is written back to its row. 3 attempts, 30 s / 60 s / 120 s apart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

import httpx
from sqlalchemy import and_, or_, select, update

from ..core.clock import CLOCK
from ..core.datetimes import format_datetime
from ..core.rendering import render_row
from ..db.engine import Database
from ..settings import Settings
from .service import delivery_configured
from .tables import alert
from .texts import slack_text
from .vocabulary import UNDELIVERED

log = logging.getLogger("watcher.alerts")

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = (30, 60, 120)
LEASE = dt.timedelta(minutes=5)
BATCH = 20
TIMEOUT_SECONDS = 10.0


def _due(now):
    return and_(
        alert.c.delivery_status.in_(UNDELIVERED),
        or_(alert.c.next_attempt_at.is_(None), alert.c.next_attempt_at <= now),
    )


async def _claim(db: Database, now: dt.datetime) -> list:
    """Lease due alerts; the repeated condition makes a concurrent claimer skip rows already taken."""
    async with db.write() as conn:
        due_ids = select(alert.c.id).where(_due(now)).order_by(alert.c.id).limit(BATCH).scalar_subquery()
        statement = update(alert).where(alert.c.id.in_(due_ids), _due(now)).values(next_attempt_at=now + LEASE).returning(alert)
        return sorted((await conn.execute(statement)).all(), key=lambda row: row.id)


def _payload(row) -> dict:
    return render_row(row, ("id", "kind", "event", "level", "title", "message", "details", "created_at"))


async def _send(client: httpx.AsyncClient, settings: Settings, row) -> str | None:
    """None when every configured channel answered 2xx, otherwise the first error."""
    targets = []
    if settings.slack_webhook_url:
        targets.append((settings.slack_webhook_url, {"text": slack_text(row.level, row.title, row.message, row.details, row.created_at)}))
    if settings.alert_webhook_url:
        targets.append((settings.alert_webhook_url, _payload(row)))
    for url, body in targets:
        try:
            response = await client.post(url, json=body, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if not 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}: {response.text[:200]}"
    return None


async def deliver_due(db: Database, settings: Settings, client: httpx.AsyncClient, now: dt.datetime | None = None) -> int:
    """Send every due alert once; returns how many were sent."""
    if not delivery_configured(settings):
        return 0
    sent = 0
    while True:
        now = now or CLOCK.now()
        claimed = await _claim(db, now)
        if not claimed:
            return sent
        leased = {row.id for row in claimed}
        try:
            for row in claimed:
                sent += await _deliver(db, settings, client, row)
                leased.discard(row.id)
        except BaseException:  # stopped mid-batch (shutdown): unsent alerts are due again at once, not after the lease
            with contextlib.suppress(Exception):
                await _release(db, leased)
            raise
        now = None


async def _deliver(db: Database, settings: Settings, client: httpx.AsyncClient, row) -> int:
    """One attempt at one alert, its outcome written back and logged; 1 when it was sent."""
    started = time.perf_counter()
    error = await _send(client, settings, row)
    took_ms = (time.perf_counter() - started) * 1000
    attempts = row.delivery_attempts + 1
    about = {"alert_id": row.id, "kind": row.kind, "event": row.event, "attempt": attempts, "duration_ms": round(took_ms, 1)}
    if error is None:
        values = {
            "delivery_status": "sent",
            "delivery_attempts": attempts,
            "sent_at": CLOCK.now(),
            "next_attempt_at": None,
            "delivery_error": None,
        }
        log.info("alert %s (%s %s) delivered in %.0f ms, attempt %s", row.id, row.kind, row.event, took_ms, attempts, extra=about)
    elif attempts >= MAX_ATTEMPTS:
        values = {"delivery_status": "failed", "delivery_attempts": attempts, "delivery_error": error, "next_attempt_at": None}
        log.warning("alert %s (%s %s) not delivered after %s attempts: %s", row.id, row.kind, row.event, attempts, error, extra=about)
    else:
        retry_at = CLOCK.now() + dt.timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
        values = {"delivery_status": "retrying", "delivery_attempts": attempts, "delivery_error": error, "next_attempt_at": retry_at}
        log.warning(
            "alert %s (%s %s) attempt %s failed in %.0f ms, next at %s: %s", row.id, row.kind, row.event, attempts, took_ms,
            format_datetime(retry_at), error, extra=about,
        )  # fmt: skip
    async with db.write() as conn:
        await conn.execute(update(alert).where(alert.c.id == row.id).values(**values))
    return 1 if error is None else 0


async def _release(db: Database, alert_ids: set[int]) -> None:
    """Give up the lease on alerts this process claimed but did not try, so any process sends them now."""
    if alert_ids:
        async with db.write() as conn:
            await conn.execute(
                update(alert).where(alert.c.id.in_(alert_ids), alert.c.delivery_status.in_(UNDELIVERED)).values(next_attempt_at=None)
            )
