"""Alert delivery under failing receivers: the retry schedule and window, parallel attempts each bounded
as a whole, the short lease after a crash, and the alert id every receiver gets (§12.1, §15)."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time

import httpx
from sqlalchemy import update

from watcher_server.alerts.delivery import deliver_due, lease, retry_delay
from watcher_server.alerts.tables import alert

from .conftest import NOW, record, row_of, rows
from .receiver import DrillReceiver

HOUR = 3600
# docs/configuration.md, "Alert delivery": 30 s doubling to 1 h, then hourly, the last wait cut to the 24 h window's end
DOCUMENTED_ATTEMPT_OFFSETS = [0, 30, 90, 210, 450, 930, 1890] + [3810 + HOUR * k for k in range(23)] + [24 * HOUR]


def test_the_wait_after_each_failed_attempt_doubles_from_30_seconds_up_to_an_hour():
    waits = [retry_delay(n).total_seconds() for n in range(1, 11)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(10_000) == dt.timedelta(hours=1)


async def test_an_alert_is_retried_on_the_documented_schedule_and_failed_only_when_its_window_ends(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("error") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook"})
        alert_id = await record(standalone_db, configured)
        offsets = []
        async with httpx.AsyncClient() as client:
            row = await row_of(standalone_db, alert_id)
            while row.delivery_status != "failed":
                assert row.delivery_status in ("pending", "retrying")
                due = row.next_attempt_at or NOW
                if row.next_attempt_at is not None:
                    clock.freeze(due - dt.timedelta(seconds=1))
                    assert await deliver_due(standalone_db, configured, client) == 0, "not before it is due"
                clock.freeze(due)
                offsets.append((due - NOW).total_seconds())
                await deliver_due(standalone_db, configured, client)
                row = await row_of(standalone_db, alert_id)
                assert row.delivery_attempts == len(offsets)
                assert row.delivery_status == "failed" or clock.now() < NOW + dt.timedelta(hours=24)
    assert offsets == DOCUMENTED_ATTEMPT_OFFSETS
    assert (row.delivery_attempts, row.next_attempt_at) == (31, None)
    assert row.delivery_error.startswith("alert webhook: HTTP 500: receiver down for maintenance")
    assert len(receiver.requests) == 31 and receiver.accepted == []


async def test_an_alert_recorded_before_retry_until_existed_is_retried_for_the_window_from_its_creation(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("error") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook", "alert_retry_hours": 2})
        alert_id = await record(standalone_db, configured)
        async with standalone_db.write() as conn:
            await conn.execute(update(alert).where(alert.c.id == alert_id).values(retry_until=None))
        async with httpx.AsyncClient() as client:
            clock.freeze(NOW + dt.timedelta(hours=2) - dt.timedelta(seconds=1))
            await deliver_due(standalone_db, configured, client)
            row = await row_of(standalone_db, alert_id)
            assert (row.delivery_status, row.next_attempt_at) == ("retrying", NOW + dt.timedelta(hours=2))
            clock.freeze(row.next_attempt_at)
            await deliver_due(standalone_db, configured, client)
    assert (await row_of(standalone_db, alert_id)).delivery_status == "failed"


async def test_a_hanging_request_does_not_hold_the_other_alerts(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook", "alert_delivery_timeout_seconds": 5})
        ids = [await record(standalone_db, configured) for _ in range(11)]
        receiver.hang_ids = {ids[0]}
        async with httpx.AsyncClient() as client:
            started = time.monotonic()
            delivery = asyncio.create_task(deliver_due(standalone_db, configured, client))
            # the receiver records an answer before its handler leaves, so wait for both (on a busy machine
            # the tenth handler can still count as in flight when its record appears)
            while (len(receiver.accepted) < 10 or receiver.in_flight > 1) and time.monotonic() - started < 10:
                await asyncio.sleep(0.02)
            others_took = time.monotonic() - started
            assert not delivery.done() and receiver.in_flight == 1, "the first alert's request still hangs"
            assert await delivery == 10
        assert others_took < 2.5, f"the 10 other alerts took {others_took:.1f} s behind one hanging request"
        assert time.monotonic() - started < 7, "the hanging attempt ends at the attempt timeout"
    assert sorted(receiver.accepted_ids("/hook")) == ids[1:]
    hung = await row_of(standalone_db, ids[0])
    assert (hung.delivery_status, hung.delivery_attempts) == ("retrying", 1)
    assert hung.delivery_error == "alert webhook: no complete answer within 5 s"
    assert [r.delivery_status for r in await rows(standalone_db)][1:] == ["sent"] * 10


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts the requests in progress, where they are made: the receiver, in threads of this process,
    sees them late when the machine is busy."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.in_progress = self.most_in_progress = 0

    async def handle_async_request(self, request):
        self.in_progress += 1
        self.most_in_progress = max(self.most_in_progress, self.in_progress)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_progress -= 1

    async def aclose(self):
        await self.inner.aclose()


async def test_no_more_alerts_than_the_configured_concurrency_are_sent_at_once(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("hang") as receiver:
        configured = settings.model_copy(
            update={"alert_webhook_url": f"{receiver.url}/hook", "alert_delivery_timeout_seconds": 0.5, "alert_delivery_concurrency": 3}
        )
        for _ in range(7):
            await record(standalone_db, configured)
        counting = CountingTransport()
        async with httpx.AsyncClient(transport=counting) as client:
            started = time.monotonic()
            assert await deliver_due(standalone_db, configured, client) == 0
            took = time.monotonic() - started
        assert await asyncio.to_thread(receiver.wait_until, lambda: len(receiver.requests) == 7)
    assert counting.most_in_progress == 3
    assert took >= 1.5, f"7 attempts hanging 0.5 s each, 3 at a time, are three rounds: took {took:.2f} s"
    assert {(r.delivery_status, r.delivery_attempts) for r in await rows(standalone_db)} == {("retrying", 1)}


async def test_a_receiver_trickling_its_answer_is_cut_off_at_the_attempt_timeout(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("trickle") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook", "alert_delivery_timeout_seconds": 1})
        alert_id = await record(standalone_db, configured)
        async with httpx.AsyncClient() as client:
            started = time.monotonic()
            assert await deliver_due(standalone_db, configured, client) == 0
            took = time.monotonic() - started
    assert took < 2.0, f"a byte every 0.2 s kept the attempt going for {took:.1f} s"
    row = await row_of(standalone_db, alert_id)
    assert (row.delivery_status, row.delivery_error) == ("retrying", "alert webhook: no complete answer within 1 s")


async def test_the_lease_outlasts_one_attempt_per_webhook_by_a_margin(settings, standalone_db, clock):
    clock.freeze(NOW)
    one = settings.model_copy(update={"alert_webhook_url": "http://127.0.0.1:9/hook"})
    both = one.model_copy(update={"slack_webhook_url": "http://127.0.0.1:9/slack"})
    assert lease(one) == dt.timedelta(seconds=20) and lease(both) == dt.timedelta(seconds=30)
    assert lease(both.model_copy(update={"alert_delivery_timeout_seconds": 2})) == dt.timedelta(seconds=14)
    with DrillReceiver("hang") as receiver:
        configured = both.model_copy(update={"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"})
        alert_id = await record(standalone_db, configured)
        async with httpx.AsyncClient() as client:
            delivery = asyncio.create_task(deliver_due(standalone_db, configured, client))
            assert await asyncio.to_thread(receiver.wait_until, lambda: receiver.in_flight == 1)
            assert (await row_of(standalone_db, alert_id)).next_attempt_at == NOW + dt.timedelta(seconds=30)
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)


async def test_a_cancelled_delivery_gives_back_at_once_only_the_alerts_it_had_not_finished(settings, standalone_db, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook"})
        ids = [await record(standalone_db, configured) for _ in range(4)]
        receiver.hang_ids = {ids[1], ids[2]}
        async with httpx.AsyncClient() as client:
            delivery = asyncio.create_task(deliver_due(standalone_db, configured, client))
            assert await asyncio.to_thread(receiver.wait_until, lambda: len(receiver.accepted) == 2 and receiver.in_flight == 2)
            deadline = time.monotonic() + 10
            while sorted(r.delivery_status for r in await rows(standalone_db)).count("sent") < 2:  # answered ones write their outcome
                assert time.monotonic() < deadline, "the two answered attempts never wrote their outcome"
                await asyncio.sleep(0.05)
            delivery.cancel()
            await asyncio.gather(delivery, return_exceptions=True)
    found = {r.id: (r.delivery_status, r.delivery_attempts, r.next_attempt_at) for r in await rows(standalone_db)}
    assert found == {
        ids[0]: ("sent", 1, None),
        ids[1]: ("pending", 0, None),  # given back: due now for any process, not after the lease
        ids[2]: ("pending", 0, None),
        ids[3]: ("sent", 1, None),
    }


async def test_every_request_names_its_alert_so_receivers_can_drop_a_repeat(settings, standalone_db):
    with DrillReceiver("ok") as receiver:
        configured = settings.model_copy(update={"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"})
        first, second = await record(standalone_db, configured), await record(standalone_db, configured)
        async with httpx.AsyncClient() as client:
            assert await deliver_due(standalone_db, configured, client) == 2
    for alert_id in (first, second):
        for path in ("/slack", "/hook"):
            [headers] = receiver.headers_of(path, alert_id)
            assert headers["idempotency-key"] == f"watcher-alert-{alert_id}"
            assert headers["x-watcher-alert-id"] == str(alert_id)
    slack = {body["alert_id"]: body["text"] for path, _h, body in receiver.accepted if path == "/slack"}
    assert f"\n*Alert ID:* {second}\n" in slack[second]
    assert sorted(body["id"] for path, _h, body in receiver.accepted if path == "/hook") == [first, second]


CRASHING_PROCESS = """
import asyncio, sys
import httpx
from watcher_server.alerts.delivery import deliver_due
from watcher_server.db.engine import Database, create_engine
from watcher_server.settings import Settings

