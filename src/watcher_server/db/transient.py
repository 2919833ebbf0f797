"""Which database failures mean "try again shortly" (503 with Retry-After) rather than a fault (500)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .engine import DatabaseBusy

# Class 08: connection exceptions (lost, refused, never established).
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08"})
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization failure
        "40P01",  # deadlock detected
        "55P03",  # lock not available (lock_timeout)
        "57014",  # query cancelled (statement_timeout)
        "57P01",  # admin shutdown: the server is stopping
        "57P02",  # crash shutdown
        "57P03",  # cannot connect now: the server is starting up or shutting down
        "53300",  # too many connections
        "53400",  # configuration limit exceeded
    }
)


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    return state if isinstance(state, str) else None


def _is_psycopg_operational(exc: BaseException) -> bool:
    """psycopg (the scale-out queue's driver) raises OperationalError without a SQLSTATE when the
    server cannot be reached; checked by name so psycopg stays an optional dependency."""
    kind = type(exc)
    return kind.__name__ == "OperationalError" and kind.__module__.startswith("psycopg")


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or what it wraps, says the database is briefly unavailable: a restart, a
    frozen or unreachable server, a lock or statement timeout, a full pool, a lost connection."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DatabaseBusy, PoolTimeout, OSError, TimeoutError)) or _is_psycopg_operational(current):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = _sqlstate(current)
        if state and (state in TRANSIENT_SQLSTATES or state[:2] in TRANSIENT_SQLSTATE_CLASSES):
            return True
        # follow what the error wraps (SQLAlchemy's .orig, a raise ... from), not what it was raised during
        current = getattr(current, "orig", None) or current.__cause__
    return False
