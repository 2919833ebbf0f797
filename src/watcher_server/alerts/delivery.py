"""Deliver stored alerts to the configured webhooks, with retries and back-off (contract §12.1, §15).

Attempts: the first as soon as the alert is due; after the n-th failed attempt the next waits
30 s × 2^(n-1), capped at 1 h: 30 s, 1 min, 2, 4, 8, 16, 32 min, then every hour. An alert keeps
being retried until its retry window is over (`retry_until`: recorded or re-sent time +
WATCHER_ALERT_RETRY_HOURS); the last wait is shortened to end at the window's end, and only an
attempt failing then marks it `failed`. With the default 24 h that is 31 attempts.

Up to WATCHER_ALERT_DELIVERY_CONCURRENCY alerts are sent at once, each attempt at each webhook bounded
as a whole by WATCHER_ALERT_DELIVERY_TIMEOUT_SECONDS, so a hanging receiver holds one slot, never the
others. An alert is claimed with a lease just before its attempt starts; the lease outlasts the
longest possible attempt (timeout × webhooks + LEASE_MARGIN), so two processes never send it at
once, and an alert held by a killed process is sent by another once the lease runs out. A cancelled
run (shutdown) gives the alerts it had not finished back at once.

Every request carries `Idempotency-Key: watcher-alert-<id>` and `X-Watcher-Alert-Id: <id>`: a retry
after a partial failure, or an attempt repeated after a crash, sends the same alert again, and the
receiver can drop what it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

import httpx
from sqlalchemy import select, update

from ..core.clock import CLOCK
from ..core.datetimes import format_datetime
from ..core.rendering import render_row
from ..db.engine import Database
from ..settings import Settings
from .service import delivery_configured, due
from .tables import alert
from .texts import slack_text
from .vocabulary import UNDELIVERED

log = logging.getLogger("watcher.alerts")

FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
# Beyond the attempt itself, the lease covers writing its outcome (a database write waits at most
# WATCHER_DB_LOCK_TIMEOUT_SECONDS, 5 s by default, for a lock).
LEASE_MARGIN_SECONDS = 10
# While some attempts run and slots are free, how often to look for alerts that became due meanwhile.
CLAIM_POLL_SECONDS = 1.0


def webhook_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client deliveries share: enough connections for every concurrent attempt at every
    webhook, so waiting for a free connection never eats into an attempt's timeout."""
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=2 * settings.alert_delivery_concurrency))


def retry_delay(failed_attempts: int) -> dt.timedelta:
    """The wait after the n-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h."""
    doubling = FIRST_RETRY_SECONDS * 2 ** min(max(failed_attempts - 1, 0), 20)
    return dt.timedelta(seconds=min(doubling, MAX_RETRY_SECONDS))


def channels(settings: Settings, row) -> list[tuple[str, str, dict]]:
    """(name, url, body) of each configured webhook, in the order they are tried."""
    targets = []
    if settings.slack_webhook_url:
        text = slack_text(row.level, row.title, row.message, row.details, row.created_at, row.id)
        targets.append(("Slack webhook", settings.slack_webhook_url, {"text": text}))
    if settings.alert_webhook_url:
        targets.append(("alert webhook", settings.alert_webhook_url, _payload(row)))
    return targets


def lease(settings: Settings) -> dt.timedelta:
    """How long a claim keeps other processes off an alert: its longest attempt plus a margin."""
    webhooks = bool(settings.slack_webhook_url) + bool(settings.alert_webhook_url)
    return dt.timedelta(seconds=settings.alert_delivery_timeout_seconds * webhooks + LEASE_MARGIN_SECONDS)


def idempotency_headers(alert_id: int) -> dict[str, str]:
    return {"Idempotency-Key": f"watcher-alert-{alert_id}", "X-Watcher-Alert-Id": str(alert_id)}


async def _claim(db: Database, now: dt.datetime, held_for: dt.timedelta, limit: int) -> list:
    """Lease up to `limit` due alerts; the repeated condition makes a concurrent claimer skip rows already taken."""
    async with db.write() as conn:
        due_ids = select(alert.c.id).where(due(now)).order_by(alert.c.id).limit(limit).scalar_subquery()
        statement = update(alert).where(alert.c.id.in_(due_ids), due(now)).values(next_attempt_at=now + held_for).returning(alert)
        return sorted((await conn.execute(statement)).all(), key=lambda row: row.id)


def _payload(row) -> dict:
    return render_row(row, ("id", "kind", "event", "level", "title", "message", "details", "created_at"))


