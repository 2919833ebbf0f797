"""A run's events racing other writers of its execution: nothing another writer wrote is lost, and a
repeat never makes a run (service.py applies a parentless run's START and end without a transaction on
PostgreSQL, guarded by what it read)."""

import asyncio
import json

from sqlalchemy import text

from .support import at, execution_of, new_run_id, run_event, send

JOB = ("shop", "load_orders")


async def _wait_for_a_blocked_writer(db) -> None:
    """On PostgreSQL, until a session waits for a row lock; SQLite's writers queue in-process."""
    if db.dialect != "postgresql":
        await asyncio.sleep(0.3)
        return
    for _ in range(200):
        async with db.read() as conn:
            waiting = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))).scalar()
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the end never waited for the row lock")


async def test_an_end_racing_another_write_of_the_runs_metadata_keeps_both(client, db):
    run_id = new_run_id()
    execution_id = (await send(client, run_event("START", at(0), run_id, JOB)))["execution_id"]
    async with db.write() as conn:
        stored = (
            await conn.execute(
                text(
                    "SELECT execution_metadata FROM pipeline_execution WHERE id = :id FOR UPDATE"
                    if db.dialect == "postgresql"
                    else "SELECT execution_metadata FROM pipeline_execution WHERE id = :id"
                ),
                {"id": execution_id},
            )
        ).scalar()
        metadata = stored if isinstance(stored, dict) else json.loads(stored)
        complete = asyncio.ensure_future(send(client, run_event("COMPLETE", at(5), run_id, JOB)))
        await _wait_for_a_blocked_writer(db)
        metadata["openlineage"]["run_facets"]["written_meanwhile"] = {"by": "another event of the run"}
        await conn.execute(
            text("UPDATE pipeline_execution SET execution_metadata = :metadata WHERE id = :id"),
            {"metadata": json.dumps(metadata), "id": execution_id},
        )
    answer = await complete
    assert answer["status"] == "created" and answer["execution_id"] == execution_id

    execution = await execution_of(client, run_id)
    assert execution["completed_successfully"] is True and execution["duration_seconds"] == 300
    assert execution["execution_metadata"]["openlineage"]["run_facets"]["written_meanwhile"] == {"by": "another event of the run"}


async def test_a_start_repeated_after_its_execution_is_gone_is_a_repeat_and_makes_no_execution(client, db):
    run_id = new_run_id()
    start = run_event("START", at(0), run_id, JOB)
    first = await send(client, start)
    async with db.write() as conn:  # as retention does: the execution goes, the event log stays
        ids = {"id": first["execution_id"]}
        await conn.execute(text("DELETE FROM pipeline_execution_closure WHERE child_execution_id = :id OR parent_execution_id = :id"), ids)
        await conn.execute(text("DELETE FROM pipeline_execution WHERE id = :id"), ids)

    again = await send(client, start, expected=200)

    assert again["status"] == "repeat" and again["event_id"] == first["event_id"]
    async with db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM pipeline_execution"))).scalar() == 0
