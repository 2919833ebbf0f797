"""POST /address_lineage: pipeline checks, the load_lineage gate, edge replacement and counts (§9.1, §6.4)."""

from sqlalchemy import text

from ..helpers import create_pipeline, end, start
from .support import addr, downstream, lineage_graph, post_lineage, sdk_addr


async def stored_edges(db) -> list[tuple[int, int, int]]:
    async with db.read() as conn:
        rows = await conn.execute(text("SELECT pipeline_id, source_address_id, target_address_id FROM address_lineage ORDER BY 1, 2, 3"))
        return [tuple(r) for r in rows]


async def address_names(client) -> list[str]:
    return [r["name"] for r in (await client.get("/address")).json()]


def lineage_body(pipeline_id, sources, targets) -> dict:
    return {
        "pipeline_id": pipeline_id,
        "source_addresses": sources,
        "target_addresses": targets,
    }


async def test_sdk_request_shape_creates_addresses_types_and_edges(client, db):
    pipeline_id = await create_pipeline(client, "my-etl-pipeline", "extraction")
    body = lineage_body(
        pipeline_id,
        [sdk_addr("source_db.source_schema.source_table", "postgres", "database")],
        [sdk_addr("target_db.target_schema.target_table", "snowflake", "warehouse")],
    )
    response = await client.post("/address_lineage", json=body)
    assert response.status_code == 201
    assert response.json() == {
        "pipeline_id": 1,
        "lineage_relationships_created": 1,
        "message": "lineage relationships created for pipeline 1",
    }
    source, target = (await client.get("/address")).json()
    assert (source["id"], source["name"], source["database_name"], source["schema_name"], source["table_name"]) == (
        1, "source_db.source_schema.source_table", "source_db", "source_schema", "source_table",
    )  # fmt: skip
    assert (target["id"], target["name"], target["database_name"], target["schema_name"], target["table_name"]) == (
        2, "target_db.target_schema.target_table", None, None, None,
    )  # fmt: skip
    assert (source["primary_key"], source["address_metadata"]) == (None, None)
    types = (await client.get("/address_type")).json()
    assert [(t["name"], t["group_name"]) for t in types] == [
        ("postgres", "database"),
        ("snowflake", "warehouse"),
    ]
    assert await stored_edges(db) == [(1, 1, 2)]


async def test_sdk_request_repeated_is_idempotent(client, db):
    pipeline_id = await create_pipeline(client)
    body = lineage_body(
        pipeline_id,
        [sdk_addr("a.b.c", "postgres", "database")],
        [sdk_addr("d.e.f", "snowflake", "database")],
    )
    first = await client.post("/address_lineage", json=body)
    second = await client.post("/address_lineage", json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["lineage_relationships_created"] == 1
    assert await stored_edges(db) == [(1, 1, 2)]
    assert all(r["updated_at"] is None for r in (await client.get("/address")).json())


async def test_unknown_pipeline_is_404_and_writes_nothing(client, db):
    for pipeline_id in (1, 0, -3, 2**40):
        response = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("b")]))
        assert response.status_code == 404, pipeline_id
        assert response.json() == {
            "detail": "Pipeline Not Found",
            "message": "Pipeline Not Found",
        }
    assert await address_names(client) == []
    assert await stored_edges(db) == []


async def test_load_lineage_false_answers_200_and_writes_nothing(client, db):
    pipeline_id = await create_pipeline(client)
    await client.patch("/pipeline", json={"id": pipeline_id, "load_lineage": False})
    response = await client.post(
        "/address_lineage",
        json=lineage_body(pipeline_id, [addr("a")], [addr("b"), addr("c")]),
    )
    assert response.status_code == 200
    assert response.json() == {
        "pipeline_id": 1,
        "lineage_relationships_created": 0,
        "message": "pipeline 1 does not have load_lineage=true. no lineage relationships created.",
    }
    assert await address_names(client) == []
    assert (await client.get("/address_type")).json() == []
    assert await stored_edges(db) == []


async def test_load_lineage_false_keeps_existing_edges_and_addresses_unchanged(client, db):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a", address_metadata={"v": 1})], [addr("b")])
    await client.patch("/pipeline", json={"id": pipeline_id, "load_lineage": False})
    response = await client.post(
        "/address_lineage",
        json=lineage_body(pipeline_id, [addr("a", address_metadata={"v": 2})], [addr("c")]),
    )
    assert response.status_code == 200
    assert await stored_edges(db) == [(1, 1, 2)]
    assert await address_names(client) == ["a", "b"]
    assert (await client.get("/address/1")).json()["address_metadata"] == {"v": 1}


