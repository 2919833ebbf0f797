"""Addresses: create-or-get with automatic types, name parsing, hash sync, reads and PATCH (§8.2-8.3)."""

import asyncio
import hashlib
import json

from sqlalchemy import text

from .support import ADDRESS_KEYS, TIMESTAMP, addr, post_address, without_times


def sha256_of(fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def get_address(client, address_id) -> dict:
    response = await client.get(f"/address/{address_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_answers_201_with_only_the_id_then_200_without_a_write(client):
    body = addr("orders.csv", primary_key="id", address_metadata={"Owner": "BI"})
    created = await client.post("/address", json=body)
    assert (created.status_code, created.json()) == (201, {"id": 1})
    again = await client.post("/address", json=body)
    assert (again.status_code, again.json()) == (200, {"id": 1})
    assert (await get_address(client, 1))["updated_at"] is None


async def test_created_row_holds_the_normalised_fields(client):
    body = {
        "name": " Orders.CSV ",
        "address_type_name": " S3 ",
        "address_type_group_name": " FILE ",
        "database_name": " Raw ",
        "schema_name": "Landing",
        "table_name": "ORDERS",
        "primary_key": " Order_ID ",
        "address_metadata": {"Owner": "BI", "Tags": [" A ", "b"]},
    }
    assert await post_address(client, body, 201) == 1
    row = await get_address(client, 1)
    assert set(row) == ADDRESS_KEYS
    assert without_times(row) == {
        "id": 1,
        "name": "orders.csv",
        "address_type_id": 1,
        "database_name": "raw",
        "schema_name": "landing",
        "table_name": "orders",
        "primary_key": "order_id",
        "address_metadata": {"Owner": "BI", "Tags": [" A ", "b"]},
        "input_hash": row["input_hash"],
    }
    assert row["updated_at"] is None


async def test_names_match_case_and_whitespace_insensitively(client):
    statuses = []
    for name in ("Orders", " orders ", "ORDERS"):
        response = await client.post("/address", json=addr(name, " S3", "File "))
        statuses.append((response.status_code, response.json()))
    assert statuses == [(201, {"id": 1}), (200, {"id": 1}), (200, {"id": 1})]
    assert [r["name"] for r in (await client.get("/address")).json()] == ["orders"]


async def test_a_get_consumes_no_id(client):
    for _ in range(3):
        await post_address(client, addr("x"))
    assert await post_address(client, addr("y"), 201) == 2


async def test_the_type_is_created_on_the_fly(client):
    await post_address(client, addr("db.sales.orders", " Postgres ", " DataBase "))
    types = (await client.get("/address_type")).json()
    assert [(t["id"], t["name"], t["group_name"]) for t in types] == [(1, "postgres", "database")]
    assert (await get_address(client, 1))["address_type_id"] == 1


async def test_an_existing_type_keeps_its_group(client):
    await client.post("/address_type", json={"name": "s3", "group_name": "file"})
    await post_address(client, addr("bucket/key", "S3", "something else"), 201)
    types = (await client.get("/address_type")).json()
    assert [(t["id"], t["name"], t["group_name"]) for t in types] == [(1, "s3", "file")]
    assert (await get_address(client, 1))["address_type_id"] == 1


async def test_database_names_with_three_parts_are_parsed_and_override_sent_parts(
    client,
):
    body = addr(
        " Prod.Sales.Orders ",
        "postgres",
        "Database",
        database_name="x",
        schema_name="y",
        table_name="z",
        primary_key="id",
    )
    await post_address(client, body, 201)
    row = await get_address(client, 1)
    assert (row["name"], row["database_name"], row["schema_name"], row["table_name"], row["primary_key"]) == (
        "prod.sales.orders", "prod", "sales", "orders", "id",
    )  # fmt: skip


async def test_database_name_parsing_fills_parts_that_were_not_sent(client):
    await post_address(client, addr("dw.core.customers", "snowflake", "database"), 201)
    row = await get_address(client, 1)
    assert (row["database_name"], row["schema_name"], row["table_name"]) == (
        "dw",
        "core",
        "customers",
    )


async def test_names_that_are_not_exactly_three_non_empty_parts_keep_the_sent_values(
    client,
):
    names = ["a.b", "a..c", ".b.c", "a.b.", "a.b.c.d", "abc"]
    for index, name in enumerate(names, start=1):
        await post_address(
            client,
            addr(name, "postgres", "database", database_name="sent_db", schema_name=None),
            201,
        )
        row = await get_address(client, index)
        assert (row["database_name"], row["schema_name"], row["table_name"]) == (
            "sent_db",
            None,
            None,
        ), name


async def test_other_groups_are_never_parsed(client):
    await post_address(client, addr("a.b.c", "s3", "file", schema_name="kept"), 201)
    await post_address(client, addr("d.e.f", "snowflake", "warehouse"), 201)
    first, second = await get_address(client, 1), await get_address(client, 2)
    assert (first["database_name"], first["schema_name"], first["table_name"]) == (
        None,
        "kept",
        None,
    )
    assert (second["database_name"], second["schema_name"], second["table_name"]) == (
        None,
        None,
        None,
    )


async def test_parsing_follows_the_sent_group_not_the_existing_types_group(client):
    # §8.2 parses "when the normalised address_type_group_name is database" (the request field).
    await client.post("/address_type", json={"name": "pg", "group_name": "file"})
    await post_address(client, addr("a.b.c", "pg", "database"), 201)
    row = await get_address(client, 1)
    assert (row["database_name"], row["schema_name"], row["table_name"]) == (
        "a",
        "b",
        "c",
    )
    assert (await client.get("/address_type/1")).json()["group_name"] == "file"


async def test_input_hash_is_sha256_of_every_present_field_after_normalisation(client):
    await post_address(
        client,
        {
            **addr(" F1 ", " S3 ", "File"),
            "schema_name": None,
            "primary_key": " ID ",
            "address_metadata": {"B": 1, "a": [2]},
        },
    )
    expected = sha256_of(
        {
            "name": "f1",
            "address_type_name": "s3",
            "address_type_group_name": "file",
            "schema_name": None,
            "primary_key": "id",
            "address_metadata": {"B": 1, "a": [2]},
        }
    )
    assert (await get_address(client, 1))["input_hash"] == expected


async def test_equivalent_body_is_not_a_change(client):
    await post_address(client, addr("f1", "s3", "file", primary_key="id"))
    same = await client.post("/address", json=addr(" F1", "S3 ", " FILE", primary_key=" ID"))
    assert (same.status_code, same.json()) == (200, {"id": 1})
    assert (await get_address(client, 1))["updated_at"] is None


async def test_hash_change_writes_present_fields_keeps_absent_and_clears_nulls(client):
    await post_address(
        client,
        addr(
            "f1",
            "s3",
            "file",
            database_name="d",
            schema_name="s",
            table_name="t",
            primary_key="id",
            address_metadata={"a": 1},
        ),
    )
    before = await get_address(client, 1)
    changed = await client.post(
        "/address",
        json=addr("f1", "s3", "file", schema_name=None, address_metadata={"a": 2}),
    )
    assert (changed.status_code, changed.json()) == (200, {"id": 1})
    row = await get_address(client, 1)
    assert without_times(row) == {
        "id": 1,
        "name": "f1",
        "address_type_id": 1,
        "database_name": "d",
        "schema_name": None,
        "table_name": "t",
        "primary_key": "id",
        "address_metadata": {"a": 2},
        "input_hash": sha256_of(
            {
                "name": "f1",
                "address_type_name": "s3",
                "address_type_group_name": "file",
                "schema_name": None,
                "address_metadata": {"a": 2},
            }
        ),
    }
    assert row["input_hash"] != before["input_hash"]
    assert row["created_at"] == before["created_at"]
    assert TIMESTAMP.match(row["updated_at"])


async def test_a_key_sent_as_null_differs_from_an_absent_key(client):
    await post_address(client, addr("f1"))
    response = await client.post("/address", json=addr("f1", primary_key=None))
    assert response.status_code == 200
    assert (await get_address(client, 1))["updated_at"] is not None


async def test_hash_change_moves_the_address_to_a_new_type(client):
    await post_address(client, addr("f1", "s3", "file"))
    await post_address(client, addr("f1", "GCS", "file"), 200)
    assert [(t["id"], t["name"]) for t in (await client.get("/address_type")).json()] == [(1, "s3"), (2, "gcs")]
    assert (await get_address(client, 1))["address_type_id"] == 2


async def test_unchanged_hash_keeps_values_set_by_patch(client):
    body = addr("a.b.c", "postgres", "database")
    await post_address(client, body)
    patched = (await client.patch("/address", json={"id": 1, "database_name": "zzz"})).json()
    again = await client.post("/address", json=body)
    assert (again.status_code, again.json()) == (200, {"id": 1})
    row = await get_address(client, 1)
    assert row["database_name"] == "zzz"
    assert row["updated_at"] == patched["updated_at"]


async def test_hash_change_parses_the_name_again(client):
    await post_address(client, addr("a.b.c", "postgres", "database"))
    await client.patch("/address", json={"id": 1, "database_name": "zzz", "table_name": None})
    await post_address(client, addr("a.b.c", "postgres", "database", address_metadata={"v": 2}), 200)
    row = await get_address(client, 1)
    assert (
        row["database_name"],
        row["schema_name"],
        row["table_name"],
        row["address_metadata"],
    ) == ("a", "b", "c", {"v": 2})


async def test_parts_accept_150_characters_after_trimming(client):
    part = "p" * 150
    body = addr(
        "n" * 150,
        database_name=part,
        schema_name=f"  {part} ",
        table_name=part,
        primary_key=part,
    )
    await post_address(client, body, 201)
    row = await get_address(client, 1)
    assert (
        row["name"],
        row["database_name"],
        row["schema_name"],
        row["table_name"],
        row["primary_key"],
    ) == ("n" * 150, part, part, part, part)


async def test_parts_longer_than_150_characters_are_422(client):
    for field in (
        "database_name",
        "schema_name",
        "table_name",
        "primary_key",
        "name",
        "address_type_name",
        "address_type_group_name",
    ):
        response = await client.post("/address", json={**addr("n"), field: "x" * 151})
        assert response.status_code == 422, field
        assert response.json()["detail"][0]["loc"] == ["body", field]
    assert (await client.get("/address")).json() == []


async def test_create_validation(client):
    cases = [
        ({"address_type_name": "t", "address_type_group_name": "g"}, ["body", "name"]),
        ({"name": "n", "address_type_group_name": "g"}, ["body", "address_type_name"]),
        ({"name": "n", "address_type_name": "t"}, ["body", "address_type_group_name"]),
        ({**addr("n"), "name": "   "}, ["body", "name"]),
        ({**addr("n"), "name": None}, ["body", "name"]),
        ({**addr("n"), "address_type_name": None}, ["body", "address_type_name"]),
        (
            {**addr("n"), "address_type_group_name": ""},
            ["body", "address_type_group_name"],
        ),
        ({**addr("n"), "database_name": 5}, ["body", "database_name"]),
        ({**addr("n"), "address_metadata": [1, 2]}, ["body", "address_metadata"]),
        ({**addr("n"), "address_metadata": "text"}, ["body", "address_metadata"]),
    ]
    for body, loc in cases:
        response = await client.post("/address", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc, body
    assert (await client.get("/address")).json() == []
    assert (await client.get("/address_type")).json() == []


async def test_unknown_address_is_404_and_a_non_integer_id_is_422(client):
    for path in (
        "/address/1",
        "/address/0",
        "/address/-1",
        "/address/99999999999999999999",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {
            "detail": "Address not found",
            "message": "Address not found",
        }
    response = await client.get("/address/abc")
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == [
        "path",
        "id",
    ]


async def test_list_filters_by_address_type_id(client):
    await post_address(client, addr("a", "s3", "file"))
    await post_address(client, addr("b", "gcs", "file"))
    await post_address(client, addr("c", "s3", "file"))
    rows = (await client.get("/address", params={"address_type_id": 1})).json()
    assert [r["name"] for r in rows] == ["a", "c"]
    assert all(set(r) == ADDRESS_KEYS for r in rows)
    assert (await client.get("/address", params={"address_type_id": 3})).json() == []


async def test_list_name_contains_is_a_literal_substring(client):
    for name in ("a_b", "axb", "50%off", "50xoff"):
        await post_address(client, addr(name))

    def names(response):
        return [r["name"] for r in response.json()]

    assert names(await client.get("/address", params={"name_contains": "_"})) == ["a_b"]
    assert names(await client.get("/address", params={"name_contains": "%"})) == ["50%off"]
    assert names(await client.get("/address", params={"name_contains": " AX "})) == ["axb"]
    assert names(await client.get("/address", params={"name_contains": "x", "address_type_id": 1})) == ["axb", "50xoff"]


async def test_list_is_ordered_by_id_and_pages(client):
    for name in ("c", "a", "b"):
        await post_address(client, addr(name))

    def ids(response):
        return [r["id"] for r in response.json()]

    assert ids(await client.get("/address")) == [1, 2, 3]
    assert ids(await client.get("/address", params={"order": "desc"})) == [3, 2, 1]
    assert ids(await client.get("/address", params={"limit": 2, "offset": 1})) == [2, 3]
    assert (await client.get("/address", params={"limit": 0})).status_code == 422


async def test_patch_updates_present_fields_only_and_keeps_input_hash(client):
    await post_address(
        client,
        addr(
            "f1",
            "s3",
            "file",
            database_name="d",
            schema_name="s",
            primary_key="id",
            address_metadata={"a": 1},
        ),
    )
    before = await get_address(client, 1)
    response = await client.patch(
        "/address",
        json={
            "id": 1,
            "schema_name": None,
            "table_name": " T ",
            "address_metadata": {"New": True},
        },
    )
    assert response.status_code == 200
    row = response.json()
    assert set(row) == ADDRESS_KEYS
    assert without_times(row) == {
        **without_times(before),
        "schema_name": None,
        "table_name": "t",
        "address_metadata": {"New": True},
    }
    assert row["input_hash"] == before["input_hash"]
    assert TIMESTAMP.match(row["updated_at"])
    assert await get_address(client, 1) == row


async def test_patch_rename_normalises_and_does_not_parse_the_name(client):
    await post_address(client, addr("old", "postgres", "database", database_name="keep"))
    response = await client.patch("/address", json={"id": 1, "name": " New.Name.Here "})
    assert response.status_code == 200
    row = response.json()
    assert (
        row["name"],
        row["database_name"],
        row["schema_name"],
        row["table_name"],
    ) == ("new.name.here", "keep", None, None)


async def test_patch_rename_onto_another_address_is_409(client):
    await post_address(client, addr("a"))
    await post_address(client, addr("b"))
    clash = await client.patch("/address", json={"id": 1, "name": "B"})
    assert clash.status_code == 409
    assert clash.json() == {
        "detail": "Address name already exists",
        "message": "Address name already exists",
    }
    assert (await get_address(client, 1))["name"] == "a"
    assert (await client.patch("/address", json={"id": 1, "name": " A "})).status_code == 200


async def test_patch_by_name_when_no_id(client):
    await post_address(client, addr("orders"))
    response = await client.patch("/address", json={"name": " ORDERS ", "primary_key": "k"})
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["primary_key"]) == (1, "k")


async def test_patch_moves_to_an_existing_type_and_rejects_unknown_types(client):
    await post_address(client, addr("a", "s3", "file"))
    await client.post("/address_type", json={"name": "gcs", "group_name": "file"})
    moved = await client.patch("/address", json={"id": 1, "address_type_id": 2})
    assert moved.status_code == 200 and moved.json()["address_type_id"] == 2
    for type_id in (99, 0, 2**40):
        unknown = await client.patch("/address", json={"id": 1, "address_type_id": type_id})
        assert unknown.status_code == 404, type_id
        assert unknown.json() == {
            "detail": "Address Type Not Found",
            "message": "Address Type Not Found",
        }
    assert (await get_address(client, 1))["address_type_id"] == 2


async def test_patch_unknown_address_is_404(client):
    await post_address(client, addr("a"))
    for body in (
        {"id": 2, "primary_key": "k"},
        {"id": 0, "primary_key": "k"},
        {"name": "nope", "primary_key": "k"},
    ):
        response = await client.patch("/address", json=body)
        assert response.status_code == 404, body
        assert response.json() == {
            "detail": "Address not found",
            "message": "Address not found",
        }


async def test_patch_requires_id_or_name(client):
    await post_address(client, addr("a"))
    response = await client.patch("/address", json={"primary_key": "k"})
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert (error["loc"], error["msg"]) == (
        ["body"],
        "Value error, Either 'id' or 'name' must be provided",
    )


async def test_patch_rejects_nulls_on_non_nullable_fields_and_long_parts(client):
    await post_address(client, addr("a"))
    for body in (
        {"id": 1, "name": None},
        {"id": 1, "address_type_id": None},
        {"id": 1, "database_name": "d" * 151},
        {"id": 1, "address_metadata": [1]},
    ):
        response = await client.patch("/address", json=body)
        assert response.status_code == 422, body
    assert (await get_address(client, 1))["updated_at"] is None


async def test_concurrent_identical_creates_give_one_201_nine_200_and_one_row(client, db):
    body = addr("db.sales.orders", "postgres", "database")
    responses = await asyncio.gather(*[client.post("/address", json=body) for _ in range(10)])
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM address"))).scalar_one() == 1
        assert (await conn.execute(text("SELECT count(*) FROM address_type"))).scalar_one() == 1


async def test_concurrent_creates_of_new_addresses_sharing_a_new_type_make_one_type(client, db):
    responses = await asyncio.gather(*[client.post("/address", json=addr(f"f{i}", "new type", "file")) for i in range(10)])
    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 10
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM address_type"))).scalar_one() == 1
        assert (await conn.execute(text("SELECT count(DISTINCT address_type_id) FROM address"))).scalar_one() == 1


async def test_unknown_keys_are_ignored(client):
    response = await client.post(
        "/address",
        json={**addr("a"), "id": 42, "address_type_id": 7, "surprise": {"x": 1}},
    )
    assert (response.status_code, response.json()) == (201, {"id": 1})
    row = await get_address(client, 1)
    assert row["address_type_id"] == 1
    assert row["input_hash"] == sha256_of({"name": "a", "address_type_name": "s3", "address_type_group_name": "file"})
    patched = await client.patch(
        "/address",
        json={
            "id": 1,
            "input_hash": "x",
            "created_at": "2020-01-01",
            "primary_key": "k",
        },
    )
    assert patched.status_code == 200
    assert (patched.json()["input_hash"], patched.json()["primary_key"]) == (
        row["input_hash"],
        "k",
    )


async def test_patch_null_clears_metadata(client):
    await post_address(client, addr("a", address_metadata={"k": 1}))
    response = await client.patch("/address", json={"id": 1, "address_metadata": None})
    assert response.status_code == 200 and response.json()["address_metadata"] is None


async def test_a_renamed_address_is_found_by_its_new_name(client):
    await post_address(client, addr("old"))
    await client.patch("/address", json={"id": 1, "name": "new"})
    assert await post_address(client, addr("new")) == 1
    assert await post_address(client, addr("old"), 201) == 2


async def test_ids_beyond_any_column_range_are_not_found(client):
    await post_address(client, addr("a"))
    huge = 10**30
    assert (await client.get(f"/address/{huge}")).status_code == 404
    assert (await client.patch("/address", json={"id": huge, "primary_key": "k"})).status_code == 404
    assert (await client.patch("/address", json={"id": 1, "address_type_id": huge})).json() == {
        "detail": "Address Type Not Found", "message": "Address Type Not Found",
    }  # fmt: skip
    assert (await client.get(f"/address_type/{huge}")).status_code == 404
    assert (await client.patch("/address_type", json={"id": huge, "group_name": "g"})).status_code == 404


async def test_an_out_of_range_list_filter_is_never_a_server_error(client):
    await post_address(client, addr("a"))
    response = await client.get("/address", params={"address_type_id": 10**30})
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.json() == []


async def test_input_hash_covers_the_sent_fields_not_the_parsed_parts(client):
    await post_address(client, addr("A.B.C", "PG", "Database", database_name="X"))
    row = await get_address(client, 1)
    assert row["database_name"] == "a"
    assert row["input_hash"] == sha256_of(
        {
            "name": "a.b.c",
            "address_type_name": "pg",
            "address_type_group_name": "database",
            "database_name": "x",
        }
    )
