"""A real `watcher serve` sees a stale pipeline, and its alert and then its recovery reach a webhook."""

import datetime as dt

import httpx

from ..webhook_receiver import WebhookReceiver
from .conftest import serving, wait_for


def test_freshness_alert_and_recovery_arrive_at_the_webhooks(database_url, tmp_path):
    with WebhookReceiver() as receiver, serving(
        database_url, tmp_path, slack_webhook_url=f"{receiver.url}/slack", alert_webhook_url=f"{receiver.url}/hook",
        public_url="http://watcher.example",
    ) as base, httpx.Client(base_url=base, timeout=10) as http:  # fmt: skip
        pid = http.post(
            "/pipeline", json={"name": "orders", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "hour"}
        ).json()["id"]
        old = http.post("/start_pipeline_execution", json={"pipeline_id": pid, "start_date": "2025-01-01T00:00:00Z"}).json()["id"]
        http.post(
            "/end_pipeline_execution", json={"id": old, "end_date": "2025-01-01T01:00:00Z", "completed_successfully": True, "inserts": 5}
        )

        stale = http.post("/freshness", params={"wait": "true"}).json()
        assert stale["status"] == "warning" and stale["alerts_created"] == 1
        assert wait_for(lambda: len(receiver.bodies("/hook")) == 1 and len(receiver.bodies("/slack")) == 1)
        assert receiver.bodies("/hook")[0]["event"] == "opened"
        slack = receiver.bodies("/slack")[0]["text"]
        assert "⚠️ *WARNING*" in slack and "orders (ID: 1)" in slack and "http://watcher.example/ui/pipelines/1" in slack

        now = dt.datetime.now(dt.UTC)
        fresh = http.post(
            "/start_pipeline_execution", json={"pipeline_id": pid, "start_date": (now - dt.timedelta(minutes=1)).isoformat()}
        ).json()["id"]
        http.post("/end_pipeline_execution", json={"id": fresh, "end_date": now.isoformat(), "completed_successfully": True, "updates": 1})
        queued = http.post("/freshness").json()
        assert queued == {"status": "queued"}
        assert wait_for(lambda: len(receiver.bodies("/hook")) == 2)
        assert receiver.bodies("/hook")[1]["event"] == "recovered"
        assert "✅ *SUCCESS*" in receiver.bodies("/slack")[1]["text"]
        history = http.get("/alerts").json()
        assert [(a["event"], a["delivery_status"]) for a in history] == [("opened", "sent"), ("recovered", "sent")]
