"""Starting and ending executions: effects on the execution and the pipeline (§7.1-7.2)."""

import asyncio
import datetime as dt

from sqlalchemy import select, text

from watcher_server.executions.tables import pipeline_execution

from ..helpers import create_pipeline, end, start

EXECUTION_KEYS = [
    "id", "parent_id", "pipeline_id", "start_date", "end_date", "duration_seconds", "completed_successfully",
    "inserts", "updates", "soft_deletes", "total_rows", "watermark", "next_watermark", "execution_metadata",
    "anomaly_flags", "throughput",
]  # fmt: skip


async def test_user_start_end_example_answers_with_the_ended_execution(client):
    await create_pipeline(client, "daily sales pipeline")
    started = await client.post("/start_pipeline_execution", json={"pipeline_id": 1, "start_date": "2024-01-01T10:00:00Z"})
    assert (started.status_code, started.json()) == (201, {"id": 1})
    ended = await client.post(
        "/end_pipeline_execution",
        json={
            "id": 1,
            "end_date": "2024-01-01T10:05:00Z",
            "completed_successfully": True,
            "total_rows": 10000,
            "inserts": 8000,
            "updates": 2000,
            "soft_deletes": 0,
        },
    )
    assert ended.status_code == 200
    body = ended.json()
    assert list(body) == EXECUTION_KEYS
    assert body["duration_seconds"] == 300 and body["throughput"] == 33.3333
    assert (body["start_date"], body["end_date"], body["completed_successfully"]) == ("2024-01-01T10:00:00Z", "2024-01-01T10:05:00Z", True)
    assert (body["inserts"], body["updates"], body["soft_deletes"], body["total_rows"]) == (8000, 2000, 0, 10000)


async def test_go_example_extra_pipeline_id_on_end_is_ignored(client):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    response = await client.post(
        "/end_pipeline_execution",
        json={
            "id": execution,
            "pipeline_id": 1,
            "end_date": "2024-01-01T10:05:00Z",
            "completed_successfully": True,
            "total_rows": 10000,
            "inserts": 8000,
            "updates": 2000,
            "soft_deletes": 0,
        },
    )
    assert response.status_code == 200


async def test_full_and_incremental_load_patterns(client):
    await create_pipeline(client)
    full = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    incremental = await start(client, 1, start_date="2024-01-02T10:00:00Z", next_watermark="2024-01-02T23:59:59Z", watermark=7)
    rows = (await client.get("/pipeline_execution")).json()
    assert [r["id"] for r in rows] == [full, incremental]
    assert (rows[1]["watermark"], rows[1]["next_watermark"]) == ("7", "2024-01-02T23:59:59Z")
    assert (await client.get("/pipeline/1")).json()["next_watermark"] is None  # start never touches the pipeline


async def test_start_records_utc_calendar_fields(client, db):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-03-10T23:30:00-05:00")  # Monday 04:30 UTC
    async with db.read() as conn:
        row = (await conn.execute(select(pipeline_execution).where(pipeline_execution.c.id == execution))).one()
    assert row.start_date == dt.datetime(2024, 3, 11, 4, 30, tzinfo=dt.UTC)
    assert (row.date_recorded, row.hour_recorded, row.weekday_recorded) == (dt.date(2024, 3, 11), 4, 1)


async def test_start_without_date_uses_now(client):
    await create_pipeline(client)
    before = dt.datetime.now(dt.UTC)
    execution = await start(client, 1, start_date=None)
    row = (await client.get(f"/pipeline_execution/{execution}")).json()
    started = dt.datetime.fromisoformat(row["start_date"].replace("Z", "+00:00"))
    assert before - dt.timedelta(seconds=1) <= started <= dt.datetime.now(dt.UTC)


async def test_start_rejects_unknown_pipeline_and_parent(client):
    await create_pipeline(client)
    for pipeline_id in (2, 0, -1, 2**31, 2**70):
        response = await client.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id})
        assert (response.status_code, response.json()["detail"]) == (404, "Pipeline Not Found")
    for parent in (5, 2**63, -4):
        response = await client.post("/start_pipeline_execution", json={"pipeline_id": 1, "parent_id": parent})
        assert (response.status_code, response.json()["detail"]) == (404, "Parent execution not found")
    assert (await client.get("/pipeline_execution")).json() == []


