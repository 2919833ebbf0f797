"""Connection hygiene at the HTTP layer of a real `watcher serve` (docs/configuration.md, "HTTP
connections"): header, body and keep-alive timeouts, the header size limit and the per-process
connection cap, driven over raw sockets as a slow, idle or oversized client would.

Transport behaviour, the same on every database: SQLite only, one worker (so every connection meets
the same process). Timers fire late on a loaded machine, never early: closes are asserted no earlier
than the deadline (timed from before the client's step that starts the server's clock) and at most
SLACK seconds after it.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import time

import httpx
import pytest

from .conftest import server_process, wait_for

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 2.0
MAX_HEADER_BYTES = 4096
SLACK = 2.0
H2C_HEADERS = b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"


def _sqlite_copy(sqlite_template, directory) -> str:
    path = directory / "watcher.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def server(sqlite_template, tmp_path_factory):
    """(base_url, server log path) of a server with short timeouts and a small header limit."""
    directory = tmp_path_factory.mktemp("hygiene")
    with server_process(
        _sqlite_copy(sqlite_template, directory), directory, workers=1,
        http_header_timeout_seconds=HEADER_TIMEOUT, http_body_timeout_seconds=BODY_TIMEOUT,
        http_keepalive_timeout_seconds=KEEPALIVE_TIMEOUT, http_max_header_bytes=MAX_HEADER_BYTES,
    ) as (_process, base_url):  # fmt: skip
        yield base_url, directory / "server.log"


def _connect(base_url: str) -> socket.socket:
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _get(path: str = "/health", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: watcher.test\r\n" + extra + b"\r\n"


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a whole response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        body += chunk
    assert len(body) == length, f"more than one response: {body!r}"
    return int(status_line.split(" ", 2)[1]), headers, body


def _parse(data: bytes) -> tuple[int, dict[str, str], dict]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ", 2)[1]), headers, json.loads(body)


def _wait_closed(sock: socket.socket, seconds: float) -> tuple[float | None, bytes]:
    """Read until the server closes: (seconds it took, or None if still open after `seconds`; bytes read)."""
    started = time.monotonic()
    received = b""
    while (left := seconds - (time.monotonic() - started)) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return time.monotonic() - started, received
        if not chunk:
            return time.monotonic() - started, received
        received += chunk
    return None, received


def _trickle_until_closed(sock: socket.socket, lines, every: float, seconds: float) -> tuple[float | None, bytes]:
    """Send one line every `every` seconds until the server closes: (when it closed, as
    time.monotonic(), or None if still open after `seconds`; bytes read)."""
    started = time.monotonic()
    received = b""
    for line in lines:
        if time.monotonic() - started > seconds:
            return None, received
        try:
            sock.sendall(line)
        except OSError:  # a reset: the server has answered and stopped reading
            return time.monotonic(), received + _wait_closed(sock, SLACK)[1]
        if select.select([sock], [], [], every)[0]:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return time.monotonic(), received
            if not chunk:
                return time.monotonic(), received
            received += chunk
    return None, received


def _assert_refused(data: bytes, status: int, setting: str) -> None:
    code, headers, body = _parse(data)
    assert code == status, data
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert set(body) == {"detail", "message"} and setting in body["message"], body


# --- header timeout -----------------------------------------------------------------------------


def test_connection_that_sends_nothing_is_closed_after_the_header_timeout_while_one_sending_requests_stays_open(server):
    base_url, _ = server
    started = time.monotonic()
    with _connect(base_url) as idle, _connect(base_url) as busy:
        idle_closed_after = None
        # The busy connection outlives the header timeout counted from its opening: a request that
        # arrived in time ends that deadline.
        while time.monotonic() - started < HEADER_TIMEOUT + 1.5:
            busy.sendall(_get())
            assert _read_response(busy)[0] == 200
            if idle_closed_after is not None:
                time.sleep(0.2)
            elif select.select([idle], [], [], 0.2)[0]:
                assert idle.recv(65536) == b"", "nothing is answered to a client that asked nothing"
                idle_closed_after = time.monotonic() - started
        if idle_closed_after is None:
            waited, data = _wait_closed(idle, max(HEADER_TIMEOUT + SLACK - (time.monotonic() - started), 0.1))
            assert waited is not None and data == b"", "a connection that never sends a byte must be closed"
            idle_closed_after = time.monotonic() - started
    assert HEADER_TIMEOUT * 0.9 <= idle_closed_after <= HEADER_TIMEOUT + SLACK


def test_headers_sent_a_line_at_a_time_get_408_at_the_header_deadline_not_later(server):
    base_url, _ = server
    started = time.monotonic()
    with _connect(base_url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: watcher.test\r\n")
        trickle = (b"X-Trickle-%d: x\r\n" % n for n in range(1000))
        closed_at, data = _trickle_until_closed(sock, trickle, every=0.2, seconds=HEADER_TIMEOUT + SLACK + 3)
    assert closed_at is not None, "a slowloris client must not keep its connection by sending a line now and then"
    assert HEADER_TIMEOUT * 0.9 <= closed_at - started <= HEADER_TIMEOUT + SLACK
    _assert_refused(data, 408, "WATCHER_HTTP_HEADER_TIMEOUT_SECONDS")


def test_next_request_on_a_keep_alive_connection_that_stalls_in_its_headers_gets_408(server):
    base_url, _ = server
    with _connect(base_url) as sock:
        started = time.monotonic()  # the deadline runs from the end of the response to this request
        sock.sendall(_get())
        assert _read_response(sock)[0] == 200
        time.sleep(HEADER_TIMEOUT / 2)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: watch")  # and no more
        closed = _wait_closed(sock, HEADER_TIMEOUT + SLACK + 3)
        closed_after = time.monotonic() - started
    assert closed[0] is not None
    assert HEADER_TIMEOUT * 0.9 <= closed_after <= HEADER_TIMEOUT + SLACK
    _assert_refused(closed[1], 408, "WATCHER_HTTP_HEADER_TIMEOUT_SECONDS")


# --- body timeout -------------------------------------------------------------------------------


def test_request_whose_body_stalls_gets_408_and_the_application_sees_a_disconnect(server):
    base_url, log_path = server
    with _connect(base_url) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /pipeline?drill=stalled-body HTTP/1.1\r\nHost: watcher.test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n" + b'{"name": "half'
        )
        waited, data = _wait_closed(sock, BODY_TIMEOUT + SLACK + 3)
        closed_after = time.monotonic() - started
    assert waited is not None and BODY_TIMEOUT * 0.9 <= closed_after <= BODY_TIMEOUT + SLACK
    _assert_refused(data, 408, "WATCHER_HTTP_BODY_TIMEOUT_SECONDS")
    # The application's handler returned (its access line is written when it does): it was not left waiting.
    assert wait_for(lambda: "POST /pipeline?drill=stalled-body" in log_path.read_text(), seconds=10)
    assert "Traceback" not in log_path.read_text()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.get("/pipeline").json() == []


def test_declined_h2c_upgrade_request_whose_body_stalls_gets_408_after_a_whole_one_was_served(server):
    base_url, _ = server
    body = json.dumps({"name": "h2c pipeline", "pipeline_type_name": "extraction"}).encode()
    head = (
        b"POST /pipeline HTTP/1.1\r\nHost: watcher.test\r\nContent-Type: application/json\r\n"
        + H2C_HEADERS
        + b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with _connect(base_url) as sock:
        sock.sendall(head + body)
        status, _, answer = _read_response(sock)
        assert status == 201, answer
        started = time.monotonic()
        sock.sendall(head + body[:10])
        waited, data = _wait_closed(sock, BODY_TIMEOUT + SLACK + 3)
        closed_after = time.monotonic() - started
    assert waited is not None and BODY_TIMEOUT * 0.9 <= closed_after <= BODY_TIMEOUT + SLACK
    _assert_refused(data, 408, "WATCHER_HTTP_BODY_TIMEOUT_SECONDS")
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert [p["name"] for p in http.get("/pipeline").json()] == ["h2c pipeline"]


# --- header size --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(_get(extra=b"X-Big: " + b"a" * 1_000_000 + b"\r\n"), id="one 1 MB header"),
        pytest.param(_get(extra=b"".join(b"X-Many-%03d: %s\r\n" % (n, b"v" * 20) for n in range(200))), id="200 header lines"),
        pytest.param(_get("/health?q=" + "a" * 5000), id="5000-byte URL"),
    ],
)
def test_request_line_and_headers_over_the_limit_get_431_and_close_while_just_under_it_are_served(server, request_bytes):
    base_url, _ = server
    with _connect(base_url) as sock:
        with contextlib.suppress(OSError):  # the server may stop reading before the whole request is sent
            sock.sendall(request_bytes)
        waited, data = _wait_closed(sock, SLACK + 3)
    assert waited is not None
    _assert_refused(data, 431, "WATCHER_HTTP_MAX_HEADER_BYTES")

    # Just under the limit, as sent (request line and headers together), and arriving in two reads.
    head = _get(extra=b"X-Pad: \r\n")
    under = _get(extra=b"X-Pad: " + b"p" * (MAX_HEADER_BYTES - 16 - len(head)) + b"\r\n")
    assert MAX_HEADER_BYTES - 16 <= len(under) <= MAX_HEADER_BYTES
    with _connect(base_url) as sock:
        sock.sendall(under[:100])
        time.sleep(0.1)
        sock.sendall(under[100:])
        assert _read_response(sock)[0] == 200
        sock.sendall(_get())  # and the connection stays usable
        assert _read_response(sock)[0] == 200


# --- keep-alive ---------------------------------------------------------------------------------


def test_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(server):
    base_url, _ = server
    with _connect(base_url) as sock:
        started = time.monotonic()
        sock.sendall(_get())
        assert _read_response(sock)[0] == 200
        waited, data = _wait_closed(sock, KEEPALIVE_TIMEOUT + SLACK + 3)
        closed_after = time.monotonic() - started
    assert waited is not None and KEEPALIVE_TIMEOUT * 0.9 <= closed_after <= KEEPALIVE_TIMEOUT + SLACK
    assert data == b""


def test_httpx_client_carries_on_over_a_new_connection_after_the_server_closes_its_idle_one(server):
    base_url, _ = server

    def client_port(response: httpx.Response) -> int:
        return response.extensions["network_stream"].get_extra_info("client_addr")[1]

    with httpx.Client(base_url=base_url, timeout=10) as http:
        first = http.post("/pipeline", json={"name": "kept alive", "pipeline_type_name": "t"})
        first_port = client_port(first)
        again = http.get("/pipeline")
        assert (first.status_code, again.status_code) == (201, 200)
        assert client_port(again) == first_port  # keep-alive as usual
        time.sleep(KEEPALIVE_TIMEOUT + 1)
        later = http.post("/pipeline", json={"name": "kept alive", "pipeline_type_name": "t"})
        assert later.status_code == 200 and later.json()["id"] == first.json()["id"]
        assert client_port(later) != first_port


# --- connection cap -----------------------------------------------------------------------------


def test_connections_over_the_cap_get_503_while_connections_already_open_are_served(sqlite_template, tmp_path):
    cap = 3
    with server_process(
        _sqlite_copy(sqlite_template, tmp_path), tmp_path, workers=1,
        http_max_connections=cap, http_header_timeout_seconds=30, http_keepalive_timeout_seconds=30,
    ) as (_process, base_url):  # fmt: skip
        open_ones = [_connect(base_url) for _ in range(cap)]
        try:
            for sock in open_ones:
                sock.sendall(_get())
                assert _read_response(sock)[0] == 200
            with _connect(base_url) as extra:
                extra.sendall(_get())
                waited, data = _wait_closed(extra, 10)
            assert waited is not None
            status, headers, body = _parse(data)
            assert status == 503 and headers["retry-after"] == "1" and headers["connection"] == "close", data
            assert "WATCHER_HTTP_MAX_CONNECTIONS" in body["message"]

            open_ones[0].sendall(_get())
            assert _read_response(open_ones[0])[0] == 200

            open_ones.pop().close()  # a place frees up
            assert wait_for(lambda: _one_request(base_url) == 200, seconds=10)
        finally:
            for sock in open_ones:
                sock.close()


def _one_request(base_url: str) -> int:
    with _connect(base_url) as sock:
        sock.sendall(_get())
        return _read_response(sock)[0]
