"""POST /alerts/{id}/resend: an alert sent again on request, with a fresh retry window."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.api.test_openapi_errors import assert_documented

from .conftest import NOW, record, row_of, watcher
from .receiver import DrillReceiver


async def test_resend_makes_a_failed_alert_due_now_with_a_fresh_retry_window(settings, clock):
    clock.freeze(NOW)
    with DrillReceiver("error") as receiver:
        async with watcher(settings, alert_webhook_url=f"{receiver.url}/hook", alert_retry_hours=1) as (client, services):
            alert_id = await record(services.db, services.settings)
            clock.freeze(NOW + dt.timedelta(hours=1))  # the receiver was down for the whole window
            await services.jobs.run_now("deliver_alert")
            failed = await row_of(services.db, alert_id)
            assert (failed.delivery_status, failed.delivery_attempts) == ("failed", 1)

            receiver.set_mode("ok")
            later = NOW + dt.timedelta(hours=5)
            clock.freeze(later)
            answer = await client.post(f"/alerts/{alert_id}/resend")
            assert answer.status_code == 200, answer.text
            resent = answer.json()
            assert (resent["id"], resent["delivery_status"], resent["delivery_attempts"], resent["sent_at"]) == (
                alert_id,
                "pending",
                0,
                None,
            )
            await services.jobs.run_now("deliver_alert")  # after the delivery the re-send queued, if it is still running

            [listed] = (await client.get("/alerts")).json()
            assert list(resent) == list(listed)
            delivery = ("delivery_status", "delivery_attempts", "sent_at")
            assert {k: v for k, v in resent.items() if k not in delivery} == {k: v for k, v in listed.items() if k not in delivery}
            assert (listed["delivery_status"], listed["delivery_attempts"], listed["sent_at"]) == ("sent", 1, "2025-03-01T15:00:00Z")
            assert (await row_of(services.db, alert_id)).retry_until == later + dt.timedelta(hours=1)
    assert receiver.accepted_ids("/hook") == {alert_id: 1}


async def test_resend_sends_a_sent_alert_again_under_the_same_idempotency_key(settings, clock):
    clock.freeze(NOW)
    with DrillReceiver("ok") as receiver:
        async with watcher(settings, alert_webhook_url=f"{receiver.url}/hook") as (client, services):
            alert_id = await record(services.db, services.settings)
            await services.jobs.run_now("deliver_alert")
            assert (await client.post(f"/alerts/{alert_id}/resend")).status_code == 200
            await services.jobs.run_now("deliver_alert")
            sent = await row_of(services.db, alert_id)
    assert (sent.delivery_status, sent.delivery_attempts) == ("sent", 1)
    assert [h["idempotency-key"] for h in receiver.headers_of("/hook", alert_id)] == [f"watcher-alert-{alert_id}"] * 2


@pytest.mark.parametrize("alert_id", [999_999, 2**63, -(2**63) - 1])
async def test_resend_of_an_unknown_alert_is_a_documented_404(settings, alert_id):
    async with watcher(settings, alert_webhook_url="http://127.0.0.1:9/hook") as (client, _services):
        answer = await client.post(f"/alerts/{alert_id}/resend")
        spec = (await client.get("/openapi.json")).json()
    assert answer.status_code == 404
    assert assert_documented(spec, answer, "POST", "/alerts/{id}/resend")["detail"] == "Alert not found"


async def test_resend_without_a_webhook_is_a_documented_409_naming_the_settings_to_set(settings):
    async with watcher(settings) as (client, services):
        alert_id = await record(services.db, services.settings)
        answer = await client.post(f"/alerts/{alert_id}/resend")
        spec = (await client.get("/openapi.json")).json()
        unchanged = await row_of(services.db, alert_id)
    assert answer.status_code == 409
    detail = assert_documented(spec, answer, "POST", "/alerts/{id}/resend")["detail"]
    assert "WATCHER_SLACK_WEBHOOK_URL" in detail and "WATCHER_ALERT_WEBHOOK_URL" in detail
    assert (unchanged.delivery_status, unchanged.retry_until) == ("not_configured", None)


async def test_resend_needs_a_write_token(settings):
    tokens = {"api_tokens": "writer-token", "api_read_tokens": "reader-token", "alert_webhook_url": "http://127.0.0.1:9/hook"}
    async with watcher(settings, **tokens) as (client, services):
        alert_id = await record(services.db, services.settings)
        read_only = await client.post(f"/alerts/{alert_id}/resend", headers={"Authorization": "Bearer reader-token"})
        writer = await client.post(f"/alerts/{alert_id}/resend", headers={"Authorization": "Bearer writer-token"})
    assert (read_only.status_code, writer.status_code) == (403, 200)
