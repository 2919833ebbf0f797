"""Which pipelines have an active anomaly rule, kept in memory so a successful end can decide at no
cost whether to queue detection. Refreshed after rule changes here and periodically for other processes;
the sweep catches anything a stale view missed."""

from __future__ import annotations

from sqlalchemy import exists, select

from ..db.engine import Database
from ..pipelines.tables import pipeline
from .tables import anomaly_detection_rule as rule

_ACTIVE = exists().where(rule.c.pipeline_id == pipeline.c.id, rule.c.active.is_(True))
_WATCHED = select(pipeline.c.id).where(_ACTIVE)
_EVERY_PIPELINE = select(pipeline.c.id, _ACTIVE.label("watched"))


class RuleIndex:
    def __init__(self, new_pipelines_have_rules: bool = False) -> None:
        # WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES: every new pipeline is created with active rules
        self.new_pipelines_have_rules = new_pipelines_have_rules
        self.pipelines: frozenset[int] = frozenset()  # with an active rule when last read
        self.unwatched: frozenset[int] = frozenset()  # with auto rules: without one when last read

    async def refresh(self, db: Database) -> None:
        async with db.read() as conn:
            if not self.new_pipelines_have_rules:
                self.pipelines = frozenset((await conn.execute(_WATCHED)).scalars())
                return
            # One statement, so one snapshot: a pipeline it does not show is simply unknown here.
            # ("Newer than the highest id read" is not the same: ids are handed out before commit, so a
            # pipeline can commit after a read that saw a higher id.)
            found = (await conn.execute(_EVERY_PIPELINE)).all()
        self.pipelines = frozenset(row.id for row in found if row.watched)
        self.unwatched = frozenset(row.id for row in found if not row.watched)

    def may_watch(self, pipeline_id: int) -> bool:
        """Whether the pipeline may have an active rule. With auto rules, a pipeline created since the
        last read (by this process or another) has rules: its ends are checked at once instead of being
        left to the minute's sweep."""
        return pipeline_id in self.pipelines or (self.new_pipelines_have_rules and pipeline_id not in self.unwatched)
