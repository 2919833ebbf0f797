#!/usr/bin/env python3
"""A webhook that is dead, then hangs, then answers 500, then recovers: every alert must arrive exactly once.

A real receiver (aiohttp on loopback) plays the alert webhook (WATCHER_ALERT_WEBHOOK_URL) of
`watcher serve --workers 2` on a fresh PostgreSQL database (both workers run the delivery sweep, so
the lease is exercised). Phases: `--dead` s nothing listens (connection refused), `--hang` s it accepts and
never answers (each attempt runs into WATCHER_ALERT_DELIVERY_TIMEOUT_SECONDS, set to 5), `--error` s it
answers 500, then it is healthy. Meanwhile, every `--alert-every` s a pipeline execution fails and
`POST /timeliness?wait=true` turns it into one `execution_failure` alert; alerts keep coming for
`--healthy-load` s after the recovery. Delivery retries on its own schedule (30 s, 1 min, 2 min, …),
so the drill then waits up to `--settle` s for every alert to be sent.

Checks: every alert of GET /alerts is `sent`; the receiver answered 200 exactly once per alert id, and
only for ids GET /alerts knows; the outage was really exercised (attempts were made while it hung and
while it answered 500, alerts created during the outage needed more than one attempt); the API kept
answering within 2 s while the receiver hung. Reports the time from the recovery to the last delivery.

    python bench/drills/webhook.py [--dead 30] [--hang 30] [--error 30] [--settle 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter

import httpx
from common import (
    Check,
    DrillDatabase,
    Receiver,
    Server,
    checks_table,
    finish_work,
    log,
    outcomes_text,
    run_main,
    table,
    work_dir,
    write_results,
)

UTC = dt.UTC


async def alert_source(
    http: httpx.AsyncClient, stop: asyncio.Event, every: float, created: list, latencies: list, outcomes: Counter
) -> None:
    """A failed execution, then a timeliness run that alerts it: one new alert per round."""
    k = 0
    while not stop.is_set():
        k += 1
        started = time.monotonic()
        try:
            pipeline = (await http.post("/pipeline", json={"name": f"webhook drill {k}", "pipeline_type_name": "webhook drill"})).json()[
                "id"
            ]
            now = dt.datetime.now(UTC)
            execution = (
                await http.post(
                    "/start_pipeline_execution", json={"pipeline_id": pipeline, "start_date": (now - dt.timedelta(seconds=10)).isoformat()}
                )
            ).json()["id"]
            await http.post("/end_pipeline_execution", json={"id": execution, "end_date": now.isoformat(), "completed_successfully": False})
            run = await http.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 60})
            outcomes[str(run.status_code)] += 1
            if run.status_code == 200:
                created.append((time.monotonic(), run.json().get("alerts_created", 0)))
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            outcomes[type(exc).__name__] += 1
        latencies.append(time.monotonic() - started)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def drill(args) -> int:
    work = work_dir("webhook")
    receiver = Receiver()
    result: dict = {"config": vars(args)}
    database = DrillDatabase("webhook")
    try:
        database_url = await database.create()
        server = Server(
            database_url,
            work / "server.log",
            workers=2,
            alert_webhook_url=receiver.url,
            alert_delivery_timeout_seconds=5,
            alert_rate_limit_per_minute=0,  # the drill follows every alert by id; digests have their own tests
            timeliness_check_schedule="",
            freshness_check_schedule="",
        )
        try:
            await receiver.set_mode("dead")
            log(f"starting watcher serve --workers 2 (log {server.log_path}); webhook {receiver.url} is dead")
            await asyncio.to_thread(server.start)
            t0 = time.monotonic()
            marks = {"dead": 0.0}
            stop = asyncio.Event()
            created: list = []
            latencies: list = []
            source_outcomes: Counter = Counter()
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                source = asyncio.create_task(alert_source(http, stop, args.alert_every, created, latencies, source_outcomes))
                await asyncio.sleep(args.dead)
                for mode, seconds in (("hang", args.hang), ("error", args.error)):
                    marks[mode] = time.monotonic() - t0
                    await receiver.set_mode(mode)
                    log(f"webhook {mode} for {seconds:g} s")
                    await asyncio.sleep(seconds)
                marks["healthy"] = time.monotonic() - t0
                await receiver.set_mode("healthy")
                log("webhook healthy")
                await asyncio.sleep(args.healthy_load)
                stop.set()
                await source
                marks["last alert created"] = time.monotonic() - t0
                log(f"{sum(n for _, n in created)} alerts created; waiting up to {args.settle:g} s for every one to be delivered")
                deadline = time.monotonic() + args.settle
                last_delivery = None
                while True:
                    alerts = (await http.get("/alerts", params={"limit": 10000})).json()
                    pending = [a for a in alerts if a["delivery_status"] != "sent"]
                    if not pending and all(receiver.received[a["id"]] for a in alerts):
                        last_delivery = time.monotonic() - t0
                        break
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(1)
                # a little longer: a duplicate would show up now
                await asyncio.sleep(args.linger)
                alerts = (await http.get("/alerts", params={"limit": 10000})).json()
        finally:
            await asyncio.to_thread(server.stop)
            await receiver.close()

        ids = {a["id"] for a in alerts}
        statuses = Counter(a["delivery_status"] for a in alerts)
        attempts = Counter(a["delivery_attempts"] for a in alerts)
        never = sorted(i for i in ids if not receiver.received[i])
        duplicates = {i: n for i, n in receiver.received.items() if n > 1}
        unknown = sorted(set(receiver.received) - ids)
        during_outage = [a for a in alerts if a["kind"] == "execution_failure" and _created_before(a, marks, t0)]
        retried = [a for a in during_outage if a["delivery_attempts"] > 1]
        checks = [
            Check(
                "alerts were created during the outage and after it",
                len(ids) >= 3 and bool(during_outage),
                f"{len(ids)} alerts, {len(during_outage)} before the recovery",
            ),
            Check("every alert is marked sent", statuses == Counter({"sent": len(alerts)}), outcomes_text(dict(statuses))),
            Check("every alert received (200) at least once", not never, f"{len(never)} never received {never[:10]}"),
            Check("no alert received twice", not duplicates, f"{len(duplicates)} duplicated {dict(list(duplicates.items())[:10])}"),
            Check("the receiver saw only alerts GET /alerts lists", not unknown, f"unknown ids {unknown[:10]}"),
            Check(
                "attempts were made while it hung and while it answered 500",
                receiver.attempts["hang"] > 0 and receiver.attempts["error"] > 0,
                outcomes_text(dict(receiver.attempts)),
            ),
            Check(
                "alerts created during the outage needed retries",
                len(retried) == len(during_outage) and bool(during_outage),
                f"{len(retried)} of {len(during_outage)}",
            ),
            Check(
                "the API answered within 2 s while the webhook was away",
                max(latencies or [0]) <= 2 + 4 * 0.5,
                f"slowest alert round {max(latencies or [0]):.2f} s (4 requests)",
            ),
        ]
        rows = [[mode, f"{marks[mode]:.0f}", receiver.attempts.get(mode, "-")] for mode in ("dead", "hang", "error", "healthy")]
        print()
        print(table(rows, ["webhook", "from s", "requests seen by the receiver"]))
        print(f"\nalerts: {len(ids)}, delivery attempts per alert: {dict(sorted(attempts.items()))}, statuses {dict(statuses)}")
        recovery_to_last = None if last_delivery is None else round(last_delivery - marks["healthy"], 1)
        print(f"last delivery {recovery_to_last} s after the webhook recovered (alerts kept coming for {args.healthy_load:g} s)")
        print(f"alert source: {outcomes_text(dict(source_outcomes))}; slowest round {max(latencies or [0]):.2f} s")
        print()
        print(checks_table(checks))
        result.update(
            marks={k: round(v, 1) for k, v in marks.items()},
            alerts=len(ids),
            delivery_statuses=dict(statuses),
            attempts_per_alert=dict(sorted(attempts.items())),
            receiver_requests_by_mode=dict(receiver.attempts),
            deliveries=sum(receiver.received.values()),
            duplicates=duplicates,
            never_received=never,
            seconds_from_recovery_to_last_delivery=recovery_to_last,
            checks=[vars(c) for c in checks],
        )
        path = write_results("webhook", result)
        ok = all(c.ok for c in checks)
        print(f"\nwebhook: {'PASS' if ok else 'FAIL'}  (results: {path}{finish_work(work, ok)})")
        return 0 if ok else 1
    finally:
        await database.drop()


def _created_before(alert: dict, marks: dict, t0: float) -> bool:
    """Created before the webhook recovered (wall clock of the alert vs the drill's monotonic marks)."""
    created = dt.datetime.fromisoformat(alert["created_at"].replace("Z", "+00:00"))
    healthy_wall = dt.datetime.now(UTC) - dt.timedelta(seconds=time.monotonic() - t0 - marks["healthy"])
    return created < healthy_wall - dt.timedelta(seconds=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dead", type=float, default=30)
    parser.add_argument("--hang", type=float, default=30)
    parser.add_argument("--error", type=float, default=30)
    parser.add_argument("--healthy-load", type=float, default=15, help="seconds alerts keep coming after the recovery")
    parser.add_argument("--alert-every", type=float, default=5)
    parser.add_argument("--settle", type=float, default=300, help="longest wait for every alert to be delivered")
    parser.add_argument("--linger", type=float, default=10, help="seconds to watch for duplicates once all are delivered")
    args = parser.parse_args()
    return run_main(lambda: drill(args))


if __name__ == "__main__":
    raise SystemExit(main())
