"""Database URLs: users may give any SQLAlchemy URL; we always run the async driver."""

from __future__ import annotations

from sqlalchemy.engine import make_url

_ASYNC_DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}


class UnsupportedDatabase(ValueError):
    pass


def canonical_url(database_url: str) -> str:
    """`postgres://` (Heroku, many hosting services, libpq) is the same as `postgresql://`."""
    scheme, separator, rest = database_url.partition("://")
    if separator and scheme.lower().split("+")[0] == "postgres":
        return "postgresql" + scheme[len("postgres") :] + separator + rest
    return database_url


def async_url(database_url: str) -> str:
    """`postgresql://`, `postgresql+psycopg://`, `sqlite:///x.db`... -> the matching async driver URL."""
    try:
        url = make_url(canonical_url(database_url))
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise UnsupportedDatabase(
            f"{database_url!r} is not a database URL; use e.g. sqlite:///watcher.db or postgresql://user@host:5432/db"
        ) from exc
    backend = url.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise UnsupportedDatabase(f"{backend!r} databases are not supported; use a sqlite:// or postgresql:// URL")
    return url.set(drivername=f"{backend}+{_ASYNC_DRIVERS[backend]}").render_as_string(hide_password=False)


def backend_name(database_url: str) -> str:
    return make_url(async_url(database_url)).get_backend_name()
