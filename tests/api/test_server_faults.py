"""An unexpected fault answers 500 with a JSON body and `Connection: close`, and the connection then ends
cleanly instead of being dropped mid keep-alive (issue 10, defect 1)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import uvicorn

from watcher_server.app import create_app
from watcher_server.http_protocol import UpgradeDecliningProtocol


class _Serving:
    """The app under uvicorn with our protocol, in a thread, on a free port."""

    def __init__(self, app):
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, http=UpgradeDecliningProtocol, log_level="critical", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> int:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return self.server.servers[0].sockets[0].getsockname()[1]

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def _read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head, body


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_server_fault_answers_500_with_connection_close_and_ends_the_connection_cleanly(settings):
    app = create_app(settings)

    @app.get("/test-fault")
    async def fault():
        raise RuntimeError("a bug")

    with _Serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _ = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /test-fault HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_response(conn)
        assert head.startswith(b"HTTP/1.1 500")
        assert b"connection: close" in head.lower()
        assert b"x-request-id" in head.lower()
        assert body == b'{"detail":"Internal server error","message":"Internal server error"}'
        assert conn.recv(1) == b""  # closed by the server after the answer, not reset
