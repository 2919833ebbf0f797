"""On SQLite each statement is one call into the connection's thread (db/sqlite_cursor.py): a writer
holds the write lock for as few trips through the event loop as possible, and results are unchanged."""

from __future__ import annotations

import datetime as dt

import aiosqlite
import pytest
from sqlalchemy import insert, select, update

from watcher_server.pipelines.tables import pipeline_type

from ..helpers import create_pipeline

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)


@pytest.fixture
def hops(monkeypatch) -> list[str]:
    """The calls made into SQLite connection threads, by function name."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_one_statement_write_is_three_trips_to_the_sqlite_thread(client, hops):
    pipeline_id = await create_pipeline(client, "hops")
    hops.clear()
    started = await client.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id})
    assert started.status_code == 201
    assert len(hops) == 3, hops  # lock and BEGIN IMMEDIATE, the INSERT ... RETURNING, COMMIT


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rows_rowcount_and_lastrowid_come_back_from_the_one_call(db):
    async with db.write() as conn:
        inserted = await conn.execute(insert(pipeline_type).values(name="a", created_at=NOW))
        assert inserted.lastrowid == (await conn.execute(select(pipeline_type.c.id).where(pipeline_type.c.name == "a"))).scalar()
        await conn.execute(insert(pipeline_type), [{"name": "b", "created_at": NOW}, {"name": "c", "created_at": NOW}])
        changed = await conn.execute(update(pipeline_type).where(pipeline_type.c.name != "a").values(name=pipeline_type.c.name + "!"))
        assert changed.rowcount == 2
        names = (await conn.execute(select(pipeline_type.c.name).order_by(pipeline_type.c.name))).scalars().all()
    assert names == ["a", "b!", "c!"]
