"""The OpenAPI document lists the error answers each operation really gives, with their bodies (§2.8, §2.10).

The first tests read the document against rules stated independently of openapi_errors.py; the others
provoke the documented statuses and check each answer against the schema the document gives for it.
"""

import httpx
import pytest
from asgi_lifespan import LifespanManager

from tests.helpers import create_pipeline, start
from watcher_server.app import create_app
from watcher_server.openapi_errors import ROUTE_ERRORS
from watcher_server.settings import Settings

ERROR_STATUSES = {"400", "401", "403", "404", "409", "413", "422", "503"}
OPEN = {"/", "/health", "/ready"}  # §2.10: no token ever needed
NO_DATABASE = {"GET /", "GET /health", "POST /lineage-graph/refresh"}
# Unknown ids that are not in the path: in the body (or a query parameter), or found only when run now.
ID_OUTSIDE_PATH = {
    "PATCH /pipeline_type", "PATCH /pipeline", "PATCH /address_type", "PATCH /address", "PATCH /anomaly_detection_rule",
    "POST /start_pipeline_execution", "POST /end_pipeline_execution", "POST /address_lineage",
    "POST /anomaly_detection_rule", "POST /detect_anomalies", "POST /unflag_anomaly", "GET /lineage-graph/",
}  # fmt: skip
WRITER = {"Authorization": "Bearer writer-token"}
READER = {"Authorization": "Bearer reader-token"}


def operations(spec):
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", method.upper(), path, operation


def resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
    return schema


