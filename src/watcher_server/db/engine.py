"""Engine creation and the transaction boundary every service uses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import queue as sqla_queue
from sqlalchemy.util.concurrency import await_, greenlet_spawn

from .file_lock import FileWriteLock
from .sqlite_cursor import use_one_hop_cursors
from .timeouts import DEFAULT_LOCK_TIMEOUT_SECONDS, DbTimeouts
from .urls import async_url


class DatabaseBusy(Exception):
    """A lock was not granted within the lock timeout: the caller should try again shortly (503)."""


def _json_dumps(value) -> str:
    try:  # orjson is several times faster on the large documents an OpenLineage event brings
        return orjson.dumps(value).decode("utf-8")
    except orjson.JSONEncodeError:  # integers beyond 64 bits: the standard encoder writes them exactly
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# (pool size, overflow) when none is configured. On PostgreSQL the pool grows to its size under load and
# idle connections close, so no overflow is needed: overflow connections are closed on every return,
# and a load above the pool size would open and close one per request.
POSTGRESQL_POOL = (15, 0)
SQLITE_POOL = (30, 10)
DEFAULT_POOL_IDLE_SECONDS = 30.0


def pool_limits(database_url: str, pool_size: int | None = None, max_overflow: int | None = None) -> tuple[int, int]:
    """The (pool size, overflow) an engine for this URL gets: the given ones, else the backend's defaults."""
    default_size, default_overflow = SQLITE_POOL if make_url(async_url(database_url)).get_backend_name() == "sqlite" else POSTGRESQL_POOL
    return (default_size if pool_size is None else pool_size, default_overflow if max_overflow is None else max_overflow)


class ShrinkingPool(AsyncAdaptedQueuePool):
    """A queue pool whose connections unused for `idle_seconds` are closed, so a process holds many
    connections only while it needs them (issue 12: an idle `--workers 2` held 60 of PostgreSQL's 100).

    Checkouts take the most recently returned connection (LIFO), so under light load the same few stay
    warm and the rest age out. One timer per pool, armed by a check-in, closes what has expired; closing
    happens here, never on the server's side, so a checkout cannot get a connection the server has
    already dropped."""

    idle_seconds: float | None = None
    _timer: asyncio.TimerHandle | None = None
    _reaping: asyncio.Task | None = None

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        record.info["watcher_idle_since"] = time.monotonic()
        super()._do_return_conn(record)
        self._arm(self.idle_seconds)

    def _arm(self, delay: float | None) -> None:
        if delay is None or self._timer is not None or self._reaping is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a check-in outside any loop (interpreter shutdown): nothing to schedule on
            return
        self._timer = loop.call_later(delay, self._start_reaping, loop)

    def _start_reaping(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self._reaping = loop.create_task(self._reap())

    async def _reap(self) -> None:
        try:
            expired, next_expiry = self._take_expired()
            for record in expired:
                try:
                    with contextlib.suppress(Exception):  # a server that no longer answers must not hold the reaper
                        await asyncio.wait_for(record.driver_connection.close(), 2)
                    await greenlet_spawn(record.close)
                except Exception:
                    pass  # the connection is gone either way; its slot is given back below
                finally:
                    self._dec_overflow()
        finally:
            self._reaping = None
        if next_expiry is None and self._pool.qsize():  # returned while this reap ran, so no check-in could arm
            next_expiry = self.idle_seconds
        self._arm(next_expiry)

    def _take_expired(self) -> tuple[list[ConnectionPoolEntry], float | None]:
        """Takes the expired connections out of the queue (no await in between, so no checkout sees the
        queue half-sorted) and says when the oldest one left expires."""
        now = time.monotonic()
        kept, expired = [], []
        while True:
            try:
                record = self._pool.get_nowait()
            except sqla_queue.Empty:
                break
            idle = now - record.info.get("watcher_idle_since", now)
            (expired if idle >= self.idle_seconds else kept).append(record)
        for record in reversed(kept):  # newest came out first: put the oldest back first to keep LIFO order
            self._pool.put_nowait(record)
        if not kept:
            return expired, None
        oldest = kept[-1].info.get("watcher_idle_since", now)
        return expired, max(0.01, self.idle_seconds - (now - oldest))

    def recreate(self) -> ShrinkingPool:
        pool = super().recreate()
        pool.idle_seconds = self.idle_seconds
        return pool

    def dispose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().dispose()

    async def settle(self) -> None:
        """Waits for a reap in progress, so a disposed engine leaves no connection behind."""
        if self._reaping is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._reaping)


