"""What one process shares: the database, settings, the clock, the job queue, the rule index.

Built once by the app's lifespan (and by `watcher worker`); routers reach its parts through typed
FastAPI dependencies (http.py), jobs receive it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from .anomalies.rule_index import RuleIndex
from .core.clock import CLOCK, Clock
from .db.engine import Database
from .settings import Settings


class JobQueue(Protocol):
    """Where jobs go: the embedded runner, or Procrastinate's job table in scale-out mode."""

    def enqueue(self, name: str, **kwargs: Any) -> None:
        """Run the job soon, in the background."""

    async def run_now(self, name: str, **kwargs: Any) -> Any:
        """Run the job here and now (after any run of it in progress) and return its result."""

    async def snapshot(self) -> dict[str, dict[str, int]]:
        """Pending, running and recently failed runs per job."""


@dataclass
class Services:
    db: Database
    settings: Settings
    webhook_client: httpx.AsyncClient
    clock: Clock = CLOCK
    rule_index: RuleIndex | None = None  # built from the settings when not given
    jobs: JobQueue | None = None  # set once the queue exists (it runs jobs with these services)

    def __post_init__(self) -> None:
        if self.rule_index is None:
            self.rule_index = RuleIndex(self.settings.auto_create_anomaly_detection_rules)
