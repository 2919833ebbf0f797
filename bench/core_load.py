#!/usr/bin/env python3
"""Core load benchmark for the Watcher server.

Workload (see bench/README.md): N_PIPELINES pipelines, C concurrent clients, each on its own
keep-alive HTTP/1.1 connection, looping a cycle of

  1. POST /pipeline                   create-or-get a random pipeline, new next_watermark each cycle
  2. POST /start_pipeline_execution   every 4th cycle with parent_id = this client's previous execution
  3. POST /end_pipeline_execution     end_date = start_date + 1 s, success, row counts
  4. GET  /pipeline_execution/{id}    every 10th cycle, for the execution just ended

A warm-up (default 5 s, and at least until all pipelines exist) precedes a measured window
(default 30 s). Everything is bounded in time and targets 127.0.0.1/localhost only.

Two HTTP clients are available:
  --client aiohttp   aiohttp.ClientSession, one session (and so one connection) per client
  --client raw       a minimal asyncio.Protocol HTTP/1.1 client parsed with httptools (C);
                     several times cheaper in CPU than aiohttp, which matters on a 2-core box
                     where the load generator shares the CPU with the server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import resource
import sys
import time
from urllib.parse import urlsplit

try:
    import orjson

    dumps = orjson.dumps
    loads = orjson.loads
except ImportError:  # pragma: no cover - orjson is a server dependency, so normally present

    def dumps(obj):
        return json.dumps(obj, separators=(",", ":")).encode()

    loads = json.loads

EP_PIPELINE = "POST /pipeline"
EP_START = "POST /start_pipeline_execution"
EP_END = "POST /end_pipeline_execution"
EP_GET = "GET /pipeline_execution/{id}"
ENDPOINTS = (EP_PIPELINE, EP_START, EP_END, EP_GET)

UTC = dt.UTC
ONE_SECOND = dt.timedelta(seconds=1)
MAX_ERROR_BODIES = 5


class RequestFailed(Exception):
    pass


# --------------------------------------------------------------------------- HTTP clients


class AiohttpClient:
    """One aiohttp session with a single pooled keep-alive connection."""

    def __init__(self, base_url: str, timeout: float):
        import aiohttp

        self._aiohttp = aiohttp
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.session = None
        self.headers = {"Content-Type": "application/json"}

    async def open(self):
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(limit=1, force_close=False, keepalive_timeout=60, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
        # aiohttp connects lazily: make the connection now, so connects are staggered like --client raw
        async with self.session.get(self.base + "/health") as resp:
            await resp.read()

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        async with self.session.request(method, self.base + path, data=body, headers=self.headers) as resp:
            return resp.status, await resp.read()

    async def close(self):
        if self.session is not None:
            await self.session.close()


class _RawProtocol(asyncio.Protocol):
    """HTTP/1.1 response reader over one connection; one request in flight at a time."""

    def __init__(self):
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport = None
        self.waiter: asyncio.Future | None = None
        self.body_parts: list[bytes] = []
        self.keep_alive = True
        self.closed = False

    # asyncio callbacks
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # malformed response
            self._fail(RequestFailed(f"bad HTTP response: {exc!r}"))
            self.transport.close()

    def connection_lost(self, exc):
        self.closed = True
        self._fail(RequestFailed(f"connection lost: {exc!r}"))

    # httptools callbacks
    def on_body(self, body: bytes):
        self.body_parts.append(body)

    def on_message_complete(self):
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), b"".join(self.body_parts)))
        self.body_parts = []

    def _fail(self, exc):
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class RawClient:
    """Minimal keep-alive HTTP/1.1 client: fixed request head, Content-Length bodies."""

    def __init__(self, base_url: str, timeout: float):
        parts = urlsplit(base_url)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.proto: _RawProtocol | None = None
        self.loop = None
        self.host_header = f"Host: {self.host}:{self.port}\r\n".encode()

    async def open(self):
        self.loop = asyncio.get_running_loop()
        await self._connect()

    async def _connect(self):
        if self.proto is not None and not self.proto.closed:
            self.proto.transport.close()
        _, self.proto = await self.loop.create_connection(_RawProtocol, self.host, self.port)

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        proto = self.proto
        if proto is None or proto.closed or not proto.keep_alive:
            await self._connect()
            proto = self.proto
        if body is None:
            head = f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode() + self.host_header + b"\r\n"
            payload = head
        else:
            head = (
                f"{method} {self.prefix}{path} HTTP/1.1\r\n".encode()
                + self.host_header
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
            )
            payload = head + body
        waiter = self.loop.create_future()
        proto.waiter = waiter
        proto.transport.write(payload)
        # the per-request timeout is a plain timer (cheaper than asyncio.wait_for)
        timer = self.loop.call_later(self.timeout, _expire, waiter, proto)
        try:
            return await waiter
        finally:
            timer.cancel()

    async def close(self):
        if self.proto is not None and not self.proto.closed:
            self.proto.transport.close()


def _expire(waiter: asyncio.Future, proto: _RawProtocol) -> None:
    if not waiter.done():
        waiter.set_exception(RequestFailed("request timed out"))
        proto.transport.close()  # the response may still come: never reuse this connection


# --------------------------------------------------------------------------- CPU accounting


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[str, int, int]]:
    """pid -> (comm, ppid, utime+stime ticks) for every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        lpar, rpar = raw.find("("), raw.rfind(")")
        comm = raw[lpar + 1 : rpar]
        fields = raw[rpar + 2 :].split()
        # fields[0] = state, [1] = ppid, [11] = utime, [12] = stime
        table[int(entry)] = (comm, int(fields[1]), int(fields[11]) + int(fields[12]))
    return table


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values[:8]), idle


