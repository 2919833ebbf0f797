"""Timeliness check and failed-execution alerts (§11, §12)."""

import datetime as dt

from watcher_server.core.clock import CLOCK

from ..helpers import create_pipeline, end, listed, start

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def at(app, moment):
    CLOCK.freeze(moment)


async def run(client, lookback=60):
    response = await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": lookback})
    assert response.status_code == 200, response.text
    return response.json()


async def test_running_execution_past_its_deadline_opens_then_recovers(app, client):
    pid = await create_pipeline(client, "orders load", timeliness_number=2, timeliness_datepart="hour")
    execution = await start(client, pid, start_date="2025-03-01T08:00:00Z")
    at(app, T0 + dt.timedelta(hours=1))
    assert (await run(client))["overdue"] == []
    at(app, T0 + dt.timedelta(hours=3))
    result = await run(client)
    assert result["status"] == "warning" and result["alerts_created"] == 1
    assert result["overdue"] == [
        {
            "pipeline_execution_id": execution, "pipeline_id": pid, "pipeline_name": "orders load",
            "execution_status": "running", "duration_seconds": 10800, "seconds_threshold": 7200,
            "timely_number": 2, "timely_datepart": "hour", "used_child_config": True, "new": True,
        }
    ]  # fmt: skip
    assert (await run(client))["overdue"][0]["new"] is False
    log = (await client.get("/timeliness", params={"status": "open"})).json()
    assert [(e["pipeline_execution_id"], e["execution_status"]) for e in log] == [(execution, "running")]

    await end(client, execution, end_date="2025-03-01T11:01:00Z")
    at(app, T0 + dt.timedelta(hours=3, minutes=5))
    done = await run(client)
    assert done["recovered"] == [
        {"pipeline_execution_id": execution, "pipeline_id": pid, "final_status": "completed", "duration_seconds": 10860}
    ]
    entry = (await client.get("/timeliness")).json()[0]
    assert (entry["status"], entry["final_status"]) == ("resolved", "completed")
    alerts = (await client.get("/alerts", params={"kind": "timeliness"})).json()
    assert [a["event"] for a in alerts] == ["opened", "recovered"]
    assert alerts[0]["details"]["Failed Executions"] == (
        f"\n\t• Pipeline 'orders load' (Execution ID: {execution}): 3 hours (running), Expected within 2 hours (child config)"
    )
    assert alerts[1]["details"]["Recovered Executions"] == (
        f"\n\t• Pipeline 'orders load' (Execution ID: {execution}): finished (completed) after 3.02 hours"
    )
    assert alerts[0]["pipeline_execution_ids"] == [execution]
    assert [a["details"]["Links"] for a in alerts] == [f"\n\t• http://localhost:8000/ui/pipelines/{pid}"] * 2


async def test_execution_running_longer_than_the_lookback_is_still_caught(app, client):
    pid = await create_pipeline(client, "slow", timeliness_number=1, timeliness_datepart="day")
    await start(client, pid, start_date="2025-02-01T00:00:00Z")
    at(app, T0)
    assert len((await run(client, lookback=5))["overdue"]) == 1


async def test_late_completion_is_logged_resolved_at_once(app, client):
    pid = await create_pipeline(client, "late", timeliness_number=30, timeliness_datepart="minute")
    execution = await start(client, pid, start_date="2025-03-01T07:30:00Z")
    await end(client, execution, end_date="2025-03-01T07:58:00Z")
    other = await start(client, pid, start_date="2025-03-01T07:00:00Z")
    await end(client, other, end_date="2025-03-01T07:45:00Z")
    at(app, T0)
    result = await run(client)
    assert [(o["pipeline_execution_id"], o["execution_status"]) for o in result["overdue"]] == [(other, "completed")]
    entry = (await client.get("/timeliness")).json()[0]
    assert (entry["status"], entry["final_status"], entry["duration_seconds"]) == ("resolved", "completed", 2700)


async def test_failed_executions_alert_once_without_configuration(app, client):
    pid = await create_pipeline(client, "crm sync")
    execution = await start(client, pid, start_date="2025-03-01T07:30:00Z")
    await end(client, execution, end_date="2025-03-01T07:40:00Z", ok=False)
    at(app, T0)
    first = await run(client)
    assert first["failed"] == [
        {
            "pipeline_execution_id": execution,
            "pipeline_id": pid,
            "pipeline_name": "crm sync",
            "end_date": "2025-03-01T07:40:00Z",
            "new": True,
        }
    ]
    second = await run(client)
    assert second["failed"][0]["new"] is False and second["alerts_created"] == 0
    alerts = (await client.get("/alerts", params={"kind": "execution_failure"})).json()
    assert [(a["event"], a["level"], a["title"]) for a in alerts] == [("failed", "error", "Pipeline Execution Failure")]
    assert (
        alerts[0]["details"]["Failed Executions"]
        == f"\n\t• Pipeline 'crm sync' (Execution ID: {execution}): failed at 2025-03-01T07:40:00Z"
    )


