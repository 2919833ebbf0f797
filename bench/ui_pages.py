"""The web pages (/ui) at scale on PostgreSQL: 100,000 pipelines, 10 M executions, 50,000 addresses, 100,000 lineage edges.

Builds the monitoring benchmark's database (bench/monitoring_scale.py) under its own name, then adds what the
pages show: 50,000 addresses of four types in a layered warehouse DAG with 100,000 edges written by the pipelines
(a hub with 3,000 direct downstream tables, other fan-out hubs, a mart with 1,200 inputs), one busy pipeline with
4,320 more runs, nested executions (trees of 297 to 511 runs, one 8 levels deep), anomaly results (about 1,000
pipelines anomalous in the last 24 h), 150,000 resolved incidents plus the open ones of real freshness and
timeliness runs, and an alert history of 100,000 alerts with their subjects.

Then, per page, it times --requests GETs (after --warmup) through a real `watcher serve --workers 2` and counts the
SQL statements one request sends (the app in-process, statements captured from the engine); the slowest
statements get an EXPLAIN (ANALYZE, BUFFERS). Target (issue 11): p95 < 150 ms and < 300 KB per page.
Usage: python bench/ui_pages.py [--url postgresql://postgres@127.0.0.1:5432/test] [--build-only | --skip-build] [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import os
import random
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

import monitoring_scale
from watcher_server.alerts.service import Outbox
from watcher_server.core.clock import CLOCK
from watcher_server.db.engine import Database, create_engine
from watcher_server.monitoring.freshness import run_freshness
from watcher_server.monitoring.timeliness import run_timeliness
from watcher_server.settings import Settings
from watcher_server.web.pages.alerts import MAX_PAGE as ALERTS_MAX_PAGE

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "watcher_ui_bench"
PIPELINES = monitoring_scale.PIPELINES
ADDRESS_TYPES = [("postgres", "database"), ("snowflake", "database"), ("s3", "file"), ("kafka", "stream")]
# (layer, addresses, address type ids to draw from): 50,000 addresses in all
LAYERS = [
    ("source", 15_000, (1, 3, 4)),
    ("raw", 10_000, (2,)),
    ("staging", 10_000, (2,)),
    ("intermediate", 8_000, (2,)),
    ("mart", 5_000, (2, 1)),
    ("report", 2_000, (1,)),
]
SUBJECTS = ["customers", "orders", "payments", "invoices", "products", "sessions", "events", "shipments", "refunds", "accounts",
            "ledger", "campaigns", "clicks", "inventory", "suppliers", "tickets", "subscriptions", "users", "devices", "prices"]  # fmt: skip
EDGES = 100_000
HUB_FAN_OUT = 3_000
BUSY_PIPELINE = 1  # has anomaly rules (monitoring_scale gives them to pipelines 1..200)
BUSY_RUNS = 4_320  # every 20 minutes for 60 days: /ui/pipelines/1?runs_page=50 is a real page
REPLICATION_PIPELINE = 99_999  # writes the hub's 3,000 edges
ORCHESTRATOR = 2
ANOMALY_PIPELINES = 5_000  # have rules; every 5th is anomalous in the last 24 h

# What detection keeps beside the recent anomalies (anomalies/incidents.py): one open incident per
# pipeline and metric, opened by its flagged run. Also run by --skip-build on data built before incidents.
OPEN_ANOMALY_INCIDENTS = """
    INSERT INTO anomaly_incident (pipeline_id, metric_field, rule_id, opened_execution_id, last_execution_id, flagged_count, opened_at)
    SELECT DISTINCT ON (pipeline_id, metric_field) pipeline_id, metric_field, rule_id, pipeline_execution_id, pipeline_execution_id, 1, detected_at
    FROM anomaly_detection_result WHERE detected_at > now() - interval '24 hours'
      AND NOT EXISTS (SELECT 1 FROM anomaly_incident)
    ORDER BY pipeline_id, metric_field, detected_at DESC"""
ALERTS = 100_000
RESOLVED_FRESHNESS = 100_000
RESOLVED_TIMELINESS = 50_000


def _addresses(rng: random.Random) -> tuple[list[tuple], dict[str, list[int]]]:
    records, layer_ids, next_id = [], {}, 1
    for layer, size, types in LAYERS:
        layer_ids[layer] = list(range(next_id, next_id + size))
        for n in range(size):
            subject = SUBJECTS[n % len(SUBJECTS)]
            type_id = types[n % len(types)]
            database = {1: "app", 2: "warehouse", 3: "lake", 4: "events"}[type_id]
            table = f"{subject}_{n // len(SUBJECTS)}"
            name = f"{database}.{layer}.{table}" if type_id != 3 else f"s3://lake/{layer}/{table}/"
            records.append((next_id, name, type_id, database, layer, table, "id", "0" * 64))
            next_id += 1
    return records, layer_ids


def _fan_in(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.85:
        return rng.randint(1, 3)
    if roll < 0.98:
        return rng.randint(4, 8)
    return rng.randint(9, 20)


def _edges(rng: random.Random, layer_ids: dict[str, list[int]]) -> tuple[list[tuple], dict[str, int]]:
    """A layered DAG: each table reads 1-3 tables of the layer above (a tail up to 20; one input in ten from
    any layer further up), is written by one pipeline, plus hubs: a raw table feeding 3,000 staging tables
    (all written by one replication pipeline), five raw tables feeding 300-800 each, a mart reading 1,200
    intermediate tables and a report reading 400 marts."""
    names = [layer for layer, _, _ in LAYERS]
    writer: dict[int, int] = {}
    edges: set[tuple[int, int, int]] = set()
    required: set[tuple[int, int]] = set()
    for index in range(1, len(names)):
        for target in layer_ids[names[index]]:
            writer[target] = rng.randint(1, PIPELINES)
            for k in range(_fan_in(rng)):
                layer = names[index - 1] if rng.random() < 0.9 else names[rng.randrange(0, index)]
                source = rng.choice(layer_ids[layer])
                edges.add((writer[target], source, target))
                if k == 0:
                    required.add((source, target))
    hub = layer_ids["raw"][0]
    hubs = {"hub": hub}
    for target in rng.sample(layer_ids["staging"], HUB_FAN_OUT):
        edges.add((REPLICATION_PIPELINE, hub, target))
    for k, fan_out in enumerate((800, 600, 500, 400, 300)):
        source = layer_ids["raw"][1 + k]
        for target in rng.sample(layer_ids["staging"], fan_out):
            edges.add((writer[target], source, target))
    fan_in_mart, fan_in_report = layer_ids["mart"][0], layer_ids["report"][0]
    hubs |= {"fan_in_mart": fan_in_mart, "fan_in_report": fan_in_report}
    for source in rng.sample(layer_ids["intermediate"], 1_200):
        edges.add((writer[fan_in_mart], source, fan_in_mart))
    for source in rng.sample(layer_ids["mart"][1:], 400):
        edges.add((writer[fan_in_report], source, fan_in_report))
    # Trim ordinary extra inputs down to EDGES; every table keeps its first input and the hubs keep theirs.
    protected = {hub, *(layer_ids["raw"][1:6])}
    removable = [
        e for e in sorted(edges)
        if (e[1], e[2]) not in required and e[1] not in protected and e[2] not in (fan_in_mart, fan_in_report)
    ]  # fmt: skip
    rng.shuffle(removable)
    for edge in removable[: max(0, len(edges) - EDGES)]:
        edges.discard(edge)
    return sorted(edges), hubs


def _trees(first_id: int, now: dt.datetime) -> tuple[list[list[tuple]], dict[str, int]]:
    """Nested executions, grouped by depth (the closure trigger needs a parent's rows before its child's):
    20 daily orchestrations of 297 runs (8 x 6 x 5), a wide one of 493 runs (12 x 8 x 4) and a deep one of
    511 runs (binary, 8 levels). Returns rows (id, parent_id, pipeline_id, start, end, ok) per depth."""
    levels: list[list[tuple]] = [[] for _ in range(9)]
    next_id = first_id
    marks: dict[str, int] = {}

    def grow(parent_id, pipeline_id, depth, start, shape, salt) -> tuple[int, dt.datetime]:
        nonlocal next_id
        my_id = next_id
        next_id += 1
        end = start + dt.timedelta(seconds=30 + (my_id * 37) % 600)
        if depth < len(shape):  # children run side by side, the parent ends after the last of them
            ends = [
                grow(my_id, 1_000 + depth * 1_000 + salt * 50 + k, depth + 1, start + dt.timedelta(seconds=5 + k), shape, salt + k + 1)[1]
                for k in range(shape[depth])
            ]
            end = max(ends) + dt.timedelta(seconds=5)
        else:
            marks["last_leaf"] = my_id
        levels[depth].append((my_id, parent_id, pipeline_id, start, end, my_id % 97 != 0))
        return my_id, end

    for day in range(20, 0, -1):
        grow(None, ORCHESTRATOR, 0, now - dt.timedelta(days=day, hours=6), (8, 6, 5), day)
    marks["wide_root"], _ = grow(None, ORCHESTRATOR, 0, now - dt.timedelta(hours=20), (12, 8, 4), 21)
    marks["deep_root"], _ = grow(None, ORCHESTRATOR, 0, now - dt.timedelta(hours=10), (2,) * 8, 22)
    marks["deep_leaf"] = marks.pop("last_leaf")
    return [level for level in levels if level], marks


async def build(admin_url: str) -> str:
    monitoring_scale.DATABASE = DATABASE  # the same data under another name: the benchmarks never share a database
    started = time.perf_counter()
    url = await monitoring_scale.build(admin_url)
    print(f"  monitoring data built in {time.perf_counter() - started:.0f}s", flush=True)

    rng = random.Random(11)
    conn = await asyncpg.connect(url)
    try:
        await _step(
            conn,
            "address types",
            "INSERT INTO address_type (name, group_name) VALUES " + ", ".join(f"('{n}', '{g}')" for n, g in ADDRESS_TYPES),
        )
        addresses, layer_ids = _addresses(rng)
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "address", records=addresses,
            columns=["id", "name", "address_type_id", "database_name", "schema_name", "table_name", "primary_key", "input_hash"],
        )  # fmt: skip
        await conn.execute("SELECT setval(pg_get_serial_sequence('address', 'id'), (SELECT max(id) FROM address))")
        edges, hubs = _edges(rng, layer_ids)
        await conn.copy_records_to_table(
            "address_lineage", records=edges, columns=["pipeline_id", "source_address_id", "target_address_id"]
        )
        print(
            f"  built {len(addresses):,} addresses and {len(edges):,} lineage edges in {time.perf_counter() - started:.1f}s {hubs}",
            flush=True,
        )
        await _step(
            conn,
            "lineage pipelines",
            "UPDATE pipeline SET load_lineage = true WHERE id IN (SELECT DISTINCT pipeline_id FROM address_lineage)",
        )

        await _step(
            conn,
            "busy pipeline runs",
            f"""
            INSERT INTO pipeline_execution (pipeline_id, start_date, date_recorded, hour_recorded, weekday_recorded, end_date,
                duration_seconds, completed_successfully, inserts, updates, soft_deletes, total_rows, throughput, watermark, next_watermark,
                execution_metadata, anomaly_checked_at)
            SELECT {BUSY_PIPELINE}, s, s::date, extract(hour from s)::int, extract(isodow from s)::int, s + d * interval '1 second', d,
                   n % 40 <> 0, 500 + n % 300, n % 50, n % 7, 5000 + n % 900, (5000 + n % 900)::float8 / d,
                   to_char(s, 'YYYY-MM-DD"T"HH24:MI'), to_char(s + interval '20 minutes', 'YYYY-MM-DD"T"HH24:MI'),
                   jsonb_build_object('git_sha', md5(n::text), 'host', 'worker-' || n % 8), now()
            FROM generate_series(1, {BUSY_RUNS}) n,
                 LATERAL (SELECT date_trunc('minute', now()) - n * interval '20 minutes' AS s, 60 + n % 240 AS d) x""",
        )

        first_id = await conn.fetchval("SELECT max(id) + 1 FROM pipeline_execution")
        levels, marks = _trees(first_id, dt.datetime.now(dt.UTC).replace(microsecond=0))
        started = time.perf_counter()
        for level in levels:
            await conn.copy_records_to_table(
                "pipeline_execution",
                records=[
                    (i, parent, pipeline, start, start.date(), start.hour, start.isoweekday(), end, int((end - start).total_seconds()), ok,
                     100, 1000)
                    for i, parent, pipeline, start, end, ok in level
                ],
                columns=["id", "parent_id", "pipeline_id", "start_date", "date_recorded", "hour_recorded", "weekday_recorded", "end_date",
                         "duration_seconds", "completed_successfully", "inserts", "total_rows"],
            )  # fmt: skip
        await conn.execute("SELECT setval(pg_get_serial_sequence('pipeline_execution', 'id'), (SELECT max(id) FROM pipeline_execution))")
        print(f"  built {sum(map(len, levels)):,} nested executions in {time.perf_counter() - started:.1f}s {marks}", flush=True)

        await _step(
            conn,
            "anomaly rules",
            f"""
            INSERT INTO anomaly_detection_rule (pipeline_id, metric_field, minimum_executions, seasonality)
            SELECT p, m, 5, 'none' FROM generate_series({monitoring_scale.RULE_PIPELINES + 1}, {ANOMALY_PIPELINES}) p,
                   unnest(ARRAY['duration_seconds', 'total_rows']) m""",
        )
        result_columns = ("pipeline_execution_id, rule_id, pipeline_id, metric_field, direction, seasonality, violation_value, z_score, "
                          "historical_mean, std_deviation_value, z_threshold, threshold_min_value, threshold_max_value, context, detected_at")  # fmt: skip
        result_values = ("e.id, r.id, r.pipeline_id, r.metric_field, r.direction, r.seasonality, e.duration_seconds * 3, 4.2, "
                         "e.duration_seconds, 60, 3, 0, e.duration_seconds * 2, '{\"lookback_days\": 30}'::jsonb")  # fmt: skip
        await _step(
            conn,
            "anomaly history",
            f"""
            INSERT INTO anomaly_detection_result ({result_columns})
            SELECT {result_values}, e.end_date
            FROM anomaly_detection_rule r JOIN pipeline_execution e ON e.pipeline_id = r.pipeline_id
            WHERE r.metric_field = 'duration_seconds' AND e.id % 17 = 0 AND e.completed_successfully
              AND e.end_date < now() - interval '2 days'""",
        )
        await _step(
            conn,
            "recent anomalies",
            f"""
            INSERT INTO anomaly_detection_result ({result_columns})
            SELECT {result_values}, now() - (r.pipeline_id % 20) * interval '1 hour'
            FROM anomaly_detection_rule r
            JOIN LATERAL (SELECT * FROM pipeline_execution e WHERE e.pipeline_id = r.pipeline_id AND e.completed_successfully
                          ORDER BY e.start_date DESC LIMIT 1) e ON true
            WHERE (r.pipeline_id % 5 = 0 OR r.pipeline_id = {BUSY_PIPELINE}) AND r.metric_field IN ('duration_seconds', 'total_rows')
            ON CONFLICT DO NOTHING""",
        )
        await _step(
            conn,
            "anomaly flags",
            """
            UPDATE pipeline_execution e SET anomaly_flags = f.flags
            FROM (SELECT pipeline_execution_id, jsonb_object_agg(metric_field, true) flags FROM anomaly_detection_result GROUP BY 1) f
            WHERE e.id = f.pipeline_execution_id""",
        )
        await _step(conn, "open anomaly incidents", OPEN_ANOMALY_INCIDENTS)

        await _step(
            conn,
            "resolved freshness incidents",
            f"""
            INSERT INTO freshness_pipeline_log (pipeline_id, last_dml_timestamp, evaluation_timestamp, last_evaluated_at, deadline,
                freshness_number, freshness_datepart, used_child_config, resolved_at, resolution, created_at)
            SELECT 1 + (g * 7919) % {PIPELINES}, t - interval '3 hours', t, t + interval '2 hours', t - interval '1 hour', 2, 'hour', false,
                   t + (1 + g % 10) * interval '1 hour', 'recovered', t
            FROM generate_series({RESOLVED_FRESHNESS}, 1, -1) g, LATERAL (SELECT now() - g * interval '75 seconds' AS t) x""",
        )
        await _step(
            conn,
            "resolved timeliness incidents",
            f"""
            INSERT INTO timeliness_pipeline_execution_log (pipeline_execution_id, pipeline_id, execution_status, duration_seconds,
                seconds_threshold, timely_number, timely_datepart, used_child_config, final_status, resolved_at, created_at)
            SELECT id, pipeline_id, 'running', duration_seconds, 300, 5, 'minute', false,
                   CASE WHEN completed_successfully THEN 'completed' ELSE 'failed' END, end_date, start_date + interval '5 minutes'
            FROM pipeline_execution WHERE id % 97 = 0 AND id <= 10000000 AND duration_seconds > 300 LIMIT {RESOLVED_TIMELINESS}""",
        )

        alert_kinds = "(ARRAY['freshness','timeliness','execution_failure','anomaly'])[1 + g % 4]"
        await _step(
            conn,
            "alert history",
            f"""
            INSERT INTO alert (id, kind, event, level, title, message, details, created_at, delivery_status, delivery_attempts, sent_at)
            SELECT g, {alert_kinds},
                   (ARRAY['opened','opened','failed','anomaly'])[1 + g % 4],
                   (ARRAY['warning','warning','error','warning'])[1 + g % 4],
                   (ARRAY['Freshness Check - Pipeline DML','Timeliness Check - Pipeline Execution','Pipeline Execution Failure',
                          'Anomaly Detection'])[1 + g % 4],
                   CASE g % 4 WHEN 3 THEN 'Anomalies Detected for Pipeline ''pipeline ' || p || ''' (ID: ' || p || ') - Execution ID '
                                          || (p * 100) || ' flagged'
                              WHEN 2 THEN 'Pipeline Execution Failure Check - 1 execution(s) failed'
                              ELSE 'Pipeline Freshness Check - ' || (1 + g % 7) || ' NEW pipeline(s) overdue' END,
                   jsonb_build_object('Failed Pipelines', 'pipeline ' || p || ' (ID: ' || p || ')'),
                   t, CASE WHEN g % 500 = 0 THEN 'failed' ELSE 'sent' END, 1, t
            FROM generate_series(1, {ALERTS}) g,
                 LATERAL (SELECT 1 + (g * 7919) % {PIPELINES} AS p, now() - ({ALERTS} + 1 - g) * interval '50 seconds' AS t) x""",
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('alert', 'id'), (SELECT max(id) FROM alert))")
        await _step(
            conn,
            "alert subjects",
            f"""
            INSERT INTO alert_subject (alert_id, pipeline_id, pipeline_execution_id)
            SELECT g, 1 + (g * 7919) % {PIPELINES}, NULL FROM generate_series(1, {ALERTS}) g
            UNION ALL SELECT g, NULL, (1 + (g * 7919) % {PIPELINES}) * 100 FROM generate_series(3, {ALERTS}, 4) g
            UNION ALL SELECT g, 1 + (g * 31 + k) % {PIPELINES}, NULL FROM generate_series(100, {ALERTS}, 100) g, generate_series(1, 200) k""",
        )
    finally:
        await conn.close()

    settings = Settings(database_url=url)
    db = Database(create_engine(url, pool_size=2, max_overflow=0))
    try:
        for name, run in (
            ("freshness", lambda: run_freshness(db, settings, CLOCK.now(), Outbox())),
            ("timeliness", lambda: run_timeliness(db, settings, CLOCK.now(), 240, Outbox())),
        ):
            started = time.perf_counter()
            result = await run()
            print(f"  {name} run (opens the incidents) in {time.perf_counter() - started:.1f}s: "
                  f"{ {k: (len(v) if isinstance(v, list) else v) for k, v in result.items()} }", flush=True)  # fmt: skip
    finally:
        await db.dispose()

    conn = await asyncpg.connect(url)
    try:
        await _step(conn, "vacuum analyze", "VACUUM ANALYZE")
    finally:
        await conn.close()
    return url


async def _step(conn: asyncpg.Connection, label: str, sql: str) -> None:
    started = time.perf_counter()
    status = await conn.execute(sql)
    print(f"  built {label} in {time.perf_counter() - started:.1f}s ({status})", flush=True)


# ---------------------------------------------------------------------------------------------- measuring


@dataclass
class Page:
    label: str
    path: str
    timings_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    html_bytes: int = 0
    wire_bytes: int = 0
    statements: list[tuple[str, object, float]] = field(default_factory=list)  # (sql, parameters, ms) of one request
    in_process_ms: float = 0.0  # median of 5 requests to the app in-process, no HTTP server: SQL + Python + rendering


async def pages_to_measure(url: str) -> list[Page]:
    """The pages of issue 11, point 6, with ids looked up in the built data: the busiest pipeline, the root of
    the biggest execution tree and its deepest leaf, the address with the most downstream tables, an ordinary
    staging table (2-3 inputs, 1-3 outputs) and the pipelines that wrote the most and a typical number of edges."""
    conn = await asyncpg.connect(url)
    try:
        busy = await conn.fetchval(
            "SELECT pipeline_id FROM pipeline_execution WHERE start_date > now() - interval '7 days' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        root, size = await conn.fetchrow(
            "SELECT c.parent_execution_id, count(*) FROM pipeline_execution e JOIN pipeline_execution_closure c ON c.parent_execution_id = e.id "
            "WHERE e.pipeline_id = $1 AND e.parent_id IS NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 1", ORCHESTRATOR,
        )  # fmt: skip
        leaf = await conn.fetchval(
            "SELECT child_execution_id FROM pipeline_execution_closure WHERE parent_execution_id = $1 ORDER BY depth DESC, child_execution_id DESC LIMIT 1",
            root,
        )  # fmt: skip
        hub, fan_out = await conn.fetchrow("SELECT source_address_id, count(*) FROM address_lineage GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        ordinary = await conn.fetchval("""
            SELECT a.id FROM address a
            WHERE a.schema_name = 'staging' AND a.table_name LIKE 'orders%'
              AND (SELECT count(*) FROM address_lineage l WHERE l.target_address_id = a.id) BETWEEN 2 AND 3
              AND (SELECT count(*) FROM address_lineage l WHERE l.source_address_id = a.id) BETWEEN 1 AND 3
            ORDER BY a.id LIMIT 1""")
        wide, fan_in = await conn.fetchrow("SELECT target_address_id, count(*) FROM address_lineage GROUP BY 1 ORDER BY 2 DESC LIMIT 1")
        stale = await conn.fetchval("SELECT count(*) FROM freshness_pipeline_log WHERE resolved_at IS NULL")
        alerts = await conn.fetchval("SELECT count(*) FROM alert")
        writers = await conn.fetch("SELECT pipeline_id, count(*) n FROM address_lineage GROUP BY 1 ORDER BY 2 DESC")
        typical = writers[len(writers) // 2]
    finally:
        await conn.close()
    print(f"ids: busy pipeline {busy}, tree root {root} ({size} runs), its deepest leaf {leaf}, hub address {hub} ({fan_out} downstream), "
          f"ordinary address {ordinary}, lineage pipelines {writers[0]['pipeline_id']} ({writers[0]['n']} edges) and "
          f"{typical['pipeline_id']} ({typical['n']} edges)", flush=True)  # fmt: skip
    return [
        Page("overview", "/ui"),
        Page("pipelines", "/ui/pipelines"),
        Page("pipelines, search", "/ui/pipelines?q=4242"),
        Page("pipelines, stale", "/ui/pipelines?state=stale"),
        Page("pipelines, by -id, page 200", "/ui/pipelines?sort=-id&page=200"),
        Page("pipeline (busy)", f"/ui/pipelines/{busy}"),
        Page("pipeline (busy), runs page 50", f"/ui/pipelines/{busy}?runs_page=50"),
        Page(f"execution, root of {size} runs", f"/ui/executions/{root}"),
        Page("execution, deepest leaf", f"/ui/executions/{leaf}"),
        Page(f"lineage, hub ({fan_out} down), depth 2", f"/ui/lineage?address_id={hub}&depth=2"),
        Page("lineage, ordinary, depth 6", f"/ui/lineage?address_id={ordinary}&depth=6"),
        Page(f"lineage, pipeline ({typical['n']} edges)", f"/ui/lineage?pipeline_id={typical['pipeline_id']}"),
        Page(f"lineage, pipeline ({writers[0]['n']} edges)", f"/ui/lineage?pipeline_id={writers[0]['pipeline_id']}"),
        Page("lineage, search", "/ui/lineage?q=orders"),
        Page("incidents", "/ui/incidents"),
        Page("incidents, freshness open", "/ui/incidents?kind=freshness&status=open"),
        Page("alerts", "/ui/alerts"),
        Page("alerts, page 100", "/ui/alerts?page=100"),
        # Beyond issue 11's list: the worst cases this data has.
        Page("stress: pipelines, search matching all", "/ui/pipelines?q=pipeline"),
        Page("stress: pipelines, stale, last page", f"/ui/pipelines?state=stale&page={-(-stale // 50)}"),
        Page("stress: pipelines, by -id, last page", f"/ui/pipelines?sort=-id&page={PIPELINES // 50}"),
        Page(f"stress: lineage, hub ({fan_out} down), depth 6", f"/ui/lineage?address_id={hub}&depth=6"),
        Page(f"stress: lineage, mart with {fan_in} inputs, depth 2", f"/ui/lineage?address_id={wide}&depth=2"),
        Page("stress: incidents, page 20", "/ui/incidents?page=20"),
        # the deepest page the alerts page serves (older alerts are read from the API)
        Page("stress: alerts, last page", f"/ui/alerts?page={min(-(-alerts // 50), ALERTS_MAX_PAGE)}"),
    ]


@contextlib.contextmanager
def logging_server(database_url: str, port: int, workers: int, log_path: Path):
    """Like serving.watcher_server, but with the access log on (to log_path): each line has the server's own time."""
    env = {**os.environ, "WATCHER_DATABASE_URL": database_url, "WATCHER_SCHEDULER_ENABLED": "false", "WATCHER_LOG_FORMAT": "text"}
    command = [sys.executable, "-m", "watcher_server.cli", "serve", "--port", str(port), "--workers", str(workers), "--log-level", "info"]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"watcher serve exited with {server.returncode}; see {log_path}")
                try:
                    if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"watcher serve did not become ready on {base}; see {log_path}")
                time.sleep(0.2)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


ACCESS_LINE = re.compile(r" (\d+) (\d+(?:\.\d+)?)ms id=(ui-\S+)")


def time_pages(url: str, pages: list[Page], args) -> None:
    """Each page --warmup times, then --requests timed GETs, one after another on one keep-alive connection
    (as a browser would), with the browser's Accept-Encoding; client time = request sent to body read."""
    log_path = Path(args.log_dir) / "ui_pages_server.log"
    with logging_server(url, args.port, 2, log_path) as base:
        with httpx.Client(base_url=base, timeout=60, headers={"Accept": "text/html", "Accept-Encoding": "gzip, deflate"}) as http:
            for number, page in enumerate(pages):
                for n in range(args.warmup + args.requests):
                    started = time.perf_counter()
                    try:
                        response = http.get(page.path, headers={"X-Request-ID": f"ui-{number}-{n}"})
                    except httpx.HTTPError as error:  # a failure to report, like a non-200
                        print(f"  {page.label}: {error!r}", flush=True)
                        page.statuses.add(0)
                        continue
                    body = response.content
                    elapsed = (time.perf_counter() - started) * 1000
                    if n >= args.warmup:
                        page.timings_ms.append(elapsed)
                        page.statuses.add(response.status_code)
                        page.html_bytes = len(body)
                        page.wire_bytes = response.num_bytes_downloaded + sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
                print(f"  {page.label}: {_summary(page.timings_ms)}, {page.html_bytes / 1024:.0f} KB, {sorted(page.statuses)}", flush=True)
        time.sleep(1)  # the last access lines
    for line in log_path.read_text(errors="replace").splitlines():
        found = ACCESS_LINE.search(line)
        if found:
            number, n = map(int, found.group(3).split("-")[1:3])
            if n >= args.warmup:
                pages[number].server_ms.append(float(found.group(2)))


async def count_statements(url: str, pages: list[Page]) -> None:
    """Through the app in-process (no HTTP server; after one untimed request): the median of 5 requests, then
    one more request with every statement it sends captured from the engine, with its time."""
    from asgi_lifespan import LifespanManager
    from sqlalchemy import event

    from watcher_server.app import create_app

    app = create_app(Settings(database_url=url, scheduler_enabled=False, db_pool_size=2, db_max_overflow=0))
    async with LifespanManager(app):
        engine = app.state.services.db.engine.sync_engine
        captured: list[tuple[str, object, float]] = []

        def before(_conn, _cursor, _statement, _parameters, context, _many):
            context._bench_started = time.perf_counter()

        def after(_conn, _cursor, statement, parameters, context, _many):
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "EXPLAIN")):
                captured.append((statement, parameters, (time.perf_counter() - context._bench_started) * 1000))

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", headers={"Accept": "text/html"}, timeout=120
        ) as http:
            for page in pages:
                await http.get(page.path)
                timings = []
                for _ in range(5):
                    started = time.perf_counter()
                    await http.get(page.path)
                    timings.append((time.perf_counter() - started) * 1000)
                page.in_process_ms = statistics.median(timings)
                event.listen(engine, "before_cursor_execute", before)
                event.listen(engine, "after_cursor_execute", after)
                try:
                    await http.get(page.path)
                finally:
                    event.remove(engine, "before_cursor_execute", before)
                    event.remove(engine, "after_cursor_execute", after)
                page.statements = list(captured)
                captured.clear()


async def explain_slowest(url: str, pages: list[Page], args) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each page's slowest statement when it took --explain-ms or more, or when
    the page missed its target; a statement sent by several pages is explained with the parameters it was slowest with."""
    slowest: dict[str, tuple[Page, object, float]] = {}  # by statement text: the slowest instance of it
    for page in pages:
        if not page.statements:
            continue
        statement, parameters, ms = max(page.statements, key=lambda s: s[2])
        if (ms >= args.explain_ms or not _meets_target(page)) and ms > slowest.get(statement, (None, None, -1.0))[2]:
            slowest[statement] = (page, parameters, ms)
    chosen = [(page, statement, parameters, ms) for statement, (page, parameters, ms) in slowest.items()]
    if not chosen:
        print(f"\nno statement took {args.explain_ms} ms or more", flush=True)
        return
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            for page, statement, parameters, ms in chosen:
                plan = (await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)).scalars().all()
                print(f"\n### {page.label} ({page.path}): slowest statement, {ms:.1f} ms in the app\n```sql\n{statement.strip()}\n-- parameters: {parameters}\n```",
                      flush=True)  # fmt: skip
                print("```\n" + "\n".join(plan) + "\n```", flush=True)
    finally:
        await engine.dispose()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _summary(timings_ms: list[float]) -> str:
    return (
        f"p50 {_median(timings_ms):.1f} ms, p95 {_percentile(timings_ms, 0.95):.1f} ms, max {max(timings_ms, default=float('nan')):.1f} ms"
    )


def _meets_target(page: Page) -> bool:
    return page.statuses == {200} and _percentile(page.timings_ms, 0.95) < 150 and page.html_bytes < 300 * 1024


def _statements_cell(page: Page) -> str:
    if not page.statements:
        return "0"
    repeats = collections.Counter(statement for statement, _, _ in page.statements).most_common(1)[0][1]
    return f"{len(page.statements)}" + (f" ({repeats}x one statement)" if repeats > 2 else "")


def table(pages: list[Page]) -> str:
    lines = [
        "| page | p50 ms | p95 ms | max ms | server p95 ms | KB (HTML) | KB (wire) | statements | in-process ms | SQL ms | slowest statement ms | status | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|",
    ]
    for page in pages:
        slowest = max((ms for _, _, ms in page.statements), default=0.0)
        lines.append(
            f"| {page.label} `{page.path}` | {_median(page.timings_ms):.1f} | {_percentile(page.timings_ms, 0.95):.1f} | "
            f"{max(page.timings_ms, default=float('nan')):.1f} | {_percentile(page.server_ms, 0.95):.1f} | {page.html_bytes / 1024:.1f} | {page.wire_bytes / 1024:.1f} | "
            f"{_statements_cell(page)} | {page.in_process_ms:.1f} | {sum(ms for _, _, ms in page.statements):.1f} | {slowest:.1f} | {', '.join(map(str, sorted(page.statuses)))} | {'✔' if _meets_target(page) else '✘'} |"
        )  # fmt: skip
    return "\n".join(lines)


async def _missing_indexes(url: str) -> list[str]:
    from watcher_server.all_tables import load_all_tables

    declared = {index.name for table in load_all_tables().tables.values() for index in table.indexes}
    conn = await asyncpg.connect(url)
    try:
        present = {row[0] for row in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    finally:
        await conn.close()
    return sorted(declared - present)


async def _open_anomaly_incidents(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(OPEN_ANOMALY_INCIDENTS)
    finally:
        await conn.close()


async def _sizes(url: str) -> dict:
    conn = await asyncpg.connect(url)
    try:
        return dict(await conn.fetchrow(
            "SELECT (SELECT count(*) FROM pipeline) pipelines, (SELECT reltuples::bigint FROM pg_class WHERE relname = 'pipeline_execution') executions, "
            "(SELECT count(*) FROM address) addresses, (SELECT count(*) FROM address_lineage) edges, (SELECT count(*) FROM alert) alerts, "
            "(SELECT count(*) FROM freshness_pipeline_log WHERE resolved_at IS NULL) open_freshness, "
            "(SELECT count(*) FROM timeliness_pipeline_execution_log WHERE resolved_at IS NULL) open_timeliness, "
            "(SELECT count(DISTINCT pipeline_id) FROM anomaly_incident WHERE resolved_at IS NULL) anomalous, "
            # the build ends with a manual VACUUM, which only it runs
            "(SELECT extract(epoch FROM now() - last_vacuum) / 3600 FROM pg_stat_user_tables WHERE relname = 'address')::float8 built_hours_ago"
        ))  # fmt: skip
    finally:
        await conn.close()


def measure(url: str, args) -> None:
    # Migrations added after the build (indexes for the pages) are applied first, outside the timing.
    subprocess.run([sys.executable, "-m", "watcher_server.cli", "db", "upgrade", "--database-url", url], check=True, cwd=ROOT)
    asyncio.run(_open_anomaly_incidents(url))
    missing = asyncio.run(_missing_indexes(url))
    if missing:
        print(f"warning: indexes of the code's schema missing in this database (an edited migration?): {', '.join(missing)}", flush=True)
    sizes = asyncio.run(_sizes(url))
    age = sizes.pop("built_hours_ago")
    print(f"database: {sizes}, built {age:.1f} h ago", flush=True)
    if age > 6:
        print(
            "  warning: the 'last 24 h' states (failing, anomalous) and the running executions age with the data; rebuild for comparable numbers"
        )
    pages = asyncio.run(pages_to_measure(url))
    print(
        f"timing {len(pages)} pages through `watcher serve --workers 2`, {args.warmup} warm-up + {args.requests} timed requests each:",
        flush=True,
    )
    time_pages(url, pages, args)
    asyncio.run(count_statements(url, pages))
    print("\nstatements per page (one request in-process; ms each, in the order sent):", flush=True)
    for page in pages:
        print(
            f"  {page.label} ({page.path}): {len(page.statements)} statements, {sum(ms for _, _, ms in page.statements):.1f} ms", flush=True
        )
        for statement, _, ms in page.statements:
            print(f"    {ms:6.1f} ms  {' '.join(statement.split())[:150]}", flush=True)
    asyncio.run(explain_slowest(url, pages, args))
    print("\n" + table(pages), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-build", action="store_true", help="reuse the database of an earlier run")
    parser.add_argument("--build-only", action="store_true", help="build the database and stop")
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--explain-ms", type=float, default=20.0, help="EXPLAIN a page's slowest statement from this time on")
    parser.add_argument("--log-dir", default="/tmp", help="where the server's access log goes")
    args = parser.parse_args()
    url = args.url.rsplit("/", 1)[0] + f"/{DATABASE}" if args.skip_build else asyncio.run(build(args.url))
    if not args.build_only:
        measure(url, args)


if __name__ == "__main__":
    main()
