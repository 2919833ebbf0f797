"""uvicorn's httptools protocol, with connection hygiene, serving requests that ask for a protocol
upgrade as plain HTTP/1.1.

Upgrades. The JDK's HttpClient (Java, Scala, Spark) asks to upgrade every new plain-HTTP connection to
HTTP/2 (`Connection: Upgrade, HTTP2-Settings` + `Upgrade: h2c`), and so does `curl --http2`. Declining
is allowed (RFC 9110 §7.8: the server answers in HTTP/1.1 and the client carries on), but httptools
stops parsing at such a request's headers and leaves its body unread, so the application saw an
empty body and answered 422. This protocol reads that body itself (its Content-Length), hands it to
the request, and resumes normal parsing afterwards, so keep-alive and pipelining keep working.

Why not uvicorn's h11 parser, which handles this: it is pure Python, and in the core benchmark it cost
7-11 % more server CPU per request than httptools (bench/README.md, "HTTP parser"); httptools stays
the parser for every request.

Connection hygiene (docs/configuration.md, "HTTP connections"): uvicorn bounds only the idle time after
a response, so a client that connects and never sends, sends its headers a line at a time, or stops
halfway through a body held a connection (and its buffers) forever. Here a request's line and headers
must arrive within the header timeout and its body within the body timeout after them; the request
line and headers are limited in size (431); and a process serves at most `http_max_connections`
connections, answering requests on any beyond that with 503. A request that arrives in one read costs
no timer (one per connection covers its first request; a timer is armed only for a request still
incomplete at the end of a read), and the size count is a few additions in the parser callbacks.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .errors import error_body

log = logging.getLogger("watcher.http")

# Where the parser is in the current request; also what `_timer` is armed for.
IDLE, HEAD, BODY, CLOSING = 0, 1, 2, 3
# After refusing a request, how long the server keeps reading (and discarding) before it closes: a
# client still sending would otherwise get a reset instead of the answer.
LINGER_SECONDS = 2.0
WARNING_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_connections: int


_limits: HttpLimits | None = None


def http_limits() -> HttpLimits:
    """This process's limits, from WATCHER_* settings read once (Settings() is too slow per connection)."""
    global _limits
    if _limits is None:
        from .settings import Settings

        settings = Settings()
        _limits = HttpLimits(
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            max_header_bytes=settings.http_max_header_bytes,
            max_connections=settings.http_max_connections,
        )
    return _limits


class _HeadTooLarge(Exception):
    pass


class _DiscardingParser:
    """Stands in for the parser once a request is refused: what the client still sends is dropped."""

    @staticmethod
    def feed_data(data: bytes) -> None:
        pass