def _descendants(table, root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, (_, ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, stack = set(), [root]
    while stack:
        pid = stack.pop()
        if pid in out:
            continue
        out.add(pid)
        stack.extend(children.get(pid, ()))
    return out


class CpuSnapshot:
    def __init__(self):
        self.time = time.monotonic()
        self.rusage = resource.getrusage(resource.RUSAGE_SELF)
        self.procs = _proc_table()
        self.machine = _machine_ticks()


def cpu_split(before: CpuSnapshot, after: CpuSnapshot, server_pid: int | None) -> dict:
    """CPU used in the window, in cores (1.0 = one core busy the whole time)."""
    elapsed = after.time - before.time
    ru0, ru1 = before.rusage, after.rusage
    result = {
        "elapsed_s": round(elapsed, 3),
        "load_generator_cores": round(((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)) / elapsed, 3),
        "load_generator_user_s": round(ru1.ru_utime - ru0.ru_utime, 3),
        "load_generator_sys_s": round(ru1.ru_stime - ru0.ru_stime, 3),
    }
    server_pids = _descendants(after.procs, server_pid) if server_pid else set()
    groups = {"server": 0, "postgres": 0, "load_generator": 0, "other": 0}
    per_server_proc = {}
    other_by_comm: dict[str, int] = {}
    me = os.getpid()
    for pid, (comm, _, ticks) in after.procs.items():
        previous = before.procs.get(pid)
        delta = ticks - previous[2] if previous is not None and previous[0] == comm else ticks
        if pid in server_pids:
            groups["server"] += delta
            per_server_proc[pid] = round(delta / CLK_TCK / elapsed, 3)
        elif comm.startswith("postgres"):
            groups["postgres"] += delta
        elif pid == me:
            groups["load_generator"] += delta
        else:
            groups["other"] += delta
            other_by_comm[comm] = other_by_comm.get(comm, 0) + delta
    for name, ticks in groups.items():
        result[f"{name}_cores_proc"] = round(ticks / CLK_TCK / elapsed, 3)
    if server_pid:
        result["server_processes_cores"] = per_server_proc
    total = after.machine[0] - before.machine[0]
    idle = after.machine[1] - before.machine[1]
    result["machine_busy_cores"] = round((total - idle) / CLK_TCK / elapsed, 3)
    # CPU of processes that exited during the window, softirq time etc. shows up only here
    result["unattributed_cores"] = round(result["machine_busy_cores"] - sum(groups.values()) / CLK_TCK / elapsed, 3)
    top_other = sorted(other_by_comm.items(), key=lambda kv: -kv[1])[:4]
    result["other_top"] = {comm: round(t / CLK_TCK / elapsed, 3) for comm, t in top_other if t > 0}
    result["machine_cores"] = os.cpu_count()
    return result


# --------------------------------------------------------------------------- detection backlog (opt-in)


PENDING_SQL = "SELECT count(*) FROM pipeline_execution WHERE completed_successfully AND anomaly_checked_at IS NULL"


class DetectionProbe:
    """Read-only view of the server's database: the anomaly-detection backlog and when executions were checked.

    One connection for the whole run (PostgreSQL: asyncpg, 5 s statement timeout; SQLite: sqlite3 opened
    read-only, queried in a thread). The pending count is answered from the partial index
    ix_pipeline_execution_anomaly_pending, so a sample costs well under a millisecond of database time
    while the backlog is small.
    """

    def __init__(self, url: str):
        self.url = url
        self.kind = "sqlite" if url.startswith("sqlite:") else "postgresql"
        self.conn = None

    async def open(self) -> None:
        if self.kind == "postgresql":
            import asyncpg

            url = self.url.replace("postgresql+asyncpg://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")
            self.conn = await asyncpg.connect(
                url,
                timeout=10,
                server_settings={"application_name": "core_load detection probe", "statement_timeout": "5000"},
            )
        else:
            import sqlite3

            path = self.url.split(":///", 1)[1] if ":///" in self.url else self.url.split(":", 1)[1]
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5, check_same_thread=False)

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.kind == "postgresql":
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:
                conn.terminate()
        else:
            conn.close()

    async def pending(self) -> int:
        if self.kind == "postgresql":
            return await self.conn.fetchval(PENDING_SQL, timeout=10)
        return await asyncio.to_thread(lambda: self.conn.execute(PENDING_SQL).fetchone()[0])

    async def checked(self, low: int, high: int) -> dict[int, tuple[float, float | None]]:
        """id -> (start_date, anomaly_checked_at or None) as Unix seconds, for ids in [low, high]."""
        if self.kind == "postgresql":
            rows = await self.conn.fetch(
                "SELECT id, extract(epoch FROM start_date)::float8, extract(epoch FROM anomaly_checked_at)::float8"
                " FROM pipeline_execution WHERE id BETWEEN $1 AND $2",
                low,
                high,
                timeout=60,
            )
            return {r[0]: (r[1], r[2]) for r in rows}

        def read():
            sql = "SELECT id, start_date, anomaly_checked_at FROM pipeline_execution WHERE id BETWEEN ? AND ?"
            return self.conn.execute(sql, (low, high)).fetchall()

        return {r[0]: (_sqlite_epoch(r[1]), _sqlite_epoch(r[2])) for r in await asyncio.to_thread(read)}


def _sqlite_epoch(value) -> float | None:
    # SQLite stores these instants as naive UTC text ("2026-12-01 08:40:01.123456")
    if value is None:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


class PendingSampler:
    """Samples the pending count every `interval` s into (perf_counter, pending, query seconds)."""

    def __init__(self, probe: DetectionProbe, interval: float = 1.0):
        self.probe = probe
        self.interval = interval
        self.samples: list[tuple[float, int | None, float]] = []
        self.errors: list[str] = []

    async def run(self) -> None:
        perf = time.perf_counter
        while True:
            t = perf()
            try:
                pending = await self.probe.pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # record and go on: the load must not stop because of the probe
                pending = None
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self.samples.append((t, pending, perf() - t))
            await asyncio.sleep(max(0.0, self.interval - (perf() - t)))


async def drain(probe: DetectionProbe, sampler: PendingSampler, timeout: float) -> tuple[int | None, float | None]:
    """After the load: poll the pending count (every 0.5 s, recorded in the sampler's timeline) until it is 0,
    at most `timeout` s. Returns (pending when the load stopped, seconds until 0 or None if it never got there)."""
    perf = time.perf_counter
    t0 = perf()
    first = None
    while True:
        t = perf()
        try:
            pending = await probe.pending()
        except Exception as exc:
            pending = None
            if len(sampler.errors) < 5:
                sampler.errors.append(f"{type(exc).__name__}: {exc}")
        sampler.samples.append((t, pending, perf() - t))
        if first is None:
            first = pending
            if pending:
                print(f"load stopped with {pending} executions pending detection; waiting up to {timeout:g} s", file=sys.stderr)
        if pending == 0:
            return first, round(t - t0, 2)
        if perf() - t0 >= timeout:
            return first, None
        await asyncio.sleep(0.5)


def detection_report(
    ends: list[tuple[int, float]],
    checked: dict[int, tuple[float, float | None]],
    sampler: PendingSampler,
    window: tuple[float, float],
    elapsed: float,
    pending_at_stop: int | None,
    drain_s: float | None,
    drain_timeout: float,
    lag_limit: float,
) -> dict:
    """Backlog and lag figures for the ends sent (and answered 200) in the measured window."""
    w0, w1 = window
    in_window = [p for t, p, _ in sampler.samples if w0 <= t <= w1 and p is not None]
    ordered = sorted(in_window)
    query_ms = sorted(1000 * q for _, _, q in sampler.samples)
    lags, approx, unchecked, missing = [], [], 0, 0
    for execution_id, sent in ends:
        row = checked.get(execution_id)
        if row is None:
            missing += 1
            continue
        start_date, checked_at = row
        if checked_at is None:
            unchecked += 1
            continue
        lags.append(checked_at - sent)
        approx.append(checked_at - start_date)
    lags.sort()
    approx.sort()
    ends_per_s = len(ends) / elapsed if elapsed > 0 else 0.0
    max_pending = ordered[-1] if ordered else None

    def pct(values, p):
        v = _pct(values, p)
        return None if v is None else round(v / 1000, 3)

    over_limit = sum(1 for v in lags if v > lag_limit)
    return {
        "ends": len(ends),
        "ends_per_s": round(ends_per_s, 1),
        "targets": {
            "all_checked_within_limit": bool(ends) and over_limit == 0 and unchecked == 0 and missing == 0,
            # "about one second of ends": the max sampled backlog, against the ends sent per second
            "pending_max_within_1s_of_ends": max_pending is not None and max_pending <= ends_per_s,
        },
        "pending": {
            "samples": len(in_window),
            "interval_s": sampler.interval,
            "max": max_pending,
            "p50": ordered[len(ordered) // 2] if ordered else None,
            "last": in_window[-1] if in_window else None,
            "max_in_seconds_of_ends": round(max_pending / ends_per_s, 2) if max_pending is not None and ends_per_s else None,
            "at_load_stop": pending_at_stop,
            "drain_s": drain_s,
            "drain_timeout_s": drain_timeout,
            "drained": drain_s is not None,
            "sample_query_ms": {"p50": round(query_ms[len(query_ms) // 2], 2), "max": round(query_ms[-1], 2)} if query_ms else None,
            "errors": sampler.errors,
        },
        "lag_s": {
            "measured_from": "the wall-clock time the client sent POST /end_pipeline_execution",
            "checked": len(lags),
            "p50": pct(lags, 50),
            "p95": pct(lags, 95),
            "p99": pct(lags, 99),
            "max": round(lags[-1], 3) if lags else None,
            "min": round(lags[0], 3) if lags else None,
            "limit_s": lag_limit,
            "over_limit": over_limit,
            "never_checked": unchecked,
            "not_found": missing,
        },
        "lag_from_start_date_s": {
            "p50": pct(approx, 50),
            "p99": pct(approx, 99),
            "max": round(approx[-1], 3) if approx else None,
        },
        "timeline": [{"t": round(t - w0, 2), "pending": p, "query_ms": round(1000 * q, 2)} for t, p, q in sampler.samples],
    }


# --------------------------------------------------------------------------- the workload


class State:
    def __init__(self, n_pipelines: int):
        self.measuring = False
        self.stop = False
        self.t0 = 0.0  # perf_counter at start of measurement
        self.setup_keys = iter(range(n_pipelines))  # first round: every pipeline once
        self.setup_left = n_pipelines
        self.setup_done = asyncio.Event()
        self.watermarks = itertools.count(1)
        self.lat = {ep: [] for ep in ENDPOINTS}  # measured latencies, seconds
        self.last_end = 0.0
        self.timeline_count: dict[int, int] = {}  # second of the window -> requests completed
        self.timeline_max: dict[int, float] = {}  # second of the window -> max latency (s)
        self.cycles = 0
        self.errors = 0
        self.errors_by_endpoint = {ep: 0 for ep in ENDPOINTS}
        self.warmup_requests = 0
        self.warmup_errors = 0
        self.error_samples: list[str] = []
        self.status_counts: dict[str, int] = {}
        # with --detection-db-url: (execution id, Unix time the end was sent) of each end answered 200 in the window
        self.ends: list[tuple[int, float]] | None = None


async def timed_request(client, method: str, path: str, body: bytes | None) -> tuple[int | None, bytes, float, float]:
    """(status, body, start, end) of one request; a network error or timeout gives status None and the
    error's text as body."""
    started = time.perf_counter()
    try:
        status, data = await client.request(method, path, body)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # network error or timeout
        status, data = None, f"{type(exc).__name__}: {exc}".encode()
    return status, data, started, time.perf_counter()


def loop_runner(no_uvloop: bool):
    """uvloop's run when it is installed (a faster client loop) and not refused, else asyncio.run."""
    if not no_uvloop:
        try:
            import uvloop

            return uvloop.run
        except ImportError:
            pass
    return asyncio.run


async def measured_window(state, started: float, warmup: float, max_warmup: float, seconds: float, setup: str):
    """Warm up for at least `warmup` s and until `state.setup_done` (at most `max_warmup` s), then measure for
    `seconds` (`state.measuring`), then ask the clients to stop. Returns (warm-up seconds, CPU snapshot at
    the start, CPU snapshot at the end, perf_counter at the end)."""
    await asyncio.sleep(warmup)
    try:
        await asyncio.wait_for(state.setup_done.wait(), timeout=max(1.0, max_warmup - warmup))
    except TimeoutError:
        print(f"warning: warm-up did not {setup} within {max_warmup}s", file=sys.stderr)
    warmup_seconds = time.monotonic() - started
    cpu0 = CpuSnapshot()
    state.t0 = time.perf_counter()
    state.measuring = True
    await asyncio.sleep(seconds)
    state.measuring = False
    t1 = time.perf_counter()
    cpu1 = CpuSnapshot()
    state.stop = True
    return warmup_seconds, cpu0, cpu1, t1


def record_answer(state, key: str, started: float, ended: float, status: int | None) -> None:
    """One answer inside the measured window: its latency under `key`, the per-second timeline and the
    status count (`state` has lat, t0, last_end, timeline_count, timeline_max and status_counts)."""
    state.lat[key].append(ended - started)
    if ended > state.last_end:
        state.last_end = ended
    second = int(ended - state.t0)
    state.timeline_count[second] = state.timeline_count.get(second, 0) + 1
    if ended - started > state.timeline_max.get(second, 0.0):
        state.timeline_max[second] = ended - started
    state.status_counts[f"{key} {status}"] = state.status_counts.get(f"{key} {status}", 0) + 1


async def client_loop(cid: int, client, state: State, n_pipelines: int, seed: int):
    rng = random.Random(seed * 1000 + cid)
    now = dt.datetime.now
    cycle = 0
    prev_execution: int | None = None

    async def call(endpoint: str, method: str, path: str, body: bytes | None, expect: tuple[int, ...]):
        measuring = state.measuring
        status, data, t, end = await timed_request(client, method, path, body)
        if measuring:
            record_answer(state, endpoint, t, end, status)
        else:
            state.warmup_requests += 1
        if status is None or not (200 <= status < 300) or status not in expect:
            if measuring:
                state.errors += 1
                state.errors_by_endpoint[endpoint] += 1
            else:
                state.warmup_errors += 1
            if len(state.error_samples) < MAX_ERROR_BODIES:
                phase = "measure" if measuring else "warm-up"
                state.error_samples.append(f"[{phase}] {endpoint} -> {status}: {data[:400].decode(errors='replace')}")
            raise RequestFailed(endpoint)
        return data

    while not state.stop:
        k = next(state.setup_keys, None)
        if k is None:
            k = rng.randrange(n_pipelines)
            counts_for_setup = False
        else:
            counts_for_setup = True
        cycle_measured = state.measuring
        cycle += 1
        try:
            # 1. create-or-get the pipeline with a new next_watermark
            body = dumps(
                {
                    "name": f"bench pipeline {k}",
                    "pipeline_type_name": "bench",
                    "next_watermark": f"{next(state.watermarks):012d}",
                }
            )
            data = await call(EP_PIPELINE, "POST", "/pipeline", body, (200, 201))
            pipeline_id = loads(data)["id"]
            if state.stop:
                break
            # 2. start an execution, nested under this client's previous one every 4th cycle
            start = now(UTC)
            start_body = {"pipeline_id": pipeline_id, "start_date": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
            if cycle % 4 == 0 and prev_execution is not None:
                start_body["parent_id"] = prev_execution
            data = await call(EP_START, "POST", "/start_pipeline_execution", dumps(start_body), (201,))
            execution_id = loads(data)["id"]
            prev_execution = execution_id
            if state.stop:
                break
            # 3. end it one second after its start
            end_body = dumps(
                {
                    "id": execution_id,
                    "end_date": (start + ONE_SECOND).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "completed_successfully": True,
                    "total_rows": 1000,
                    "inserts": 800,
                    "updates": 200,
                    "soft_deletes": 0,
                }
            )
            end_in_window = state.measuring
            end_sent = time.time()
            await call(EP_END, "POST", "/end_pipeline_execution", end_body, (200,))
            if end_in_window and state.ends is not None:
                state.ends.append((execution_id, end_sent))
            # 4. every 10th cycle read the execution back (with its subtree)
            if cycle % 10 == 0 and not state.stop:
                await call(EP_GET, "GET", f"/pipeline_execution/{execution_id}", None, (200,))
            if cycle_measured and state.measuring:
                state.cycles += 1
        except RequestFailed:
            await asyncio.sleep(0.01)  # do not spin on a failing server
        finally:
            if counts_for_setup:
                state.setup_left -= 1
                if state.setup_left == 0:
                    state.setup_done.set()


async def run(args) -> dict:
    parts = urlsplit(args.url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {parts.hostname!r}: only 127.0.0.1/localhost are allowed")
    client_cls = RawClient if args.client == "raw" else AiohttpClient
    state = State(args.pipelines)
    probe = sampler = None
    if args.detection_db_url:
        probe = DetectionProbe(args.detection_db_url)
        await probe.open()  # before any load: a wrong URL fails at once
        sampler = PendingSampler(probe, args.detection_interval)
        state.ends = []
    try:
        result = await _run(args, state, client_cls, probe, sampler)
    finally:
        if probe is not None:
            await probe.close()
    return result


async def _run(args, state: State, client_cls, probe: DetectionProbe | None, sampler: PendingSampler | None) -> dict:
    clients = [client_cls(args.url, args.timeout) for _ in range(args.clients)]
    sampler_task = None
    detection = None
    # open the connections one after another: a burst of 50 connects tends to be accepted
    # entirely by one uvicorn worker when --workers > 1
    for c in clients:
        await c.open()
        if args.connect_gap_ms > 0:
            await asyncio.sleep(args.connect_gap_ms / 1000)
    tasks = [asyncio.create_task(client_loop(i, c, state, args.pipelines, args.seed)) for i, c in enumerate(clients)]
    if sampler is not None:
        sampler_task = asyncio.create_task(sampler.run())
    started = time.monotonic()
    try:
        # warm-up: at least --warmup seconds and until every pipeline has been created once
        warmup_seconds, cpu0, cpu1, t1 = await measured_window(
            state, started, args.warmup, args.max_warmup, args.duration, "create all pipelines"
        )
        # let in-flight requests finish (their latency is already being recorded), bounded
        done, pending = await asyncio.wait(tasks, timeout=args.timeout + 1)
        for t in pending:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for t in tasks:
            t.cancel()
        if sampler_task is not None:
            sampler_task.cancel()
            await asyncio.gather(sampler_task, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    if sampler is not None:
        # the load has stopped: how long until the backlog is gone, and when was each window end checked
        pending_at_stop, drain_s = await drain(probe, sampler, args.detection_drain)
        ids = [i for i, _ in state.ends]
        checked = await probe.checked(min(ids), max(ids)) if ids else {}
        detection = (pending_at_stop, drain_s, checked)

    # requests started in the window, divided by the time until the last of them finished
    elapsed = max(t1, state.last_end) - state.t0
    total = sum(len(v) for v in state.lat.values())
    endpoints = {}
    for ep in ENDPOINTS:
        values = sorted(state.lat[ep])
        endpoints[ep] = {
            "count": len(values),
            "req_per_s": round(len(values) / elapsed, 1),
            "mean_ms": round(1000 * sum(values) / len(values), 2) if values else None,
            "p50_ms": _pct(values, 50),
            "p95_ms": _pct(values, 95),
            "p99_ms": _pct(values, 99),
            "max_ms": round(1000 * values[-1], 2) if values else None,
            "errors": state.errors_by_endpoint[ep],
        }
    all_values = sorted(v for vs in state.lat.values() for v in vs)
    result = {
        "date": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {
            "url": args.url,
            "client": args.client,
            "clients": args.clients,
            "pipelines": args.pipelines,
            "duration_s": args.duration,
            "warmup_s": round(warmup_seconds, 2),
            "label": args.label,
        },
        "elapsed_s": round(elapsed, 3),
        "requests": total,
        "req_per_s": round(total / elapsed, 1),
        "cycles": state.cycles,
        "cycles_per_s": round(state.cycles / elapsed, 1),
        "errors": state.errors,
        "warmup_requests": state.warmup_requests,
        "warmup_errors": state.warmup_errors,
        "error_samples": state.error_samples,
        "status_counts": state.status_counts,
        "all": {"p50_ms": _pct(all_values, 50), "p95_ms": _pct(all_values, 95), "p99_ms": _pct(all_values, 99)},
        "endpoints": endpoints,
        "timeline": [
            {"second": s, "requests": state.timeline_count[s], "max_ms": round(1000 * state.timeline_max[s], 1)}
            for s in sorted(state.timeline_count)
        ],
        "cpu": cpu_split(cpu0, cpu1, args.server_pid),
    }
    if detection is not None:
        pending_at_stop, drain_s, checked = detection
        result["detection"] = detection_report(
            state.ends,
            checked,
            sampler,
            (state.t0, t1),
            elapsed,
            pending_at_stop,
            drain_s,
            args.detection_drain,
            args.detection_lag_limit,
        )
    return result


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return round(1000 * sorted_values[index], 2)


def report(result: dict) -> str:
    cfg = result["config"]
    lines = [
        f"Watcher core load  {result['date']}  {cfg['label'] or ''}".rstrip(),
        f"  {cfg['url']}  client={cfg['client']}  clients={cfg['clients']}  pipelines={cfg['pipelines']}"
        f"  warm-up={cfg['warmup_s']}s ({result['warmup_requests']} req, {result['warmup_errors']} errors)"
        f"  measured={result['elapsed_s']}s",
        "",
        f"  total: {result['req_per_s']:.1f} req/s   {result['cycles_per_s']:.1f} cycles/s   "
        f"{result['requests']} requests   errors={result['errors']}",
        f"  all requests: p50={result['all']['p50_ms']} ms  p95={result['all']['p95_ms']} ms  p99={result['all']['p99_ms']} ms",
        "",
        f"  {'endpoint':34} {'count':>7} {'req/s':>8} {'mean':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>8} {'err':>5}",
    ]
    for ep, s in result["endpoints"].items():

        def f(v):
            return "-" if v is None else f"{v:.1f}"

        lines.append(
            f"  {ep:34} {s['count']:>7} {s['req_per_s']:>8.1f} {f(s['mean_ms']):>7} {f(s['p50_ms']):>7}"
            f" {f(s['p95_ms']):>7} {f(s['p99_ms']):>7} {f(s['max_ms']):>8} {s['errors']:>5}"
        )
    lines.append("  (latencies in ms)")
    if result.get("timeline"):
        full = [t for t in result["timeline"] if t["second"] < int(result["config"]["duration_s"])] or result["timeline"]
        counts = [t["requests"] for t in full]
        maxes = [t["max_ms"] for t in full]
        lines.append(
            f"  per-second completions: min {min(counts)} / max {max(counts)};"
            f" slowest request per second: median {sorted(maxes)[len(maxes) // 2]:.0f} ms, worst {max(maxes):.0f} ms"
        )
    cpu = result["cpu"]
    lines += [
        "",
        f"  CPU over the measured window, in cores of {cpu['machine_cores']} (1.0 = one core fully busy):",
        f"    load generator {cpu['load_generator_cores']:.2f} (getrusage: user {cpu['load_generator_user_s']}s"
        f" + sys {cpu['load_generator_sys_s']}s)",
    ]
    if "server_processes_cores" in cpu:
        per = ", ".join(f"{pid}: {c:.2f}" for pid, c in sorted(cpu["server_processes_cores"].items()))
        lines.append(f"    server         {cpu['server_cores_proc']:.2f}  ({per})")
    lines += [
        f"    postgres       {cpu['postgres_cores_proc']:.2f}",
        f"    other          {cpu['other_cores_proc']:.2f}  "
        + ", ".join(f"{comm}: {c:.2f}" for comm, c in cpu.get("other_top", {}).items()),
        f"    unattributed   {cpu['unattributed_cores']:.2f}  (exited processes, e.g. short-lived postgres backends; irq)",
        f"    machine busy   {cpu['machine_busy_cores']:.2f}",
    ]
    if "detection" in result:
        lines += ["", *detection_lines(result["detection"])]
    if result["error_samples"]:
        lines += ["", "  first errors:"] + [f"    {e}" for e in result["error_samples"]]
    return "\n".join(lines)


def detection_lines(d: dict) -> list[str]:
    def s(v):
        return "-" if v is None else f"{v:.2f} s"

    pending, lag, approx = d["pending"], d["lag_s"], d["lag_from_start_date_s"]
    query = pending["sample_query_ms"] or {}
    lines = [
        "  anomaly detection (pending = completed_successfully AND anomaly_checked_at IS NULL, read from the database):",
        f"    successful ends sent in the window: {d['ends']} ({d['ends_per_s']:.1f}/s)",
        f"    pending, sampled every {pending['interval_s']:g} s of the window: max {pending['max']}"
        + (f" (= {pending['max_in_seconds_of_ends']:.1f} s of ends)" if pending["max_in_seconds_of_ends"] is not None else "")
        + f", p50 {pending['p50']}, last {pending['last']}"
        + (f"   [probe query p50 {query.get('p50')} ms, max {query.get('max')} ms]" if query else ""),
    ]
    if pending["drained"]:
        lines.append(f"    after the load: {pending['at_load_stop']} pending when it stopped, 0 after {pending['drain_s']:.1f} s")
    else:
        left = next((x["pending"] for x in reversed(d["timeline"]) if x["pending"] is not None), None)
        lines.append(
            f"    after the load: {pending['at_load_stop']} pending when it stopped; NOT drained within"
            f" {pending['drain_timeout_s']:g} s ({left} still pending)"
        )
    lines += [
        f"    lag, end sent -> anomaly_checked_at, over the {lag['checked']} window ends checked: p50 {s(lag['p50'])}"
        f"  p95 {s(lag['p95'])}  p99 {s(lag['p99'])}  max {s(lag['max'])}",
        f"    over {lag['limit_s']:g} s: {lag['over_limit']};  never checked (by the end of the drain wait): {lag['never_checked']}"
        + (f";  not found: {lag['not_found']}" if lag["not_found"] else ""),
        f"    (anomaly_checked_at is the server's clock when the detection job started, a little before it commits;"
        f" from start_date instead, as ~ the end's send time: p50 {s(approx['p50'])}  p99 {s(approx['p99'])}"
        f"  max {s(approx['max'])})",
    ]
    targets = d["targets"]
    lines.append(
        f"    targets: every window end checked within {lag['limit_s']:g} s {'✔' if targets['all_checked_within_limit'] else '✘'};"
        f"  pending max <= ~1 s of ends {'✔' if targets['pending_max_within_1s_of_ends'] else '✘'}"
    )
    if pending["errors"]:
        lines.append(f"    probe errors: {'; '.join(pending['errors'])}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8099", help="server base URL (loopback only)")
    p.add_argument("--clients", type=int, default=50, help="concurrent clients/connections (default 50)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p.add_argument("--warmup", type=float, default=5.0, help="minimum warm-up seconds (default 5)")
    p.add_argument("--max-warmup", type=float, default=300.0, help="give up waiting for pipeline creation after this")
    p.add_argument("--pipelines", type=int, default=1000, help="number of pipelines (default 1000)")
    p.add_argument("--client", choices=("raw", "aiohttp"), default="raw", help="HTTP client (default raw)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--connect-gap-ms", type=float, default=20.0, help="pause between opening connections (default 20)")
    p.add_argument("--server-pid", type=int, default=None, help="server master pid, for the CPU split")
    p.add_argument("--label", default="", help="free text shown in the report and JSON")
    p.add_argument("--json", dest="json_out", default=None, help="also write the result as JSON here")
    p.add_argument("--no-uvloop", action="store_true")
    p.add_argument(
        "--detection-db-url",
        default=None,
        help="report the anomaly-detection backlog and lag, read from this database"
        " (postgresql://... or sqlite:///path; read-only, one connection)",
    )
    p.add_argument("--detection-interval", type=float, default=1.0, help="seconds between pending-count samples (default 1)")
    p.add_argument("--detection-drain", type=float, default=120.0, help="after the load, wait up to this long for 0 pending (default 120)")
    p.add_argument("--detection-lag-limit", type=float, default=5.0, help="count the ends checked later than this (default 5 s)")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.duration > 3600 or args.clients < 1 or args.clients > 1000:
        p.error("duration must be in (0, 3600] and clients in [1, 1000]")

    runner = loop_runner(args.no_uvloop)
    result = runner(run(args))
    result["config"]["event_loop"] = "asyncio" if runner is asyncio.run else "uvloop"
    print(report(result))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=2)
        print(f"\n  JSON written to {args.json_out}")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
