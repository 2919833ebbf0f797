"""The anomaly alert (contract §13.2 step 7): one per detection run, for the metrics that fired for the first time.

Since anomaly incidents (docs/api.md, "Anomaly incidents") only a metric that turns anomalous is alerted:
these runs each open an incident, so they alert as before. Runs inside an incident: test_incidents.py."""

from .support import contract_example, detect, flagged_on_total_rows_then_inserts_rule_added


async def _anomaly_alerts(client) -> list[dict]:
    return (await client.get("/alerts", params={"kind": "anomaly"})).json()


async def test_the_alert_names_the_pipeline_and_the_execution(client, clock):
    pid, _, last = await contract_example(client, clock)
    await detect(client, last)
    [alert] = await _anomaly_alerts(client)
    assert alert["message"] == f"Anomalies Detected for Pipeline 'orders' (ID: {pid}) - Execution ID {last} flagged"


async def test_the_alert_lists_each_metric_with_its_value_and_range(client, clock):
    _, _, last = await contract_example(client, clock)
    await detect(client, last)
    [alert] = await _anomaly_alerts(client)
    assert alert["details"]["Total Anomalies"] == 1 and alert["details"]["Metrics"] == ["total_rows"]
    # the incident's opening alert also gives the z-score (docs/api.md, "Anomaly incidents")
    assert alert["details"]["Anomalies"] == "\n\t• total_rows: 500 (Range: 18 - 30, z-score: 150.52)"


async def test_the_alert_links_to_the_pipeline(client, clock):
    pid, _, last = await contract_example(client, clock)
    await detect(client, last)
    [alert] = await _anomaly_alerts(client)
    assert alert["details"]["Links"] == f"\n\t• http://localhost:8000/ui/pipelines/{pid}"


async def test_a_rerun_does_not_alert_again(client, clock):
    _, _, last = await contract_example(client, clock)
    await detect(client, last)
    await detect(client, last)
    assert len(await _anomaly_alerts(client)) == 1  # not alerted twice


async def test_a_rerun_alerts_only_the_metrics_firing_for_the_first_time(client, clock):
    last = await flagged_on_total_rows_then_inserts_rule_added(client, clock)
    outcome = await detect(client, last)
    assert sorted(a["metric_field"] for a in outcome["anomalies"]) == ["inserts", "total_rows"]
    first, newest = await _anomaly_alerts(client)
    assert (first["details"]["Metrics"], newest["details"]["Metrics"]) == (["total_rows"], ["inserts"])
    assert newest["details"]["Total Anomalies"] == 1