async def test_parent_aliases_zero_and_mismatch(client):
    await create_pipeline(client)
    root = await start(client, 1)
    via_sdk = await start(client, 1, parent_execution_id=root)
    zero = await start(client, 1, parent_id=0)
    both = await start(client, 1, parent_id=root, parent_execution_id=root)
    nulls = await start(client, 1, parent_id=None, parent_execution_id=None)
    rows = {r["id"]: r["parent_id"] for r in (await client.get("/pipeline_execution")).json()}
    assert rows == {root: None, via_sdk: root, zero: None, both: root, nulls: None}
    mismatch = await client.post("/start_pipeline_execution", json={"pipeline_id": 1, "parent_id": root, "parent_execution_id": via_sdk})
    assert mismatch.status_code == 422
    assert mismatch.json()["detail"][0]["msg"] == "Value error, parent_id and parent_execution_id must match"


async def test_start_of_inactive_pipeline_is_allowed(client):
    await create_pipeline(client)
    await client.patch("/pipeline", json={"id": 1, "active": False})
    await start(client, 1)


async def test_end_rejects_unknown_execution_and_bad_dates(client):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    for execution_id in (99, 0, 2**64):
        response = await client.post(
            "/end_pipeline_execution", json={"id": execution_id, "end_date": "2024-01-01T11:00:00Z", "completed_successfully": True}
        )
        assert (response.status_code, response.json()["detail"]) == (404, "Pipeline execution not found")
    for end_date in ("2024-01-01T10:00:00Z", "2024-01-01T09:00:00Z", "2024-01-01T15:00:00+05:00"):
        response = await client.post(
            "/end_pipeline_execution", json={"id": execution, "end_date": end_date, "completed_successfully": True, "total_rows": 5}
        )
        assert response.status_code == 400
        assert response.json() == {
            "detail": "end_date must be greater than start_date",
            "message": "end_date must be greater than start_date",
        }
    row = (await client.get(f"/pipeline_execution/{execution}")).json()
    assert row["end_date"] is None and row["total_rows"] is None
    assert (await client.get("/pipeline/1")).json()["load_lineage"] is True


async def test_end_validates_required_and_counts(client):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    base = {"id": execution, "end_date": "2024-01-01T11:00:00Z", "completed_successfully": True}
    for bad in [
        {"end_date": None},
        {"completed_successfully": None},
        {"completed_successfully": "perhaps"},
        {"inserts": -1},
        {"total_rows": 2**63},
        {"updates": True},
        {"execution_metadata": [1]},
        {"end_date": "soon"},
    ]:
        response = await client.post("/end_pipeline_execution", json={**base, **bad})
        assert response.status_code == 422, bad
    missing = await client.post("/end_pipeline_execution", json={"id": execution, "completed_successfully": True})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "end_date"]
    bad_date = await client.post("/end_pipeline_execution", json={**base, "end_date": "soon"})
    assert bad_date.json()["detail"][0]["msg"].startswith("Value error, Unable to parse")
    big = await client.post("/end_pipeline_execution", json={**base, "total_rows": 2**63 - 1, "inserts": "12"})
    assert big.status_code == 200 and big.json()["total_rows"] == 2**63 - 1 and big.json()["inserts"] == 12


async def test_duration_and_throughput_rounding(client):
    await create_pipeline(client)
    cases = [
        ("2024-01-01T10:00:00.400000Z", None, 0, 0.0),
        ("2024-01-01T10:00:00.600000Z", 10, 1, 10.0),
        ("2024-01-01T10:00:02.500000Z", 7, 3, 2.3333),
        ("2024-01-01T10:05:00Z", 1000, 300, 3.3333),
        ("2024-01-01T10:05:00Z", None, 300, None),
    ]
    for end_date, rows, duration, throughput in cases:
        execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
        extra = {} if rows is None else {"total_rows": rows}
        body = await end(client, execution, end_date=end_date, **extra)
        assert (body["duration_seconds"], body["throughput"]) == (duration, throughput), end_date


