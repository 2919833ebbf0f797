"""The webhook outage drill, in simulated time (issue 10, "failure drills").

The receiver behind both webhooks (Slack and JSON) is down for 25 hours in every way a receiver goes
down: refusing connections, then answering 500, then hanging. Alerts keep being raised during the
outage. Delivery runs at every moment an alert is due, as the 5 s sweep would. When the receiver comes
back, every alert still in its retry window is delivered exactly once to each webhook, after as many
attempts as the documented schedule gives; nothing is failed before its window ends; the alerts whose
window ended during the outage are failed, and a re-send delivers them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from watcher_server.alerts.tables import alert

from .conftest import NOW, record, watcher
from .receiver import DrillReceiver

HOUR = dt.timedelta(hours=1)
WINDOW = 24 * HOUR  # WATCHER_ALERT_RETRY_HOURS, default
# The receiver's state over simulated time, from NOW.
OUTAGE = [(0 * HOUR, "refuse"), (6 * HOUR, "error"), (21 * HOUR, "hang"), (25 * HOUR, "ok")]
BACK = NOW + 25 * HOUR
RAISED_AT = {"before the outage": 0 * HOUR, "while refused": 4 * HOUR, "while failing": 10 * HOUR, "while hanging": 22 * HOUR}


def mode_at(moment: dt.datetime) -> str:
    return [mode for start, mode in OUTAGE if NOW + start <= moment][-1]


def documented_attempts(first: dt.datetime) -> tuple[list[dt.datetime], str]:
    """The attempts docs/configuration.md promises for an alert first due at `first` against this outage:
    30 s doubling up to 1 h between attempts, the last wait cut to the window's end, failed after it."""
    moment, attempts = first, []
    while True:
        attempts.append(moment)
        if moment >= BACK:
            return attempts, "sent"
        if moment >= first + WINDOW:
            return attempts, "failed"
        wait = dt.timedelta(seconds=min(30 * 2 ** (len(attempts) - 1), 3600))
        moment = min(moment + wait, first + WINDOW)


async def _alerts(db) -> list:
    async with db.read() as conn:
        return (await conn.execute(select(alert).order_by(alert.c.id))).all()


async def test_a_day_long_webhook_outage_loses_no_alert_and_sends_none_twice(settings, clock):
    clock.freeze(NOW)
    with DrillReceiver("refuse") as receiver:
        hooks = {"slack_webhook_url": f"{receiver.url}/slack", "alert_webhook_url": f"{receiver.url}/hook"}
        async with watcher(settings, alert_delivery_timeout_seconds=1.0, **hooks) as (client, services):
            to_raise = sorted((NOW + offset, name) for name, offset in RAISED_AT.items() for _ in range(2))
            while True:
                undelivered = [row for row in await _alerts(services.db) if row.delivery_status in ("pending", "retrying")]
                due = [row.next_attempt_at or clock.now() for row in undelivered] + [moment for moment, _ in to_raise[:1]]
                if not due:
                    break
                clock.freeze(min(due))
                if receiver.mode != mode_at(clock.now()):
                    receiver.set_mode(mode_at(clock.now()))
                while to_raise and to_raise[0][0] <= clock.now():
                    await record(services.db, services.settings, clock.now(), title=to_raise.pop(0)[1])
                await services.jobs.run_now("deliver_alert")
                for row in await _alerts(services.db):
                    if row.delivery_status == "failed":
                        assert clock.now() >= row.created_at + WINDOW, f"alert {row.id} failed inside its retry window"
                    if row.delivery_status == "sent":
                        assert clock.now() >= BACK, f"alert {row.id} marked sent while the receiver was down"

            rows = await _alerts(services.db)
            assert len(rows) == 8
            for row in rows:
                attempts, outcome = documented_attempts(row.created_at)
                assert (row.delivery_status, row.delivery_attempts) == (outcome, len(attempts)), f"alert {row.id} raised {row.title}"
                # a refused connection never reaches the receiver; 500s and hangs are answered (or not) by the first, Slack
                reached = [moment for moment in attempts if mode_at(moment) != "refuse"]
                assert sum(body["alert_id"] == row.id for _p, _h, body in receiver.requests) == len(reached) + (outcome == "sent")
            sent = [row.id for row in rows if row.delivery_status == "sent"]
            failed = [row for row in rows if row.delivery_status == "failed"]
            assert [row.title for row in failed] == ["before the outage"] * 2
            for row in failed:
                assert row.delivery_error == "Slack webhook: no complete answer within 1 s"
                assert row.retry_until == NOW + WINDOW and row.next_attempt_at is None
            for path in ("/slack", "/hook"):
                assert receiver.accepted_ids(path) == dict.fromkeys(sent, 1), f"{path}: every alert in its window exactly once"

            clock.freeze(BACK + HOUR)
            answer = await client.post(f"/alerts/{failed[0].id}/resend")
            assert answer.status_code == 200 and answer.json()["delivery_status"] == "pending"
            await services.jobs.run_now("deliver_alert")
            resent = {row.id: row for row in await _alerts(services.db)}[failed[0].id]
            assert (resent.delivery_status, resent.delivery_attempts, resent.sent_at) == ("sent", 1, BACK + HOUR)
            assert {row.id: row.delivery_status for row in await _alerts(services.db)}[failed[1].id] == "failed"
    for path in ("/slack", "/hook"):
        assert receiver.accepted_ids(path) == dict.fromkeys(sorted([*sent, failed[0].id]), 1)
