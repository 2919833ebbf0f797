"""Anomaly detection: rules, the z-score rule, flags, results, unflag, alerts (§13)."""

import asyncio
import datetime as dt

from watcher_server.core.clock import CLOCK

from ..helpers import create_pipeline, end, start

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


async def _history(client, pid, values, hour=10, metric="total_rows"):
    """One successful execution per day at `hour`, ending 10 minutes later with the given values."""
    ids = []
    for day, value in enumerate(values, start=1):
        begin = dt.datetime(2025, 3, day, hour, 0, tzinfo=UTC)
        execution = await start(client, pid, start_date=begin.isoformat())
        await end(client, execution, end_date=(begin + dt.timedelta(minutes=10)).isoformat(), **{metric: value})
        ids.append(execution)
    return ids


async def _rule(client, pid, **fields):
    body = {"pipeline_id": pid, "metric_field": "total_rows", "z_threshold": 2, "minimum_executions": 5, **fields}
    response = await client.post("/anomaly_detection_rule", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


async def _detect(client, execution_id):
    response = await client.post("/detect_anomalies", params={"wait": "true"}, json={"pipeline_execution_id": execution_id})
    assert response.status_code == 200, response.text
    return response.json()


async def test_contract_example_flags_a_spike_with_its_numbers(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "orders")
    rule_id = await _rule(client, pid)
    *_, last = await _history(client, pid, [20, 22, 24, 26, 28, 500])
    outcome = await _detect(client, last)
    assert outcome["status"] == "warning" and outcome["skipped_rules"] == []
    [anomaly] = outcome["anomalies"]
    assert anomaly["rule_id"] == rule_id and anomaly["violation_value"] == 500
    assert anomaly["historical_mean"] == 24 and abs(anomaly["std_deviation_value"] - 10**0.5) < 1e-9
    assert abs(anomaly["z_score"] - 150.5) < 0.1
    assert abs(anomaly["threshold_min_value"] - 17.675) < 0.01 and abs(anomaly["threshold_max_value"] - 30.325) < 0.01
    assert anomaly["context"] == {
        "lookback_days": 30,
        "minimum_executions": 5,
        "execution_count": 5,
        "season_value": 10,
        "anomaly_type": "spike",
    }
    row = (await client.get(f"/pipeline_execution/{last}")).json()
    assert row["anomaly_flags"] == {"total_rows": True}
    [alert] = (await client.get("/alerts", params={"kind": "anomaly"})).json()
    assert alert["message"] == f"Anomalies Detected for Pipeline 'orders' (ID: {pid}) - Execution ID {last} flagged"
    assert alert["details"]["Total Anomalies"] == 1 and alert["details"]["Metrics"] == ["total_rows"]
    assert alert["details"]["Anomalies"] == "\n\t• total_rows: 500 (Range: 18 - 30)"
    assert alert["details"]["Links"] == f"\n\t• http://localhost:8000/pipeline/{pid}"
    assert (await _detect(client, last))["status"] == "warning"
    assert len((await client.get("/alerts", params={"kind": "anomaly"})).json()) == 1  # not alerted twice
    assert len((await client.get("/anomaly_detection_result", params={"pipeline_execution_id": last})).json()) == 1


async def test_direction_drop_ignores_spikes_and_zero_spread_flags_any_difference(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await _rule(client, pid, direction="drop")
    *_, spike = await _history(client, pid, [20, 22, 24, 26, 28, 500])
    assert (await _detect(client, spike))["status"] == "success"
    flat = await create_pipeline(client, "flat")
    await _rule(client, flat)
    *_, odd = await _history(client, flat, [7, 7, 7, 7, 7, 8])
    [anomaly] = (await _detect(client, odd))["anomalies"]
    assert (anomaly["z_score"], anomaly["threshold_min_value"], anomaly["threshold_max_value"]) == (None, 7.0, 7.0)


async def test_flagged_runs_leave_the_baseline_until_unflagged(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await _rule(client, pid)
    ids = await _history(client, pid, [20, 22, 24, 26, 28, 500, 25])
    await _detect(client, ids[5])
    outcome = await _detect(client, ids[6])
    assert outcome["status"] == "success"  # 500 is not part of the baseline any more
    response = await client.post(
        "/unflag_anomaly", json={"pipeline_id": pid, "pipeline_execution_id": ids[5], "metric_field": ["TOTAL_ROWS"]}
    )
    assert response.status_code == 204 and response.content == b""
    assert (await client.get(f"/pipeline_execution/{ids[5]}")).json()["anomaly_flags"] == {"total_rows": False}
    assert (await client.get("/anomaly_detection_result")).json() == []
    again = await client.post("/unflag_anomaly", json={"pipeline_id": pid, "pipeline_execution_id": ids[5], "metric_field": ["total_rows"]})
    assert again.json()["detail"] == "None of the requested metrics ['total_rows'] are currently flagged"
    other = await client.post(
        "/unflag_anomaly", json={"pipeline_id": pid + 1, "pipeline_execution_id": ids[5], "metric_field": ["total_rows"]}
    )
    assert other.json()["detail"] == f"Pipeline execution {ids[5]} not found"
    none = await client.post("/unflag_anomaly", json={"pipeline_id": pid, "pipeline_execution_id": ids[0], "metric_field": ["total_rows"]})
    assert none.json()["detail"] == f"No anomaly flags found for execution {ids[0]}"
    assert (
        await client.post("/unflag_anomaly", json={"pipeline_id": pid, "pipeline_execution_id": ids[5], "metric_field": []})
    ).status_code == 422


async def test_skips_insufficient_history_missing_values_and_other_seasons(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await _rule(client, pid)
    await _rule(client, pid, metric_field="inserts")
    ids = await _history(client, pid, [20, 22, 24, 26, 28], hour=10)
    other_hour = await _history(client, pid, [500], hour=3)
    outcome = await _detect(client, other_hour[0])
    assert outcome["status"] == "success"
    assert sorted((s["metric_field"], s["reason"]) for s in outcome["skipped_rules"]) == [
        ("inserts", "no_value"),
        ("total_rows", "insufficient_history"),
    ]
    failed = await start(client, pid, start_date="2025-03-20T10:00:00Z")
    await end(client, failed, end_date="2025-03-20T10:10:00Z", ok=False)
    skipped = await _detect(client, failed)
    assert skipped["status"] == "skipped" and skipped["reason"]
    assert (await client.post("/detect_anomalies", json={"pipeline_execution_id": 999}, params={"wait": "true"})).status_code == 404
    assert ids


async def test_a_successful_end_queues_detection_in_the_background(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await _rule(client, pid)
    *_, last = await _history(client, pid, [20, 22, 24, 26, 28, 500])
    for _ in range(100):
        if (await client.get("/anomaly_detection_result")).json():
            break
        await asyncio.sleep(0.05)
    assert [r["pipeline_execution_id"] for r in (await client.get("/anomaly_detection_result")).json()] == [last]


async def test_rules_create_or_get_list_patch_and_errors(client):
    pid = await create_pipeline(client, "p")
    created = await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "Throughput", "z_threshold": 2.555})
    assert (created.status_code, created.json()) == (201, {"id": 1})
    again = await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "throughput", "z_threshold": 9})
    assert (again.status_code, again.json()) == (200, {"id": 1})
    rule = (await client.get("/anomaly_detection_rule/1")).json()
    assert (rule["z_threshold"], rule["direction"], rule["seasonality"], rule["lookback_days"], rule["updated_at"]) == (
        2.56,
        "both",
        "hour_of_day",
        30,
        None,
    )
    await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "inserts"})
    patched = await client.patch("/anomaly_detection_rule", json={"id": 1, "direction": "SPIKE", "active": False})
    assert (patched.json()["direction"], patched.json()["active"]) == ("spike", False) and patched.json()["updated_at"]
    assert (await client.patch("/anomaly_detection_rule", json={"id": 1, "metric_field": "inserts"})).status_code == 409
    assert (await client.patch("/anomaly_detection_rule", json={"id": 9, "active": True})).json()[
        "detail"
    ] == "Anomaly detection rule not found"
    assert (await client.patch("/anomaly_detection_rule", json={"id": 1, "pipeline_id": 99})).json()["detail"] == "Pipeline Not Found"
    assert (await client.post("/anomaly_detection_rule", json={"pipeline_id": 99, "metric_field": "inserts"})).json()[
        "detail"
    ] == "Pipeline Not Found"
    for bad in (
        {"z_threshold": 0.5},
        {"lookback_days": 0},
        {"minimum_executions": 4},
        {"metric_field": "rows"},
        {"seasonality": "monthly"},
    ):
        assert (
            await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "updates", **bad})
        ).status_code == 422, bad
    listed = (await client.get("/anomaly_detection_rule", params={"active": "true"})).json()
    assert [r["metric_field"] for r in listed] == ["inserts"]
    assert (await client.get("/anomaly_detection_rule/77")).status_code == 404


