"""Which pipelines have an active anomaly rule, kept in memory so a successful end can decide at no
cost whether to queue detection. Refreshed after rule changes here and periodically for other processes;
the sweep catches anything a stale view missed."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db.engine import Database
from ..pipelines.tables import pipeline
from .tables import anomaly_detection_rule as rule


class RuleIndex:
    def __init__(self) -> None:
        self.pipelines: frozenset[int] = frozenset()
        self.newest_pipeline = 0  # the highest pipeline id when the view was read

    async def refresh(self, db: Database) -> None:
        async with db.read() as conn:
            found = await conn.execute(select(rule.c.pipeline_id).where(rule.c.active.is_(True)).distinct())
            newest = (await conn.execute(select(func.max(pipeline.c.id)))).scalar() or 0
        self.pipelines, self.newest_pipeline = frozenset(found.scalars()), newest

    def may_watch(self, pipeline_id: int, new_pipelines_have_rules: bool) -> bool:
        """Whether the pipeline may have an active rule. With WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES
        on, a pipeline created since the last refresh (by another process) is not known here yet but
        has rules: detection checks its ends at once instead of leaving them to the minute's sweep."""
        return pipeline_id in self.pipelines or (new_pipelines_have_rules and pipeline_id > self.newest_pipeline)
