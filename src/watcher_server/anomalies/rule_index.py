"""Which pipelines have an active anomaly rule, kept in memory so a successful end can decide at no
cost whether to queue detection. Refreshed after rule changes here and periodically for other processes;
the sweep catches anything a stale view missed."""

from __future__ import annotations

from sqlalchemy import select

from ..db.engine import Database
from .tables import anomaly_detection_rule as rule


class RuleIndex:
    def __init__(self) -> None:
        self.pipelines: frozenset[int] = frozenset()

    async def refresh(self, db: Database) -> None:
        async with db.read() as conn:
            found = await conn.execute(select(rule.c.pipeline_id).where(rule.c.active.is_(True)).distinct())
            self.pipelines = frozenset(found.scalars())
