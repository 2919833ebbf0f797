#!/usr/bin/env python3
"""OpenLineage events in under load: POST /api/v1/lineage on PostgreSQL through `watcher serve --workers 2`.

Workload (docs/openlineage.md; bench/README.md "OpenLineage load benchmark"): --producers concurrent producers
(default 50), each on its own keep-alive HTTP/1.1 connection to 127.0.0.1, loop a *run* of one of --jobs
jobs (default 200): a START event, then, once it is answered, a COMPLETE event of the same new runId (uuid4),
each posted alone to /api/v1/lineage, shaped as the openlineage-python client sends them (eventTime ISO-8601
with Z, producer, schemaURL, run {runId, facets}, job {namespace, name, facets.jobType}, inputs, outputs).
Two modes, each on a fresh database and a freshly started server, reported side by side:

  plain     no datasets (inputs and outputs empty)
  lineage   5 inputs + 5 outputs per event, stable per job (job j reads job j-1's outputs), so the lineage
            is written by each job's first run and unchanged afterwards; COMPLETE carries
            outputStatistics.rowCount on every output

Per mode: warm-up (at least --warmup seconds and until every job has run once), then --seconds measured. An
event counts when it *started* inside the window; events/s = those events / (window end or last answer).
Reported: events/s, runs/s, p50/p95/p99/max latency (all events, START, COMPLETE), errors (any non-2xx,
timeout or network error; the first five bodies are printed), the CPU split over the window (bench/core_load.py's
/proc accounting: server process tree, postgres, load generator) as ms of CPU per event, PostgreSQL sessions
opened, and a consistency check read from the database once the producers have finished their last run:
one execution per run whose events were accepted, all ended and successful, START and COMPLETE answered
with the same execution, total_rows = the summed rowCounts (lineage mode), one event log row per event
accepted, one pipeline per job, and (lineage mode) the expected addresses and edges.

Targets (issue point 5): >= 1,000 events/s with p99 < 100 ms, 0 errors.

The database (--database, default watcher_ol_bench) is dropped and recreated for each mode and dropped at the
end (unless --keep-database). The server gets WATCHER_DB_POOL_SIZE=--pool-size when given (default 15 per
worker on PostgreSQL; keep workers x pool well under max_connections=100).

Usage: python bench/openlineage_load.py [--url postgresql://postgres@127.0.0.1:5432/test] [--seconds 30]
           [--warmup 5] [--producers 50] [--jobs 200] [--workers 2] [--modes plain,lineage] [--client aiohttp|raw]
           [--json bench/results/openlineage.json]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import uuid

import asyncpg
import orjson

from core_load import AiohttpClient, RawClient, cpu_split, loop_runner, measured_window, record_answer, timed_request
from serving import ROOT, migrated_database, server_pid, watcher_server

DATABASE = "watcher_ol_bench"
PATH = "/api/v1/lineage"
MODES = ("plain", "lineage")
EVENT_TYPES = ("START", "COMPLETE")
TARGET_EVENTS_PER_S = 1000
TARGET_P99_MS = 100
MAX_ERROR_BODIES = 5

UTC = dt.UTC
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.26.0/client/python"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
JOB_NAMESPACE = "bench-airflow"
DATASET_NAMESPACE = "postgres://warehouse:5432"
DATASETS_PER_SIDE = 5


# --------------------------------------------------------------------------- events


def _facet(schema: str) -> dict:
    return {"_producer": PRODUCER, "_schemaURL": f"https://openlineage.io/spec/facets/{schema}#/$defs/{schema.split('/')[1].split('.')[0]}"}


def _dataset(name: str) -> dict:
    return {
        "namespace": DATASET_NAMESPACE,
        "name": name,
        "facets": {
            "dataSource": {**_facet("1-0-1/DatasourceDatasetFacet.json"), "name": DATASET_NAMESPACE, "uri": DATASET_NAMESPACE},
            "schema": {
                **_facet("1-1-1/SchemaDatasetFacet.json"),
                "fields": [
                    {"name": "id", "type": "BIGINT"},
                    {"name": "amount", "type": "NUMERIC"},
                    {"name": "updated_at", "type": "TIMESTAMP"},
                ],
            },
        },
    }


class Job:
    """One job's fixed parts: its `job` object and, in lineage mode, its datasets (stable across runs)."""

    def __init__(self, index: int, with_lineage: bool):
        self.name = f"bench_dag.task_{index:03d}"
        self.job = {
            "namespace": JOB_NAMESPACE,
            "name": self.name,
            "facets": {
                "jobType": {**_facet("2-0-3/JobTypeJobFacet.json"), "processingType": "BATCH", "integration": "AIRFLOW", "jobType": "TASK"},
            },
        }
        if with_lineage:
            # job j reads what job j-1 writes: one chain through every job
            sources = [f"shop.raw.source_{k}" for k in range(DATASETS_PER_SIDE)] if index == 0 else _outputs(index - 1)
            self.inputs = [{**_dataset(name), "inputFacets": {}} for name in sources]
            self.output_datasets = [_dataset(name) for name in _outputs(index)]
        else:
            self.inputs = []
            self.output_datasets = []


