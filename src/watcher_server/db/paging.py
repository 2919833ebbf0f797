"""One page of a list: limit, offset and order by id (contract §2.9)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Select

from .engine import Database

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    order: Literal["asc", "desc"] = "asc"

    def apply(self, statement: Select, id_column) -> Select:
        ordering = id_column.desc() if self.order == "desc" else id_column.asc()
        return statement.order_by(ordering).limit(self.limit).offset(self.offset)

    async def fetch(self, db: Database, statement: Select, id_column) -> list:
        """This page of `statement`, ordered by `id_column`, read in its own transaction."""
        async with db.read() as conn:
            return (await conn.execute(self.apply(statement, id_column))).all()
