"""Nested executions: the closure table, the subtree read, and execution lists (§7.1, §7.3-7.4)."""

import asyncio

from sqlalchemy import text

from ..helpers import create_pipeline, end, start

DIRECT_CHILDREN = """
SELECT pe.*
FROM pipeline_execution pe
JOIN pipeline_execution_closure pec
ON pe.id = pec.child_execution_id
WHERE pec.parent_execution_id = :id
AND pec.depth = 1;
"""
DOWNSTREAM = """
SELECT pe.*
FROM pipeline_execution pe
JOIN pipeline_execution_closure pec
ON pe.id = pec.child_execution_id
WHERE pec.parent_execution_id = :id
AND pec.depth > 0;
"""
UPSTREAM = """
SELECT pe.*
FROM pipeline_execution pe
JOIN pipeline_execution_closure pec
ON pe.id = pec.parent_execution_id
WHERE pec.child_execution_id = :id
AND pec.depth > 0;
"""


async def _tree(client):
    """main(1) -> extract_sales(2) -> part(4); main -> extract_marketing(3); a second root (5)."""
    for name in ("data_processing_main", "extract_sales_data", "extract_marketing_data"):
        await create_pipeline(client, name)
    main = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    sales = await start(client, 2, start_date="2024-01-01T10:00:00Z", parent_id=main)
    marketing = await start(client, 3, start_date="2024-01-01T10:00:00Z", parent_execution_id=main)
    part = await start(client, 2, start_date="2024-01-01T10:01:00Z", parent_id=sales)
    other = await start(client, 1, start_date="2024-01-02T10:00:00Z")
    return main, sales, marketing, part, other


async def _ids(db, sql, execution_id):
    async with db.read() as conn:
        return sorted(row.id for row in (await conn.execute(text(sql), {"id": execution_id})))


async def _closure(db):
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure"))
        return sorted(tuple(r) for r in rows)


async def test_three_level_tree_is_complete_in_the_closure(client, db):
    main, sales, marketing, part, other = await _tree(client)
    assert await _closure(db) == sorted(
        [
            (main, main, 0), (sales, sales, 0), (marketing, marketing, 0), (part, part, 0), (other, other, 0),
            (main, sales, 1), (main, marketing, 1), (sales, part, 1), (main, part, 2),
        ]
    )  # fmt: skip


async def test_users_three_sql_queries_answer_the_hierarchy(client, db):
    main, sales, marketing, part, _ = await _tree(client)
    assert await _ids(db, DIRECT_CHILDREN, main) == [sales, marketing]
    assert await _ids(db, DOWNSTREAM, main) == [sales, marketing, part]
    assert await _ids(db, UPSTREAM, part) == [main, sales]
    assert await _ids(db, UPSTREAM, main) == []


async def test_get_execution_returns_the_whole_subtree(client):
    main, sales, marketing, part, _ = await _tree(client)
    await end(client, sales, end_date="2024-01-01T10:05:00Z", total_rows=10)
    tree = (await client.get(f"/pipeline_execution/{main}")).json()
    assert tree["id"] == main and tree["parent_id"] is None
    assert [c["id"] for c in tree["child_executions"]] == [sales, marketing]
    sales_node = tree["child_executions"][0]
    assert sales_node["duration_seconds"] == 300 and sales_node["parent_id"] == main
    assert [c["id"] for c in sales_node["child_executions"]] == [part]
    assert sales_node["child_executions"][0]["child_executions"] == []
    assert tree["child_executions"][1]["child_executions"] == []
    assert tree["end_date"] is None and tree["throughput"] is None


async def test_max_depth_limits_the_subtree(client):
    main, sales, marketing, part, _ = await _tree(client)
    shallow = (await client.get(f"/pipeline_execution/{main}", params={"max_depth": 1})).json()
    assert [c["id"] for c in shallow["child_executions"]] == [sales, marketing]
    assert all(c["child_executions"] == [] for c in shallow["child_executions"])
    alone = (await client.get(f"/pipeline_execution/{main}", params={"max_depth": 0})).json()
    assert alone["child_executions"] == []
    assert (await client.get(f"/pipeline_execution/{main}", params={"max_depth": -1})).status_code == 422


async def test_get_execution_errors(client):
    assert (await client.get("/pipeline_execution/1")).json() == {
        "detail": "Pipeline execution not found",
        "message": "Pipeline execution not found",
    }
    assert (await client.get("/pipeline_execution/99999999999999999999999")).status_code == 404
    assert (await client.get("/pipeline_execution/x")).status_code == 422


async def test_parent_may_belong_to_another_pipeline_and_be_ended(client):
    await create_pipeline(client, "a")
    await create_pipeline(client, "b")
    parent = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    await end(client, parent)
    child = await start(client, 2, parent_id=parent)
    tree = (await client.get(f"/pipeline_execution/{parent}")).json()
    assert [c["id"] for c in tree["child_executions"]] == [child]


async def test_twenty_concurrent_child_starts_build_a_complete_closure(client, db):
    await create_pipeline(client)
    root = await start(client, 1)
    middle = await start(client, 1, parent_id=root)
    responses = await asyncio.gather(
        *(client.post("/start_pipeline_execution", json={"pipeline_id": 1, "parent_id": middle}) for _ in range(20))
    )
    assert [r.status_code for r in responses] == [201] * 20
    children = sorted(r.json()["id"] for r in responses)
    closure = await _closure(db)
    for child in children:
        assert (child, child, 0) in closure
        assert (middle, child, 1) in closure
        assert (root, child, 2) in closure
    assert len(closure) == 3 + 3 * 20  # root and middle self rows plus their link; three rows per child
    assert await _ids(db, DIRECT_CHILDREN, middle) == children


async def test_execution_list_filters(client):
    main, sales, marketing, part, other = await _tree(client)
    await end(client, sales, end_date="2024-01-01T10:05:00Z")
    await end(client, marketing, end_date="2024-01-01T10:05:00Z", ok=False)

    async def ids(**params):
        response = await client.get("/pipeline_execution", params=params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()]

    assert await ids() == [main, sales, marketing, part, other]
    assert await ids(pipeline_id=2) == [sales, part]
    assert await ids(parent_id=main) == [sales, marketing]
    assert await ids(status="RUNNING") == [main, part, other]
    assert await ids(status="succeeded") == [sales]
    assert await ids(status="failed") == [marketing]
    assert await ids(since="2024-01-01T10:01:00Z") == [part, other]
    assert await ids(until="2024-01-02") == [main, sales, marketing, part]
    assert await ids(order="desc", limit=2) == [other, part]
    assert await ids(pipeline_id=2**40) == []
    assert (await client.get("/pipeline_execution", params={"status": "sleeping"})).status_code == 422
    assert (await client.get("/pipeline_execution", params={"since": "whenever"})).status_code == 422
    rows = (await client.get("/pipeline_execution")).json()
    assert all("child_executions" not in r for r in rows)


async def test_executions_of_one_pipeline(client):
    main, sales, marketing, part, other = await _tree(client)
    response = await client.get("/pipeline/2/executions")
    assert [r["id"] for r in response.json()] == [sales, part]
    assert [r["id"] for r in (await client.get("/pipeline/1/executions", params={"since": "2024-01-02"})).json()] == [other]
    assert (await client.get("/pipeline/9/executions")).json()["detail"] == "Pipeline Not Found"