class HeadWithBody:
    """The transport as a request's cycle sees it: uvicorn writes a response's status line and headers,
    then its body, each in a send of its own; here the head is held until the body comes, in the same
    turn of the event loop for nearly every answer, and both go out in one send. Whatever is held is
    written, in order, before any later write or close, and at the end of the loop's turn at the latest."""

    __slots__ = ("_transport", "_loop", "_held", "_flush")

    def __init__(self, transport, loop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._flush.cancel()
            self._transport.write(held + data)
        elif data[-4:] == b"\r\n\r\n":  # a head (or a body that looks like one: it is only delayed)
            self._held = bytes(data)
            self._flush = self._loop.call_soon(self._write_held)
        else:
            self._transport.write(data)

    def _write_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self._write_held()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class UpgradeDecliningProtocol(HttpToolsProtocol):
    _body_remaining = 0  # bytes of a declined upgrade request's body still to come
    _state = IDLE
    _phase = IDLE  # what _timer is armed for; equal to _state after every read
    _timer = None
    _head_bytes = 0  # URL plus header lines of the current request, as the parser reports them
    _head_reads = 0  # bytes of whole reads inside the current head (-1: the head began in this read)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._one_send_per_answer = HeadWithBody(transport, self.loop)
        limits = self.limits = http_limits()
        self._max_header_bytes = limits.max_header_bytes
        if len(self.connections) > limits.max_connections:
            # Connections already open keep being served; this one answers each request with 503.
            self.app = _over_capacity_app(limits.max_connections)
            _warn("over_capacity", "refusing a connection: %d open, limit %d", len(self.connections), limits.max_connections)
        self._phase = HEAD
        self._timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        keep_alive_timer = self.timeout_keep_alive_task
        self._unset_keepalive_if_required()
        self._feed(data)
        if self._state != self._phase and not self.transport.is_closing():
            self._arm(keep_alive_timer)

    def _feed(self, data: bytes) -> None:
        if self._body_remaining:
            data = self._take_body(data)
            if not data:
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._head_too_large()
            else:
                self._invalid_request()
        except httptools.HttpParserError:
            self._invalid_request()
        except httptools.HttpParserUpgrade as upgrade:
            if self._should_upgrade():
                self._cancel_timer()
                self._state = self._phase = IDLE
                self.handle_websocket_upgrade()
            else:
                self._decline_upgrade(data[upgrade.args[0] :] if upgrade.args else b"")
        else:
            if self._state == HEAD:
                self._count_head_read(len(data))

    def _invalid_request(self) -> None:
        self.logger.warning("Invalid HTTP request received.")
        self.send_400_response("Invalid HTTP request received.")

    # --- deadlines ----------------------------------------------------------------------------------

    def _arm(self, keep_alive_timer) -> None:
        """Point the one timer at the current request's state: its head, its body, or nothing."""
        self._cancel_timer()
        state = self._phase = self._state
        if state == HEAD:
            delay = self.limits.header_timeout
            if keep_alive_timer is not None:
                # The head's deadline runs from the end of the previous response (when uvicorn's
                # keep-alive timer was armed), unless that has already passed.
                left = keep_alive_timer.when() - self.timeout_keep_alive + delay - self.loop.time()
                if left > 0:
                    delay = left
            self._timer = self.loop.call_later(delay, self._head_timed_out)
        elif state == BODY:
            self._timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        if self.transport.is_closing():  # already refused or failed; connection_lost is on its way
            self._timer = None
            return
        if self.flow.read_paused:  # the server holds the data back (pipelining), not the client
            self._timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)
            return
        self._timer = None
        if self._state != HEAD:  # not a byte since the connection opened
            self._phase = CLOSING
            self.transport.close()
            return
        _warn("header_timeout", "closing a connection: request headers incomplete after %gs", self.limits.header_timeout)
        self._refuse_head(
            408,
            "Request Timeout",
            f"The request line and headers did not arrive within {self.limits.header_timeout:g} s (WATCHER_HTTP_HEADER_TIMEOUT_SECONDS).",
        )

    def _body_timed_out(self) -> None:
        if self.transport.is_closing():
            self._timer = None
            return
        cycle = self.cycle
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            # The server is not reading yet (pipelining, a body the application has yet to take, or
            # a client waiting for `100 Continue`): not the client's delay.
            self._timer = self.loop.call_later(self.limits.body_timeout, self._body_timed_out)
            return
        self._timer = None
        _warn("body_timeout", "closing a connection: request body incomplete after %gs", self.limits.body_timeout)
        answer = not cycle.response_started and not self.pipeline
        # The application, waiting in receive(), must see a disconnect and its answer go nowhere.
        cycle.disconnected = True
        cycle.message_event.set()
        if answer:
            message = (
                f"The request body did not arrive within {self.limits.body_timeout:g} s after its headers "
                "(WATCHER_HTTP_BODY_TIMEOUT_SECONDS)."
            )
            self._answer_and_close(408, "Request Timeout", message)
        else:
            self._phase = self._state = CLOSING
            self.transport.close()

    # --- header size --------------------------------------------------------------------------------

    def _count_head_read(self, size: int) -> None:
        # httptools buffers a header line until it ends, so on_header alone cannot bound memory: a read
        # that falls wholly inside an unfinished head counts as it arrives.
        if self._head_reads < 0:
            self._head_reads = 0
            return
        self._head_reads += size
        if self._head_reads > self._max_header_bytes:
            self._head_too_large()

    def _head_too_large(self) -> None:
        _warn("header_size", "refusing a request: request line and headers over %d bytes", self._max_header_bytes)
        self._refuse_head(
            431,
            "Request Header Fields Too Large",
            f"The request line and headers are larger than {self._max_header_bytes} bytes (WATCHER_HTTP_MAX_HEADER_BYTES).",
        )

    def _refuse_head(self, status: int, detail: str, message: str) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self._answer_and_close(status, detail, message)
        else:
            # An earlier request's answer is still due on this connection: it goes out, then the close.
            cycle.keep_alive = False
            self.parser = _DiscardingParser  # type: ignore[assignment]
            self._body_remaining = 0
            self._cancel_timer()
            self._state = self._phase = CLOSING

    def _answer_and_close(self, status: int, detail: str, message: str) -> None:
        body = json.dumps(error_body(detail, message)).encode()
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\ncontent-length: ",
                str(len(body)).encode(),
                b"\r\nconnection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.parser = _DiscardingParser  # type: ignore[assignment]
        self._body_remaining = 0
        self.flow.resume_reading()
        self._cancel_timer()
        self._state = self._phase = CLOSING
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    # --- parser callbacks (hot path: keep them to a few attribute operations) ----------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase and self.cycle is not None:
            # A pipelined request began in the read that ended the previous one: its own deadline.
            self._phase = -1
        self._state = HEAD
        self._head_bytes = 0
        self._head_reads = -1

    def on_url(self, url: bytes) -> None:
        self.url += url
        size = self._head_bytes = self._head_bytes + len(url)
        if size > self._max_header_bytes:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self._head_bytes = self._head_bytes + len(name) + len(value) + 4  # "Name: value\r\n"
        if size > self._max_header_bytes:
            raise _HeadTooLarge
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._state = BODY
        super().on_headers_complete()
        if self.cycle.transport is self.transport:
            self.cycle.transport = self._one_send_per_answer

    def on_message_complete(self) -> None:
        self._state = IDLE
        super().on_message_complete()

    # --- declined upgrades --------------------------------------------------------------------------

    def _decline_upgrade(self, rest: bytes) -> None:
        """The parser reported the request complete without its body: read the body here instead."""
        length = None
        for name, value in self.headers:
            if name == b"transfer-encoding":
                self.send_400_response("A request asking for a protocol upgrade must send its body with Content-Length.")
                return
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
        # A fresh parser for whatever follows this request on the connection.
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        if length:
            self._body_remaining = length
            self._state = BODY
            self.cycle.more_body = True
            self.cycle.message_event.clear()
            rest = self._take_body(rest)
        if rest:
            self._feed(rest)

    def _take_body(self, data: bytes) -> bytes:
        """Give the declined upgrade request its body from `data`; return what follows the body."""
        chunk, rest = data[: self._body_remaining], data[self._body_remaining :]
        self._body_remaining -= len(chunk)
        if not self._body_remaining:
            self._state = IDLE
        cycle = self.cycle
        if not cycle.response_complete:
            cycle.body += chunk
            if len(cycle.body) > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
            if not self._body_remaining:
                cycle.more_body = False
            cycle.message_event.set()
        return rest


def _over_capacity_app(limit: int):
    body = json.dumps(
        error_body(
            "Service unavailable",
            f"This server process already has its limit of {limit} open connections (WATCHER_HTTP_MAX_CONNECTIONS); retry shortly.",
        )
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]

    async def over_capacity(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return over_capacity


_last_warning: dict[str, float] = {}
_unlogged: dict[str, int] = {}


def _warn(kind: str, message: str, *args) -> None:
    """Log at most one line per kind every WARNING_INTERVAL_SECONDS: a flood of misbehaving clients
    must not become a flood of log lines."""
    now = time.monotonic()
    if now - _last_warning.get(kind, -math.inf) < WARNING_INTERVAL_SECONDS:
        _unlogged[kind] = _unlogged.get(kind, 0) + 1
        return
    _last_warning[kind] = now
    skipped = _unlogged.pop(kind, 0)
    if skipped:
        message += " (and %d more like it since the last such line)"
        args = (*args, skipped)
    log.warning(message, *args)
