"""Detection over HTTP (contract §13.2-13.3): what one run finds, writes, skips and answers.

Where background detection could change a baseline while a test runs, the rules are created after the
history: a pipeline without rules queues nothing when its executions end.
"""

import asyncio
import datetime as dt

from ..helpers import create_pipeline, end, start
from .support import NOW, UTC, add_rule, contract_example, detect, flagged_on_total_rows_then_inserts_rule_added, history, run


async def test_contract_example_flags_a_spike_with_its_numbers(client, clock):
    pid, rule_id, last = await contract_example(client, clock)
    outcome = await detect(client, last)
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


async def test_a_fired_rule_flags_its_metric_on_the_execution(client, clock):
    _, _, last = await contract_example(client, clock)
    await detect(client, last)
    row = (await client.get(f"/pipeline_execution/{last}")).json()
    assert row["anomaly_flags"] == {"total_rows": True}


async def test_flags_are_merged_not_replaced(client, clock):
    last = await flagged_on_total_rows_then_inserts_rule_added(client, clock)
    await detect(client, last)
    assert (await client.get(f"/pipeline_execution/{last}")).json()["anomaly_flags"] == {"total_rows": True, "inserts": True}


async def test_a_rerun_reports_the_anomaly_again_and_keeps_one_result_row(client, clock):
    _, _, last = await contract_example(client, clock)
    await detect(client, last)
    assert (await detect(client, last))["status"] == "warning"
    assert len((await client.get("/anomaly_detection_result", params={"pipeline_execution_id": last})).json()) == 1


async def test_direction_drop_ignores_a_spike(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await add_rule(client, pid, direction="drop")
    *_, spike = await history(client, pid, [20, 22, 24, 26, 28, 500])
    assert (await detect(client, spike))["status"] == "success"


async def test_a_zero_spread_baseline_flags_any_different_value(client, clock):
    clock.freeze(NOW)
    flat = await create_pipeline(client, "flat")
    await add_rule(client, flat)
    *_, odd = await history(client, flat, [7, 7, 7, 7, 7, 8])
    [anomaly] = (await detect(client, odd))["anomalies"]
    assert (anomaly["z_score"], anomaly["threshold_min_value"], anomaly["threshold_max_value"]) == (None, 7.0, 7.0)


async def test_skipped_rules_are_listed_with_their_reasons_and_the_run_succeeds(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await add_rule(client, pid)
    await add_rule(client, pid, metric_field="inserts")
    await history(client, pid, [20, 22, 24, 26, 28], hour=10)
    other_hour = await history(client, pid, [500], hour=3)
    outcome = await detect(client, other_hour[0])
    assert outcome["status"] == "success"
    assert sorted((s["metric_field"], s["reason"]) for s in outcome["skipped_rules"]) == [
        ("inserts", "no_value"),
        ("total_rows", "insufficient_history"),
    ]


async def test_runs_of_another_hour_are_not_in_an_hour_of_day_baseline(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    ids = await history(client, pid, [20, 22, 24, 26, 28], hour=10)
    [at_three] = await history(client, pid, [500], hour=3)
    at_ten = await run(client, pid, dt.datetime(2025, 3, 6, 10, 0, tzinfo=UTC), total_rows=500)
    rule_id = await add_rule(client, pid)
    # Five runs at 10:00 are enough history, but not for a run at 03:00.
    assert (await detect(client, at_three))["skipped_rules"] == [
        {"rule_id": rule_id, "metric_field": "total_rows", "reason": "insufficient_history"}
    ]
    [anomaly] = (await detect(client, at_ten))["anomalies"]
    assert (anomaly["context"]["execution_count"], anomaly["context"]["season_value"]) == (len(ids), 10)


async def test_runs_of_another_weekday_are_not_in_a_day_of_week_baseline(client, clock):
    clock.freeze(NOW)  # a Tuesday
    pid = await create_pipeline(client, "p")
    tuesdays = [NOW.replace(hour=10) - dt.timedelta(weeks=w) for w in range(5, 0, -1)]
    for begin, value in zip(tuesdays, (20, 22, 24, 26, 28), strict=True):
        await run(client, pid, begin, total_rows=value)
        await run(client, pid, begin - dt.timedelta(days=1), total_rows=500)  # the Monday before, same hour
    last = await run(client, pid, NOW.replace(hour=10), total_rows=500)
    await add_rule(client, pid, seasonality="day_of_week", lookback_days=60)
    [anomaly] = (await detect(client, last))["anomalies"]
    assert (anomaly["context"]["execution_count"], anomaly["context"]["season_value"]) == (5, 2)


async def test_a_failed_execution_is_skipped(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await add_rule(client, pid)
    failed = await start(client, pid, start_date="2025-03-20T10:00:00Z")
    await end(client, failed, end_date="2025-03-20T10:10:00Z", ok=False)
    skipped = await detect(client, failed)
    assert skipped["status"] == "skipped" and skipped["reason"]
    assert skipped == {
        "status": "skipped",
        "reason": "execution is not a successfully completed execution",
        "pipeline_execution_id": failed,
        "pipeline_id": pid,
        "anomalies": [],
        "skipped_rules": [],
    }


async def test_an_execution_of_a_pipeline_without_an_active_rule_is_skipped(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    rule_id = await add_rule(client, pid)
    await client.patch("/anomaly_detection_rule", json={"id": rule_id, "active": False})
    [execution] = await history(client, pid, [20])
    skipped = await detect(client, execution)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "pipeline has no active anomaly detection rule")


async def test_detection_of_an_unknown_execution_is_404(client):
    assert (await client.post("/detect_anomalies", json={"pipeline_execution_id": 999}, params={"wait": "true"})).status_code == 404


async def test_a_successful_end_queues_detection_in_the_background(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    await add_rule(client, pid)
    *_, last = await history(client, pid, [20, 22, 24, 26, 28, 500])
    for _ in range(100):
        if (await client.get("/anomaly_detection_result")).json():
            break
        await asyncio.sleep(0.05)
    assert [r["pipeline_execution_id"] for r in (await client.get("/anomaly_detection_result")).json()] == [last]


async def test_rules_with_different_lookbacks_and_seasons_each_get_their_own_baseline(client, clock):
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    runs = [(day, 10, 500, 10) for day in range(1, 11)] + [(day, 10, 100, 1000) for day in range(20, 25)]
    runs += [(22, 3, 500, 10), (23, 3, 500, 10), (25, 10, 10_000, 5000)]
    for day, hour, total_rows, inserts in runs:
        execution = await run(client, pid, dt.datetime(2025, 3, day, hour, 0, tzinfo=UTC), total_rows=total_rows, inserts=inserts)
    # rules after the history, so no run of it is checked (and flagged) on its own end
    await add_rule(client, pid, metric_field="total_rows", z_threshold=3, seasonality="none", lookback_days=30)
    await add_rule(client, pid, metric_field="inserts", z_threshold=3, seasonality="hour_of_day", lookback_days=7)
    outcome = await detect(client, execution)
    counts = {a["metric_field"]: a["context"]["execution_count"] for a in outcome["anomalies"]}
    assert counts == {"total_rows": 17, "inserts": 5}  # 30 days in every hour; 7 days at 10:00 only
