"""The pipelines pages' read models (reporting/pipelines.py) on SQLite and PostgreSQL: the list's search,
filters, sorts, pages, last runs and health; one pipeline's effective check settings, runs, chart runs,
lineage, incidents and anomaly rules."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, update

from watcher_server.anomalies.tables import anomaly_detection_result, anomaly_incident
from watcher_server.executions.tables import pipeline_execution
from watcher_server.reporting import pipelines as reporting
from watcher_server.reporting.pipelines import PipelineFilter, pipeline_detail, pipeline_list

from ..helpers import create_pipeline, end, stale_pipeline, start
from ..lineage.support import addr, post_lineage

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def names(db, offset=0, size=50, now=NOW, **where) -> list[str]:
    return [row.name for row in (await pipeline_list(db, PipelineFilter(**where), offset, size, now)).rows]


async def run(client, pipeline_id, start_date, end_date=None, ok=True, **extra) -> int:
    execution = await start(client, pipeline_id, start_date=start_date)
    if end_date is not None:
        await end(client, execution, end_date=end_date, ok=ok, **extra)
    return execution


async def test_search_is_a_case_insensitive_literal_substring_of_the_name(client, db):
    for name in ("daily_orders", "Orders-Archive", "customers", "dailyXorders"):
        await create_pipeline(client, name)
    assert await names(db, name_contains="orders") == ["daily_orders", "dailyxorders", "orders-archive"]
    assert await names(db, name_contains="y_o") == ["daily_orders"]  # "_" is a character here, not a wildcard
    assert await names(db, name_contains="%") == []
    assert await names(db, name_contains="nothing like it") == []


async def test_filters_by_type_and_by_active_combine(client, db):
    a1 = await create_pipeline(client, "a1", "alpha")
    await create_pipeline(client, "a2", "alpha")
    b1 = await create_pipeline(client, "b1", "beta")
    assert (await client.patch("/pipeline", json={"id": a1, "active": False})).status_code == 200
    listed = await pipeline_list(db, PipelineFilter(), 0, 50, NOW)
    types = dict(listed.types)
    alpha = next(type_id for type_id, name in types.items() if name == "alpha")
    assert [name for _, name in listed.types] == ["alpha", "beta"]
    assert await names(db, type_id=alpha) == ["a1", "a2"]
    assert await names(db, active=False) == ["a1"]
    assert await names(db, active=True) == ["a2", "b1"]
    assert await names(db, type_id=alpha, active=True) == ["a2"]
    assert await names(db, type_id=2**40) == []  # an id no type can have matches nothing, no error
    row = next(r for r in listed.rows if r.id == b1)
    assert (row.type_name, row.active) == ("beta", True)


async def test_sorts_by_name_or_id_both_ways(client, db):
    for name in ("charlie", "alpha", "bravo"):
        await create_pipeline(client, name)
    assert await names(db, sort="name") == ["alpha", "bravo", "charlie"]
    assert await names(db, sort="-name") == ["charlie", "bravo", "alpha"]
    assert await names(db, sort="id") == ["charlie", "alpha", "bravo"]
    assert await names(db, sort="-id") == ["bravo", "alpha", "charlie"]
    with pytest.raises(ValueError):
        await names(db, sort="created")


async def test_pages_end_exactly_where_the_rows_do(client, db):
    for i in range(5):
        await create_pipeline(client, f"p{i}")
    first = await pipeline_list(db, PipelineFilter(), 0, 2, NOW)
    assert [r.name for r in first.rows] == ["p0", "p1"] and first.has_next
    last = await pipeline_list(db, PipelineFilter(), 4, 2, NOW)
    assert [r.name for r in last.rows] == ["p4"] and not last.has_next
    full = await pipeline_list(db, PipelineFilter(), 0, 5, NOW)
    assert len(full.rows) == 5 and not full.has_next  # a page exactly full has no next page
    beyond = await pipeline_list(db, PipelineFilter(), 50, 2, NOW)
    assert beyond.rows == [] and not beyond.has_next
    assert await names(db, offset=2, size=2, sort="-name") == ["p2", "p1"]


async def test_each_row_shows_the_run_that_started_last(client, db):
    busy = await create_pipeline(client, "busy")
    idle = await create_pipeline(client, "idle")
    running = await create_pipeline(client, "running")
    await run(client, busy, "2026-03-01T08:00:00Z", "2026-03-01T08:10:00Z")
    latest = await run(client, busy, "2026-03-01T10:00:00Z", "2026-03-01T10:01:30Z", ok=False)
    await run(client, busy, "2026-03-01T09:00:00Z", "2026-03-01T09:05:00Z")  # recorded last, started earlier
    current = await run(client, running, "2026-03-01T11:00:00Z")
    rows = {r.id: r for r in (await pipeline_list(db, PipelineFilter(), 0, 50, NOW)).rows}
    last = rows[busy].last_run
    assert (last.id, last.completed_successfully, last.duration_seconds) == (latest, False, 90)
    assert last.start_date == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    assert rows[idle].last_run is None
    assert (rows[running].last_run.id, rows[running].last_run.end_date) == (current, None)


async def test_the_state_filter_and_badges_come_from_real_checks_and_runs(client, db, clock):
    stale = await stale_pipeline(client, "stale one")
    fine = await create_pipeline(client, "fine", "t")
    failing = await create_pipeline(client, "failing", "t")
    await run(client, failing, "2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z", ok=False)
    also = await create_pipeline(client, "also failing", "t")
    await run(client, also, "2026-03-01T09:00:00Z", "2026-03-01T09:05:00Z", ok=False)
    clock.freeze(NOW)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    assert await names(db, state="stale") == ["stale one"]
    assert await names(db, state="failing") == ["also failing", "failing"]
    assert await names(db, state="failing", sort="-name") == ["failing", "also failing"]
    assert await names(db, state="failing", sort="id") == ["failing", "also failing"]
    assert await names(db, state="failing", sort="-id", size=1) == ["also failing"]
    assert await names(db, state="late") == []
    assert await names(db, state="stale", active=False) == []
    rows = {r.id: r.states for r in (await pipeline_list(db, PipelineFilter(), 0, 50, NOW)).rows}
    assert rows == {stale: ["stale"], fine: [], failing: ["failing"], also: ["failing"]}


async def test_effective_check_settings_say_whether_they_come_from_the_pipeline_or_its_type(client, db):
    body = {"name": "hourly", "freshness_number": 2, "freshness_datepart": "day", "mute_timeliness_check": True}
    assert (await client.post("/pipeline_type", json=body)).status_code in (200, 201)
    inherits = await create_pipeline(client, "inherits", "hourly")
    own = await create_pipeline(client, "own", "hourly", freshness_number=3, freshness_datepart="hour")
    bare = await create_pipeline(client, "bare", "plain", timeliness_number=15, timeliness_datepart="minute")
    assert (await client.patch("/pipeline", json={"id": own, "mute_freshness_check": True})).status_code == 200

    def settings(detail):
        return {c.check: (c.number, c.datepart, c.source, c.muted, c.muted_by_type) for c in detail.checks}

    assert settings(await pipeline_detail(db, inherits, 0, 50, NOW)) == {
        "freshness": (2, "day", "type hourly", False, False),
        "timeliness": (None, None, "not set", False, True),
    }
    assert settings(await pipeline_detail(db, own, 0, 50, NOW)) == {
        "freshness": (3, "hour", "pipeline", True, False),
        "timeliness": (None, None, "not set", False, True),
    }
    assert settings(await pipeline_detail(db, bare, 0, 50, NOW)) == {
        "freshness": (None, None, "not set", False, False),
        "timeliness": (15, "minute", "pipeline", False, False),
    }


async def test_a_missing_pipeline_has_no_detail(client, db):
    await create_pipeline(client, "only")
    for missing in (2, 0, -1, 2**31, 2**63):
        assert await pipeline_detail(db, missing, 0, 50, NOW) is None


async def test_runs_are_paged_newest_first_with_anomaly_flags_and_parents(client, db):
    pid = await create_pipeline(client, "loader")
    parent_pipeline = await create_pipeline(client, "orchestrator")
    parent = await run(client, parent_pipeline, "2026-03-01T00:00:00Z")
    ids = []
    for hour in range(1, 6):
        ids.append(await run(client, pid, f"2026-03-01T0{hour}:00:00Z", f"2026-03-01T0{hour}:0{hour}:00Z", total_rows=hour * 10))
    child = await start(client, pid, start_date="2026-03-01T07:00:00Z", parent_id=parent)
    async with db.write() as conn:
        flags = {"duration_seconds": True, "total_rows": False, "inserts": True}
        await conn.execute(update(pipeline_execution).where(pipeline_execution.c.id == ids[2]).values(anomaly_flags=flags))

    first = await pipeline_detail(db, pid, 0, 4, NOW)
    assert [r.id for r in first.runs] == [child, ids[4], ids[3], ids[2]] and first.runs_have_next
    assert first.runs[0].parent_id == parent and first.runs[0].end_date is None
    assert first.runs[3].anomalies == ["duration_seconds", "inserts"]
    assert first.runs[1].total_rows == 50 and first.runs[1].duration_seconds == 300
    second = await pipeline_detail(db, pid, 4, 4, NOW)
    assert [r.id for r in second.runs] == [ids[1], ids[0]] and not second.runs_have_next
    assert [r.id for r in first.chart_runs] == ids  # finished runs only, oldest first


async def test_the_chart_shows_the_last_hundred_finished_runs(client, db):
    pid = await create_pipeline(client, "frequent")
    rows = [
        {
            "pipeline_id": pid, "start_date": NOW - dt.timedelta(hours=i, minutes=5), "end_date": NOW - dt.timedelta(hours=i),
            "date_recorded": NOW.date(), "hour_recorded": 0, "weekday_recorded": 0, "duration_seconds": 300,
            "completed_successfully": True, "total_rows": i,
        }
        for i in range(1, 106)
    ]  # fmt: skip
    async with db.write() as conn:
        await conn.execute(insert(pipeline_execution), rows)
    detail = await pipeline_detail(db, pid, 0, 50, NOW)
    assert len(detail.chart_runs) == reporting.CHART_RUNS == 100
    assert [r.total_rows for r in detail.chart_runs] == list(range(100, 0, -1))


async def test_lineage_sides_list_the_first_addresses_by_name_and_count_them_all(client, db, monkeypatch):
    pid = await create_pipeline(client, "copier")
    sources = [addr(name) for name in ("s3://b/c", "s3://b/a", "s3://b/b")]
    await post_lineage(client, pid, sources, [addr("pg.public.t", "postgres", "database")])
    monkeypatch.setattr(reporting, "ADDRESSES_SHOWN", 2)
    detail = await pipeline_detail(db, pid, 0, 50, NOW)
    assert [a.name for a in detail.sources.addresses] == ["s3://b/a", "s3://b/b"] and detail.sources.total == 3
    assert [(a.name, a.type_name) for a in detail.targets.addresses] == [("pg.public.t", "postgres")]
    assert detail.targets.total == 1
    empty = await pipeline_detail(db, await create_pipeline(client, "no lineage"), 0, 50, NOW)
    assert (empty.sources.addresses, empty.sources.total, empty.targets.total) == ([], 0, 0)


async def test_incidents_rules_and_recent_anomalies_belong_to_the_pipeline(client, db, clock):
    stale = await stale_pipeline(client, "stale")
    other = await stale_pipeline(client, "other")
    late = await create_pipeline(client, "slow", "t", timeliness_number=1, timeliness_datepart="hour")
    running = await start(client, late, start_date="2026-03-01T09:00:00Z")
    clock.freeze(NOW)
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200
    response = await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 600})
    assert response.status_code == 200
    execution = await run(client, stale, "2026-03-01T10:00:00Z", "2026-03-01T10:05:00Z", total_rows=99)
    # rules after the run: no background detection of it races the result written here
    rule = await client.post("/anomaly_detection_rule", json={"pipeline_id": stale, "metric_field": "total_rows", "z_threshold": 2.5})
    assert rule.status_code in (200, 201), rule.text
    await client.post("/anomaly_detection_rule", json={"pipeline_id": stale, "metric_field": "inserts", "active": False})
    async with db.write() as conn:
        await conn.execute(
            insert(anomaly_detection_result).values(
                pipeline_execution_id=execution, rule_id=rule.json()["id"], pipeline_id=stale, metric_field="total_rows",
                direction="both", seasonality="none", violation_value=99, detected_at=NOW,
            )
        )  # fmt: skip
        await conn.execute(  # the open incident detection keeps beside the result (anomalies/incidents.py)
            insert(anomaly_incident).values(
                pipeline_id=stale, metric_field="total_rows", rule_id=rule.json()["id"], opened_execution_id=execution,
                last_execution_id=execution, flagged_count=1, opened_at=NOW,
            )
        )  # fmt: skip

    detail = await pipeline_detail(db, stale, 0, 50, NOW)
    assert [(i.pipeline_id, i.resolved_at) for i in detail.freshness_incidents] == [(stale, None)]
    assert detail.timeliness_incidents == []
    assert [r.metric_field for r in detail.rules] == ["inserts", "total_rows"]
    assert detail.z_threshold("total_rows") == 2.5
    assert detail.z_threshold("inserts") is None  # its rule is inactive
    assert detail.z_threshold("duration_seconds") is None
    assert [(r.pipeline_execution_id, r.metric_field) for r in detail.results] == [(execution, "total_rows")]
    assert detail.states == ["stale", "anomalous"]

    slow = await pipeline_detail(db, late, 0, 50, NOW)
    assert [(i.pipeline_execution_id, i.resolved_at) for i in slow.timeliness_incidents] == [(running, None)]
    assert slow.freshness_incidents == [] and slow.rules == [] and slow.results == []
    assert [i.pipeline_id for i in (await pipeline_detail(db, other, 0, 50, NOW)).freshness_incidents] == [other]


async def test_open_incidents_come_before_more_recent_resolved_ones(client, db, clock, monkeypatch):
    pid = await stale_pipeline(client, "flapping")
    for day in range(2, 6):
        clock.freeze(dt.datetime(2026, 3, day, 12, tzinfo=dt.UTC))
        assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200  # opens
        execution = await run(client, pid, f"2026-03-0{day}T12:10:00Z", f"2026-03-0{day}T12:20:00Z", inserts=1)
        assert execution
        clock.freeze(dt.datetime(2026, 3, day, 12, 30, tzinfo=dt.UTC))
        assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200  # recovers
    clock.freeze(dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
    assert (await client.post("/freshness", params={"wait": "true"})).status_code == 200  # open again
    monkeypatch.setattr(reporting, "INCIDENTS_SHOWN", 3)
    shown = (await pipeline_detail(db, pid, 0, 50, NOW)).freshness_incidents
    assert len(shown) == 3
    assert shown[0].resolved_at is None and all(i.resolved_at is not None for i in shown[1:])
    assert shown[1].id > shown[2].id