def check_against(spec, schema, value, where="body"):
    """A small JSON Schema check, enough for the error schemas: $ref, type, const, required,
    properties, items, anyOf."""
    schema = resolve(spec, schema)
    if "anyOf" in schema:
        failures = []
        for option in schema["anyOf"]:
            try:
                return check_against(spec, option, value, where)
            except AssertionError as exc:
                failures.append(str(exc))
        raise AssertionError(f"{where}: {value!r} matches no option: {failures}")
    kinds = {"object": dict, "array": list, "string": str, "integer": int}
    if "type" in schema:
        expected = kinds[schema["type"]]
        assert isinstance(value, expected) and not isinstance(value, bool), f"{where}: {value!r} is not {schema['type']}"
    if "const" in schema:
        assert value == schema["const"], f"{where}: {value!r} != {schema['const']!r}"
    if isinstance(value, dict):
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, item in value.items():
            if key in schema.get("properties", {}):
                check_against(spec, schema["properties"][key], item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check_against(spec, schema["items"], item, f"{where}[{index}]")


def assert_documented(spec, response, method, path):
    """The answer's status is documented for the operation, and its body and headers are as documented."""
    documented = spec["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answered {status}, documented only {sorted(documented)}: {response.text}"
    check_against(spec, documented[status]["content"]["application/json"]["schema"], response.json())
    for header in documented[status].get("headers", {}):
        assert header.lower() in response.headers, f"{method} {path} {status} lacks the documented {header} header"
    return response.json()


async def spec_of(client, headers=None):
    response = await client.get("/openapi.json", headers=headers)
    assert response.status_code == 200
    return response.json()


# ---------------------------------------------------------------- the document


async def test_every_operation_has_a_row_in_the_error_table(client):
    spec = await spec_of(client)
    assert {key for key, *_ in operations(spec)} == set(ROUTE_ERRORS)


async def test_operations_list_the_error_statuses_the_rules_give(client):
    spec = await spec_of(client)
    for key, method, path, operation in operations(spec):
        has_body = "requestBody" in operation
        expected = set()
        if path not in OPEN:
            expected |= {"401"} if method == "GET" else {"401", "403"}
        if has_body:
            expected.add("413")  # oversized body
        if has_body or operation.get("parameters"):
            expected.add("422")
        if "{id}" in path or key in ID_OUTSIDE_PATH:
            expected.add("404")
        if method == "PATCH":  # every PATCH can rename (or re-key a rule) onto a taken name
            expected.add("409")
        if key == "POST /end_pipeline_execution":
            expected.add("400")  # end_date <= start_date
        if key == "POST /alerts/{id}/resend":
            expected.add("409")  # no webhook configured
        if key == "POST /api/v1/lineage":
            expected |= {"400", "415"}  # not JSON or bad gzip; an unsupported Content-Encoding
        if key not in NO_DATABASE:
            expected.add("503")
        listed = {status for status in operation["responses"] if not status.startswith("2")}
        assert listed == expected, f"{key}: listed {sorted(listed)}, expected {sorted(expected)}"
        assert "500" not in operation["responses"] and "default" not in operation["responses"], key


async def test_every_error_answer_references_the_error_body_schema(client):
    spec = await spec_of(client)
    schemas = spec["components"]["schemas"]
    assert {"ErrorBody", "ValidationErrorBody", "ValidationErrorItem"} <= set(schemas)
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 shape is not what the API answers
    for key, _method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status not in ERROR_STATUSES:
                continue
            schema = response["content"]["application/json"]["schema"]
            if (key, status) == ("GET /ready", "503"):
                expected = "ReadinessFailure"  # §4: /ready's own body
            else:
                expected = "ValidationErrorBody" if status == "422" else "ErrorBody"
            assert schema == {"$ref": f"#/components/schemas/{expected}"}, (key, status)
            assert response["description"], (key, status)
            if status == "503" and path != "/ready":
                assert response["headers"]["Retry-After"]["schema"] == {"type": "integer"}, key
            if status == "401":
                assert "WWW-Authenticate" in response["headers"], key


async def test_the_error_schemas_describe_detail_and_message(client):
    spec = await spec_of(client)
    error = resolve(spec, {"$ref": "#/components/schemas/ErrorBody"})
    assert set(error["required"]) == {"detail", "message"}
    assert error["properties"]["detail"]["type"] == "string"
    validation = resolve(spec, {"$ref": "#/components/schemas/ValidationErrorBody"})
    item = resolve(spec, validation["properties"]["detail"]["items"])
    assert set(item["required"]) == {"type", "loc", "msg", "input"} and "ctx" in item["properties"]


async def test_the_body_check_rejects_bodies_off_the_documented_schema(client):
    """The check used below can fail: a missing message, a number as detail, an incomplete error item."""
    spec = await spec_of(client)
    error = {"$ref": "#/components/schemas/ErrorBody"}
    validation = {"$ref": "#/components/schemas/ValidationErrorBody"}
    check_against(spec, error, {"detail": "Pipeline Not Found", "message": "Pipeline Not Found"})
    for wrong in ({"detail": "x"}, {"detail": 1, "message": "x"}, []):
        with pytest.raises(AssertionError):
            check_against(spec, error, wrong)
    with pytest.raises(AssertionError):
        check_against(spec, validation, {"detail": [{"type": "missing", "msg": "Field required", "input": {}}], "message": "m"})
    with pytest.raises(AssertionError):
        check_against(spec, validation, {"detail": [{"type": "t", "loc": [1.5], "msg": "m", "input": None}], "message": "m"})


async def test_the_document_is_built_once(app):
    assert app.openapi() is app.openapi()


# ---------------------------------------------------------------- the statuses, provoked


async def test_unknown_ids_get_the_documented_404(client):
    spec = await spec_of(client)
    pipeline_id = await create_pipeline(client)
    cases = [
        ("GET", "/pipeline/999999", None),
        ("GET", "/pipeline_type/999999", None),
        ("GET", "/pipeline_execution/999999", None),
        ("GET", "/pipeline/999999/executions", None),
        ("GET", "/pipeline/999999/lineage", None),
        ("GET", "/address/999999/downstream", None),
        ("GET", "/lineage-graph/?source_address_id=999999", None),
        ("PATCH", "/pipeline", {"id": 999999, "active": False}),
        ("PATCH", "/address", {"name": "nowhere", "address_metadata": {}}),
        ("POST", "/start_pipeline_execution", {"pipeline_id": 999999}),
        ("POST", "/end_pipeline_execution", {"id": 999999, "end_date": "2024-01-01T00:00:00Z", "completed_successfully": True}),
        ("POST", "/address_lineage", {"pipeline_id": 999999, "source_addresses": [], "target_addresses": []}),
        ("POST", "/anomaly_detection_rule", {"pipeline_id": 999999, "metric_field": "inserts"}),
        ("POST", "/detect_anomalies?wait=true", {"pipeline_execution_id": 999999}),
        ("POST", "/unflag_anomaly", {"pipeline_id": pipeline_id, "pipeline_execution_id": 999999, "metric_field": ["inserts"]}),
    ]
    for method, url, body in cases:
        response = await client.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        path = httpx.URL(url).path.replace("999999", "{id}")
        answer = assert_documented(spec, response, method, path)
        assert answer["message"] == answer["detail"]


async def test_taken_names_and_rule_collisions_get_the_documented_409(client):
    spec = await spec_of(client)
    first = await create_pipeline(client, "first")
    await create_pipeline(client, "second")
    rename = await client.patch("/pipeline", json={"id": first, "name": "second"})
    assert rename.status_code == 409
    assert assert_documented(spec, rename, "PATCH", "/pipeline")["detail"] == "Pipeline name already exists"
    type_ids = [(await client.post("/pipeline_type", json={"name": n})).json()["id"] for n in ("a", "b")]
    renamed_type = await client.patch("/pipeline_type", json={"id": type_ids[0], "name": "b"})
    assert renamed_type.status_code == 409
    assert_documented(spec, renamed_type, "PATCH", "/pipeline_type")
    rule_ids = [
        (await client.post("/anomaly_detection_rule", json={"pipeline_id": first, "metric_field": m})).json()["id"]
        for m in ("inserts", "updates")
    ]
    collision = await client.patch("/anomaly_detection_rule", json={"id": rule_ids[0], "metric_field": "updates"})
    assert collision.status_code == 409
    assert_documented(spec, collision, "PATCH", "/anomaly_detection_rule")


async def test_invalid_bodies_and_parameters_get_the_documented_422(client):
    spec = await spec_of(client)
    cases = [
        ("POST", "/pipeline", {"json": {"name": "p", "pipeline_type_name": "t", "freshness_number": "lots"}}),
        ("POST", "/pipeline", {"content": b'{"name": "p",}', "headers": {"content-type": "application/json"}}),
        ("POST", "/freshness", {"json": [1]}),
        ("POST", "/log_cleanup", {"json": {"retention_days": 1}}),
        ("GET", "/pipeline/not-a-number", {}),
        ("GET", "/pipeline?limit=0", {}),
        ("GET", "/pipeline_execution?since=yesterday-ish", {}),
        ("GET", "/lineage-graph/", {}),  # source_address_id is required
        ("GET", "/alerts?kind=nonsense", {}),
    ]
    for method, url, options in cases:
        response = await client.request(method, url, **options)
        assert response.status_code == 422, (method, url, response.text)
        path = "/pipeline/{id}" if url == "/pipeline/not-a-number" else httpx.URL(url).path
        answer = assert_documented(spec, response, method, path)
        assert answer["message"] == answer["detail"][0]["msg"]


async def test_end_before_start_gets_400_and_undecodable_bodies_the_documented_422(client):
    spec = await spec_of(client)
    execution = await start(client, await create_pipeline(client), start_date="2024-01-01T10:00:00Z")
    early = await client.post(
        "/end_pipeline_execution", json={"id": execution, "end_date": "2024-01-01T09:00:00Z", "completed_successfully": True}
    )
    assert early.status_code == 400
    assert assert_documented(spec, early, "POST", "/end_pipeline_execution")["detail"] == "end_date must be greater than start_date"
    json_headers = {"content-type": "application/json"}
    not_utf8 = await client.post("/pipeline_type", content=b'{"name": "\xff"}', headers=json_headers)
    assert not_utf8.status_code == 422
    assert (
        assert_documented(spec, not_utf8, "POST", "/pipeline_type")["message"]
        == "Request body is not valid UTF-8: byte 0xff at position 10"
    )
    deep = b'{"name": "p", "pipeline_type_name": "t", "pipeline_metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    too_deep = await client.post("/pipeline", content=deep, headers=json_headers)
    assert too_deep.status_code == 422
    assert assert_documented(spec, too_deep, "POST", "/pipeline")["message"] == "Request body JSON is nested too deeply to parse"


async def test_oversized_bodies_get_the_documented_413(client):
    spec = await spec_of(client)
    big = b'{"name": "' + b"a" * (1024 * 1024) + b'"}'
    declared = await client.post("/pipeline_type", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413
    assert_documented(spec, declared, "POST", "/pipeline_type")

    async def chunks():
        yield b'{"pipeline_id": 1, "source_addresses": [], "target_addresses": [], "x": "'
        for _ in range(1100):
            yield b"a" * 1024
        yield b'"}'

    streamed = await client.post("/address_lineage", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert_documented(spec, streamed, "POST", "/address_lineage")


@pytest.fixture
async def secured(settings):
    app = create_app(settings.model_copy(update={"api_tokens": "writer-token", "api_read_tokens": "reader-token"}))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        yield http


async def test_missing_tokens_and_read_only_tokens_get_the_documented_401_and_403(secured):
    spec = await spec_of(secured, headers=READER)
    for method, path in (("GET", "/pipeline"), ("POST", "/celery/monitor-queue"), ("GET", "/jobs/status")):
        missing = await secured.request(method, path)
        assert missing.status_code == 401, (method, path)
        assert assert_documented(spec, missing, method, path)["detail"] == "Not authenticated"
        unknown = await secured.request(method, path, headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401
        assert assert_documented(spec, unknown, method, path)["detail"] == "Invalid token"
    for method, path, body in (
        ("POST", "/pipeline", {"name": "p", "pipeline_type_name": "t"}),
        ("PATCH", "/pipeline", {"name": "p", "active": False}),
        ("POST", "/lineage-graph/refresh", None),
    ):
        denied = await secured.request(method, path, json=body, headers=READER)
        assert denied.status_code == 403, (method, path)
        assert_documented(spec, denied, method, path)
        assert (await secured.request(method, path, json=body, headers=WRITER)).status_code in (200, 201)


@pytest.fixture(
    params=["postgresql://postgres@127.0.0.1:1/none", "sqlite:////proc/watcher-cannot-write-here/x.db"],
    ids=["postgresql", "sqlite"],
)
async def unreachable(request):
    app = create_app(Settings(database_url=request.param, scheduler_enabled=False))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        yield http


async def test_an_unreachable_database_gets_the_documented_503_with_retry_after(unreachable):
    spec = await spec_of(unreachable)
    cases = [
        ("POST", "/pipeline", {"name": "p", "pipeline_type_name": "t"}),
        ("GET", "/pipeline/{id}", None),
        ("GET", "/pipeline_execution", None),
        ("POST", "/freshness?wait=true", None),
        ("GET", "/jobs/status", None),
        ("POST", "/celery/monitor-queue", None),
        ("GET", "/metrics", None),
    ]
    for method, url, body in cases:
        response = await unreachable.request(method, url.replace("{id}", "1"), json=body)
        assert response.status_code == 503, (method, url, response.text)
        assert assert_documented(spec, response, method, httpx.URL(url).path)["detail"] == "Service unavailable"
        assert response.headers["retry-after"] == "1"
    ready = await unreachable.get("/ready")
    assert ready.status_code == 503
    assert_documented(spec, ready, "GET", "/ready")


async def test_operations_documenting_no_503_answer_without_a_database(unreachable):
    spec = await spec_of(unreachable)
    for method, path in (("GET", "/"), ("GET", "/health"), ("POST", "/lineage-graph/refresh")):
        assert "503" not in spec["paths"][path][method.lower()]["responses"]
        assert (await unreachable.request(method, path)).status_code == 200, path
