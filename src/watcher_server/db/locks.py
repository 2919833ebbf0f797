"""Named, transaction-scoped locks: work under one name never overlaps, across processes."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def exclusive(conn: AsyncConnection, name: str) -> None:
    """Hold the lock `name` until the transaction ends. PostgreSQL: an advisory lock; SQLite has a
    single writer already (Database.write)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"watcher:{name}"})
