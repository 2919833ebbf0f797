"""Monitoring at scale on PostgreSQL: 100,000 pipelines and 10,000,000 executions.

Builds the data with set-based SQL (generate_series), then measures:
  * a freshness run and a timeliness run over everything (target < 1 s each),
  * anomaly detection per execution for pipelines with six active rules (target < 5 ms each),
  * cleanup of 1,000,000 old executions while the core load generator runs against a real server
    (target: no request slower than 200 ms).
Usage: python bench/monitoring_scale.py [--url postgresql://postgres@127.0.0.1:5432/test] [--skip-build]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from serving import migrated_database, watcher_server
from watcher_server.alerts.service import Outbox
from watcher_server.anomalies.detection import detect, detect_many
from watcher_server.core.clock import CLOCK
from watcher_server.db.engine import Database, create_engine
from watcher_server.monitoring.freshness import run_freshness
from watcher_server.monitoring.timeliness import run_timeliness
from watcher_server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "watcher_monitoring_bench"
PIPELINES = 100_000
PER_PIPELINE = 100  # 10 older than the 90-day retention, 90 recent: 1,000,000 old executions in all
RULE_PIPELINES = 200


async def build(admin_url: str) -> str:
    url = await migrated_database(admin_url, DATABASE)
    conn = await asyncpg.connect(url)
    steps = [
        ("types", "INSERT INTO pipeline_type (name, freshness_number, freshness_datepart, timeliness_number, timeliness_datepart) "
                  "VALUES ('hourly', 2, 'hour', 30, 'minute'), ('daily', 1, 'day', 2, 'hour')"),
        ("pipelines", f"INSERT INTO pipeline (name, pipeline_type_id, input_hash, last_target_insert, load_lineage) "
                      f"SELECT 'pipeline ' || g, 1 + g % 2, repeat('0', 64), now() - (g % 72) * interval '1 hour', false "
                      f"FROM generate_series(1, {PIPELINES}) g"),
        ("trigger off", "ALTER TABLE pipeline_execution DISABLE TRIGGER pipeline_execution_link_closure"),
        ("executions", f"""
            INSERT INTO pipeline_execution (pipeline_id, start_date, date_recorded, hour_recorded, weekday_recorded, end_date,
                duration_seconds, completed_successfully, inserts, total_rows, throughput, anomaly_checked_at)
            SELECT p, s, s::date, extract(hour from s)::int, extract(isodow from s)::int, s + d * interval '1 second', d,
                   (p + n) % 50 <> 0, 100 + (p * n) % 50, 1000 + (p * n) % 500, (1000 + (p * n) % 500)::float8 / d, now()
            FROM generate_series(1, {PIPELINES}) p,
                 generate_series(1, {PER_PIPELINE}) n,
                 LATERAL (SELECT date_trunc('hour', now()) - (CASE WHEN n <= 10 THEN 95 + n ELSE n - 10 END) * interval '1 day'
                                 + (p % 24) * interval '1 hour' AS s, 300 + (p * n) % 600 AS d) x"""),
        ("closure self rows", "INSERT INTO pipeline_execution_closure SELECT id, id, 0 FROM pipeline_execution"),
        ("trigger on", "ALTER TABLE pipeline_execution ENABLE TRIGGER pipeline_execution_link_closure"),
        ("running executions", "INSERT INTO pipeline_execution (pipeline_id, start_date, date_recorded, hour_recorded, weekday_recorded) "
                               "SELECT g, now() - interval '3 hours', current_date, 0, 1 FROM generate_series(1, 100000, 50) g"),
        ("rules", f"INSERT INTO anomaly_detection_rule (pipeline_id, metric_field, minimum_executions, seasonality) "
                  f"SELECT p, m, 5, 'none' FROM generate_series(1, {RULE_PIPELINES}) p, "
                  f"unnest(ARRAY['duration_seconds','inserts','updates','soft_deletes','total_rows','throughput']) m"),
        ("analyze", "ANALYZE"),
    ]  # fmt: skip
    for label, sql in steps:
        started = time.perf_counter()
        await conn.execute(sql)
        print(f"  built {label} in {time.perf_counter() - started:.1f}s", flush=True)
    await conn.close()
    return url


async def measure(url: str, args) -> None:
    settings = Settings(database_url=url)
    db = Database(create_engine(url))
    try:
        for name, run in (
            ("freshness", lambda: run_freshness(db, settings, CLOCK.now(), Outbox())),
            ("timeliness", lambda: run_timeliness(db, settings, CLOCK.now(), 60, Outbox())),
        ):
            timings = []
            for _ in range(3):
                started = time.perf_counter()
                result = await run()
                timings.append(time.perf_counter() - started)
            evaluated = result.get("pipelines_evaluated", result.get("executions_evaluated"))
            print(f"{name} run: {min(timings) * 1000:.0f} ms best, {statistics.median(timings) * 1000:.0f} ms median of 3 "
                  f"(evaluated {evaluated}, failing {len(result.get('failing', result.get('overdue', [])))})", flush=True)  # fmt: skip

        async with db.read() as conn:
            ids = (await conn.exec_driver_sql(
                f"SELECT max(id) FROM pipeline_execution WHERE pipeline_id <= {RULE_PIPELINES} AND completed_successfully "
                f"GROUP BY pipeline_id ORDER BY 1 LIMIT 200")).scalars().all()  # fmt: skip
        timings = []
        for execution_id in ids:
            started = time.perf_counter()
            await detect(db, settings, execution_id, CLOCK.now(), Outbox())
            timings.append((time.perf_counter() - started) * 1000)
        print(f"anomaly detection: {statistics.median(timings):.2f} ms median, {sorted(timings)[int(len(timings) * 0.95)]:.2f} ms p95 "
              f"per execution (6 rules, baselines of ~90 runs, {len(timings)} executions)", flush=True)  # fmt: skip
        batches = []
        for _ in range(3):  # the same executions as one batch, as the runner checks queued ends
            started = time.perf_counter()
            await detect_many(db, settings, ids, CLOCK.now(), Outbox())
            batches.append((time.perf_counter() - started) * 1000 / len(ids))
        print(f"anomaly detection in one batch of {len(ids)}: {statistics.median(batches):.2f} ms per execution (median of 3)", flush=True)
    finally:
        await db.dispose()

    if args.checks_only:
        return
    with watcher_server(url, 8098, workers=2, scheduler_enabled="false") as base:

        def core_load(seconds: int) -> subprocess.Popen:
            return subprocess.Popen(
                [sys.executable, str(ROOT / "bench" / "core_load.py"), "--url", base, "--clients", str(args.clients),
                 "--duration", str(seconds), "--warmup", "3"],
                cwd=ROOT,
            )  # fmt: skip

        if args.baseline_seconds:
            print(f"core load alone for {args.baseline_seconds}s (the baseline for the cleanup run):", flush=True)
            core_load(args.baseline_seconds).wait()
        load = core_load(args.load_seconds)
        time.sleep(8)
        started = time.perf_counter()
        cleaned = subprocess.run(
            [sys.executable, "-m", "watcher_server.cli", "cleanup", "--retention-days", "90", "--batch-size", str(args.batch_size),
             "--pause-ratio", str(args.pause_ratio), "--database-url", url],
            capture_output=True, text=True, cwd=ROOT,
        )  # fmt: skip
        print(f"cleanup (while the core load runs) took {time.perf_counter() - started:.1f}s:\n{cleaned.stdout}", flush=True)
        load.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-build", action="store_true", help="reuse the database of an earlier run")
    parser.add_argument("--checks-only", action="store_true", help="measure the checks and detection, skip the cleanup under load")
    parser.add_argument("--batch-size", type=int, default=1000, help="cleanup batch size")
    parser.add_argument("--load-seconds", type=int, default=240, help="how long the core load runs around the cleanup")
    parser.add_argument("--pause-ratio", type=float, default=1.0, help="cleanup pacing (watcher cleanup --pause-ratio)")
    parser.add_argument("--clients", type=int, default=20, help="core load clients")
    parser.add_argument("--baseline-seconds", type=int, default=60, help="core load alone first, for comparison (0 = skip)")
    args = parser.parse_args()
    url = args.url.rsplit("/", 1)[0] + f"/{DATABASE}" if args.skip_build else asyncio.run(build(args.url))
    asyncio.run(measure(url, args))


if __name__ == "__main__":
    main()