async def _send(client: httpx.AsyncClient, settings: Settings, row) -> str | None:
    """None when every configured webhook answered 2xx, otherwise the first failure, naming the webhook."""
    timeout = settings.alert_delivery_timeout_seconds
    headers = idempotency_headers(row.id)
    for name, url, body in channels(settings, row):
        try:
            # httpx's own timeout bounds each read, not the whole exchange: a receiver trickling its
            # answer byte by byte would hold the slot for ever. This bounds it as a whole.
            async with asyncio.timeout(timeout):
                response = await client.post(url, json=body, headers=headers, timeout=timeout)
        except TimeoutError:
            return f"{name}: no complete answer within {timeout:g} s"
        except Exception as exc:  # any failure is this attempt's outcome, so no odd error can stall delivery
            return f"{name}: {type(exc).__name__}: {exc}"[:500]
        if not 200 <= response.status_code < 300:
            return f"{name}: HTTP {response.status_code}: {response.text[:200]}"
    return None


async def deliver_due(db: Database, settings: Settings, client: httpx.AsyncClient) -> int:
    """Send every due alert once, up to WATCHER_ALERT_DELIVERY_CONCURRENCY at a time; returns how many were sent."""
    if not delivery_configured(settings):
        return 0
    held_for = lease(settings)
    running: dict[asyncio.Task, object] = {}  # attempt -> the alert row as claimed
    sent = 0
    try:
        while True:
            free = settings.alert_delivery_concurrency - len(running)
            # Claimed only when a slot is free, so each lease starts with its attempt.
            for row in await _claim(db, CLOCK.now(), held_for, free) if free else ():
                running[asyncio.create_task(_deliver(db, settings, client, row))] = row
            if not running:
                return sent
            poll = CLAIM_POLL_SECONDS if len(running) < settings.alert_delivery_concurrency else None
            done, _ = await asyncio.wait(running, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                del running[task]
            for task in done:
                sent += task.result()  # an attempt that could not write its outcome: its alert waits out its lease
    except BaseException:  # stopped (shutdown) or failed: alerts not finished are due again at once, not after the lease
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await _release(db, list(running.values()))
        raise


async def _deliver(db: Database, settings: Settings, client: httpx.AsyncClient, row) -> int:
    """One attempt at one alert, its outcome written back and logged; 1 when it was sent."""
    started = time.perf_counter()
    error = await _send(client, settings, row)
    took_ms = (time.perf_counter() - started) * 1000
    attempts = row.delivery_attempts + 1
    now = CLOCK.now()
    about = {"alert_id": row.id, "kind": row.kind, "event": row.event, "attempt": attempts, "duration_ms": round(took_ms, 1)}
    if error is None:
        values = {"delivery_status": "sent", "delivery_attempts": attempts, "sent_at": now, "next_attempt_at": None, "delivery_error": None}
        log.info("alert %s (%s %s) delivered in %.0f ms, attempt %s", row.id, row.kind, row.event, took_ms, attempts, extra=about)
    else:
        retry_until = row.retry_until or row.created_at + dt.timedelta(hours=settings.alert_retry_hours)
        if now >= retry_until:
            values = {"delivery_status": "failed", "delivery_attempts": attempts, "delivery_error": error, "next_attempt_at": None}
            log.warning(
                "alert %s (%s %s) not delivered: its retry window ended at %s, after %s attempts: %s", row.id, row.kind, row.event,
                format_datetime(retry_until), attempts, error, extra=about,
            )  # fmt: skip
        else:
            retry_at = min(now + retry_delay(attempts), retry_until)
            values = {"delivery_status": "retrying", "delivery_attempts": attempts, "delivery_error": error, "next_attempt_at": retry_at}
            log.warning(
                "alert %s (%s %s) attempt %s failed in %.0f ms, next at %s: %s", row.id, row.kind, row.event, attempts, took_ms,
                format_datetime(retry_at), error, extra=about,
            )  # fmt: skip
    # A success is the truth whatever happened meanwhile; a failure is written only while the lease is
    # still ours, so it cannot undo another process's outcome or a re-send made during the attempt.
    condition = [alert.c.id == row.id] if error is None else _still_leased(row)
    async with db.write() as conn:
        written = (await conn.execute(update(alert).where(*condition).values(**values))).rowcount
    if not written:
        log.warning("alert %s: outcome of attempt %s not written, the alert changed meanwhile", row.id, attempts, extra=about)
    return 1 if error is None else 0


def _still_leased(row) -> list:
    """The alert still carries the lease this process put on it (RETURNING gave it back with the row)."""
    return [alert.c.id == row.id, alert.c.delivery_status.in_(UNDELIVERED), alert.c.next_attempt_at == row.next_attempt_at]


async def _release(db: Database, rows: list) -> None:
    """Give up the lease on alerts this process claimed but did not finish, so any process sends them now."""
    if rows:
        async with db.write() as conn:
            for row in rows:
                await conn.execute(update(alert).where(*_still_leased(row)).values(next_attempt_at=None))
