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

Rate limit (WATCHER_ALERT_RATE_LIMIT_PER_MINUTE, 0 = none): each channel gets at most that many
messages per one-minute window (alert_channel_window; the window starts with the first message after
the previous one ended). When more alerts are due than a window has room for, the oldest go alone and
the last message left is one digest listing all the others; the window's further alerts wait for the
next one. A digest's alerts share its delivery state (alert.digest_id names it, by the id of its first
alert): claimed, leased, retried and given back together, `digested` once it is sent, so nothing is
dropped; its requests carry `Idempotency-Key: watcher-digest-<id>` and `X-Watcher-Digest-Id`. Every post counts, a failed one too (a receiver answering 500 may still have shown it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass

import httpx
from sqlalchemy import and_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.clock import CLOCK
from ..core.datetimes import format_datetime
from ..core.rendering import render_row
from ..db.engine import Database
from ..db.upsert import insert_ignoring_conflicts
from ..settings import Settings
from .service import delivery_configured, due
from .tables import alert, alert_channel_window
from .texts import digest_slack_text, slack_text
from .vocabulary import DIGEST_UNDELIVERED_SQL, UNDELIVERED

log = logging.getLogger("watcher.alerts")

FIRST_RETRY_SECONDS = 30
MAX_RETRY_SECONDS = 3600
# Beyond the attempt itself, the lease covers writing its outcome (a database write waits at most
# WATCHER_DB_LOCK_TIMEOUT_SECONDS, 5 s by default, for a lock).
LEASE_MARGIN_SECONDS = 10
# While some attempts run and slots are free, how often to look for alerts that became due meanwhile.
CLAIM_POLL_SECONDS = 1.0
# The rate limit's channels, by the setting that configures each, and the length of its window.
RATE_LIMITED_CHANNELS = (("slack", "slack_webhook_url"), ("webhook", "alert_webhook_url"))
RATE_WINDOW = dt.timedelta(minutes=1)
DIGEST_KEYS = ("id", "kind", "event", "level", "title", "message", "created_at")


@dataclass
class Claimed:
    """What one attempt sends: one alert alone, or a digest of several (`digest_id` set). The rows are
    as claimed: their `next_attempt_at` is this process's lease."""

    rows: list
    digest_id: int | None = None

    @property
    def first(self):
        return self.rows[0]


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


def digest_channels(settings: Settings, digest_id: int, rows: list) -> list[tuple[str, str, dict]]:
    """(name, url, body) of each configured webhook for one digest message."""
    targets = []
    if settings.slack_webhook_url:
        targets.append(("Slack webhook", settings.slack_webhook_url, {"text": digest_slack_text(settings.base_url, digest_id, rows)}))
    if settings.alert_webhook_url:
        body = {"kind": "digest", "id": digest_id, "alerts": [render_row(row, DIGEST_KEYS) for row in rows]}
        targets.append(("alert webhook", settings.alert_webhook_url, body))
    return targets


def lease(settings: Settings) -> dt.timedelta:
    """How long a claim keeps other processes off an alert: its longest attempt plus a margin."""
    webhooks = bool(settings.slack_webhook_url) + bool(settings.alert_webhook_url)
    return dt.timedelta(seconds=settings.alert_delivery_timeout_seconds * webhooks + LEASE_MARGIN_SECONDS)


def idempotency_headers(alert_id: int) -> dict[str, str]:
    return {"Idempotency-Key": f"watcher-alert-{alert_id}", "X-Watcher-Alert-Id": str(alert_id)}


def digest_headers(digest_id: int) -> dict[str, str]:
    return {"Idempotency-Key": f"watcher-digest-{digest_id}", "X-Watcher-Digest-Id": str(digest_id)}


def _due_alone(now: dt.datetime):
    """Due, and not part of a digest (a digest's alerts are claimed together, as the digest)."""
    return and_(due(now), alert.c.digest_id.is_(None))


def _digest_due(now: dt.datetime):
    return and_(text(DIGEST_UNDELIVERED_SQL), or_(alert.c.next_attempt_at.is_(None), alert.c.next_attempt_at <= now))


async def _claim(db: Database, settings: Settings, now: dt.datetime, held_for: dt.timedelta, slots: int) -> list[Claimed]:
    """Lease what up to `slots` attempts send now: digests due again first, then alerts alone, oldest
    first, within the channels' rate limit; when more are due than the window has room for, its last
    message is a new digest of all the others. The repeated due condition makes a concurrent claimer
    skip rows already taken."""
    limit = settings.alert_rate_limit_per_minute
    leased_until = now + held_for
    async with db.write() as conn:
        # the delivery tick runs every few seconds; with nothing due it takes no window lock
        if (await conn.execute(select(alert.c.id).where(or_(due(now), _digest_due(now))).limit(1))).first() is None:
            return []
        windows = await _lock_windows(conn, settings, now) if limit else []
        left = min([limit - _used(window, now) for window in windows], default=limit) if limit else slots
        budget = min(slots, left)
        if budget <= 0:
            return []
        digests = select(alert.c.digest_id).where(_digest_due(now)).distinct().order_by(alert.c.digest_id).limit(budget)
        claimed = []
        for digest_id in (await conn.execute(digests)).scalars().all():
            rows = await _lease(conn, and_(alert.c.digest_id == digest_id, _digest_due(now)), leased_until)
            if rows:
                claimed.append(Claimed(rows, digest_id))
        slots, left = slots - len(claimed), left - len(claimed)
        if slots > 0 and left > 0:
            ids = (await conn.execute(select(alert.c.id).where(_due_alone(now)).order_by(alert.c.id).limit(left + 1))).scalars().all()
            if not limit or len(ids) <= left:  # all fit in the window
                alone, first_of_digest = ids[:slots], None
            elif slots >= left:  # more than fit: the window's last message is a digest of the rest
                alone, first_of_digest = ids[: left - 1], ids[left - 1]
            else:  # the digest waits until it can be sent as the window's last message
                alone, first_of_digest = ids[:slots], None
            if alone:
                claimed += [Claimed([row]) for row in await _lease(conn, and_(alert.c.id.in_(alone), _due_alone(now)), leased_until)]
            if first_of_digest is not None:
                members = and_(alert.c.id >= first_of_digest, _due_alone(now))
                rows = await _lease(conn, members, leased_until, digest_id=first_of_digest)
                if rows:
                    claimed.append(Claimed(rows, first_of_digest))
                    log.info(
                        "alerts %s to %s: %s alerts over the rate limit of %s a minute go in digest %s", rows[0].id, rows[-1].id,
                        len(rows), limit, first_of_digest, extra={"digest_id": first_of_digest, "alerts": len(rows)},
                    )  # fmt: skip
        if windows and claimed:
            await _spend(conn, windows, now, len(claimed))
        return claimed


async def _lease(conn: AsyncConnection, condition, leased_until: dt.datetime, **values) -> list:
    statement = update(alert).where(condition).values(next_attempt_at=leased_until, **values).returning(alert)
    return sorted((await conn.execute(statement)).all(), key=lambda row: row.id)


def _rate_limited_channels(settings: Settings) -> list[str]:
    return [name for name, setting in RATE_LIMITED_CHANNELS if getattr(settings, setting)]


async def _lock_windows(conn: AsyncConnection, settings: Settings, now: dt.datetime) -> list:
    """The rate windows of the configured channels, locked until the claim commits (PostgreSQL; SQLite
    has one writer at a time anyway), so concurrent claimers count each other's messages."""
    names = _rate_limited_channels(settings)
    statement = select(alert_channel_window).where(alert_channel_window.c.channel.in_(names)).with_for_update()
    windows = (await conn.execute(statement)).all()
    if len(windows) < len(names):  # a channel's first message: its row, then the lock
        missing = [{"channel": name, "window_start": now, "used": 0} for name in names]
        await conn.execute(insert_ignoring_conflicts(conn, alert_channel_window, ["channel"]).values(missing))
        windows = (await conn.execute(statement)).all()
    return windows


def _window_over(window, now: dt.datetime) -> bool:
    return not window.window_start <= now < window.window_start + RATE_WINDOW


def _used(window, now: dt.datetime) -> int:
    return 0 if _window_over(window, now) else window.used


async def _spend(conn: AsyncConnection, windows: list, now: dt.datetime, messages: int) -> None:
    for window in windows:
        start, used = (now, messages) if _window_over(window, now) else (window.window_start, window.used + messages)
        where = alert_channel_window.c.channel == window.channel
        await conn.execute(update(alert_channel_window).where(where).values(window_start=start, used=used))


def _payload(row) -> dict:
    return render_row(row, ("id", "kind", "event", "level", "title", "message", "details", "created_at"))


async def _send(client: httpx.AsyncClient, settings: Settings, claimed: Claimed) -> str | None:
    """None when every configured webhook answered 2xx, otherwise the first failure, naming the webhook."""
    timeout = settings.alert_delivery_timeout_seconds
    if claimed.digest_id is None:
        targets, headers = channels(settings, claimed.first), idempotency_headers(claimed.first.id)
    else:
        targets, headers = digest_channels(settings, claimed.digest_id, claimed.rows), digest_headers(claimed.digest_id)
    for name, url, body in targets:
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
    """Send every due alert once (alone or in a digest), up to WATCHER_ALERT_DELIVERY_CONCURRENCY
    messages at a time; returns how many alerts were sent."""
    if not delivery_configured(settings):
        return 0
    held_for = lease(settings)
    running: dict[asyncio.Task, Claimed] = {}  # attempt -> what it sends, as claimed
    sent = 0
    try:
        while True:
            free = settings.alert_delivery_concurrency - len(running)
            # Claimed only when a slot is free, so each lease starts with its attempt.
            for claimed in await _claim(db, settings, CLOCK.now(), held_for, free) if free else ():
                running[asyncio.create_task(_deliver(db, settings, client, claimed))] = claimed
            if not running:
                return sent
            poll = CLAIM_POLL_SECONDS if len(running) < settings.alert_delivery_concurrency else None
            done, _ = await asyncio.wait(running, timeout=poll, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                del running[task]
            for task in done:
                sent += task.result()  # an attempt that could not write its outcome: its alerts wait out their lease
    except BaseException:  # stopped (shutdown) or failed: alerts not finished are due again at once, not after the lease
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await _release(db, list(running.values()))
        raise


async def _deliver(db: Database, settings: Settings, client: httpx.AsyncClient, claimed: Claimed) -> int:
    """One attempt at one alert or digest, its outcome written back and logged; the alerts sent."""
    started = time.perf_counter()
    error = await _send(client, settings, claimed)
    took_ms = (time.perf_counter() - started) * 1000
    now = CLOCK.now()
    rows, digest_id = claimed.rows, claimed.digest_id
    # A digest's alerts count each of its attempts; its back-off follows the attempts of the digest
    # itself (its newest alert's), its window ends with the last of theirs.
    attempts = min(row.delivery_attempts for row in rows) + 1
    retry_until = max(row.retry_until or row.created_at + dt.timedelta(hours=settings.alert_retry_hours) for row in rows)
    if digest_id is None:
        what, about = f"alert {claimed.first.id} ({claimed.first.kind} {claimed.first.event})", {"alert_id": claimed.first.id}
        about |= {"kind": claimed.first.kind, "event": claimed.first.event}
        counted = {"delivery_attempts": attempts}
    else:
        what, about = f"digest {digest_id} of {len(rows)} alerts", {"digest_id": digest_id, "alerts": len(rows)}
        counted = {"delivery_attempts": alert.c.delivery_attempts + 1}
    about |= {"attempt": attempts, "duration_ms": round(took_ms, 1)}
    if error is None:
        status = "sent" if digest_id is None else "digested"
        values = {"delivery_status": status, **counted, "sent_at": now, "next_attempt_at": None, "delivery_error": None}
        log.info("%s delivered in %.0f ms, attempt %s", what, took_ms, attempts, extra=about)
    elif now >= retry_until:
        values = {"delivery_status": "failed", **counted, "delivery_error": error, "next_attempt_at": None}
        log.warning(
            "%s not delivered: its retry window ended at %s, after %s attempts: %s", what, format_datetime(retry_until), attempts, error,
            extra=about,
        )  # fmt: skip
    else:
        retry_at = min(now + retry_delay(attempts), retry_until)
        values = {"delivery_status": "retrying", **counted, "delivery_error": error, "next_attempt_at": retry_at}
        log.warning(
            "%s attempt %s failed in %.0f ms, next at %s: %s", what, attempts, took_ms, format_datetime(retry_at), error, extra=about
        )  # fmt: skip
    # A success is the truth whatever happened meanwhile (for a digest: for the alerts still in it); a
    # failure is written only while the lease is still ours, so it cannot undo another process's
    # outcome or a re-send made during the attempt.
    if digest_id is None:
        condition = [alert.c.id == claimed.first.id] if error is None else _still_leased(claimed)
    else:
        condition = [alert.c.digest_id == digest_id, text(DIGEST_UNDELIVERED_SQL)] if error is None else _still_leased(claimed)
    async with db.write() as conn:
        written = (await conn.execute(update(alert).where(*condition).values(**values))).rowcount
    if not written:
        log.warning("%s: outcome of attempt %s not written, the alert changed meanwhile", what, attempts, extra=about)
    if error is not None:
        return 0
    return 1 if digest_id is None else written


def _still_leased(claimed: Claimed) -> list:
    """The alerts still carry the lease this process put on them (RETURNING gave it back with the rows)."""
    leased = [alert.c.delivery_status.in_(UNDELIVERED), alert.c.next_attempt_at == claimed.first.next_attempt_at]
    if claimed.digest_id is None:
        return [alert.c.id == claimed.first.id, *leased]
    return [alert.c.digest_id == claimed.digest_id, *leased]


async def _release(db: Database, claims: list[Claimed]) -> None:
    """Give up the lease on what this process claimed but did not finish, so any process sends it now."""
    if claims:
        async with db.write() as conn:
            for claimed in claims:
                await conn.execute(update(alert).where(*_still_leased(claimed)).values(next_attempt_at=None))
