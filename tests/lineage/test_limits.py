"""Lineage bounds (issue 10, failure drills): how much one lineage post may write, and how much one graph,
downstream or upstream read may hold (docs/configuration.md, "Lineage limits")."""

import pytest
from sqlalchemy import text

from ..helpers import create_pipeline
from .support import addr, build_graph, edge_pairs, lineage_graph, make_addresses, node_ids, post_lineage, reach

TRUNCATED = "x-watcher-truncated"
COMPLETE_DEPTH = "x-watcher-complete-depth"


async def stored(db) -> tuple[int, list[tuple[int, int, int]]]:
    """(number of addresses, every lineage edge as (pipeline, source, target))."""
    async with db.read() as conn:
        addresses = (await conn.execute(text("SELECT count(*) FROM address"))).scalar()
        edges = await conn.execute(text("SELECT pipeline_id, source_address_id, target_address_id FROM address_lineage ORDER BY 1, 2, 3"))
        return addresses, [tuple(edge) for edge in edges]


async def post(client, pipeline_id, sources, targets):
    return await client.post(
        "/address_lineage", json={"pipeline_id": pipeline_id, "source_addresses": sources, "target_addresses": targets}
    )


def names(prefix, count) -> list[dict]:
    return [addr(f"{prefix}{i}") for i in range(count)]


# ---------------------------------------------------------------- writes


@pytest.mark.settings(lineage_max_addresses_per_side=3)
@pytest.mark.parametrize("side", ["source_addresses", "target_addresses"])
async def test_a_list_longer_than_the_per_side_limit_is_422_naming_the_side_and_writes_nothing(client, db, side):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("old source")], [addr("old target")])
    too_many, one = names("x", 4), [addr("y")]
    response = await post(client, pipeline_id, *((too_many, one) if side == "source_addresses" else (one, too_many)))
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"], error["input"]) == ("too_long", ["body", side], 4)
    assert error["msg"] == (
        f"{side} lists 4 addresses; a lineage post may name at most 3 per side (raise WATCHER_LINEAGE_MAX_ADDRESSES_PER_SIDE to allow more)"
    )
    assert response.json()["message"] == error["msg"]
    assert await stored(db) == (2, [(1, 1, 2)])


@pytest.mark.settings(lineage_max_addresses_per_side=3)
async def test_lists_at_the_per_side_limit_are_written(client, db):
    pipeline_id = await create_pipeline(client)
    result = await post_lineage(client, pipeline_id, names("s", 3), names("t", 3))
    assert result["lineage_relationships_created"] == 9
    assert len((await stored(db))[1]) == 9


@pytest.mark.settings(lineage_max_edges_per_pipeline=6)
async def test_more_distinct_sources_times_targets_than_the_edge_limit_is_422_and_writes_nothing(client, db):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("old source")], [addr("old target")])
    response = await post(client, pipeline_id, names("s", 3), names("t", 3))
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert (error["type"], error["loc"], error["input"]) == ("value_error", ["body"], 9)
    assert error["msg"] == (
        "Value error, 3 sources x 3 targets would give the pipeline 9 lineage edges; a pipeline may have at most 6 "
        "(raise WATCHER_LINEAGE_MAX_EDGES_PER_PIPELINE to allow more)"
    )
    assert response.json()["message"] == error["msg"]
    assert await stored(db) == (2, [(1, 1, 2)])


@pytest.mark.settings(lineage_max_edges_per_pipeline=6)
async def test_the_edge_limit_counts_addresses_after_de_duplication(client, db):
    pipeline_id = await create_pipeline(client)
    sources = [addr("a"), addr(" A "), addr("b"), addr("c"), addr("C")]
    result = await post_lineage(client, pipeline_id, sources, [addr("x"), addr("y"), addr("X")])
    assert result["lineage_relationships_created"] == 6
    assert len((await stored(db))[1]) == 6


