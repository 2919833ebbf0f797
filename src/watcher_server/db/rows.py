"""Row helpers shared by the registries: fetch-or-404 and PATCH by id or name (contract §5, §6.3, §8)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.clock import CLOCK
from ..core.errors import Conflict, NotFound
from ..core.ids import fits_int32


async def require_row(conn: AsyncConnection, table, row_id: int, missing: str, columns=None):
    """The row with this int32 id, or NotFound(missing); ids that cannot exist never reach SQL."""
    if not fits_int32(row_id):
        raise NotFound(missing)
    row = (await conn.execute(select(*(columns or (table,))).where(table.c.id == row_id))).first()
    if row is None:
        raise NotFound(missing)
    return row


async def patch_row(conn: AsyncConnection, table, row_id: int | None, name: str | None, changes: dict[str, Any], missing: str, taken: str):
    """Partial update by id (a given name is then a rename) or by name; sets updated_at."""
    if row_id is not None:
        if not fits_int32(row_id):
            raise NotFound(missing)
        key = table.c.id == row_id
        if (await conn.execute(select(table.c.id).where(key))).first() is None:
            raise NotFound(missing)  # an unknown id is "not found", whatever name it asks for
        if name is not None:
            clash = await conn.execute(select(table.c.id).where(and_(table.c.name == name, table.c.id != row_id)))
            if clash.first() is not None:
                raise Conflict(taken)
    else:
        key = table.c.name == name
        changes.pop("name", None)
    changes["updated_at"] = CLOCK.now()
    try:
        row = (await conn.execute(update(table).where(key).values(**changes).returning(table))).first()
    except IntegrityError:  # a concurrent rename won the name between our check and the update
        raise Conflict(taken) from None
    if row is None:
        raise NotFound(missing)
    return row
