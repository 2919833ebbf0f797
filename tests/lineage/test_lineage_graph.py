"""GET /lineage-graph/, /lineage-graph/addresses and POST /lineage-graph/refresh (§9.4)."""

from ..helpers import create_pipeline
from .support import (
    addr,
    build_graph,
    edge_pairs,
    lineage_graph,
    make_addresses,
    node_ids,
    post_lineage,
)

EDGE_KEYS = [
    "source_address_id", "target_address_id", "depth", "lineage_path", "pipeline_id", "pipeline_name",
    "pipeline_type_name", "pipeline_metadata", "pipeline_active",
]  # fmt: skip


async def test_contract_example_has_the_exact_shape(client):
    pipeline_id = await create_pipeline(client, "Orders Load", "Extraction")
    assert pipeline_id == 1
    await post_lineage(
        client,
        pipeline_id,
        [addr("db.sales.orders", "postgres", "database")],
        [
            addr(
                "dw.sales.orders",
                "snowflake",
                "database",
                address_metadata={"Owner": "BI"},
            )
        ],
    )
    response = await client.get("/lineage-graph/", params={"source_address_id": 1})
    assert response.status_code == 200
    assert response.json() == {
        "nodes": [
            {
                "id": 1,
                "name": "db.sales.orders",
                "address_type_name": "postgres",
                "address_type_group_name": "database",
                "address_metadata": None,
            },
            {
                "id": 2,
                "name": "dw.sales.orders",
                "address_type_name": "snowflake",
                "address_type_group_name": "database",
                "address_metadata": {"Owner": "BI"},
            },
        ],
        "edges": [
            {
                "source_address_id": 1,
                "target_address_id": 2,
                "depth": 1,
                "lineage_path": [1, 2],
                "pipeline_id": 1,
                "pipeline_name": "orders load",
                "pipeline_type_name": "extraction",
                "pipeline_metadata": None,
                "pipeline_active": True,
            }
        ],
    }
    assert await lineage_graph(client, 2) == response.json()


async def test_edges_carry_pipeline_metadata_and_active_flag(client):
    pipeline_id = await create_pipeline(client, "p", "transform", pipeline_metadata={"Team": "Data", "n": [1, 2]})
    await post_lineage(client, pipeline_id, [addr("a")], [addr("b")])
    await client.patch("/pipeline", json={"id": pipeline_id, "active": False})
    (edge,) = (await lineage_graph(client, 1))["edges"]
    assert set(edge) == set(EDGE_KEYS)
    assert (edge["pipeline_name"], edge["pipeline_type_name"], edge["pipeline_metadata"], edge["pipeline_active"]) == (
        "p", "transform", {"Team": "Data", "n": [1, 2]}, False,
    )  # fmt: skip


async def test_graph_includes_upstream_downstream_and_other_inputs_of_downstream_addresses(
    client,
):
    # 1 -> 2 -> 3, 4 -> 3 (another input of a downstream address), 7 -> 4 (two hops away from R),
    # 5 -> 6 (unrelated).
    await build_graph(client, 7, [(1, 2), (2, 3), (4, 3), (7, 4), (5, 6)])
    graph = await lineage_graph(client, 2)
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(1, 2), (2, 3), (4, 3)]
    assert node_ids(graph) == [1, 2, 3, 4]


async def test_graph_from_the_head_of_a_chain_sees_the_whole_chain(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 4)])
    graph = await lineage_graph(client, 1)
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(1, 2), (2, 3), (3, 4)]
    assert node_ids(graph) == [1, 2, 3, 4]
    assert [(e["depth"], e["lineage_path"]) for e in graph["edges"]] == [
        (1, [1, 2]),
        (1, [2, 3]),
        (1, [3, 4]),
    ]


async def test_nodes_carry_their_type_and_metadata_ordered_by_id(client):
    await make_addresses(client, 1)
    await client.post(
        "/address",
        json=addr("x.y.z", "Postgres", "Database", address_metadata={"K": "V"}),
    )
    pipeline_id = await create_pipeline(client)
    await post_lineage(
        client,
        pipeline_id,
        [addr("x.y.z", "Postgres", "Database", address_metadata={"K": "V"})],
        [addr("a1")],
    )
    assert (await lineage_graph(client, 2))["nodes"] == [
        {
            "id": 1,
            "name": "a1",
            "address_type_name": "s3",
            "address_type_group_name": "file",
            "address_metadata": None,
        },
        {
            "id": 2,
            "name": "x.y.z",
            "address_type_name": "postgres",
            "address_type_group_name": "database",
            "address_metadata": {"K": "V"},
        },
    ]


async def test_edges_are_ordered_by_source_target_then_pipeline(client):
    await make_addresses(client, 3)
    third = await create_pipeline(client, "p1")
    second = await create_pipeline(client, "p2")
    first = await create_pipeline(client, "p3")
    await post_lineage(client, first, [addr("a2"), addr("a1")], [addr("a3")])
    await post_lineage(client, second, [addr("a1")], [addr("a3"), addr("a2")])
    await post_lineage(client, third, [addr("a1")], [addr("a3")])
    graph = await lineage_graph(client, 1)
    assert edge_pairs(graph) == [(1, 2, 2), (1, 3, 1), (1, 3, 2), (1, 3, 3), (2, 3, 3)]
    assert node_ids(graph) == [1, 2, 3]
    assert [e["pipeline_name"] for e in graph["edges"]] == [
        "p2",
        "p1",
        "p2",
        "p3",
        "p3",
    ]


