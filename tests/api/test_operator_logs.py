"""What an operator sees: a request id on every answer, one access line per request, a line per check run
and per alert delivery, and each check's last run stamped in check_run."""

import logging

import pytest
from sqlalchemy import select

from watcher_server.logs import RequestIdFilter, logging_config
from watcher_server.monitoring.tables import check_run

from ..helpers import create_pipeline, stale_pipeline
from ..webhook_receiver import WebhookReceiver


async def test_every_answer_carries_a_generated_request_id(client):
    first = await client.get("/health")
    second = await client.get("/nowhere")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(rid) == 16 for rid in ids) and ids[0] != ids[1]
    assert second.status_code == 404


async def test_the_clients_request_id_is_echoed(client):
    response = await client.post("/pipeline", json={"name": "p", "pipeline_type_name": "t"}, headers={"X-Request-ID": "airflow-run-42"})
    assert response.status_code == 201 and response.headers["x-request-id"] == "airflow-run-42"


@pytest.mark.parametrize("unsafe", ["a b", "x" * 129, 'quote"s', "new\tline"])
async def test_an_unprintable_or_overlong_request_id_is_replaced(client, unsafe):
    response = await client.get("/health", headers={"X-Request-ID": unsafe})
    assert response.headers["x-request-id"] != unsafe and len(response.headers["x-request-id"]) == 16


async def test_rejected_requests_also_carry_a_request_id(client):
    too_big = await client.post("/pipeline", content=b"{}", headers={"Content-Length": str(10**9)})
    assert too_big.status_code == 413 and too_big.headers["x-request-id"]


async def test_one_access_line_per_request_with_method_path_status_ms_and_id(client, caplog):
    caplog.set_level(logging.INFO, logger="watcher.access")
    pipeline_id = await create_pipeline(client, "orders")
    response = await client.get(f"/pipeline/{pipeline_id}", params={"x": 1}, headers={"X-Request-ID": "trace-1"})
    lines = [r for r in caplog.records if r.name == "watcher.access"]
    assert len(lines) == 2
    record = lines[1]
    assert (record.method, record.path, record.status) == ("GET", f"/pipeline/{pipeline_id}?x=1", response.status_code)
    assert record.duration_ms >= 0 and record.request_id == "trace-1"
    assert record.getMessage().startswith(f"GET /pipeline/{pipeline_id}?x=1 200 ") and record.getMessage().endswith("ms id=trace-1")


async def test_records_logged_while_handling_a_request_carry_its_id(client, caplog):
    seen = []

    class Capture(logging.Handler):
        def emit(self, record):
            seen.append(record)

    handler = Capture()
    handler.addFilter(RequestIdFilter())
    logging.getLogger("watcher.access").addHandler(handler)
    try:
        caplog.set_level(logging.INFO, logger="watcher.access")
        await client.get("/health", headers={"X-Request-ID": "abc-1"})
    finally:
        logging.getLogger("watcher.access").removeHandler(handler)
    assert [r.request_id for r in seen] == ["abc-1"]


async def test_a_check_run_is_logged_with_counts_and_stamped_in_check_run(client, db, caplog):
    caplog.set_level(logging.INFO, logger="watcher.checks")
    await stale_pipeline(client, "late")
    result = (await client.post("/freshness", params={"wait": "true"})).json()
    assert result["status"] == "warning"
    lines = [r for r in caplog.records if r.name == "watcher.checks"]
    assert len(lines) == 1
    line = lines[0]
    assert line.check == "freshness" and line.pipelines_evaluated == 1 and line.failing == 1 and line.alerts_created == 1
    assert "check freshness finished in" in line.getMessage() and "failing=1" in line.getMessage()
    async with db.read() as conn:
        row = (await conn.execute(select(check_run).where(check_run.c.check_name == "freshness"))).one()
    assert row.finished_at is not None and row.duration_seconds == pytest.approx(line.duration_ms / 1000, abs=0.002)


async def test_timeliness_runs_are_stamped_under_their_own_name(client, db):
    await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 60})
    await client.post("/timeliness", params={"wait": "true"}, json={"lookback_minutes": 60})
    async with db.read() as conn:
        rows = (await conn.execute(select(check_run.c.check_name).where(check_run.c.finished_at.is_not(None)))).scalars().all()
    assert rows == ["timeliness"]


async def test_cleanup_is_stamped_and_logged(client, db, caplog):
    caplog.set_level(logging.INFO, logger="watcher.checks")
    response = await client.post("/log_cleanup", json={"retention_days": 90})
    assert response.status_code == 200
    assert [r.check for r in caplog.records if r.name == "watcher.checks"] == ["cleanup"]
    async with db.read() as conn:
        stamped = (await conn.execute(select(check_run.c.duration_seconds).where(check_run.c.check_name == "cleanup"))).scalar_one()
    assert stamped is not None


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def settings(database_url, receiver):
    from watcher_server.settings import Settings

    return Settings(database_url=database_url, scheduler_enabled=False, alert_webhook_url=f"{receiver.url}/hook")


async def test_each_alert_delivery_is_logged_with_its_outcome(services, client, receiver, caplog):
    caplog.set_level(logging.INFO, logger="watcher.alerts")
    receiver.fail_next = 1
    await stale_pipeline(client, "late")
    await client.post("/freshness", params={"wait": "true"})  # also queues a delivery: whichever runs first fails
    await services.jobs.run_now("deliver_alert")
    failed = [r for r in caplog.records if r.name == "watcher.alerts"]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING and "attempt 1 failed" in failed[0].getMessage()
    assert failed[0].alert_id == 1 and failed[0].duration_ms >= 0 and "HTTP 500" in failed[0].getMessage()


def test_json_log_format_writes_one_object_per_record(capsys):
    import json
    import logging.config

    logging.config.dictConfig(logging_config("info", "json"))
    try:
        logging.getLogger("watcher.access").info("GET / 200 1.0ms id=x", extra={"status": 200, "path": "/"})
        record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "root": {"handlers": [], "level": "WARNING"}})
    assert record["logger"] == "watcher.access" and record["level"] == "INFO" and record["status"] == 200 and record["path"] == "/"
    assert record["message"] == "GET / 200 1.0ms id=x" and record["request_id"] == "-" and "time" in record
