"""Create-or-get that is idempotent under concurrency (contract §2.11).

Look up first (a "get" consumes no id); insert with ON CONFLICT DO NOTHING; if another client won
the race, read the winner's row. Both backends support this statement shape.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def dialect_insert(dialect_name: str, table: Table):
    """An INSERT with ON CONFLICT support: both backends spell it alike, each dialect builds its own."""
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table, conflict_columns: list[str]):
    return dialect_insert(conn.dialect.name, table).on_conflict_do_nothing(index_elements=conflict_columns)


async def get_or_create(conn: AsyncConnection, table: Table, key: dict[str, Any], values: dict[str, Any]) -> tuple[int, bool]:
    """Return (id, created) for the row identified by `key`, inserting `key | values` if missing."""
    where = [table.c[column] == value for column, value in key.items()]
    found = (await conn.execute(select(table.c.id).where(*where))).scalar()
    if found is not None:
        return found, False
    statement = insert_ignoring_conflicts(conn, table, list(key)).values(**key, **values).returning(table.c.id)
    inserted = (await conn.execute(statement)).scalar()
    if inserted is not None:
        return inserted, True
    return (await conn.execute(select(table.c.id).where(*where))).scalar_one(), False
