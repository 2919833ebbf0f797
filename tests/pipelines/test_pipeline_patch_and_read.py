"""PATCH /pipeline, GET /pipeline lists and rows, and pipeline types (§5, §6.2-6.4)."""

from ..helpers import create_pipeline

PIPELINE_KEYS = [
    "id", "name", "pipeline_type_id", "watermark", "next_watermark", "pipeline_metadata", "last_target_insert",
    "last_target_update", "last_target_soft_delete", "freshness_number", "freshness_datepart", "mute_freshness_check",
    "timeliness_number", "timeliness_datepart", "mute_timeliness_check", "load_lineage", "active", "input_hash",
    "created_at", "updated_at",
]  # fmt: skip


async def test_user_patch_examples_update_only_given_fields(client):
    await create_pipeline(client, "p")
    before = (await client.get("/pipeline/1")).json()
    for body in [
        {"id": 1, "active": False},
        {"id": 1, "freshness_number": 48, "freshness_datepart": "hour", "timeliness_number": 4, "timeliness_datepart": "hour"},
        {"id": 1, "mute_freshness_check": True, "mute_timeliness_check": True},
        {"id": 1, "next_watermark": "2024-01-02T00:00:00Z"},
    ]:
        response = await client.patch("/pipeline", json=body)
        assert response.status_code == 200, response.text
        assert list(response.json()) == PIPELINE_KEYS
    after = (await client.get("/pipeline/1")).json()
    assert after["active"] is False
    assert (after["freshness_number"], after["timeliness_number"]) == (48, 4)
    assert after["mute_freshness_check"] and after["mute_timeliness_check"]
    assert after["next_watermark"] == "2024-01-02T00:00:00Z"
    assert after["input_hash"] == before["input_hash"]
    assert after["updated_at"] is not None and after["name"] == "p"


async def test_patch_accepts_the_sdk_pipeline_id_alias(client):
    await create_pipeline(client, "p")
    response = await client.patch("/pipeline", json={"pipeline_id": 1, "next_watermark": 42})
    assert response.status_code == 200
    assert response.json()["next_watermark"] == "42"
    clash = await client.patch("/pipeline", json={"id": 1, "pipeline_id": 2, "active": False})
    assert clash.status_code == 422
    assert clash.json()["detail"][0]["msg"] == "Value error, id and pipeline_id must match"


async def test_patch_requires_id_or_name(client):
    response = await client.patch("/pipeline", json={"active": False})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "Value error, Either 'id' or 'name' must be provided"
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_patch_by_name_looks_up_and_by_id_renames(client):
    await create_pipeline(client, "first")
    await create_pipeline(client, "second")
    by_name = await client.patch("/pipeline", json={"name": " FIRST ", "active": False})
    assert by_name.json()["id"] == 1 and by_name.json()["active"] is False
    renamed = await client.patch("/pipeline", json={"id": 1, "name": "Renamed"})
    assert renamed.json()["name"] == "renamed"
    clash = await client.patch("/pipeline", json={"id": 1, "name": "second"})
    assert clash.status_code == 409
    assert clash.json() == {"detail": "Pipeline name already exists", "message": "Pipeline name already exists"}
    same = await client.patch("/pipeline", json={"id": 1, "name": "renamed"})
    assert same.status_code == 200


async def test_patch_unknown_targets_are_404(client):
    await create_pipeline(client, "p")
    for body in [{"id": 99, "active": True}, {"id": 2**40, "active": True}, {"id": 0, "active": True}, {"name": "nope", "active": True}]:
        response = await client.patch("/pipeline", json=body)
        assert response.status_code == 404
        assert response.json()["detail"] == "Pipeline Not Found"
    response = await client.patch("/pipeline", json={"id": 1, "pipeline_type_id": 77})
    assert response.status_code == 404 and response.json()["detail"] == "Pipeline Type Not Found"


async def test_patch_nulls_clear_nullable_fields_and_reject_flags(client):
    await create_pipeline(client, "p", next_watermark="n", pipeline_metadata={"a": 1})
    await client.patch("/pipeline", json={"id": 1, "watermark": "w"})
    cleared = await client.patch("/pipeline", json={"id": 1, "watermark": None, "next_watermark": None, "pipeline_metadata": None})
    assert (cleared.json()["watermark"], cleared.json()["next_watermark"], cleared.json()["pipeline_metadata"]) == (None, None, None)
    for field in ("active", "load_lineage", "mute_freshness_check", "mute_timeliness_check", "name", "pipeline_type_id"):
        response = await client.patch("/pipeline", json={"id": 1, field: None})
        assert response.status_code == 422, field