def _outputs(index: int) -> list[str]:
    return [f"shop.public.task_{index:03d}_table_{k}" for k in range(DATASETS_PER_SIDE)]


RUN_FACETS = {
    "processing_engine": {
        **_facet("1-1-1/ProcessingEngineRunFacet.json"),
        "version": "2.10.4",
        "name": "Airflow",
        "openlineageAdapterVersion": "1.26.0",
    },
}


def _now_iso() -> str:
    return dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def run_event(event_type: str, job: Job, run_id: str, row_counts: list[int] | None) -> bytes:
    if row_counts is None:
        outputs = [{**d, "outputFacets": {}} for d in job.output_datasets]
    else:
        outputs = [
            {
                **d,
                "outputFacets": {
                    "outputStatistics": {**_facet("1-0-2/OutputStatisticsOutputDatasetFacet.json"), "rowCount": n, "size": 120 * n}
                },
            }
            for d, n in zip(job.output_datasets, row_counts, strict=True)
        ]
    return orjson.dumps(
        {
            "eventTime": _now_iso(),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "eventType": event_type,
            "run": {"runId": run_id, "facets": RUN_FACETS},
            "job": job.job,
            "inputs": job.inputs,
            "outputs": outputs,
        }
    )


# --------------------------------------------------------------------------- the load


class RequestFailed(Exception):
    pass


class State:
    def __init__(self, n_jobs: int):
        self.measuring = False
        self.stop = False
        self.t0 = 0.0
        self.last_end = 0.0
        self.setup_jobs = iter(range(n_jobs))  # the first round runs every job once
        self.setup_left = n_jobs
        self.setup_done = asyncio.Event()
        self.lat: dict[str, list[float]] = {t: [] for t in EVENT_TYPES}
        self.timeline_count: dict[int, int] = {}
        self.timeline_max: dict[int, float] = {}
        self.errors = 0
        self.errors_by_type = {t: 0 for t in EVENT_TYPES}
        self.warmup_events = 0
        self.warmup_errors = 0
        self.created = 0  # 201 answers, warm-up included (= event log rows expected)
        self.repeats = 0  # 200 "repeat": never expected, every event is new
        self.status_counts: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.runs_measured = 0
        # every run started, warm-up included: run_id -> [start execution id, complete execution id, rows, done]
        self.runs: dict[str, list] = {}


async def producer(index: int, client, state: State, jobs: list[Job], seed: int) -> None:
    rng = random.Random(seed * 1000 + index)

    async def post(event_type: str, body: bytes) -> int | None:
        """Posts one event; returns the execution id of a 201, None after an error."""
        measuring = state.measuring
        status, data, t, end = await timed_request(client, "POST", PATH, body)
        if measuring:
            record_answer(state, event_type, t, end, status)
        else:
            state.warmup_events += 1
        if status is None or not 200 <= status < 300:
            if measuring:
                state.errors += 1
                state.errors_by_type[event_type] += 1
            else:
                state.warmup_errors += 1
            if len(state.error_samples) < MAX_ERROR_BODIES:
                phase = "measure" if measuring else "warm-up"
                state.error_samples.append(f"[{phase}] {event_type} -> {status}: {data[:400].decode(errors='replace')}")
            return None
        try:
            answer = orjson.loads(data)
        except orjson.JSONDecodeError:
            answer = {}
        if status == 201:
            state.created += 1
        elif answer.get("status") == "repeat":
            state.repeats += 1
        return answer.get("execution_id") or -1

    while not state.stop:
        j = next(state.setup_jobs, None)
        for_setup = j is not None
        if j is None:
            j = rng.randrange(len(jobs))
        job = jobs[j]
        run_id = str(uuid.uuid4())
        rows = [rng.randrange(1, 100_000) for _ in job.output_datasets]
        record = state.runs[run_id] = [None, None, sum(rows) if rows else None, False]
        measured = state.measuring
        # a producer that has sent START always sends COMPLETE, also after the window: the check expects ended runs
        record[0] = await post("START", run_event("START", job, run_id, None))
        record[1] = await post("COMPLETE", run_event("COMPLETE", job, run_id, rows))
        record[3] = True
        if measured and state.measuring:
            state.runs_measured += 1
        if record[0] is None or record[1] is None:
            await asyncio.sleep(0.01)  # do not spin on a failing server
        if for_setup:
            state.setup_left -= 1
            if state.setup_left == 0:
                state.setup_done.set()


