"""Optional bearer tokens (contract §2.10) and the web pages' login cookie, as a pure ASGI middleware.

Every request leaves here with `scope["state"]["role"]`: "write", "read", or None (not logged in; only
the open paths and the login form are reachable then). With no tokens configured the middleware is
not installed and everyone may do everything (the web pages read a missing role as "write")."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

import orjson
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .errors import error_body

OPEN_PATHS = frozenset({"/", "/health", "/ready", "/ui/login", "/favicon.ico"})
OPEN_PREFIXES = ("/ui/static/",)
READ_METHODS = frozenset({"GET", "HEAD"})
# Pages a browser opens: without a login they lead to the login form instead of a JSON 401.
BROWSER_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
SESSION_COOKIE = "watcher_session"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class Tokens:
    """The configured tokens (as SHA-256 digests) and the signed login cookie that stands for one."""

    def __init__(self, write_tokens: tuple[str, ...], read_tokens: tuple[str, ...], secret: str, session_seconds: float):
        self.write = [_digest(t) for t in write_tokens]
        self.read = [_digest(t) for t in read_tokens]
        self.session_seconds = session_seconds
        # Derived from the tokens when no secret is set: every worker and replica agrees without more
        # configuration, and a changed token ends the sessions made with the old ones.
        key = secret or hashlib.sha256(b"watcher-session\0" + b"\0".join(sorted(self.write + self.read))).hexdigest()
        self._cookies = URLSafeTimedSerializer(key, salt="watcher-login")

    @property
    def configured(self) -> bool:
        return bool(self.write or self.read)

    def role_of_digest(self, digest: bytes) -> str | None:
        # compare against every token so timing does not reveal which list matched
        can_write = any([hmac.compare_digest(digest, d) for d in self.write])
        can_read = any([hmac.compare_digest(digest, d) for d in self.read])
        return "write" if can_write else "read" if can_read else None

    def role_of_token(self, token: str) -> str | None:
        return self.role_of_digest(_digest(token.strip())) if token.strip() else None

    def session_cookie(self, token: str) -> str:
        """The login cookie's value: the token's digest, signed and dated (the token itself is never stored)."""
        return self._cookies.dumps(_digest(token.strip()).hex())

    def role_of_cookie(self, value: str) -> str | None:
        try:
            digest = self._cookies.loads(value, max_age=self.session_seconds)
            return self.role_of_digest(bytes.fromhex(digest))
        except (BadSignature, ValueError, TypeError):
            return None


class BearerTokenAuth:
    """Only installed when tokens are configured. A bearer token works everywhere; the login cookie works
    for reading anything and for the pages' own forms (which check a CSRF token, web/forms.py)."""

    def __init__(self, app, tokens: Tokens):
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        state = scope.setdefault("state", {})
        state["role"] = None
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            if cookie := _cookie(scope, SESSION_COOKIE):
                state["role"] = self.tokens.role_of_cookie(cookie)
            return await self.app(scope, receive, send)
        header = _header(scope, b"authorization")
        if header is None and (cookie := _cookie(scope, SESSION_COOKIE)):
            role = self.tokens.role_of_cookie(cookie)
            if role is not None and (scope["method"] in READ_METHODS or path.startswith("/ui/")):
                state["role"] = role
                return await self.app(scope, receive, send)
        if header is None and _is_browser_page(scope):
            return await _to_login(send, scope)
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return await _reject(send, 401, "Not authenticated")
        role = self.tokens.role_of_token(token)
        if role is None:
            return await _reject(send, 401, "Invalid token")
        if role != "write" and scope["method"] not in READ_METHODS:
            return await _reject(send, 403, "Token does not allow write access")
        state["role"] = role
        return await self.app(scope, receive, send)


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope, name: str) -> str | None:
    header = _header(scope, b"cookie")
    if not header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _is_browser_page(scope) -> bool:
    """A browser opening a page (it asks for HTML); API clients keep their JSON 401."""
    path = scope["path"]
    if scope["method"] not in READ_METHODS or not (path == "/ui" or path.startswith("/ui/") or path in BROWSER_PATHS):
        return False
    return "text/html" in (_header(scope, b"accept") or "")


async def _to_login(send, scope) -> None:
    target = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
    location = "/ui/login?next=" + quote(target, safe="")
    headers = [(b"location", location.encode("latin-1")), (b"content-length", b"0"), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


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
