"""Two `watcher serve` processes on one database run each cron tick once and send each alert once.

Each process here is the app of `watcher serve` with its lifespan (scheduler on): its own engine and
connection pool, its own JobRunner with its tick loops and delivery sweeps. The two share nothing but
the database, which is all the once-per-tick claim (a `periodic_run` row) and the once-per-alert lease
rely on. Their cron schedule is far away, and the test drives the ticks itself with
`JobRunner.tick(name, scheduled_for)`, which is what each tick loop calls when the minute comes, so no
test waits for a real cron minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from watcher_server.app import create_app
from watcher_server.jobs.registry import JOBS
from watcher_server.jobs.tables import periodic_run
from watcher_server.services import Services

from ..helpers import stale_pipeline
from ..jobs.helpers import eventually
from ..webhook_receiver import WebhookReceiver

FAR_AWAY = "0 0 29 2 *"  # the next 29 February, midnight: the tick loops sleep through the test
TICKS = [dt.datetime(2025, 6, 1, 10, minute, tzinfo=dt.UTC) for minute in range(4)]


@contextlib.asynccontextmanager
async def server(settings):
    """One `watcher serve` process: (a client to it, its Services)."""
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://watcher.test") as http:
            yield http, application.state.services


@pytest.fixture
def freshness_runs(monkeypatch) -> list[dict]:
    """Every run of the freshness check, in any process, with its result."""
    runs: list[dict] = []
    declared = JOBS["freshness_check"]

    async def counted_freshness_check(s: Services, outbox, **kwargs):
        result = await declared.run(s, outbox, **kwargs)
        runs.append(result)
        return result

    monkeypatch.setitem(JOBS, "freshness_check", dataclasses.replace(declared, run=counted_freshness_check))
    return runs


async def test_each_tick_runs_once_and_each_alert_is_sent_once(settings, freshness_runs):
    with WebhookReceiver() as receiver:
        configured = settings.model_copy(
            update={
                "scheduler_enabled": True, "alert_webhook_url": f"{receiver.url}/hook", "freshness_check_schedule": FAR_AWAY,
                "timeliness_check_schedule": "", "queue_health_check_schedule": "",
            }
        )  # fmt: skip
        async with server(configured) as (first, first_services), server(configured) as (second, second_services):
            await stale_pipeline(first, "stale")
            runners = (first_services.jobs, second_services.jobs)

            # both processes wake for every tick at once, as their tick loops do at the minute
            claims = [await _together(runner.tick("freshness_check", tick) for runner in runners) for tick in TICKS]
            assert all(sorted(claim) == [False, True] for claim in claims), claims

            async def ticks_finished():
                async with first_services.db.read() as conn:
                    rows = (await conn.execute(select(periodic_run).where(periodic_run.c.finished_at.is_not(None)))).all()
                return len(rows) == len(TICKS)

            await eventually(ticks_finished)

            async def sent():
                return [(a["event"], a["delivery_status"]) for a in (await second.get("/alerts")).json()] == [("opened", "sent")]

            await eventually(sent)
            # both processes' delivery sweeps come round again: nothing is left to send
            assert await _together(runner.run_now("deliver_alert") for runner in runners) == [0, 0]

            async with second_services.db.read() as conn:
                claimed = (await conn.execute(select(periodic_run).order_by(periodic_run.c.scheduled_for))).all()

    assert [(row.job, row.scheduled_for) for row in claimed] == [("freshness_check", tick) for tick in TICKS]
    assert len(freshness_runs) == len(TICKS)  # one run per tick, in whichever process claimed it
    assert sorted(run["alerts_created"] for run in freshness_runs) == [0, 0, 0, 1]
    assert [row.outcome["status"] for row in claimed] == ["warning"] * len(TICKS)
    assert [body["event"] for body in receiver.bodies("/hook")] == ["opened"]


async def _together(calls) -> list:
    return list(await asyncio.gather(*calls))
