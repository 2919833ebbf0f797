"""How long any wait for the database may last (read by settings, so free of SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LOCK_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class DbTimeouts:
    """Bounds on every wait for the database, so a slow, locked or frozen database answers 503, never hangs.

    `statement` is PostgreSQL's statement_timeout; the client stops waiting `CLIENT_GRACE_SECONDS` later,
    because a frozen server (SIGSTOP, a stalled disk, a dead network path) never sends the cancel.
    None leaves statements unbounded (`watcher cleanup`, migrations).
    """

    lock: float = DEFAULT_LOCK_TIMEOUT_SECONDS
    statement: float | None = 6.0
    connect: float = 3.0
    pool: float = 3.0

    CLIENT_GRACE_SECONDS = 1.0

    @property
    def client_statement(self) -> float | None:
        return None if self.statement is None else self.statement + self.CLIENT_GRACE_SECONDS