async def test_max_depth_bounds_the_reached_set(client):
    await build_graph(client, 5, [(1, 2), (2, 3), (3, 4), (4, 5)])
    graph = await lineage_graph(client, 1, max_depth=1)
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(1, 2), (2, 3)]
    assert node_ids(graph) == [1, 2, 3]
    middle = await lineage_graph(client, 3, max_depth=1)
    assert [(s, t) for s, t, _ in edge_pairs(middle)] == [
        (1, 2),
        (2, 3),
        (3, 4),
        (4, 5),
    ]
    assert node_ids(middle) == [1, 2, 3, 4, 5]
    unbounded = await lineage_graph(client, 5)
    assert len(unbounded["edges"]) == 4


async def test_max_depth_must_be_at_least_one(client):
    await build_graph(client, 2, [(1, 2)])
    for value in ("0", "-2", "a"):
        response = await client.get("/lineage-graph/", params={"source_address_id": 1, "max_depth": value})
        assert response.status_code == 422, value
        assert response.json()["detail"][0]["loc"] == ["query", "max_depth"]


async def test_diamond_and_cycle_graphs_terminate_with_one_row_per_edge(client):
    await build_graph(client, 5, [(1, 2), (1, 3), (2, 4), (3, 4), (4, 5), (5, 1)])
    graph = await lineage_graph(client, 4)
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [
        (1, 2),
        (1, 3),
        (2, 4),
        (3, 4),
        (4, 5),
        (5, 1),
    ]
    assert node_ids(graph) == [1, 2, 3, 4, 5]


async def test_self_edge_appears_in_the_graph(client):
    await make_addresses(client, 2)
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a1")], [addr("a1")])
    graph = await lineage_graph(client, 1)
    assert [(e["source_address_id"], e["target_address_id"], e["pipeline_id"]) for e in graph["edges"]] == [(1, 1, 1)]
    assert node_ids(graph) == [1]
    assert await lineage_graph(client, 2) == {"nodes": [], "edges": []}


async def test_address_without_lineage_gives_an_empty_graph(client):
    await make_addresses(client, 1)
    assert await lineage_graph(client, 1) == {"nodes": [], "edges": []}


async def test_source_address_id_is_required(client):
    for path in ("/lineage-graph/", "/lineage-graph/?"):
        response = await client.get(path)
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"] == ["query", "source_address_id"]
    assert (await client.get("/lineage-graph/", params={"source_address_id": "abc"})).status_code == 422


async def test_unknown_source_address_is_404(client):
    await build_graph(client, 2, [(1, 2)])
    for address_id in (3, 0, -1):
        response = await client.get("/lineage-graph/", params={"source_address_id": address_id})
        assert response.status_code == 404, address_id
        assert response.json() == {
            "detail": "Address not found",
            "message": "Address not found",
        }


async def test_graph_follows_replacement_at_once(client):
    pipelines = await build_graph(client, 3, [(1, 2)])
    await post_lineage(client, pipelines[2], [addr("a3")], [addr("a2")])
    assert await lineage_graph(client, 1) == {"nodes": [], "edges": []}
    assert [(s, t) for s, t, _ in edge_pairs(await lineage_graph(client, 2))] == [(3, 2)]


async def test_addresses_lists_id_and_name_for_every_address(client):
    await build_graph(client, 3, [(1, 2)])
    response = await client.get("/lineage-graph/addresses")
    assert response.status_code == 200
    assert response.json() == [
        {"id": 1, "name": "a1"},
        {"id": 2, "name": "a2"},
        {"id": 3, "name": "a3"},
    ]


async def test_addresses_list_on_an_empty_database_and_paging(client):
    assert (await client.get("/lineage-graph/addresses")).json() == []
    await make_addresses(client, 3)
    assert (await client.get("/lineage-graph/addresses", params={"limit": 1, "offset": 1})).json() == [{"id": 2, "name": "a2"}]
    assert (await client.get("/lineage-graph/addresses", params={"order": "desc"})).json()[0] == {"id": 3, "name": "a3"}
    assert (await client.get("/lineage-graph/addresses", params={"limit": 0})).status_code == 422


async def test_refresh_is_a_successful_no_op(client):
    response = await client.post("/lineage-graph/refresh")
    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "message": "Lineage graph is always current",
    }
    await build_graph(client, 2, [(1, 2)])
    before = await lineage_graph(client, 1)
    assert (await client.post("/lineage-graph/refresh")).json() == {
        "status": "success",
        "message": "Lineage graph is always current",
    }
    assert await lineage_graph(client, 1) == before


async def test_a_huge_source_address_id_is_not_found(client):
    response = await client.get("/lineage-graph/", params={"source_address_id": 10**30})
    assert response.status_code == 404
    assert response.json() == {
        "detail": "Address not found",
        "message": "Address not found",
    }
