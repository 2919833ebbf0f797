"""Freshness check: formula, effective configuration, incidents and their alerts (§10, §12)."""

import datetime as dt

from watcher_server.core.clock import CLOCK

from ..helpers import create_pipeline, end, listed, start

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def at(app, moment):
    CLOCK.freeze(moment)


async def _pipeline_with_dml(client, name="orders", dml="2025-03-01T08:00:00Z", **config):
    pid = await create_pipeline(client, name, **config)
    started = dt.datetime.fromisoformat(dml.replace("Z", "+00:00")) - dt.timedelta(hours=1)
    execution = await start(client, pid, start_date=started.isoformat())
    await end(client, execution, end_date=dml, inserts=1)
    return pid


async def run(client):
    response = await client.post("/freshness", params={"wait": "true"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_stale_pipeline_opens_one_incident_and_one_alert_then_recovers(app, client):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(minutes=59))
    assert (await run(client))["status"] == "success"
    at(app, T0 + dt.timedelta(hours=2))
    first = await run(client)
    assert first["status"] == "warning" and first["pipelines_evaluated"] == 1 and first["alerts_created"] == 1
    failing = first["failing"][0]
    assert failing == {
        "pipeline_id": pid, "pipeline_name": "orders", "last_dml_timestamp": "2025-03-01T08:00:00Z",
        "deadline": "2025-03-01T09:00:00Z", "freshness_number": 1, "freshness_datepart": "hour",
        "used_child_config": True, "incident_id": failing["incident_id"], "new": True,
    }  # fmt: skip
    at(app, T0 + dt.timedelta(hours=3))
    second = await run(client)
    assert second["failing"][0]["new"] is False and second["alerts_created"] == 0
    incidents = (await client.get("/freshness", params={"status": "open"})).json()
    assert len(incidents) == 1 and incidents[0]["last_evaluated_at"] == "2025-03-01T11:00:00Z"

    execution = await start(client, pid, start_date="2025-03-01T10:30:00Z")
    await end(client, execution, end_date="2025-03-01T10:45:00Z", updates=3)
    recovered = await run(client)
    assert recovered["status"] == "success"
    assert recovered["recovered"] == [{"pipeline_id": pid, "pipeline_name": "orders", "incident_id": failing["incident_id"]}]
    resolved = (await client.get("/freshness")).json()[0]
    assert (resolved["status"], resolved["resolution"], resolved["resolved_at"]) == ("resolved", "recovered", "2025-03-01T11:00:00Z")

    alerts = (await client.get("/alerts", params={"kind": "freshness"})).json()
    assert [(a["event"], a["level"]) for a in alerts] == [("opened", "warning"), ("recovered", "success")]
    assert alerts[0]["message"] == "Pipeline Freshness Check - 1 NEW pipeline(s) overdue"
    assert alerts[0]["details"]["Failed Pipelines"] == "\n\t• orders (ID: 1): Last DML 2025-03-01T08:00:00Z, Expected within 1 hour"
    assert alerts[1]["message"] == "Pipeline Freshness Check - 1 pipeline(s) recovered"
    assert alerts[0]["pipeline_ids"] == [pid] and alerts[0]["delivery_status"] == "not_configured"


async def test_deadline_equal_to_now_is_not_stale(app, client):
    await _pipeline_with_dml(client, freshness_number=2, freshness_datepart="day")
    at(app, T0 + dt.timedelta(days=2))
    assert (await run(client))["failing"] == []
    at(app, T0 + dt.timedelta(days=2, microseconds=1))
    assert len((await run(client))["failing"]) == 1


async def test_type_configuration_is_used_whole_never_mixed(app, client):
    await client.post("/pipeline_type", json={"name": "daily", "freshness_number": 1, "freshness_datepart": "month"})
    pid = await _pipeline_with_dml(client, type_name="daily", dml="2025-01-31T08:00:00Z")
    await client.patch("/pipeline", json={"id": pid, "freshness_number": 1})  # half a pair: ignored
    at(app, dt.datetime(2025, 2, 28, 8, 0, 1, tzinfo=UTC))  # Jan 31 + 1 month = Feb 28
    failing = (await run(client))["failing"]
    assert [(f["deadline"], f["used_child_config"], f["freshness_datepart"]) for f in failing] == [("2025-02-28T08:00:00Z", False, "month")]


async def test_unconfigured_and_never_written_pipelines_are_not_evaluated(app, client):
    await create_pipeline(client, "no dml", freshness_number=1, freshness_datepart="minute")
    await _pipeline_with_dml(client, "no config")
    at(app, T0 + dt.timedelta(days=30))
    result = await run(client)
    assert (result["pipelines_evaluated"], result["failing"]) == (0, [])


async def test_muting_resolves_an_open_incident_without_alert(app, client):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(hours=5))
    await run(client)
    await client.patch("/pipeline", json={"id": pid, "mute_freshness_check": True})
    result = await run(client)
    assert result["failing"] == [] and result["recovered"] == [] and result["alerts_created"] == 0
    incident = (await client.get("/freshness")).json()[0]
    assert (incident["status"], incident["resolution"]) == ("resolved", "unmonitored")


