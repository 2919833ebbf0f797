"""The rate limit per channel and its digest (issue 12, "alerts that speak once"; docs/api.md, "Alert
digests"): up to WATCHER_ALERT_RATE_LIMIT_PER_MINUTE messages a minute per webhook, the last of a full
window a digest listing the rest; nothing is dropped, and GET /alerts shows how each alert went out."""

from __future__ import annotations

import datetime as dt

import httpx

from watcher_server.alerts.delivery import _claim, deliver_due, lease

from .conftest import NOW, record, row_of, rows, watcher
from .receiver import DrillReceiver

MINUTE = dt.timedelta(minutes=1)


def _configured(settings, receiver: DrillReceiver, limit: int, **overrides):
    hooks = {"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"}
    return settings.model_copy(update={**hooks, "alert_rate_limit_per_minute": limit, **overrides})


def _alone(receiver: DrillReceiver, path: str) -> list[int]:
    """The alerts a webhook received as messages of their own, by id (Slack: from the request header)."""
    return sorted(int(h["x-watcher-alert-id"]) for p, h, _ in receiver.accepted if p == path and "x-watcher-alert-id" in h)


def _digests(receiver: DrillReceiver, path: str) -> list[tuple[dict[str, str], dict]]:
    return [(h, body) for p, h, body in receiver.accepted if p == path and "x-watcher-digest-id" in h]


async def _record(db, settings, count: int, at: dt.datetime = NOW) -> list[int]:
    return [await record(db, settings, at, title=f"Alert {n}") for n in range(count)]


async def _each_delivered_alone(settings, db, clock, limit: int, count: int) -> None:
    """`count` alerts under a limit of `limit`: one delivery run sends every one alone to both channels."""
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = _configured(settings, receiver, limit=limit)
        ids = await _record(db, configured, count)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(db, configured, client) == count
    for path in ("/slack", "/hook"):
        assert _alone(receiver, path) == ids
        assert _digests(receiver, path) == []


async def test_below_the_limit_every_alert_goes_alone(settings, standalone_db, clock):
    await _each_delivered_alone(settings, standalone_db, clock, limit=3, count=3)
    assert [(row.delivery_status, row.digest_id) for row in await rows(standalone_db)] == [("sent", None)] * 3