async def load(args, base: str, jobs: list[Job], server_pid: int | None) -> tuple[dict, State]:
    state = State(len(jobs))
    client_cls = RawClient if args.client == "raw" else AiohttpClient
    clients = [client_cls(base, args.timeout) for _ in range(args.producers)]
    tasks: list[asyncio.Task] = []
    try:
        # one after another: 50 connects in one burst tend to land on one uvicorn worker
        for c in clients:
            await c.open()
            if args.connect_gap_ms > 0:
                await asyncio.sleep(args.connect_gap_ms / 1000)
        tasks = [asyncio.create_task(producer(i, c, state, jobs, args.seed)) for i, c in enumerate(clients)]
        started = time.monotonic()
        warmup_s, cpu0, cpu1, t1 = await measured_window(state, started, args.warmup, args.max_warmup, args.seconds, "run every job")
        # each producer finishes its run (at most two requests), bounded
        _, pending = await asyncio.wait(tasks, timeout=2 * args.timeout + 1)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    elapsed = max(t1, state.last_end) - state.t0
    all_values = sorted(v for vs in state.lat.values() for v in vs)
    events = len(all_values)
    cpu = cpu_split(cpu0, cpu1, server_pid)
    per_event = {}
    for group in ("server", "postgres", "load_generator"):
        cores = cpu[f"{group}_cores_proc"]
        per_event[f"{group}_ms"] = round(1000 * cores * cpu["elapsed_s"] / events, 3) if events else None
    per_event["machine_ms"] = round(1000 * cpu["machine_busy_cores"] * cpu["elapsed_s"] / events, 3) if events else None
    result = {
        "warmup_s": round(warmup_s, 2),
        "warmup_events": state.warmup_events,
        "warmup_errors": state.warmup_errors,
        "elapsed_s": round(elapsed, 3),
        "events": events,
        "events_per_s": round(events / elapsed, 1),
        "runs": state.runs_measured,
        "runs_per_s": round(state.runs_measured / elapsed, 1),
        "errors": state.errors,
        "errors_by_type": state.errors_by_type,
        "repeats": state.repeats,
        "status_counts": state.status_counts,
        "error_samples": state.error_samples,
        "all": _latencies(all_values),
        "by_type": {t: _latencies(sorted(state.lat[t])) for t in EVENT_TYPES},
        "timeline": [
            {"second": s, "events": state.timeline_count[s], "max_ms": round(1000 * state.timeline_max[s], 1)}
            for s in sorted(state.timeline_count)
        ],
        "cpu": cpu,
        "cpu_per_event": per_event,
    }
    return result, state


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return round(1000 * sorted_values[index], 2)


def _latencies(values: list[float]) -> dict:
    return {
        "count": len(values),
        "mean_ms": round(1000 * sum(values) / len(values), 2) if values else None,
        "p50_ms": _pct(values, 50),
        "p95_ms": _pct(values, 95),
        "p99_ms": _pct(values, 99),
        "max_ms": round(1000 * values[-1], 2) if values else None,
    }


# --------------------------------------------------------------------------- consistency, read from the database


