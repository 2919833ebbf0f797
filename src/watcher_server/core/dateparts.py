"""Date parts and calendar arithmetic (contract §2.7): the only place "T + N x part" is computed."""

from __future__ import annotations

import calendar
import datetime as dt

DATEPARTS: tuple[str, ...] = ("minute", "hour", "day", "week", "month", "quarter", "year")

_FIXED_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def add_dateparts(moment: dt.datetime, number: int, part: str) -> dt.datetime:
    """Return ``moment + number x part``; calendar parts clamp to the target month's last day."""
    if part in _FIXED_SECONDS:
        return moment + dt.timedelta(seconds=number * _FIXED_SECONDS[part])
    months = number * _MONTHS[part]
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# The shortest span one unit of each part can cover (February, a three-month run with February, a
# non-leap year): N x part is never shorter than N x this, so a run shorter than it is certainly on time.
SHORTEST_SECONDS = {**_FIXED_SECONDS, "month": 28 * 86400, "quarter": 89 * 86400, "year": 365 * 86400}

# One unit of each part as a plain number of seconds, for writing a duration in a rule's unit
# ("28.72 minutes", "1.5 months"): a month is 30 days, a quarter 90, a year 365 (contract §12.2).
NOMINAL_SECONDS = {**_FIXED_SECONDS, "month": 30 * 86400, "quarter": 90 * 86400, "year": 365 * 86400}
