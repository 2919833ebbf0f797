"""Prometheus metrics: GET /metrics.

Two kinds of metrics, collected differently:

* HTTP metrics (`watcher_http_requests_total`, `watcher_http_request_duration_seconds`) are counted in
  each process by `observe_request()`, which the outermost ASGI layer (request_observer.py) calls once
  per request with the route *template* (never the raw path). With `watcher serve --workers N` each
  worker is a separate process, so they use prometheus_client's multiprocess mode: every worker writes
  its values to memory-mapped files in PROMETHEUS_MULTIPROC_DIR, and a scrape, whichever worker answers
  it, sums the files of all workers (MultiProcessCollector, into a fresh registry per scrape).
  Without PROMETHEUS_MULTIPROC_DIR (one process, or the tests) the values live in this process's memory.
  prometheus_client picks the mode when it is first imported, from the environment; `watcher serve`
  sets the variable (prepare_multiprocess_directory) before uvicorn spawns its workers. (With
  `--workers 1` uvicorn serves from the `watcher serve` process itself, which imported prometheus_client
  before setting the variable: in-process mode, which is right for one process.)

  Worker processes that exit: prometheus_client's `mark_process_dead(pid)` only matters for gauges in a
  `live*` multiprocess mode, and there are none here (the gauges below come from the database). The
  files of an exited worker stay and keep counting in the totals, which is what counters need (a
  restarted worker must not make totals go backwards). uvicorn gives no hook at worker exit anyway.
  The files are removed at the next `watcher serve` start.

* Domain gauges are read from the database at scrape time (not per process), by a handful of
  indexed queries: pipelines, running executions, open incidents, undelivered alerts, pending jobs,
  and when each background check last finished.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import signal
import tempfile

from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, not_, select, text

from .alerts.tables import alert
from .alerts.vocabulary import UNDELIVERED_SQL
from .executions.tables import pipeline_execution
from .http import ServicesDep, api_router
from .jobs.queue_health import pending
from .jobs.registry import SHOWN_IN_STATUS
from .monitoring.tables import check_run, freshness_pipeline_log, timeliness_pipeline_execution_log
from .pipelines.tables import pipeline
from .services import Services

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Median request ~5 ms: resolution around it, up to 10 s (longer requests land in +Inf).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Methods are a label: anything but the standard ones is "other", so clients cannot create series at will.
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"))

# The mode prometheus_client chose when it was imported (it reads the environment once, then).
MULTIPROCESS = getattr(_values.ValueClass, "_multiprocess", False)

# In-process mode exposes this registry; in multiprocess mode values go to the files, whatever registry
# the metric is in. Our own registry rather than the global one: nothing else ends up on /metrics.
_REGISTRY = CollectorRegistry()

REQUESTS = Counter(
    "watcher_http_requests", "HTTP requests answered, by method, route template and status.",
    ("method", "route", "status"), registry=_REGISTRY,
)  # fmt: skip
DURATION = Histogram(
    "watcher_http_request_duration_seconds", "HTTP request duration in seconds, by method and route template.",
    ("method", "route"), buckets=DURATION_BUCKETS, registry=_REGISTRY,
)  # fmt: skip

# (method, route, status) -> (counter child, histogram child): `.labels()` resolves and locks on every
# call; a dict lookup is all the hot path pays once a combination has been seen. Bounded: methods are
# normalised, routes are templates, statuses are three digits.
_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one finished HTTP request (route = the route template, never a raw path)."""
    if method not in METHODS:
        method = "other"
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = _children[key] = (REQUESTS.labels(method, route, str(status)), DURATION.labels(method, route))
    children[0].inc()
    children[1].observe(seconds)


# --- multiprocess directory -------------------------------------------------------------------------

# What prometheus_client writes: counter_<pid>.db, histogram_<pid>.db, gauge_<mode>_<pid>.db, ...
_VALUE_FILE = re.compile(r"^(counter|histogram|summary|gauge_[a-z]+)_\d+\.db$")


def prepare_multiprocess_directory(path: str | None) -> str:
    """Make the directory worker processes write their HTTP metrics to, before uvicorn starts them.

    `path` (the operator's PROMETHEUS_MULTIPROC_DIR), else the variable itself, else a fresh temporary
    directory that is removed when this process exits. Values left by a previous run are deleted, so
    counters start from zero with the server. The variable is set in this process's environment, which
    uvicorn's spawned workers inherit."""
    path = path or os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        # MultiProcessCollector reads every *.db file there: refuse a directory that holds other ones
        # (a SQLite database, say) rather than delete or misread them.
        foreign = [name for name in os.listdir(path) if name.endswith(".db") and not _VALUE_FILE.match(name)]
        if foreign:
            raise RuntimeError(f"{MULTIPROC_ENV}={path} holds files that are not Prometheus values: {', '.join(sorted(foreign)[:5])}")
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = tempfile.mkdtemp(prefix="watcher-metrics-")
        _remove_on_exit(path)
    os.environ[MULTIPROC_ENV] = path
    return path


_temporary_directories: list[str] = []


def _remove_temporary_directories() -> None:
    while _temporary_directories:
        shutil.rmtree(_temporary_directories.pop(), ignore_errors=True)