def create_engine(
    database_url: str,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    echo: bool = False,
    timeouts: DbTimeouts = DbTimeouts(),
    pool_idle_seconds: float | None = DEFAULT_POOL_IDLE_SECONDS,
) -> AsyncEngine:
    """Every wait is bounded by `timeouts`: for a lock, a statement, a new connection, a pooled one.
    On PostgreSQL, a pooled connection unused for `pool_idle_seconds` is closed (None: kept)."""
    pool_size, max_overflow = pool_limits(database_url, pool_size, max_overflow)
    url = make_url(async_url(database_url))
    if url.get_backend_name() == "sqlite":
        # Transactions always end inside Database's context managers, so the pool's reset-on-return
        # rollback would only cost another thread hop per request.
        engine = create_async_engine(
            url, echo=echo, json_serializer=_json_dumps, pool_size=pool_size, max_overflow=max_overflow, pool_reset_on_return=None,
            pool_timeout=timeouts.pool,
        )  # fmt: skip
        _configure_sqlite(engine, timeouts.lock)
        return engine
    server_settings = {
        "timezone": "UTC",
        "application_name": "watcher",
        # a request never waits on a lock longer than this; it gets 503 with Retry-After
        "lock_timeout": f"{round(timeouts.lock * 1000)}ms",
        # every query here runs in well under a second, and PostgreSQL's JIT, triggered by cost
        # estimates over the big execution table, spent 1-1.5 s compiling a 0.1 s check query
        "jit": "off",
    }
    if timeouts.statement is not None:
        server_settings["statement_timeout"] = f"{round(timeouts.statement * 1000)}ms"
    engine = create_async_engine(
        url,
        echo=echo,
        json_serializer=_json_dumps,
        poolclass=ShrinkingPool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_use_lifo=True,
        pool_pre_ping=False,
        pool_timeout=timeouts.pool,
        connect_args={"server_settings": server_settings, "timeout": timeouts.connect, "command_timeout": timeouts.client_statement},
    )
    engine.sync_engine.pool.idle_seconds = pool_idle_seconds
    event.listen(engine.sync_engine.pool, "invalidate", _drop_unanswering_connection)
    return engine


def _drop_unanswering_connection(dbapi_connection, _record, exception) -> None:
    """A connection whose server stopped answering, or whose statement was cancelled midway (a request's
    own deadline, as /ready has), is closed at once: SQLAlchemy would first try a polite close for up to
    2 s, which a frozen server never answers, and the request would wait for it."""
    if isinstance(exception, (TimeoutError, OSError, asyncio.CancelledError)) and dbapi_connection is not None:
        dbapi_connection._connection.terminate()


