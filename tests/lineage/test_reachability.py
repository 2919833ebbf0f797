"""GET /address/{id}/downstream and /upstream: shortest depth, smallest path, data-flow order (§9.2-9.3).

The server computes reachability on read, so §9.2's closure rules are checked through these answers.
"""

from ..helpers import create_pipeline
from .support import (
    addr,
    build_graph,
    downstream,
    make_addresses,
    post_lineage,
    reach,
    upstream,
)


async def test_single_edge(client):
    await build_graph(client, 2, [(1, 2)])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2])]
    assert await upstream(client, 2) == [reach(1, 1, [1, 2])]
    assert await downstream(client, 2) == []
    assert await upstream(client, 1) == []


async def test_chain_gives_depth_and_full_path(client):
    await build_graph(client, 3, [(1, 2), (2, 3)])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2]), reach(3, 2, [1, 2, 3])]
    assert await downstream(client, 2) == [reach(3, 1, [2, 3])]
    assert await upstream(client, 3) == [reach(2, 1, [2, 3]), reach(1, 2, [1, 2, 3])]
    assert await upstream(client, 2) == [reach(1, 1, [1, 2])]


async def test_rows_carry_the_address_type(client):
    pipeline_id = await create_pipeline(client)
    await post_lineage(
        client,
        pipeline_id,
        [addr("db.sales.orders", "Postgres", "Database")],
        [addr("dw.sales.orders", "snowflake", "warehouse")],
    )
    assert await downstream(client, 1) == [
        {"id": 2, "name": "dw.sales.orders", "address_type_id": 2, "address_type_name": "snowflake",
         "address_type_group_name": "warehouse", "depth": 1, "lineage_path": [1, 2]},
    ]  # fmt: skip
    assert await upstream(client, 2) == [
        {"id": 1, "name": "db.sales.orders", "address_type_id": 1, "address_type_name": "postgres",
         "address_type_group_name": "database", "depth": 1, "lineage_path": [1, 2]},
    ]  # fmt: skip


async def test_diamond_lists_each_address_once_with_the_smallest_path(client):
    # 1 -> 3 -> 4 and 1 -> 2 -> 4; the edge through 3 is declared first.
    await build_graph(client, 4, [(1, 3), (3, 4), (1, 2), (2, 4)])
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(3, 1, [1, 3]),
        reach(4, 2, [1, 2, 4]),
    ]
    assert await upstream(client, 4) == [
        reach(2, 1, [2, 4]),
        reach(3, 1, [3, 4]),
        reach(1, 2, [1, 2, 4]),
    ]


async def test_the_shortest_route_wins_over_a_longer_one(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 4), (1, 4)])
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(4, 1, [1, 4]),
        reach(3, 2, [1, 2, 3]),
    ]
    assert await upstream(client, 4) == [
        reach(1, 1, [1, 4]),
        reach(3, 1, [3, 4]),
        reach(2, 2, [2, 3, 4]),
    ]


async def test_upstream_paths_are_the_smallest_in_data_flow_order(client):
    # Two shortest routes 1 -> 10: [1,2,9,10] and [1,3,4,10]. Lexicographically (source first) the first
    # is smaller, although walking backwards from 10 would meet 4 before 9.
    await build_graph(client, 10, [(1, 2), (2, 9), (9, 10), (1, 3), (3, 4), (4, 10)])
    assert await upstream(client, 10) == [
        reach(4, 1, [4, 10]),
        reach(9, 1, [9, 10]),
        reach(2, 2, [2, 9, 10]),
        reach(3, 2, [3, 4, 10]),
        reach(1, 3, [1, 2, 9, 10]),
    ]
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(3, 1, [1, 3]),
        reach(4, 2, [1, 3, 4]),
        reach(9, 2, [1, 2, 9]),
        reach(10, 3, [1, 2, 9, 10]),
    ]


async def test_smallest_path_compares_ids_numerically(client):
    # Routes 1 -> 10 -> 12 and 1 -> 9 -> 12: [1,9,12] < [1,10,12] numerically (not as text).
    await build_graph(client, 12, [(1, 10), (10, 12), (1, 9), (9, 12)])
    assert (await downstream(client, 1))[-1] == reach(12, 2, [1, 9, 12])
    assert (await upstream(client, 12))[-1] == reach(1, 2, [1, 9, 12])


