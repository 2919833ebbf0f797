"""Setup shared by the anomaly API tests: a fixed 'now', daily history, rules, detection that waits."""

from __future__ import annotations

import datetime as dt

from ..helpers import create_pipeline, end, start

UTC = dt.UTC
NOW = dt.datetime(2025, 3, 25, 12, 0, tzinfo=UTC)


async def run(client, pipeline_id: int, begin: dt.datetime, **metrics) -> int:
    """One successful execution starting at `begin` and ending 10 minutes later with these metric values."""
    execution = await start(client, pipeline_id, start_date=begin.isoformat())
    await end(client, execution, end_date=(begin + dt.timedelta(minutes=10)).isoformat(), **metrics)
    return execution


async def history(client, pipeline_id: int, values, hour: int = 10, metric: str = "total_rows") -> list[int]:
    """One successful execution per day of March 2025 from the 1st at `hour`; each value is the
    metric's value, or a dict of metric values."""
    ids = []
    for day, value in enumerate(values, start=1):
        metrics = value if isinstance(value, dict) else {metric: value}
        ids.append(await run(client, pipeline_id, dt.datetime(2025, 3, day, hour, 0, tzinfo=UTC), **metrics))
    return ids


async def add_rule(client, pipeline_id: int, **fields) -> int:
    """A rule on total_rows with z = 2 and a minimum of 5 executions, unless `fields` say otherwise."""
    body = {"pipeline_id": pipeline_id, "metric_field": "total_rows", "z_threshold": 2, "minimum_executions": 5, **fields}
    response = await client.post("/anomaly_detection_rule", json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


async def detect(client, execution_id: int) -> dict:
    """POST /detect_anomalies?wait=true: the outcome of one detection run."""
    response = await client.post("/detect_anomalies", params={"wait": "true"}, json={"pipeline_execution_id": execution_id})
    assert response.status_code == 200, response.text
    return response.json()


async def contract_example(client, clock) -> tuple[int, int, int]:
    """The example of contract §13.2 on pipeline 'orders': a total_rows rule (z = 2, minimum 5),
    then runs of 20, 22, 24, 26, 28 and 500 at 10:00, each checked in the background as it ends.
    Returns (pipeline id, rule id, id of the 500 run)."""
    clock.freeze(NOW)
    pid = await create_pipeline(client, "orders")
    rule_id = await add_rule(client, pid)
    *_, last = await history(client, pid, [20, 22, 24, 26, 28, 500])
    return pid, rule_id, last


async def flagged_on_total_rows_then_inserts_rule_added(client, clock) -> int:
    """A run detected as a total_rows spike, after which an inserts rule is added (it would fire too):
    the execution's id."""
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    normal = [{"total_rows": v, "inserts": v} for v in (20, 22, 24, 26, 28)]
    *_, last = await history(client, pid, [*normal, {"total_rows": 500, "inserts": 500}])
    await add_rule(client, pid)
    await detect(client, last)
    await add_rule(client, pid, metric_field="inserts")
    return last
