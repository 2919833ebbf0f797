"""Anomaly incidents (docs/api.md, "Anomaly incidents"): one alert when a pipeline's metric turns
anomalous, one when it is normal again, whatever the number of flagged runs in between.

Each test writes the normal history before the rule exists (nothing is detected on its own end), then
adds runs one at a time and waits for each one's detection (`observe`), so runs are detected in order.
A background detection of the same run may follow; it finds the run's results already written, so it
changes no incident.
"""

import asyncio
import datetime as dt

from ..helpers import create_pipeline
from .support import NOW, UTC, add_rule, detect, history, run

NORMAL = [20, 22, 24, 26, 28]  # mean 24, sd √10: with z = 2 the band is 17.68-30.32


async def observe(client, pipeline_id: int, day: int, **metrics) -> int:
    """A run on March `day` at 10:00 with these metric values, detected before this returns."""
    execution = await run(client, pipeline_id, dt.datetime(2025, 3, day, 10, 0, tzinfo=UTC), **metrics)
    await detect(client, execution)
    return execution


async def watched(client, clock, name: str = "p", metrics=("total_rows",)) -> int:
    """A pipeline with five normal runs (March 1-5) of each metric and a rule on each."""
    clock.freeze(NOW)
    pid = await create_pipeline(client, name)
    await history(client, pid, [dict.fromkeys(metrics, value) for value in NORMAL])
    for metric in metrics:
        await add_rule(client, pid, metric_field=metric)
    return pid


