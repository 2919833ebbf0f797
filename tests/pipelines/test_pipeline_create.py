"""POST /pipeline: create-or-get, configuration sync by hash, and its four-key answer (§6.1)."""

import asyncio
import hashlib
import json

from sqlalchemy import func, select

from watcher_server.pipelines.tables import pipeline, pipeline_type

from ..helpers import create_pipeline, end, start

DOC_EXAMPLE = {
    "name": "daily sales pipeline",
    "pipeline_type_name": "extraction",
    "pipeline_metadata": {"description": "Daily extraction of sales data", "owner": "data-team", "schedule": "0 2 * * *"},
}


async def test_user_example_creates_pipeline_and_type_then_gets_it(client):
    first = await client.post("/pipeline", json=DOC_EXAMPLE)
    assert first.status_code == 201
    assert first.json() == {"id": 1, "active": True, "load_lineage": True, "watermark": None}
    again = await client.post("/pipeline", json=DOC_EXAMPLE)
    assert again.status_code == 200
    assert again.json() == {"id": 1, "active": True, "load_lineage": True, "watermark": None}
    stored = (await client.get("/pipeline/1")).json()
    assert stored["pipeline_metadata"] == DOC_EXAMPLE["pipeline_metadata"]
    assert stored["active"] is True and stored["load_lineage"] is True and stored["updated_at"] is None
    types = (await client.get("/pipeline_type")).json()
    assert [t["name"] for t in types] == ["extraction"]


async def test_configuration_example_stores_every_value(client):
    body = {
        "name": "Customer Data Pipeline",
        "pipeline_type_name": "extraction",
        "next_watermark": "2024-01-01T00:00:00Z",
        "freshness_number": 24,
        "freshness_datepart": "hour",
        "timeliness_number": 2,
        "timeliness_datepart": "hour",
    }
    response = await client.post("/pipeline", json=body)
    assert response.status_code == 201
    stored = (await client.get(f"/pipeline/{response.json()['id']}")).json()
    assert stored["name"] == "customer data pipeline"
    assert stored["next_watermark"] == "2024-01-01T00:00:00Z"
    assert (stored["freshness_number"], stored["freshness_datepart"]) == (24, "hour")
    assert (stored["timeliness_number"], stored["timeliness_datepart"]) == (2, "hour")


async def test_configuration_example_with_its_trailing_comma_names_the_position(client):
    raw = """{
"name": "Customer Data Pipeline",
"pipeline_type_name": "extraction",
"next_watermark": "2024-01-01T00:00:00Z",
"freshness_number": 24,
"freshness_datepart": "hour",
"timeliness_number": 2,
"timeliness_datepart": "hour",
}"""
    response = await client.post("/pipeline", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["type"] == "json_invalid"
    assert body["message"] == "Invalid JSON at line 9, column 1: trailing comma"
    assert (await client.get("/pipeline")).json() == []


async def test_contract_example_reports_watermark_only_when_next_watermark_sent(client):
    created = await client.post("/pipeline", json={"name": "Orders Load", "pipeline_type_name": "Extraction", "next_watermark": 100})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "active": True, "load_lineage": True, "watermark": None}
    stored = (await client.get("/pipeline/1")).json()
    assert (stored["name"], stored["next_watermark"]) == ("orders load", "100")
    assert (await client.get(f"/pipeline_type/{stored['pipeline_type_id']}")).json()["name"] == "extraction"
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    await end(client, execution)
    repeat = await client.post("/pipeline", json={"name": "Orders Load", "pipeline_type_name": "Extraction", "next_watermark": "200"})
    assert repeat.status_code == 200
    assert repeat.json() == {"id": 1, "active": True, "load_lineage": False, "watermark": "100"}
    assert (await client.get("/pipeline/1")).json()["next_watermark"] == "200"
    without = await client.post("/pipeline", json={"name": "Orders Load", "pipeline_type_name": "Extraction"})
    assert without.json()["watermark"] is None


async def test_names_are_trimmed_lowercased_and_matched_insensitively(client):
    ids = [await create_pipeline(client, name, " ETL ") for name in ("P1", " p1 ", "p1")]
    assert ids == [1, 1, 1]
    rows = (await client.get("/pipeline")).json()
    assert [r["name"] for r in rows] == ["p1"]
    assert (await client.get("/pipeline_type/1")).json()["name"] == "etl"


async def test_get_consumes_no_id(client):
    await create_pipeline(client, "a")
    await create_pipeline(client, "a")
    await create_pipeline(client, "a")
    assert await create_pipeline(client, "b") == 2