async def test_auto_created_rules_come_with_new_pipelines_only(app, client, services):
    await create_pipeline(client, "before")
    services.settings = services.settings.model_copy(update={"auto_create_anomaly_detection_rules": True})
    pid = await create_pipeline(client, "after")
    await create_pipeline(client, "before")
    rules = (await client.get("/anomaly_detection_rule")).json()
    assert {r["pipeline_id"] for r in rules} == {pid}
    assert sorted(r["metric_field"] for r in rules) == [
        "duration_seconds",
        "inserts",
        "soft_deletes",
        "throughput",
        "total_rows",
        "updates",
    ]
    assert all((r["active"], r["z_threshold"], r["minimum_executions"]) == (True, 3.0, 30) for r in rules)


async def test_rules_with_different_lookbacks_and_seasons_each_get_their_own_baseline(app, client):
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client, "p")
    runs = [(day, 10, 500, 10) for day in range(1, 11)] + [(day, 10, 100, 1000) for day in range(20, 25)]
    runs += [(22, 3, 500, 10), (23, 3, 500, 10), (25, 10, 10_000, 5000)]
    for day, hour, total_rows, inserts in runs:
        begin = dt.datetime(2025, 3, day, hour, 0, tzinfo=UTC)
        execution = await start(client, pid, start_date=begin.isoformat())
        await end(client, execution, end_date=(begin + dt.timedelta(minutes=10)).isoformat(), total_rows=total_rows, inserts=inserts)
    # rules after the history, so no run of it is checked (and flagged) on its own end
    await _rule(client, pid, metric_field="total_rows", z_threshold=3, seasonality="none", lookback_days=30)
    await _rule(client, pid, metric_field="inserts", z_threshold=3, seasonality="hour_of_day", lookback_days=7)
    outcome = await _detect(client, execution)
    counts = {a["metric_field"]: a["context"]["execution_count"] for a in outcome["anomalies"]}
    assert counts == {"total_rows": 17, "inserts": 5}  # 30 days in every hour; 7 days at 10:00 only