async def test_successful_end_turns_lineage_off_and_patch_re_arms_it(client, db):
    pipeline_id = await create_pipeline(client)
    assert (await post_lineage(client, pipeline_id, [addr("a")], [addr("b")]))["lineage_relationships_created"] == 1
    assert (await client.get(f"/pipeline/{pipeline_id}")).json()["load_lineage"] is True  # the post does not change it
    execution = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    await end(client, execution, ok=True)
    assert (await client.get(f"/pipeline/{pipeline_id}")).json()["load_lineage"] is False
    skipped = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("c")]))
    assert skipped.status_code == 200
    assert skipped.json()["lineage_relationships_created"] == 0
    assert await address_names(client) == ["a", "b"]
    assert await stored_edges(db) == [(1, 1, 2)]

    patched = await client.patch("/pipeline", json={"id": pipeline_id, "load_lineage": True})
    assert patched.status_code == 200 and patched.json()["load_lineage"] is True
    again = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("c")]))
    assert again.status_code == 201
    assert again.json() == {
        "pipeline_id": 1,
        "lineage_relationships_created": 1,
        "message": "lineage relationships created for pipeline 1",
    }
    assert await stored_edges(db) == [(1, 1, 3)]


async def test_failed_end_keeps_lineage_on(client):
    pipeline_id = await create_pipeline(client)
    execution = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    await end(client, execution, ok=False)
    response = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("b")]))
    assert response.status_code == 201


async def test_count_is_the_product_of_the_distinct_sets(client, db):
    pipeline_id = await create_pipeline(client)
    sources = [addr("a"), addr(" A "), addr("b"), addr("a")]
    targets = [addr("x"), addr("y"), addr("Y"), addr("z")]
    result = await post_lineage(client, pipeline_id, sources, targets)
    assert result["lineage_relationships_created"] == 6
    assert await address_names(client) == ["a", "b", "x", "y", "z"]
    assert await stored_edges(db) == [(1, s, t) for s in (1, 2) for t in (3, 4, 5)]


async def test_an_address_in_both_lists_gives_a_self_edge(client, db):
    pipeline_id = await create_pipeline(client)
    result = await post_lineage(client, pipeline_id, [addr("a"), addr("b")], [addr("a")])
    assert result["lineage_relationships_created"] == 2
    assert await stored_edges(db) == [(1, 1, 1), (1, 2, 1)]


async def test_empty_lists_are_allowed_and_create_the_listed_addresses(client, db):
    pipeline_id = await create_pipeline(client)
    only_targets = await client.post("/address_lineage", json=lineage_body(pipeline_id, [], [addr("t1"), addr("t2")]))
    assert only_targets.status_code == 201
    assert only_targets.json() == {
        "pipeline_id": 1,
        "lineage_relationships_created": 0,
        "message": "lineage relationships created for pipeline 1",
    }
    only_sources = await post_lineage(client, pipeline_id, [addr("s1")], [])
    both_empty = await post_lineage(client, pipeline_id, [], [])
    assert only_sources["lineage_relationships_created"] == both_empty["lineage_relationships_created"] == 0
    assert await address_names(client) == ["t1", "t2", "s1"]
    assert await stored_edges(db) == []


async def test_redeclaration_replaces_the_pipelines_edges(client, db):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a")], [addr("b")])
    assert [r["id"] for r in await downstream(client, 1)] == [2]
    await post_lineage(client, pipeline_id, [addr("a")], [addr("c")])
    assert await stored_edges(db) == [(1, 1, 3)]
    assert [r["id"] for r in await downstream(client, 1)] == [3]
    assert (await client.get("/address/2/upstream")).json() == []
    assert await lineage_graph(client, 2) == {"nodes": [], "edges": []}


async def test_redeclaring_with_empty_lists_removes_the_pipelines_edges(client, db):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a")], [addr("b")])
    await post_lineage(client, pipeline_id, [], [])
    assert await stored_edges(db) == []
    assert await downstream(client, 1) == []
    assert await lineage_graph(client, 1) == {"nodes": [], "edges": []}


