"""Whether PostgreSQL will vacuum Watcher's tables.

Every end rewrites its execution row and anomaly detection stamps it again, so a busy Watcher leaves
dead row versions behind at the rate it serves requests. Without autovacuum they pile up, and every
lookup reads through more of them, so throughput falls the longer the load lasts (docs/operations.md,
"Keep autovacuum on"). `watcher serve` and `watcher worker` log what this module finds, with the fix.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from .engine import create_engine
from .timeouts import DbTimeouts

# Tables of the current schema whose autovacuum_enabled storage parameter is false.
_TABLES_NOT_VACUUMED = text(
    """
    SELECT c.relname FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL pg_options_to_table(c.reloptions) o
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
      AND o.option_name = 'autovacuum_enabled' AND NOT o.option_value::boolean
    ORDER BY c.relname
    """
)


async def vacuum_problems(conn: AsyncConnection) -> list[str]:
    """What keeps PostgreSQL's autovacuum from this database's tables, each with its fix; none on SQLite,
    which reuses freed pages by itself."""
    if conn.dialect.name != "postgresql":
        return []
    problems = []
    for setting in ("autovacuum", "track_counts"):  # autovacuum needs both
        if (await conn.execute(text(f"SHOW {setting}"))).scalar() != "on":
            problems.append(
                f"PostgreSQL's {setting} is off, so nothing vacuums Watcher's tables: dead row versions pile up "
                f"and requests slow down as they do. Set `{setting} = on` in postgresql.conf and reload PostgreSQL."
            )
    tables = list((await conn.execute(_TABLES_NOT_VACUUMED)).scalars())
    if tables:
        resets = " ".join(f"ALTER TABLE {table} RESET (autovacuum_enabled);" for table in tables)
        problems.append(f"autovacuum is disabled on table(s) {', '.join(tables)}, so their dead row versions pile up. Run: {resets}")
    return problems


async def database_vacuum_problems(database_url: str, timeouts: DbTimeouts = DbTimeouts()) -> list[str]:
    """vacuum_problems on a connection of its own (start-up checks, before any pool exists), every wait
    bounded as the server's are, so a frozen database cannot hold start-up on a warning."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0, timeouts=timeouts)
    try:
        async with engine.connect() as conn:
            return await vacuum_problems(conn)
    finally:
        await engine.dispose()
