#!/usr/bin/env python3
"""Soak: the core load at 50 clients for 10 minutes against `watcher serve --workers 2` on PostgreSQL.

Runs bench/core_load.py (`--clients`, `--minutes`) against a fresh database and, every `--sample` s,
records each worker's RSS and open file descriptors, the number of PostgreSQL sessions on the
database (the drill's own probe excluded) and the number of executions pending anomaly detection
(completed_successfully AND anomaly_checked_at IS NULL). Reports req/s, p99, errors, the per-minute
throughput and slowest request, the pending count (max, last), and each worker's RSS growth over the
last 5 minutes (the second half for shorter runs), where a leak would show.

With `--auto-rules` the server runs with WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES=true: every pipeline
gets its default anomaly rules, so every successful end queues a detection (the production-like setting).

Checks: no errors; the workers are the same processes at the end (none died or was restarted); each
worker's RSS grew by less than `--max-growth-mib` MiB (default 5) and by at most `--max-growth-pct` %
(default 10) over the last 5 minutes; open descriptors and PostgreSQL sessions did not keep growing
(last sample ≤ the highest of the first half + 10).

    python bench/drills/soak.py [--minutes 10] [--clients 50] [--auto-rules]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time

import asyncpg
from common import HERE, Check, DrillDatabase, Server, checks_table, finish_work, log, rss_kib, run_main, table, work_dir, write_results

PROBE_NAME = "watcher drill soak probe"
PENDING_SQL = "SELECT count(*) FROM pipeline_execution WHERE completed_successfully AND anomaly_checked_at IS NULL"


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def drill(args) -> int:
    work = work_dir("soak")
    result: dict = {"config": vars(args)}
    samples: list[dict] = []
    database = DrillDatabase("soak")
    try:
        database_url = await database.create()
        settings = {"auto_create_anomaly_detection_rules": "true"} if args.auto_rules else {}
        # also on when the variable is already exported in this environment (the server inherits it)
        auto_rules = args.auto_rules or os.environ.get("WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES", "").lower() in (
            "1",
            "true",
            "yes",
            "on",
        )
        result["auto_rules"] = auto_rules
        server = Server(database_url, work / "server.log", workers=2, **settings)
        db_name = database_url.rsplit("/", 1)[1]
        try:
            log(
                f"starting watcher serve --workers 2 on {db_name}, auto anomaly rules {'on' if auto_rules else 'off'}"
                f" (log {server.log_path})"
            )
            await asyncio.to_thread(server.start)
            workers_at_start = server.worker_pids()
            out_json = work / "core_load.json"
            command = [
                sys.executable, str(HERE.parent / "core_load.py"), "--url", server.base_url, "--clients", str(args.clients),
                "--duration", str(args.minutes * 60), "--warmup", str(args.warmup), "--server-pid", str(server.master_pid),
                "--label", f"soak {args.minutes} min{' auto rules' if auto_rules else ''}", "--json", str(out_json),
            ]  # fmt: skip
            log(f"core_load.py: {args.clients} clients for {args.minutes:g} min (+ warm-up)")
            load = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            output = asyncio.create_task(load.stdout.read())
            admin = probe = None
            t0 = time.monotonic()
            try:
                admin = await asyncpg.connect(database_url.rsplit("/", 1)[0] + "/postgres", timeout=10)
                # on the drill's database itself, for the pending count (left out of the session count)
                probe = await asyncpg.connect(
                    database_url, timeout=10, server_settings={"application_name": PROBE_NAME, "statement_timeout": "5000"}
                )
                while load.returncode is None:
                    workers = server.worker_pids()
                    sessions = await admin.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2", db_name, PROBE_NAME
                    )
                    try:
                        pending = await probe.fetchval(PENDING_SQL, timeout=10)
                    except (asyncpg.PostgresError, TimeoutError):
                        pending = None
                    samples.append(
                        {
                            "t": round(time.monotonic() - t0, 1),
                            "rss_kib": {pid: rss_kib(pid) for pid in workers},
                            "fds": {pid: open_fds(pid) for pid in workers},
                            "sessions": sessions,
                            "pending_detection": pending,
                        }
                    )
                    if len(samples) % 6 == 0:
                        rss = ", ".join(f"{pid}: {(v or 0) / 1024:.0f} MiB" for pid, v in samples[-1]["rss_kib"].items())
                        log(f"t={samples[-1]['t']:.0f}s RSS {rss}; sessions {sessions}; pending detection {pending}")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(load.wait(), args.sample)
            finally:
                for conn in (probe, admin):
                    if conn is not None:
                        await conn.close()
                if load.returncode is None:
                    load.terminate()
                    await load.wait()
            report_text = (await output).decode(errors="replace")
            workers_at_end = server.worker_pids()
        finally:
            await asyncio.to_thread(server.stop)

        print(report_text)
        core = json.loads(out_json.read_text())
        measured_from = core["config"]["warmup_s"]  # samples are timed from the load's start, warm-up included
        total_t = samples[-1]["t"] if samples else 0
        window = min(300.0, (total_t - measured_from) / 2)
        growth_rows, checks = [], []
        growth = {}
        for pid in workers_at_start:
            series = [(s["t"], s["rss_kib"].get(pid)) for s in samples if s["rss_kib"].get(pid)]
            if not series:
                continue
            start = next((v for t, v in series if t >= total_t - window), series[0][1])
            end = series[-1][1]
            peak = max(v for _, v in series)
            pct = 100 * (end - start) / start
            growth[pid] = {
                "rss_start_window_kib": start,
                "rss_end_kib": end,
                "rss_peak_kib": peak,
                "growth_kib": end - start,
                "growth_pct": round(pct, 2),
            }
            growth_rows.append(
                [
                    pid,
                    f"{series[0][1] / 1024:.1f}",
                    f"{start / 1024:.1f}",
                    f"{end / 1024:.1f}",
                    f"{peak / 1024:.1f}",
                    f"{(end - start) / 1024:+.1f}",
                    f"{pct:+.2f}",
                ]
            )
            checks.append(
                Check(
                    f"worker {pid}: RSS growth over the last {window / 60:.1f} min < {args.max_growth_mib:g} MiB",
                    (end - start) / 1024 < args.max_growth_mib,
                    f"{(end - start) / 1024:+.1f} MiB ({start / 1024:.1f} -> {end / 1024:.1f} MiB)",
                )
            )
            checks.append(
                Check(
                    f"worker {pid}: RSS growth over the last {window / 60:.1f} min <= {args.max_growth_pct:g} %",
                    pct <= args.max_growth_pct,
                    f"{(end - start) / 1024:+.1f} MiB ({pct:+.2f} %)",
                )
            )
        checks.insert(
            0,
            Check(
                "no errors",
                core["errors"] == 0 and core["warmup_errors"] == 0,
                f"{core['errors']} errors, {core['warmup_errors']} in warm-up",
            ),
        )
        checks.insert(
            1,
            Check(
                "the same worker processes at the end (none died)",
                sorted(workers_at_start) == sorted(workers_at_end),
                f"{workers_at_start} -> {workers_at_end}",
            ),
        )
        half = samples[: max(1, len(samples) // 2)]
        for label, key in (("open descriptors", "fds"), ("PostgreSQL sessions", "sessions")):
            if key == "sessions":
                first_max, last = max(s["sessions"] for s in half), samples[-1]["sessions"]
            else:
                first_max = max(sum(v or 0 for v in s["fds"].values()) for s in half)
                last = sum(v or 0 for v in samples[-1]["fds"].values())
            checks.append(
                Check(f"{label} do not keep growing", last <= first_max + 10, f"highest in the first half {first_max}, last {last}")
            )
        minutes = []
        for m in range(int(core["config"]["duration_s"] // 60)):
            seconds = [t for t in core["timeline"] if m * 60 <= t["second"] < (m + 1) * 60]
            if seconds:
                minutes.append([m + 1, round(sum(t["requests"] for t in seconds) / len(seconds)), max(t["max_ms"] for t in seconds)])
        print(table(minutes, ["minute", "req/s", "slowest ms"]))
        print()
        print(
            table(
                growth_rows,
                ["worker", "RSS first MiB", f"RSS at -{window / 60:.1f} min", "RSS end MiB", "peak MiB", "growth MiB", "growth %"],
            )
        )
        print(
            f"\nPostgreSQL sessions on the database: first {samples[0]['sessions'] if samples else '-'}, max {max((s['sessions'] for s in samples), default='-')}, last {samples[-1]['sessions'] if samples else '-'}"
        )
        pending = [s["pending_detection"] for s in samples if s.get("pending_detection") is not None]
        pending_max = max(pending, default=None)
        pending_last = pending[-1] if pending else None
        print(
            f"executions pending anomaly detection (every {args.sample:g} s; auto rules {'on' if auto_rules else 'off'}):"
            f" max {pending_max if pending_max is not None else '-'}, last {pending_last if pending_last is not None else '-'}"
            f" ({core['endpoints']['POST /end_pipeline_execution']['req_per_s']} ends/s)"
        )
        print(
            f"throughput {core['req_per_s']} req/s, p50 {core['all']['p50_ms']} ms, p99 {core['all']['p99_ms']} ms, errors {core['errors']}"
        )
        print()
        print(checks_table(checks))
        result.update(
            req_per_s=core["req_per_s"],
            cycles_per_s=core["cycles_per_s"],
            latency_ms=core["all"],
            endpoints=core["endpoints"],
            errors=core["errors"],
            error_samples=core["error_samples"],
            per_minute=[{"minute": m, "req_per_s": r, "slowest_ms": s} for m, r, s in minutes],
            rss_growth=growth,
            rss_window_s=round(window, 1),
            pending_detection={"max": pending_max, "last": pending_last},
            samples=samples,
            checks=[vars(c) for c in checks],
        )
        path = write_results("soak", result)
        ok = all(c.ok for c in checks)
        print(f"\nsoak: {'PASS' if ok else 'FAIL'}  (results: {path}{finish_work(work, ok)})")
        return 0 if ok else 1
    finally:
        await database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--sample", type=float, default=10, help="seconds between RSS samples")
    parser.add_argument("--max-growth-pct", type=float, default=10, help="RSS growth limit per worker, percent (default 10)")
    parser.add_argument(
        "--max-growth-mib", type=float, default=5, help="RSS growth limit per worker over the window, MiB, exclusive (default 5)"
    )
    parser.add_argument(
        "--auto-rules",
        action="store_true",
        help="run the server with WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES=true (every end queues a detection)",
    )
    args = parser.parse_args()
    return run_main(lambda: drill(args))


if __name__ == "__main__":
    raise SystemExit(main())
