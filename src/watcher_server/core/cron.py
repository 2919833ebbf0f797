"""Cron schedules, computed by APScheduler's CronTrigger (no hand-written cron parsing)."""

from __future__ import annotations

import datetime as dt

from apscheduler.triggers.cron import CronTrigger


def parse_cron(expression: str) -> CronTrigger:
    """A 5-field UTC cron expression, or ValueError naming the fix."""
    try:
        return CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r} ({exc}); use 5 fields such as '*/15 * * * *'") from None


def next_fire(trigger: CronTrigger, after: dt.datetime) -> dt.datetime:
    """The first tick strictly after `after`."""
    return trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1)).astimezone(dt.UTC)
