"""One writing transaction at a time among the processes that share a SQLite file (`watcher serve
--workers N`, `watcher worker`, the CLI), through a kernel file lock next to the database.

SQLite serialises writers itself, but a writer that finds another process writing polls with growing
sleeps (up to 100 ms), so with two workers one of them sat idle and p99 rose to 300 ms (bench/README.md,
"SQLite with two workers"). The kernel wakes the next holder of a file lock the moment it is released.

Each connection has its own descriptor and takes the lock in its own thread right before its BEGIN
IMMEDIATE, so the lock is held no longer than the transaction. The caller waits at most the lock
timeout; a wait it gives up on is abandoned, and the thread lets the lock go as soon as it gets it. The
lock only saves time: SQLite's own lock still guards the file against any writer, and a process that
dies releases its lock with its descriptor.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading

WAITING, HELD, ABANDONED, DONE = range(4)


class _Attempt:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = WAITING


class FileWriteLock:
    """The lock as one connection takes it."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._guard = threading.Lock()  # attempts change state in the connection's thread and the loop's
        self._held: _Attempt | None = None
        self._abandoned: asyncio.Future | None = None  # a wait given up on, maybe still in the thread

    async def begin(self, run_in_thread, sqlite_begin, timeout: float) -> bool:
        """Take the lock, then `sqlite_begin()`, both in the connection's thread (`run_in_thread(fn)`),
        within `timeout` seconds; False, and nothing held, when another process kept the lock that long."""
        attempt = _Attempt()
        # the usual case, one hop: the lock is free (and no abandoned wait is queued in the thread before
        # this, which would hold this hop up for as long as another process keeps the lock)
        if self._abandoned is None or self._abandoned.done():
            self._abandoned = None
            if await run_in_thread(lambda: self._take_free(attempt, sqlite_begin)):
                self._held = attempt
                return True
        taking = asyncio.ensure_future(run_in_thread(lambda: self._take(attempt, sqlite_begin)))
        done, _ = await asyncio.wait({taking}, timeout=timeout)
        if not done:
            with self._guard:
                if attempt.state == WAITING:
                    attempt.state = ABANDONED  # the thread lets the lock go when it comes
                    self._abandoned = taking
                    return False
            # it came as the time ran out: BEGIN is under way
        await taking
        self._held = attempt
        return True

    def _take_free(self, attempt: _Attempt, sqlite_begin) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        attempt.state = HELD
        self._begin_held(attempt, sqlite_begin)
        return True

    def _take(self, attempt: _Attempt, sqlite_begin) -> None:
        with self._guard:
            if attempt.state == ABANDONED:
                return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._guard:
            if attempt.state == ABANDONED:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                return
            attempt.state = HELD
        self._begin_held(attempt, sqlite_begin)

    def _begin_held(self, attempt: _Attempt, sqlite_begin) -> None:
        try:
            sqlite_begin()
        except BaseException:
            with self._guard:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                attempt.state = DONE
            raise

    def release(self) -> None:
        """After the transaction's COMMIT or ROLLBACK."""
        with self._guard:
            attempt, self._held = self._held, None
            if attempt is not None and attempt.state == HELD:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                attempt.state = DONE

    def close(self) -> None:
        os.close(self._fd)
