"""A webhook receiver on loopback that can be down in each way a real one is: refusing connections,
answering 500, hanging, trickling its answer; it counts every request and every alert it accepted."""

from __future__ import annotations

import collections
import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("ok", "refuse", "error", "hang", "trickle")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DrillReceiver:
    def __init__(self, mode: str = "ok"):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, dict[str, str], dict]] = []  # every request that reached it
        self.accepted: list[tuple[str, dict[str, str], dict]] = []  # the ones answered 200
        self.hang_ids: set[int] = set()  # in mode "ok", requests about these alerts hang anyway
        self.in_flight = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.mode = "refuse"
        self.set_mode(mode)

    # ------------------------------------------------------------------ control

    def set_mode(self, mode: str) -> None:
        assert mode in MODES, mode
        self._release.set()  # hanging requests end (unanswered) whatever comes next
        self._release = threading.Event()
        if mode == "refuse" and self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        elif mode != "refuse" and self._server is None:
            self._server = self._listen()
        self.mode = mode

    def close(self) -> None:
        self.set_mode("refuse")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ what it saw

    def accepted_ids(self, path: str) -> collections.Counter:
        return collections.Counter(body["alert_id"] for p, _headers, body in self.accepted if p == path)

    def headers_of(self, path: str, alert_id: int) -> list[dict[str, str]]:
        return [headers for p, headers, body in self.accepted if p == path and body["alert_id"] == alert_id]

    def wait_until(self, predicate, seconds: float = 10.0) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------------ the server

    def _listen(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection, so "refuse" refuses them all
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"null")
                body["alert_id"] = int(self.headers.get("X-Watcher-Alert-Id") or body.get("id") or 0)
                record = (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(record)
                    receiver.in_flight += 1
                    mode, release = receiver.mode, receiver._release
                try:
                    if mode == "refuse":  # a request that raced the shutdown
                        self.close_connection = True
                    elif mode == "hang" or (mode == "ok" and body["alert_id"] in receiver.hang_ids):
                        self._hold(release)  # then closed, never answered
                    elif mode == "error":
                        self._answer(500, b"receiver down for maintenance")
                    elif mode == "trickle":
                        self.send_response(200)
                        self.send_header("Content-Length", "100")
                        self.end_headers()
                        for _ in range(100):  # each byte well within any per-read timeout, the whole far beyond
                            if release.wait(0.2):
                                break
                            self.wfile.write(b".")
                            self.wfile.flush()
                    else:
                        with receiver._lock:
                            receiver.accepted.append(record)
                        self._answer(200, b"ok")
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def _hold(self, release: threading.Event) -> None:
                """Until released, or until the client gives up (so `in_flight` counts what the client still waits for)."""
                deadline = time.monotonic() + 60
                while not release.wait(0.02) and time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return

            def _answer(self, status: int, text: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True  # down and up again on the same port, as a restarted receiver is
            request_queue_size = 128  # socketserver's 5 would drop simultaneous connects (retried by the client a second later)

            def handle_error(self, request, client_address):
                pass  # the client gave up on a hanging or trickling answer: a broken pipe is expected

        server = Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
