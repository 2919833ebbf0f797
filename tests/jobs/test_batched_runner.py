"""The embedded runner's batched job (Job.batch: detect_anomalies): queued runs are merged, kept in a
bounded queue and drained in batches by one task per process; a failing batch is counted and the
queue keeps draining.

Most tests put a stand-in for `run_batch` in the runner, so they see exactly which batches it hands
over and can hold one while more is queued; the last one ends executions through the API and lets
the real detection run.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from watcher_server.executions.tables import pipeline_execution as pe
from watcher_server.jobs import runner as runner_module

from ..helpers import create_pipeline, end, start
from .helpers import eventually

JOB = "detect_anomalies"


class Batches:
    """A stand-in for registry.run_batch: records the execution ids of each batch it is handed; a
    batch waits for `release` while `hold` is set, and the first `failures` batches raise."""

    def __init__(self, failures: int = 0):
        self.seen: list[list[int]] = []
        self.failures = failures
        self.hold = False
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def __call__(self, services, name, queued):
        assert name == JOB
        self.seen.append([kwargs["execution_id"] for kwargs in queued])
        self.started.set()
        if self.hold:
            await self.release.wait()
        if len(self.seen) <= self.failures:
            raise RuntimeError("the database went away")
        return {"queued": len(queued)}


@pytest.fixture
def batches(monkeypatch) -> Batches:
    stand_in = Batches()
    monkeypatch.setattr(runner_module, "run_batch", stand_in)
    return stand_in


@pytest.fixture
async def runner(services) -> runner_module.JobRunner:
    assert isinstance(services.jobs, runner_module.JobRunner)
    return services.jobs


async def counts(runner) -> dict[str, int]:
    return (await runner.snapshot()).get(JOB, {"pending": 0, "running": 0, "failed_last_24h": 0})


async def drained(runner) -> None:
    """Until nothing of the job is queued or running."""

    async def idle():
        now = await counts(runner)
        return now["pending"] == 0 and now["running"] == 0

    await eventually(idle, seconds=5)


async def batches_seen(batches: Batches, count: int) -> None:
    async def seen():
        return len(batches.seen) >= count

    await eventually(seen, seconds=5)


async def test_queued_runs_of_one_execution_are_merged_into_one(runner, batches):
    for _ in range(50):
        runner.enqueue(JOB, execution_id=7)
    runner.enqueue(JOB, execution_id=8)
    runner.enqueue(JOB, execution_id=7)
    assert await counts(runner) == {"pending": 2, "running": 0, "failed_last_24h": 0}
    await drained(runner)
    assert batches.seen == [[7, 8]]
    assert await counts(runner) == {"pending": 0, "running": 0, "failed_last_24h": 0}


async def test_runs_queued_while_a_batch_runs_go_in_the_next_batch_and_are_merged_there(runner, batches):
    batches.hold = True
    runner.enqueue(JOB, execution_id=1)
    await asyncio.wait_for(batches.started.wait(), 5)
    assert await counts(runner) == {"pending": 0, "running": 1, "failed_last_24h": 0}
    for execution_id in (2, 3, 2, 1, 3):
        runner.enqueue(JOB, execution_id=execution_id)
    assert await counts(runner) == {"pending": 3, "running": 1, "failed_last_24h": 0}
    batches.release.set()
    await drained(runner)
    assert batches.seen == [[1], [2, 3, 1]]


async def test_runs_queued_within_the_gathering_delay_go_in_one_batch(runner, batches):
    """Ends trickling in are gathered for BATCH_GATHER_SECONDS rather than checked one batch each."""
    for execution_id in (1, 2, 3):
        runner.enqueue(JOB, execution_id=execution_id)
        await asyncio.sleep(runner_module.BATCH_GATHER_SECONDS / 10)
    await drained(runner)
    assert batches.seen == [[1, 2, 3]]


async def test_a_full_batch_is_taken_without_waiting(runner, batches, monkeypatch):
    monkeypatch.setattr(runner_module, "BATCH_SIZE", 2)
    monkeypatch.setattr(runner_module, "BATCH_GATHER_SECONDS", 30)  # a wait would outlast the test
    for execution_id in (1, 2, 3, 4):
        runner.enqueue(JOB, execution_id=execution_id)
    await batches_seen(batches, 2)
    assert batches.seen == [[1, 2], [3, 4]]


async def test_the_queue_keeps_at_most_the_limit_and_pending_counts_what_it_kept(runner, batches, monkeypatch):
    monkeypatch.setattr(runner_module, "BATCH_QUEUE_LIMIT", 3)
    monkeypatch.setattr(runner_module, "BATCH_SIZE", 2)
    batches.hold = True
    for execution_id in range(1, 11):
        runner.enqueue(JOB, execution_id=execution_id)
    assert await counts(runner) == {"pending": 3, "running": 0, "failed_last_24h": 0}
    await asyncio.wait_for(batches.started.wait(), 5)
    assert await counts(runner) == {"pending": 1, "running": 2, "failed_last_24h": 0}
    for execution_id in (11, 12, 13, 14):  # room for two beside the one left
        runner.enqueue(JOB, execution_id=execution_id)
    assert await counts(runner) == {"pending": 3, "running": 2, "failed_last_24h": 0}
    batches.release.set()
    await drained(runner)
    assert batches.seen == [[1, 2], [3, 11], [12]]
    assert await counts(runner) == {"pending": 0, "running": 0, "failed_last_24h": 0}


async def test_a_failing_batch_is_counted_and_the_runner_keeps_draining(runner, batches, client):
    batches.failures, batches.hold = 1, True
    runner.enqueue(JOB, execution_id=1)
    await asyncio.wait_for(batches.started.wait(), 5)
    runner.enqueue(JOB, execution_id=2)  # queued while the failing batch runs: the same drain runs it
    batches.release.set()

    await batches_seen(batches, 2)
    await drained(runner)
    runner.enqueue(JOB, execution_id=3)  # after the drain ended: a new one starts
    await batches_seen(batches, 3)
    await drained(runner)
    assert batches.seen == [[1], [2], [3]]
    assert await counts(runner) == {"pending": 0, "running": 0, "failed_last_24h": 1}
    status = (await client.get("/jobs/status")).json()["jobs"][JOB]
    assert status["failed_last_24h"] == 1 and status["running"] == 0


async def test_a_burst_of_successful_ends_is_checked_in_a_few_detection_transactions(client, db, clock, monkeypatch):
    """Forty executions of four pipelines with an active rule end at once through the API. Each end
    queues its detection; the drain hands them over in batches, so every execution is checked within
    seconds by far fewer detection transactions (one per run_batch) than executions, and none is
    detected one at a time."""
    clock.freeze(dt.datetime(2025, 3, 25, 12, 0, tzinfo=dt.UTC))
    real_batch, real_job, handed = runner_module.run_batch, runner_module.run_job, []

    async def counting_batch(services, name, queued):
        handed.append(len(queued))
        return await real_batch(services, name, queued)

    async def no_single_detection(services, name, **kwargs):
        assert name != JOB, "a queued detection ran on its own"
        return await real_job(services, name, **kwargs)

    monkeypatch.setattr(runner_module, "run_batch", counting_batch)
    monkeypatch.setattr(runner_module, "run_job", no_single_detection)
    executions = []
    for p in range(4):
        pid = await create_pipeline(client, f"p{p}")
        rule = {"pipeline_id": pid, "metric_field": "total_rows", "minimum_executions": 5, "seasonality": "none"}
        assert (await client.post("/anomaly_detection_rule", json=rule)).status_code == 201
        for day in range(1, 11):
            executions.append(await start(client, pid, start_date=f"2025-03-{day:02d}T10:00:00Z"))
    await asyncio.gather(
        *(end(client, e, end_date=f"2025-03-{1 + i % 10:02d}T10:05:00Z", total_rows=100 + i) for i, e in enumerate(executions))
    )

    async def all_checked():
        async with db.read() as conn:
            found = await conn.execute(select(pe.c.id).where(pe.c.id.in_(executions), pe.c.anomaly_checked_at.is_not(None)))
            return len(found.all()) == len(executions)

    await eventually(all_checked, seconds=5)
    assert sum(handed) == len(executions)  # each end queued once, handed over once
    assert len(handed) <= len(executions) // 4, f"{len(handed)} detection transactions for {len(executions)} ends: {handed}"


async def _end_one_run_unseen_by_the_rule_index(client, services) -> int:
    """A pipeline this process's rule index has not seen (as if another process had created it since
    the last refresh), and one successful run of it; returns the run's id."""
    pid = await create_pipeline(client, "made elsewhere")
    services.rule_index.pipelines, services.rule_index.unwatched = frozenset(), frozenset()
    execution = await start(client, pid, start_date="2025-03-01T10:00:00Z")
    await end(client, execution, end_date="2025-03-01T10:05:00Z", total_rows=100)
    return execution


