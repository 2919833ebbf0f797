"""An anomaly check holds its executions' rows while it runs; pipelines keep nesting runs under them."""

import asyncio

import pytest

from watcher_server.alerts.service import Outbox
from watcher_server.anomalies import detection

from ..helpers import create_pipeline, end, start


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has no row locks: one writer
async def test_a_child_starts_while_an_anomaly_check_holds_its_parent(client, db, services, monkeypatch):
    pipeline_id = await create_pipeline(client, "nested")
    parent = await start(client, pipeline_id, start_date="2025-03-01T10:00:00Z")
    await end(client, parent, end_date="2025-03-01T10:05:00Z", total_rows=10)
    await client.post("/anomaly_detection_rule", json={"pipeline_id": pipeline_id, "metric_field": "total_rows"})
    holding, release = asyncio.Event(), asyncio.Event()
    original = detection._active_rules

    async def held(conn, pipeline_ids):  # the check has locked its rows: it keeps them while the child starts
        holding.set()
        await release.wait()
        return await original(conn, pipeline_ids)

    monkeypatch.setattr(detection, "_active_rules", held)
    check = asyncio.create_task(detection.detect_many(db, services.settings, [parent], services.clock.now(), Outbox()))
    try:
        await asyncio.wait_for(holding.wait(), 5)
        child = await asyncio.wait_for(
            client.post(
                "/start_pipeline_execution", json={"pipeline_id": pipeline_id, "parent_id": parent, "start_date": "2025-03-01T10:06:00Z"}
            ),
            timeout=2,
        )
        assert child.status_code == 201, child.text
    finally:
        release.set()
        outcome = await check
    assert outcome[0]["pipeline_execution_id"] == parent
