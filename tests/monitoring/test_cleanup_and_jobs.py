"""Log cleanup (§14), the cleanup command, and queue status (§15)."""

import asyncio
import dataclasses
import datetime as dt
import logging
import subprocess
import sys

import pytest
from sqlalchemy import insert, text

from watcher_server.anomalies.tables import anomaly_incident
from watcher_server.core.clock import CLOCK
from watcher_server.jobs.registry import JOBS

from ..helpers import create_pipeline, end, start
from ..jobs.helpers import eventually

NOW = dt.datetime(2025, 6, 15, 13, 0, tzinfo=dt.UTC)  # cutoff for 90 days: 2025-03-17T00:00Z


async def _old_tree_and_new_run(client):
    pid = await create_pipeline(client)
    root = await start(client, pid, start_date="2025-03-16T10:00:00Z")
    child = await start(client, pid, start_date="2025-03-16T10:05:00Z", parent_id=root)
    await end(client, child, end_date="2025-03-16T11:00:00Z", ok=False)
    young = await start(client, pid, start_date="2025-03-17T00:00:01Z", parent_id=root)  # survives, keeps parent_id
    return root, child, young


async def test_cleanup_deletes_old_executions_in_batches_and_counts_links(app, client, db):
    CLOCK.freeze(NOW)
    root, child, young = await _old_tree_and_new_run(client)
    await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 525_600})
    dry = (await client.post("/log_cleanup", json={"retention_days": 90, "dry_run": True})).json()
    assert dry["total_pipeline_executions_deleted"] == 2
    assert (await client.get("/pipeline_execution")).json() != []
    done = await client.post("/log_cleanup", json={"retention_days": 90, "batch_size": 1})
    assert done.status_code == 200
    assert done.json() == {
        "total_pipeline_executions_deleted": 2,
        "total_timeliness_pipeline_execution_logs_deleted": 1,
        "total_anomaly_detection_results_deleted": 0,
        "total_pipeline_execution_closure_parent_deleted": 2,
        "total_pipeline_execution_closure_child_deleted": 0,
        "total_freshness_pipeline_logs_deleted": 0,
    }
    rows = (await client.get("/pipeline_execution")).json()
    assert [(r["id"], r["parent_id"]) for r in rows] == [(young, root)]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM pipeline_execution_closure"))).scalar() == 1


async def test_root_with_one_old_child_reports_one_parent_link(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client)
    root = await start(client, pid, start_date="2025-01-01T00:00:00Z")
    await start(client, pid, start_date="2025-01-01T00:01:00Z", parent_id=root)
    result = (await client.post("/log_cleanup", json={"retention_days": 90})).json()
    assert (
        result["total_pipeline_executions_deleted"],
        result["total_pipeline_execution_closure_parent_deleted"],
        result["total_pipeline_execution_closure_child_deleted"],
    ) == (2, 1, 0)


async def test_cleanup_deletes_anomaly_incidents_resolved_before_the_cutoff_and_keeps_the_rest(app, client, db, caplog):
    """Resolved anomaly incidents age out with the logs: resolved at or before the cutoff → deleted;
    resolved later, or still open → kept. The response keeps the contract's six keys; the count is in
    the cleanup's log line."""
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client)
    rule = await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "inserts"})
    cutoff = dt.datetime(2025, 3, 17, tzinfo=dt.UTC)
    resolved_at = {
        "inserts": cutoff - dt.timedelta(hours=1), "updates": cutoff,
        "total_rows": cutoff + dt.timedelta(seconds=1), "throughput": None,
    }  # fmt: skip
    async with db.write() as conn:
        for metric, resolved in resolved_at.items():
            await conn.execute(
                insert(anomaly_incident).values(
                    pipeline_id=pid, metric_field=metric, rule_id=rule.json()["id"], opened_execution_id=1, last_execution_id=1,
                    flagged_count=1, opened_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC), resolved_at=resolved,
                    resolution=resolved and "recovered",
                )
            )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="watcher.checks"):
        result = (await client.post("/log_cleanup", json={"retention_days": 90})).json()
    assert len(result) == 6
    async with db.read() as conn:
        left = (await conn.execute(text("SELECT metric_field FROM anomaly_incident ORDER BY metric_field"))).scalars().all()
    assert left == ["throughput", "total_rows"]
    [line] = [r for r in caplog.records if getattr(r, "check", None) == "cleanup"]
    assert line.anomaly_incidents_deleted == 2