@pytest.mark.settings(lineage_max_addresses_per_side=2)
async def test_limits_are_checked_before_the_pipeline_is_looked_up(client, db):
    response = await post(client, 999, names("s", 3), [])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "source_addresses"]
    assert await stored(db) == (0, [])


async def test_the_drills_600_by_600_post_is_refused_by_the_default_limits(client, db):
    pipeline_id = await create_pipeline(client)
    response = await post(client, pipeline_id, names("s", 600), names("t", 600))
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == 360_000
    assert "at most 10000" in response.json()["message"]
    too_long = await post(client, pipeline_id, names("s", 1001), [])
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "source_addresses"]
    assert await stored(db) == (0, [])


# ---------------------------------------------------------------- downstream and upstream

# 1 feeds 2, 3, 4 (depth 1); 2 feeds 12, 13; 3 feeds 5, 6; 4 feeds 7..11 (depth 2): 12 addresses downstream.
TREE = [(1, 2), (1, 3), (1, 4), (2, 12), (2, 13), (3, 5), (3, 6), (4, 7), (4, 8), (4, 9), (4, 10), (4, 11)]
PARENT = {2: 1, 3: 1, 4: 1, 12: 2, 13: 2, 5: 3, 6: 3, 7: 4, 8: 4, 9: 4, 10: 4, 11: 4}
# The first ten in (depth, id) order; 12 and 13 are left out although 2 is the first parent searched.
FIRST_TEN_DOWN = [reach(n, 1, [1, n]) for n in (2, 3, 4)] + [reach(n, 2, [1, PARENT[n], n]) for n in range(5, 12)]
FIRST_TEN_UP = [reach(n, 1, [n, 1]) for n in (2, 3, 4)] + [reach(n, 2, [n, PARENT[n], 1]) for n in range(5, 12)]


async def neighbourhood(client, address_id, direction, **params):
    response = await client.get(f"/address/{address_id}/{direction}", params=params)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_downstream_beyond_the_node_limit_lists_the_first_addresses_by_depth_and_id_and_says_it_was_cut(client):
    await build_graph(client, 13, TREE)
    response = await neighbourhood(client, 1, "downstream")
    assert response.json() == FIRST_TEN_DOWN
    assert (response.headers[TRUNCATED], response.headers[COMPLETE_DEPTH]) == ("true", "1")


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_upstream_beyond_the_node_limit_lists_the_first_addresses_by_depth_and_id_and_says_it_was_cut(client):
    await build_graph(client, 13, [(target, source) for source, target in TREE])
    response = await neighbourhood(client, 1, "upstream")
    assert response.json() == FIRST_TEN_UP
    assert (response.headers[TRUNCATED], response.headers[COMPLETE_DEPTH]) == ("true", "1")


