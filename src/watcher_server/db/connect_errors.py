"""Why a database could not be reached, in one line that names the URL and the likely fix."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from sqlalchemy.engine import make_url

from .urls import canonical_url

# PostgreSQL SQLSTATEs met when connecting: what each means and what to do.
_PG_STATES = {
    "3D000": "the database {database!r} does not exist: create it (e.g. `createdb -h {host} -p {port} -U {user} {database}`) "
    "or fix the database name in WATCHER_DATABASE_URL",
    "28000": "PostgreSQL refused the role {user!r} (no such role, or pg_hba.conf does not allow it): "
    "create the role or fix the user name in WATCHER_DATABASE_URL",
    "28P01": "password authentication failed for user {user!r}: fix the password in WATCHER_DATABASE_URL",
    "53300": "PostgreSQL has no free connection slot (max_connections reached): lower WATCHER_DB_POOL_SIZE or --workers, "
    "or raise max_connections",
    "57P03": "PostgreSQL is starting up or shutting down: try again in a few seconds",
}


def redacted(database_url: str) -> str:
    return make_url(canonical_url(database_url)).render_as_string(hide_password=True)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]
        todo += [arg for arg in getattr(current, "exceptions", ()) if isinstance(arg, BaseException)]


def explain(exc: BaseException, database_url: str) -> str | None:
    """A one-line explanation of a connection failure, or None when `exc` is not one."""
    url = make_url(canonical_url(database_url))
    where = redacted(database_url)
    facts = {"database": url.database, "user": url.username or "(default)", "host": url.host or "localhost", "port": url.port or 5432}
    for cause in _chain(exc):
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if state in _PG_STATES:
            return f"cannot use the database at {where}: {_PG_STATES[state].format(**facts)}"
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return f"cannot reach the database at {where}: the host name {facts['host']!r} does not resolve; fix the host in WATCHER_DATABASE_URL"
        if isinstance(cause, ConnectionRefusedError):
            return (
                f"cannot reach the database at {where}: nothing accepts connections on {facts['host']}:{facts['port']}; "
                "start PostgreSQL there or fix the host and port in WATCHER_DATABASE_URL"
            )
        if isinstance(cause, TimeoutError):
            return f"cannot reach the database at {where}: connecting timed out; check the host, the port and any firewall"
        if isinstance(cause, OSError) and not isinstance(cause, ConnectionError) and cause.errno is not None:
            return f"cannot reach the database at {where}: {cause.strerror or cause}"
        text = str(cause)
        if "unable to open database file" in text:
            return (
                f"cannot open the SQLite database at {where}: the file or its directory is not writable or does not exist; "
                "fix the path in WATCHER_DATABASE_URL or the directory's permissions"
            )
        if "database is locked" in text:
            return f"the SQLite database at {where} is locked by another process; stop it or raise WATCHER_DB_LOCK_TIMEOUT_SECONDS"
    return None