async def test_unrecognised_and_read_only_keys_are_ignored(client):
    response = await client.post(
        "/pipeline",
        json={
            "name": "p",
            "pipeline_type_name": "t",
            "active": False,
            "load_lineage": False,
            "mute_freshness_check": True,
            "watermark": "w",
            "pipeline_type_group_name": "x",
            "id": 99,
            "surprise": {"nested": True},
        },
    )
    assert response.status_code == 201
    stored = (await client.get("/pipeline/1")).json()
    assert stored["active"] is True and stored["load_lineage"] is True
    assert stored["mute_freshness_check"] is False and stored["watermark"] is None


async def test_input_hash_is_sha256_of_canonical_present_fields(client):
    await client.post(
        "/pipeline",
        json={"name": " P ", "pipeline_type_name": "T", "freshness_number": "3", "freshness_datepart": "Hour", "next_watermark": 5},
    )
    expected = hashlib.sha256(
        json.dumps(
            {"name": "p", "pipeline_type_name": "t", "freshness_number": 3, "freshness_datepart": "hour"},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).hexdigest()
    assert (await client.get("/pipeline/1")).json()["input_hash"] == expected


async def test_equivalent_configuration_is_not_a_change(client):
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", "freshness_number": 3, "freshness_datepart": "hour"})
    same = await client.post(
        "/pipeline", json={"name": "P", "pipeline_type_name": " T", "freshness_number": "3", "freshness_datepart": "HOUR"}
    )
    assert same.status_code == 200
    assert (await client.get("/pipeline/1")).json()["updated_at"] is None


async def test_changed_configuration_overwrites_present_fields_only(client):
    await client.post(
        "/pipeline",
        json={"name": "p", "pipeline_type_name": "t", "pipeline_metadata": {"a": 1}, "freshness_number": 3, "freshness_datepart": "hour"},
    )
    changed = await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "other", "pipeline_metadata": {"a": 2}})
    assert changed.status_code == 200
    stored = (await client.get("/pipeline/1")).json()
    assert stored["pipeline_metadata"] == {"a": 2}
    assert (stored["freshness_number"], stored["freshness_datepart"]) == (3, "hour")  # absent keeps
    assert stored["updated_at"] is not None
    assert (await client.get(f"/pipeline_type/{stored['pipeline_type_id']}")).json()["name"] == "other"


async def test_null_differs_from_absent_and_clears_on_change(client):
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", "pipeline_metadata": {"a": 1}})
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", "pipeline_metadata": None})
    assert (await client.get("/pipeline/1")).json()["pipeline_metadata"] is None


async def test_patch_values_are_sticky_until_the_posted_configuration_changes(client):
    sdk_body = {
        "name": "p",
        "pipeline_type_name": "t",
        "pipeline_metadata": None,
        "freshness_number": None,
        "freshness_datepart": None,
        "timeliness_number": None,
        "timeliness_datepart": None,
    }
    await client.post("/pipeline", json=sdk_body)
    await client.patch("/pipeline", json={"id": 1, "freshness_number": 48, "freshness_datepart": "hour"})
    await client.post("/pipeline", json=sdk_body)
    assert (await client.get("/pipeline/1")).json()["freshness_number"] == 48
    await client.post("/pipeline", json={**sdk_body, "pipeline_metadata": {"owner": "new"}})
    stored = (await client.get("/pipeline/1")).json()
    assert stored["freshness_number"] is None and stored["freshness_datepart"] is None


async def test_next_watermark_alone_does_not_mark_an_update_and_null_never_erases(client):
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", "next_watermark": "a"})
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", "next_watermark": "b"})
    stored = (await client.get("/pipeline/1")).json()
    assert (stored["next_watermark"], stored["updated_at"]) == ("b", None)
    await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "changed", "next_watermark": None})
    stored = (await client.get("/pipeline/1")).json()
    assert stored["next_watermark"] == "b" and stored["updated_at"] is not None


async def test_post_never_touches_flags_or_watermark(client):
    await create_pipeline(client, "p")
    await client.patch("/pipeline", json={"id": 1, "active": False, "load_lineage": False, "mute_timeliness_check": True, "watermark": "w"})
    response = await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "changed", "next_watermark": "n"})
    assert response.json() == {"id": 1, "active": False, "load_lineage": False, "watermark": "w"}
    stored = (await client.get("/pipeline/1")).json()
    assert (stored["active"], stored["load_lineage"], stored["mute_timeliness_check"], stored["watermark"]) == (False, False, True, "w")