async def _checked(db, execution: int) -> bool:
    async with db.read() as conn:
        return (await conn.execute(select(pe.c.anomaly_checked_at).where(pe.c.id == execution))).scalar() is not None


@pytest.mark.settings(auto_create_anomaly_detection_rules=True)
async def test_with_auto_rules_an_end_of_a_pipeline_newer_than_the_rule_index_is_checked_at_once(client, db, services):
    """Auto rules on: a pipeline created since the index was read has rules, so its end is queued at
    once rather than left to the sweep a minute later."""
    execution = await _end_one_run_unseen_by_the_rule_index(client, services)
    await eventually(lambda: _checked(db, execution), seconds=5)


@pytest.mark.settings(auto_create_anomaly_detection_rules=True)
async def test_with_auto_rules_a_pipeline_committed_after_a_read_that_saw_a_higher_id_is_checked_at_once(client, db, services):
    """Ids are handed out before commit: a refresh can see pipeline n+1 and not yet pipeline n. Auto
    rules on, n's ends are still checked at once."""
    lower = await create_pipeline(client, "committed second")
    higher = await create_pipeline(client, "committed first")
    await services.rule_index.refresh(db)
    services.rule_index.pipelines -= {lower}  # the refresh's snapshot as if `lower` had not committed yet
    services.rule_index.unwatched -= {lower}
    assert services.rule_index.pipelines >= {higher}
    execution = await start(client, lower, start_date="2025-03-01T10:00:00Z")
    await end(client, execution, end_date="2025-03-01T10:05:00Z", total_rows=100)
    await eventually(lambda: _checked(db, execution), seconds=5)