async def test_cycle_terminates_and_never_lists_the_address_itself(client):
    await build_graph(client, 3, [(1, 2), (2, 3), (3, 1)])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2]), reach(3, 2, [1, 2, 3])]
    assert await upstream(client, 1) == [reach(3, 1, [3, 1]), reach(2, 2, [2, 3, 1])]
    assert await downstream(client, 3) == [reach(1, 1, [3, 1]), reach(2, 2, [3, 1, 2])]


async def test_two_address_cycle(client):
    await build_graph(client, 2, [(1, 2), (2, 1)])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2])]
    assert await upstream(client, 1) == [reach(2, 1, [2, 1])]


async def test_cycle_with_a_tail(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 2), (3, 4)])
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(3, 2, [1, 2, 3]),
        reach(4, 3, [1, 2, 3, 4]),
    ]
    assert await upstream(client, 2) == [reach(1, 1, [1, 2]), reach(3, 1, [3, 2])]


async def test_self_edge_is_allowed_and_lists_nothing(client):
    await make_addresses(client, 1)
    pipeline_id = await create_pipeline(client)
    result = await post_lineage(client, pipeline_id, [addr("a1")], [addr("a1")])
    assert result["lineage_relationships_created"] == 1
    assert await downstream(client, 1) == []
    assert await upstream(client, 1) == []


async def test_self_edge_next_to_a_real_edge(client):
    await build_graph(client, 2, [(1, 1), (1, 2)])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2])]
    assert await upstream(client, 2) == [reach(1, 1, [1, 2])]
    assert await upstream(client, 1) == []


async def test_fan_out(client):
    await make_addresses(client, 4)
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a1")], [addr("a4"), addr("a2"), addr("a3")])
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(3, 1, [1, 3]),
        reach(4, 1, [1, 4]),
    ]
    for target in (2, 3, 4):
        assert await upstream(client, target) == [reach(1, 1, [1, target])]


async def test_fan_in(client):
    await make_addresses(client, 4)
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a3"), addr("a1"), addr("a2")], [addr("a4")])
    assert await upstream(client, 4) == [
        reach(1, 1, [1, 4]),
        reach(2, 1, [2, 4]),
        reach(3, 1, [3, 4]),
    ]
    assert await downstream(client, 2) == [reach(4, 1, [2, 4])]


async def test_siblings_are_not_reachable(client):
    await build_graph(client, 4, [(1, 3), (2, 3), (3, 4)])
    assert await downstream(client, 2) == [reach(3, 1, [2, 3]), reach(4, 2, [2, 3, 4])]
    assert await upstream(client, 4) == [
        reach(3, 1, [3, 4]),
        reach(1, 2, [1, 3, 4]),
        reach(2, 2, [2, 3, 4]),
    ]


async def test_lineage_spans_pipelines(client):
    await make_addresses(client, 3)
    first = await create_pipeline(client, "extract")
    second = await create_pipeline(client, "transform")
    await post_lineage(client, second, [addr("a2")], [addr("a3")])
    await post_lineage(client, first, [addr("a1")], [addr("a2")])
    assert await downstream(client, 1) == [reach(2, 1, [1, 2]), reach(3, 2, [1, 2, 3])]


async def test_results_order_by_depth_then_id(client):
    # depth 1: 5, 2; depth 2: 4 (via 5), 3 (via 2)
    await build_graph(client, 5, [(1, 5), (1, 2), (5, 4), (2, 3)])
    assert [(r["depth"], r["id"]) for r in await downstream(client, 1)] == [
        (1, 2),
        (1, 5),
        (2, 3),
        (2, 4),
    ]


async def test_max_depth_limits_the_hops(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 4)])
    assert await downstream(client, 1, max_depth=1) == [reach(2, 1, [1, 2])]
    assert await downstream(client, 1, max_depth=2) == [
        reach(2, 1, [1, 2]),
        reach(3, 2, [1, 2, 3]),
    ]
    assert len(await downstream(client, 1, max_depth=3)) == 3
    assert len(await downstream(client, 1, max_depth=100)) == 3
    assert await upstream(client, 4, max_depth=1) == [reach(3, 1, [3, 4])]


