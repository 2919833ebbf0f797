"""The lineage page's read model (reporting/lineage.py) and the page itself, on SQLite and PostgreSQL:
upstream and downstream to a depth, the edges and writers' health of the drawn addresses, a pipeline's
sources and targets, the address search, wide columns collapsed into "N more" with their paged list, the
search's node cap shown, and the error pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from watcher_server.core.errors import NotFound
from watcher_server.reporting import lineage as read

from ..helpers import create_pipeline, end, start
from ..lineage.support import addr, build_graph, post_lineage


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _chain(client) -> dict[int, int]:
    """a1 → a2 → a3 → a4 → a5, each edge made by pipeline "load a<target>"; returns {target: pipeline id}."""
    return await build_graph(client, 5, [(1, 2), (2, 3), (3, 4), (4, 5)])


async def _fail(client, pipeline_id: int) -> None:
    now = _now().replace(microsecond=0)
    execution = await start(client, pipeline_id, start_date=(now - dt.timedelta(hours=2)).isoformat())
    await end(client, execution, end_date=(now - dt.timedelta(hours=1)).isoformat(), ok=False)


def _by_distance(found: read.Neighbourhood) -> dict[int, list[str]]:
    columns: dict[int, list[str]] = {}
    for place in found.places:
        columns.setdefault(place.distance, []).append(place.name)
    return {d: sorted(names) for d, names in sorted(columns.items())}


async def test_upstream_and_downstream_to_the_chosen_depth(client, db, settings):
    await _chain(client)
    near = await read.neighbourhood(db, settings, 3, 1)
    assert near.centre.name == "a3" and near.centre.type_name == "s3"
    assert _by_distance(near) == {-1: ["a2"], 1: ["a4"]}
    far = await read.neighbourhood(db, settings, 3, 2)
    assert _by_distance(far) == {-2: ["a1"], -1: ["a2"], 1: ["a4"], 2: ["a5"]}
    via = {place.name: place.via for place in far.places}
    assert via == {"a2": 3, "a1": 2, "a4": 3, "a5": 4}  # the neighbour one hop nearer the centre
    assert not far.truncated_up and not far.truncated_down


async def test_an_address_on_a_cycle_is_both_upstream_and_downstream(client, db, settings):
    await build_graph(client, 2, [(1, 2), (2, 1)])
    found = await read.neighbourhood(db, settings, 1, 2)
    assert _by_distance(found) == {-1: ["a2"], 1: ["a2"]}


@pytest.mark.settings(lineage_max_graph_nodes=10)
async def test_a_search_cut_at_the_node_cap_says_so(client, db, settings):
    pid = await create_pipeline(client, "fan")
    await post_lineage(client, pid, [addr("hub")], [addr(f"t{i:02d}") for i in range(15)])
    hub = (await client.get("/address", params={"name_contains": "hub"})).json()[0]["id"]
    found = await read.neighbourhood(db, settings, hub, 2)
    assert found.truncated_down and len(found.places) == 10 and found.cap == 10
    html = (await client.get("/ui/lineage", params={"address_id": hub})).text
    assert 'id="truncated"' in html and "stopped at 10 addresses" in html


async def test_edges_between_drawn_addresses_and_the_health_of_their_writers(client, db):
    pipelines = await _chain(client)
    await _fail(client, pipelines[4])
    found = await read.details(db, [2, 3, 4, 1], _now())
    assert sorted((e.source, e.target, e.pipeline_name) for e in found.edges) == [(1, 2, "load a2"), (2, 3, "load a3"), (3, 4, "load a4")]
    assert found.health(4) == ["failing"]
    assert found.health(3) == ["ok"]
    assert found.health(1) is None  # no pipeline writes a1
    assert [w.name for w in found.writers[2]] == ["load a2"]
    assert (await read.details(db, [], _now())).edges == []


async def test_a_pipelines_sources_and_targets_with_its_health(client, db, settings):
    pid = await create_pipeline(client, "copy")
    await post_lineage(client, pid, [addr("in1"), addr("in2")], [addr("out1")])
    await _fail(client, pid)
    view = await read.pipeline_view(db, settings, pid, _now())
    assert (view.name, view.type_name, view.states) == ("copy", "extraction", ["failing"])
    assert [p.name for p in view.sources] == ["in1", "in2"] and {p.distance for p in view.sources} == {-1}
    assert [p.name for p in view.targets] == ["out1"] and view.targets[0].distance == 1
    with pytest.raises(NotFound):
        await read.pipeline_view(db, settings, 9999, _now())


async def test_the_address_search_is_a_literal_substring_by_name(client, db):
    for name in ("warehouse.sales.orders", "warehouse.sales.order_items", "lake/raw/orders.csv", "other"):
        await client.post("/address", json=addr(name))
    rows, more = await read.search_addresses(db, "orders")
    assert [row.name for row in rows] == ["lake/raw/orders.csv", "warehouse.sales.orders"] and not more
    rows, more = await read.search_addresses(db, "warehouse", limit=1)
    assert [row.name for row in rows] == ["warehouse.sales.order_items"] and more
    assert (await read.search_addresses(db, "%"))[0] == []


async def test_the_column_list_is_one_distance_by_name(client, db, settings):
    await _chain(client)
    centre, column = await read.address_column(db, settings, 3, -2)
    assert centre.name == "a3" and [p.name for p in column.places] == ["a1"]


async def test_unknown_addresses_are_not_found(db, settings):
    for missing in (999, 0, 2**40):
        with pytest.raises(NotFound):
            await read.neighbourhood(db, settings, missing, 2)


# ---------------------------------------------------------------- the page


async def test_the_address_page_draws_and_lists_the_neighbourhood(client):
    pipelines = await _chain(client)
    await _fail(client, pipelines[4])
    answer = await client.get("/ui/lineage", params={"address_id": 3, "depth": 2})
    assert answer.status_code == 200
    html = answer.text
    for address_id in (1, 2, 3, 4, 5):
        assert f'href="/ui/lineage?address_id={address_id}&amp;depth=2"' in html
    assert 'class="node bad" data-node="a4"' in html  # written by a failing pipeline
    assert 'class="node ok centre" data-node="a3"' in html
    assert f"Created by load a4 (pipeline {pipelines[4]})" in html  # the edge's pipeline, in its <title>
    upstream = html[html.index('id="upstream"') : html.index('id="downstream"')]
    assert "a2" in upstream and "a1" in upstream and "a4" not in upstream


async def test_a_wide_fan_out_collapses_into_n_more_with_a_paged_list(client):
    pid = await create_pipeline(client, "fan")
    await post_lineage(client, pid, [addr("hub")], [addr(f"t{i:02d}") for i in range(60)])
    hub = (await client.get("/address", params={"name_contains": "hub"})).json()[0]["id"]
    html = (await client.get("/ui/lineage", params={"address_id": hub})).text
    assert html.count('data-column="1"') == 25 and "35 more" in html
    more = re.search(r'<a href="([^"]+)" class="node more" data-more="1"', html).group(1).replace("&amp;", "&")
    assert more == f"/ui/lineage?address_id={hub}&depth=2&column=1"
    first = (await client.get(more)).text
    listed = re.findall(r">(t\d\d)</a>", first)
    assert listed == [f"t{i:02d}" for i in range(50)]
    second = (await client.get(more + "&page=2")).text
    assert re.findall(r">(t\d\d)</a>", second) == [f"t{i:02d}" for i in range(50, 60)]


async def test_a_deep_wide_neighbourhood_stays_a_small_page(client):
    """Six levels of thirty addresses each way, with the longest names: few boxes per column, a page well
    under the 300 KB budget."""
    long = "x" * 140
    centre = addr(f"{long}centre")
    previous = [centre]
    for level in range(1, 7):
        level_addresses = [addr(f"{long}d{level}-{i:02d}") for i in range(30)]
        pid = await create_pipeline(client, f"{long}down{level}")
        await post_lineage(client, pid, previous[:1], level_addresses)
        previous = level_addresses
    previous = [centre]
    for level in range(1, 7):
        level_addresses = [addr(f"{long}u{level}-{i:02d}") for i in range(30)]
        pid = await create_pipeline(client, f"{long}up{level}")
        await post_lineage(client, pid, level_addresses, previous[:1])
        previous = level_addresses
    centre_id = (await client.get("/address", params={"name_contains": "centre"})).json()[0]["id"]
    answer = await client.get("/ui/lineage", params={"address_id": centre_id, "depth": 6})
    assert answer.status_code == 200
    assert answer.text.count('class="node more"') == 12
    assert len(answer.content) < 300_000, len(answer.content)


async def test_the_pipeline_page_shows_sources_pipeline_and_targets(client):
    pid = await create_pipeline(client, "copy")
    await post_lineage(client, pid, [addr("in1"), addr("in2")], [addr("out1")])
    html = (await client.get("/ui/lineage", params={"pipeline_id": pid})).text
    assert f'data-node="p{pid}" data-column="0"' in html
    assert html.count('data-column="-1"') == 2 and html.count('data-column="1"') == 1
    assert f'href="/ui/pipelines/{pid}"' in html
    for name in ("in1", "in2", "out1"):
        assert f">{name}</a>" in html


async def test_the_search_page_lists_matches_linked_to_their_lineage(client):
    await client.post("/address", json=addr("warehouse.sales.orders"))
    html = (await client.get("/ui/lineage", params={"q": " ORDERS "})).text
    assert 'id="search-results"' in html and 'href="/ui/lineage?address_id=1&amp;depth=2">warehouse.sales.orders</a>' in html
    none = (await client.get("/ui/lineage", params={"q": "nothing"})).text
    assert 'id="no-results"' in none


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"address_id": 1, "depth": 7}, 422),
        ({"address_id": 1, "depth": 0}, 422),
        ({"address_id": 999}, 404),
        ({"pipeline_id": 999}, 404),
        ({"address_id": "x"}, 422),
        ({"address_id": 1, "column": 0}, 400),
        ({"address_id": 1, "depth": 2, "column": 3}, 400),
        ({"pipeline_id": 1, "column": 2}, 400),
    ],
)
async def test_bad_parameters_answer_error_pages(client, params, status):
    pid = await create_pipeline(client, "p")
    await post_lineage(client, pid, [addr("a")], [addr("b")])
    answer = await client.get("/ui/lineage", params=params)
    assert answer.status_code == status and "text/html" in answer.headers["content-type"]


async def test_hostile_names_are_escaped_in_the_graph_and_tables(client):
    hostile = '<script>alert(1)</script>"><img src=x onerror=alert(1)>'
    pid = await create_pipeline(client, f"{hostile}pipe")
    await post_lineage(client, pid, [addr(f"{hostile}src", type_name=f"{hostile}type")], [addr("javascript:alert(1)")])
    for params in ({"address_id": 1}, {"address_id": 2}, {"pipeline_id": pid}, {"q": "script"}, {"address_id": 1, "column": 1}):
        html = (await client.get("/ui/lineage", params=params)).text
        assert "<script>alert" not in html and "<img src=x" not in html, params
        assert 'href="javascript' not in html
