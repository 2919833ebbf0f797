"""Lineage limits (issue 10, failure drills) on PostgreSQL, through a real `watcher serve` process:

  * POST /address_lineage at the largest size the default limits allow: 100 x 100 addresses (10,000
    edges, WATCHER_LINEAGE_MAX_EDGES_PER_PIPELINE) and 1,000 x 10 (WATCHER_LINEAGE_MAX_ADDRESSES_PER_SIDE),
    once with new addresses each time and once re-posting the same body (addresses exist, edges replaced);
  * the drill's 600 x 600 post, now refused with 422;
  * the drill's read: one pipeline's 600 x 600 = 360,000 edges stored before the limits (COPY, outside the
    API), then GET /lineage-graph/ and GET /address/{id}/downstream around one of its sources (1,200 nodes:
    cut at the edge limit): time and body size, then six graph reads at once with GET /health polled
    meanwhile, and the server's peak resident memory (VmHWM);
  * a read at the node cap: a tree root -> 10 -> 100 -> 3,000 addresses, read from its root at the default
    cap of 2,000 addresses.
Usage: python bench/lineage_limits.py [--url postgresql://postgres@127.0.0.1:5432/test] [--repeat 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import asyncpg
import httpx

from serving import migrated_database, server_pid, watcher_server

DATABASE = "watcher_lineage_limits_bench"
DRILL_SIDE = 600
TREE_FAN_OUT = (10, 10, 30)  # 10, 100 and 3,000 addresses one, two and three hops below the root


def address(name: str) -> dict:
    return {"name": name, "address_type_name": "postgres", "address_type_group_name": "database"}


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"median {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms   max {ordered[-1]:8.1f} ms"


def timed(call) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = call()
    return (time.perf_counter() - start) * 1000, response


async def store_lineage(url: str) -> tuple[int, int]:
    """Lineage as it could be stored before the limits (COPY): the drill's 600 x 600 pipeline and the tree.
    Returns (the drill's first source, the tree's root)."""
    conn = await asyncpg.connect(url)

    async def addresses(names: list[str]) -> list[int]:
        await conn.copy_records_to_table(
            "address", records=[(name, 1, "0" * 64) for name in names], columns=["name", "address_type_id", "input_hash"]
        )
        ids = dict(await conn.fetch("SELECT name, id FROM address WHERE name = any($1::text[])", names))
        return [ids[name] for name in names]

    async def pipeline(name: str, edges: list[tuple[int, int]]) -> None:
        pipeline_id = await conn.fetchval(
            "INSERT INTO pipeline (name, pipeline_type_id, input_hash, load_lineage) VALUES ($1, 1, $2, false) RETURNING id", name, "0" * 64
        )
        await conn.copy_records_to_table(
            "address_lineage",
            records=[(pipeline_id, s, t) for s, t in edges],
            columns=["pipeline_id", "source_address_id", "target_address_id"],
        )

    try:
        await conn.execute("INSERT INTO address_type (name, group_name) VALUES ('postgres', 'database')")
        await conn.execute("INSERT INTO pipeline_type (name) VALUES ('bench')")
        sources = await addresses([f"drill.source.t{i}" for i in range(DRILL_SIDE)])
        targets = await addresses([f"drill.target.t{i}" for i in range(DRILL_SIDE)])
        await pipeline("drill", [(s, t) for s in sources for t in targets])
        (root,) = await addresses(["tree.root"])
        level, edges = [root], []
        for depth, fan_out in enumerate(TREE_FAN_OUT, start=1):
            below = await addresses([f"tree.d{depth}.n{i}" for i in range(len(level) * fan_out)])
            edges += [(parent, below[i * fan_out + k]) for i, parent in enumerate(level) for k in range(fan_out)]
            level = below
        await pipeline("tree", edges)
        await conn.execute("ANALYZE")
        return sources[0], root
    finally:
        await conn.close()


def memory_kib(pid: int | None, field: str) -> int | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def post_samples(http: httpx.Client, pipeline_id: int, sources: int, targets: int, repeat: int) -> tuple[list[float], list[float]]:
    new, again = [], []
    for run in range(repeat):
        body = {
            "pipeline_id": pipeline_id,
            "source_addresses": [address(f"bench.s{sources}x{targets}.r{run}.s{i}") for i in range(sources)],
            "target_addresses": [address(f"bench.t{sources}x{targets}.r{run}.t{i}") for i in range(targets)],
        }
        for samples in (new, again):
            elapsed, response = timed(lambda body=body: http.post("/address_lineage", json=body))
            assert response.status_code == 201, response.text
            assert response.json()["lineage_relationships_created"] == sources * targets
            samples.append(elapsed)
    return new, again


async def concurrent_graphs(base: str, source: int, readers: int) -> tuple[list[float], list[float]]:
    """`readers` graph reads at once; /health is polled every 50 ms until they are done."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:

        async def graph() -> float:
            start = time.perf_counter()
            response = await http.get("/lineage-graph/", params={"source_address_id": source})
            assert response.status_code == 200, (response.status_code, response.text[:300])
            return (time.perf_counter() - start) * 1000

        reads = [asyncio.create_task(graph()) for _ in range(readers)]
        health = []
        while not all(task.done() for task in reads):
            start = time.perf_counter()
            assert (await http.get("/health")).status_code == 200
            health.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.05)
        return [task.result() for task in reads], health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="admin connection (a database to connect to)")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--port", type=int, default=8096)
    args = parser.parse_args()

    url = asyncio.run(migrated_database(args.url, DATABASE))
    drill_source, tree_root = asyncio.run(store_lineage(url))
    print(
        f"stored the drill's {DRILL_SIDE} x {DRILL_SIDE} = {DRILL_SIDE**2:,} edges of one pipeline and a tree of fan-out {TREE_FAN_OUT} (COPY)"
    )

    with watcher_server(url, args.port) as base, httpx.Client(base_url=base, timeout=120) as http:
        pid = server_pid(args.port)
        print(f"server resident memory at start: {memory_kib(pid, 'VmRSS')} KiB")
        for sources, targets in ((100, 100), (1000, 10)):
            pipeline_id = http.post("/pipeline", json={"name": f"bench {sources}x{targets}", "pipeline_type_name": "bench"}).json()["id"]
            new, again = post_samples(http, pipeline_id, sources, targets, args.repeat)
            label = f"POST /address_lineage {sources} x {targets} ({sources * targets:,} edges)"
            print(f"{label}, new addresses    {summary(new)}")
            print(f"{label}, same body again  {summary(again)}")

        pipeline_id = http.post("/pipeline", json={"name": "drill post", "pipeline_type_name": "bench"}).json()["id"]
        drill = {
            "pipeline_id": pipeline_id,
            "source_addresses": [address(f"drill.post.s{i}") for i in range(DRILL_SIDE)],
            "target_addresses": [address(f"drill.post.t{i}") for i in range(DRILL_SIDE)],
        }
        refused = []
        for _ in range(args.repeat):
            elapsed, response = timed(lambda: http.post("/address_lineage", json=drill))
            assert response.status_code == 422, response.text
            refused.append(elapsed)
        print(f"POST /address_lineage {DRILL_SIDE} x {DRILL_SIDE} (refused, 422)       {summary(refused)}")

        for path, params in (
            ("/lineage-graph/", {"source_address_id": drill_source}),
            (f"/address/{drill_source}/downstream", {}),
            ("/lineage-graph/", {"source_address_id": tree_root}),
            (f"/address/{tree_root}/downstream", {"limit": 10_000}),
        ):
            samples = []
            for _ in range(args.repeat):
                elapsed, response = timed(lambda path=path, params=params: http.get(path, params=params))
                assert response.status_code == 200, response.text
                samples.append(elapsed)
            body = response.json()
            size = f"{len(body['nodes'])} nodes, {len(body['edges'])} edges" if isinstance(body, dict) else f"{len(body)} rows"
            if isinstance(body, dict):
                marker = f"truncated={body.get('truncated', False)}, complete_depth={body.get('complete_depth')}"
            else:
                marker = f"X-Watcher-Truncated={response.headers.get('x-watcher-truncated')}, complete depth {response.headers.get('x-watcher-complete-depth')}"
            print(f"GET {path} ({size}, {len(response.content):,} bytes, {marker})  {summary(samples)}")

        reads, health = asyncio.run(concurrent_graphs(base, drill_source, 6))
        print(f"6 concurrent graph reads: {summary(reads)}; /health meanwhile: {summary(health)} over {len(health)} polls")
        print(f"server peak resident memory (VmHWM): {memory_kib(pid, 'VmHWM')} KiB")


if __name__ == "__main__":
    main()
