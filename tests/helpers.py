"""Small request helpers shared by API tests."""

from __future__ import annotations

import asyncio


async def create_pipeline(client, name="p1", type_name="extraction", **extra) -> int:
    response = await client.post("/pipeline", json={"name": name, "pipeline_type_name": type_name, **extra})
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


async def start(client, pipeline_id, **extra) -> int:
    response = await client.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id, **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def end(client, execution_id, end_date="2024-01-01T10:05:00Z", ok=True, **extra):
    response = await client.post(
        "/end_pipeline_execution",
        json={"id": execution_id, "end_date": end_date, "completed_successfully": ok, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def stale_pipeline(client, name: str) -> int:
    """A pipeline due within an hour whose only load was in January 2025: stale at any later 'now'."""
    pipeline_id = await create_pipeline(client, name, "t", freshness_number=1, freshness_datepart="hour")
    execution = await start(client, pipeline_id, start_date="2025-01-01T00:00:00Z")
    await end(client, execution, end_date="2025-01-01T01:00:00Z", inserts=5)
    return pipeline_id


async def listed(client, path, seconds=10.0, **params) -> list:
    """GET `path` until it lists something; the bound only keeps a run that never happens from hanging the test."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (items := (await client.get(path, params=params)).json()):
        assert loop.time() < deadline, f"nothing listed at {path} within {seconds} s"
        await asyncio.sleep(0.02)
    return items