async def test_pair_rule_rejects_half_configured_monitoring(client):
    for body, message in [
        ({"freshness_number": 1}, "Both freshness_number and freshness_datepart must be provided together"),
        ({"timeliness_datepart": "hour"}, "Both timeliness_number and timeliness_datepart must be provided together"),
        ({"freshness_number": 1, "freshness_datepart": None}, "Both freshness_number and freshness_datepart must be provided together"),
    ]:
        response = await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t", **body})
        assert response.status_code == 422
        error = response.json()["detail"][0]
        assert error["loc"] == ["body"]
        assert error["msg"] == f"Value error, {message}"


async def test_quarter_is_a_datepart(client):
    response = await client.post(
        "/pipeline", json={"name": "p", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "Quarter"}
    )
    assert response.status_code == 201
    assert (await client.get("/pipeline/1")).json()["freshness_datepart"] == "quarter"


async def test_watermark_inputs_are_stored_as_text(client):
    cases = [(10, "10"), (-3, "-3"), (1.5, "1.5"), (2.0, "2.0"), (1e20, "1e+20"), (True, "true"), ("  Keep ", "  Keep ")]
    for index, (value, text) in enumerate(cases):
        pid = await create_pipeline(client, f"w{index}", next_watermark=value)
        assert (await client.get(f"/pipeline/{pid}")).json()["next_watermark"] == text


async def test_invalid_field_values_get_422_and_store_nothing(client):
    bad_bodies = [
        {"name": "", "pipeline_type_name": "t"},
        {"name": "   ", "pipeline_type_name": "t"},
        {"name": "x" * 151, "pipeline_type_name": "t"},
        {"name": 5, "pipeline_type_name": "t"},
        {"pipeline_type_name": "t"},
        {"name": None, "pipeline_type_name": "t"},
        {"name": "p", "pipeline_type_name": "t", "freshness_number": 0, "freshness_datepart": "hour"},
        {"name": "p", "pipeline_type_name": "t", "freshness_number": True, "freshness_datepart": "hour"},
        {"name": "p", "pipeline_type_name": "t", "freshness_number": 1.5, "freshness_datepart": "hour"},
        {"name": "p", "pipeline_type_name": "t", "freshness_number": 2**31, "freshness_datepart": "hour"},
        {"name": "p", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "fortnight"},
        {"name": "p", "pipeline_type_name": "t", "pipeline_metadata": [1, 2]},
        {"name": "p", "pipeline_type_name": "t", "next_watermark": {"a": 1}},
        {"name": "p", "pipeline_type_name": "t", "next_watermark": "x" * 256},
    ]
    for body in bad_bodies:
        response = await client.post("/pipeline", json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["message"], str)
    assert (await client.get("/pipeline")).json() == []


async def test_lax_scalars_are_coerced(client):
    response = await client.post(
        "/pipeline",
        json={
            "name": "p",
            "pipeline_type_name": "t",
            "freshness_number": "5",
            "freshness_datepart": "day",
            "timeliness_number": 2.0,
            "timeliness_datepart": "hour",
        },
    )
    assert response.status_code == 201
    stored = (await client.get("/pipeline/1")).json()
    assert (stored["freshness_number"], stored["timeliness_number"]) == (5, 2)


async def test_non_object_bodies_are_422(client):
    for raw in ['"x"', "[1,2]", "3", "null"]:
        response = await client.post("/pipeline", content=raw, headers={"content-type": "application/json"})
        assert response.status_code == 422, raw
    missing_type = await client.post("/pipeline", content=b'{"name":"p","pipeline_type_name":"t"}')
    assert missing_type.status_code == 201


async def test_twenty_concurrent_identical_creates_give_one_201_and_one_row(client, db):
    body = {"name": "race", "pipeline_type_name": "race type", "next_watermark": "1"}
    responses = await asyncio.gather(*(client.post("/pipeline", json=body) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert {r.json()["id"] for r in responses} == {1}
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(pipeline))).scalar() == 1
        assert (await conn.execute(select(func.count()).select_from(pipeline_type))).scalar() == 1


async def test_concurrent_creates_sharing_a_new_type_all_succeed(client, db):
    responses = await asyncio.gather(*(client.post("/pipeline", json={"name": f"p{i}", "pipeline_type_name": "shared"}) for i in range(10)))
    assert [r.status_code for r in responses] == [201] * 10
    async with db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(pipeline_type))).scalar() == 1
