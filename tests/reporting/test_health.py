"""The pages' one definition of what is wrong with a pipeline right now (reporting/health.py), on SQLite
and PostgreSQL: each state from real check runs and executions, and the counts the overview shows."""

from __future__ import annotations

import datetime as dt

from watcher_server.reporting import health

from ..anomalies import support
from ..helpers import create_pipeline, end, stale_pipeline, start

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _states(db, ids, now=NOW):
    async with db.read() as conn:
        return await health.states_of(conn, ids, now)


async def _in_state(db, state, now=NOW):
    async with db.read() as conn:
        return sorted({row[0] for row in (await conn.execute(health.in_state(state, now))).all()})


async def test_an_open_freshness_incident_makes_a_pipeline_stale_until_it_recovers(client, db, clock):
    stale = await stale_pipeline(client, "orders")
    fine = await create_pipeline(client, "fresh", "t")
    clock.freeze(NOW)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    assert await _states(db, [stale, fine]) == {stale: ["stale"]}
    assert await _in_state(db, "stale") == [stale]

    execution = await start(client, stale, start_date="2026-03-01T11:00:00Z")
    await end(client, execution, end_date="2026-03-01T11:30:00Z", inserts=1)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    assert await _states(db, [stale, fine]) == {}


async def test_a_run_past_its_deadline_makes_a_pipeline_late(client, db, clock):
    slow = await create_pipeline(client, "slow", "t", timeliness_number=1, timeliness_datepart="hour")
    await start(client, slow, start_date="2026-03-01T09:00:00Z")
    clock.freeze(NOW)
    assert (await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 600})).status_code == 200
    assert await _states(db, [slow]) == {slow: ["late"]}
    assert await _in_state(db, "late") == [slow]


async def test_a_recent_failure_is_failing_until_a_later_run_succeeds(client, db):
    pid = await create_pipeline(client, "flaky", "t")
    old = await create_pipeline(client, "failed long ago", "t")
    failed = await start(client, pid, start_date="2026-03-01T10:00:00Z")
    await end(client, failed, end_date="2026-03-01T10:05:00Z", ok=False)
    ancient = await start(client, old, start_date="2026-02-01T10:00:00Z")
    await end(client, ancient, end_date="2026-02-01T10:05:00Z", ok=False)  # more than 24 h before NOW
    assert await _states(db, [pid, old]) == {pid: ["failing"]}

    retry = await start(client, pid, start_date="2026-03-01T10:10:00Z")
    assert await _in_state(db, "failing") == [pid]  # still running: not recovered yet
    await end(client, retry, end_date="2026-03-01T10:15:00Z")
    assert await _in_state(db, "failing") == []


async def test_an_open_anomaly_incident_makes_a_pipeline_anomalous_until_a_normal_run_and_every_state_is_counted(client, db, clock):
    clock.freeze(support.NOW)
    pid = await create_pipeline(client, "spiky", "t")
    await support.add_rule(client, pid, seasonality="none")
    *_, spike = await support.history(client, pid, [20, 22, 24, 26, 28, 500])
    await support.detect(client, spike)  # the detection the end queued, run here and now (a repeat changes nothing)
    other = await stale_pipeline(client, "other")
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    now = support.NOW
    assert await _states(db, [pid, other], now) == {pid: ["anomalous"], other: ["stale"]}
    async with db.read() as conn:
        assert await health.problem_counts(conn, now) == {"stale": 1, "late": 0, "failing": 0, "anomalous": 1}

    normal = await support.run(client, pid, support.NOW - dt.timedelta(days=1) + dt.timedelta(hours=1), total_rows=25)
    await support.detect(client, normal)
    assert await _states(db, [pid], now) == {}


async def test_an_empty_page_of_pipelines_has_no_states(db):
    assert await _states(db, []) == {}
