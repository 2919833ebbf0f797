"""The one clock: every "now" in Watcher comes from CLOCK, so tests can stop time everywhere at once."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


class Clock:
    def __init__(self) -> None:
        self._frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        """The current time, aware, in UTC (or the moment the clock was frozen at)."""
        return self._frozen if self._frozen is not None else dt.datetime.now(UTC)

    def freeze(self, moment: dt.datetime | None) -> None:
        """Stop the clock at `moment`; None lets it run again."""
        self._frozen = moment


CLOCK = Clock()