def _configure_sqlite(engine: AsyncEngine, lock_timeout_seconds: float) -> None:
    """WAL, a busy timeout, enforced foreign keys, and BEGIN IMMEDIATE for writing transactions.

    A deferred transaction that reads and then writes cannot wait for a concurrent writer in WAL
    mode (it fails with SQLITE_BUSY at once), so writers take the lock up front. Before that, a
    writer takes the file lock that writers of all processes share (file_lock.py), and waits there
    rather than in SQLite's sleeping busy handler.
    """

    lock_path = _write_lock_path(engine.url.database)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, record):
        use_one_hop_cursors(dbapi_connection)
        if lock_path is not None:
            record.info[WRITE_LOCK] = FileWriteLock(lock_path)
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL needs a lock, and another process may hold one
        cursor.execute(f"PRAGMA busy_timeout={round(lock_timeout_seconds * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "close")
    def _on_close(_dbapi_connection, record):
        lock = record.info.pop(WRITE_LOCK, None)
        if lock is not None:
            lock.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection):
        write = connection.get_execution_options().get("watcher_write")
        statement = "BEGIN IMMEDIATE" if write else "BEGIN"
        adapted = connection.connection.dbapi_connection
        lock = connection.connection.info.get(WRITE_LOCK) if write else None
        # aiosqlite's own execute() is one thread hop; a SQLAlchemy cursor round (open, execute,
        # close) would be three, on every transaction.
        try:
            if lock is not None:
                aio = adapted._connection
                if not await_(lock.begin(aio._execute, lambda: aio._conn.execute(statement), lock_timeout_seconds)):
                    raise DatabaseBusy("another process held the SQLite write lock past the lock timeout")
                return
            await_(adapted._connection.execute(statement))
        except sqlite3.OperationalError as exc:  # another process held the write lock past the busy timeout
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseBusy(f"SQLite database is locked: {exc}") from exc
            raise


WRITE_LOCK = "watcher_write_lock"  # a SQLite connection's FileWriteLock, in its pool record's info


def _write_lock_path(database: str | None) -> str | None:
    """The lock file beside a SQLite database file; none for an in-memory database."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}.write-lock"


def _release_write_lock(conn: AsyncConnection) -> None:
    try:
        lock = conn.sync_connection.connection.info.get(WRITE_LOCK)
    except SQLAlchemyError:  # the connection was invalidated: closing its descriptor released the lock
        return
    if lock is not None:
        lock.release()


class Database:
    """Owns the engine; `write()` and `read()` are the only ways services get a transaction."""

    def __init__(self, engine: AsyncEngine, lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS):
        self.engine = engine
        self.dialect = engine.dialect.name
        self.lock_timeout_seconds = lock_timeout_seconds
        # SQLite has one writer at a time. Queueing writers here (FIFO) instead of in SQLite's busy
        # handler, which sleeps with growing back-off, keeps tail latency low under concurrency.
        self._sqlite_writer = asyncio.Lock() if self.dialect == "sqlite" else None
        self._autocommit_engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite_writer is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        try:
            async with asyncio.timeout(self.lock_timeout_seconds):
                await self._sqlite_writer.acquire()
        except TimeoutError:
            raise DatabaseBusy("another write in this process held the SQLite write lock past the lock timeout") from None
        try:
            async with self.engine.connect() as conn:
                await conn.execution_options(watcher_write=True)
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    _release_write_lock(conn)
        finally:
            self._sqlite_writer.release()

    @contextlib.asynccontextmanager
    async def single_statement(self, writes: bool = True) -> AsyncIterator[AsyncConnection]:
        """For work that is one statement: on PostgreSQL it runs in autocommit, so the statement is its
        own transaction and the BEGIN/COMMIT round trips disappear. SQLite gets a normal transaction."""
        if self.dialect == "sqlite":
            async with self.write() if writes else self.read() as conn:
                yield conn
            return
        async with self._autocommit_engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def ping(self) -> None:
        """One trivial query: raises when the database does not answer."""
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        pool = self.engine.sync_engine.pool
        await self.engine.dispose()
        if isinstance(pool, ShrinkingPool):
            await pool.settle()


def open_database(
    database_url: str,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    timeouts: DbTimeouts = DbTimeouts(),
    pool_idle_seconds: float | None = DEFAULT_POOL_IDLE_SECONDS,
) -> Database:
    """A Database whose every wait (for a lock, a statement, a connection; in this process and across
    processes) is bounded, and whose idle connections are closed after `pool_idle_seconds` (PostgreSQL)."""
    engine = create_engine(database_url, pool_size, max_overflow, timeouts=timeouts, pool_idle_seconds=pool_idle_seconds)
    return Database(engine, timeouts.lock)