async def consistency(url: str, state: State, mode: str, n_jobs: int) -> dict:
    """What the database holds after the load, against what the producers were told."""
    expected_executions = {run_id for run_id, r in state.runs.items() if r[0] is not None or r[1] is not None}
    completed = {run_id for run_id, r in state.runs.items() if r[1] is not None}
    interrupted = sum(1 for r in state.runs.values() if not r[3])
    same_execution = sum(1 for r in state.runs.values() if r[0] is not None and r[1] is not None and r[0] == r[1])
    both_answered = sum(1 for r in state.runs.values() if r[0] is not None and r[1] is not None)
    conn = await asyncpg.connect(url, timeout=10, server_settings={"application_name": "openlineage_load check"})
    out: dict = {"runs_started": len(state.runs), "runs_interrupted": interrupted, "runs_completed": len(completed)}
    try:
        rows = await conn.fetch(
            "SELECT run_id, end_date IS NOT NULL AS ended, completed_successfully, total_rows FROM pipeline_execution", timeout=60
        )
        by_run = {r["run_id"]: r for r in rows}
        out["executions"] = len(rows)
        out["executions_without_run_id"] = sum(1 for r in rows if r["run_id"] is None)
        out["executions_ended"] = sum(1 for r in rows if r["ended"])
        out["executions_successful"] = sum(1 for r in rows if r["completed_successfully"])
        out["runs_without_execution"] = len(expected_executions - by_run.keys())
        out["executions_of_unknown_runs"] = len(by_run.keys() - expected_executions - {None})
        out["completed_runs_not_ended"] = sum(1 for run_id in completed if run_id in by_run and not by_run[run_id]["ended"])
        out["start_and_complete_same_execution"] = f"{same_execution}/{both_answered}"
        if mode == "lineage":
            out["total_rows_mismatches"] = sum(
                1 for run_id in completed if run_id in by_run and by_run[run_id]["total_rows"] != state.runs[run_id][2]
            )
        out["event_log_rows"] = await conn.fetchval("SELECT count(*) FROM openlineage_event", timeout=60)
        out["events_created"] = state.created
        out["pipelines"] = await conn.fetchval("SELECT count(*) FROM pipeline", timeout=60)
        if mode == "lineage":
            out["addresses"] = await conn.fetchval("SELECT count(*) FROM address", timeout=60)
            out["lineage_edges"] = await conn.fetchval("SELECT count(*) FROM address_lineage", timeout=60)
            out["expected_addresses"] = (n_jobs + 1) * DATASETS_PER_SIDE
            out["expected_lineage_edges"] = n_jobs * DATASETS_PER_SIDE * DATASETS_PER_SIDE
    except Exception as exc:  # a schema that moved under the benchmark: report it, do not hide the load numbers
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        await conn.close()
    checks = [
        out.get("executions") == len(completed) == len(expected_executions),
        out.get("executions_ended") == out.get("executions"),
        out.get("executions_successful") == out.get("executions"),
        out.get("runs_without_execution") == 0,
        out.get("executions_of_unknown_runs") == 0,
        out.get("executions_without_run_id") == 0,
        same_execution == both_answered,
        out.get("event_log_rows") == state.created,
        out.get("pipelines") == n_jobs,
        interrupted == 0,
    ]
    if mode == "lineage":
        checks += [
            out.get("total_rows_mismatches") == 0,
            out.get("addresses") == out.get("expected_addresses"),
            out.get("lineage_edges") == out.get("expected_lineage_edges"),
        ]
    out["ok"] = "error" not in out and all(checks)
    return out


# --------------------------------------------------------------------------- server, database, machine


def busy_cores(seconds: float = 1.0) -> float:
    def ticks():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values[:8]), values[3] + values[4]

    t0, i0 = ticks()
    time.sleep(seconds)
    t1, i1 = ticks()
    return ((t1 - t0) - (i1 - i0)) / os.sysconf("SC_CLK_TCK") / seconds


def wait_idle(limit: float) -> float:
    """Like bench/run_core.sh: wait up to `limit` s for the machine to be idle (< 0.25 busy cores); returns the last reading."""
    deadline = time.monotonic() + limit
    busy = busy_cores()
    if busy >= 0.25 and limit > 0:
        print(f"machine busy ({busy:.2f} cores); waiting up to {limit:g}s for it to go idle", file=sys.stderr)
        while busy >= 0.25 and time.monotonic() < deadline:
            busy = busy_cores()
    return round(busy, 2)


async def sessions_opened(admin_url: str, name: str) -> int | None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        return await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", name)
    except asyncpg.UndefinedColumnError:  # PostgreSQL < 14
        return None
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


