"""uvicorn's httptools protocol, serving requests that ask for a protocol upgrade as plain HTTP/1.1.

The JDK's HttpClient (Java, Scala, Spark) asks to upgrade every new plain-HTTP connection to HTTP/2
(`Connection: Upgrade, HTTP2-Settings` + `Upgrade: h2c`), and so does `curl --http2`. Declining is
allowed (RFC 9110 §7.8: the server answers in HTTP/1.1 and the client carries on), but httptools
stops parsing at such a request's headers and leaves its body unread, so the application saw an
empty body and answered 422. This protocol reads that body itself (its Content-Length), hands it to
the request, and resumes normal parsing afterwards, so keep-alive and pipelining keep working.

Why not uvicorn's h11 parser, which handles this: it is pure Python, and in the core benchmark it cost
7-11 % more server CPU per request than httptools (bench/README.md, "HTTP parser"); httptools stays
the parser for every request.
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class UpgradeDecliningProtocol(HttpToolsProtocol):
    _body_remaining = 0  # bytes of a declined upgrade request's body still to come

    def data_received(self, data: bytes) -> None:
        if self._body_remaining:
            data = self._take_body(data)
            if not data:
                return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
        except httptools.HttpParserUpgrade as upgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._decline_upgrade(data[upgrade.args[0] :] if upgrade.args else b"")

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
            self.cycle.more_body = True
            self.cycle.message_event.clear()
            rest = self._take_body(rest)
        if rest:
            self.data_received(rest)

    def _take_body(self, data: bytes) -> bytes:
        """Give the declined upgrade request its body from `data`; return what follows the body."""
        chunk, rest = data[: self._body_remaining], data[self._body_remaining :]
        self._body_remaining -= len(chunk)
        cycle = self.cycle
        if not cycle.response_complete:
            cycle.body += chunk
            if len(cycle.body) > HIGH_WATER_LIMIT:
                self.flow.pause_reading()
            if not self._body_remaining:
                cycle.more_body = False
            cycle.message_event.set()
        return rest