@pytest.mark.settings(auto_create_anomaly_detection_rules=True)
async def test_with_auto_rules_an_end_of_a_pipeline_read_without_active_rules_queues_nothing(client, db, services, runner, batches):
    """A pipeline whose rules were all deactivated costs no detection, auto rules or not."""
    pid = await create_pipeline(client, "rules off")
    rules = (await client.get("/anomaly_detection_rule", params={"pipeline_id": pid})).json()
    assert rules
    for rule in rules:
        assert (await client.patch("/anomaly_detection_rule", json={"id": rule["id"], "active": False})).status_code == 200
    execution = await start(client, pid, start_date="2025-03-01T10:00:00Z")
    await end(client, execution, end_date="2025-03-01T10:05:00Z", total_rows=100)
    assert (await counts(runner))["pending"] == 0  # a queued end would wait here for the gathering delay
    await asyncio.sleep(2 * runner_module.BATCH_GATHER_SECONDS)
    assert batches.seen == [] and not await _checked(db, execution)


async def test_without_auto_rules_an_end_of_a_pipeline_unknown_to_the_rule_index_queues_nothing(client, db, services, runner, batches):
    """Auto rules off: a new pipeline has no rule, and its ends cost no detection."""
    execution = await _end_one_run_unseen_by_the_rule_index(client, services)
    assert (await counts(runner))["pending"] == 0  # a queued end would wait here for the gathering delay
    await asyncio.sleep(2 * runner_module.BATCH_GATHER_SECONDS)
    assert batches.seen == [] and not await _checked(db, execution)
