"""Every counter of a cleanup (§14) equals the rows that really disappeared, on nested executions, for
any batch size, and a dry run on the same data reports the same counts (issue 12, point 5)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, text

from watcher_server.anomalies.tables import anomaly_detection_result
from watcher_server.core.clock import CLOCK

from ..helpers import create_pipeline, end, start

NOW = dt.datetime(2025, 6, 15, 13, 0, tzinfo=dt.UTC)  # cutoff for 90 days: 2025-03-17T00:00Z
OLD = "2025-03-{:02d}T10:00:00Z"
YOUNG = "2025-05-{:02d}T10:00:00Z"


async def _forest(client) -> None:
    """Old trees three levels deep with young leaves, flat old runs, and a young parent of an old child."""
    pid = await create_pipeline(client)
    for tree in range(3):
        root = await start(client, pid, start_date=OLD.format(1 + tree))
        for branch in range(2):
            mid = await start(client, pid, start_date=OLD.format(4 + branch), parent_id=root)
            leaf = await start(client, pid, start_date=OLD.format(6 + branch), parent_id=mid)
            await end(client, leaf, end_date=OLD.format(8), ok=branch == 0)
            await start(client, pid, start_date=YOUNG.format(1 + branch), parent_id=leaf)  # survives, depth 3 under root
        await start(client, pid, start_date=YOUNG.format(3), parent_id=root)
    for day in range(3):
        await end(client, await start(client, pid, start_date=OLD.format(10 + day)), end_date=OLD.format(14))
    young_parent = await start(client, pid, start_date=YOUNG.format(5))
    await start(client, pid, start_date=OLD.format(15), parent_id=young_parent)  # a backfilled run: old, under a young one


async def _snapshot(db) -> dict[str, set]:
    async with db.read() as conn:

        async def rows(sql: str) -> set:
            return {tuple(row) for row in (await conn.execute(text(sql))).all()}

        return {
            "executions": await rows("SELECT id FROM pipeline_execution"),
            "closure": await rows("SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure"),
            "timeliness": await rows("SELECT pipeline_execution_id FROM timeliness_pipeline_execution_log"),
            "anomalies": await rows("SELECT pipeline_execution_id, rule_id FROM anomaly_detection_result"),
            "freshness": await rows("SELECT id FROM freshness_pipeline_log"),
        }


async def _add_results(db) -> None:
    """Anomaly results on old and young executions (detection itself is tested elsewhere)."""
    async with db.write() as conn:
        rule = (
            await conn.execute(text("INSERT INTO anomaly_detection_rule (pipeline_id, metric_field) VALUES (1, 'total_rows') RETURNING id"))
        ).scalar_one()
        ended = (await conn.execute(text("SELECT id FROM pipeline_execution WHERE end_date IS NOT NULL"))).scalars().all()
        await conn.execute(
            insert(anomaly_detection_result),
            [
                {"pipeline_execution_id": execution, "rule_id": rule, "pipeline_id": 1, "metric_field": "total_rows",
                 "direction": "high", "seasonality": "none", "detected_at": NOW}
                for execution in ended
            ],
        )  # fmt: skip


def _expected(before: dict[str, set], after: dict[str, set]) -> dict[str, int]:
    """What disappeared, in the contract's terms: a removed link (depth >= 1) is a parent link when its
    ancestor was deleted too, a child link when only the descendant was; self rows are not counted."""
    gone = before["closure"] - after["closure"]
    links = [(parent, child) for parent, child, depth in gone if depth >= 1]
    deleted = before["executions"] - after["executions"]
    assert {(child,) for parent, child, depth in gone if depth == 0} == deleted, "every deleted execution loses its self row"
    assert all({(parent,), (child,)} & deleted for parent, child in links), "a link between two surviving executions stays"
    return {
        "total_pipeline_executions_deleted": len(deleted),
        "total_timeliness_pipeline_execution_logs_deleted": len(before["timeliness"] - after["timeliness"]),
        "total_anomaly_detection_results_deleted": len(before["anomalies"] - after["anomalies"]),
        "total_pipeline_execution_closure_parent_deleted": sum((parent,) in deleted for parent, _child in links),
        "total_pipeline_execution_closure_child_deleted": sum((parent,) not in deleted for parent, _child in links),
        "total_freshness_pipeline_logs_deleted": len(before["freshness"] - after["freshness"]),
    }


@pytest.mark.parametrize("batch_size", [1, 2, 5, 10_000])
async def test_every_counter_is_the_rows_that_disappeared(client, db, batch_size):
    CLOCK.freeze(NOW)
    await _forest(client)
    await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 525_600})
    await _add_results(db)
    before = await _snapshot(db)
    dry = (await client.post("/log_cleanup", json={"retention_days": 90, "dry_run": True})).json()
    assert await _snapshot(db) == before, "a dry run deletes nothing"
    done = await client.post("/log_cleanup", json={"retention_days": 90, "batch_size": batch_size})
    assert done.status_code == 200, done.text
    expected = _expected(before, await _snapshot(db))
    assert expected["total_pipeline_execution_closure_parent_deleted"] > 0 < expected["total_pipeline_execution_closure_child_deleted"]
    assert expected["total_timeliness_pipeline_execution_logs_deleted"] > 0 < expected["total_anomaly_detection_results_deleted"]
    assert done.json() == expected
    assert dry == expected


async def test_executions_never_nested_report_no_links_but_lose_their_self_rows(client, db):
    """The issue's report (`closure_*_deleted 0` although closure rows went): its old executions had no
    parent and no child, so only self rows went, and the contract counts links only (§14)."""
    CLOCK.freeze(NOW)
    pid = await create_pipeline(client)
    for day in range(4):
        await start(client, pid, start_date=OLD.format(1 + day))
    young = await start(client, pid, start_date=YOUNG.format(1))
    await start(client, pid, start_date=YOUNG.format(2), parent_id=young)
    before = await _snapshot(db)
    result = (await client.post("/log_cleanup", json={"retention_days": 90, "batch_size": 3})).json()
    after = await _snapshot(db)
    assert result == _expected(before, after)
    assert (result["total_pipeline_execution_closure_parent_deleted"], result["total_pipeline_execution_closure_child_deleted"]) == (0, 0)
    assert len(before["closure"]) - len(after["closure"]) == result["total_pipeline_executions_deleted"] == 4