async def test_above_the_limit_each_channel_gets_the_oldest_alone_and_one_digest_of_the_rest(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = _configured(settings, receiver, limit=3, public_url="https://watcher.example")
        ids = await _record(standalone_db, configured, 8)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(standalone_db, configured, client) == 8
    digest_id, members = ids[2], ids[2:]
    for path in ("/slack", "/hook"):  # the limit counts the digest: 2 alone + 1 digest = 3 messages per channel
        assert _alone(receiver, path) == ids[:2]
        [(headers, body)] = _digests(receiver, path)
        assert (headers["idempotency-key"], headers["x-watcher-digest-id"]) == (f"watcher-digest-{digest_id}", str(digest_id))
    [(_, hook)] = _digests(receiver, "/hook")
    assert (hook["kind"], hook["id"]) == ("digest", digest_id)
    assert [a["id"] for a in hook["alerts"]] == members
    assert set(hook["alerts"][0]) == {"id", "kind", "event", "level", "title", "message", "created_at"}
    assert hook["alerts"][0] | {"id": 0} == {
        "id": 0, "kind": "freshness", "event": "opened", "level": "warning", "title": "Alert 2",
        "message": "Pipeline Freshness Check - 1 NEW pipeline(s) overdue", "created_at": "2025-03-01T10:00:00Z",
    }  # fmt: skip
    [(_, slack)] = _digests(receiver, "/slack")
    lines = slack["text"].split("\n")
    assert lines[0] == "*6 more alerts in the last minute:*"
    assert lines[1] == f"*Digest ID:* {digest_id}"
    assert lines[2:8] == [f"• ⚠️ *WARNING* Alert {n}: Pipeline Freshness Check - 1 NEW pipeline(s) overdue" for n in range(2, 8)]
    assert lines[8:] == ["All alerts: https://watcher.example/ui/alerts"]
    stored = await rows(standalone_db)
    assert [(row.delivery_status, row.digest_id) for row in stored] == [("sent", None)] * 2 + [("digested", digest_id)] * 6
    assert {(row.sent_at, row.delivery_attempts, row.next_attempt_at) for row in stored} == {(NOW, 1, None)}


async def test_a_full_window_holds_later_alerts_until_the_next_minute(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = _configured(settings, receiver, limit=2)
        async with httpx.AsyncClient() as client:
            first = await _record(standalone_db, configured, 2)
            assert await deliver_due(standalone_db, configured, client) == 2  # the window's two messages
            clock.freeze(NOW + dt.timedelta(seconds=30))
            later = await _record(standalone_db, configured, 3, at=clock.now())
            assert await deliver_due(standalone_db, configured, client) == 0, "the window is full: they wait, they are not dropped"
            assert {(await row_of(standalone_db, i)).delivery_status for i in later} == {"pending"}
            clock.freeze(NOW + MINUTE)  # a new window: room for 2 messages, 3 alerts due
            assert await deliver_due(standalone_db, configured, client) == 3
            clock.freeze(NOW + 2 * MINUTE)
            last = await _record(standalone_db, configured, 2, at=clock.now())
            assert await deliver_due(standalone_db, configured, client) == 2
    for path in ("/slack", "/hook"):
        assert _alone(receiver, path) == [*first, later[0], *last]
        assert [body.get("id") for _, body in _digests(receiver, path)] == [later[1] if path == "/hook" else None]
    stored = {row.id: row for row in await rows(standalone_db)}
    assert [(stored[i].delivery_status, stored[i].digest_id) for i in later] == [
        ("sent", None),
        ("digested", later[1]),
        ("digested", later[1]),
    ]
    assert stored[later[2]].sent_at == NOW + MINUTE


async def test_with_fewer_delivery_slots_than_room_the_digest_is_still_the_windows_last_message(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = _configured(settings, receiver, limit=5, alert_delivery_concurrency=2)
        ids = await _record(standalone_db, configured, 12)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(standalone_db, configured, client) == 12
    for path in ("/slack", "/hook"):
        assert _alone(receiver, path) == ids[:4]
        assert len(_digests(receiver, path)) == 1
    [(_, hook)] = _digests(receiver, "/hook")
    assert [a["id"] for a in hook["alerts"]] == ids[4:]


async def test_a_failing_digest_is_retried_with_its_alerts_and_none_is_lost(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("error") as receiver:
        configured = _configured(settings, receiver, limit=2)
        ids = await _record(standalone_db, configured, 5)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(standalone_db, configured, client) == 0
            stored = await rows(standalone_db)
            assert [(row.delivery_status, row.digest_id) for row in stored] == [("retrying", None)] + [("retrying", ids[1])] * 4
            assert {(row.delivery_attempts, row.next_attempt_at) for row in stored} == {(1, NOW + dt.timedelta(seconds=30))}
            assert all(row.delivery_error.startswith("Slack webhook: HTTP 500") for row in stored)

            receiver.set_mode("ok")
            clock.freeze(NOW + dt.timedelta(seconds=30))  # due again, but this minute's two messages were spent
            assert await deliver_due(standalone_db, configured, client) == 0
            clock.freeze(NOW + MINUTE)
            assert await deliver_due(standalone_db, configured, client) == 5
    stored = await rows(standalone_db)
    assert [(row.delivery_status, row.digest_id, row.delivery_attempts) for row in stored] == [("sent", None, 2)] + [
        ("digested", ids[1], 2)
    ] * 4
    for path in ("/slack", "/hook"):
        assert _alone(receiver, path) == ids[:1]
        assert len(_digests(receiver, path)) == 1, "the digest is sent once, with the same alerts"
    [(_, hook)] = _digests(receiver, "/hook")
    assert [a["id"] for a in hook["alerts"]] == ids[1:]


async def test_a_digest_whose_process_died_is_sent_by_another_once_its_lease_ran_out(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = _configured(settings, receiver, limit=2)
        ids = await _record(standalone_db, configured, 4)
        claimed = await _claim(standalone_db, configured, NOW, lease(configured), 10)  # then the process is killed
        assert [(c.digest_id, [row.id for row in c.rows]) for c in claimed] == [(None, ids[:1]), (ids[1], ids[1:])]
        async with httpx.AsyncClient() as client:
            clock.freeze(NOW + lease(configured) - dt.timedelta(seconds=1))
            assert await deliver_due(standalone_db, configured, client) == 0, "leased"
            clock.freeze(NOW + MINUTE)  # the lease is over and the window too
            assert await deliver_due(standalone_db, configured, client) == 4
    assert [(row.delivery_status, row.digest_id) for row in await rows(standalone_db)] == [("sent", None)] + [("digested", ids[1])] * 3
    assert len(_digests(receiver, "/hook")) == 1


async def test_a_limit_of_zero_sends_every_alert_alone(settings, standalone_db, clock):
    await _each_delivered_alone(settings, standalone_db, clock, limit=0, count=15)
    assert {(row.delivery_status, row.digest_id) for row in await rows(standalone_db)} == {("sent", None)}


async def test_get_alerts_shows_how_each_alert_went_out_and_a_resend_sends_a_digested_one_alone(settings, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        hooks = {"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"}
        async with watcher(settings, alert_rate_limit_per_minute=2, **hooks) as (client, services):
            ids = await _record(services.db, services.settings, 4)
            await services.jobs.run_now("deliver_alert")
            listed = (await client.get("/alerts")).json()
            assert [(a["id"], a["delivery_status"], a.get("digest_id"), a["sent_at"]) for a in listed] == [
                (ids[0], "sent", None, "2025-03-01T10:00:00Z"),
                *[(i, "digested", ids[1], "2025-03-01T10:00:00Z") for i in ids[1:]],
            ]
            assert "digest_id" not in listed[0], "only alerts that went out in a digest name one"
            page = await client.get("/ui/alerts")
            assert page.status_code == 200 and page.text.count(">digested</span>") == 3

            clock.freeze(NOW + MINUTE)
            resent = (await client.post(f"/alerts/{ids[2]}/resend")).json()
            assert (resent["delivery_status"], "digest_id" in resent) == ("pending", False)
            await services.jobs.run_now("deliver_alert")
            row = await row_of(services.db, ids[2])
            assert (row.delivery_status, row.digest_id, row.sent_at) == ("sent", None, NOW + MINUTE)
    assert _alone(receiver, "/hook") == sorted([ids[0], ids[2]])