def _remove_on_exit(path: str) -> None:
    """Remove `path` when this process exits, normally or by SIGTERM. A single uvicorn process re-raises
    SIGTERM after its graceful shutdown with the handler that was there before it started; under the
    default one the process ends without running atexit, so that handler must be ours: it removes the
    directories, then lets SIGTERM end the process as it would have."""
    if not _temporary_directories:
        atexit.register(_remove_temporary_directories)
        try:
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, _remove_then_terminate)
        except ValueError:  # not the main thread: atexit only
            pass
    _temporary_directories.append(path)


def _remove_then_terminate(signum, _frame) -> None:
    _remove_temporary_directories()
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


# --- database gauges ---------------------------------------------------------------------------------


def _count(table, *where):
    return select(func.count()).select_from(table).where(*where).scalar_subquery()


# One statement, one round trip, each part answered from an index (plans in bench/metrics_scrape.py's
# output). Predicates of partial indexes are literal SQL, identical to the index's own, so PostgreSQL can
# prove the index applies (it cannot for bound parameters in a generic plan).
_SNAPSHOT = select(
    _count(pipeline, pipeline.c.active).label("active_pipelines"),  # ix_pipeline_active
    _count(pipeline, not_(pipeline.c.active)).label("inactive_pipelines"),
    # ix_pipeline_execution_end_date holds the NULLs too: an index-only scan of the running ones
    _count(pipeline_execution, pipeline_execution.c.end_date.is_(None)).label("running"),
    _count(freshness_pipeline_log, text("resolved_at IS NULL")).label("freshness"),
    _count(timeliness_pipeline_execution_log, text("resolved_at IS NULL")).label("timeliness"),
    _count(alert, text(UNDELIVERED_SQL)).label("undelivered"),  # ix_alert_undelivered
    # The queue incident is open while the last queue alert is "opened" (jobs/queue_health.py);
    # ix_alert_kind_id (migration 0006) makes that one index entry instead of a walk through the alert history.
    select(alert.c.event).where(alert.c.kind == "queue").order_by(alert.c.id.desc()).limit(1).scalar_subquery().label("queue_event"),
)
_CHECK_RUNS = select(check_run.c.check_name, check_run.c.finished_at, check_run.c.duration_seconds).order_by(check_run.c.check_name)


async def database_gauges(s: Services) -> list:
    """The domain gauges, read from the database now."""
    async with s.db.read() as conn:
        row = (await conn.execute(_SNAPSHOT)).one()
        checks = (await conn.execute(_CHECK_RUNS)).all()
    work = await pending(s, SHOWN_IN_STATUS)  # what GET /jobs/status reports as total_pending

    pipelines = GaugeMetricFamily("watcher_pipelines", "Pipelines, by active flag.", labels=("active",))
    pipelines.add_metric(("true",), row.active_pipelines)
    pipelines.add_metric(("false",), row.inactive_pipelines)
    incidents = GaugeMetricFamily(
        "watcher_open_incidents", "Open incidents, by kind (queue: 1 while the queue alert is open).", labels=("kind",)
    )
    incidents.add_metric(("freshness",), row.freshness)
    incidents.add_metric(("timeliness",), row.timeliness)
    incidents.add_metric(("queue",), 1 if row.queue_event == "opened" else 0)
    last_run = GaugeMetricFamily(
        "watcher_check_last_run_timestamp_seconds", "When each background check last finished (Unix time).", labels=("check",)
    )
    duration = GaugeMetricFamily(
        "watcher_check_last_run_duration_seconds", "How long each background check's last run took.", labels=("check",)
    )
    for check in checks:  # rows of checks that never finished have NULLs: nothing to export for them
        if check.finished_at is not None:
            last_run.add_metric((check.check_name,), check.finished_at.timestamp())
        if check.duration_seconds is not None:
            duration.add_metric((check.check_name,), check.duration_seconds)
    return [
        pipelines,
        GaugeMetricFamily("watcher_executions_running", "Executions that have not ended (no end_date).", value=row.running),
        incidents,
        GaugeMetricFamily("watcher_alerts_undelivered", "Alerts waiting for delivery (pending or retrying).", value=row.undelivered),
        GaugeMetricFamily("watcher_jobs_pending", "Pending background work (total_pending of GET /jobs/status).", value=work.total),
        last_run,
        duration,
    ]


class _Collected:
    """A collector that yields metrics gathered beforehand (the database is read asynchronously)."""

    def __init__(self, metrics):
        self._metrics = metrics

    def collect(self):
        return self._metrics


async def render(s: Services) -> bytes:
    """The exposition text: this deployment's HTTP metrics plus the database gauges."""
    gauges = await database_gauges(s)
    registry = CollectorRegistry()
    if MULTIPROCESS:
        MultiProcessCollector(registry)  # every worker's files in PROMETHEUS_MULTIPROC_DIR, summed
    else:
        registry.register(_Collected(list(_REGISTRY.collect())))
    registry.register(_Collected(gauges))
    return generate_latest(registry)


router = api_router(tags=["health"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(s: ServicesDep) -> Response:
    """Prometheus metrics (text exposition format): HTTP requests of every worker process, and gauges
    read from the database at scrape time."""
    return Response(await render(s), media_type=CONTENT_TYPE_LATEST)
