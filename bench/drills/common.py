"""What every drill needs: a `watcher serve` it owns, throwaway databases, a recorded load, summaries, results.

Nothing here touches processes or databases it did not create: servers run in their own process group
(signals go to that group's id), databases carry a `watcher_drill_` name and are dropped on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import core_load  # noqa: E402  (bench/core_load.py: its keep-alive HTTP/1.1 client)

PG_ADMIN_URL = os.environ.get("WATCHER_DRILL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
UTC = dt.UTC


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- databases


def pg_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


class DrillDatabase:
    """A fresh `watcher_drill_<label>_<pid>` database: `await create()`, and `await drop()` in a finally."""

    def __init__(self, label: str, admin_url: str = PG_ADMIN_URL):
        self.admin_url = admin_url
        self.name = f"watcher_drill_{label}_{os.getpid()}"
        self.created = False

    async def create(self) -> str:
        admin = await asyncpg.connect(self.admin_url, timeout=10)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)", timeout=DDL_TIMEOUT)
            self.created = True
            await admin.execute(f"CREATE DATABASE {self.name}", timeout=DDL_TIMEOUT)
        finally:
            await admin.close()
        return pg_url(self.admin_url, self.name)

    async def drop(self) -> None:
        if self.created:
            await drop_database(self.admin_url, self.name)


# CREATE/DROP DATABASE wait for every backend of the cluster to acknowledge a barrier: one SIGSTOPped
# backend anywhere on the cluster (someone else's freeze test) makes them wait for ever.
DDL_TIMEOUT = 60


async def drop_database(admin_url: str, name: str) -> bool:
    for attempt in range(3):
        try:
            admin = await asyncpg.connect(admin_url, timeout=10)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", timeout=DDL_TIMEOUT)
            finally:
                await admin.close()
            return True
        except Exception as exc:  # the cluster may be restarting, or a frozen backend holds the barrier
            log(f"dropping {name} failed ({type(exc).__name__}: {exc})" + ("; retrying" if attempt < 2 else ""))
            await asyncio.sleep(2)
    log(
        f"LEFT BEHIND: database {name} could not be dropped (no session of ours remains on it). Drop it with "
        f"psql {admin_url} -c 'DROP DATABASE IF EXISTS {name} WITH (FORCE)'"
    )
    return False


# --------------------------------------------------------------------------- the server


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            if int(raw[raw.rfind(")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return sorted(out)


def _process_group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    raw = f.read()
            except OSError:
                continue
            fields = raw[raw.rfind(")") + 2 :].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                out.append(int(entry))
    return sorted(out)


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    """`watcher serve --workers N` in its own session (process group), so every signal names its group."""

    def __init__(self, database_url: str, log_path: Path, *, port: int | None = None, workers: int = 2, **settings):
        self.database_url = database_url
        self.log_path = log_path
        self.port = port or free_port()
        self.workers = workers
        self.settings = settings
        self.process: subprocess.Popen | None = None
        self.pgids: list[int] = []  # every group we started (one per start)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.prometheus_dir = log_path.parent / f"prometheus-{self.port}"

    def env(self) -> dict[str, str]:
        self.prometheus_dir.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "WATCHER_DATABASE_URL": self.database_url,
            "PROMETHEUS_MULTIPROC_DIR": str(self.prometheus_dir),
            **{f"WATCHER_{k.upper()}": str(v) for k, v in self.settings.items()},
        }

    def start(self, ready_timeout: float = 60) -> Server:
        log_file = open(self.log_path, "a")  # noqa: SIM115 (the child keeps it)
        log_file.write(f"\n===== start {time.strftime('%H:%M:%S')} =====\n")
        log_file.flush()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watcher_server.cli",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
            ],
            env=self.env(),
            cwd=self.log_path.parent,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self.pgids.append(self.process.pid)
        self.wait_ready(ready_timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"watcher serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/ready", timeout=2).status_code == 200 and len(self.worker_pids()) >= self.workers:
                    time.sleep(0.5)  # every worker accepting
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"watcher serve not ready within {timeout:.0f} s; see {self.log_path}")

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the master; multiprocessing's helpers excluded)."""
        pids = []
        for pid in _children(self.master_pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmdline:
                pids.append(pid)
        return pids

    def busiest_worker(self) -> int | None:
        """The worker holding the most client connections to the server's port (from /proc/net/tcp)."""
        inodes = set()
        for table_path in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table_path) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == self.port and fields[3] == "01":  # ESTABLISHED
                        inodes.add(fields[9])

        def connections(pid: int) -> int:
            count = 0
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        count += target.startswith("socket:[") and target[8:-1] in inodes
            return count

        workers = self.worker_pids()
        return max(workers, key=connections) if workers else None

    def kill9(self, pids: list[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def kill9_group(self) -> list[int]:
        """SIGKILL to the server's whole process group: master, workers and helpers at once (a crash)."""
        members = _process_group_members(self.master_pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.master_pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _process_group_members(self.master_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        return members

    def kill9_pgid(self, pgid: int) -> None:
        if pgid in self.pgids and _process_group_members(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _process_group_members(pgid) and time.monotonic() < deadline:
                time.sleep(0.1)

    def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL to every group this object started. Returns the exit status."""
        status = None
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.master_pid, signal.SIGTERM)
            try:
                status = self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                log("watcher serve did not stop within 40 s of SIGTERM; SIGKILL")
        elif self.process is not None:
            status = self.process.returncode
        for pgid in self.pgids:
            if _process_group_members(pgid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.wait(timeout=10)
        return status


# --------------------------------------------------------------------------- load


@dataclasses.dataclass(slots=True)
class Sample:
    started: float  # seconds since the load started
    seconds: float
    endpoint: str
    outcome: str  # "200", "503", ..., "timeout", "network"


def outcome_class(outcome: str) -> str:
    if outcome.isdigit():
        return "2xx" if outcome.startswith("2") else outcome
    return outcome


@dataclasses.dataclass
class Cycle:
    """One client's pass: sync the pipeline (new next_watermark), start, end, sometimes read."""

    pipeline_name: str
    watermark: str
    pipeline_id: int | None = None
    execution_id: int | None = None  # set once the start was acknowledged (201)
    parent_id: int | None = None
    end_sent: bool = False
    end_acked: bool = False
    succeeded: bool | None = None
    end_date: str | None = None


class Load:
    """Closed-loop clients running the core benchmark's cycle, recording every request.

    Each client owns its pipelines (`<prefix> c<client> p<k>`), so the cycles of one pipeline never
    overlap and its watermark must follow its last successful execution. Every `parent_every`-th cycle
    nests the start under the client's previous execution (with `chain`, every cycle but each chain-th:
    chains as deep as chain - 1); every `fail_every`-th end is a failure.
    """

    def __init__(
        self,
        base_url: str,
        *,
        clients: int,
        pipelines_per_client: int = 5,
        prefix: str = "drill",
        timeout: float = 30.0,
        fail_every: int = 0,
        parent_every: int = 4,
        read_every: int = 10,
        keep_cycles: bool = False,
        think_seconds: float = 0.0,
        chain: int = 0,
    ):
        self.base_url = base_url
        self.clients = clients
        self.pipelines_per_client = pipelines_per_client
        self.prefix = prefix
        self.timeout = timeout
        self.fail_every = fail_every
        self.parent_every = parent_every
        self.read_every = read_every
        self.keep_cycles = keep_cycles
        self.think_seconds = think_seconds
        self.chain = chain
        self.samples: list[Sample] = []
        self.cycles: list[Cycle] = []
        self.error_examples: dict[str, str] = {}
        self.t0 = 0.0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._watermarks = itertools.count(1)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def start(self) -> None:
        self.t0 = time.monotonic()
        self._tasks = [asyncio.create_task(self._client(i)) for i in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=self.timeout + 5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _call(self, client, endpoint: str, method: str, path: str, body) -> tuple[str, bytes]:
        started = self.now()
        try:
            status, data = await client.request(method, path, None if body is None else core_load.dumps(body))
            outcome = str(status)
        except core_load.RequestFailed as exc:
            outcome, data = ("timeout" if "timed out" in str(exc) else "network"), str(exc).encode()
        except OSError as exc:  # refused, reset
            outcome, data = "network", f"{type(exc).__name__}: {exc}".encode()
        self.samples.append(Sample(started, self.now() - started, endpoint, outcome))
        if not outcome.startswith("2"):
            key = f"{endpoint} {outcome}"
            if key not in self.error_examples:
                self.error_examples[key] = (
                    f"{method} {path} {core_load.dumps(body).decode() if body else ''} -> {data[:300].decode(errors='replace')}"
                )
        return outcome, data

    async def _client(self, index: int) -> None:
        client = core_load.RawClient(self.base_url, self.timeout)
        client.loop = asyncio.get_running_loop()
        # connections opened one after another: a burst of connects is often accepted by one worker only
        await asyncio.sleep(index * 0.02)
        cycle_number = 0
        previous_execution: int | None = None
        try:
            while not self._stop.is_set():
                cycle_number += 1
                cycle = Cycle(
                    pipeline_name=f"{self.prefix} c{index} p{cycle_number % self.pipelines_per_client}",
                    watermark=f"{next(self._watermarks):012d}",
                )
                if self.keep_cycles:
                    self.cycles.append(cycle)
                ok = await self._cycle(client, cycle, cycle_number, previous_execution)
                if cycle.execution_id is not None:
                    previous_execution = cycle.execution_id
                if not ok:
                    await asyncio.sleep(0.2)  # a failing server is not hammered
                elif self.think_seconds:
                    await asyncio.sleep(self.think_seconds)
        finally:
            await client.close()

    async def _cycle(self, client, cycle: Cycle, n: int, previous_execution: int | None) -> bool:
        outcome, data = await self._call(
            client,
            "POST /pipeline",
            "POST",
            "/pipeline",
            {"name": cycle.pipeline_name, "pipeline_type_name": f"{self.prefix} type", "next_watermark": cycle.watermark},
        )
        if outcome not in ("200", "201") or self._stop.is_set():
            return False
        cycle.pipeline_id = core_load.loads(data)["id"]
        start = dt.datetime.now(UTC)
        body = {"pipeline_id": cycle.pipeline_id, "start_date": _iso(start), "next_watermark": cycle.watermark}
        if self.chain:  # chains: every cycle but each chain-th nests under the previous one (depth up to chain - 1)
            nest = n % self.chain != 0
        else:
            nest = bool(self.parent_every) and n % self.parent_every == 0
        if nest and previous_execution is not None:
            body["parent_id"] = cycle.parent_id = previous_execution
        outcome, data = await self._call(client, "POST /start_pipeline_execution", "POST", "/start_pipeline_execution", body)
        if outcome != "201" or self._stop.is_set():
            return False
        cycle.execution_id = core_load.loads(data)["id"]
        succeeded = not (self.fail_every and n % self.fail_every == 0)
        cycle.end_date = _iso(start + dt.timedelta(seconds=1))
        cycle.succeeded = succeeded
        cycle.end_sent = True
        end = {"id": cycle.execution_id, "end_date": cycle.end_date, "completed_successfully": succeeded}
        if succeeded:
            end.update(total_rows=1000, inserts=800, updates=200, soft_deletes=0)
        outcome, _ = await self._call(client, "POST /end_pipeline_execution", "POST", "/end_pipeline_execution", end)
        if outcome != "200":
            return False
        cycle.end_acked = True
        if self.read_every and n % self.read_every == 0 and not self._stop.is_set():
            outcome, _ = await self._call(client, "GET /pipeline_execution/{id}", "GET", f"/pipeline_execution/{cycle.execution_id}", None)
            return outcome == "200"
        return True


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- summaries


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def summarize(samples: list[Sample], start: float = float("-inf"), end: float = float("inf"), *, in_flight: bool = False) -> dict:
    """Requests that *started* in [start, end) (with `in_flight`: that were in flight at some moment of it):
    count, outcomes, latency p50/p99/max (ms)."""
    if in_flight:
        chosen = [s for s in samples if s.started < end and s.started + s.seconds > start]
    else:
        chosen = [s for s in samples if start <= s.started < end]
    latencies = sorted(s.seconds for s in chosen)
    span = (
        min(end, max((s.started + s.seconds for s in chosen), default=0)) - max(start, min((s.started for s in chosen), default=0))
    ) or 1
    return {
        "requests": len(chosen),
        "req_per_s": round(len(chosen) / span, 1) if chosen else 0.0,
        "outcomes": dict(sorted(Counter(outcome_class(s.outcome) for s in chosen).items())),
        "p50_ms": _ms(percentile(latencies, 50)),
        "p99_ms": _ms(percentile(latencies, 99)),
        "max_ms": _ms(latencies[-1] if latencies else None),
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def outcomes_text(outcomes: dict[str, int]) -> str:
    return " ".join(f"{k}:{v}" for k, v in outcomes.items()) or "-"


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def checks_table(checks: list[Check]) -> str:
    return table([["PASS" if c.ok else "FAIL", c.name, c.detail] for c in checks], ["result", "check", "detail"])


def write_results(drill: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{drill}-{dt.datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    result = {
        "drill": drill,
        "date": dt.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git": _git_describe(),
        **result,
    }
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def _git_describe() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except Exception:
        return ""


def finish_work(work: Path, ok: bool) -> str:
    """Remove the drill's scratch directory (server logs) after a pass; keep it after a failure."""
    if ok:
        shutil.rmtree(work, ignore_errors=True)
        return ""
    return f"; server logs kept in {work}"


def work_dir(drill: str) -> Path:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"watcher-drill-{drill}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_main(coroutine_factory) -> int:
    """asyncio.run with SIGTERM turned into KeyboardInterrupt, so `finally:` blocks clean up."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return asyncio.run(coroutine_factory())
    except KeyboardInterrupt:
        log("interrupted")
        return 130


# --------------------------------------------------------------------------- webhook receiver


class Receiver:
    """A real HTTP receiver for alert webhooks (aiohttp, on loopback), switchable between behaviours:

    - "dead": nothing listens (connections are refused);
    - "hang": accepts and reads the request, never answers (the connection is dropped when the mode changes);
    - "error": answers 500;
    - "healthy": answers 200 and counts the alert (by `X-Watcher-Alert-Id`, else the body's `id`).
    """

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.mode = "dead"
        self.received: Counter = Counter()  # alert id -> deliveries answered 200
        self.attempts: Counter = Counter()  # mode -> requests seen
        self.bodies: dict[int, dict] = {}
        self._runner = None
        self._site = None
        self._mode_changed = asyncio.Event()

    async def set_mode(self, mode: str) -> None:
        from aiohttp import web

        assert mode in ("dead", "hang", "error", "healthy"), mode
        self.mode = mode
        self._mode_changed.set()
        self._mode_changed = asyncio.Event()
        if mode == "dead":
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = self._site = None
            return
        if self._runner is None:
            app = web.Application()
            app.router.add_post("/hook", self._handle)
            self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            await self._runner.setup()
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
            await self._site.start()

    async def _handle(self, request):
        from aiohttp import web

        body = await request.json()
        mode = self.mode
        self.attempts[mode] += 1
        if mode == "hang":
            try:  # until the mode changes, or until Watcher gives up (aiohttp then cancels this handler)
                await self._mode_changed.wait()
            finally:
                if request.transport is not None:
                    request.transport.close()  # no answer at all: the connection is dropped
            return web.Response(status=599)  # never written: the transport is closed
        if mode == "error":
            return web.json_response({"error": "drill"}, status=500)
        alert_id = int(request.headers.get("X-Watcher-Alert-Id") or body.get("id"))
        self.received[alert_id] += 1
        self.bodies[alert_id] = body
        return web.json_response({"ok": True})

    async def close(self) -> None:
        self._mode_changed.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