@pytest.mark.settings(lineage_max_graph_nodes=10)
@pytest.mark.parametrize(
    ("direction", "reversed_edges", "expected"), [("downstream", False, FIRST_TEN_DOWN), ("upstream", True, FIRST_TEN_UP)]
)
async def test_pages_run_over_the_cut_list(client, direction, reversed_edges, expected):
    await build_graph(client, 13, [(t, s) for s, t in TREE] if reversed_edges else TREE)
    pages = [(await neighbourhood(client, 1, direction, limit=4, offset=offset)) for offset in (0, 4, 8, 12)]
    assert [row for page in pages for row in page.json()] == expected
    assert [len(page.json()) for page in pages] == [4, 4, 2, 0]
    assert all(page.headers[TRUNCATED] == "true" for page in pages)
    descending = await neighbourhood(client, 1, direction, order="desc", limit=3)
    assert descending.json() == expected[::-1][:3]


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_max_depth_within_the_complete_depth_gives_an_unmarked_answer(client):
    await build_graph(client, 13, TREE)
    response = await neighbourhood(client, 1, "downstream", max_depth=1)
    assert response.json() == FIRST_TEN_DOWN[:3]
    assert TRUNCATED not in response.headers
    assert COMPLETE_DEPTH not in response.headers


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_cut_first_level_has_no_complete_depth(client):
    await make_addresses(client, 12)
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a1")], [addr(f"a{n}") for n in range(12, 1, -1)])
    response = await neighbourhood(client, 1, "downstream")
    assert response.json() == [reach(n, 1, [1, n]) for n in range(2, 12)]
    assert response.headers[TRUNCATED] == "true"
    assert COMPLETE_DEPTH not in response.headers


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_exactly_the_node_limit_is_not_cut(client):
    await build_graph(client, 11, [(n, n + 1) for n in range(1, 11)])
    down = await neighbourhood(client, 1, "downstream")
    up = await neighbourhood(client, 11, "upstream")
    assert [row["id"] for row in down.json()] == list(range(2, 12))
    assert up.json()[-1] == reach(1, 10, list(range(1, 12)))
    assert TRUNCATED not in down.headers
    assert TRUNCATED not in up.headers


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_one_more_address_than_the_limit_cuts_the_deepest_level(client):
    await build_graph(client, 12, [(n, n + 1) for n in range(1, 12)])
    down = await neighbourhood(client, 1, "downstream")
    assert down.json()[-1] == reach(11, 10, list(range(1, 12)))
    assert len(down.json()) == 10
    assert (down.headers[TRUNCATED], down.headers[COMPLETE_DEPTH]) == ("true", "10")


async def fan_out_of_1200(client) -> None:
    """1,200 successors of address 1 (ids 2..1201): more than one page of the successor read (1,000 pairs)."""
    for half in range(2):
        pipeline_id = await create_pipeline(client, f"fan out {half}")
        await post_lineage(client, pipeline_id, [addr("hub")], [addr(f"t{half}.{n:03}") for n in range(600)])


async def test_a_fan_out_larger_than_one_read_within_the_node_limit_is_listed_whole(client):
    await fan_out_of_1200(client)
    down = await neighbourhood(client, 1, "downstream", limit=10_000)
    assert [(row["id"], row["depth"], row["lineage_path"]) for row in down.json()] == [(n, 1, [1, n]) for n in range(2, 1202)]
    assert TRUNCATED not in down.headers


@pytest.mark.settings(lineage_max_graph_nodes=1100)
async def test_a_fan_out_larger_than_one_read_is_followed_to_the_node_limit(client):
    await fan_out_of_1200(client)
    down = await neighbourhood(client, 1, "downstream", limit=10_000)
    assert [(row["id"], row["depth"], row["lineage_path"]) for row in down.json()] == [(n, 1, [1, n]) for n in range(2, 1102)]
    assert down.headers[TRUNCATED] == "true"
    assert COMPLETE_DEPTH not in down.headers
    assert [row["id"] for row in (await neighbourhood(client, 1, "downstream", max_depth=1, offset=1090)).json()] == list(range(1092, 1102))


