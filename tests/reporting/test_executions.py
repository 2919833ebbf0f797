"""The execution page's read model (reporting/executions.py) and the page itself, on SQLite and
PostgreSQL: the run, its root, the root's whole tree (capped, the run always in it), anomaly flags and
results, and clearing a flag from the page."""

from __future__ import annotations

import re

import pytest

from watcher_server.core.errors import NotFound
from watcher_server.reporting.executions import MAX_TREE_NODES, execution_page

from ..anomalies.support import NOW as ANOMALY_NOW
from ..anomalies.support import add_rule, detect, history
from ..helpers import create_pipeline, end, start

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _tree(client) -> dict[str, int]:
    """root (succeeded) → child_a (succeeded) → grandchild (failed); root → child_b (running)."""
    ids = {"orchestrator": await create_pipeline(client, "orchestrator"), "loader": await create_pipeline(client, "loader")}
    ids["root"] = await start(client, ids["orchestrator"], start_date="2024-01-01T10:00:00Z")
    ids["child_a"] = await start(client, ids["loader"], parent_id=ids["root"], start_date="2024-01-01T10:01:00Z")
    ids["child_b"] = await start(client, ids["loader"], parent_id=ids["root"], start_date="2024-01-01T10:02:00Z")
    ids["grandchild"] = await start(client, ids["loader"], parent_id=ids["child_a"], start_date="2024-01-01T10:01:30Z")
    await end(client, ids["grandchild"], end_date="2024-01-01T10:03:00Z", ok=False)
    await end(client, ids["child_a"], end_date="2024-01-01T10:04:00Z", ok=True)
    await end(client, ids["root"], end_date="2024-01-01T10:10:00Z", ok=True)
    return ids


async def test_a_leaf_finds_its_root_and_the_whole_tree_with_pipeline_names(client, db):
    ids = await _tree(client)
    found = await execution_page(db, ids["grandchild"])
    assert found.root_id == ids["root"]
    assert found.run.id == ids["grandchild"] and found.run.pipeline_name == "loader"
    assert found.parent_stored
    nodes = {node.id: node for node in found.tree}
    assert set(nodes) == {ids["root"], ids["child_a"], ids["child_b"], ids["grandchild"]}
    assert [node.depth for node in found.tree] == [0, 1, 1, 2]
    assert nodes[ids["root"]].pipeline_name == "orchestrator"
    assert nodes[ids["grandchild"]].parent_id == ids["child_a"]
    assert nodes[ids["grandchild"]].completed_successfully is False
    assert nodes[ids["child_b"]].end_date is None  # running
    assert (found.tree_size, found.not_shown) == (4, 0)


async def test_a_root_is_its_own_root(client, db):
    ids = await _tree(client)
    found = await execution_page(db, ids["root"])
    assert found.root_id == ids["root"] and not found.parent_stored and len(found.tree) == 4


async def test_a_big_tree_is_capped_near_the_root_and_keeps_the_runs_own_line(client, db):
    pid = await create_pipeline(client, "p")
    root = await start(client, pid, start_date="2024-01-01T10:00:00Z")
    children = [await start(client, pid, parent_id=root, start_date="2024-01-01T10:01:00Z") for _ in range(6)]
    deep = await start(client, pid, parent_id=children[-1], start_date="2024-01-01T10:02:00Z")
    found = await execution_page(db, deep, max_nodes=3)
    ids = [node.id for node in found.tree]
    assert ids[:3] == [root, children[0], children[1]]  # nearest the root first
    assert set(ids) == {root, children[0], children[1], children[-1], deep}  # plus the run's own ancestors
    assert {node.id: node.depth for node in found.tree}[deep] == 2
    assert found.tree_size == 8 and found.not_shown == 3
    assert found.parent_stored


async def test_unknown_and_impossible_ids_are_not_found(client, db):
    for missing in (999, 0, -1, 2**70):
        with pytest.raises(NotFound):
            await execution_page(db, missing)