async def test_successful_end_advances_the_pipeline(client):
    await create_pipeline(client, next_watermark="wm-1")
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z", next_watermark="execution-value")
    await end(client, execution, end_date="2024-01-01T10:05:00Z", inserts=5, updates=0)
    pipeline = (await client.get("/pipeline/1")).json()
    assert pipeline["watermark"] == "wm-1"  # the pipeline's own next_watermark, not the execution's
    assert pipeline["next_watermark"] == "wm-1"
    assert pipeline["load_lineage"] is False
    assert pipeline["last_target_insert"] == "2024-01-01T10:05:00Z"
    assert pipeline["last_target_update"] is None and pipeline["last_target_soft_delete"] is None
    assert pipeline["updated_at"] is None


async def test_null_next_watermark_keeps_the_watermark(client):
    await create_pipeline(client, next_watermark="wm-1")
    await end(client, await start(client, 1, start_date="2024-01-01T10:00:00Z"))
    await client.patch("/pipeline", json={"id": 1, "next_watermark": None})
    await end(client, await start(client, 1, start_date="2024-01-02T10:00:00Z"), end_date="2024-01-02T11:00:00Z")
    assert (await client.get("/pipeline/1")).json()["watermark"] == "wm-1"


async def test_last_target_timestamps_never_move_backwards(client):
    await create_pipeline(client)
    late = await start(client, 1, start_date="2024-01-05T10:00:00Z")
    await end(client, late, end_date="2024-01-05T11:00:00Z", inserts=1, updates=1, soft_deletes=1)
    early = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    await end(client, early, end_date="2024-01-01T11:00:00Z", inserts=1, updates=1, soft_deletes=1)
    later = await start(client, 1, start_date="2024-01-06T10:00:00Z")
    await end(client, later, end_date="2024-01-06T11:00:00Z", inserts=0, updates=3, soft_deletes=None)
    pipeline = (await client.get("/pipeline/1")).json()
    assert pipeline["last_target_insert"] == "2024-01-05T11:00:00Z"
    assert pipeline["last_target_update"] == "2024-01-06T11:00:00Z"
    assert pipeline["last_target_soft_delete"] == "2024-01-05T11:00:00Z"


async def test_failed_end_updates_only_the_execution(client):
    await create_pipeline(client, next_watermark="wm")
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    body = await end(client, execution, ok=False, inserts=10, execution_metadata={"error": "boom"})
    assert body["completed_successfully"] is False and body["execution_metadata"] == {"error": "boom"}
    pipeline = (await client.get("/pipeline/1")).json()
    assert (pipeline["watermark"], pipeline["load_lineage"], pipeline["last_target_insert"]) == (None, True, None)


async def test_re_end_overwrites_present_keys_and_keeps_stored_total_rows(client, db):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    await end(client, execution, ok=False, total_rows=600, inserts=5, execution_metadata={"a": 1})
    again = await end(client, execution, end_date="2024-01-01T10:01:00Z", inserts=None)
    assert again["completed_successfully"] is True
    assert (again["total_rows"], again["throughput"], again["inserts"]) == (600, 10.0, None)
    assert again["execution_metadata"] == {"a": 1}
    async with db.read() as conn:
        pending = (await conn.execute(text("SELECT anomaly_checked_at FROM pipeline_execution WHERE id = :i"), {"i": execution})).scalar()
    assert pending is None


async def test_concurrent_ends_of_one_pipeline_all_succeed(client):
    await create_pipeline(client, next_watermark="x")
    executions = [await start(client, 1, start_date="2024-01-01T10:00:00Z") for _ in range(10)]
    responses = await asyncio.gather(
        *(
            client.post(
                "/end_pipeline_execution",
                json={"id": e, "end_date": f"2024-01-01T10:{i:02d}:30Z", "completed_successfully": True, "inserts": 1},
            )
            for i, e in enumerate(executions)
        )
    )
    assert [r.status_code for r in responses] == [200] * 10
    assert (await client.get("/pipeline/1")).json()["last_target_insert"] == "2024-01-01T10:09:30Z"