async def test_patch_does_not_enforce_the_pair_rule_and_moves_type(client):
    await create_pipeline(client, "p", type_name="a")
    await client.post("/pipeline_type", json={"name": "b"})
    response = await client.patch("/pipeline", json={"id": 1, "freshness_number": 5, "pipeline_type_id": 2})
    assert response.status_code == 200
    assert (response.json()["freshness_number"], response.json()["freshness_datepart"], response.json()["pipeline_type_id"]) == (5, None, 2)


async def test_patch_sets_updated_at_even_without_changes(client):
    await create_pipeline(client, "p")
    response = await client.patch("/pipeline", json={"id": 1})
    assert response.status_code == 200 and response.json()["updated_at"] is not None


async def test_get_pipeline_errors(client):
    assert (await client.get("/pipeline/1")).status_code == 404
    assert (await client.get("/pipeline/99999999999999999999")).status_code == 404
    response = await client.get("/pipeline/abc")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["path", "id"]


async def test_pipeline_list_filters_pages_and_orders_by_id(client):
    for name, type_name in [("alpha_1", "x"), ("beta", "y"), ("alpha%2", "x"), ("gamma", "x")]:
        await create_pipeline(client, name, type_name)
    await client.patch("/pipeline", json={"id": 2, "active": False})
    ids = lambda r: [p["id"] for p in r.json()]  # noqa: E731
    assert ids(await client.get("/pipeline")) == [1, 2, 3, 4]
    assert ids(await client.get("/pipeline", params={"order": "DESC"})) == [4, 3, 2, 1]
    assert ids(await client.get("/pipeline", params={"limit": 2, "offset": 1})) == [2, 3]
    assert ids(await client.get("/pipeline", params={"pipeline_type_id": 1})) == [1, 3, 4]
    assert ids(await client.get("/pipeline", params={"active": "no"})) == [2]
    assert ids(await client.get("/pipeline", params={"name_contains": " ALPHA"})) == [1, 3]
    assert ids(await client.get("/pipeline", params={"name_contains": "%"})) == [3]
    assert ids(await client.get("/pipeline", params={"name_contains": "_"})) == [1]
    assert ids(await client.get("/pipeline", params={"pipeline_type_id": 2**40})) == []
    for bad in [{"limit": 0}, {"limit": 10001}, {"offset": -1}, {"order": "sideways"}, {"active": "maybe"}]:
        assert (await client.get("/pipeline", params=bad)).status_code == 422, bad


async def test_pipeline_type_create_or_get_ignores_fields_of_existing(client):
    created = await client.post(
        "/pipeline_type", json={"name": "Audit", "freshness_number": 2, "freshness_datepart": "day", "mute_timeliness_check": "yes"}
    )
    assert (created.status_code, created.json()) == (201, {"id": 1})
    again = await client.post("/pipeline_type", json={"name": " audit", "freshness_number": 9})
    assert (again.status_code, again.json()) == (200, {"id": 1})
    row = (await client.get("/pipeline_type/1")).json()
    assert row == {
        "id": 1, "name": "audit", "freshness_number": 2, "freshness_datepart": "day", "mute_freshness_check": False,
        "timeliness_number": None, "timeliness_datepart": None, "mute_timeliness_check": True,
        "created_at": row["created_at"], "updated_at": None,
    }  # fmt: skip
    assert (await client.post("/pipeline_type", json={"name": "half", "freshness_number": 3})).status_code == 201


async def test_pipeline_type_patch_rename_clear_and_errors(client):
    await client.post("/pipeline_type", json={"name": "a", "freshness_number": 1, "freshness_datepart": "hour"})
    await client.post("/pipeline_type", json={"name": "b"})
    patched = await client.patch("/pipeline_type", json={"id": 1, "name": "A2", "freshness_number": None})
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["freshness_number"], patched.json()["freshness_datepart"]) == ("a2", None, "hour")
    assert patched.json()["updated_at"] is not None
    by_name = await client.patch("/pipeline_type", json={"name": "b", "mute_freshness_check": True})
    assert by_name.json()["id"] == 2 and by_name.json()["mute_freshness_check"] is True
    assert (await client.patch("/pipeline_type", json={"id": 1, "name": "b"})).status_code == 409
    assert (await client.patch("/pipeline_type", json={"id": 9, "name": "z"})).json()["detail"] == "Pipeline Type Not Found"
    assert (await client.patch("/pipeline_type", json={"id": 1, "mute_freshness_check": None})).status_code == 422
    assert (await client.patch("/pipeline_type", json={"freshness_number": 1})).status_code == 422
    assert (await client.get("/pipeline_type/9")).json() == {"detail": "Pipeline Type Not Found", "message": "Pipeline Type Not Found"}


async def test_pipeline_type_list_filters_by_name(client):
    for name in ("sales_extraction", "marketing_audit", "finance_monitoring"):
        await client.post("/pipeline_type", json={"name": name})
    names = [t["name"] for t in (await client.get("/pipeline_type", params={"name_contains": "AUDIT"})).json()]
    assert names == ["marketing_audit"]
