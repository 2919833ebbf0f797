"""Inputs that once produced 500s: every one must be a clear 4xx, on both backends."""

import asyncio

import pytest

from ..helpers import create_pipeline, start

RAW = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"name":"w","pipeline_type_name":"e","next_watermark":NaN}',
        '{"name":"w","pipeline_type_name":"e","pipeline_metadata":{"a":NaN,"b":-Infinity}}',
        '{"name":"w","pipeline_type_name":"e","pipeline_metadata":{"a":1E400}}',
        '{"name":"n6","pipeline_metadata":{"a":NaN}}',
        '{"name":"p\\u0000","pipeline_type_name":"e"}',
        '{"name":"p","pipeline_type_name":"e","next_watermark":"a\\u0000b"}',
        '{"name":"p","pipeline_type_name":"e","pipeline_metadata":{"k":"\\u0000"}}',
        '{"name":"p\\ud800","pipeline_type_name":"e"}',
        '{"name":"p","pipeline_type_name":"e","pipeline_metadata":{"\\ud800":1}}',
    ],
)
async def test_non_finite_numbers_nul_and_broken_unicode_are_422(client, raw):
    response = await client.post("/pipeline", content=raw, headers=RAW)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["message"], str)
    assert (await client.get("/pipeline")).json() == []


async def test_infinite_id_is_422(client):
    response = await client.post("/start_pipeline_execution", content='{"pipeline_id":Infinity}', headers=RAW)
    assert response.status_code == 422


async def test_huge_offset_is_422_and_huge_max_depth_means_unlimited(client):
    assert (await client.get("/pipeline", params={"offset": 10**23})).status_code == 422
    pid = await create_pipeline(client)
    root = await start(client, pid)
    child = await start(client, pid, parent_id=root)
    for depth in (2**31, 10**20):
        tree = await client.get(f"/pipeline_execution/{root}", params={"max_depth": depth})
        assert tree.status_code == 200 and [c["id"] for c in tree.json()["child_executions"]] == [child]


async def test_patch_of_an_unknown_id_is_404_even_with_a_taken_name(client):
    await create_pipeline(client, "taken")
    response = await client.patch("/pipeline", json={"id": 999, "name": "taken"})
    assert (response.status_code, response.json()["detail"]) == (404, "Pipeline Not Found")
    await client.post("/address_type", json={"name": "pg", "group_name": "database"})
    response = await client.patch("/address_type", json={"id": 99, "name": "pg"})
    assert (response.status_code, response.json()["detail"]) == (404, "Address Type Not Found")


async def test_nul_in_a_filter_is_422(client):
    await create_pipeline(client, "p")
    assert (await client.get("/pipeline", params={"name_contains": "\x00"})).status_code == 422


async def test_epoch_seconds_work_in_datetime_query_parameters(client):
    pid = await create_pipeline(client)
    await start(client, pid, start_date="2023-11-14T22:13:20Z")
    await start(client, pid, start_date="2023-11-14T22:13:19Z")
    rows = (await client.get("/pipeline_execution", params={"since": "1700000000"})).json()
    assert [r["start_date"] for r in rows] == ["2023-11-14T22:13:20Z"]


async def test_concurrent_lineage_posts_sharing_addresses_in_any_order_all_succeed(client):
    names = [f"db.s.t{i}" for i in range(6)]
    pipelines = [await create_pipeline(client, f"p{i}") for i in range(12)]

    def body(pid, order):
        addresses = [
            {"name": n, "address_type_name": "pg", "address_type_group_name": "database", "address_metadata": {"v": pid}} for n in order
        ]
        return {
            "pipeline_id": pid,
            "source_addresses": addresses,
            "target_addresses": [{"name": f"dw.t.p{pid}", "address_type_name": "pg", "address_type_group_name": "database"}],
        }

    responses = await asyncio.gather(
        *(client.post("/address_lineage", json=body(pid, names if i % 2 else list(reversed(names)))) for i, pid in enumerate(pipelines))
    )
    assert [r.status_code for r in responses] == [201] * 12
