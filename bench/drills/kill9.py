#!/usr/bin/env python3
"""kill -9 under load: crash `watcher serve --workers 2` on PostgreSQL again and again, then check integrity in SQL.

Load: `--clients` closed-loop clients run the core cycle (sync with a new next_watermark, start — in
chains: each execution nested under the client's previous one, a new root every 5th —, end — every 5th
a failure —, sometimes read), each on pipelines of its own, so one pipeline's cycles never overlap. Beside it, `POST /timeliness?wait=true`
every 3 s turns failed executions into `execution_failure` alerts, delivered to a local webhook receiver.

Rounds (`--rounds`, every `--interval` s): SIGKILL the worker holding most connections, both workers
(uvicorn's master restarts them), the whole process group (master + workers: a crash; the drill restarts
`watcher serve`), and once the master alone (are its workers left serving as orphans? can a new
`watcher serve` start beside them?). Then the load stops, a last timeliness run
and delivery happen on a healthy server, and the checks run:

- acknowledged writes survived: every start answered 201 exists, every end answered 200 is stored as sent;
- the closure table equals the one parent_id implies: a self row per execution, one row per ancestor at
  the right depth, nothing else, no row naming a missing execution;
- no execution ends before it starts; end_date, completed_successfully and duration_seconds agree;
- each pipeline's watermark is the next_watermark of its last successful execution (no other writer);
- every failed execution is in exactly one `execution_failure` alert and one timeliness log row;
- every alert is delivered (received at least once); duplicates after a crash are counted (at-least-once
  by design: the receiver dedups on Idempotency-Key).

    python bench/drills/kill9.py [--clients 20] [--rounds 6] [--interval 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

import asyncpg
import httpx
from common import (
    Check,
    DrillDatabase,
    Load,
    Receiver,
    Server,
    checks_table,
    finish_work,
    log,
    outcomes_text,
    run_main,
    summarize,
    table,
    work_dir,
    write_results,
)

KILLS = ("one worker", "all workers", "whole group", "one worker", "master only", "whole group", "all workers", "whole group")


async def timeliness_loop(base_url: str, stop: asyncio.Event, stats: dict) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            try:
                response = await http.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 120})
                stats[str(response.status_code)] = stats.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as exc:
                stats[type(exc).__name__] = stats.get(type(exc).__name__, 0) + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 3)


async def kill_round(server: Server, kind: str, load: Load) -> dict:
    """One SIGKILL round; `killed_at` (load clock) is when the signals were sent."""
    event = {"kind": kind, "killed": [], "note": ""}
    if kind == "one worker":
        busiest = server.busiest_worker()
        pids = [busiest] if busiest else []
        server.kill9(pids)
        event["killed_at"] = load.now()
        event["killed"] = pids
    elif kind == "all workers":
        pids = server.worker_pids()
        server.kill9(pids)
        event["killed_at"] = load.now()
        event["killed"] = pids
    elif kind == "whole group":
        event["killed_at"] = load.now()
        event["killed"] = await asyncio.to_thread(server.kill9_group)
        await asyncio.to_thread(server.start)
        event["note"] = "restarted"
    elif kind == "master only":
        workers = server.worker_pids()
        server.kill9([server.master_pid])
        event["killed_at"] = load.now()
        await asyncio.sleep(3)
        alive = [pid for pid in workers if _alive(pid)]
        serving = False
        with contextlib.suppress(httpx.HTTPError):
            async with httpx.AsyncClient(timeout=2) as http:
                serving = (await http.get(f"{server.base_url}/health")).status_code == 200
        event["killed"] = [server.master_pid]
        event["note"] = f"3 s later {len(alive)} of {len(workers)} workers still alive, port {'still served' if serving else 'closed'}"
        event["orphans_alive"] = len(alive)
        event["orphans_serving"] = serving
        # what a supervisor that restarts only the master would do
        try:
            await asyncio.to_thread(server.start, 15)
            event["restart_beside_orphans"] = "started"
        except RuntimeError as exc:
            event["restart_beside_orphans"] = f"failed: {exc}"
        event["note"] += f"; restart beside them {event['restart_beside_orphans'].split(':')[0]}"
        for pgid in list(server.pgids):
            server.kill9_pgid(pgid)  # the orphans (still in their group) and any second server
        await asyncio.to_thread(server.start)
        event["note"] += "; all killed, restarted"
    return event


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


INTEGRITY_SQL = {
    "every execution has its self row (id, id, 0)": """
        SELECT count(*) FROM pipeline_execution pe
        WHERE NOT EXISTS (SELECT 1 FROM pipeline_execution_closure c
                          WHERE c.parent_execution_id = pe.id AND c.child_execution_id = pe.id AND c.depth = 0)""",
    "closure equals what parent_id implies (missing rows)": """
        WITH RECURSIVE expected(ancestor, child, depth) AS (
            SELECT id, id, 0 FROM pipeline_execution
            UNION ALL
            SELECT pe.parent_id, e.child, e.depth + 1 FROM expected e JOIN pipeline_execution pe ON pe.id = e.ancestor
            WHERE pe.parent_id IS NOT NULL)
        SELECT count(*) FROM (SELECT ancestor, child, depth FROM expected
                              EXCEPT SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure) missing""",
    "closure equals what parent_id implies (extra rows or wrong depth)": """
        WITH RECURSIVE expected(ancestor, child, depth) AS (
            SELECT id, id, 0 FROM pipeline_execution
            UNION ALL
            SELECT pe.parent_id, e.child, e.depth + 1 FROM expected e JOIN pipeline_execution pe ON pe.id = e.ancestor
            WHERE pe.parent_id IS NOT NULL)
        SELECT count(*) FROM (SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure
                              EXCEPT SELECT ancestor, child, depth FROM expected) extra""",
    "no closure row names a missing execution": """
        SELECT count(*) FROM pipeline_execution_closure c
        WHERE NOT EXISTS (SELECT 1 FROM pipeline_execution WHERE id = c.parent_execution_id)
           OR NOT EXISTS (SELECT 1 FROM pipeline_execution WHERE id = c.child_execution_id)""",
    "every parent_id names an existing execution": """
        SELECT count(*) FROM pipeline_execution pe
        WHERE pe.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pipeline_execution p WHERE p.id = pe.parent_id)""",
    "no execution ends before (or when) it starts": "SELECT count(*) FROM pipeline_execution WHERE end_date <= start_date",
    "end_date and completed_successfully are set together": """
        SELECT count(*) FROM pipeline_execution WHERE (end_date IS NULL) <> (completed_successfully IS NULL)""",
    "duration_seconds = end_date - start_date (whole seconds)": """
        SELECT count(*) FROM pipeline_execution WHERE end_date IS NOT NULL
          AND (duration_seconds IS NULL OR abs(duration_seconds - extract(epoch FROM end_date - start_date)) > 1)""",
    "watermark = next_watermark of the pipeline's last successful execution": """
        SELECT count(*) FROM pipeline p
        LEFT JOIN LATERAL (SELECT pe.next_watermark FROM pipeline_execution pe
                           WHERE pe.pipeline_id = p.id AND pe.completed_successfully ORDER BY pe.id DESC LIMIT 1) last ON true
        WHERE p.watermark IS DISTINCT FROM last.next_watermark""",
    "every failed execution is in exactly one execution_failure alert": """
        SELECT count(*) FROM pipeline_execution pe
        WHERE pe.completed_successfully = false
          AND (SELECT count(*) FROM alert_subject s JOIN alert a ON a.id = s.alert_id
               WHERE a.kind = 'execution_failure' AND s.pipeline_execution_id = pe.id) <> 1""",
    "every failed execution has one timeliness log row": """
        SELECT count(*) FROM pipeline_execution pe
        WHERE pe.completed_successfully = false
          AND NOT EXISTS (SELECT 1 FROM timeliness_pipeline_execution_log t WHERE t.pipeline_execution_id = pe.id)""",
}


async def integrity(database_url: str, load: Load) -> tuple[list[Check], dict]:
    checks: list[Check] = []
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        for name, sql in INTEGRITY_SQL.items():
            bad = await conn.fetchval(sql)
            checks.append(Check(name, bad == 0, f"{bad} violating rows"))
        rows = await conn.fetch("SELECT id, pipeline_id, end_date, completed_successfully FROM pipeline_execution")
        counts = dict(
            await conn.fetchrow(
                """SELECT (SELECT count(*) FROM pipeline_execution) AS executions,
                          (SELECT count(*) FROM pipeline_execution WHERE parent_id IS NOT NULL) AS nested,
                          (SELECT count(*) FROM pipeline_execution WHERE completed_successfully = false) AS failed,
                          (SELECT count(*) FROM pipeline_execution WHERE end_date IS NULL) AS running,
                          (SELECT count(*) FROM pipeline_execution_closure) AS closure_rows,
                          (SELECT max(depth) FROM pipeline_execution_closure) AS max_depth,
                          (SELECT count(*) FROM pipeline) AS pipelines,
                          (SELECT count(*) FROM alert) AS alerts"""
            )
        )
    finally:
        await conn.close()
    stored = {r["id"]: r for r in rows}
    started = [c for c in load.cycles if c.execution_id is not None]
    lost_starts = [
        c.execution_id for c in started if c.execution_id not in stored or stored[c.execution_id]["pipeline_id"] != c.pipeline_id
    ]
    acked_ends = [c for c in started if c.end_acked]
    lost_ends = [
        c.execution_id
        for c in acked_ends
        if c.execution_id in stored
        and (stored[c.execution_id]["end_date"] is None or stored[c.execution_id]["completed_successfully"] is not c.succeeded)
    ]
    unacked_but_stored = sum(1 for c in started if c.end_sent and not c.end_acked and stored.get(c.execution_id, {}).get("end_date"))
    checks.insert(
        0, Check("every acknowledged start (201) is stored", not lost_starts, f"{len(started)} acknowledged, {len(lost_starts)} missing")
    )
    checks.insert(
        1,
        Check("every acknowledged end (200) is stored as sent", not lost_ends, f"{len(acked_ends)} acknowledged, {len(lost_ends)} missing"),
    )
    counts["ends_sent_unanswered_but_stored"] = unacked_but_stored
    counts["lost_start_ids"] = lost_starts[:20]
    counts["lost_end_ids"] = lost_ends[:20]
    return checks, counts


async def drill(args) -> int:
    work = work_dir("kill9")
    receiver = Receiver()
    await receiver.set_mode("healthy")
    result: dict = {"config": vars(args)}
    database = DrillDatabase("kill9")
    try:
        database_url = await database.create()
        server = Server(
            database_url,
            work / "server.log",
            workers=2,
            alert_webhook_url=receiver.url,
            alert_delivery_timeout_seconds=3,
            alert_rate_limit_per_minute=0,  # the drill follows every alert by id; digests have their own tests
            timeliness_check_schedule="",
            freshness_check_schedule="",
        )
        try:
            log(f"starting watcher serve --workers 2 on {database_url.rsplit('/', 1)[1]} (log {server.log_path})")
            await asyncio.to_thread(server.start)
            load = Load(server.base_url, clients=args.clients, prefix="kill9", fail_every=5, chain=5, keep_cycles=True, timeout=30)
            await load.start()
            stop_side = asyncio.Event()
            timeliness_stats: dict = {}
            side = asyncio.create_task(timeliness_loop(server.base_url, stop_side, timeliness_stats))
            await asyncio.sleep(args.warmup)
            events = []
            for number in range(args.rounds):
                kind = KILLS[number % len(KILLS)]
                event = await kill_round(server, kind, load)
                event["at"] = round(event["killed_at"], 1)
                events.append(event)
                log(f"round {number + 1}: SIGKILL {kind} {event['killed']} {event['note']}")
                await asyncio.sleep(args.interval)
            await asyncio.sleep(3)
            stop_side.set()
            await load.stop()
            await side
            total = summarize(load.samples)
            log(f"load stopped: {total['requests']} requests, {outcomes_text(total['outcomes'])}")
            # recovery per round: time from the kill to the first 2xx answer of a request sent after it
            for event in events:
                at = event["killed_at"]
                after = sorted(s.started + s.seconds for s in load.samples if s.started >= at and s.outcome.startswith("2"))
                event["first_2xx_after_s"] = round(after[0] - at, 2) if after else None
                window = summarize(load.samples, at, at + args.interval, in_flight=True)
                event["outcomes"] = window["outcomes"]
                event["max_ms"] = window["max_ms"]
            # a healthy server: a last timeliness run alerts every failed execution, delivery drains
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                final = await http.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 120})
                log(f"final timeliness run: {final.status_code} {final.text[:200]}")
                deadline = time.monotonic() + args.delivery_wait
                undelivered = None
                while time.monotonic() < deadline:
                    alerts = (await http.get("/alerts", params={"limit": 1000})).json()
                    undelivered = [a["id"] for a in alerts if a["delivery_status"] != "sent"]
                    if not undelivered and all(receiver.received[a["id"]] for a in alerts):
                        break
                    await asyncio.sleep(2)
            exit_status = await asyncio.to_thread(server.stop)
            log(f"server stopped (SIGTERM), exit status {exit_status}")
            checks, counts = await integrity(database_url, load)
            alert_ids = [a["id"] for a in alerts]
            never = [i for i in alert_ids if not receiver.received[i]]
            duplicates = {i: n for i, n in receiver.received.items() if n > 1}
            checks.append(
                Check(
                    "every alert delivered to the webhook",
                    not never and not undelivered,
                    f"{len(alert_ids)} alerts, {len(never)} never received, {len(undelivered or [])} not marked sent",
                )
            )
            checks.append(
                Check(
                    "the server restarted after every crash and answered again", all(e["first_2xx_after_s"] is not None for e in events), ""
                )
            )
            unexpected = {k: v for k, v in total["outcomes"].items() if k not in ("2xx", "503", "network")}
            checks.append(Check("answers are 2xx or 503 (connection errors only while killed)", not unexpected, outcomes_text(unexpected)))
            counts["alerts_delivered_twice_or_more"] = len(duplicates)
            counts["deliveries"] = sum(receiver.received.values())
        finally:
            await asyncio.to_thread(server.stop)
            await receiver.close()

        print()
        print(
            table(
                [
                    [i + 1, e["kind"], e["at"], e["note"], e["first_2xx_after_s"], outcomes_text(e["outcomes"]), e["max_ms"]]
                    for i, e in enumerate(events)
                ],
                ["round", "SIGKILL", "at s", "note", "first 2xx after s", f"requests in flight in the next {args.interval:g} s", "max ms"],
            )
        )
        print()
        print(f"load: {total['requests']} requests, {total['req_per_s']} req/s, outcomes {outcomes_text(total['outcomes'])}")
        print("timeliness runs during the load: " + outcomes_text(timeliness_stats))
        print("database: " + ", ".join(f"{k} {v}" for k, v in counts.items() if not isinstance(v, list)))
        if load.error_examples:
            print("first answer of each kind that was not 2xx:")
            for key, example in list(load.error_examples.items())[:12]:
                print(f"  {key}: {example}")
        print()
        print(checks_table(checks))
        result.update(
            rounds=events,
            load=total,
            timeliness_runs=timeliness_stats,
            database=counts,
            checks=[vars(c) for c in checks],
            error_examples=load.error_examples,
        )
        path = write_results("kill9", result)
        ok = all(c.ok for c in checks)
        print(f"\nkill9: {'PASS' if ok else 'FAIL'}  (results: {path}{finish_work(work, ok)})")
        return 0 if ok else 1
    finally:
        await database.drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--interval", type=float, default=8.0, help="seconds between kills")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--delivery-wait", type=float, default=60.0, help="longest wait for every alert to be delivered at the end")
    args = parser.parse_args()
    return run_main(lambda: drill(args))


if __name__ == "__main__":
    raise SystemExit(main())
