"""Scale-out mode with real processes: one `watcher serve` API and two `watcher worker` processes on
one PostgreSQL database. A cron tick runs once across the workers, its alert is sent once, and a
queued check is picked up by a worker."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from watcher_server.db.urls import async_url

from ..webhook_receiver import WebhookReceiver
from .conftest import serving, wait_for, worker


@pytest.fixture
def backend() -> str:
    return "postgresql"


def test_two_workers_run_each_tick_once_and_a_queued_check(database_url, tmp_path):
    with WebhookReceiver() as receiver:
        settings = {
            "job_queue": "procrastinate", "alert_webhook_url": f"{receiver.url}/hook",
            "freshness_check_schedule": "* * * * *", "timeliness_check_schedule": "", "queue_health_check_schedule": "",
        }  # fmt: skip
        with serving(database_url, tmp_path / "api", **settings) as base, httpx.Client(base_url=base, timeout=10) as http:
            pid = http.post(
                "/pipeline", json={"name": "stale", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "minute"}
            ).json()["id"]
            run = http.post("/start_pipeline_execution", json={"pipeline_id": pid, "start_date": "2025-01-01T00:00:00Z"}).json()["id"]
            http.post(
                "/end_pipeline_execution",
                json={"id": run, "end_date": "2025-01-01T00:01:00Z", "completed_successfully": True, "inserts": 1},
            )
            with worker(database_url, tmp_path / "w1.log", **settings), worker(database_url, tmp_path / "w2.log", **settings):
                assert wait_for(lambda: receiver.bodies("/hook"), 90), (tmp_path / "w1.log").read_text()
                time.sleep(3)
                # a queued check, with the pipeline fresh again: a worker runs it and the recovery is sent
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                fresh = http.post("/start_pipeline_execution", json={"pipeline_id": pid, "start_date": now}).json()["id"]
                http.post(
                    "/end_pipeline_execution",
                    json={"id": fresh, "end_date": now.replace("Z", ".5Z"), "completed_successfully": True, "updates": 1},
                )
                assert http.post("/freshness").json() == {"status": "queued"}
                assert wait_for(lambda: len(receiver.bodies("/hook")) == 2, 30), (tmp_path / "w2.log").read_text()
                status = http.get("/jobs/status").json()
            alerts = http.get("/alerts").json()

    assert [body["event"] for body in receiver.bodies("/hook")] == ["opened", "recovered"]
    assert [(a["kind"], a["event"], a["delivery_status"]) for a in alerts] == [
        ("freshness", "opened", "sent"),
        ("freshness", "recovered", "sent"),
    ]
    assert status["jobs"]["freshness_check"]["failed_last_24h"] == 0

    async def freshness_runs():
        engine = create_async_engine(async_url(database_url))
        async with engine.connect() as conn:
            jobs = (await conn.execute(text("SELECT args, status FROM procrastinate_jobs WHERE task_name = 'freshness_check'"))).all()
            embedded = (await conn.execute(text("SELECT count(*) FROM periodic_run"))).scalar_one()
        await engine.dispose()
        return jobs, embedded

    jobs, embedded_ticks = asyncio.run(freshness_runs())
    ticks = [job.args["timestamp"] for job in jobs if "timestamp" in job.args]
    assert ticks and len(ticks) == len(set(ticks))  # each tick ran once, whichever worker deferred it first
    assert len(jobs) == len(ticks) + 1 and {job.status for job in jobs} == {"succeeded"}  # plus the queued run
    assert embedded_ticks == 0  # the API process did not run the schedule itself