def run_mode(args, mode: str, runner) -> dict:
    busy_before = wait_idle(args.wait_idle)
    url = asyncio.run(migrated_database(args.url, args.database))
    jobs = [Job(j, mode == "lineage") for j in range(args.jobs)]
    settings = {"db_pool_size": args.pool_size} if args.pool_size else {}
    print(f"== mode {mode}: {args.producers} producers, {args.jobs} jobs, --workers {args.workers}, {args.seconds:g}s measured", flush=True)
    with watcher_server(url, args.port, workers=args.workers, **settings) as base:
        pid = server_pid(args.port)
        time.sleep(1)  # with --workers N every worker must be up before we measure (bench/run_core.sh)
        result, state = runner(load(args, base, jobs, pid))
        check = runner(consistency(url, state, mode, args.jobs))
    result["sessions_opened"] = asyncio.run(sessions_opened(args.url, args.database))
    sample = jobs[-1]
    body = orjson.loads(run_event("COMPLETE", sample, str(uuid.uuid4()), [1] * len(sample.output_datasets)))
    return {
        "mode": mode,
        "datasets_per_event": len(sample.inputs) + len(sample.output_datasets),
        "complete_event_bytes": len(orjson.dumps(body)),
        "machine_busy_before": busy_before,
        **result,
        "consistency": check,
    }


# --------------------------------------------------------------------------- report


