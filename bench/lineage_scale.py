"""Lineage at warehouse scale: 50,000 addresses and ~100,000 edges in layers, on PostgreSQL.

Builds the graph with COPY (fast, outside the API), then times through a real `watcher serve` process:
  * POST /address_lineage of one new pipeline into the big graph,
  * GET /address/{id}/downstream?max_depth=5 from a source table,
  * GET /lineage-graph/?source_address_id=<mid-layer table>.
Usage: python bench/lineage_scale.py [--url postgresql://postgres@127.0.0.1:5432/test] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import asyncpg
import httpx

from serving import migrated_database, watcher_server

DATABASE = "watcher_lineage_bench"
LAYERS = [("source", 15_000), ("raw", 10_000), ("staging", 10_000), ("intermediate", 8_000), ("mart", 5_000), ("report", 2_000)]
PIPELINES = 5_000


def fan_in(rng: random.Random) -> int:
    """Mostly 1-3 inputs, a long tail up to 20 (wide marts)."""
    roll = rng.random()
    if roll < 0.80:
        return rng.randint(1, 3)
    if roll < 0.97:
        return rng.randint(4, 8)
    return rng.randint(9, 20)


async def build(admin_url: str) -> tuple[str, dict[str, list[int]], int]:
    url = await migrated_database(admin_url, DATABASE)

    rng = random.Random(42)
    conn = await asyncpg.connect(url)
    await conn.execute("INSERT INTO address_type (name, group_name) VALUES ('postgres', 'database'), ('s3', 'file')")
    await conn.execute("INSERT INTO pipeline_type (name) VALUES ('bench')")
    await conn.copy_records_to_table(
        "pipeline",
        records=[(f"lineage bench pipeline {i}", 1, "0" * 64, False) for i in range(PIPELINES)],
        columns=["name", "pipeline_type_id", "input_hash", "load_lineage"],
    )
    layer_ids: dict[str, list[int]] = {}
    next_id = 1
    records = []
    for layer, size in LAYERS:
        layer_ids[layer] = list(range(next_id, next_id + size))
        for n in range(size):
            name = f"warehouse.{layer}.table_{n}"
            records.append((next_id, name, 1, "warehouse", layer, f"table_{n}", "0" * 64))
            next_id += 1
    await conn.copy_records_to_table(
        "address", records=records, columns=["id", "name", "address_type_id", "database_name", "schema_name", "table_name", "input_hash"]
    )
    await conn.execute("SELECT setval(pg_get_serial_sequence('address', 'id'), (SELECT max(id) FROM address))")
    edges = set()
    for index in range(1, len(LAYERS)):
        upstream_layer = layer_ids[LAYERS[index - 1][0]]
        for target in layer_ids[LAYERS[index][0]]:
            for source in rng.sample(upstream_layer, fan_in(rng)):
                edges.add((rng.randint(1, PIPELINES), source, target))
    await conn.copy_records_to_table(
        "address_lineage", records=sorted(edges), columns=["pipeline_id", "source_address_id", "target_address_id"]
    )
    await conn.execute("ANALYZE")
    await conn.close()
    report_closure_size({(s, t) for _, s, t in edges})
    return url, layer_ids, len(edges)


def report_closure_size(pairs: set[tuple[int, int]]) -> None:
    """What a materialised closure (§9.2) would hold, and how much one post would have to rewrite."""
    successors: dict[int, list[int]] = {}
    neighbours: dict[int, set[int]] = {}
    for s, t in pairs:
        successors.setdefault(s, []).append(t)
        neighbours.setdefault(s, set()).add(t)
        neighbours.setdefault(t, set()).add(s)
    closure_rows = 0
    for node in neighbours:
        seen, stack = {node}, [node]
        while stack:
            for nxt in successors.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        closure_rows += len(seen)  # self row included
    unvisited, largest = set(neighbours), 0
    while unvisited:
        component, stack = 0, [unvisited.pop()]
        while stack:
            component += 1
            for nxt in neighbours[stack.pop()]:
                if nxt in unvisited:
                    unvisited.remove(nxt)
                    stack.append(nxt)
        largest = max(largest, component)
    print(f"a materialised closure would hold {closure_rows:,} rows; the largest weakly connected component has {largest:,} addresses")


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   max {ordered[-1]:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="admin connection (a database to connect to)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--port", type=int, default=8097)
    args = parser.parse_args()

    t0 = time.perf_counter()
    url, layers, edge_count = asyncio.run(build(args.url))
    addresses = sum(len(v) for v in layers.values())
    print(f"built {addresses:,} addresses and {edge_count:,} edges in {time.perf_counter() - t0:.1f}s")

    with watcher_server(url, args.port) as base:
        rng = random.Random(7)
        with httpx.Client(base_url=base, timeout=60) as http:
            pipeline_id = http.post("/pipeline", json={"name": "new lineage pipeline", "pipeline_type_name": "bench"}).json()["id"]

            def post_lineage():
                def addr(layer):
                    n = rng.choice(layers[layer]) - layers[layer][0]
                    return {"name": f"warehouse.{layer}.table_{n}", "address_type_name": "postgres", "address_type_group_name": "database"}

                body = {
                    "pipeline_id": pipeline_id,
                    "source_addresses": [addr("staging") for _ in range(5)],
                    "target_addresses": [addr("mart") for _ in range(3)],
                }
                response = http.post("/address_lineage", json=body)
                assert response.status_code == 201, response.text

            source = layers["source"][123]
            mid = layers["staging"][456]

            def downstream():
                response = http.get(f"/address/{source}/downstream", params={"max_depth": 5})
                assert response.status_code == 200
                downstream.size = len(response.json())

            def graph():
                response = http.get("/lineage-graph/", params={"source_address_id": mid})
                assert response.status_code == 200
                body = response.json()
                graph.size = (len(body["nodes"]), len(body["edges"]))

            post_samples = timed(post_lineage, args.repeat)
            down_samples = timed(downstream, args.repeat)
            graph_samples = timed(graph, args.repeat)
        print(f"POST /address_lineage (5 sources x 3 targets)        {summary(post_samples)}")
        print(f"GET downstream max_depth=5 ({downstream.size} addresses)   {summary(down_samples)}")
        print(f"GET /lineage-graph/ mid-layer ({graph.size[0]} nodes, {graph.size[1]} edges)  {summary(graph_samples)}")


if __name__ == "__main__":
    main()
