"""SQLite writers of several processes take turns on a file lock beside the database (db/file_lock.py),
which wakes the next writer as soon as the last one is done. Another process is played here by a second
descriptor on the lock file: flock() locks belong to descriptors, so the two contend as two processes do."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from watcher_server.app import create_app
from watcher_server.db.engine import DatabaseBusy, open_database
from watcher_server.db.timeouts import DbTimeouts
from watcher_server.settings import Settings


@pytest.fixture
def sqlite_file(sqlite_template, tmp_path) -> str:
    path = tmp_path / "watcher.db"
    shutil.copyfile(sqlite_template, path)
    return str(path)


class OtherProcess:
    """Holds the write lock as another Watcher process in the middle of a write would."""

    def __init__(self, sqlite_path: str) -> None:
        self.fd = os.open(f"{sqlite_path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)

    def hold(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def let_go(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def can_take(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        return True


async def _pipeline_types(db) -> int:
    async with db.read() as conn:
        return (await conn.execute(text("SELECT count(*) FROM pipeline_type"))).scalar()


async def _write(db, name: str) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO pipeline_type (name, created_at) VALUES (:name, CURRENT_TIMESTAMP)"), {"name": name})


async def test_a_write_waits_for_another_process_holding_the_lock_and_goes_through_when_it_lets_go(sqlite_file):
    other = OtherProcess(sqlite_file)
    db = open_database(f"sqlite:///{sqlite_file}", timeouts=DbTimeouts(lock=10.0))
    try:
        other.hold()
        writing = asyncio.ensure_future(_write(db, "waited"))
        await asyncio.sleep(0.3)
        assert not writing.done() and await _pipeline_types(db) == 0  # readers are never held up

        other.let_go()
        await asyncio.wait_for(writing, 5)
        assert await _pipeline_types(db) == 1
        assert other.can_take()  # the writer let the lock go with its COMMIT
    finally:
        await db.dispose()


async def test_a_write_gives_up_after_the_lock_timeout_and_its_abandoned_wait_keeps_nothing(sqlite_file):
    other = OtherProcess(sqlite_file)
    db = open_database(f"sqlite:///{sqlite_file}", timeouts=DbTimeouts(lock=0.3))
    try:
        other.hold()
        try:
            with pytest.raises(DatabaseBusy, match="another process held the SQLite write lock"):
                await _write(db, "refused")
            with pytest.raises(DatabaseBusy):  # the next write, behind the abandoned wait, is refused in time too
                await asyncio.wait_for(_write(db, "refused again"), 5)
        finally:
            other.let_go()

        # the pool's one connection reads next, after its thread has finished the abandoned wait: that
        # wait took the lock when it came, and let it go at once
        assert await _pipeline_types(db) == 0
        assert other.can_take(), "the abandoned wait kept the lock"
        await _write(db, "later")  # and the connection serves the next write
        assert await _pipeline_types(db) == 1
    finally:
        await db.dispose()


async def test_a_request_that_cannot_get_the_lock_in_time_answers_503_and_writes_nothing(sqlite_file):
    other = OtherProcess(sqlite_file)
    app = create_app(Settings(database_url=f"sqlite:///{sqlite_file}", db_lock_timeout_seconds=0.3, scheduler_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with LifespanManager(app), httpx.AsyncClient(transport=transport, base_url="http://watcher.test") as client:
        other.hold()
        try:
            answer = await client.post("/pipeline", json={"name": "orders", "pipeline_type_name": "etl"})
        finally:
            other.let_go()
        assert answer.status_code == 503 and "Retry-After" in answer.headers, answer.text
        assert answer.json()["detail"]
        assert (await client.get("/pipeline")).json() == []
        assert (await client.post("/pipeline", json={"name": "orders", "pipeline_type_name": "etl"})).status_code == 201
