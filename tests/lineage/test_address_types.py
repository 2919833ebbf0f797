"""Address types: create-or-get, normalisation, reads, and PATCH (§8.1, §2.2, §2.8, §2.9, §2.11)."""

import asyncio

from sqlalchemy import text

from .support import TIMESTAMP


async def test_create_answers_201_with_only_the_id_then_200_for_the_same_name(client):
    created = await client.post("/address_type", json={"name": "postgres", "group_name": "database"})
    assert (created.status_code, created.json()) == (201, {"id": 1})
    again = await client.post("/address_type", json={"name": "postgres", "group_name": "database"})
    assert (again.status_code, again.json()) == (200, {"id": 1})


async def test_get_does_not_update_the_group(client):
    await client.post("/address_type", json={"name": "postgres", "group_name": "database"})
    again = await client.post("/address_type", json={"name": "Postgres", "group_name": "warehouse"})
    assert (again.status_code, again.json()) == (200, {"id": 1})
    row = (await client.get("/address_type/1")).json()
    assert (row["group_name"], row["updated_at"]) == ("database", None)


async def test_name_and_group_are_trimmed_lowercased_and_matched_insensitively(client):
    statuses = []
    for name in ("  PostGres ", "postgres", "POSTGRES"):
        response = await client.post("/address_type", json={"name": name, "group_name": " DataBase  "})
        statuses.append((response.status_code, response.json()))
    assert statuses == [(201, {"id": 1}), (200, {"id": 1}), (200, {"id": 1})]
    rows = (await client.get("/address_type")).json()
    assert [(r["name"], r["group_name"]) for r in rows] == [("postgres", "database")]


async def test_a_get_consumes_no_id(client):
    for _ in range(3):
        await client.post("/address_type", json={"name": "a", "group_name": "g"})
    response = await client.post("/address_type", json={"name": "b", "group_name": "g"})
    assert (response.status_code, response.json()) == (201, {"id": 2})


async def test_read_one_returns_the_full_row(client):
    await client.post("/address_type", json={"name": "Snowflake", "group_name": "Warehouse"})
    response = await client.get("/address_type/1")
    assert response.status_code == 200
    row = response.json()
    assert set(row) == {"id", "name", "group_name", "created_at", "updated_at"}
    assert (row["id"], row["name"], row["group_name"], row["updated_at"]) == (
        1,
        "snowflake",
        "warehouse",
        None,
    )
    assert TIMESTAMP.match(row["created_at"])


async def test_create_validates_both_fields(client):
    cases = [
        ({"group_name": "g"}, ["body", "name"]),
        ({"name": "n"}, ["body", "group_name"]),
        ({"name": "   ", "group_name": "g"}, ["body", "name"]),
        ({"name": "n", "group_name": "  "}, ["body", "group_name"]),
        ({"name": "x" * 151, "group_name": "g"}, ["body", "name"]),
        ({"name": "n", "group_name": "g" * 151}, ["body", "group_name"]),
        ({"name": None, "group_name": "g"}, ["body", "name"]),
        ({"name": "n", "group_name": None}, ["body", "group_name"]),
        ({"name": 5, "group_name": "g"}, ["body", "name"]),
    ]
    for body, loc in cases:
        response = await client.post("/address_type", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc, body
        assert response.json()["message"] == response.json()["detail"][0]["msg"]
    assert (await client.get("/address_type")).json() == []


async def test_lengths_apply_after_trimming(client):
    response = await client.post("/address_type", json={"name": "  " + "x" * 150 + "  ", "group_name": " g "})
    assert response.status_code == 201
    assert (await client.get("/address_type/1")).json()["name"] == "x" * 150


async def test_unknown_address_type_is_404_and_a_non_integer_id_is_422(client):
    for path in (
        "/address_type/1",
        "/address_type/0",
        "/address_type/-5",
        "/address_type/99999999999999999999",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {
            "detail": "Address Type Not Found",
            "message": "Address Type Not Found",
        }
    response = await client.get("/address_type/abc")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "id"]


async def test_list_filters_by_group_name(client):
    for name, group in [
        ("postgres", "database"),
        ("s3", "file"),
        ("mysql", "database"),
    ]:
        await client.post("/address_type", json={"name": name, "group_name": group})
    rows = (await client.get("/address_type", params={"group_name": "database"})).json()
    assert [r["name"] for r in rows] == ["postgres", "mysql"]
    assert (await client.get("/address_type", params={"group_name": "nothing"})).json() == []


async def test_list_name_contains_is_a_trimmed_lowercased_literal_substring(client):
    for name in ("a_b", "axb", "50%off", "50xoff", "plain"):
        await client.post("/address_type", json={"name": name, "group_name": "g"})

    def names(rows):
        return [r["name"] for r in rows]

    assert names((await client.get("/address_type", params={"name_contains": "_"})).json()) == ["a_b"]
    assert names((await client.get("/address_type", params={"name_contains": "%"})).json()) == ["50%off"]
    assert names((await client.get("/address_type", params={"name_contains": " A_B "})).json()) == ["a_b"]
    assert names((await client.get("/address_type", params={"name_contains": "0%o"})).json()) == ["50%off"]
    assert names((await client.get("/address_type", params={"name_contains": "x"})).json()) == ["axb", "50xoff"]


async def test_list_filters_combine_with_and(client):
    for name, group in [
        ("pg_main", "database"),
        ("pg_files", "file"),
        ("mysql", "database"),
    ]:
        await client.post("/address_type", json={"name": name, "group_name": group})
    rows = (await client.get("/address_type", params={"group_name": "database", "name_contains": "pg"})).json()
    assert [r["name"] for r in rows] == ["pg_main"]


async def test_list_is_ordered_by_id_and_pages(client):
    for name in ("c", "a", "b"):
        await client.post("/address_type", json={"name": name, "group_name": "g"})
    assert [r["id"] for r in (await client.get("/address_type")).json()] == [1, 2, 3]
    assert [r["id"] for r in (await client.get("/address_type", params={"order": "desc"})).json()] == [3, 2, 1]
    assert [r["id"] for r in (await client.get("/address_type", params={"limit": 1, "offset": 1})).json()] == [2]
    for params in (
        {"limit": 0},
        {"limit": 10001},
        {"offset": -1},
        {"order": "sideways"},
    ):
        assert (await client.get("/address_type", params=params)).status_code == 422, params


async def test_patch_by_id_updates_the_group_and_sets_updated_at(client):
    await client.post("/address_type", json={"name": "s3", "group_name": "file"})
    response = await client.patch("/address_type", json={"id": 1, "group_name": " Object Store "})
    assert response.status_code == 200
    row = response.json()
    assert (row["id"], row["name"], row["group_name"]) == (1, "s3", "object store")
    assert TIMESTAMP.match(row["updated_at"])
    assert (await client.get("/address_type/1")).json() == row


async def test_patch_without_changes_still_sets_updated_at(client):
    await client.post("/address_type", json={"name": "s3", "group_name": "file"})
    response = await client.patch("/address_type", json={"id": 1})
    assert response.status_code == 200
    assert response.json()["updated_at"] is not None
    assert response.json()["group_name"] == "file"


async def test_patch_by_id_with_a_name_renames(client):
    await client.post("/address_type", json={"name": "s3", "group_name": "file"})
    response = await client.patch("/address_type", json={"id": 1, "name": " Amazon S3 "})
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["group_name"]) == (
        "amazon s3",
        "file",
    )
    again = await client.post("/address_type", json={"name": "amazon s3", "group_name": "other"})
    assert (again.status_code, again.json()) == (200, {"id": 1})


