"""Bounded connections (issue 12, point 4): on PostgreSQL a process's pool grows under a burst and shrinks
back when idle, and the default sizes let two API instances and a worker share max_connections = 100."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from sqlalchemy import text

from tests.conftest import _asyncpg_dsn
from watcher_server.cli import worker as worker_command
from watcher_server.db.engine import Database, ShrinkingPool, create_engine, pool_limits
from watcher_server.jobs.scale_out import API_QUEUE_CONNECTIONS, worker_connections
from watcher_server.settings import Settings

POSTGRESQL_ONLY = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
IDLE_SECONDS = 0.5


async def _held(database_url: str) -> int:
    """Connections the engine under test holds (application_name 'watcher'), seen from outside it."""
    conn = await asyncpg.connect(_asyncpg_dsn(database_url))
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'watcher'"
        )
    finally:
        await conn.close()


async def _burst(db: Database, clients: int) -> None:
    async def client() -> None:
        async with db.read() as conn:
            await conn.execute(text("SELECT pg_sleep(0.1)"))

    await asyncio.gather(*(client() for _ in range(clients)))


async def _until(predicate, seconds: float) -> float:
    """Seconds until the async predicate held; fails past `seconds`."""
    started = time.monotonic()
    while not await predicate():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


@POSTGRESQL_ONLY
async def test_a_burst_grows_the_pool_and_idleness_shrinks_it_back(database_url):
    db = Database(create_engine(database_url, pool_size=8, max_overflow=0, pool_idle_seconds=IDLE_SECONDS))
    try:
        await _burst(db, 8)
        assert await _held(database_url) == 8, "the burst used the whole pool"
        waited = await _until(lambda: _count_is(database_url, 0), IDLE_SECONDS + 2)
        assert waited >= IDLE_SECONDS * 0.5, "connections were closed before they had been idle"
        assert db.engine.sync_engine.pool.checkedin() == 0
        await _burst(db, 8)  # the pool grows again after shrinking: its accounting stayed right
        assert await _held(database_url) == 8
    finally:
        await db.dispose()
    assert await _held(database_url) == 0


@POSTGRESQL_ONLY
async def test_light_traffic_after_a_burst_keeps_one_warm_connection(database_url):
    db = Database(create_engine(database_url, pool_size=8, max_overflow=0, pool_idle_seconds=IDLE_SECONDS))
    try:
        await _burst(db, 8)
        deadline = time.monotonic() + IDLE_SECONDS * 4
        while time.monotonic() < deadline:  # one request at a time: the same connection serves them all
            await db.ping()
            await asyncio.sleep(0.02)
        assert await _held(database_url) == 1
    finally:
        await db.dispose()


@POSTGRESQL_ONLY
async def test_the_app_pool_with_default_settings_shrinks(database_url):
    settings = Settings(database_url=database_url)
    db = Database(create_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow))
    try:
        pool = db.engine.sync_engine.pool
        assert isinstance(pool, ShrinkingPool) and (pool.size(), pool._max_overflow) == (15, 0)
        assert pool.idle_seconds == 30
        pool.idle_seconds = IDLE_SECONDS  # the default, 30 s, is too long to wait for here
        await _burst(db, 20)  # more clients than connections: they wait for one instead of opening more
        assert await _held(database_url) == 15
        await _until(lambda: _count_is(database_url, 0), IDLE_SECONDS + 2)
    finally:
        await db.dispose()


async def _count_is(database_url: str, expected: int) -> bool:
    return await _held(database_url) == expected


def test_sqlite_keeps_its_pool(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'watcher.db'}")
    pool = engine.sync_engine.pool
    assert not isinstance(pool, ShrinkingPool) and (pool.size(), pool._max_overflow) == (30, 10)
    assert pool_limits("sqlite:///watcher.db") == (30, 10)
    assert pool_limits("postgresql://u@h/d", 7, None) == (7, 0)


def test_two_api_instances_and_a_worker_fit_in_max_connections_100():
    """docs/operations.md, "Sizing connections": the worst case with every default, every pool full."""
    settings = Settings(database_url="postgresql://watcher@db/watcher", job_queue="procrastinate")
    pool, overflow = pool_limits(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    per_api_process = pool + overflow + API_QUEUE_CONNECTIONS
    concurrency = next(p.default for p in worker_command.params if p.name == "concurrency")
    cleanup, superuser_reserved = 2, 3  # `watcher cleanup` opens two; PostgreSQL keeps three for superusers
    worst = 2 * 2 * per_api_process + worker_connections(concurrency) + cleanup
    assert (per_api_process, worker_connections(concurrency), worst) == (17, 16, 86)
    assert worst <= 100 - superuser_reserved
