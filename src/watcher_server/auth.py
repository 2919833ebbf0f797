"""Optional bearer tokens (contract §2.10), as a pure ASGI middleware."""

from __future__ import annotations

import hashlib
import hmac

import orjson

from .errors import error_body

OPEN_PATHS = frozenset({"/", "/health", "/ready"})
READ_METHODS = frozenset({"GET", "HEAD"})


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class BearerTokenAuth:
    """Only installed when tokens are configured; tokens are kept as SHA-256 digests."""

    def __init__(self, app, write_tokens: tuple[str, ...], read_tokens: tuple[str, ...]):
        self.app = app
        self.write = [_digest(t) for t in write_tokens]
        self.read = [_digest(t) for t in read_tokens]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            return await self.app(scope, receive, send)
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return await _reject(send, 401, "Not authenticated")
        digest = _digest(token.strip())
        # compare against every token so timing does not reveal which list matched
        can_write = any([hmac.compare_digest(digest, d) for d in self.write])
        can_read = any([hmac.compare_digest(digest, d) for d in self.read])
        if not (can_write or can_read):
            return await _reject(send, 401, "Invalid token")
        if not can_write and scope["method"] not in READ_METHODS:
            return await _reject(send, 403, "Token does not allow write access")
        return await self.app(scope, receive, send)


async def _reject(send, status: int, detail: str) -> None:
    body = orjson.dumps(error_body(detail, detail))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """Reject declared bodies above the limit with a JSON 413 before reading them (Starlette's own
    limiter answers those in plain text; it still guards bodies streamed without a length)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if value.isdigit() and int(value) > self.max_bytes:
                        return await _reject(send, 413, f"Request body larger than {self.max_bytes} bytes")
                    break
        return await self.app(scope, receive, send)