async def test_rename_onto_another_types_name_is_409(client):
    await client.post("/address_type", json={"name": "a", "group_name": "g"})
    await client.post("/address_type", json={"name": "b", "group_name": "g"})
    clash = await client.patch("/address_type", json={"id": 1, "name": " B "})
    assert clash.status_code == 409
    assert clash.json() == {
        "detail": "Address type name already exists",
        "message": "Address type name already exists",
    }
    assert (await client.get("/address_type/1")).json()["name"] == "a"
    own = await client.patch("/address_type", json={"id": 1, "name": "A"})
    assert own.status_code == 200 and own.json()["name"] == "a"


async def test_patch_by_name_when_no_id(client):
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    response = await client.patch("/address_type", json={"name": " GCS ", "group_name": "bucket"})
    assert response.status_code == 200
    assert (
        response.json()["id"],
        response.json()["name"],
        response.json()["group_name"],
    ) == (1, "gcs", "bucket")


async def test_patch_with_null_id_looks_up_by_name(client):
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    response = await client.patch("/address_type", json={"id": None, "name": "gcs", "group_name": "bucket"})
    assert response.status_code == 200 and response.json()["group_name"] == "bucket"


async def test_patch_requires_id_or_name(client):
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    for body in ({}, {"group_name": "x"}, {"id": None, "group_name": "x"}):
        response = await client.patch("/address_type", json=body)
        assert response.status_code == 422, body
        error = response.json()["detail"][0]
        assert (error["loc"], error["msg"]) == (
            ["body"],
            "Value error, Either 'id' or 'name' must be provided",
        )
        assert response.json()["message"] == "Value error, Either 'id' or 'name' must be provided"


async def test_patch_unknown_targets_are_404(client):
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    for body in (
        {"id": 2, "group_name": "x"},
        {"id": 0, "group_name": "x"},
        {"id": 2**40, "group_name": "x"},
        {"name": "nope", "group_name": "x"},
    ):
        response = await client.patch("/address_type", json=body)
        assert response.status_code == 404, body
        assert response.json() == {
            "detail": "Address Type Not Found",
            "message": "Address Type Not Found",
        }


async def test_patch_rejects_nulls_and_bad_lengths_on_non_nullable_fields(client):
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    for body in (
        {"id": 1, "group_name": None},
        {"id": 1, "name": None},
        {"id": 1, "group_name": "  "},
        {"id": 1, "name": "n" * 151},
    ):
        response = await client.patch("/address_type", json=body)
        assert response.status_code == 422, body
    assert (await client.get("/address_type/1")).json()["group_name"] == "file"


async def test_concurrent_identical_creates_give_one_201_and_one_row(client, db):
    responses = await asyncio.gather(*[client.post("/address_type", json={"name": "pg", "group_name": "database"}) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM address_type"))).scalar_one() == 1