def _f(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def mode_report(r: dict) -> str:
    cpu, per = r["cpu"], r["cpu_per_event"]
    lines = [
        f"  mode {r['mode']}: {r['datasets_per_event']} datasets per event ({r['complete_event_bytes']} bytes per COMPLETE)"
        f"  warm-up {r['warmup_s']}s ({r['warmup_events']} events, {r['warmup_errors']} errors)  measured {r['elapsed_s']}s",
        f"    {r['events_per_s']:.1f} events/s  {r['runs_per_s']:.1f} runs/s  {r['events']} events  errors={r['errors']}  repeats={r['repeats']}",
        f"    {'events':10} {'count':>7} {'mean':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>8}  (ms)",
    ]
    for name, s in (("all", r["all"]), *r["by_type"].items()):
        lines.append(
            f"    {name:10} {s['count']:>7} {_f(s['mean_ms']):>7} {_f(s['p50_ms']):>7} {_f(s['p95_ms']):>7} {_f(s['p99_ms']):>7} {_f(s['max_ms']):>8}"
        )
    full = [t for t in r["timeline"] if t["second"] < int(r["elapsed_s"])] or r["timeline"]
    if full:
        counts = [t["events"] for t in full]
        maxes = sorted(t["max_ms"] for t in full)
        lines.append(
            f"    per-second answers: min {min(counts)} / max {max(counts)}; slowest per second: median {maxes[len(maxes) // 2]:.0f} ms, worst {maxes[-1]:.0f} ms"
        )
    per_proc = ", ".join(f"{pid}: {c:.2f}" for pid, c in sorted(cpu.get("server_processes_cores", {}).items()))
    lines += [
        f"    CPU in cores of {cpu['machine_cores']}: server {cpu['server_cores_proc']:.2f} ({per_proc})  postgres {cpu['postgres_cores_proc']:.2f}"
        f"  load generator {cpu['load_generator_cores']:.2f}  other {cpu['other_cores_proc']:.2f}  unattributed {cpu['unattributed_cores']:.2f}"
        f"  machine busy {cpu['machine_busy_cores']:.2f} (busy before the mode: {r['machine_busy_before']:.2f})",
        f"    CPU per event: server {_f3(per['server_ms'])} ms  postgres {_f3(per['postgres_ms'])} ms  load generator {_f3(per['load_generator_ms'])} ms"
        f"  machine {_f3(per['machine_ms'])} ms;  postgres sessions opened: {r['sessions_opened']}",
    ]
    c = r["consistency"]
    lines.append(f"    consistency {'✔' if c['ok'] else '✘'}: " + ", ".join(f"{k}={v}" for k, v in c.items() if k != "ok"))
    if r["error_samples"]:
        lines += ["    first errors:"] + [f"      {e}" for e in r["error_samples"]]
    return "\n".join(lines)


def _f3(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def summary(results: list[dict]) -> str:
    def row(label, fn):
        return f"  {label:34}" + "".join(f"{fn(r):>26}" for r in results)

    def target(r):
        ok = r["events_per_s"] >= TARGET_EVENTS_PER_S and (r["all"]["p99_ms"] or 1e9) < TARGET_P99_MS and r["errors"] == 0
        return "✔" if ok else "✘"

    return "\n".join(
        [
            row("", lambda r: f"{r['mode']} ({r['datasets_per_event']} datasets)"),
            row("events/s", lambda r: f"{r['events_per_s']:.1f}"),
            row("runs/s", lambda r: f"{r['runs_per_s']:.1f}"),
            row("p50 / p95 / p99 / max ms", lambda r: "/".join(_f(r["all"][k]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms"))),
            row("errors (measured / warm-up)", lambda r: f"{r['errors']} / {r['warmup_errors']}"),
            row(
                "server / postgres CPU ms per event",
                lambda r: f"{_f3(r['cpu_per_event']['server_ms'])} / {_f3(r['cpu_per_event']['postgres_ms'])}",
            ),
            row("machine busy cores", lambda r: f"{r['cpu']['machine_busy_cores']:.2f}"),
            row("consistency", lambda r: "✔" if r["consistency"]["ok"] else "✘"),
            row(f"target >= {TARGET_EVENTS_PER_S:,} ev/s, p99 < {TARGET_P99_MS} ms", target),
        ]
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="admin connection (a database to connect to)")
    p.add_argument("--database", default=DATABASE, help=f"throwaway database, dropped and recreated per mode (default {DATABASE})")
    p.add_argument("--keep-database", action="store_true", help="do not drop the database of the last mode at the end")
    p.add_argument("--port", type=int, default=8094)
    p.add_argument("--workers", type=int, default=2, help="watcher serve --workers (default 2)")
    p.add_argument("--pool-size", type=int, default=None, help="WATCHER_DB_POOL_SIZE per worker (default: the server's, 15)")
    p.add_argument("--producers", type=int, default=50, help="concurrent producers, one connection each (default 50)")
    p.add_argument("--jobs", type=int, default=200, help="jobs the producers pick from (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per mode (default 30)")
    p.add_argument("--warmup", type=float, default=5.0, help="minimum warm-up seconds per mode (default 5)")
    p.add_argument("--max-warmup", type=float, default=300.0, help="give up waiting for every job's first run after this")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated, in order (default plain,lineage)")
    p.add_argument("--client", choices=("aiohttp", "raw"), default="aiohttp", help="HTTP client (default aiohttp; raw = core_load's)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--connect-gap-ms", type=float, default=20.0, help="pause between opening connections (default 20)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--wait-idle", type=float, default=120.0, help="wait up to this long for an idle machine before each mode (default 120)")
    p.add_argument("--label", default="", help="free text shown in the report and JSON")
    p.add_argument("--json", dest="json_out", default=None, help="also write the results as JSON here")
    p.add_argument("--no-uvloop", action="store_true")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        p.error(f"--modes takes {', '.join(MODES)}")
    if not 0 < args.seconds <= 3600 or not 1 <= args.producers <= 1000 or args.jobs < 1:
        p.error("seconds must be in (0, 3600], producers in [1, 1000] and jobs >= 1")
    if not args.database.replace("_", "").isalnum():
        p.error("--database: letters, digits and _ only")

    runner = loop_runner(args.no_uvloop)
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    config = {
        "date": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": git,
        "label": args.label,
        "workers": args.workers,
        "pool_size": args.pool_size or "default",
        "producers": args.producers,
        "jobs": args.jobs,
        "seconds": args.seconds,
        "warmup_s": args.warmup,
        "client": args.client,
        "event_loop": "asyncio" if runner is asyncio.run else "uvloop",
    }
    print(
        f"Watcher OpenLineage load  {config['date']}  git={git}  workers={args.workers} pool={config['pool_size']}"
        f"  producers={args.producers} jobs={args.jobs} client={args.client}  {args.label}".rstrip(),
        flush=True,
    )
    results = []
    try:
        for mode in modes:
            result = run_mode(args, mode, runner)
            results.append(result)
            print(mode_report(result), flush=True)
            compact = {k: v for k, v in result.items() if k not in ("timeline", "status_counts")}
            print("json: " + json.dumps({"benchmark": "openlineage_load", **config, **compact}, separators=(",", ":")), flush=True)
    finally:
        if not args.keep_database:
            asyncio.run(drop_database(args.url, args.database))
    print("\n" + summary(results))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"config": config, "modes": results}, f, indent=2)
        print(f"\n  JSON written to {args.json_out}")
    ok = all(r["errors"] == 0 and r["consistency"]["ok"] for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
