"""Transaction-scoped locks: named ones (work under one name never overlaps, across processes) and row locks."""

from collections.abc import Iterable

from sqlalchemy import Select, text
from sqlalchemy.ext.asyncio import AsyncConnection


async def exclusive(conn: AsyncConnection, name: str) -> None:
    """Hold the lock `name` until the transaction ends. PostgreSQL: an advisory lock; SQLite has a
    single writer already (Database.write)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"watcher:{name}"})


async def exclusive_all(conn: AsyncConnection, names: Iterable[str]) -> None:
    """Hold every lock in `names` until the transaction ends, taken in one statement and in one global
    order (by hash), so two transactions taking overlapping sets never wait on each other in a cycle."""
    keys = list({f"watcher:{name}" for name in names})
    if conn.dialect.name == "postgresql" and keys:
        await conn.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(h)) FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS held"
            ),
            {"keys": keys},
        )


def locking_rows(statement: Select) -> Select:
    """The statement locking the rows it reads until the transaction ends, as an UPDATE that keeps their
    keys does (PostgreSQL: FOR NO KEY UPDATE). It still serialises every writer of those rows, but not
    a foreign key check: FOR UPDATE also blocked inserting a child execution (or its closure rows) of
    a row held by, say, an anomaly check, for as long as the check ran. SQLite has a single writer."""
    return statement.with_for_update(key_share=True)
