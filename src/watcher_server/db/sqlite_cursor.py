"""SQLite statements in one thread hop.

aiosqlite runs each call in the connection's thread, and SQLAlchemy's adapter makes four calls per
statement (open a cursor, execute, fetch, close). Each hop returns to the event loop, which runs its
other ready work before the statement goes on, and a writer holds SQLite's write lock (and the file
lock all processes share, file_lock.py) through every one of them: with two workers, writers spent
most of their time waiting for each other. Here a statement is one call: execute, fetch and close
happen together in the connection's thread, and the adapted cursor keeps what they left.
"""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT


class _Finished:
    """The parts of a closed sqlite3 cursor that SQLAlchemy reads after a statement."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, description=None, rowcount: int = -1, lastrowid: int | None = None) -> None:
        self.description, self.rowcount, self.lastrowid, self.arraysize = description, rowcount, lastrowid, 1

    async def close(self) -> None:
        return None


def _run(sqlite_connection, operation: str, parameters, many: bool):
    cursor = sqlite_connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return _Finished(cursor.description, cursor.rowcount, cursor.lastrowid), rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def __init__(self, adapt_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Finished()
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: str, parameters: Any) -> Any:
        return await self._one_hop(operation, parameters, many=False)

    async def _executemany_async(self, operation: str, seq_of_parameters: Any) -> Any:
        return await self._one_hop(operation, seq_of_parameters, many=True)

    async def _one_hop(self, operation: str, parameters: Any, many: bool) -> None:
        aio = self._connection  # aiosqlite.Connection: _execute runs a call in its thread
        async with self._adapt_connection._execute_mutex:
            self._cursor, rows = await aio._execute(_run, aio._conn, operation, parameters, many)
        if rows is not None:
            self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


def use_one_hop_cursors(adapted_connection) -> None:
    """Make a freshly connected adapted aiosqlite connection run each statement in one hop."""
    adapted_connection.__class__ = OneHopConnection
