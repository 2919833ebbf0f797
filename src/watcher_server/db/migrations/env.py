"""Alembic environment: runs migrations over the async engine on SQLite and PostgreSQL alike."""

import asyncio

from alembic import context
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from watcher_server.all_tables import load_all_tables
from watcher_server.db.urls import async_url

# Serialises concurrent `watcher serve` start-ups on one PostgreSQL database.
MIGRATION_LOCK_KEY = 0x57A7C4E5

target_metadata = load_all_tables()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
                await connection.commit()
            try:
                await connection.run_sync(_run)
                await connection.commit()
            finally:
                if postgres:
                    await connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                    await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run `watcher db upgrade` against a database.")

asyncio.run(_run_async(context.config.get_main_option("sqlalchemy.url")))
