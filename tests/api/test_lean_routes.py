"""The routes every pipeline run calls are answered without FastAPI's dependency solving (http.LeanRoute);
any body they do not take at once goes through the FastAPI route and gets its usual answer."""

from __future__ import annotations

import fastapi.routing
import pytest

from tests.helpers import create_pipeline, start


@pytest.fixture
def solved(monkeypatch) -> list[str]:
    """The paths FastAPI solved dependencies for, in order."""
    paths: list[str] = []
    original = fastapi.routing.solve_dependencies

    async def counting(*, request, **kwargs):
        paths.append(request.url.path)
        return await original(request=request, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return paths


async def test_a_pipeline_run_is_answered_without_fastapis_dependency_solving(client, solved):
    pipeline_id = await create_pipeline(client, "lean", next_watermark="7")
    execution_id = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    ended = await client.post(
        "/end_pipeline_execution",
        json={"id": execution_id, "end_date": "2024-01-01T10:05:00Z", "completed_successfully": True, "total_rows": 600},
    )
    assert ended.status_code == 200 and ended.json()["throughput"] == 2.0 and ended.json()["duration_seconds"] == 300
    again = await client.post("/pipeline", json={"name": "lean", "pipeline_type_name": "extraction", "next_watermark": "8"})
    assert again.status_code == 200 and again.json() == {"id": pipeline_id, "active": True, "load_lineage": False, "watermark": "7"}
    assert solved == []


async def test_a_body_it_does_not_take_gets_the_full_routes_answer(client, solved):
    pipeline_id = await create_pipeline(client, "lean")
    refused = await client.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id, "start_date": "yesterday-ish"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "start_date"]
    not_an_object = await client.post("/start_pipeline_execution", json=[pipeline_id])
    assert not_an_object.status_code == 422
    nan = await client.post("/end_pipeline_execution", content=b'{"id": 1, "end_date": NaN, "completed_successfully": true}')
    assert nan.status_code == 422
    assert solved == ["/start_pipeline_execution"] * 2 + ["/end_pipeline_execution"]


async def test_a_body_sent_in_pieces_is_read_whole(client):
    async def pieces():
        yield b'{"name": "in pie'
        yield b'ces", "pipeline_type_name": "t",'
        yield b' "next_watermark": "42"}'

    created = await client.post("/pipeline", content=pieces(), headers={"content-type": "application/json"})
    assert created.status_code == 201, created.text
    assert (await client.get(f"/pipeline/{created.json()['id']}")).json()["next_watermark"] == "42"


async def test_a_domain_error_on_a_lean_route_gets_the_usual_answer(client, solved):
    missing = await client.post("/start_pipeline_execution", json={"pipeline_id": 999})
    assert missing.status_code == 404 and missing.json() == {"detail": "Pipeline Not Found", "message": "Pipeline Not Found"}
    assert solved == []
