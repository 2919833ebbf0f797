"""Every API and storage test runs on SQLite and on PostgreSQL, each on a fresh database.

A migrated template is built once per session per backend; each test gets its own copy
(a file copy for SQLite, CREATE DATABASE ... TEMPLATE for PostgreSQL), so tests never share rows
and ids start at 1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from watcher_server.app import create_app
from watcher_server.core.clock import CLOCK
from watcher_server.db.engine import Database, create_engine
from watcher_server.db.migrate import upgrade
from watcher_server.services import Services
from watcher_server.settings import Settings

PG_ADMIN_URL = os.environ.get("WATCHER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# One template per test session, so concurrent runs on one server (a developer and CI) never drop each other's.
TEMPLATE = f"watcher_test_template_{os.getpid()}"


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(scope="session")
def postgres_template():
    async def build():
        try:
            admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
        except Exception as exc:  # fail loudly: PostgreSQL tests are not optional
            pytest.fail(f"PostgreSQL is required for the test suite and is unreachable at {PG_ADMIN_URL}: {exc}")
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await admin.close()

    async def drop():
        admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
        finally:
            await admin.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, build()).result()
    upgrade(_pg_url(TEMPLATE))
    yield TEMPLATE
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, drop()).result()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


@pytest.fixture
async def database_url(request, backend, tmp_path):
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "watcher.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"watcher_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    finally:
        await admin.close()
    yield _pg_url(name)
    admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
def settings(request, database_url) -> Settings:
    """The app's settings; a test changes some with `@pytest.mark.settings(name=value, ...)`."""
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    return Settings(**{"database_url": database_url, "db_pool_size": 25, "db_max_overflow": 25, "scheduler_enabled": False, **overrides})


@pytest.fixture(autouse=True)
def clock():
    """The process's one clock; `clock.freeze(moment)` stops time for the app and the jobs alike."""
    CLOCK.freeze(None)
    yield CLOCK
    CLOCK.freeze(None)


@pytest.fixture
async def app(settings):
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://watcher.test") as http:
        yield http


@pytest.fixture
async def services(app) -> Services:
    """The app's Services: its database, settings, job queue and rule index."""
    return app.state.services


@pytest.fixture
async def db(services) -> Database:
    """Direct SQL access to the same database the app uses (for the user's own SQL queries)."""
    return services.db


@pytest.fixture
async def standalone_db(database_url):
    """A Database on a fresh migrated database, for storage tests without the app."""
    engine = create_engine(database_url)
    yield Database(engine)
    await engine.dispose()