async def test_two_pipelines_keep_their_own_edge_for_the_same_pair(client, db):
    first = await create_pipeline(client, "p1")
    second = await create_pipeline(client, "p2")
    await post_lineage(client, first, [addr("a")], [addr("b")])
    await post_lineage(client, second, [addr("a")], [addr("b")])
    assert await stored_edges(db) == [(1, 1, 2), (2, 1, 2)]
    graph = await lineage_graph(client, 1)
    assert [
        (
            e["source_address_id"],
            e["target_address_id"],
            e["pipeline_id"],
            e["pipeline_name"],
        )
        for e in graph["edges"]
    ] == [
        (1, 2, 1, "p1"),
        (1, 2, 2, "p2"),
    ]
    assert [n["id"] for n in graph["nodes"]] == [1, 2]
    assert await downstream(client, 1) == [
        {
            "id": 2,
            "name": "b",
            "address_type_id": 1,
            "address_type_name": "s3",
            "address_type_group_name": "file",
            "depth": 1,
            "lineage_path": [1, 2],
        }
    ]


async def test_replacing_one_pipelines_lineage_leaves_the_others(client, db):
    first = await create_pipeline(client, "p1")
    second = await create_pipeline(client, "p2")
    await post_lineage(client, first, [addr("a")], [addr("b")])
    await post_lineage(client, second, [addr("a")], [addr("b")])
    await post_lineage(client, first, [addr("a")], [addr("c")])
    assert await stored_edges(db) == [(1, 1, 3), (2, 1, 2)]
    assert [(r["id"], r["depth"]) for r in await downstream(client, 1)] == [
        (2, 1),
        (3, 1),
    ]
    graph = await lineage_graph(client, 1)
    assert [(e["source_address_id"], e["target_address_id"], e["pipeline_id"]) for e in graph["edges"]] == [(1, 2, 2), (1, 3, 1)]


async def test_address_objects_are_normalised_and_parsed_like_post_address(client):
    pipeline_id = await create_pipeline(client)
    source = {
        "name": " Prod.Sales.Orders ",
        "address_type_name": " Postgres ",
        "address_type_group_name": "DATABASE",
        "primary_key": " ID ",
    }
    await post_lineage(client, pipeline_id, [source], [addr(" Report.CSV ", "S3", "File")])
    rows = (await client.get("/address")).json()
    assert [
        (
            r["name"],
            r["database_name"],
            r["schema_name"],
            r["table_name"],
            r["primary_key"],
        )
        for r in rows
    ] == [
        ("prod.sales.orders", "prod", "sales", "orders", "id"),
        ("report.csv", None, None, None, None),
    ]
    again = await client.post("/address", json={**source, "name": "prod.sales.orders"})
    assert (again.status_code, again.json()) == (200, {"id": 1})


async def test_lineage_updates_an_address_whose_hash_changed(client):
    await client.post("/address", json=addr("a", address_metadata={"v": 1}, primary_key="pk"))
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a", address_metadata={"v": 2})], [addr("b")])
    row = (await client.get("/address/1")).json()
    assert (row["address_metadata"], row["primary_key"]) == ({"v": 2}, "pk")
    assert row["updated_at"] is not None


async def test_new_unchanged_changed_and_repeated_addresses_end_as_posting_each_in_order_would(client, db):
    await client.post("/address", json=addr("old"))
    await client.post("/address", json=addr("changed", address_metadata={"v": 1}))
    pipeline_id = await create_pipeline(client)
    sources = [
        addr("new one", "t1", "file"),
        addr("old"),
        addr("changed", "t2", "file", address_metadata={"v": 2}),
        addr("new one", "t1", "file", address_metadata={"v": 3}),
    ]
    result = await post_lineage(client, pipeline_id, sources, [addr("new two", "t3", "file"), addr("old")])
    assert result["lineage_relationships_created"] == 6
    rows = {r["name"]: r for r in (await client.get("/address")).json()}
    assert {name: (r["id"], r["address_type_id"], r["address_metadata"]) for name, r in rows.items()} == {
        "old": (1, 1, None),
        "changed": (2, 3, {"v": 2}),
        "new one": (3, 2, {"v": 3}),
        "new two": (4, 4, None),
    }
    assert [t["name"] for t in (await client.get("/address_type")).json()] == ["s3", "t1", "t2", "t3"]
    assert await stored_edges(db) == [(1, s, t) for s in (1, 2, 3) for t in (1, 4)]
    assert rows["old"]["updated_at"] is None


async def test_an_existing_type_keeps_its_group_inside_lineage(client):
    await client.post("/address_type", json={"name": "s3", "group_name": "file"})
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a", "s3", "lake")], [addr("b", "s3", "lake")])
    assert [(t["name"], t["group_name"]) for t in (await client.get("/address_type")).json()] == [("s3", "file")]


