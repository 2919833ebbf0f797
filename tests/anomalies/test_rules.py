"""Anomaly detection rules over HTTP (contract §13.1): create-or-get, read, list, PATCH, defaults and errors."""

import pytest

from ..helpers import create_pipeline
from .support import NOW


async def _throughput_rule(client):
    """Pipeline p and its first rule (id 1), on throughput with z = 2.555: (pipeline id, the creation answer)."""
    pid = await create_pipeline(client, "p")
    created = await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "Throughput", "z_threshold": 2.555})
    return pid, created


async def test_creating_a_rule_answers_201_with_its_id(client):
    _, created = await _throughput_rule(client)
    assert (created.status_code, created.json()) == (201, {"id": 1})


async def test_creating_an_existing_rule_answers_200_with_its_id_and_ignores_the_other_fields(client):
    pid, _ = await _throughput_rule(client)
    again = await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "throughput", "z_threshold": 9})
    assert (again.status_code, again.json()) == (200, {"id": 1})
    assert (await client.get("/anomaly_detection_rule/1")).json()["z_threshold"] == 2.56


async def test_a_new_rule_has_the_contract_defaults_and_a_threshold_rounded_to_two_decimals(client):
    await _throughput_rule(client)
    rule = (await client.get("/anomaly_detection_rule/1")).json()
    assert (rule["z_threshold"], rule["direction"], rule["seasonality"], rule["lookback_days"], rule["updated_at"]) == (
        2.56,
        "both",
        "hour_of_day",
        30,
        None,
    )
    assert (rule["metric_field"], rule["minimum_executions"], rule["active"]) == ("throughput", 30, True)


async def test_patch_changes_the_given_fields_in_any_case_and_stamps_updated_at(client, clock):
    clock.freeze(NOW)
    await _throughput_rule(client)
    patched = await client.patch("/anomaly_detection_rule", json={"id": 1, "direction": "SPIKE", "active": False})
    assert (patched.json()["direction"], patched.json()["active"]) == ("spike", False) and patched.json()["updated_at"]
    assert (patched.json()["updated_at"], patched.json()["z_threshold"]) == ("2025-03-25T12:00:00Z", 2.56)


async def test_patch_onto_the_metric_of_another_rule_of_the_pipeline_is_409(client):
    pid, _ = await _throughput_rule(client)
    await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "inserts"})
    assert (await client.patch("/anomaly_detection_rule", json={"id": 1, "metric_field": "inserts"})).status_code == 409


async def test_patch_of_an_unknown_rule_is_404(client):
    await _throughput_rule(client)
    response = await client.patch("/anomaly_detection_rule", json={"id": 9, "active": True})
    assert response.status_code == 404
    assert response.json()["detail"] == "Anomaly detection rule not found"


async def test_patch_to_an_unknown_pipeline_is_404(client):
    await _throughput_rule(client)
    response = await client.patch("/anomaly_detection_rule", json={"id": 1, "pipeline_id": 99})
    assert response.status_code == 404
    assert response.json()["detail"] == "Pipeline Not Found"


async def test_creating_a_rule_for_an_unknown_pipeline_is_404(client):
    response = await client.post("/anomaly_detection_rule", json={"pipeline_id": 99, "metric_field": "inserts"})
    assert response.status_code == 404
    assert response.json()["detail"] == "Pipeline Not Found"


async def test_out_of_range_or_unknown_values_are_422(client):
    pid = await create_pipeline(client, "p")
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
    assert (await client.get("/anomaly_detection_rule")).json() == []


async def test_listing_filters_by_active(client):
    pid, _ = await _throughput_rule(client)
    await client.post("/anomaly_detection_rule", json={"pipeline_id": pid, "metric_field": "inserts"})
    await client.patch("/anomaly_detection_rule", json={"id": 1, "active": False})
    listed = (await client.get("/anomaly_detection_rule", params={"active": "true"})).json()
    assert [r["metric_field"] for r in listed] == ["inserts"]


async def test_reading_an_unknown_rule_is_404(client):
    await _throughput_rule(client)
    assert (await client.get("/anomaly_detection_rule/77")).status_code == 404


async def test_auto_created_rules_come_with_new_pipelines_only(client, services):
    await create_pipeline(client, "before")
    services.settings = services.settings.model_copy(update={"auto_create_anomaly_detection_rules": True})
    pid = await create_pipeline(client, "after")
    await create_pipeline(client, "before")
    rules = (await client.get("/anomaly_detection_rule")).json()
    assert {r["pipeline_id"] for r in rules} == {pid}


@pytest.mark.settings(auto_create_anomaly_detection_rules=True)
async def test_auto_created_rules_are_one_active_default_rule_per_metric(client):
    await create_pipeline(client, "p")
    rules = (await client.get("/anomaly_detection_rule")).json()
    assert sorted(r["metric_field"] for r in rules) == [
        "duration_seconds",
        "inserts",
        "soft_deletes",
        "throughput",
        "total_rows",
        "updates",
    ]
    assert all((r["active"], r["z_threshold"], r["minimum_executions"]) == (True, 3.0, 30) for r in rules)
