"""The last finished run of each background check (check_run), and the log line it gets."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from ..db.engine import Database
from ..db.upsert import dialect_insert
from .tables import check_run

log = logging.getLogger("watcher.checks")


async def record_check_run(db: Database, check: str, finished_at: dt.datetime, seconds: float, result: Any = None) -> None:
    """Stamp the check's row (read by /metrics) and log the run with its counts and duration."""
    values = {"finished_at": finished_at, "duration_seconds": seconds}
    statement = dialect_insert(db.dialect, check_run).values(check_name=check, **values)
    async with db.single_statement() as conn:
        await conn.execute(statement.on_conflict_do_update(index_elements=["check_name"], set_=values))
    counts = summary(result)
    log.info(
        "check %s finished in %.0f ms%s",
        check,
        seconds * 1000,
        "".join(f" {key}={value}" for key, value in counts.items()),
        extra={"check": check, "duration_ms": round(seconds * 1000, 1), **counts},
    )


def summary(result: Any) -> dict[str, Any]:
    """A run's result as flat counts for a log line: numbers and words as they are, lists by length."""
    if isinstance(result, bool) or result is None:
        return {}
    if isinstance(result, int):
        return {"count": result}
    if not isinstance(result, dict):
        return {}
    counts: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, (list, tuple)):
            counts[key] = len(value)
        elif isinstance(value, (int, float, str)) and not key.endswith("_at"):
            counts[key] = value
    return counts
