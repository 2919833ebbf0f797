"""The incidents list (reporting/incidents.py) and the alert history (reporting/alerts.py) on SQLite and
PostgreSQL: every kind of incident with its duration, the filters, the order and paging; alerts newest
first with their delivery state, filters, paging and the first few pipelines each is about."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert

from watcher_server.alerts.tables import alert, alert_subject
from watcher_server.anomalies.tables import anomaly_detection_rule, anomaly_incident
from watcher_server.reporting.alerts import MESSAGE_CHARACTERS, SUBJECTS_SHOWN, alert_history
from watcher_server.reporting.incidents import incidents

from ..helpers import create_pipeline, end, stale_pipeline, start

UTC = dt.UTC
T0 = dt.datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)


async def _check(client, clock, name, moment, **body):
    clock.freeze(moment)
    response = await client.post(f"/{name}", params={"wait": "true"}, json=body or None)
    assert response.status_code == 200, response.text


async def _anomaly(db, pipeline_id, execution_id, opened_at, resolved_at=None, metric="inserts", flagged=1):
    """An anomaly incident as anomalies/incidents.py writes one (its transitions are tested in tests/anomalies)."""
    async with db.write() as conn:
        rule = insert(anomaly_detection_rule).values(pipeline_id=pipeline_id, metric_field=metric)
        rule_id = (await conn.execute(rule.returning(anomaly_detection_rule.c.id))).scalar_one()
        await conn.execute(
            insert(anomaly_incident).values(
                pipeline_id=pipeline_id, metric_field=metric, rule_id=rule_id, opened_execution_id=execution_id,
                last_execution_id=execution_id, flagged_count=flagged, opened_at=opened_at, resolved_at=resolved_at,
                resolution="recovered" if resolved_at else None, resolved_execution_id=execution_id + 1 if resolved_at else None,
            )
        )  # fmt: skip


async def _every_kind(client, db, clock):
    """A resolved and an open freshness incident, a late run still running, a failed run, an open and a
    resolved anomaly incident. Returns the pipeline ids by role and the time the list is read at."""
    recovered = await stale_pipeline(client, "recovered")
    await _check(client, clock, "freshness", T0)  # opens 'recovered' at T0
    load = await start(client, recovered, start_date=(T0 + HOUR).isoformat())
    await end(client, load, end_date=(T0 + 2 * HOUR).isoformat(), inserts=1)
    stale = await stale_pipeline(client, "still stale")
    await _check(client, clock, "freshness", T0 + 3 * HOUR)  # resolves 'recovered' (3 h), opens 'still stale'

    slow = await create_pipeline(client, "slow", "t", timeliness_number=1, timeliness_datepart="hour")
    late_run = await start(client, slow, start_date=(T0 + 2 * HOUR).isoformat())
    failed_run = await start(client, slow, start_date=(T0 + 3 * HOUR).isoformat())
    await end(client, failed_run, end_date=(T0 + 3.5 * HOUR).isoformat(), ok=False)
    await _check(client, clock, "timeliness", T0 + 4 * HOUR, lookback_minutes=600)  # the late run and the failure

    spiky = await create_pipeline(client, "spiky", "t")
    recent = await start(client, spiky, start_date=(T0 + 4 * HOUR).isoformat())
    await end(client, recent, end_date=(T0 + 4.5 * HOUR).isoformat(), inserts=900)
    await _anomaly(db, spiky, recent, T0 + 5 * HOUR, flagged=2)
    old = await start(client, spiky, start_date=(T0 - 40 * HOUR).isoformat())
    await end(client, old, end_date=(T0 - 39 * HOUR).isoformat(), inserts=1)
    await _anomaly(db, spiky, old, T0 - 40 * HOUR, resolved_at=T0 - 39 * HOUR, metric="total_rows")
    now = T0 + 6 * HOUR
    return {"recovered": recovered, "stale": stale, "slow": slow, "spiky": spiky, "late_run": late_run, "failed_run": failed_run}, now


async def test_every_kind_of_incident_is_listed_open_first_then_newest_with_its_duration(client, db, clock):
    ids, now = await _every_kind(client, db, clock)
    found = await incidents(db, now)
    summary = [(i.kind, i.pipeline_name, i.is_open, i.opened, i.resolved, i.duration_seconds) for i in found]
    assert summary == [
        ("anomaly", "spiky", True, T0 + 5 * HOUR, None, 3600.0),
        ("timeliness", "slow", True, T0 + 4 * HOUR, None, 2 * 3600.0),
        ("freshness", "still stale", True, T0 + 3 * HOUR, None, 3 * 3600.0),
        ("timeliness", "slow", False, T0 + 4 * HOUR, T0 + 4 * HOUR, 0.0),  # a failure is logged resolved
        ("freshness", "recovered", False, T0, T0 + 3 * HOUR, 3 * 3600.0),
        ("anomaly", "spiky", False, T0 - 40 * HOUR, T0 - 39 * HOUR, 3600.0),
    ]
    late, failed = found[1], found[3]
    assert (late.execution_id, late.execution_status, late.threshold_seconds, late.timely_number) == (ids["late_run"], "running", 3600, 1)
    assert (failed.execution_id, failed.execution_status) == (ids["failed_run"], "failed")
    freshness = found[4]
    assert (freshness.resolution, freshness.freshness_number, freshness.freshness_datepart) == ("recovered", 1, "hour")
    assert freshness.deadline is not None and freshness.last_dml is not None
    assert (found[0].metric, found[0].flagged_count, found[0].opened_execution_id) == ("inserts", 2, found[0].execution_id)
    assert {i.pipeline_id for i in found} == {ids["recovered"], ids["stale"], ids["slow"], ids["spiky"]}


async def test_incidents_filter_by_kind_and_status(client, db, clock):
    _, now = await _every_kind(client, db, clock)

    async def listed(**filters):
        return [(i.kind, i.pipeline_name, i.is_open) for i in await incidents(db, now, **filters)]

    assert await listed(kind="freshness") == [("freshness", "still stale", True), ("freshness", "recovered", False)]
    assert await listed(kind="timeliness", status="open") == [("timeliness", "slow", True)]
    assert await listed(kind="anomaly", status="resolved") == [("anomaly", "spiky", False)]
    assert await listed(status="open") == [("anomaly", "spiky", True), ("timeliness", "slow", True), ("freshness", "still stale", True)]
    assert [kind for kind, *_ in await listed(status="resolved")] == ["timeliness", "freshness", "anomaly"]


async def test_incident_pages_follow_each_other_without_gaps_or_repeats(client, db, clock):
    _, now = await _every_kind(client, db, clock)
    everything = await incidents(db, now, limit=50)
    assert len(everything) == 6
    pages = [await incidents(db, now, offset=offset, limit=2) for offset in (0, 2, 4)]
    assert [len(p) for p in pages] == [3, 3, 2]  # limit + 1 while another page follows
    assert [i for p in pages for i in p[:2]] == everything
    assert await incidents(db, now, offset=6, limit=2) == []


async def test_an_open_incident_lasts_until_now_and_a_recovered_one_until_its_resolution(client, db, clock):
    await stale_pipeline(client, "stale")
    await _check(client, clock, "freshness", T0)
    [incident] = await incidents(db, T0 + dt.timedelta(minutes=90))
    assert incident.is_open and incident.duration_seconds == 5400


async def _alerts(db, rows):
    """Insert alerts (dicts of alert columns plus optional `pipelines`, a list of subject ids); returns their ids."""
    ids = []
    async with db.write() as conn:
        for row in rows:
            values = {"kind": "freshness", "event": "opened", "level": "warning", "title": "t", "message": "m", "created_at": T0, **row}
            pipelines = values.pop("pipelines", [])
            alert_id = (await conn.execute(insert(alert).values(**values).returning(alert.c.id))).scalar_one()
            if pipelines:
                await conn.execute(insert(alert_subject), [{"alert_id": alert_id, "pipeline_id": p} for p in pipelines])
            ids.append(alert_id)
    return ids


async def test_alerts_from_a_check_are_kept_undelivered_without_a_webhook_and_name_their_pipelines(client, db, clock):
    first = await stale_pipeline(client, "first")
    second = await stale_pipeline(client, "second")
    await _check(client, clock, "freshness", T0)
    [entry] = await alert_history(db)
    assert (entry.kind, entry.event, entry.delivery_status, entry.delivery_attempts) == ("freshness", "opened", "not_configured", 0)
    assert entry.created_at == T0
    assert entry.pipelines == [(first, "first"), (second, "second")] and entry.more_pipelines == 0


async def test_alerts_come_newest_first_in_pages(db):
    ids = await _alerts(db, [{"title": f"alert {n}", "created_at": T0 + n * HOUR} for n in range(55)])
    first = await alert_history(db, offset=0, limit=50)
    second = await alert_history(db, offset=50, limit=50)
    assert len(first) == 51 and len(second) == 5
    assert [a.id for a in first[:50] + second] == ids[::-1]
    assert first[0].title == "alert 54"


async def test_alerts_filter_by_delivery_state_and_kind(db):
    await _alerts(
        db,
        [
            {"delivery_status": "sent", "sent_at": T0, "delivery_attempts": 1},
            {"delivery_status": "failed", "delivery_attempts": 7, "delivery_error": "HTTP 500 from the webhook"},
            {"delivery_status": "retrying", "kind": "timeliness", "next_attempt_at": T0 + HOUR, "delivery_attempts": 2},
            {"kind": "queue", "delivery_status": "not_configured"},
        ],
    )
    assert [a.delivery_status for a in await alert_history(db, delivery_status="failed")] == ["failed"]
    [failed] = await alert_history(db, delivery_status="failed")
    assert (failed.delivery_attempts, failed.delivery_error) == (7, "HTTP 500 from the webhook")
    [retrying] = await alert_history(db, kind="timeliness")
    assert (retrying.delivery_status, retrying.next_attempt_at) == ("retrying", T0 + HOUR)
    assert await alert_history(db, kind="queue", delivery_status="sent") == []
    assert len(await alert_history(db)) == 4


async def test_an_alert_shows_its_first_recorded_pipelines_with_names_and_counts_the_rest(client, db):
    pids = [await create_pipeline(client, f"p{n}", "t") for n in range(SUBJECTS_SHOWN + 2)]
    gone = 2_000_000  # alert history outlives pipelines: no foreign key
    [many, few, none] = await _alerts(db, [{"pipelines": [*pids[::-1], gone]}, {"pipelines": pids[:1]}, {}])
    by_id = {a.id: a for a in await alert_history(db)}
    recorded = [(p, f"p{n}") for n, p in enumerate(pids)][::-1]
    assert by_id[many].pipelines == sorted(recorded[:SUBJECTS_SHOWN])  # the first recorded, shown by id
    assert by_id[many].more_pipelines == 3
    assert (by_id[few].pipelines, by_id[few].more_pipelines) == ([(pids[0], "p0")], 0)
    assert (by_id[none].pipelines, by_id[none].more_pipelines) == ([], 0)
    [only_gone] = await _alerts(db, [{"pipelines": [gone]}])
    assert [a for a in await alert_history(db) if a.id == only_gone][0].pipelines == [(gone, None)]


async def test_a_long_message_is_cut_in_the_database(db):
    await _alerts(db, [{"message": "x" * 10_000}])
    [entry] = await alert_history(db)
    assert entry.message == "x" * (MESSAGE_CHARACTERS + 1)  # one more than shown: the page marks the cut
