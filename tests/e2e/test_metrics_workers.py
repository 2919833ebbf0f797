"""GET /metrics under `watcher serve --workers 2`: every worker's requests are counted, whichever worker
answers the scrape."""

import concurrent.futures
import glob
import os

import httpx
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from .conftest import serving, wait_for

ROUTE = "/pipeline/{id}"
BATCH = 200
MAX_REQUESTS = 2_000  # connections land on whichever worker accepts first; spread is likely, not certain


def _per_worker(directory: str, route: str) -> dict[str, float]:
    """{pid: GET `route` 200 count} read from each worker's own value file."""
    counts = {}
    for path in glob.glob(os.path.join(directory, "counter_*.db")):
        pid = os.path.basename(path)[len("counter_") : -len(".db")]
        for metric in MultiProcessCollector.merge([path]):
            for sample in metric.samples:
                if sample.name == "watcher_http_requests_total" and sample.labels == {"method": "GET", "route": route, "status": "200"}:
                    counts[pid] = sample.value
    return counts


def _scrape(base_url: str) -> dict[tuple, float]:
    response = httpx.get(f"{base_url}/metrics", timeout=10, headers={"Connection": "close"})  # a new connection each time
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests_total(samples) -> float:
    return samples.get(("watcher_http_requests_total", (("method", "GET"), ("route", ROUTE), ("status", "200"))), 0.0)


def _stale_value_file(directory: str) -> None:
    """A counter file as an earlier server run would have left it: must not count in this run."""
    labels = ("method", "route", "status")
    stale = MmapedDict(os.path.join(directory, "counter_999999.db"))
    key = mmap_key("watcher_http_requests", "watcher_http_requests_total", labels, ("GET", ROUTE, "200"), "stale")
    stale.write_value(key, 1_000.0, 0.0)
    stale.close()


def test_scrapes_count_every_workers_requests(database_url, tmp_path, monkeypatch):
    directory = tmp_path / "prometheus"
    directory.mkdir()
    _stale_value_file(str(directory))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))  # inherited by `watcher serve`
    with serving(database_url, tmp_path / "server") as base_url:
        assert not (directory / "counter_999999.db").exists()
        created = httpx.post(f"{base_url}/pipeline", json={"name": "counted", "pipeline_type_name": "t"}, timeout=10)
        assert created.status_code == 201, created.text
        url = f"{base_url}/pipeline/{created.json()['id']}"

        def get(_):  # one connection per request, eight at a time: both workers accept some
            return httpx.get(url, timeout=10, headers={"Connection": "close"}).status_code

        sent = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            while sent < MAX_REQUESTS:
                assert set(pool.map(get, range(BATCH))) == {200}
                sent += BATCH
                if len(_per_worker(str(directory), ROUTE)) == 2:
                    break
        # a worker counts a request just after answering it: give the last answers a moment
        wait_for(lambda: sum(_per_worker(str(directory), ROUTE).values()) == sent, 10)
        per_worker = _per_worker(str(directory), ROUTE)
        assert len(per_worker) == 2, f"one worker accepted all {sent} connections: {per_worker}"
        assert sum(per_worker.values()) == sent and min(per_worker.values()) > 0

        # scrape until both workers have answered at least once; every scrape reports the same totals
        totals = []
        for _ in range(40):
            samples = _scrape(base_url)
            totals.append(
                (_requests_total(samples), samples[("watcher_http_request_duration_seconds_count", (("method", "GET"), ("route", ROUTE)))])
            )
            if len(totals) >= 6 and len(_per_worker(str(directory), "/metrics")) == 2:
                break
        assert len(_per_worker(str(directory), "/metrics")) == 2, "one worker answered every scrape"
        assert set(totals) == {(sent, sent)}