async def main():
    settings = Settings(database_url=sys.argv[1], alert_webhook_url=sys.argv[2], scheduler_enabled=False)
    async with httpx.AsyncClient() as client:
        await deliver_due(Database(create_engine(settings.database_url)), settings, client)

asyncio.run(main())
"""


async def test_an_alert_held_by_a_killed_process_is_sent_by_another_once_the_short_lease_runs_out(
    settings, standalone_db, database_url, clock
):
    with DrillReceiver("hang") as receiver:
        configured = settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook"})
        alert_id = await record(standalone_db, configured, at=dt.datetime.now(dt.UTC))
        other = subprocess.Popen([sys.executable, "-c", CRASHING_PROCESS, database_url, configured.alert_webhook_url])
        try:
            assert await asyncio.to_thread(receiver.wait_until, lambda: receiver.in_flight == 1, 30), "the other process is sending"
            killed_at = dt.datetime.now(dt.UTC)
            other.kill()  # SIGKILL: no clean-up, the lease stays on the row
        finally:
            other.kill()
            other.wait(10)
        held = await row_of(standalone_db, alert_id)
        assert (held.delivery_status, held.delivery_attempts) == ("pending", 0)
        assert killed_at < held.next_attempt_at <= killed_at + lease(configured) == killed_at + dt.timedelta(seconds=20)

        receiver.set_mode("ok")
        async with httpx.AsyncClient() as client:
            clock.freeze(killed_at)
            assert await deliver_due(standalone_db, configured, client) == 0, "not while the killed process's lease holds"
            clock.freeze(killed_at + lease(configured))
            assert await deliver_due(standalone_db, configured, client) == 1
    assert receiver.accepted_ids("/hook") == {alert_id: 1}
    sent = await row_of(standalone_db, alert_id)
    assert (sent.delivery_status, sent.delivery_attempts) == ("sent", 1)
