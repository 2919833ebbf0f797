"""POST /unflag_anomaly (contract §13.4), and what flags do to later baselines (§13.2 step 1)."""

from ..helpers import create_pipeline
from .support import NOW, add_rule, detect, history


async def _flagged(client, clock) -> tuple[int, list[int]]:
    """Pipeline p with eight daily runs at 10:00: 20, 22, 24, 26, 28, 500, 25 and 480. Detection has
    run for the sixth (500) only, and flagged it. 480 is a spike whether 500 is in its baseline or not,
    so its execution_count shows which baseline it was measured against."""
    clock.freeze(NOW)
    pid = await create_pipeline(client, "p")
    ids = await history(client, pid, [20, 22, 24, 26, 28, 500, 25, 480])
    await add_rule(client, pid)
    assert (await detect(client, ids[5]))["status"] == "warning"
    return pid, ids


async def _unflag(client, pipeline_id, execution_id, metrics):
    return await client.post(
        "/unflag_anomaly", json={"pipeline_id": pipeline_id, "pipeline_execution_id": execution_id, "metric_field": metrics}
    )


async def test_a_flagged_run_leaves_the_baseline(client, clock):
    _, ids = await _flagged(client, clock)
    outcome = await detect(client, ids[6])
    assert outcome["status"] == "success"  # 500 is not part of the baseline any more
    [anomaly] = (await detect(client, ids[7]))["anomalies"]
    assert anomaly["context"]["execution_count"] == 6  # the seven other runs but 500


async def test_an_unflagged_run_rejoins_the_baseline(client, clock):
    pid, ids = await _flagged(client, clock)
    await _unflag(client, pid, ids[5], ["total_rows"])
    [anomaly] = (await detect(client, ids[7]))["anomalies"]
    assert anomaly["context"]["execution_count"] == 7  # the seven other runs, 500 included


async def test_unflag_answers_204_with_no_body_and_takes_metrics_in_any_case(client, clock):
    pid, ids = await _flagged(client, clock)
    response = await _unflag(client, pid, ids[5], ["TOTAL_ROWS"])
    assert response.status_code == 204 and response.content == b""


async def test_unflag_sets_the_flag_to_false_and_keeps_the_key(client, clock):
    pid, ids = await _flagged(client, clock)
    await _unflag(client, pid, ids[5], ["total_rows"])
    assert (await client.get(f"/pipeline_execution/{ids[5]}")).json()["anomaly_flags"] == {"total_rows": False}


async def test_unflag_deletes_the_results_of_those_metrics(client, clock):
    pid, ids = await _flagged(client, clock)
    assert len((await client.get("/anomaly_detection_result")).json()) == 1
    await _unflag(client, pid, ids[5], ["total_rows"])
    assert (await client.get("/anomaly_detection_result")).json() == []


async def test_unflagging_metrics_that_are_not_flagged_is_404(client, clock):
    pid, ids = await _flagged(client, clock)
    await _unflag(client, pid, ids[5], ["total_rows"])
    again = await _unflag(client, pid, ids[5], ["total_rows"])
    assert again.status_code == 404
    assert again.json()["detail"] == "None of the requested metrics ['total_rows'] are currently flagged"


async def test_unflag_naming_another_pipeline_is_404(client, clock):
    pid, ids = await _flagged(client, clock)
    other = await _unflag(client, pid + 1, ids[5], ["total_rows"])
    assert other.status_code == 404
    assert other.json()["detail"] == f"Pipeline execution {ids[5]} not found"


async def test_unflag_of_an_unknown_execution_is_404(client, clock):
    pid, _ = await _flagged(client, clock)
    unknown = await _unflag(client, pid, 999, ["total_rows"])
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "Pipeline execution 999 not found")


async def test_unflag_of_an_execution_without_flags_is_404(client, clock):
    pid, ids = await _flagged(client, clock)
    none = await _unflag(client, pid, ids[0], ["total_rows"])
    assert none.status_code == 404
    assert none.json()["detail"] == f"No anomaly flags found for execution {ids[0]}"


async def test_unflag_without_metrics_is_422(client, clock):
    pid, ids = await _flagged(client, clock)
    assert (await _unflag(client, pid, ids[5], [])).status_code == 422
