"""The real `watcher serve` process: its log lines, and a graceful stop on SIGTERM that finishes
in-flight requests and gives claimed alerts back."""

import asyncio
import json
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from sqlalchemy import select

from watcher_server.alerts.tables import alert
from watcher_server.db.engine import Database, create_engine

from ..webhook_receiver import WebhookReceiver
from .conftest import server_process, wait_for


def _read_alerts(database_url: str) -> list:
    async def read():
        db = Database(create_engine(database_url, pool_size=1, max_overflow=0))
        try:
            async with db.read() as conn:
                return (await conn.execute(select(alert).order_by(alert.c.id))).all()
        finally:
            await db.dispose()

    return asyncio.run(read())


def _stale_pipeline_alert(http: httpx.Client) -> None:
    pid = http.post(
        "/pipeline", json={"name": "orders", "pipeline_type_name": "t", "freshness_number": 1, "freshness_datepart": "hour"}
    ).json()["id"]
    old = http.post("/start_pipeline_execution", json={"pipeline_id": pid, "start_date": "2025-01-01T00:00:00Z"}).json()["id"]
    http.post("/end_pipeline_execution", json={"id": old, "end_date": "2025-01-01T01:00:00Z", "completed_successfully": True, "inserts": 5})
    assert http.post("/freshness", params={"wait": "true"}).json()["alerts_created"] == 1


def test_json_logs_have_one_object_per_line_with_access_and_check_fields(database_url, tmp_path):
    with server_process(database_url, tmp_path, workers=1, log_format="json") as (process, base):
        with httpx.Client(base_url=base, timeout=10) as http:
            http.post("/pipeline", json={"name": "p", "pipeline_type_name": "t"}, headers={"X-Request-ID": "job-7"})
            http.post("/freshness", params={"wait": "true"})
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    lines = (tmp_path / "server.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(r["message"].startswith("serving SQLite file") or r["message"].startswith("serving postgresql") for r in records)
    access = [r for r in records if r["logger"] == "watcher.access" and r.get("request_id") == "job-7"]
    assert len(access) == 1 and access[0]["method"] == "POST" and access[0]["path"] == "/pipeline" and access[0]["status"] == 201
    assert access[0]["duration_ms"] >= 0 and access[0]["level"] == "INFO"
    freshness = [r for r in records if r["logger"] == "watcher.checks" and r["check"] == "freshness"]
    assert len(freshness) == 1 and freshness[0]["pipelines_evaluated"] == 0 and freshness[0]["duration_ms"] >= 0


def test_the_start_up_line_names_the_absolute_sqlite_path(tmp_path):
    url = "sqlite:///data/watcher.db"
    with server_process(url, tmp_path, workers=1) as (_process, _base):
        pass
    assert f"serving SQLite file {tmp_path / 'data' / 'watcher.db'} on http://127.0.0.1:" in (tmp_path / "server.log").read_text()


def test_sigterm_lets_an_in_flight_request_finish(database_url, tmp_path):
    body = json.dumps({"name": "slow upload", "pipeline_type_name": "t"}).encode()
    with server_process(database_url, tmp_path, workers=1) as (process, base):
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            head = f"POST /pipeline HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            conn.sendall(head.encode() + body[:10])
            time.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert process.poll() is None, "the server must wait for the request in flight"
            conn.sendall(body[10:])
            answer = conn.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 201"), answer
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped


class HangingReceiver:
    """A webhook that accepts the connection and never answers (until closed)."""

    def __init__(self):
        self.calls = 0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.calls += 1
                receiver.release.wait(60)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_sigterm_during_a_delivery_gives_the_alert_back_for_the_next_process(database_url, tmp_path):
    hanging = HangingReceiver()
    try:
        with server_process(
            database_url, tmp_path / "first", workers=1, alert_webhook_url=f"{hanging.url}/hook", shutdown_timeout_seconds=1
        ) as (process, base):  # fmt: skip
            with httpx.Client(base_url=base, timeout=10) as http:
                _stale_pipeline_alert(http)
            assert wait_for(lambda: hanging.calls == 1, 15), "the delivery must have started"
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has stopped
            assert time.monotonic() - started < 15, "a hanging receiver must not hold the shutdown"
    finally:
        hanging.close()
    (stopped,) = _read_alerts(database_url)
    assert stopped.delivery_status == "pending" and stopped.delivery_attempts == 0
    assert stopped.next_attempt_at is None, "released: due at once, not after the lease"

    with (
        WebhookReceiver() as receiver,
        server_process(database_url, tmp_path / "second", workers=1, alert_webhook_url=f"{receiver.url}/hook"),
    ):
        assert wait_for(lambda: len(receiver.bodies("/hook")) == 1, 15)
    (sent,) = _read_alerts(database_url)
    assert sent.delivery_status == "sent" and sent.delivery_attempts == 1
