"""Health, authentication, body limits, unavailable databases and error bodies (§1, §2.8, §2.10, §4)."""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from watcher_server.app import create_app
from watcher_server.settings import Settings


async def test_health_endpoints(client):
    assert (await client.get("/")).json() == {"status": "ok"}
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "database": "ok"})


async def test_openapi_and_docs_are_served(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/pipeline", "/pipeline_type", "/start_pipeline_execution", "/end_pipeline_execution", "/pipeline_execution/{id}"):
        assert path in spec["paths"], path
    assert "swagger" in (await client.get("/docs")).text.lower()


async def test_unknown_route_and_method_errors_carry_message(client):
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    wrong = await client.delete("/pipeline")
    assert wrong.status_code == 405 and "message" in wrong.json()


async def test_validation_errors_use_fastapi_shape_with_message(client):
    response = await client.post(
        "/pipeline", json={"name": "p", "pipeline_type_name": "t", "freshness_number": "lots", "freshness_datepart": "hour"}
    )
    body = response.json()
    assert response.status_code == 422
    error = body["detail"][0]
    assert set(error) >= {"type", "loc", "msg", "input"}
    assert error["loc"] == ["body", "freshness_number"]
    assert body["message"] == error["msg"]


async def test_form_encoded_body_gets_a_message_naming_the_fix(client):
    response = await client.post("/pipeline", content=b'{"name":"p"}', headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["message"]


async def test_body_without_content_type_is_read_as_json(client):
    response = await client.post("/pipeline", content=b'{"name":"p","pipeline_type_name":"t"}')
    assert response.status_code == 201


async def test_bodies_over_one_mebibyte_are_rejected_with_413(client):
    big = b'{"name":"p","pipeline_type_name":"t","pipeline_metadata":{"x":"' + b"a" * (1024 * 1024) + b'"}}'
    response = await client.post("/pipeline", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "message" in response.json()


@pytest.fixture
async def secured(settings):
    secured_settings = settings.model_copy(update={"api_tokens": "writer-token, second", "api_read_tokens": "reader-token"})
    app = create_app(secured_settings)
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        yield http


async def test_tokens_guard_everything_but_health(secured):
    for path in ("/", "/health", "/ready"):
        assert (await secured.get(path)).status_code == 200
    for path in ("/pipeline", "/openapi.json", "/docs"):
        response = await secured.get(path)
        assert response.status_code == 401, path
        assert response.json()["detail"] == "Not authenticated"
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = await secured.get("/pipeline", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()["detail"]) == (401, "Invalid token")
    basic = await secured.get("/pipeline", headers={"Authorization": "Basic d3JpdGVyLXRva2Vu"})
    assert basic.status_code == 401


async def test_write_and_read_tokens_have_their_scopes(secured):
    body = {"name": "p", "pipeline_type_name": "t"}
    created = await secured.post("/pipeline", json=body, headers={"Authorization": "bearer second"})
    assert created.status_code == 201
    reader = {"Authorization": "Bearer reader-token"}
    assert (await secured.get("/pipeline/1", headers=reader)).status_code == 200
    denied = await secured.post("/pipeline", json=body, headers=reader)
    assert (denied.status_code, denied.json()["detail"]) == (403, "Token does not allow write access")


async def test_open_api_ignores_authorization_headers(client):
    response = await client.post(
        "/pipeline", json={"name": "p", "pipeline_type_name": "t"}, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"}
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@127.0.0.1:1/none", "sqlite:////proc/watcher-cannot-write-here/x.db"],
    ids=["postgresql", "sqlite"],
)
async def test_unreachable_database_answers_503_with_retry_after(url):
    app = create_app(Settings(database_url=url))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        response = await http.post("/pipeline", json={"name": "p", "pipeline_type_name": "t"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json() == {"detail": "Service unavailable", "message": "Service unavailable"}
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable" and ready.json()["database"] == "unreachable"
        assert (await http.get("/health")).status_code == 200


async def test_streamed_bodies_over_the_limit_are_rejected_with_413(client):
    async def chunks():
        yield b'{"name":"p","pipeline_type_name":"t","pipeline_metadata":{"x":"'
        for _ in range(1100):
            yield b"a" * 1024
        yield b'"}}'

    response = await client.post("/pipeline", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "message" in response.json()
    assert (await client.get("/pipeline")).json() == []
