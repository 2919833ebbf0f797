"""The overview's numbers (reporting/overview.py) on SQLite and PostgreSQL: counts of pipelines and runs,
runs and failures per hour, open incidents by kind, the problem pipelines and the recent alerts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from watcher_server.alerts.tables import alert
from watcher_server.anomalies.tables import anomaly_detection_rule, anomaly_incident
from watcher_server.reporting.overview import PROBLEMS_SHOWN, overview

from ..helpers import create_pipeline, end, stale_pipeline, start

UTC = dt.UTC
NOW = dt.datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def _at(delta: dt.timedelta) -> str:
    return (NOW - delta).isoformat()


async def _run(client, pipeline_id, started_ago, ended_ago=None, ok=True):
    execution = await start(client, pipeline_id, start_date=_at(started_ago))
    if ended_ago is not None:
        await end(client, execution, end_date=_at(ended_ago), ok=ok)
    return execution


async def _alert(db, kind="freshness", event="opened", created_at=NOW, **values):
    row = {"level": "warning", "title": "t", "message": "m", "delivery_status": "not_configured", **values}
    async with db.write() as conn:
        await conn.execute(insert(alert).values(kind=kind, event=event, created_at=created_at, **row))


async def test_counts_pipelines_running_runs_and_failures_of_the_last_day(client, db):
    h, m = dt.timedelta(hours=1), dt.timedelta(minutes=1)
    first = await create_pipeline(client, "first", "t")
    second = await create_pipeline(client, "second", "t")
    paused = await create_pipeline(client, "paused", "t")
    assert (await client.patch("/pipeline", json={"id": paused, "active": False})).status_code == 200
    await _run(client, first, 2 * h, 2 * h - 5 * m)  # 10:30, succeeded
    await _run(client, first, 1 * h, 1 * h - 5 * m, ok=False)  # 11:30, failed
    await _run(client, second, 10 * m)  # 12:20, still running
    await _run(client, second, 23 * h + 50 * m, 23 * h + 40 * m, ok=False)  # 12:40 yesterday: in the day, before the chart's first hour
    await _run(client, second, 25 * h, 23 * h, ok=False)  # failed within the day but started before it: not counted
    await _run(client, first, 30 * h)  # running for 30 h: running, not a run of the last day
    await _run(client, first, -2 * h, -3 * h)  # starts in the future: not a run of the last day

    data = await overview(db, NOW)

    assert (data.pipelines, data.active, data.running) == (3, 2, 2)
    assert (data.runs_24h, data.failures_24h) == (4, 2)
    assert len(data.hours) == 24
    assert data.hours[0].hour == dt.datetime(2026, 3, 9, 13, tzinfo=UTC)
    assert data.hours[-1].hour == dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
    busy = {h.hour.hour: (h.runs, h.failures) for h in data.hours if h.runs or h.failures}
    assert busy == {10: (1, 0), 11: (1, 1), 12: (1, 0)}


async def test_runs_per_hour_put_each_run_in_the_utc_hour_it_started(client, db):
    pid = await create_pipeline(client, "hourly", "t")
    starts = ["2026-03-10T03:00:00Z", "2026-03-10T03:59:59.999Z", "2026-03-10T04:00:00Z", "2026-03-10T05:15:00+02:00"]
    for when in starts:  # the last, 03:15 UTC, fails
        execution = await start(client, pid, start_date=when)
        await end(client, execution, end_date=when.replace("T0", "T1"), ok=not when.endswith("+02:00"))
    data = await overview(db, NOW)
    counts = {h.hour.hour: (h.runs, h.failures) for h in data.hours if h.runs}
    assert counts == {3: (3, 1), 4: (1, 0)}
    assert all(h.hour.tzinfo is not None and h.hour.minute == 0 for h in data.hours)


async def test_an_empty_database_has_zero_counts_and_an_empty_chart(db):
    data = await overview(db, NOW)
    assert (data.pipelines, data.active, data.running, data.runs_24h, data.failures_24h) == (0, 0, 0, 0, 0)
    assert (data.open_freshness, data.open_timeliness, data.open_anomalies, data.queue) == (0, 0, 0, None)
    assert [p.count for p in data.problems] == [0, 0, 0, 0] and data.alerts == []
    assert sum(h.runs for h in data.hours) == 0


async def test_open_incidents_are_counted_by_kind_and_their_pipelines_listed_by_state(client, db, clock):
    stale = await stale_pipeline(client, "b stale")
    await stale_pipeline(client, "a stale")
    slow = await create_pipeline(client, "slow", "t", timeliness_number=1, timeliness_datepart="hour")
    await start(client, slow, start_date=_at(dt.timedelta(hours=3)))
    spiky = await create_pipeline(client, "spiky", "t")
    execution = await _run(client, spiky, dt.timedelta(hours=5), dt.timedelta(hours=4))
    old = await _run(client, spiky, dt.timedelta(hours=50), dt.timedelta(hours=49))
    async with db.write() as conn:  # one open anomaly incident and one resolved (anomalies/incidents.py writes them)
        rule = insert(anomaly_detection_rule).values(pipeline_id=spiky, metric_field="inserts").returning(anomaly_detection_rule.c.id)
        rule_id = (await conn.execute(rule)).scalar_one()
        for run, opened, resolved in (
            (execution, NOW - dt.timedelta(hours=4), None),
            (old, NOW - dt.timedelta(hours=49), NOW - dt.timedelta(hours=48)),
        ):
            await conn.execute(
                insert(anomaly_incident).values(
                    pipeline_id=spiky, metric_field="inserts", rule_id=rule_id, opened_execution_id=run, last_execution_id=run,
                    flagged_count=1, opened_at=opened, resolved_at=resolved, resolution="recovered" if resolved else None,
                )
            )  # fmt: skip
    clock.freeze(NOW)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    assert (await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 600})).status_code == 200

    data = await overview(db, NOW)

    assert (data.open_freshness, data.open_timeliness, data.open_anomalies) == (2, 1, 1)
    problems = {p.state: p for p in data.problems}
    assert problems["stale"].count == 2
    assert problems["stale"].pipelines == [(stale + 1, "a stale"), (stale, "b stale")]  # by name
    assert problems["late"].pipelines == [(slow, "slow")]
    assert problems["anomalous"].pipelines == [(spiky, "spiky")]
    assert problems["failing"].count == 0 and problems["failing"].pipelines == []


async def test_each_state_lists_at_most_twenty_pipelines_but_counts_them_all(client, db, clock):
    for n in range(PROBLEMS_SHOWN + 3):
        await stale_pipeline(client, f"stale {n:02d}")
    clock.freeze(NOW)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    [stale] = [p for p in (await overview(db, NOW)).problems if p.state == "stale"]
    assert stale.count == PROBLEMS_SHOWN + 3
    assert [name for _, name in stale.pipelines] == [f"stale {n:02d}" for n in range(PROBLEMS_SHOWN)]


async def test_the_queue_incident_is_open_from_an_opened_queue_alert_until_a_recovered_one(db):
    await _alert(db, "queue", "opened", NOW - dt.timedelta(hours=3), level="critical")
    await _alert(db, "freshness", "opened", NOW - dt.timedelta(hours=2))  # other kinds do not close it
    data = await overview(db, NOW)
    assert data.queue is not None and data.queue.level == "critical"
    assert data.queue.since == NOW - dt.timedelta(hours=3)
    await _alert(db, "queue", "recovered", NOW - dt.timedelta(hours=1), level="success")
    assert (await overview(db, NOW)).queue is None


async def test_the_ten_most_recent_alerts_come_newest_first_with_their_delivery_state(db):
    for n in range(12):
        await _alert(db, created_at=NOW - dt.timedelta(minutes=12 - n), title=f"alert {n}", delivery_status="sent" if n % 2 else "failed")
    alerts = (await overview(db, NOW)).alerts
    assert [a.title for a in alerts] == [f"alert {n}" for n in range(11, 1, -1)]
    assert [a.delivery_status for a in alerts[:2]] == ["sent", "failed"]
