"""create_app(settings): the only place that wires routers, lifespan and middleware."""

from __future__ import annotations

import contextlib
import gc

from fastapi import FastAPI
from fastapi.routing import APIRoute

from . import __version__
from .alerts.delivery import webhook_client
from .alerts.router import router as alerts_router
from .anomalies.router import router as anomaly_router
from .api_docs import install_api_docs
from .auth import BearerTokenAuth, BodySizeLimit, Tokens
from .db.engine import open_database
from .errors import install_error_handlers
from .executions.router import router as executions_router
from .health.router import router as health_router
from .http import LeanRoute
from .jobs.router import router as jobs_router
from .jobs.runner import JobRunner
from .lineage.router import router as lineage_router
from .metrics import router as metrics_router
from .monitoring.router import router as monitoring_router
from .openapi_errors import document_errors
from .openlineage.router import router as openlineage_router
from .pipelines.router import router as pipelines_router
from .request_observer import RequestObserver
from .services import Services
from .settings import Settings
from .web.router import install_pages

DESCRIPTION = (
    "Watcher records pipelines, their executions, watermarks and nested runs. "
    "The API is compatible with the public Watcher project and its `etl-watcher-sdk`."
)


class WatcherAPI(FastAPI):
    def build_middleware_stack(self):
        # BodySizeLimit outside Starlette's stack, so a declared oversized body gets our JSON 413 before
        # Starlette's plain-text one; RequestObserver outermost, so every answer (401, 413 included)
        # carries X-Request-ID and is logged and counted.
        stack = BodySizeLimit(super().build_middleware_stack(), max_bytes=self.state.settings.max_body_bytes)
        return RequestObserver(stack)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        db = open_database(settings.database_url, settings.db_pool_size, settings.db_max_overflow, settings.db_timeouts)
        async with webhook_client(settings) as client, contextlib.AsyncExitStack() as stack:
            services = app.state.services = Services(db=db, settings=settings, webhook_client=client)
            with contextlib.suppress(Exception):  # an unreachable database must not stop start-up; /ready reports it
                await services.rule_index.refresh(db)
            runner = JobRunner(services)
            if settings.job_queue == "procrastinate":
                from .jobs.scale_out import open_queue  # only scale-out needs Procrastinate and psycopg

                # Scale-out: `watcher worker` processes run queued and periodic jobs; this process only
                # defers them (and runs `?wait=true` requests itself).
                services.jobs = await stack.enter_async_context(open_queue(settings, runner))
                runner.start(deployment_jobs=False)
            else:
                services.jobs = runner
                runner.start(deployment_jobs=settings.scheduler_enabled)
            try:
                yield
            finally:
                await runner.stop(grace_seconds=settings.shutdown_timeout_seconds)
                await stack.aclose()
                await db.dispose()

    # strict_content_type=False: a body without Content-Type is read as JSON (the SDK sends some that way)
    app = WatcherAPI(
        title="Watcher",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        strict_content_type=False,
        max_body_size=settings.max_body_bytes,  # 413 for streamed bodies; BodySizeLimit answers declared ones
        docs_url=None,  # /docs and /redoc: install_api_docs, with assets served locally
        redoc_url=None,
    )
    app.state.settings = settings  # for the middleware stack, built before the lifespan runs
    app.state.tokens = tokens = Tokens(settings.write_tokens, settings.read_tokens, settings.session_secret, settings.session_hours * 3600)
    install_error_handlers(app)
    install_api_docs(app)
    # Matched in this order, route by route, on every request: the busiest first (their paths are unique).
    routers = (
        health_router, pipelines_router, executions_router, openlineage_router, lineage_router, monitoring_router, anomaly_router, alerts_router,
        jobs_router, metrics_router,
    )  # fmt: skip
    for router in routers:
        _mount_routes(app, router)
    _lean_routes(app, settings.max_body_bytes)
    document_errors(app)
    install_pages(app)
    if tokens.configured:
        app.add_middleware(BearerTokenAuth, tokens=tokens)
    return app


def _mount_routes(app: FastAPI, router) -> None:
    """Add a router's routes to the app itself. include_router() keeps each router behind a wrapper
    that is matched route by route on every request (about 5 % of CPU on the hot paths)."""
    app.router.routes.extend(router.routes)


# The routes every pipeline run calls: answered by LeanRoute, ahead of (and falling back to) their
# FastAPI routes, which stay for the OpenAPI document and for every answer but the usual one.
LEAN_ROUTES = (("POST", "/pipeline"), ("POST", "/start_pipeline_execution"), ("POST", "/end_pipeline_execution"))


def _lean_routes(app: FastAPI, max_body_bytes: int) -> None:
    found = {(method, route.path): route for route in app.router.routes if isinstance(route, APIRoute) for method in route.methods}
    for key in LEAN_ROUTES:
        if not LeanRoute.fits(found[key]):
            raise RuntimeError(f"{key} takes more than a JSON body and services: it cannot be a LeanRoute")
    app.router.routes[:0] = [LeanRoute(found[key], max_body_bytes) for key in LEAN_ROUTES]


def app_factory() -> FastAPI:
    """Entry point for uvicorn workers (`--factory`): settings come from the environment."""
    app = create_app(Settings())
    _tune_garbage_collector()
    return app


def _tune_garbage_collector() -> None:
    """Long-lived server objects never need collecting: freeze them, and collect young objects less
    often. Full collections over the whole heap were the source of 100+ ms latency spikes."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