async def test_pipeline_id_is_coerced_like_any_integer(client):
    await create_pipeline(client)
    for pipeline_id in ("1", 1.0):
        response = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("b")]))
        assert response.status_code == 201, pipeline_id
        assert response.json()["pipeline_id"] == 1


async def test_validation_errors_point_inside_the_address_lists(client, db):
    await create_pipeline(client)
    cases = [
        (
            lineage_body(1, [{"address_type_name": "t", "address_type_group_name": "g"}], []),
            ["body", "source_addresses", 0, "name"],
        ),
        (
            lineage_body(1, [addr("a")], [addr("b"), {**addr("c"), "address_type_name": None}]),
            ["body", "target_addresses", 1, "address_type_name"],
        ),
        (
            lineage_body(1, [addr("a"), {**addr("b"), "database_name": "d" * 151}], []),
            ["body", "source_addresses", 1, "database_name"],
        ),
        (
            lineage_body(1, [{**addr("a"), "name": "   "}], []),
            ["body", "source_addresses", 0, "name"],
        ),
        (
            lineage_body(1, [{**addr("a"), "address_metadata": [1]}], []),
            ["body", "source_addresses", 0, "address_metadata"],
        ),
        ({"source_addresses": [], "target_addresses": []}, ["body", "pipeline_id"]),
        ({"pipeline_id": 1, "target_addresses": []}, ["body", "source_addresses"]),
        ({"pipeline_id": 1, "source_addresses": []}, ["body", "target_addresses"]),
        (lineage_body(1, None, []), ["body", "source_addresses"]),
        (lineage_body(1, {"name": "a"}, []), ["body", "source_addresses"]),
        (lineage_body(True, [], []), ["body", "pipeline_id"]),
    ]
    for body, loc in cases:
        response = await client.post("/address_lineage", json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc, body
        assert response.json()["message"] == response.json()["detail"][0]["msg"]
    assert await address_names(client) == []
    assert await stored_edges(db) == []


async def test_non_object_body_is_422(client):
    await create_pipeline(client)
    for raw in ("[1, 2]", "null", '"x"', "{"):
        response = await client.post(
            "/address_lineage",
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422, raw


async def test_pipeline_ids_beyond_any_range_are_not_found(client):
    await create_pipeline(client)
    for pipeline_id in (2**31, 2**63, 10**30):
        response = await client.post("/address_lineage", json=lineage_body(pipeline_id, [], []))
        assert response.status_code == 404, pipeline_id
        assert response.json() == {
            "detail": "Pipeline Not Found",
            "message": "Pipeline Not Found",
        }


async def test_repeated_address_in_one_list_is_applied_in_order(client):
    pipeline_id = await create_pipeline(client)
    result = await post_lineage(
        client,
        pipeline_id,
        [addr("a", address_metadata={"v": 1}), addr("A", address_metadata={"v": 2})],
        [addr("b")],
    )
    assert result["lineage_relationships_created"] == 1
    assert (await client.get("/address/1")).json()["address_metadata"] == {"v": 2}


async def test_unknown_keys_are_ignored_at_every_level(client, db):
    await create_pipeline(client)
    body = lineage_body(
        1,
        [{**addr("a"), "id": 9, "extra": True}],
        [{**addr("b"), "address_type_id": 5}],
    )
    body["load_lineage"] = False
    body["unexpected"] = [1]
    response = await client.post("/address_lineage", json=body)
    assert response.status_code == 201
    assert await stored_edges(db) == [(1, 1, 2)]


async def test_sdk_patch_alias_pipeline_id_re_arms_lineage(client):
    pipeline_id = await create_pipeline(client)
    execution = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    await end(client, execution)
    patched = await client.patch("/pipeline", json={"pipeline_id": pipeline_id, "load_lineage": True})
    assert patched.status_code == 200
    assert (await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("b")]))).status_code == 201


async def test_a_pipeline_sync_does_not_re_arm_lineage(client):
    pipeline_id = await create_pipeline(client, "p", "t")
    execution = await start(client, pipeline_id, start_date="2024-01-01T10:00:00Z")
    await end(client, execution)
    synced = await client.post(
        "/pipeline",
        json={
            "name": "p",
            "pipeline_type_name": "t",
            "pipeline_metadata": {"changed": True},
        },
    )
    assert synced.json()["load_lineage"] is False
    response = await client.post("/address_lineage", json=lineage_body(pipeline_id, [addr("a")], [addr("b")]))
    assert response.status_code == 200 and response.json()["lineage_relationships_created"] == 0
