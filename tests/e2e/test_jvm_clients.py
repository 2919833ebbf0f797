"""The guide's Scala/Java examples and `curl --http2` work against a real `watcher serve` process.

The JDK `HttpClient` (default settings, as in the Pipeline Management guide) asks to upgrade every
plain-HTTP request to HTTP/2: `Connection: Upgrade, HTTP2-Settings`, `Upgrade: h2c`,
`HTTP2-Settings: ...`; `curl --http2` does the same. Such a request still carries its body, and the
server must read it (serving HTTP/1.1, or switching to h2c). Each program in jvm/ mirrors one Scala
example of the guide; it prints `status=NNN` per answer, then the tests read back what was stored.

`java` and `curl` are needed; without them the tests skip, except under CI (`CI` set), where a
missing tool is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

JVM_DIR = Path(__file__).with_name("jvm")
DOCUMENT_PIPELINE = {
    "name": "daily sales pipeline",
    "pipeline_type_name": "extraction",
    "pipeline_metadata": {
        "description": "Daily extraction of sales data",
        "owner": "data-team",
        "schedule": "0 2 * * *",
    },
}
# What curl --http2 sends on plain HTTP, written out for a plain HTTP/1.1 request.
H2C_UPGRADE_HEADERS = ["Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]
# Loopback only: no proxy may take the requests elsewhere.
NO_PROXY_ENV = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}}


def _unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: a missing tool is a failure, not a skip)")
    pytest.skip(message)


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        _unavailable(f"`{tool}` is not on PATH; these tests run the guide's examples with it")
    return path


def run_java_example(name: str, base_url: str) -> tuple[list[int], str]:
    """`java jvm/<name>.java <base_url>`; answers (statuses printed, whole stdout). Exit code 0 required."""
    java = _require("java")
    source = JVM_DIR / f"{name}.java"
    run = subprocess.run([java, str(source), base_url], capture_output=True, text=True, timeout=120, env=NO_PROXY_ENV)
    assert run.returncode == 0, f"{name} exited {run.returncode}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    statuses = [int(s) for s in re.findall(r"^status=(\d+)$", run.stdout, re.MULTILINE)]
    return statuses, run.stdout


def run_curl(*args: str) -> tuple[int, str, str]:
    """curl with the given arguments; answers (HTTP status, response body, curl's -v trace)."""
    curl = _require("curl")
    run = subprocess.run(
        [curl, "-sS", "-v", "--write-out", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60, env=NO_PROXY_ENV
    )
    assert run.returncode == 0, f"curl exited {run.returncode}: {run.stderr}"
    body, _, status = run.stdout.rpartition("\n")
    return int(status), body, run.stderr


def _sent_headers(trace: str) -> list[str]:
    return [line[2:].strip().lower() for line in trace.splitlines() if line.startswith("> ")]


def _stored_pipeline(http: httpx.Client, pipeline_id: int) -> dict:
    answer = http.get(f"/pipeline/{pipeline_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _type_name(http: httpx.Client, pipeline: dict) -> str:
    return http.get(f"/pipeline_type/{pipeline['pipeline_type_id']}").json()["name"]


# --- the premise: the JDK client really sends the h2c upgrade, with the body --------------------


class _CaptureServer:
    """A keep-alive HTTP/1.1 listener that records (connection number, head, body) of each request
    and answers each with 201 {"id": 1}."""

    def __init__(self):
        self.requests: list[tuple[int, str, bytes]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._sock.close()
        self._thread.join(timeout=5)

    def _accept(self):
        number = 0
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            number += 1
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn, number):
        with conn:
            conn.settimeout(30)
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
                while len(data) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                body, data = data[:length], data[length:]
                self.requests.append((number, head.decode("latin-1"), body))
                answer = b'{"id": 1}'
                conn.sendall(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(answer)).encode() + b"\r\n\r\n" + answer
                )


def _parse_head(head: str) -> tuple[str, dict[str, str]]:
    request_line, *lines = head.split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return request_line, headers


def test_java_httpclient_example_sends_h2c_upgrade_on_each_request_of_one_connection():
    """The premise of the tests below: the JDK client (default settings) asks for h2c on every
    request, with its JSON body, and sends the second request on the same connection; so the live
    tests exercise a declined upgrade and the connection's reuse after it."""
    with _CaptureServer() as capture:
        statuses, _ = run_java_example("PipelineExecutionExample", capture.url)
    assert statuses == [201, 201]
    [(first_conn, start_head, start_body), (second_conn, end_head, end_body)] = capture.requests
    assert first_conn == second_conn == 1
    for head, path in ((start_head, "/start_pipeline_execution"), (end_head, "/end_pipeline_execution")):
        request_line, headers = _parse_head(head)
        assert request_line == f"POST {path} HTTP/1.1"
        assert headers["upgrade"] == "h2c"
        assert {t.strip().lower() for t in headers["connection"].split(",")} == {"upgrade", "http2-settings"}
        assert "http2-settings" in headers
        assert headers["content-type"] == "application/json"
        assert "transfer-encoding" not in headers
    assert json.loads(start_body) == {"pipeline_id": 1, "start_date": "2024-01-01T10:00:00Z"}
    assert json.loads(end_body) == {
        "id": 1,
        "end_date": "2024-01-01T10:05:00Z",
        "completed_successfully": True,
        "total_rows": 10000,
        "inserts": 8000,
        "updates": 2000,
        "soft_deletes": 0,
    }


# --- the guide's Scala examples, in Java, against a live server -----------------------------------


def test_java_httpclient_create_pipeline_example_is_stored(live_server):
    statuses, stdout = run_java_example("PipelineExample", live_server)
    assert statuses == [201], stdout
    printed = json.loads(stdout.splitlines()[-1])
    assert printed["active"] is True
    with httpx.Client(base_url=live_server, timeout=10) as http:
        [pipeline] = http.get("/pipeline").json()
        assert pipeline["id"] == printed["id"]
        assert pipeline["name"] == "daily sales pipeline"
        assert _type_name(http, pipeline) == "extraction"
        assert pipeline["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]
        assert pipeline["active"] is True


def test_java_httpclient_patch_example_sets_pipeline_active(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        created = http.post("/pipeline", json=DOCUMENT_PIPELINE)
        assert created.status_code == 201 and created.json()["id"] == 1
        assert http.patch("/pipeline", json={"id": 1, "active": False}).json()["active"] is False

        statuses, stdout = run_java_example("PipelineUpdateExample", live_server)
        assert statuses == [200], stdout
        assert json.loads(stdout.splitlines()[-1])["active"] is True

        pipeline = _stored_pipeline(http, 1)
        assert pipeline["active"] is True
        assert pipeline["name"] == "daily sales pipeline"
        assert pipeline["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]


def test_java_httpclient_execution_example_starts_and_ends_the_execution(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        assert http.post("/pipeline", json=DOCUMENT_PIPELINE).json()["id"] == 1

        statuses, stdout = run_java_example("PipelineExecutionExample", live_server)
        assert statuses == [201, 200], stdout
        execution_id = int(re.search(r"^Execution started: (\d+)$", stdout, re.MULTILINE).group(1))

        [listed] = http.get("/pipeline_execution", params={"pipeline_id": 1}).json()
        assert listed["id"] == execution_id
        stored = http.get(f"/pipeline_execution/{execution_id}").json()
        assert {k: stored[k] for k in ("pipeline_id", "parent_id", "start_date", "end_date", "completed_successfully")} == {
            "pipeline_id": 1,
            "parent_id": None,
            "start_date": "2024-01-01T10:00:00Z",
            "end_date": "2024-01-01T10:05:00Z",
            "completed_successfully": True,
        }
        assert (stored["total_rows"], stored["inserts"], stored["updates"], stored["soft_deletes"]) == (10000, 8000, 2000, 0)
        assert stored["duration_seconds"] == 300


def test_java_httpclient_nested_example_records_the_sub_execution_under_its_parent(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        assert http.post("/pipeline", json={"name": "data_processing_main", "pipeline_type_name": "extraction"}).json()["id"] == 1
        assert http.post("/pipeline", json={"name": "extract_sales_data", "pipeline_type_name": "extraction"}).json()["id"] == 2

        statuses, stdout = run_java_example("NestedPipelineExample", live_server)
        assert statuses == [201, 201], stdout
        printed = re.search(r"^Sub-pipeline started: (.*)$", stdout, re.MULTILINE).group(1)
        sub_id = json.loads(printed)["id"]

        [main] = http.get("/pipeline_execution", params={"pipeline_id": 1}).json()
        [sub] = http.get("/pipeline_execution", params={"pipeline_id": 2}).json()
        assert sub["id"] == sub_id
        assert main["parent_id"] is None
        assert main["start_date"] == "2024-01-01T10:00:00Z"

        stored_sub = http.get(f"/pipeline_execution/{sub_id}").json()
        assert stored_sub["parent_id"] == main["id"]
        assert (stored_sub["pipeline_id"], stored_sub["start_date"]) == (2, "2024-01-01T10:00:00Z")
        tree = http.get(f"/pipeline_execution/{main['id']}").json()
        assert [child["id"] for child in tree["child_executions"]] == [sub_id]


# --- curl ------------------------------------------------------------------------------------------


def test_curl_http2_create_pipeline_is_stored(live_server):
    curl = _require("curl")
    features = subprocess.run([curl, "-V"], capture_output=True, text=True).stdout
    if "HTTP2" not in features:
        _unavailable("this curl has no HTTP2 feature (`curl -V`), so `curl --http2` cannot run")
    status, body, trace = run_curl(
        "--http2", "-X", "POST", f"{live_server}/pipeline", "-H", "Content-Type: application/json", "-d", json.dumps(DOCUMENT_PIPELINE)
    )
    assert "upgrade: h2c" in _sent_headers(trace), trace  # the upgrade request is what is under test
    assert status == 201, body
    with httpx.Client(base_url=live_server, timeout=10) as http:
        pipeline = _stored_pipeline(http, json.loads(body)["id"])
        assert pipeline["name"] == "daily sales pipeline"
        assert _type_name(http, pipeline) == "extraction"
        assert pipeline["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]


def test_http1_post_with_explicit_h2c_upgrade_headers_keeps_its_body(live_server):
    headers = [arg for h in H2C_UPGRADE_HEADERS for arg in ("-H", h)]
    status, body, trace = run_curl(
        "--http1.1", "-X", "POST", f"{live_server}/pipeline", "-H", "Content-Type: application/json", *headers,
        "-d", json.dumps(DOCUMENT_PIPELINE),
    )  # fmt: skip
    assert "upgrade: h2c" in _sent_headers(trace), trace
    assert status == 201, body
    with httpx.Client(base_url=live_server, timeout=10) as http:
        pipeline = _stored_pipeline(http, json.loads(body)["id"])
        assert pipeline["name"] == "daily sales pipeline"
        assert pipeline["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]


def test_http1_patch_with_h2c_upgrade_headers_updates_active(live_server):
    with httpx.Client(base_url=live_server, timeout=10) as http:
        assert http.post("/pipeline", json=DOCUMENT_PIPELINE).json()["id"] == 1
        headers = [arg for h in H2C_UPGRADE_HEADERS for arg in ("-H", h)]
        status, body, trace = run_curl(
            "--http1.1", "-X", "PATCH", f"{live_server}/pipeline", "-H", "Content-Type: application/json", *headers,
            "-d", '{"id": 1, "active": false}',
        )  # fmt: skip
        assert "upgrade: h2c" in _sent_headers(trace), trace
        assert status == 200, body
        assert json.loads(body)["active"] is False
        assert _stored_pipeline(http, 1)["active"] is False


def test_http1_post_with_arbitrary_upgrade_header_keeps_its_body(live_server):
    status, body, trace = run_curl(
        "--http1.1", "-X", "POST", f"{live_server}/pipeline", "-H", "Content-Type: application/json",
        "-H", "Connection: Upgrade", "-H", "Upgrade: foo/1", "-d", json.dumps(DOCUMENT_PIPELINE),
    )  # fmt: skip
    assert "upgrade: foo/1" in _sent_headers(trace), trace
    assert status == 201, body
    with httpx.Client(base_url=live_server, timeout=10) as http:
        pipeline = _stored_pipeline(http, json.loads(body)["id"])
        assert pipeline["name"] == "daily sales pipeline"
        assert pipeline["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]


# --- raw HTTP/1.1: a declined upgrade leaves the connection usable --------------------------------
# (The server declines upgrades and answers in HTTP/1.1; a server switching to h2c would answer 101.)


def _h2c_post(path: str, payload: dict, host: str) -> tuple[bytes, bytes]:
    body = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        + "".join(f"{h}\r\n" for h in H2C_UPGRADE_HEADERS)
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def _read_responses(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    responses, data = [], b""
    while len(responses) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(responses)} of {count} responses"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?im)^content-length:\s*(\d+)", head).group(1))
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a response body"
            data += chunk
        responses.append((status, data[:length]))
        data = data[length:]
    return responses


def test_h2c_upgrade_requests_with_split_body_and_pipelined_follow_up_share_one_connection(live_server):
    host = live_server.removeprefix("http://")
    first_head, first_body = _h2c_post("/pipeline", DOCUMENT_PIPELINE, host)
    second_head, second_body = _h2c_post("/pipeline", {"name": "second pipeline", "pipeline_type_name": "loading"}, host)
    hostname, port = host.rsplit(":", 1)
    with socket.create_connection((hostname, int(port)), timeout=20) as sock:
        sock.sendall(first_head + first_body[:10])  # the body arrives in two writes ...
        time.sleep(0.3)
        sock.sendall(first_body[10:] + second_head + second_body)  # ... its end together with the next request
        responses = _read_responses(sock, 2)
    assert [status for status, _ in responses] == [201, 201], responses
    first_id, second_id = (json.loads(body)["id"] for _, body in responses)
    with httpx.Client(base_url=live_server, timeout=10) as http:
        first, second = _stored_pipeline(http, first_id), _stored_pipeline(http, second_id)
        assert first["name"] == "daily sales pipeline"
        assert first["pipeline_metadata"] == DOCUMENT_PIPELINE["pipeline_metadata"]
        assert second["name"] == "second pipeline"
        assert _type_name(http, second) == "loading"