async def test_cleanup_validates_its_body(client):
    for bad in ({}, {"retention_days": 89}, {"retention_days": 90, "batch_size": 0}, {"retention_days": 90, "batch_size": 100_001}):
        assert (await client.post("/log_cleanup", json=bad)).status_code == 422, bad


def test_cleanup_command_shows_progress_and_counts(database_url):
    result = subprocess.run(
        [sys.executable, "-m", "watcher_server.cli", "cleanup", "--retention-days", "90", "--dry-run", "--database-url", database_url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "deleting executions" in result.stderr and "dry run" in result.stderr
    assert "total_pipeline_executions_deleted" in result.stdout


async def test_jobs_status_and_the_kept_celery_endpoint(client):
    status = (await client.get("/jobs/status")).json()
    assert status["status"] == "ok" and status["total_pending"] == 0 and status["oldest_pending_seconds"] is None
    assert set(status["jobs"]) == {"detect_anomalies", "freshness_check", "timeliness_check", "deliver_alert"}
    celery = await client.post("/celery/monitor-queue")
    assert celery.status_code == 200
    body = celery.json()
    assert (body["status"], body["beat_scheduled_tasks"], body["task_breakdown"]) == ("success", 0, [])
    assert len(body["task_breakdown_raw"]) == 9


async def test_embedded_job_failures_are_counted_but_a_requests_own_404_is_not(client, services):
    await client.post("/detect_anomalies", json={"pipeline_execution_id": 999}, params={"wait": "true"})
    assert (await client.get("/jobs/status")).json()["jobs"]["detect_anomalies"]["failed_last_24h"] == 0
    services.jobs.enqueue("detect_anomalies", execution_id=999)  # queued, then its execution is gone: the job fails

    async def failed():
        return (await client.get("/jobs/status")).json()["jobs"]["detect_anomalies"]["failed_last_24h"] > 0

    await eventually(failed)
    assert (await client.get("/jobs/status")).json()["jobs"]["detect_anomalies"] == {"pending": 0, "running": 0, "failed_last_24h": 1}


@pytest.fixture
def freshness_gate(monkeypatch):
    """Runs of the freshness check wait for this gate before checking: while one run waits, the runs
    queued after it stay pending (a serial job's runs never overlap), so the queue really backs up."""
    gate = asyncio.Event()
    declared = JOBS["freshness_check"]

    async def gated_freshness_check(s, outbox, **kwargs):
        await gate.wait()
        return await declared.run(s, outbox, **kwargs)

    monkeypatch.setitem(JOBS, "freshness_check", dataclasses.replace(declared, run=gated_freshness_check))
    yield gate
    gate.set()  # a failed test leaves no run waiting for ever


async def _until_freshness_runs_are(client, pending: int, running: int) -> None:
    async def reached():
        counts = (await client.get("/jobs/status")).json()["jobs"]["freshness_check"]
        return (counts["pending"], counts["running"]) == (pending, running)

    await eventually(reached)


@pytest.mark.settings(queue_warning_threshold=2, queue_critical_threshold=3)
async def test_queue_health_alerts_once_when_backed_up_and_once_when_recovered(services, client, freshness_gate):
    async def queue_health_check():
        return await services.jobs.run_now("queue_health_check")

    assert (await queue_health_check())["alerts_created"] == 0
    for _ in range(4):  # one run starts and waits at the gate; three queue up behind it
        assert (await client.post("/freshness")).json() == {"status": "queued"}
    await _until_freshness_runs_are(client, pending=3, running=1)
    assert (await queue_health_check())["status"] == "critical"
    assert (await queue_health_check())["alerts_created"] == 0
    status = (await client.get("/jobs/status")).json()
    assert (status["status"], status["total_pending"]) == ("critical", 3)
    assert (await client.post("/celery/monitor-queue")).json()["task_breakdown"] == ["Freshness Check Task: 3"]

    freshness_gate.set()  # the queue drains: every queued run checks freshness and finishes
    await _until_freshness_runs_are(client, pending=0, running=0)
    assert (await queue_health_check())["alerts_created"] == 1
    alerts = (await client.get("/alerts", params={"kind": "queue"})).json()
    assert [(a["event"], a["level"], a["message"]) for a in alerts] == [
        ("opened", "critical", "Queue has 3 pending jobs"),
        ("recovered", "success", "Queue back to 0 pending jobs"),
    ]
    freshness_runs = (await client.get("/jobs/status")).json()["jobs"]["freshness_check"]
    assert freshness_runs["failed_last_24h"] == 0
