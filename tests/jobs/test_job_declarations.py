"""A job declared once in `JOBS` runs the same in both runners: the embedded `JobRunner` and
Procrastinate workers (scale-out). A job declared `check=...` has its check_run row stamped, and the
alerts a run records through its `Outbox` are sent on their way (`deliver_alert` is queued)."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from watcher_server.alerts.service import Outbox, record_alert
from watcher_server.alerts.tables import alert
from watcher_server.app import create_app
from watcher_server.db.engine import Database, create_engine
from watcher_server.jobs.registry import JOBS, Job
from watcher_server.jobs.scale_out import apply_queue_schema
from watcher_server.monitoring.tables import check_run
from watcher_server.services import Services

from ..webhook_receiver import WebhookReceiver
from .helpers import eventually, job_table, work_off_the_queue


@dataclasses.dataclass
class Run:
    services: Services
    kwargs: dict


@pytest.fixture
def runs(monkeypatch) -> dict[str, list[Run]]:
    """Two jobs declared for the test: `test_job`, a plain job, and `test_check`, a check that records
    one alert per run. Each run is noted with the Services it ran with and its kwargs."""
    runs: dict[str, list[Run]] = {"test_job": [], "test_check": []}

    async def test_job(s: Services, outbox: Outbox, **kwargs) -> dict:
        runs["test_job"].append(Run(s, kwargs))
        return {"status": "done"}

    async def test_check(s: Services, outbox: Outbox, **kwargs) -> dict:
        async with s.db.write() as conn:
            await record_alert(
                conn, s.settings, s.clock.now(), outbox, kind="freshness", event="opened", level="warning",
                title="Test check", message=f"found {kwargs['found']}", details={},
            )  # fmt: skip
        runs["test_check"].append(Run(s, kwargs))
        return {"status": "warning", "alerts_created": 1}

    monkeypatch.setitem(JOBS, "test_job", Job("test_job", test_job))
    monkeypatch.setitem(JOBS, "test_check", Job("test_check", test_check, check="test_check"))
    return runs


@pytest.fixture
def receiver():
    with WebhookReceiver() as webhook:
        yield webhook


@pytest.fixture
def settings(settings, receiver):
    return settings.model_copy(update={"alert_webhook_url": f"{receiver.url}/hook"})


@pytest.fixture
async def app(settings, runs):
    """The app of `watcher serve` (its scheduler off), started once the test jobs are declared: embedded,
    or an API process in scale-out mode (`@pytest.mark.settings(job_queue="procrastinate")`)."""
    if settings.job_queue == "procrastinate":
        await apply_queue_schema(settings)
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


async def stamped_checks(db: Database) -> dict[str, float]:
    async with db.read() as conn:
        rows = (await conn.execute(select(check_run.c.check_name, check_run.c.finished_at, check_run.c.duration_seconds))).all()
    return {row.check_name: row.duration_seconds for row in rows if row.finished_at is not None}


async def alerts(db: Database) -> list[tuple[str, str]]:
    async with db.read() as conn:
        return [tuple(row) for row in (await conn.execute(select(alert.c.message, alert.c.delivery_status).order_by(alert.c.id))).all()]


# The embedded runner (`watcher serve`), on SQLite and PostgreSQL


async def test_the_embedded_runner_runs_a_declared_job_with_its_kwargs(services, db, runs):
    services.jobs.enqueue("test_job", table="orders", rows=3)

    async def ran():
        return len(runs["test_job"]) == 1

    await eventually(ran)
    assert runs["test_job"][0].kwargs == {"table": "orders", "rows": 3}
    assert runs["test_job"][0].services is services
    assert await services.jobs.run_now("test_job", table="items") == {"status": "done"}
    assert [run.kwargs for run in runs["test_job"]] == [{"table": "orders", "rows": 3}, {"table": "items"}]
    assert "test_job" not in await stamped_checks(db)  # not declared a check: nothing stamped


async def test_the_embedded_runner_stamps_a_declared_check_and_queues_delivery_of_its_alerts(services, db, runs, receiver):
    services.jobs.enqueue("test_check", found=2)

    async def delivered():
        return await alerts(db) == [("found 2", "sent")]

    # Nothing else delivers here (the scheduler is off): the alert is sent because the run queued
    # `deliver_alert` once it had returned.
    await eventually(delivered)
    assert [run.kwargs for run in runs["test_check"]] == [{"found": 2}]
    assert list(await stamped_checks(db)) == ["test_check"]
    assert [body["message"] for body in receiver.bodies("/hook")] == ["found 2"]


# Procrastinate (scale-out: API processes defer, `watcher worker` runs), PostgreSQL only


@pytest.fixture
async def worker_services(settings):
    """The Services of a `watcher worker` process, so a test can tell the worker ran a job."""
    db = Database(create_engine(settings.database_url))
    async with httpx.AsyncClient() as client:
        yield Services(db=db, settings=settings, webhook_client=client)
    await db.dispose()


async def deferred(settings, task: str, runs: list[tuple[str, dict]]) -> None:
    """Wait until the job table holds exactly `runs` of `task` (an API process defers in the background)."""

    async def landed():
        return await job_table(settings, task) == runs

    await eventually(landed)


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.settings(job_queue="procrastinate")
async def test_procrastinate_workers_run_a_declared_job_with_its_kwargs(services, settings, worker_services, runs):
    services.jobs.enqueue("test_job", table="orders", rows=3)
    await deferred(settings, "test_job", [("todo", {"table": "orders", "rows": 3})])
    assert runs["test_job"] == []  # the API process only defers

    await work_off_the_queue(settings, worker_services)

    assert [(run.services, run.kwargs) for run in runs["test_job"]] == [(worker_services, {"table": "orders", "rows": 3})]
    assert await job_table(settings, "test_job") == [("succeeded", {"table": "orders", "rows": 3})]
    assert "test_job" not in await stamped_checks(worker_services.db)


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.settings(job_queue="procrastinate")
async def test_procrastinate_workers_stamp_a_declared_check_and_queue_delivery_of_its_alerts(
    services, settings, worker_services, runs, receiver
):
    services.jobs.enqueue("test_check", found=2)
    await deferred(settings, "test_check", [("todo", {"found": 2})])

    await work_off_the_queue(settings, worker_services)

    assert [(run.services, run.kwargs) for run in runs["test_check"]] == [(worker_services, {"found": 2})]
    assert list(await stamped_checks(worker_services.db)) == ["test_check"]
    # the worker deferred one delivery after the run (the same worker may already have run it)
    [(status, args)] = await job_table(settings, "deliver_alert")
    assert status in ("todo", "succeeded") and args == {}

    await work_off_the_queue(settings, worker_services)

    assert await job_table(settings, "deliver_alert") == [("succeeded", {})]
    assert await alerts(worker_services.db) == [("found 2", "sent")]
    assert [body["message"] for body in receiver.bodies("/hook")] == ["found 2"]