async def _flagged_run(client, clock) -> tuple[int, int]:
    """A total_rows spike flagged by detection: (pipeline id, execution id)."""
    clock.freeze(ANOMALY_NOW)
    pid = await create_pipeline(client, "<b>p</b>")
    *_, last = await history(client, pid, [20, 22, 24, 26, 28, 500])
    await add_rule(client, pid)
    assert (await detect(client, last))["status"] == "warning"
    return pid, last


async def test_flags_and_anomaly_results_of_the_run(client, db, clock):
    _, execution = await _flagged_run(client, clock)
    found = await execution_page(db, execution)
    assert found.flagged == ["total_rows"]
    [result] = found.anomalies
    assert result.metric_field == "total_rows" and result.violation_value == 500
    assert result.z_score > 2 and result.historical_mean == pytest.approx(24)


async def test_the_page_shows_the_run_its_tree_and_links_up(client):
    ids = await _tree(client)
    html = (await client.get(f"/ui/executions/{ids['grandchild']}")).text
    assert f'id="parent-link" href="/ui/executions/{ids["child_a"]}"' in html
    assert f'id="root-link" href="/ui/executions/{ids["root"]}"' in html
    assert f'href="/ui/pipelines/{ids["loader"]}"' in html
    for run in ("root", "child_a", "child_b", "grandchild"):
        assert html.count(f'href="/ui/executions/{ids[run]}"') >= 2  # a timeline bar and a list item
    assert 'class="run running"' in html and 'class="run failed"' in html and 'class="run succeeded"' in html
    assert f'class="run-row current" data-id="{ids["grandchild"]}"' in html


async def test_the_page_of_an_unknown_run_is_a_404_page(client):
    answer = await client.get("/ui/executions/424242")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert "Pipeline execution 424242 not found" in answer.text


async def test_hostile_names_and_metadata_are_escaped(client):
    hostile = "<script>alert(1)</script>"
    pid = await create_pipeline(client, f'{hostile}"><img src=x onerror=alert(1)>')
    execution = await start(client, pid, watermark=hostile)
    await end(client, execution, end_date="2099-01-01T00:00:00Z", execution_metadata={hostile: "javascript:alert(1)"})
    html = (await client.get(f"/ui/executions/{execution}")).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html


async def test_clearing_a_flag_from_the_page_unflags_the_run(client, clock):
    pid, execution = await _flagged_run(client, clock)
    html = (await client.get(f"/ui/executions/{execution}")).text
    assert f'action="/ui/executions/{execution}/unflag"' in html and "Clear flag" in html
    csrf = CSRF.search(html).group(1)
    answer = await client.post(f"/ui/executions/{execution}/unflag", data={"csrf": csrf, "metric": "total_rows", "pipeline_id": str(pid)})
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/executions/{execution}?done=unflagged"
    after = (await client.get(answer.headers["location"])).text
    assert "Anomaly flag cleared." in after and "Clear flag" not in after and "cleared</span>" in after
    assert (await client.get(f"/pipeline_execution/{execution}")).json()["anomaly_flags"] == {"total_rows": False}
    assert (await client.get("/anomaly_detection_result")).json() == []


async def test_a_huge_tree_stays_a_small_page_and_says_how_many_runs_are_not_shown(client):
    pid = await create_pipeline(client, "x" * 150)
    root = await start(client, pid, start_date="2024-01-01T10:00:00Z")
    for _ in range(MAX_TREE_NODES + 20):
        await start(client, pid, parent_id=root, start_date="2024-01-01T10:01:00Z")
    answer = await client.get(f"/ui/executions/{root}")
    assert answer.status_code == 200
    assert answer.text.count('class="run-row') == MAX_TREE_NODES
    assert re.search(r'id="tree-not-shown">21 more not shown', answer.text)
    assert len(answer.content) < 300_000, len(answer.content)
