"""Alert delivery to real webhooks on loopback, retries, and once-only ticks and sends (§12.1, §15)."""

import asyncio
import datetime as dt

import httpx
from sqlalchemy import select

from watcher_server.alerts.delivery import deliver_due
from watcher_server.alerts.service import Outbox, record_alert
from watcher_server.alerts.tables import alert
from watcher_server.db.engine import Database, create_engine
from watcher_server.jobs.runner import claim_tick

from ..webhook_receiver import WebhookReceiver

NOW = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


async def _alert(db, settings, **extra):
    async with db.write() as conn:
        return await record_alert(
            conn, settings, NOW, Outbox(), kind="freshness", event="opened", level="warning", title="Freshness Check - Pipeline DML",
            message="Pipeline Freshness Check - 1 NEW pipeline(s) overdue",
            details={"Failed Pipelines": "\n\t• orders (ID: 1): Last DML 2025-03-01T08:00:00Z, Expected within 1 hour"},
            pipeline_ids=[1], **extra,
        )  # fmt: skip


async def _row(db, alert_id):
    async with db.read() as conn:
        return (await conn.execute(select(alert).where(alert.c.id == alert_id))).one()


async def test_alert_reaches_slack_and_json_webhooks_once(settings, standalone_db):
    with WebhookReceiver() as receiver:
        configured = settings.model_copy(update={"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"})
        alert_id = await _alert(standalone_db, configured)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(standalone_db, configured, client) == 1
            assert await deliver_due(standalone_db, configured, client) == 0
        [slack] = receiver.bodies("/slack")
        assert slack["text"] == (
            f"⚠️ *WARNING*\n*Freshness Check - Pipeline DML*\n*Timestamp:* 2025-03-01 10:00:00 UTC\n*Alert ID:* {alert_id}\n"
            "*Message:* Pipeline Freshness Check - 1 NEW pipeline(s) overdue\n\n*Details:*\n"
            "• *Failed Pipelines:* \n\t• orders (ID: 1): Last DML 2025-03-01T08:00:00Z, Expected within 1 hour\n"
            "• *Links:* \n\t• http://localhost:8000/ui/pipelines/1"
        )
        [hook] = receiver.bodies("/hook")
        assert (hook["id"], hook["kind"], hook["event"], hook["level"]) == (alert_id, "freshness", "opened", "warning")
    row = await _row(standalone_db, alert_id)
    assert (row.delivery_status, row.delivery_attempts, row.sent_at is not None) == ("sent", 1, True)


async def test_failed_delivery_retries_with_backoff_then_gives_up(settings, standalone_db, clock):
    """Back-off 30 s, 60 s, 120 s, … (docs/configuration.md); failed once the retry window (here 1 h) is over."""
    clock.freeze(NOW)
    with WebhookReceiver() as receiver:
        receiver.fail_next = 100
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook", "alert_retry_hours": 1})
        alert_id = await _alert(standalone_db, configured)
        async with httpx.AsyncClient() as client:
            await deliver_due(standalone_db, configured, client)
            row = await _row(standalone_db, alert_id)
            assert (row.delivery_status, row.delivery_attempts) == ("retrying", 1)
            assert "HTTP 500" in row.delivery_error
            assert row.next_attempt_at == NOW + dt.timedelta(seconds=30)
            assert await deliver_due(standalone_db, configured, client) == 0  # not due yet
            assert (await _row(standalone_db, alert_id)).delivery_attempts == 1
            # the 7th attempt comes 30+60+…+960 s = 31.5 min after the first; 32 min more would pass the window: cut to its end
            for attempt, backoff in ((2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, None), (8, "failed")):
                clock.freeze(row.next_attempt_at)
                await deliver_due(standalone_db, configured, client)
                row = await _row(standalone_db, alert_id)
                assert row.delivery_attempts == attempt
                if backoff == "failed":
                    assert (row.delivery_status, row.next_attempt_at, clock.now()) == ("failed", None, NOW + dt.timedelta(hours=1))
                elif backoff is None:
                    assert (row.delivery_status, row.next_attempt_at) == ("retrying", NOW + dt.timedelta(hours=1))
                else:
                    assert row.delivery_status == "retrying" and row.next_attempt_at == clock.now() + dt.timedelta(seconds=backoff)
        assert receiver.posts == []


async def test_unconfigured_delivery_marks_alerts_and_sends_nothing(settings, standalone_db):
    alert_id = await _alert(standalone_db, settings)
    async with httpx.AsyncClient() as client:
        assert await deliver_due(standalone_db, settings, client) == 0
    assert (await _row(standalone_db, alert_id)).delivery_status == "not_configured"


async def test_two_processes_sending_at_once_deliver_each_alert_once(settings, standalone_db, database_url):
    other_process = Database(create_engine(database_url))
    try:
        with WebhookReceiver() as receiver:
            configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook"})
            ids = [await _alert(standalone_db, configured) for _ in range(30)]
            async with httpx.AsyncClient() as client:
                sent = await asyncio.gather(deliver_due(standalone_db, configured, client), deliver_due(other_process, configured, client))
            assert sum(sent) == 30
            assert sorted(body["id"] for body in receiver.bodies("/hook")) == ids
    finally:
        await other_process.dispose()


async def test_a_tick_is_claimed_by_exactly_one_process(standalone_db, database_url):
    processes = [standalone_db] + [Database(create_engine(database_url)) for _ in range(3)]
    try:
        tick = dt.datetime(2025, 3, 1, 10, 15, tzinfo=dt.UTC)
        claims = await asyncio.gather(*(claim_tick(db, "timeliness_check", tick) for db in processes for _ in range(3)))
        assert claims.count(True) == 1
        assert await claim_tick(standalone_db, "timeliness_check", tick + dt.timedelta(minutes=15))
        assert await claim_tick(standalone_db, "freshness_check", tick)
    finally:
        for db in processes[1:]:
            await db.dispose()


async def test_alert_list_filters(db, client, settings):
    await _alert(db, settings, execution_ids=[7])
    await _alert(db, settings)
    ids = lambda r: [a["id"] for a in r.json()]  # noqa: E731
    assert ids(await client.get("/alerts")) == [1, 2]
    assert ids(await client.get("/alerts", params={"pipeline_execution_id": 7})) == [1]
    assert ids(await client.get("/alerts", params={"pipeline_id": 1, "level": "WARNING", "order": "desc"})) == [2, 1]
    assert ids(await client.get("/alerts", params={"since": "2025-03-02"})) == []
    assert (await client.get("/alerts", params={"kind": "weather"})).status_code == 422
    first = (await client.get("/alerts")).json()[0]
    assert list(first) == [
        "id", "kind", "event", "level", "title", "message", "details", "pipeline_ids", "pipeline_execution_ids",
        "created_at", "delivery_status", "delivery_attempts", "sent_at",
    ]  # fmt: skip


async def test_alert_history_is_pruned_after_the_retention(settings, standalone_db):
    from watcher_server.alerts.service import prune_alerts

    kept = await _alert(standalone_db, settings)
    configured = settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9/never"})
    undelivered = await _alert(standalone_db, configured)
    assert await prune_alerts(standalone_db, settings, NOW + dt.timedelta(days=89)) == 0
    assert await prune_alerts(standalone_db, settings, NOW + dt.timedelta(days=91)) == 1
    async with standalone_db.read() as conn:
        remaining = (await conn.execute(select(alert.c.id))).scalars().all()
    assert remaining == [undelivered] and kept not in remaining
