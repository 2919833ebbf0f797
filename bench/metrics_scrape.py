"""GET /metrics at scale on PostgreSQL: 100,000 pipelines and 10,000,000 executions.

Builds the monitoring benchmark's database (bench/monitoring_scale.py: 100,000 pipelines, 10 M executions,
2,000 running) under its own name, then adds what the domain gauges count: open freshness and timeliness
incidents (from real check runs), an alert history of 500,000 rows with 2,000 undelivered and the last
queue alert far back in it, 5,000 inactive pipelines, and a check_run row per check. Then it times
  * each statement a scrape sends, with its EXPLAIN (ANALYZE, BUFFERS), and the database part of a scrape,
  * GET /metrics through a real `watcher serve --workers 2` (median / p95 of --scrapes scrapes),
  * the running-executions count right after --churn executions started and ended (no vacuum yet).
Usage: python bench/metrics_scrape.py [--url postgresql://postgres@127.0.0.1:5432/test] [--build-only | --skip-build] [--scrapes 50] [--churn 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import httpx

import monitoring_scale
from serving import watcher_server
from watcher_server.alerts.service import Outbox
from watcher_server.core.clock import CLOCK
from watcher_server.db.engine import Database, create_engine
from watcher_server.monitoring.freshness import run_freshness
from watcher_server.monitoring.timeliness import run_timeliness
from watcher_server.settings import Settings

DATABASE = "watcher_metrics_bench"
ALERTS = 500_000
CHECKS = ("freshness", "timeliness", "anomaly_sweep", "queue_health", "cleanup")


async def build(admin_url: str) -> str:
    monitoring_scale.DATABASE = DATABASE  # the same data under another name: the two benchmarks never share a database
    started = time.perf_counter()
    url = await monitoring_scale.build(admin_url)
    print(f"  monitoring data built in {time.perf_counter() - started:.0f}s", flush=True)

    settings = Settings(database_url=url)
    db = Database(create_engine(url, pool_size=2, max_overflow=0))
    try:
        for name, run in (
            ("freshness", lambda: run_freshness(db, settings, CLOCK.now(), Outbox())),
            ("timeliness", lambda: run_timeliness(db, settings, CLOCK.now(), 240, Outbox())),
        ):
            started = time.perf_counter()
            await run()
            print(f"  {name} run (opens the incidents) in {time.perf_counter() - started:.1f}s", flush=True)
    finally:
        await db.dispose()

    conn = await asyncpg.connect(url)
    steps = [
        ("inactive pipelines", "UPDATE pipeline SET active = false WHERE id % 20 = 0"),
        ("queue alert", "INSERT INTO alert (kind, event, level, title, message, created_at, delivery_status) "
                        "VALUES ('queue', 'opened', 'warning', 'Background Queue Alert', 'Queue has 120 pending jobs', now() - interval '30 days', 'sent')"),
        ("alert history", f"INSERT INTO alert (kind, event, level, title, message, created_at, delivery_status, delivery_attempts, sent_at) "
                          f"SELECT (ARRAY['freshness','timeliness','execution_failure','anomaly'])[1 + g % 4], "
                          f"CASE g % 4 WHEN 2 THEN 'failed' WHEN 3 THEN 'anomaly' ELSE 'opened' END, 'warning', 't', 'm', "
                          f"now() - (g * interval '5 seconds'), 'sent', 1, now() - (g * interval '5 seconds') "
                          f"FROM generate_series({ALERTS}, 1, -1) g"),
        ("undelivered alerts", "UPDATE alert SET delivery_status = CASE WHEN id % 2 = 0 THEN 'pending' ELSE 'retrying' END, sent_at = NULL, "
                               "next_attempt_at = now() WHERE id > (SELECT max(id) - 2000 FROM alert)"),
        ("check runs", "INSERT INTO check_run (check_name, last_run_at, finished_at, duration_seconds) "
                       "SELECT c, now(), now(), 0.5 FROM unnest(ARRAY['" + "','".join(CHECKS) + "']) c "
                       "ON CONFLICT (check_name) DO UPDATE SET finished_at = excluded.finished_at, duration_seconds = excluded.duration_seconds"),
        ("vacuum analyze", "VACUUM ANALYZE"),
    ]  # fmt: skip
    try:
        for label, sql in steps:
            started = time.perf_counter()
            await conn.execute(sql)
            print(f"  built {label} in {time.perf_counter() - started:.1f}s", flush=True)
    finally:
        await conn.close()
    return url


async def explain_statements(url: str) -> None:
    """Run the scrape's database part once in-process, capturing each statement it sends, then print
    each with EXPLAIN (ANALYZE, BUFFERS) and time the whole database part."""
    from asgi_lifespan import LifespanManager
    from sqlalchemy import event

    from watcher_server.app import create_app
    from watcher_server.metrics import database_gauges

    app = create_app(Settings(database_url=url, scheduler_enabled=False))
    async with LifespanManager(app):
        state = app.state
        captured: list[tuple[str, object]] = []

        def capture(_conn, _cursor, statement, parameters, _context, _many):
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "EXPLAIN")):
                captured.append((statement, parameters))

        event.listen(state.db.engine.sync_engine, "before_cursor_execute", capture)
        gauges = await database_gauges(state)
        event.remove(state.db.engine.sync_engine, "before_cursor_execute", capture)
        for family in gauges:
            print("  " + ", ".join(f"{family.name}{_labels(s.labels)} = {s.value:g}" for s in family.samples), flush=True)
        print(f"\n{len(captured)} statements per scrape:", flush=True)
        async with state.db.read() as conn:
            for statement, parameters in captured:
                plan = (await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)).scalars().all()
                print(f"\n-- {' '.join(statement.split())}\n-- parameters: {parameters}", flush=True)
                print("\n".join(plan), flush=True)

        timings = []
        for _ in range(50):
            started = time.perf_counter()
            await database_gauges(state)
            timings.append((time.perf_counter() - started) * 1000)
        print(f"\ndatabase part of a scrape, in-process, 50 runs: {_summary(timings)}", flush=True)


def _labels(labels: dict) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""


def _summary(timings_ms: list[float]) -> str:
    ordered = sorted(timings_ms)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, min {ordered[0]:.1f} ms, max {ordered[-1]:.1f} ms"


def scrape_server(url: str, args) -> None:
    """GET /metrics through a real `watcher serve --workers 2`, each scrape on a new connection (so both
    workers answer some), after some traffic so the HTTP series exist."""
    with watcher_server(url, args.port, workers=2, scheduler_enabled="false") as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            for n in range(200):
                http.get(f"/pipeline/{1 + n}")
                http.get("/pipeline", params={"limit": 5})
        timings, size = [], 0
        with httpx.Client(base_url=base, timeout=30, headers={"Connection": "close"}) as http:
            for _ in range(5):  # warm-up: both workers' database pools
                http.get("/metrics")
            for _ in range(args.scrapes):
                started = time.perf_counter()
                response = http.get("/metrics")
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
                size = len(response.content)
        print(
            f"GET /metrics through `watcher serve --workers 2`, {args.scrapes} scrapes ({size:,} bytes each): {_summary(timings)}",
            flush=True,
        )


async def measure(url: str, args) -> None:
    conn = await asyncpg.connect(url)
    try:
        sizes = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM pipeline) pipelines, (SELECT reltuples::bigint FROM pg_class WHERE relname = 'pipeline_execution') executions,"
            " (SELECT count(*) FROM alert) alerts, (SELECT count(*) FROM freshness_pipeline_log) freshness_rows"
        )  # fmt: skip
    finally:
        await conn.close()
    print(f"database: {dict(sizes)}", flush=True)
    await explain_statements(url)
    scrape_server(url, args)
    await churn(url, args.churn)


async def churn(url: str, executions: int) -> None:
    """watcher_executions_running right after `executions` starts and ends (about one scrape interval
    of the core load), before any vacuum: the index entries of the ended executions' old row versions
    (end_date NULL) are still there, and the first count visits each of their heap tuples once."""
    if not executions:
        return
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ALTER TABLE pipeline_execution SET (autovacuum_enabled = false)")
        await conn.execute(
            "INSERT INTO pipeline_execution (pipeline_id, start_date, date_recorded, hour_recorded, weekday_recorded) "
            f"SELECT 1 + g % 100000, now() - interval '1 minute', current_date, 0, 1 FROM generate_series(1, {executions}) g"
        )
        await conn.execute(
            "UPDATE pipeline_execution SET end_date = now(), duration_seconds = 60, completed_successfully = true "
            f"WHERE id > (SELECT max(id) - {executions} FROM pipeline_execution)"
        )
        for attempt in ("first count after the churn", "next count"):
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM pipeline_execution WHERE end_date IS NULL")
            lines = [row[0].strip() for row in plan]
            print(f"running executions, {attempt} ({executions} executions started and ended, no vacuum yet): "
                  + "; ".join(line for line in lines if line.startswith(("Heap Fetches", "Execution Time"))), flush=True)  # fmt: skip
    finally:
        await conn.execute("ALTER TABLE pipeline_execution RESET (autovacuum_enabled)")
        await conn.execute("VACUUM ANALYZE pipeline_execution")
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-build", action="store_true", help="reuse the database of an earlier run")
    parser.add_argument("--build-only", action="store_true", help="build the database and stop")
    parser.add_argument("--scrapes", type=int, default=50, help="timed scrapes through the server")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--churn", type=int, default=10_000, help="executions started and ended before the last count (0 = skip)")
    parser.add_argument("--database", default=DATABASE, help="with --skip-build: measure this database instead")
    args = parser.parse_args()
    url = args.url.rsplit("/", 1)[0] + f"/{args.database}" if args.skip_build else asyncio.run(build(args.url))
    if not args.build_only:
        asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
