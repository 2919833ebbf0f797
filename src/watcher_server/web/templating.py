"""The Jinja2 environment (autoescaped: every name, address, message and metadata value is user input)
and the response every page goes out with: HTML, a strict Content-Security-Policy, no caching."""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .forms import csrf_token, remember_csrf

# No inline script or style, nothing from another origin, no framing, forms post only here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _when(value: Any) -> str:
    """A timestamp as people read it, to the second, in UTC."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"
    return str(value)


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return "" if value is None else str(value)


def _duration(seconds: Any) -> str:
    """1 h 02 min, 3 min 05 s, 42 s; "—" for none."""
    if seconds is None:
        return "—"
    if isinstance(seconds, dt.timedelta):
        seconds = seconds.total_seconds()
    seconds = float(seconds)
    if not math.isfinite(seconds):
        return "—"
    if seconds < 0:
        return "−" + _duration(-seconds)
    whole = int(round(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    if seconds and seconds < 1:
        return "< 1 s"
    return f"{secs} s"


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _ago(value: Any, now: dt.datetime | None = None) -> str:
    """How long before now: "5 min ago"; "in 3 min" for the future."""
    if value is None:
        return "never"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    delta = (now - value).total_seconds()
    text = _duration(abs(delta))
    return f"in {text}" if delta < 0 else f"{text} ago"


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("watcher_server.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, iso=_iso, duration=_duration, number=_number, ago=_ago, pretty_json=_pretty_json)
    return env


ENVIRONMENT = _environment()


# What an action did, shown on the page it leads back to (`?done=<key>`): fixed texts, never echoed input.
NOTICES = {
    "paused": "Pipeline paused: it is marked inactive.",
    "resumed": "Pipeline resumed: it is marked active.",
    "freshness-muted": "Freshness check muted for this pipeline.",
    "freshness-unmuted": "Freshness check unmuted for this pipeline.",
    "timeliness-muted": "Timeliness check muted for this pipeline.",
    "timeliness-unmuted": "Timeliness check unmuted for this pipeline.",
    "unflagged": "Anomaly flag cleared.",
    "freshness-run": "Freshness check ran.",
    "timeliness-run": "Timeliness check ran.",
}


def page(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> HTMLResponse:
    """Render `template` for this request. Every template sees `request`, `role` (may the viewer act:
    "write"; read-only: "read"), `login` (whether tokens are configured), `csrf` (the form token) and
    `now`."""
    values = {
        "request": request,
        "role": viewer_role(request),
        "login": tokens_configured(request),
        "csrf": csrf_token(request),
        "now": dt.datetime.now(dt.UTC),
        "path": request.url.path,
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    values.update(context or {})
    body = ENVIRONMENT.get_template(template).render(values)
    response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
    remember_csrf(request, response)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a form: 303, so a reload of the next page does not post the form again."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def tokens_configured(request: Request) -> bool:
    return bool(request.app.state.tokens.configured)


def viewer_role(request: Request) -> str | None:
    """ "write" when the viewer may act: always with no tokens configured, else what the login cookie or
    bearer token allows (auth.py)."""
    if not tokens_configured(request):
        return "write"
    return request.scope.get("state", {}).get("role")
