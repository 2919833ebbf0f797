"""/docs (Swagger UI) and /redoc served offline: their assets come from the installed
`fastapi-offline` package, never from a CDN, so the pages work on machines without internet."""

from __future__ import annotations

import functools
from importlib.metadata import version
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
ASSETS_CACHE_CONTROL = "public, max-age=86400"
# Asset URLs carry the package version, so an upgrade is not hidden by a browser's cached copy.
_ASSETS_VERSION = version("fastapi-offline")
# ReDoc 2 ends its side menu with an "API docs by Redocly" link whose logo it always loads from this
# CDN. Its bundle is served with that address replaced by an empty data: URL: nothing is fetched, the
# image fails to decode and ReDoc then leaves it out.
_REDOC_LOGO_URL = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_NO_IMAGE_URL = b"data:,"


class _CacheableStaticFiles(StaticFiles):
    async def get_response(self, path, scope):
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = ASSETS_CACHE_CONTROL
        return response


def install_api_docs(app: FastAPI) -> None:
    """Add GET /docs, /docs/oauth2-redirect, /redoc and their assets under /docs/assets/
    (the app must be created with docs_url=None, redoc_url=None)."""
    if app.openapi_url is None:
        return  # no schema, nothing to document
    missing = [name for name in ASSETS if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(f"fastapi-offline is installed without its assets {missing} in {ASSETS_DIR}")

    def asset(request: Request, name: str) -> str:
        return f"{_root_path(request)}{ASSETS_URL}/{name}?v={_ASSETS_VERSION}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = _root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset(request, "swagger-ui.css"),
            swagger_favicon_url=asset(request, "favicon.png"),
            oauth2_redirect_url=root + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            # no validator badge, an image from validator.swagger.io (Swagger UI shows none for OpenAPI 3)
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    async def swagger_ui_oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=_root_path(request) + app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(request, "redoc.standalone.js"),
            redoc_favicon_url=asset(request, "favicon.png"),
            with_google_fonts=False,
        )

    async def redoc_js(request: Request) -> Response:
        headers = {"Cache-Control": ASSETS_CACHE_CONTROL}
        return Response(_offline_redoc_bundle(), media_type="text/javascript; charset=utf-8", headers=headers)

    app.add_route(DOCS_URL, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, swagger_ui_oauth2_redirect, include_in_schema=False)
    app.add_route(REDOC_URL, redoc, include_in_schema=False)
    app.add_route(f"{ASSETS_URL}/redoc.standalone.js", redoc_js, include_in_schema=False)  # before the mount
    app.mount(ASSETS_URL, _CacheableStaticFiles(directory=ASSETS_DIR), name="api_docs_assets")


@functools.cache
def _offline_redoc_bundle() -> bytes:
    return (ASSETS_DIR / "redoc.standalone.js").read_bytes().replace(_REDOC_LOGO_URL, _NO_IMAGE_URL)


def _root_path(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")
