"""The web pages' routes: login and logout, static files, error pages, and every page module's routes."""

from __future__ import annotations

from pathlib import Path

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..auth import SESSION_COOKIE
from .forms import check_form, local_path
from .pages import actions, alerts, executions, incidents, lineage, overview, pipelines
from .templating import ENVIRONMENT, SECURITY_HEADERS, page, redirect

router = APIRouter(include_in_schema=False)
PAGE_ROUTERS = (overview.router, pipelines.router, executions.router, lineage.router, incidents.router, alerts.router, actions.router)
HEADINGS = {400: "Bad request", 403: "Not allowed", 404: "Not found", 422: "Bad request", 503: "Database unavailable"}


@router.get("/ui/login")
async def login_form(request: Request, next: str | None = None):
    if not request.app.state.tokens.configured:
        return redirect(local_path(next))
    return page(request, "login.html", {"next": local_path(next), "error": None})


@router.post("/ui/login")
async def login(request: Request):
    form = await check_form(request)
    token, next = form.get("token", ""), form.get("next", "/ui")
    tokens = request.app.state.tokens
    if tokens.role_of_token(token) is None:
        # 200, the form again with the reason: a 401 would need a WWW-Authenticate scheme, and the browser
        # logs any 4xx document as a console error
        return page(request, "login.html", {"next": local_path(next), "error": "That token is not one of this server's tokens."})
    response = redirect(local_path(next))
    settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        tokens.session_cookie(token),
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",  # a link from Slack or an alert e-mail opens the page logged in
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request):
    await check_form(request)
    response = redirect("/ui/login" if request.app.state.tokens.configured else "/ui")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def render_error(request: Request, response: Response) -> Response:
    """An error under /ui as a page (errors.py hands over the JSON answer it built)."""
    try:
        message = orjson.loads(response.body).get("message") or "Error"
    except (orjson.JSONDecodeError, AttributeError):
        message = "Error"
    heading = HEADINGS.get(response.status_code, "Something went wrong" if response.status_code >= 500 else "Error")
    html = ENVIRONMENT.get_template("error.html").render(
        request=request, role=None, login=False, csrf="", now=None, path=request.url.path, notice=None,
        status=response.status_code, heading=heading, message=message,
    )  # fmt: skip
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("retry-after", "connection", "www-authenticate")}
    return HTMLResponse(html, status_code=response.status_code, headers={**SECURITY_HEADERS, **headers})


def install_pages(app: FastAPI) -> None:
    app.state.render_error = render_error
    app.router.routes.extend(router.routes)
    for page_router in PAGE_ROUTERS:
        app.router.routes.extend(page_router.routes)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")
