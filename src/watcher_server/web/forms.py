"""CSRF protection for the pages' forms: a random token in an HttpOnly, SameSite=Strict cookie, echoed in
a hidden field (double submit), and the request's Origin must be this server when the browser sends one.
Another site can neither read the cookie nor make the browser send it with a cross-site POST."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from ..core.errors import Forbidden

CSRF_COOKIE = "watcher_csrf"
CSRF_FIELD = "csrf"


def csrf_token(request: Request) -> str:
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) != 43:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def remember_csrf(request: Request, response: Response) -> None:
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui", secure=request.url.scheme == "https")


async def check_form(request: Request) -> dict[str, str]:
    """The posted form's fields, once the request proved it comes from one of our pages."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden(f"Form posted from another origin ({origin[:100]}); open the page on this server and try again.")
    form = await request.form()
    sent = str(form.get(CSRF_FIELD, ""))
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("The form has expired or did not come from this server; reload the page and try again.")
    return {key: str(value) for key, value in form.items() if key != CSRF_FIELD}


def local_path(value: str | None, default: str = "/ui") -> str:
    """`value` if it is a path on this server, else `default`: never another site (an open redirect),
    never a protocol-relative URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else default
