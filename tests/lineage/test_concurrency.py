"""Concurrent lineage and address writes (§2.11, §9.1)."""

import asyncio

from sqlalchemy import text

from ..helpers import create_pipeline
from .support import addr, downstream, lineage_graph, sdk_addr, upstream


async def test_ten_pipelines_posting_lineage_at_once_all_succeed(client, db):
    pipeline_ids = [await create_pipeline(client, f"p{i}") for i in range(1, 11)]
    bodies = [
        {
            "pipeline_id": pipeline_id,
            "source_addresses": [
                sdk_addr("shared.raw.events", "postgres", "database"),
                sdk_addr(f"own_src_{pipeline_id}", "s3", "file"),
            ],
            "target_addresses": [sdk_addr(f"target_{pipeline_id}", "s3", "file")],
        }
        for pipeline_id in pipeline_ids
    ]
    responses = await asyncio.gather(*[client.post("/address_lineage", json=body) for body in bodies])
    assert [r.status_code for r in responses] == [201] * 10
    assert [r.json() for r in responses] == [
        {
            "pipeline_id": p,
            "lineage_relationships_created": 2,
            "message": f"lineage relationships created for pipeline {p}",
        }
        for p in pipeline_ids
    ]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM address"))).scalar_one() == 21
        assert (await conn.execute(text("SELECT count(*) FROM address_type"))).scalar_one() == 2
        per_pipeline = await conn.execute(
            text("SELECT pipeline_id, count(*) FROM address_lineage GROUP BY pipeline_id ORDER BY pipeline_id")
        )
        assert [tuple(r) for r in per_pipeline] == [(p, 2) for p in pipeline_ids]
    addresses = {r["name"]: r["id"] for r in (await client.get("/address")).json()}
    shared = addresses["shared.raw.events"]
    reached = await downstream(client, shared)
    assert sorted(r["name"] for r in reached) == sorted(f"target_{p}" for p in pipeline_ids)
    assert all(r["depth"] == 1 for r in reached)
    for pipeline_id in pipeline_ids:
        target = addresses[f"target_{pipeline_id}"]
        assert [r["id"] for r in await upstream(client, target)] == sorted([shared, addresses[f"own_src_{pipeline_id}"]])
    graph = await lineage_graph(client, shared)
    assert sorted(e["pipeline_id"] for e in graph["edges"]) == sorted(pipeline_ids * 2)


async def test_concurrent_chain_links_from_different_pipelines_form_one_chain(client):
    pipeline_ids = [await create_pipeline(client, f"link{i}") for i in range(1, 11)]
    names = [f"n{i:02d}" for i in range(11)]
    for name in names:
        await client.post("/address", json=addr(name))
    responses = await asyncio.gather(
        *[
            client.post(
                "/address_lineage",
                json={
                    "pipeline_id": p,
                    "source_addresses": [addr(names[i])],
                    "target_addresses": [addr(names[i + 1])],
                },
            )
            for i, p in enumerate(pipeline_ids)
        ]
    )
    assert [r.status_code for r in responses] == [201] * 10
    reached = await downstream(client, 1)
    assert [(r["id"], r["depth"]) for r in reached] == [(i, i - 1) for i in range(2, 12)]
    assert reached[-1]["lineage_path"] == list(range(1, 12))


async def test_concurrent_redeclarations_of_one_pipeline_leave_exactly_one_declaration(client, db):
    pipeline_id = await create_pipeline(client)
    for name in ("src", "t0", "t1", "t2", "t3", "t4"):
        await client.post("/address", json=addr(name))
    responses = await asyncio.gather(
        *[
            client.post(
                "/address_lineage",
                json={
                    "pipeline_id": pipeline_id,
                    "source_addresses": [addr("src")],
                    "target_addresses": [addr(f"t{i}")],
                },
            )
            for i in range(5)
        ]
    )
    assert [r.status_code for r in responses] == [201] * 5
    async with db.read() as conn:
        rows = [tuple(r) for r in await conn.execute(text("SELECT pipeline_id, source_address_id FROM address_lineage"))]
    assert rows == [(1, 1)]
    assert len(await downstream(client, 1)) == 1


async def test_ten_identical_address_posts_give_one_201_nine_200_and_one_row(client, db):
    body = sdk_addr("db.sales.orders", "postgres", "database")
    responses = await asyncio.gather(*[client.post("/address", json=body) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1 and set(responses[0].json()) == {"id"}
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM address"))).scalar_one() == 1
        assert (await conn.execute(text("SELECT count(*) FROM address_type"))).scalar_one() == 1
