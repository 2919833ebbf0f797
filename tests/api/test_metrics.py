"""GET /metrics: HTTP counters by route template, and domain gauges read from the database."""

import datetime as dt
import os
import re

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, insert, select

from watcher_server import metrics
from watcher_server.alerts.tables import alert
from watcher_server.core.clock import CLOCK
from watcher_server.monitoring.tables import check_run

from ..helpers import create_pipeline, end, stale_pipeline, start

UTC = dt.UTC


async def scrape(client) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def series(samples, name, **labels) -> dict[tuple, float]:
    """The samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return {key: value for (sample, key), value in samples.items() if sample == name and wanted <= set(key)}


def value(samples, name, **labels) -> float:
    [(_, found)] = [(k, v) for (sample, k), v in samples.items() if sample == name and k == tuple(sorted(labels.items()))]
    return found


def delta(before, after, name, **labels) -> dict[tuple, float]:
    """Per series: how much it grew between two scrapes (series that did not change are left out)."""
    grown = {key: v - series(before, name).get(key, 0.0) for key, v in series(after, name, **labels).items()}
    return {key: d for key, d in grown.items() if d}


async def test_requests_are_counted_by_route_template_never_by_raw_path(client):
    first = await create_pipeline(client, "metrics a")
    second = await create_pipeline(client, "metrics b")
    before = await scrape(client)
    for pipeline_id in (first, second):
        assert (await client.get(f"/pipeline/{pipeline_id}")).status_code == 200
    assert (await client.get("/no/such/path/4711")).status_code == 404
    assert (await client.request("BREW", "/pipeline")).status_code == 405
    assert (await client.request("BREW2", "/pipeline")).status_code == 405
    after = await scrape(client)

    by_route = delta(before, after, "watcher_http_requests_total", route="/pipeline/{id}")
    assert by_route == {(("method", "GET"), ("route", "/pipeline/{id}"), ("status", "200")): 2}
    assert delta(before, after, "watcher_http_requests_total", route="unmatched") == {
        (("method", "GET"), ("route", "unmatched"), ("status", "404")): 1
    }
    # a made-up method is one label value, "other", not a new series (or cache entry) per method
    assert not [key for key in metrics._children if key[0] not in metrics.METHODS | {"other"}]
    assert delta(before, after, "watcher_http_requests_total", route="/pipeline", status="405") == {
        (("method", "other"), ("route", "/pipeline"), ("status", "405")): 2
    }
    # the scrape before this one was counted once it had answered
    assert delta(before, after, "watcher_http_requests_total", route="/metrics") == {
        (("method", "GET"), ("route", "/metrics"), ("status", "200")): 1
    }
    routes = {dict(key)["route"] for (name, key) in after if name.startswith("watcher_http_")}
    assert "/pipeline/{id}" in routes
    assert not [route for route in routes if re.search(r"/\d+|4711", route)]

    labels = {"method": "GET", "route": "/pipeline/{id}"}
    count = delta(before, after, "watcher_http_request_duration_seconds_count", **labels)
    assert list(count.values()) == [2]
    buckets = series(after, "watcher_http_request_duration_seconds_bucket", **labels)
    bounds = sorted(float(dict(key)["le"]) for key in buckets)
    assert bounds[0] <= 0.005 and 10.0 in bounds and bounds[-1] == float("inf")
    assert buckets[tuple(sorted({**labels, "le": "+Inf"}.items()))] == value(after, "watcher_http_request_duration_seconds_count", **labels)
    assert delta(before, after, "watcher_http_request_duration_seconds_sum", **labels)  # time was added


async def _gauges(client) -> dict[str, object]:
    samples = await scrape(client)
    return {
        "pipelines": {dict(k)["active"]: v for k, v in series(samples, "watcher_pipelines").items()},
        "running": value(samples, "watcher_executions_running"),
        "incidents": {dict(k)["kind"]: v for k, v in series(samples, "watcher_open_incidents").items()},
        "undelivered": value(samples, "watcher_alerts_undelivered"),
        "jobs_pending": value(samples, "watcher_jobs_pending"),
        "last_run": {dict(k)["check"]: v for k, v in series(samples, "watcher_check_last_run_timestamp_seconds").items()},
        "last_duration": {dict(k)["check"]: v for k, v in series(samples, "watcher_check_last_run_duration_seconds").items()},
    }


async def _alert(db, kind, event, delivery_status):
    async with db.write() as conn:
        await conn.execute(
            insert(alert).values(
                kind=kind,
                event=event,
                level="warning",
                title="t",
                message="m",
                created_at=dt.datetime.now(UTC),
                delivery_status=delivery_status,
            )
        )


async def test_domain_gauges_are_what_the_database_holds(app, client, db):
    empty = await _gauges(client)
    assert empty["pipelines"] == {"true": 0, "false": 0}
    assert (empty["running"], empty["undelivered"], empty["jobs_pending"]) == (0, 0, 0)
    assert empty["incidents"] == {"freshness": 0, "timeliness": 0, "queue": 0}

    # pipelines: 4 active (one of them stale, one slow), 2 made inactive
    for name in ("g1", "g2", "g3", "g4"):
        await create_pipeline(client, name)
    for name in ("g3", "g4"):
        assert (await client.patch("/pipeline", json={"name": name, "active": False})).status_code == 200
    await stale_pipeline(client, "stale")
    slow = await create_pipeline(client, "slow", timeliness_number=1, timeliness_datepart="hour")
    # executions: 3 running (one of them overdue), 1 ended (+ the stale pipeline's ended one)
    ids = [await start(client, 1, start_date="2025-03-01T08:00:00Z") for _ in range(3)]
    await end(client, ids[0], end_date="2025-03-01T09:00:00Z")
    await start(client, slow, start_date="2025-03-01T06:00:00Z")
    # incidents: freshness and timeliness checks open one each
    CLOCK.freeze(dt.datetime(2025, 3, 1, 10, 0, tzinfo=UTC))
    freshness = await client.post("/freshness", params={"wait": "true"})
    assert freshness.status_code == 200 and len(freshness.json()["failing"]) == 1
    timeliness = await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 60})
    assert timeliness.status_code == 200 and len(timeliness.json()["overdue"]) == 1
    # alerts: 3 undelivered (2 pending, 1 retrying), the others sent or failed; an open queue incident
    for status in ("pending", "pending", "retrying", "sent", "failed"):
        await _alert(db, "anomaly", "anomaly", status)
    await _alert(db, "queue", "opened", "sent")
    # check runs: one finished with a duration, one that never finished
    finished = dt.datetime(2025, 3, 1, 10, 0, 3, tzinfo=UTC)
    async with db.write() as conn:
        await conn.execute(delete(check_run).where(check_run.c.check_name.in_(("timeliness", "cleanup"))))
        await conn.execute(
            insert(check_run).values(check_name="timeliness", last_run_at=finished, finished_at=finished, duration_seconds=2.5)
        )
        await conn.execute(insert(check_run).values(check_name="cleanup"))
        freshness_row = (await conn.execute(select(check_run).where(check_run.c.check_name == "freshness"))).one()

    gauges = await _gauges(client)
    assert gauges["pipelines"] == {"true": 4, "false": 2}
    assert gauges["running"] == 3
    assert gauges["incidents"] == {"freshness": 1, "timeliness": 1, "queue": 1}
    assert gauges["undelivered"] == 3
    status = (await client.get("/jobs/status")).json()
    assert gauges["jobs_pending"] == status["total_pending"] >= 3  # undelivered alerts are pending deliveries
    expected_runs = {"timeliness": finished.timestamp()}
    expected_durations = {"timeliness": 2.5}
    if freshness_row.finished_at is not None:  # the freshness run records its own (values not controlled here)
        expected_runs["freshness"] = freshness_row.finished_at.timestamp()
    if freshness_row.duration_seconds is not None:
        expected_durations["freshness"] = freshness_row.duration_seconds
    assert gauges["last_run"] == expected_runs  # nothing for "cleanup": its row has no values yet
    assert gauges["last_duration"] == expected_durations

    # recoveries are seen by the next scrape: not cached, read at scrape time
    await _alert(db, "queue", "recovered", "sent")
    async with db.write() as conn:
        await conn.execute(alert.update().where(alert.c.delivery_status == "retrying").values(delivery_status="sent"))
    await end(client, ids[1], end_date="2025-03-01T10:00:00Z")
    again = await _gauges(client)
    assert (again["running"], again["undelivered"], again["incidents"]["queue"]) == (2, 2, 0)


def test_multiprocess_directory_is_emptied_of_stale_values_and_exported(tmp_path, monkeypatch):
    import signal

    from watcher_server.metrics import prepare_multiprocess_directory

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # a temporary directory is removed at exit, SIGTERM included (a handler): keep pytest's own
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    for stale in ("counter_123.db", "histogram_123.db", "gauge_livesum_77.db"):
        (directory / stale).write_bytes(b"old")
    (directory / "notes.txt").write_text("kept")
    assert prepare_multiprocess_directory(str(directory)) == str(directory)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)  # what uvicorn's workers inherit
    assert sorted(p.name for p in directory.iterdir()) == ["notes.txt"]

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "operator"))  # the operator's choice, created
    assert prepare_multiprocess_directory(None) == str(tmp_path / "operator") and (tmp_path / "operator").is_dir()

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    fresh = prepare_multiprocess_directory(None)
    assert os.path.isdir(fresh) and not os.listdir(fresh) and os.environ["PROMETHEUS_MULTIPROC_DIR"] == fresh
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert fresh != prepare_multiprocess_directory(None)  # each server start gets its own


def test_a_directory_holding_other_databases_is_refused_untouched(tmp_path, monkeypatch):
    import pytest

    from watcher_server.metrics import prepare_multiprocess_directory

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    (tmp_path / "watcher.db").write_bytes(b"SQLite format 3")
    (tmp_path / "counter_1.db").write_bytes(b"old")
    with pytest.raises(RuntimeError, match="watcher.db"):
        prepare_multiprocess_directory(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_1.db", "watcher.db"]
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


async def test_metrics_need_a_token_when_tokens_are_configured(settings):
    import httpx
    from asgi_lifespan import LifespanManager

    from watcher_server.app import create_app

    app = create_app(settings.model_copy(update={"api_tokens": "writer-token", "api_read_tokens": "reader-token"}))
    async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://watcher.test") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": "Bearer nope"})).status_code == 401
        response = await http.get("/metrics", headers={"Authorization": "Bearer reader-token"})
        assert response.status_code == 200 and "watcher_pipelines{" in response.text
