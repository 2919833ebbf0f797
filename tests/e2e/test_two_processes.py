"""Two `watcher serve` processes on one database run each cron tick once and send each alert once."""

import asyncio
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from watcher_server.db.urls import async_url

from ..webhook_receiver import WebhookReceiver
from .conftest import serving


def test_each_tick_runs_once_and_each_alert_is_sent_once(database_url, tmp_path):
    with WebhookReceiver() as receiver:
        settings = {"alert_webhook_url": f"{receiver.url}/hook", "freshness_check_schedule": "* * * * *", "timeliness_check_schedule": ""}
        with serving(database_url, tmp_path / "a", **settings) as first, serving(database_url, tmp_path / "b", **settings) as second:
            with httpx.Client(base_url=first, timeout=10) as http:
                pid = http.post(
                    "/pipeline", json={"name": "stale", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "minute"}
                ).json()["id"]
                run = http.post("/start_pipeline_execution", json={"pipeline_id": pid, "start_date": "2025-01-01T00:00:00Z"}).json()["id"]
                http.post(
                    "/end_pipeline_execution",
                    json={"id": run, "end_date": "2025-01-01T00:01:00Z", "completed_successfully": True, "inserts": 1},
                )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not receiver.bodies("/hook"):
                time.sleep(0.5)
            time.sleep(3)
            with httpx.Client(base_url=second, timeout=10) as http:
                alerts = http.get("/alerts").json()
    assert [body["event"] for body in receiver.bodies("/hook")] == ["opened"]
    assert [(a["kind"], a["event"], a["delivery_status"]) for a in alerts] == [("freshness", "opened", "sent")]

    async def ticks():
        engine = create_async_engine(async_url(database_url))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT job, scheduled_for, finished_at FROM periodic_run"))).all()
        await engine.dispose()
        return rows

    rows = asyncio.run(ticks())
    freshness = [r for r in rows if r.job == "freshness_check"]
    assert freshness and len({r.scheduled_for for r in freshness}) == len(freshness)
    assert any(r.finished_at is not None for r in freshness)