async def test_one_alert_groups_every_new_incident_of_a_run(app, client):
    for name in ("a", "b", "c"):
        await _pipeline_with_dml(client, name, freshness_number=30, freshness_datepart="minute")
    at(app, T0 + dt.timedelta(hours=1))
    result = await run(client)
    assert [f["pipeline_name"] for f in result["failing"]] == ["a", "b", "c"] and result["alerts_created"] == 1
    alert = (await client.get("/alerts")).json()[0]
    assert alert["message"] == "Pipeline Freshness Check - 3 NEW pipeline(s) overdue"
    assert sorted(alert["pipeline_ids"]) == [1, 2, 3]
    assert [line.split(" ")[0] for line in alert["details"]["Failed Pipelines"].split("\n\t• ")[1:]] == ["a", "b", "c"]


async def test_inactive_pipelines_count_unless_skipping_is_configured(app, client, services):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    await client.patch("/pipeline", json={"id": pid, "active": False})
    at(app, T0 + dt.timedelta(hours=2))
    assert len((await run(client))["failing"]) == 1
    services.settings = services.settings.model_copy(update={"skip_inactive_pipelines": True})
    result = await run(client)
    assert result["failing"] == [] and (await client.get("/freshness")).json()[0]["resolution"] == "unmonitored"


async def test_queued_run_answers_at_once_then_runs(app, client):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(hours=2))
    response = await client.post("/freshness")
    assert response.json() == {"status": "queued"}
    [incident] = await listed(client, "/freshness")  # the queued run's work: no answer carries it
    assert (incident["pipeline_id"], incident["status"], incident["deadline"], incident["evaluation_timestamp"]) == (
        pid, "open", "2025-03-01T09:00:00Z", "2025-03-01T10:00:00Z",
    )  # fmt: skip
    alerts = (await client.get("/alerts", params={"kind": "freshness"})).json()  # written in the same transaction
    assert [(a["event"], a["pipeline_ids"]) for a in alerts] == [("opened", [pid])]


async def test_incident_filters(app, client):
    await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(hours=2))
    await run(client)
    assert (await client.get("/freshness", params={"status": "resolved"})).json() == []
    assert len((await client.get("/freshness", params={"pipeline_id": 1, "since": "2025-03-01"})).json()) == 1
    assert (await client.get("/freshness", params={"pipeline_id": 2**40})).json() == []
    assert (await client.get("/freshness", params={"status": "maybe"})).status_code == 422


async def test_changing_the_threshold_of_an_open_incident_moves_its_deadline(app, client):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(days=3))
    assert (await run(client))["failing"][0]["deadline"] == "2025-03-01T09:00:00Z"
    await client.patch("/pipeline", json={"id": pid, "freshness_number": 1, "freshness_datepart": "day"})
    again = (await run(client))["failing"][0]
    assert (again["deadline"], again["freshness_datepart"], again["new"]) == ("2025-03-02T08:00:00Z", "day", False)
    assert (await client.get("/freshness")).json()[0]["deadline"] == "2025-03-02T08:00:00Z"
    await client.patch("/pipeline", json={"id": pid, "freshness_number": 1, "freshness_datepart": "hour"})
    undone = (await run(client))["failing"][0]  # back to the threshold the incident was opened with
    assert (undone["deadline"], undone["freshness_datepart"]) == ("2025-03-01T09:00:00Z", "hour")
    assert (await client.get("/freshness")).json()[0]["deadline"] == "2025-03-01T09:00:00Z"
    await client.patch("/pipeline", json={"id": pid, "freshness_number": 1, "freshness_datepart": "quarter"})
    recovered = await run(client)  # 2025-06-01 is after "now": the same incident recovers
    assert recovered["failing"] == [] and [r["pipeline_id"] for r in recovered["recovered"]] == [pid]


async def test_resolved_incidents_keep_the_time_of_the_run_that_resolved_them(app, client):
    pid = await _pipeline_with_dml(client, freshness_number=1, freshness_datepart="hour")
    at(app, T0 + dt.timedelta(hours=5))
    await run(client)
    await client.patch("/pipeline", json={"id": pid, "mute_freshness_check": True})
    at(app, T0 + dt.timedelta(hours=6))
    await run(client)
    at(app, T0 + dt.timedelta(hours=7))
    await run(client)
    incident = (await client.get("/freshness")).json()[0]
    assert (incident["status"], incident["last_evaluated_at"], incident["resolved_at"]) == (
        "resolved", "2025-03-01T14:00:00Z", "2025-03-01T14:00:00Z",
    )  # fmt: skip