async def test_max_depth_keeps_the_shortest_depth_of_a_far_address(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 4), (1, 4)])
    assert await downstream(client, 1, max_depth=1) == [
        reach(2, 1, [1, 2]),
        reach(4, 1, [1, 4]),
    ]


async def test_max_depth_must_be_a_positive_integer(client):
    await build_graph(client, 2, [(1, 2)])
    for direction in ("downstream", "upstream"):
        for value in ("0", "-1", "x", "1.5"):
            response = await client.get(f"/address/1/{direction}", params={"max_depth": value})
            assert response.status_code == 422, (direction, value)
            assert response.json()["detail"][0]["loc"] == ["query", "max_depth"]


async def test_limit_and_offset_page_the_ordered_result(client):
    await build_graph(client, 4, [(1, 2), (2, 3), (3, 4)])
    assert await downstream(client, 1, limit=1) == [reach(2, 1, [1, 2])]
    assert await downstream(client, 1, limit=1, offset=1) == [reach(3, 2, [1, 2, 3])]
    assert await downstream(client, 1, offset=2) == [reach(4, 3, [1, 2, 3, 4])]
    assert await downstream(client, 1, offset=3) == []
    assert await upstream(client, 4, limit=2, offset=1) == [
        reach(2, 2, [2, 3, 4]),
        reach(1, 3, [1, 2, 3, 4]),
    ]
    for params in ({"limit": 0}, {"limit": 10001}, {"offset": -1}):
        assert (await client.get("/address/1/downstream", params=params)).status_code == 422, params


async def test_unknown_address_is_404(client):
    await build_graph(client, 2, [(1, 2)])
    for direction in ("downstream", "upstream"):
        for address_id in (3, 0, -1, 99999999999999999999):
            response = await client.get(f"/address/{address_id}/{direction}")
            assert response.status_code == 404, (direction, address_id)
            assert response.json() == {
                "detail": "Address not found",
                "message": "Address not found",
            }
        assert (await client.get(f"/address/abc/{direction}")).status_code == 422


async def test_an_address_without_lineage_has_nothing_either_way(client):
    await build_graph(client, 3, [(1, 2)])
    assert await downstream(client, 3) == []
    assert await upstream(client, 3) == []


async def test_a_removed_edge_disconnects_the_rest_of_the_chain(client):
    pipelines = await build_graph(client, 3, [(1, 2), (2, 3)])
    await post_lineage(client, pipelines[2], [], [addr("a2")])  # 1 -> 2 is gone
    assert await downstream(client, 1) == []
    assert await upstream(client, 3) == [reach(2, 1, [2, 3])]


async def test_a_new_shortcut_shortens_existing_paths(client):
    pipelines = await build_graph(client, 4, [(1, 2), (2, 3), (3, 4)])
    assert (await downstream(client, 1))[-1] == reach(4, 3, [1, 2, 3, 4])
    await post_lineage(client, pipelines[4], [addr("a3"), addr("a1")], [addr("a4")])
    assert await downstream(client, 1) == [
        reach(2, 1, [1, 2]),
        reach(4, 1, [1, 4]),
        reach(3, 2, [1, 2, 3]),
    ]


async def test_inactive_pipelines_still_carry_lineage(client):
    pipelines = await build_graph(client, 3, [(1, 2), (2, 3)])
    await client.patch("/pipeline", json={"id": pipelines[2], "active": False})
    assert await downstream(client, 1) == [reach(2, 1, [1, 2]), reach(3, 2, [1, 2, 3])]


async def test_long_chain(client):
    count = 30
    await build_graph(client, count, [(i, i + 1) for i in range(1, count)])
    reached = await downstream(client, 1)
    assert [(r["id"], r["depth"]) for r in reached] == [(i, i - 1) for i in range(2, count + 1)]
    assert reached[-1]["lineage_path"] == list(range(1, count + 1))
    assert (await upstream(client, count))[-1] == reach(1, count - 1, list(range(1, count + 1)))
