"""Scale-out mode: API processes queue jobs in Procrastinate's tables and `watcher worker` runs them.

PostgreSQL only (the mode requires it), so these tests pin the backend instead of running twice.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import psycopg
import pytest

from watcher_server.jobs.scale_out import apply_queue_schema, build_app, conninfo, every, release_stalled
from watcher_server.settings import Settings

from ..helpers import end, stale_pipeline, start
from .helpers import api_process, eventually, job_table, work_off_the_queue


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
async def scale_out(settings: Settings):
    scaled = settings.model_copy(update={"job_queue": "procrastinate"})
    await apply_queue_schema(scaled)
    return scaled


@pytest.fixture
async def api(scale_out):
    async with api_process(scale_out) as http:
        yield http


async def job_counts(api, job: str) -> dict:
    return (await api.get("/jobs/status")).json()["jobs"][job]


async def test_a_queued_check_waits_in_the_job_table_until_a_worker_runs_it(api, scale_out):
    await stale_pipeline(api, "orders")

    assert (await api.post("/freshness")).json() == {"status": "queued"}

    async def queued():
        return (await job_counts(api, "freshness_check"))["pending"] == 1

    await eventually(queued)
    assert (await api.get("/freshness")).json() == []  # nothing ran in the API process

    await work_off_the_queue(scale_out)

    incidents = (await api.get("/freshness")).json()
    assert [(i["pipeline_name"], i["status"]) for i in incidents] == [("orders", "open")]
    assert [(a["kind"], a["event"]) for a in (await api.get("/alerts")).json()] == [("freshness", "opened")]
    assert await job_counts(api, "freshness_check") == {"pending": 0, "running": 0, "failed_last_24h": 0}


async def test_identical_queued_checks_are_merged_while_one_waits_and_different_ones_are_not(scale_out):
    async with api_process(scale_out) as api:
        for lookback in (60, 60, 60, 1440):
            assert (await api.post("/timeliness", json={"lookback_minutes": lookback})).json() == {"status": "queued"}
    # The API process has stopped, and a stopping process first lets every defer in flight land (or be
    # merged): what the job table holds now is all these requests queued.
    waiting = sorted(await job_table(scale_out, "timeliness_check"), key=lambda job: job[1]["lookback_minutes"])
    assert waiting == [("todo", {"lookback_minutes": 60}), ("todo", {"lookback_minutes": 1440})]
    async with api_process(scale_out) as replica:
        assert (await job_counts(replica, "timeliness_check"))["pending"] == 2


async def test_jobs_of_a_worker_that_died_go_back_to_the_queue(api, scale_out):
    """A worker killed mid-run leaves its job `doing`, holding the check's lock; it is released."""
    assert (await api.post("/freshness")).json() == {"status": "queued"}

    async def queued():
        return (await job_counts(api, "freshness_check"))["pending"] == 1

    await eventually(queued)
    async with await psycopg.AsyncConnection.connect(conninfo(scale_out.database_url), autocommit=True) as conn:
        worker = await (
            await conn.execute("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '5 minutes') RETURNING id")
        ).fetchone()
        await conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE task_name = 'freshness_check'", worker)
    assert await job_counts(api, "freshness_check") == {"pending": 0, "running": 1, "failed_last_24h": 0}

    app = build_app(scale_out)
    async with app.open_async():
        assert await release_stalled(app) == 1
    assert (await job_counts(api, "freshness_check"))["pending"] == 1
    await work_off_the_queue(scale_out)
    assert await job_counts(api, "freshness_check") == {"pending": 0, "running": 0, "failed_last_24h": 0}


async def test_a_successful_end_queues_anomaly_detection_for_the_worker(api, scale_out):
    pipeline_id = (await api.post("/pipeline", json={"name": "loads", "pipeline_type_name": "t"})).json()["id"]
    rule = {"pipeline_id": pipeline_id, "metric_field": "inserts", "minimum_executions": 5, "seasonality": "none"}
    assert (await api.post("/anomaly_detection_rule", json=rule)).status_code == 201
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for days_ago, inserts in ((6, 10), (5, 11), (4, 10), (3, 9), (2, 10), (1, 5000)):
        begin = now - dt.timedelta(days=days_ago)
        execution = await start(api, pipeline_id, start_date=begin.isoformat())
        await end(api, execution, end_date=(begin + dt.timedelta(minutes=5)).isoformat(), inserts=inserts)

    async def queued():
        return (await job_counts(api, "detect_anomalies"))["pending"] >= 1

    await eventually(queued)
    assert (await api.get("/anomaly_detection_result")).json() == []
    await work_off_the_queue(scale_out)

    results = (await api.get("/anomaly_detection_result")).json()
    assert [(r["pipeline_execution_id"], r["metric_field"]) for r in results] == [(execution, "inserts")]
    assert (await api.get(f"/pipeline_execution/{execution}")).json()["anomaly_flags"] == {"inserts": True}
    assert (await job_counts(api, "detect_anomalies"))["pending"] == 0


async def test_a_failing_job_is_counted_in_the_last_24_hours(api, scale_out):
    execution = await start(api, await stale_pipeline(api, "orders"))
    assert (await api.post("/detect_anomalies", json={"pipeline_execution_id": execution})).json() == {"status": "queued"}
    with psycopg.connect(conninfo(scale_out.database_url)) as conn:  # gone before a worker runs the job: the job fails
        conn.execute("DELETE FROM pipeline_execution_closure WHERE child_execution_id = %s", (execution,))
        conn.execute("DELETE FROM pipeline_execution WHERE id = %s", (execution,))

    async def queued():
        return (await job_counts(api, "detect_anomalies"))["pending"] == 1

    await eventually(queued)
    await work_off_the_queue(scale_out)

    assert await job_counts(api, "detect_anomalies") == {"pending": 0, "running": 0, "failed_last_24h": 1}


async def test_wait_true_still_answers_with_the_result_in_scale_out_mode(api):
    await stale_pipeline(api, "orders")
    result = (await api.post("/freshness", params={"wait": "true"})).json()
    assert result["status"] == "warning" and [f["pipeline_name"] for f in result["failing"]] == ["orders"]


def test_sweep_intervals_become_procrastinate_cron_expressions():
    assert every(5) == "* * * * * */5"
    assert every(60) == "*/1 * * * *"
    assert every(3600) == "0 */1 * * *"


def test_scale_out_mode_refuses_sqlite_and_names_the_fix(tmp_path):
    with pytest.raises(ValueError, match="needs a PostgreSQL"):
        Settings(database_url=f"sqlite:///{tmp_path}/w.db", job_queue="procrastinate")
    done = subprocess.run(
        [sys.executable, "-m", "watcher_server.cli", "worker", "--database-url", f"sqlite:///{tmp_path}/w.db"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    # plain words: with SQLite nothing needs starting; scaling out needs PostgreSQL and the queue setting
    assert "`watcher serve` runs every check and alert itself" in done.stderr
    assert "WATCHER_DATABASE_URL=postgresql://" in done.stderr and "WATCHER_JOB_QUEUE=procrastinate" in done.stderr