async def incidents(client, **params) -> list[dict]:
    response = await client.get("/anomaly_incidents", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def alerts(client) -> list[tuple[str, list[str]]]:
    """The anomaly alerts as (event, metrics), oldest first."""
    found = (await client.get("/alerts", params={"kind": "anomaly"})).json()
    return [(a["event"], a["details"]["Metrics"]) for a in found]


async def test_a_run_of_anomalies_opens_one_incident_and_sends_one_alert(client, clock):
    pid = await watched(client, clock)
    flagged = [await observe(client, pid, day, total_rows=value) for day, value in ((6, 500), (7, 510), (8, 520))]
    [incident] = await incidents(client)
    assert (incident["status"], incident["opened_execution_id"], incident["last_execution_id"]) == ("open", flagged[0], flagged[2])
    assert (incident["flagged_count"], incident["metric_field"], incident["resolution"]) == (3, "total_rows", None)
    assert await alerts(client) == [("opened", ["total_rows"])]
    # Detection results and flags are those of contract §13.2: one per flagged run, as before incidents.
    results = (await client.get("/anomaly_detection_result")).json()
    assert [r["pipeline_execution_id"] for r in results] == flagged
    for execution in flagged:
        assert (await client.get(f"/pipeline_execution/{execution}")).json()["anomaly_flags"] == {"total_rows": True}


async def test_a_later_normal_run_recovers_the_incident_once(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    await observe(client, pid, 7, total_rows=510)
    normal = await observe(client, pid, 8, total_rows=25)
    await observe(client, pid, 9, total_rows=24)
    [incident] = await incidents(client)
    assert (incident["status"], incident["resolution"], incident["resolved_execution_id"]) == ("resolved", "recovered", normal)
    assert incident["resolved_at"] == "2025-03-25T12:00:00Z"
    assert await alerts(client) == [("opened", ["total_rows"]), ("recovered", ["total_rows"])]


async def test_a_normal_run_without_an_incident_alerts_nothing(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=25)
    assert await incidents(client) == [] and await alerts(client) == []


async def test_an_anomaly_after_a_recovery_opens_a_new_incident(client, clock):
    pid = await watched(client, clock)
    first = await observe(client, pid, 6, total_rows=500)
    await observe(client, pid, 7, total_rows=25)
    again = await observe(client, pid, 8, total_rows=490)
    old, new = await incidents(client)
    assert (old["status"], old["opened_execution_id"]) == ("resolved", first)
    assert (new["status"], new["opened_execution_id"], new["flagged_count"]) == ("open", again, 1)
    assert [event for event, _ in await alerts(client)] == ["opened", "recovered", "opened"]


async def test_a_rerun_of_a_flagged_run_changes_no_incident(client, clock):
    pid = await watched(client, clock)
    flagged = await observe(client, pid, 6, total_rows=500)
    await detect(client, flagged)
    [incident] = await incidents(client)
    assert incident["flagged_count"] == 1 and len(await alerts(client)) == 1


async def test_each_metric_of_a_pipeline_has_its_own_incident(client, clock):
    pid = await watched(client, clock, metrics=("total_rows", "inserts"))
    await observe(client, pid, 6, total_rows=500, inserts=25)
    await observe(client, pid, 7, total_rows=25, inserts=500)
    by_metric = {i["metric_field"]: i["status"] for i in await incidents(client)}
    assert by_metric == {"total_rows": "resolved", "inserts": "open"}
    # One detection opened one metric's incident and recovered the other's: one alert each.
    assert await alerts(client) == [("opened", ["total_rows"]), ("opened", ["inserts"]), ("recovered", ["total_rows"])]


async def test_metrics_turning_anomalous_in_one_run_share_one_alert(client, clock):
    pid = await watched(client, clock, metrics=("total_rows", "inserts"))
    await observe(client, pid, 6, total_rows=500, inserts=500)
    assert len(await incidents(client, status="open")) == 2
    assert await alerts(client) == [("opened", ["total_rows", "inserts"])]


async def test_each_pipeline_has_its_own_incident(client, clock):
    p = await watched(client, clock, "p")
    q = await watched(client, clock, "q")
    await observe(client, p, 6, total_rows=500)
    await observe(client, q, 6, total_rows=500)
    await observe(client, p, 7, total_rows=25)
    assert [(i["pipeline_id"], i["status"]) for i in await incidents(client)] == [(p, "resolved"), (q, "open")]
    assert [event for event, _ in await alerts(client)] == ["opened", "opened", "recovered"]


async def test_concurrent_detections_of_one_pipeline_open_one_incident(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await history(client, pid, [20 + 2 * day for day in range(10)])
    # Both spikes exist before the rule: each one's baseline may hold the other, and still flags it.
    a = await run(client, pid, dt.datetime(2025, 3, 11, 10, 0, tzinfo=UTC), total_rows=100_000)
    b = await run(client, pid, dt.datetime(2025, 3, 12, 10, 0, tzinfo=UTC), total_rows=100_000)
    await add_rule(client, pid)
    outcomes = await asyncio.gather(detect(client, a), detect(client, b))
    assert [o["status"] for o in outcomes] == ["warning", "warning"]
    [incident] = await incidents(client)
    assert incident["opened_execution_id"] in (a, b)
    assert (incident["last_execution_id"], incident["flagged_count"]) == (b, 2)
    assert await alerts(client) == [("opened", ["total_rows"])]


async def test_a_late_detection_of_an_old_run_opens_no_incident(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await history(client, pid, [20 + 2 * day for day in range(10)])
    old = await run(client, pid, dt.datetime(2025, 3, 11, 10, 0, tzinfo=UTC), total_rows=100_000)  # not detected yet
    await add_rule(client, pid)
    await observe(client, pid, 12, total_rows=100_000)
    await observe(client, pid, 13, total_rows=25)
    # A backfill of the older run still stores its result, but the metric has been normal since.
    assert (await detect(client, old))["status"] == "warning"
    assert [i["status"] for i in await incidents(client)] == ["resolved"]
    assert [event for event, _ in await alerts(client)] == ["opened", "recovered"]


async def test_an_older_normal_run_does_not_recover_a_newer_incident(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await history(client, pid, NORMAL)
    older = await run(client, pid, dt.datetime(2025, 3, 6, 10, 0, tzinfo=UTC), total_rows=25)  # not detected yet
    await add_rule(client, pid)
    await observe(client, pid, 7, total_rows=500)
    assert (await detect(client, older))["status"] == "success"
    assert [i["status"] for i in await incidents(client)] == ["open"]


async def _unflag(client, pipeline_id: int, execution_id: int):
    body = {"pipeline_id": pipeline_id, "pipeline_execution_id": execution_id, "metric_field": ["total_rows"]}
    response = await client.post("/unflag_anomaly", json=body)
    assert response.status_code == 204, response.text


async def test_unflagging_the_last_flagged_run_resolves_the_incident_without_an_alert(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    last = await observe(client, pid, 7, total_rows=510)
    await _unflag(client, pid, last)
    [incident] = await incidents(client)
    assert (incident["status"], incident["resolution"], incident["flagged_count"]) == ("resolved", "unflagged", 1)
    assert await alerts(client) == [("opened", ["total_rows"])]
    # The next anomaly is news again (5000: the unflagged 510 is back in the baseline, widening the band).
    await observe(client, pid, 8, total_rows=5000)
    assert [i["status"] for i in await incidents(client)] == ["resolved", "open"]
    assert [event for event, _ in await alerts(client)] == ["opened", "opened"]


async def test_unflagging_an_earlier_run_keeps_the_incident_open_and_uncounts_it(client, clock):
    pid = await watched(client, clock)
    first = await observe(client, pid, 6, total_rows=500)
    await observe(client, pid, 7, total_rows=510)
    await _unflag(client, pid, first)
    [incident] = await incidents(client)
    assert (incident["status"], incident["flagged_count"]) == ("open", 1)
    await observe(client, pid, 8, total_rows=25)
    [recovered] = (await client.get("/alerts", params={"kind": "anomaly", "event": "recovered"})).json()
    assert "for 1 flagged run over" in recovered["details"]["Recovered"]


async def test_deactivating_the_rule_resolves_the_incident_without_an_alert(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    [rule] = (await client.get("/anomaly_detection_rule", params={"pipeline_id": pid})).json()
    assert (await client.patch("/anomaly_detection_rule", json={"id": rule["id"], "active": False})).status_code == 200
    [incident] = await incidents(client)
    assert (incident["status"], incident["resolution"]) == ("resolved", "unmonitored")
    assert await alerts(client) == [("opened", ["total_rows"])]
    # Watching again starts afresh: the next anomaly opens a new incident.
    await client.patch("/anomaly_detection_rule", json={"id": rule["id"], "active": True})
    await observe(client, pid, 7, total_rows=510)
    assert [i["status"] for i in await incidents(client)] == ["resolved", "open"]


async def test_a_rule_moved_to_another_metric_resolves_the_incident_of_the_old_one(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    [rule] = (await client.get("/anomaly_detection_rule", params={"pipeline_id": pid})).json()
    await client.patch("/anomaly_detection_rule", json={"id": rule["id"], "metric_field": "inserts"})
    [incident] = await incidents(client)
    assert (incident["metric_field"], incident["resolution"]) == ("total_rows", "unmonitored")


async def test_other_rule_changes_keep_the_incident_open(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    [rule] = (await client.get("/anomaly_detection_rule", params={"pipeline_id": pid})).json()
    await client.patch("/anomaly_detection_rule", json={"id": rule["id"], "z_threshold": 3, "active": True})
    assert [i["status"] for i in await incidents(client)] == ["open"]


async def test_the_opened_alert_gives_the_value_z_score_and_range_and_links_the_pipeline(client, clock):
    pid = await watched(client, clock, "orders")
    flagged = await observe(client, pid, 6, total_rows=500)
    [alert] = (await client.get("/alerts", params={"kind": "anomaly"})).json()
    assert (alert["event"], alert["level"], alert["title"]) == ("opened", "warning", "Anomaly Detection")
    assert alert["message"] == f"Anomalies Detected for Pipeline 'orders' (ID: {pid}) - Execution ID {flagged} flagged"
    assert alert["details"] == {
        "Total Anomalies": 1,
        "Metrics": ["total_rows"],
        "Anomalies": "\n\t• total_rows: 500 (Range: 18 - 30, z-score: 150.52)",
        "Links": f"\n\t• http://localhost:8000/ui/pipelines/{pid}",
    }
    assert (alert["pipeline_ids"], alert["pipeline_execution_ids"]) == ([pid], [flagged])


async def test_a_zero_spread_baseline_has_no_z_score_in_the_alert(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "flat")
    await history(client, pid, [7, 7, 7, 7, 7])
    await add_rule(client, pid)
    await observe(client, pid, 6, total_rows=8)
    [alert] = (await client.get("/alerts", params={"kind": "anomaly"})).json()
    assert alert["details"]["Anomalies"] == "\n\t• total_rows: 8 (Range: 7 - 7, z-score: n/a (no spread in the baseline))"


async def test_the_recovered_alert_says_after_how_many_flagged_runs_and_how_long(client, clock):
    pid = await watched(client, clock, "orders")
    opened = await observe(client, pid, 6, total_rows=500)
    clock.freeze(NOW + dt.timedelta(hours=1))
    await observe(client, pid, 7, total_rows=510)
    clock.freeze(NOW + dt.timedelta(hours=2, minutes=30))
    normal = await observe(client, pid, 8, total_rows=25)
    [alert] = (await client.get("/alerts", params={"kind": "anomaly", "event": "recovered"})).json()
    assert (alert["level"], alert["title"]) == ("success", "Anomaly Detection")
    assert alert["message"] == f"Anomalies Recovered for Pipeline 'orders' (ID: {pid}) - Execution ID {normal} within range"
    assert alert["details"] == {
        "Total Recovered": 1,
        "Metrics": ["total_rows"],
        "Recovered": f"\n\t• total_rows: 25 (Range: 18 - 30), anomalous since Execution ID {opened} for 2 flagged runs over 2.50 hours",
        "Links": f"\n\t• http://localhost:8000/ui/pipelines/{pid}",
    }
    assert (alert["pipeline_ids"], alert["pipeline_execution_ids"]) == ([pid], [opened, normal])


async def test_the_recovered_alert_counts_in_minutes_and_days_too(client, clock):
    pid = await watched(client, clock)
    await observe(client, pid, 6, total_rows=500)
    clock.freeze(NOW + dt.timedelta(minutes=5))
    await observe(client, pid, 7, total_rows=25)
    await observe(client, pid, 8, total_rows=500)
    clock.freeze(NOW + dt.timedelta(days=3, minutes=5))
    await observe(client, pid, 9, total_rows=25)
    found = (await client.get("/alerts", params={"kind": "anomaly", "event": "recovered"})).json()
    assert [a["details"]["Recovered"].rpartition(" over ")[2] for a in found] == ["5 minutes", "3 days"]


async def _four_incidents(client, clock) -> tuple[int, int]:
    """p: a resolved then an open total_rows incident (March 6, 8) and an open inserts incident; q: an
    open total_rows incident opened a day later. Returns (p, q)."""
    p = await watched(client, clock, "p", metrics=("total_rows", "inserts"))
    q = await watched(client, clock, "q")
    await observe(client, p, 6, total_rows=500, inserts=25)
    await observe(client, p, 7, total_rows=25, inserts=25)
    await observe(client, p, 8, total_rows=500, inserts=500)
    clock.freeze(NOW + dt.timedelta(days=1))
    await observe(client, q, 6, total_rows=500)
    return p, q


async def test_the_incident_list_has_its_keys(client, clock):
    p, _ = await _four_incidents(client, clock)
    first = (await incidents(client))[0]
    assert list(first) == [
        "id", "pipeline_id", "pipeline_name", "metric_field", "rule_id", "status", "opened_execution_id",
        "last_execution_id", "resolved_execution_id", "flagged_count", "opened_at", "resolved_at", "resolution",
    ]  # fmt: skip
    assert (first["pipeline_id"], first["pipeline_name"], first["opened_at"]) == (p, "p", "2025-03-25T12:00:00Z")


async def test_the_incident_list_filters(client, clock):
    p, q = await _four_incidents(client, clock)

    async def ids(**params):
        return [(i["pipeline_id"], i["metric_field"], i["status"]) for i in await incidents(client, **params)]

    assert await ids(pipeline_id=q) == [(q, "total_rows", "open")]
    assert await ids(metric_field="INSERTS") == [(p, "inserts", "open")]
    assert await ids(status="resolved") == [(p, "total_rows", "resolved")]
    assert await ids(status="open", pipeline_id=p) == [(p, "total_rows", "open"), (p, "inserts", "open")]
    assert await ids(since="2025-03-26T00:00:00Z") == [(q, "total_rows", "open")]
    assert await ids(pipeline_id=2**40) == []


async def test_the_incident_list_pages(client, clock):
    await _four_incidents(client, clock)
    every = [i["id"] for i in await incidents(client)]
    assert len(every) == 4 and every == sorted(every)
    assert [i["id"] for i in await incidents(client, limit=2, offset=1)] == every[1:3]
    assert [i["id"] for i in await incidents(client, order="desc", limit=1)] == every[-1:]


async def test_the_incident_list_refuses_an_unknown_status_or_metric(client):
    assert (await client.get("/anomaly_incidents", params={"status": "closed"})).status_code == 422
    assert (await client.get("/anomaly_incidents", params={"metric_field": "rows"})).status_code == 422
