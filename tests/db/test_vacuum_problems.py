"""Start-up names what keeps PostgreSQL from vacuuming Watcher's tables, with the fix (db/vacuum.py)."""

import asyncio
import logging

import pytest
from sqlalchemy import text

from watcher_server import cli
from watcher_server.db.vacuum import database_vacuum_problems


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_table_with_autovacuum_disabled_is_named_with_the_statement_that_enables_it_again(database_url, standalone_db):
    async with standalone_db.write() as conn:
        await conn.execute(text("ALTER TABLE pipeline_execution SET (autovacuum_enabled = off)"))
    problems = await database_vacuum_problems(database_url)
    [named] = [p for p in problems if "pipeline_execution" in p]
    assert "ALTER TABLE pipeline_execution RESET (autovacuum_enabled);" in named

    async with standalone_db.write() as conn:
        await conn.execute(text("ALTER TABLE pipeline_execution RESET (autovacuum_enabled)"))
        await conn.execute(text("ALTER TABLE pipeline SET (autovacuum_enabled = true)"))  # explicitly on is fine
    assert not [p for p in await database_vacuum_problems(database_url) if "table(s)" in p]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_autovacuum_off_on_the_server_is_reported_exactly_when_it_is_off(database_url, standalone_db):
    # The server's own setting (postgresql.conf) cannot be changed by a test: the report must follow it.
    async with standalone_db.read() as conn:
        settings = {name: (await conn.execute(text(f"SHOW {name}"))).scalar() for name in ("autovacuum", "track_counts")}
    problems = await database_vacuum_problems(database_url)
    for name, value in settings.items():
        reported = [p for p in problems if p.startswith(f"PostgreSQL's {name} is off")]
        assert len(reported) == (value != "on")
        assert all(f"`{name} = on`" in p for p in reported)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_sqlite_has_nothing_to_vacuum(database_url):
    assert await database_vacuum_problems(database_url) == []


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_start_up_logs_each_vacuum_problem_as_a_warning(settings, standalone_db, caplog):
    async with standalone_db.write() as conn:
        await conn.execute(text("ALTER TABLE alert SET (autovacuum_enabled = false)"))
    with caplog.at_level(logging.WARNING, logger="watcher"):
        await asyncio.to_thread(cli._prepare_database, settings)  # as `watcher serve` and `watcher worker` do
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "watcher"]
    assert any("ALTER TABLE alert RESET (autovacuum_enabled);" in w for w in warnings)