# ---------------------------------------------------------------- graph


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_graph_at_the_node_limit_is_the_contracts_answer_without_a_marker(client):
    # 1 -> 2 -> 3 and 4 -> 3 (another input) ... up to ten addresses in all
    await build_graph(client, 10, [(1, 2), (2, 3), (4, 3), (3, 5), (5, 6), (6, 7), (8, 7), (7, 9), (9, 10)])
    graph = await lineage_graph(client, 2)
    assert set(graph) == {"nodes", "edges"}
    assert node_ids(graph) == list(range(1, 11))
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(1, 2), (2, 3), (3, 5), (4, 3), (5, 6), (6, 7), (7, 9), (8, 7), (9, 10)]


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_graph_beyond_the_node_limit_keeps_the_nearest_addresses_and_the_edges_between_them(client):
    # 1 -> 2 -> 3 -> 4..15: the graph of max_depth=1 holds 1, 2, 3; one hop further there are 15 addresses.
    await build_graph(client, 15, [(1, 2), (2, 3), *[(3, n) for n in range(15, 3, -1)]])
    graph = await lineage_graph(client, 1)
    assert (graph["truncated"], graph["complete_depth"]) == (True, 1)
    assert node_ids(graph) == list(range(1, 11))
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(1, 2), (2, 3), *[(3, n) for n in range(4, 11)]]
    assert [n["name"] for n in graph["nodes"]] == [f"a{n}" for n in range(1, 11)]
    narrowed = await lineage_graph(client, 1, max_depth=graph["complete_depth"])
    assert set(narrowed) == {"nodes", "edges"}
    assert node_ids(narrowed) == [1, 2, 3]


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_graph_whose_first_hop_is_beyond_the_node_limit_has_no_complete_depth(client):
    await make_addresses(client, 13)
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a1")], [addr(f"a{n}") for n in range(2, 14)])
    graph = await lineage_graph(client, 1)
    assert (graph["truncated"], graph["complete_depth"]) == (True, None)
    assert node_ids(graph) == list(range(1, 11))
    assert edge_pairs(graph) == [(1, n, 1) for n in range(2, 11)]
    assert (await lineage_graph(client, 1, max_depth=1))["truncated"] is True


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_graph_is_cut_upstream_as_well(client):
    # 14, 13 .. 4 feed 3, which feeds 2, which feeds 1
    await build_graph(client, 14, [*[(n, 3) for n in range(14, 3, -1)], (3, 2), (2, 1)])
    graph = await lineage_graph(client, 1)
    assert (graph["truncated"], graph["complete_depth"]) == (True, 1)
    assert node_ids(graph) == list(range(1, 11))
    assert [(s, t) for s, t, _ in edge_pairs(graph)] == [(2, 1), (3, 2), *[(n, 3) for n in range(4, 11)]]


@pytest.mark.settings(lineage_max_graph_edges=3)
async def test_a_graph_with_more_edges_than_the_edge_limit_keeps_the_first_edges(client):
    # 1 -> 2 -> 3, and 3 -> 4 declared by four pipelines: six edges
    await build_graph(client, 4, [(1, 2), (2, 3)])
    for name in ("w", "x", "y", "z"):
        await post_lineage(client, await create_pipeline(client, name), [addr("a3")], [addr("a4")])
    graph = await lineage_graph(client, 1)
    assert (graph["truncated"], graph["complete_depth"]) == (True, 1)
    assert edge_pairs(graph) == [(1, 2, 1), (2, 3, 2), (3, 4, 3)]
    assert node_ids(graph) == [1, 2, 3, 4]
    narrowed = await lineage_graph(client, 1, max_depth=1)
    assert set(narrowed) == {"nodes", "edges"}
    assert edge_pairs(narrowed) == [(1, 2, 1), (2, 3, 2)]


# ---------------------------------------------------------------- a pipeline's own lineage


@pytest.mark.settings(lineage_max_addresses_per_side=2)
async def test_a_pipelines_lineage_stored_before_the_limit_was_lowered_is_cut(client, db):
    await make_addresses(client, 4)
    pipeline_id = await create_pipeline(client)
    async with db.write() as conn:
        for source in (1, 2, 3):
            await conn.execute(
                text("INSERT INTO address_lineage (pipeline_id, source_address_id, target_address_id) VALUES (:p, :s, 4)"),
                {"p": pipeline_id, "s": source},
            )
    answer = (await client.get(f"/pipeline/{pipeline_id}/lineage")).json()
    assert [a["id"] for a in answer["source_addresses"]] == [1, 2]
    assert [a["id"] for a in answer["target_addresses"]] == [4]
    assert answer["truncated"] is True


@pytest.mark.settings(lineage_max_addresses_per_side=2)
async def test_a_pipelines_lineage_within_the_limit_has_no_marker(client):
    pipeline_id = await create_pipeline(client)
    await post_lineage(client, pipeline_id, [addr("a"), addr("b")], [addr("c")])
    answer = (await client.get(f"/pipeline/{pipeline_id}/lineage")).json()
    assert set(answer) == {"pipeline_id", "source_addresses", "target_addresses"}