async def test_failure_alerts_can_be_switched_off(app, client, services):
    services.settings = services.settings.model_copy(update={"alert_on_failed_executions": False})
    pid = await create_pipeline(client, "crm sync")
    await end(client, await start(client, pid, start_date="2025-03-01T07:30:00Z"), end_date="2025-03-01T07:40:00Z", ok=False)
    at(app, T0)
    assert (await run(client))["failed"] == []


async def test_overdue_execution_that_then_fails_gets_only_the_recovered_alert(app, client):
    pid = await create_pipeline(client, "p", timeliness_number=10, timeliness_datepart="minute")
    execution = await start(client, pid, start_date="2025-03-01T07:30:00Z")
    at(app, T0)
    await run(client)
    await end(client, execution, end_date="2025-03-01T08:01:00Z", ok=False)
    at(app, T0 + dt.timedelta(minutes=2))
    result = await run(client)
    assert result["recovered"][0]["final_status"] == "failed" and result["failed"] == []
    assert [a["event"] for a in (await client.get("/alerts")).json()] == ["opened", "recovered"]


async def test_muted_type_excludes_its_pipelines(app, client):
    await client.post(
        "/pipeline_type", json={"name": "quiet", "timeliness_number": 1, "timeliness_datepart": "minute", "mute_timeliness_check": True}
    )
    pid = await create_pipeline(client, "p", type_name="quiet")
    await start(client, pid, start_date="2025-03-01T07:00:00Z")
    at(app, T0)
    result = await run(client)
    assert (result["executions_evaluated"], result["overdue"]) == (0, [])


async def test_timeliness_body_is_optional_and_validated(app, client):
    assert (await client.post("/timeliness")).json() == {"status": "queued"}
    assert (await client.post("/timeliness", json={})).json() == {"status": "queued"}
    for bad in ({"lookback_minutes": 4}, {"lookback_minutes": None}, {"lookback_minutes": 525_601}):
        assert (await client.post("/timeliness", json=bad)).status_code == 422, bad
    assert (await client.post("/timeliness", params={"wait": "true"})).json()["lookback_minutes"] == 60


async def test_a_queued_run_runs_with_the_lookback_of_its_body(app, client):
    pid = await create_pipeline(client, "late", timeliness_number=30, timeliness_datepart="minute")
    execution = await start(client, pid, start_date="2025-03-01T05:00:00Z")
    await end(client, execution, end_date="2025-03-01T06:00:00Z")  # two hours ago: outside the default 60-minute lookback
    at(app, T0)
    assert (await client.post("/timeliness", json={"lookback_minutes": 180})).json() == {"status": "queued"}
    [entry] = await listed(client, "/timeliness")
    assert (entry["pipeline_execution_id"], entry["execution_status"], entry["created_at"]) == (
        execution, "completed", "2025-03-01T08:00:00Z",
    )  # fmt: skip


async def test_runs_a_fraction_of_a_second_over_the_threshold_are_late_and_all_runs_are_counted(app, client):
    pid = await create_pipeline(client, "quick", timeliness_number=1, timeliness_datepart="minute")
    late = await start(client, pid, start_date="2025-03-01T08:00:00Z")
    await end(client, late, end_date="2025-03-01T08:01:00.400Z")  # 60.4 s, stored as 60 whole seconds
    on_time = await start(client, pid, start_date="2025-03-01T08:10:00Z")
    await end(client, on_time, end_date="2025-03-01T08:10:59.600Z")  # 59.6 s, also stored as 60
    short = await start(client, pid, start_date="2025-03-01T08:20:00Z")
    await end(client, short, end_date="2025-03-01T08:20:10Z")
    monthly = await create_pipeline(client, "monthly", timeliness_number=1, timeliness_datepart="month")
    february = await start(client, monthly, start_date="2025-02-01T08:00:00Z")
    await end(client, february, end_date="2025-03-01T08:00:01Z")  # 28 days and a second: one month was 28 days
    at(app, T0 + dt.timedelta(minutes=30))
    result = await run(client)
    assert result["executions_evaluated"] == 4
    assert [(o["pipeline_execution_id"], o["execution_status"]) for o in result["overdue"]] == [
        (late, "completed"),
        (february, "completed"),
    ]


def test_the_shortest_span_of_each_date_part_is_a_true_lower_bound():
    from watcher_server.core.dateparts import SHORTEST_SECONDS, add_dateparts

    day = dt.datetime(2023, 1, 1, tzinfo=UTC)
    for offset in range(0, 4 * 366):
        moment = day + dt.timedelta(days=offset, hours=offset % 24)
        for part, seconds in SHORTEST_SECONDS.items():
            assert (add_dateparts(moment, 1, part) - moment).total_seconds() >= seconds, (moment, part)


async def test_thresholds_beyond_32_bit_seconds_are_judged_not_overflowed(app, client):
    century = await create_pipeline(client, "archive", timeliness_number=100, timeliness_datepart="year")
    execution = await start(client, century, start_date="2025-03-01T07:00:00Z")
    await end(client, execution, end_date="2025-03-01T07:50:00Z")
    at(app, T0)
    result = await run(client)
    assert (result["status"], result["executions_evaluated"], result["overdue"]) == ("success", 1, [])
