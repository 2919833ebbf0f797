#!/usr/bin/env python3
"""PostgreSQL stopped, then frozen, under load, on a throwaway cluster; Watcher must answer and recover alone.

Creates the cluster `watcher_drill` (`pg_createcluster <version> watcher_drill --port 5499`, trust auth on
localhost, never started at boot) and always drops it at the end, even on failure or Ctrl-C. Runs
`watcher serve --workers 2` against it under `--clients` closed-loop clients (the core cycle) plus a
`GET /ready` probe every 0.5 s, and goes through these phases:

1. baseline (`--baseline` s);
2. a pending shutdown: `pg_ctlcluster ... stop -m smart` held open by one session of the drill, Watcher's
   sessions terminated (`pg_terminate_backend`), so for `--pending` s every new connection is refused with
   "the database system is shutting down"; then the session closes, the cluster stops, stays down
   `--down` s and starts;
3. recovery (`--recovery` s) — Watcher is never restarted;
4. `pg_ctlcluster ... stop -m fast` (every session cut), down `--down` s, start; recovery;
5. freeze: SIGSTOP to the postmaster and every backend for `--freeze` s (TCP still accepts), then SIGCONT;
6. thaw (`--thaw` s).

Checks: the baseline is all 2xx; while the database is away every request in flight ends in 2xx or 503
(no 500, no connection error) within the documented bounds (statement 6 s + 1 s, connect 3 s, pool 3 s:
at most `--bound` s, default 10), and `/ready` answers 503 within `--ready-bound` s (default 3: its
documented 2 s plus 1 s) while the database is surely unreachable;
after each start and after the thaw Watcher answers 2xx again by itself within `--recover-within` s, and
the last 5 s of each recovery phase are all 2xx. Reports outcomes, p99 and max latency per phase.

    python bench/drills/postgres.py [--clients 20] [--down 10] [--freeze 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
from common import (
    Check,
    Load,
    Sample,
    Server,
    _children,
    checks_table,
    finish_work,
    log,
    outcomes_text,
    percentile,
    run_main,
    summarize,
    table,
    work_dir,
    write_results,
)

CLUSTER = "watcher_drill"


def pg_version() -> str:
    versions = sorted((p.name for p in Path("/usr/lib/postgresql").iterdir() if p.name.isdigit()), key=int)
    if not versions:
        raise SystemExit("no PostgreSQL server under /usr/lib/postgresql (pg_createcluster needs postgresql-common)")
    return versions[-1]


def cluster_exists(version: str) -> bool:
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True).stdout
    return any(line.split()[:2] == [version, CLUSTER] for line in out.splitlines() if line.strip())


def drop_cluster(version: str) -> None:
    if cluster_exists(version):
        subprocess.run(["pg_dropcluster", version, CLUSTER, "--stop"], check=False, timeout=120)


def postmaster_pid(version: str) -> int | None:
    data = Path(f"/var/lib/postgresql/{version}/{CLUSTER}/postmaster.pid")
    try:
        return int(data.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


class Freezer:
    """SIGSTOP / SIGCONT the cluster's postmaster and all its children; always thaws what it froze."""

    def __init__(self, version: str):
        self.version = version
        self.frozen: list[int] = []

    def freeze(self) -> list[int]:
        root = postmaster_pid(self.version)
        if root is None:
            raise RuntimeError("postmaster.pid not found")
        os.kill(root, signal.SIGSTOP)  # first, so it forks nothing new meanwhile
        self.frozen = [root]
        for pid in _children(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                self.frozen.append(pid)
        return self.frozen

    def thaw(self) -> None:
        for pid in reversed(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []


async def ready_probe(base_url: str, stop: asyncio.Event, samples: list[Sample], t0: float) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        while not stop.is_set():
            started = time.monotonic() - t0
            try:
                outcome = str((await http.get("/ready")).status_code)
            except httpx.TimeoutException:
                outcome = "timeout"
            except httpx.HTTPError:
                outcome = "network"
            samples.append(Sample(started, time.monotonic() - t0 - started, "GET /ready", outcome))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


def overlapping(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """Requests in flight at some moment of [start, end)."""
    return [s for s in samples if s.started < end and s.started + s.seconds > start]


def within(samples: list[Sample], start: float, end: float) -> list[Sample]:
    """Requests that started and ended inside [start, end]."""
    return [s for s in samples if s.started >= start and s.started + s.seconds <= end]


def window_stats(samples: list[Sample]) -> dict:
    latencies = sorted(s.seconds for s in samples)
    outcomes: dict[str, int] = {}
    for s in samples:
        key = "2xx" if s.outcome.startswith("2") else s.outcome
        outcomes[key] = outcomes.get(key, 0) + 1
    return {
        "requests": len(samples),
        "outcomes": dict(sorted(outcomes.items())),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
    }


def _ms(seconds):
    return None if seconds is None else round(seconds * 1000, 1)


def first_ok_after(samples: list[Sample], moment: float) -> float | None:
    ends = sorted(s.started + s.seconds for s in samples if s.started >= moment and s.outcome.startswith("2"))
    return round(ends[0] - moment, 2) if ends else None


async def run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(*command)
    if await process.wait() != 0:
        raise RuntimeError(f"{' '.join(command)} failed")


async def drill(args) -> int:
    version = pg_version()
    work = work_dir("postgres")
    port = args.pg_port
    if cluster_exists(version):
        log(f"a cluster {version}/{CLUSTER} is left from an earlier drill: dropping it")
        drop_cluster(version)
    with socket_free(port):
        pass
    freezer = Freezer(version)
    server = None
    result: dict = {"config": vars(args)}
    try:
        log(f"pg_createcluster {version} {CLUSTER} --port {port} (trust on localhost)")
        subprocess.run(
            [
                "pg_createcluster",
                version,
                CLUSTER,
                "--port",
                str(port),
                "--start",
                "--start-conf=manual",
                "--quiet",
                "--",
                "--auth-host=trust",
                "--auth-local=trust",
            ],
            check=True,
            timeout=180,
        )
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        conn = await asyncpg.connect(admin, timeout=10)
        try:
            await conn.execute("CREATE DATABASE watcher")
        finally:
            await conn.close()
        database_url = f"postgresql://postgres@127.0.0.1:{port}/watcher"
        server = Server(database_url, work / "server.log", workers=2)
        log(f"starting watcher serve --workers 2 (log {server.log_path})")
        await asyncio.to_thread(server.start)
        load = Load(server.base_url, clients=args.clients, prefix="pgdrill", timeout=args.client_timeout)
        await load.start()
        stop_probe = asyncio.Event()
        ready: list[Sample] = []
        probe = asyncio.create_task(ready_probe(server.base_url, stop_probe, ready, load.t0))
        marks: dict[str, float] = {}
        await asyncio.sleep(args.baseline)

        # (a) a shutdown that is pending: a smart stop waits for a session we hold, Watcher's sessions are
        # terminated, and every new connection is refused with "the database system is shutting down"
        marks["smart stop"] = load.now()
        held = await asyncpg.connect(admin, timeout=10)
        log("pg_ctlcluster stop -m smart, held open by one session; Watcher's sessions terminated")
        smart = await asyncio.create_subprocess_exec("pg_ctlcluster", version, CLUSTER, "stop", "-m", "smart")
        await asyncio.sleep(1)
        terminated = await held.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'watcher' AND pid <> pg_backend_pid()"
        )
        marks["terminated"] = load.now()
        await asyncio.sleep(args.pending)
        await held.close()
        await smart.wait()
        marks["stopped"] = load.now()
        log(f"stopped ({terminated} sessions terminated); down for {args.down:g} s")
        await asyncio.sleep(args.down)
        marks["start"] = load.now()
        await run("pg_ctlcluster", version, CLUSTER, "start")
        marks["started"] = load.now()
        log("started")
        await asyncio.sleep(args.recovery)

        # (b) a fast stop (every session cut at once) and a start
        marks["fast stop"] = load.now()
        log("pg_ctlcluster stop -m fast")
        await run("pg_ctlcluster", version, CLUSTER, "stop", "-m", "fast")
        marks["fast stopped"] = load.now()
        await asyncio.sleep(args.down)
        marks["fast start"] = load.now()
        await run("pg_ctlcluster", version, CLUSTER, "start")
        marks["fast started"] = load.now()
        log("started")
        await asyncio.sleep(args.recovery)

        # (c) a frozen host: every PostgreSQL process stopped, TCP still accepting
        marks["freeze"] = load.now()
        frozen = freezer.freeze()
        log(f"SIGSTOP postmaster and {len(frozen) - 1} children for {args.freeze:g} s")
        await asyncio.sleep(args.freeze)
        freezer.thaw()
        marks["thaw"] = load.now()
        log("SIGCONT")
        await asyncio.sleep(args.thaw)
        marks["end"] = load.now()
        stop_probe.set()
        await load.stop()
        await probe
    finally:
        freezer.thaw()
        if server is not None:
            await asyncio.to_thread(server.stop)
        log(f"pg_dropcluster {version} {CLUSTER} --stop")
        drop_cluster(version)

    samples = load.samples
    # (name, window, kind, window in which the database is surely unreachable)
    phases = [
        ("baseline", (2.0, marks["smart stop"]), "steady", None),
        (
            "smart stop pending, sessions cut",
            (marks["smart stop"], marks["stopped"]),
            "away",
            (marks["terminated"] + 0.5, marks["stopped"]),
        ),
        ("database stopped", (marks["stopped"], marks["started"]), "away", (marks["stopped"], marks["start"])),
        ("after start", (marks["started"], marks["fast stop"]), "steady", None),
        ("fast stop, down, start", (marks["fast stop"], marks["fast started"]), "away", (marks["fast stopped"], marks["fast start"])),
        ("after fast restart", (marks["fast started"], marks["freeze"]), "steady", None),
        ("frozen", (marks["freeze"], marks["thaw"]), "away", (marks["freeze"], marks["thaw"])),
        ("after thaw", (marks["thaw"], marks["end"]), "steady", None),
    ]
    bound = args.bound
    rows, per_phase, checks = [], {}, []
    for name, (a, b), kind, down in phases:
        # disruptions: every request in flight at some moment of it; steady phases: requests wholly inside
        chosen = overlapping(samples, a, b) if kind == "away" else within(samples, a, b)
        stats = window_stats(chosen)
        probe_stats = window_stats([s for s in ready if a <= s.started < b])
        per_phase[name] = {"window_s": [round(a, 1), round(b, 1)], "load": stats, "ready": probe_stats}
        rows.append(
            [
                name,
                f"{a:.1f}-{b:.1f}",
                stats["requests"],
                outcomes_text(stats["outcomes"]),
                stats["p99_ms"],
                stats["max_ms"],
                outcomes_text(probe_stats["outcomes"]),
                probe_stats["max_ms"],
            ]
        )
        if kind == "away":
            bad = {k: v for k, v in stats["outcomes"].items() if k not in ("2xx", "503")}
            checks.append(Check(f"{name}: only 2xx or 503", not bad, outcomes_text(stats["outcomes"])))
            checks.append(
                Check(
                    f"{name}: every request answered within {bound:g} s",
                    (stats["max_ms"] or 0) <= bound * 1000,
                    f"max {stats['max_ms']} ms",
                )
            )
            during = [s for s in ready if down[0] <= s.started and s.started + s.seconds <= down[1]]
            ready_bad = [s for s in during if s.outcome != "503" or s.seconds > args.ready_bound]
            during_stats = window_stats(during)
            checks.append(
                Check(
                    f"{name}: /ready answers 503 within {args.ready_bound:g} s",
                    bool(during) and not ready_bad,
                    f"{len(during)} probes: {outcomes_text(during_stats['outcomes'])}, max {during_stats['max_ms']} ms",
                )
            )
        elif name == "baseline":
            checks.append(Check("baseline: every answer 2xx", set(stats["outcomes"]) == {"2xx"}, outcomes_text(stats["outcomes"])))
        else:
            first, first_ready = first_ok_after(samples, a), first_ok_after(ready, a)
            per_phase[name]["first_2xx_after_s"] = first
            per_phase[name]["ready_200_after_s"] = first_ready
            checks.append(
                Check(
                    f"{name}: 2xx again within {args.recover_within:g} s, no restart",
                    first is not None and first <= args.recover_within,
                    f"first 2xx after {first} s, /ready 200 after {first_ready} s",
                )
            )
            tail = window_stats(within(samples, b - 5, b))
            checks.append(Check(f"{name}: last 5 s all 2xx", set(tail["outcomes"]) == {"2xx"}, outcomes_text(tail["outcomes"])))
    hung = [s for s in samples if s.outcome == "timeout"]
    checks.append(Check(f"no request hung until the client's {args.client_timeout:g} s timeout", not hung, f"{len(hung)} timed out"))

    print()
    print(table(rows, ["phase", "window s", "requests", "outcomes", "p99 ms", "max ms", "/ready outcomes", "/ready max ms"]))
    if load.error_examples:
        print("first answer of each kind that was not 2xx:")
        for key, example in list(load.error_examples.items())[:12]:
            print(f"  {key}: {example}")
    print()
    print(checks_table(checks))
    result.update(
        postgres_version=version,
        marks={k: round(v, 2) for k, v in marks.items()},
        phases=per_phase,
        overall=summarize(samples),
        ready_probes=[[round(s.started, 2), round(s.seconds, 3), s.outcome] for s in ready],
        checks=[vars(c) for c in checks],
        error_examples=load.error_examples,
        server_log_errors=_log_errors(server.log_path),
    )
    path = write_results("postgres", result)
    ok = all(c.ok for c in checks)
    print(f"\npostgres: {'PASS' if ok else 'FAIL'}  (results: {path}{finish_work(work, ok)})")
    return 0 if ok else 1


def _log_errors(path: Path, limit: int = 20) -> list[str]:
    """The first distinct ERROR lines of the server log (tracebacks' last lines), for the report."""
    seen, out = set(), []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for line in lines:
        if ("ERROR" in line or "Error:" in line or "Exception" in line) and line not in seen:
            seen.add(line)
            out.append(line[:300])
            if len(out) >= limit:
                break
    return out


@contextlib.contextmanager
def socket_free(port: int):
    import socket

    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"something already listens on 127.0.0.1:{port}; choose another --pg-port")
    yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--pg-port", type=int, default=5499)
    parser.add_argument("--baseline", type=float, default=10)
    parser.add_argument("--pending", type=float, default=5, help="seconds a smart shutdown stays pending with Watcher's sessions cut")
    parser.add_argument("--down", type=float, default=10, help="seconds the cluster stays stopped, each time")
    parser.add_argument("--recovery", type=float, default=20)
    parser.add_argument("--freeze", type=float, default=15, help="seconds the cluster stays SIGSTOPped")
    parser.add_argument("--thaw", type=float, default=20)
    parser.add_argument("--bound", type=float, default=10, help="longest acceptable answer while the database is away (s)")
    parser.add_argument(
        "--ready-bound", type=float, default=3, help="longest acceptable /ready answer (documented: SELECT 1 within 2 s) (s)"
    )
    parser.add_argument(
        "--recover-within", type=float, default=10, help="longest acceptable time to the first 2xx after the database is back (s)"
    )
    parser.add_argument("--client-timeout", type=float, default=60)
    args = parser.parse_args()
    return run_main(lambda: drill(args))


if __name__ == "__main__":
    raise SystemExit(main())
