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
    assert (await client.get("/pipeline_execution/1")).json() == {**body, "child_executions": []}  # the answer is the stored execution


async def test_go_example_extra_pipeline_id_on_end_is_ignored(client):
    await create_pipeline(client, "p1")
    other = await create_pipeline(client, "p2")
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    go_body = {
        "id": execution,
        "pipeline_id": 1,
        "end_date": "2024-01-01T10:05:00Z",
        "completed_successfully": True,
        "total_rows": 10000,
        "inserts": 8000,
        "updates": 2000,
        "soft_deletes": 0,
    }
    response = await client.post("/end_pipeline_execution", json=go_body)
    assert response.status_code == 200
    stored = (await client.get(f"/pipeline_execution/{execution}")).json()
    assert stored == {**response.json(), "child_executions": []}
    assert (stored["pipeline_id"], stored["end_date"], stored["completed_successfully"]) == (1, "2024-01-01T10:05:00Z", True)
    assert (stored["inserts"], stored["updates"], stored["soft_deletes"], stored["total_rows"]) == (8000, 2000, 0, 10000)
    assert (await client.get("/pipeline/1")).json()["last_target_insert"] == "2024-01-01T10:05:00Z"

    # another pipeline's id on the end changes neither the execution's pipeline nor that pipeline
    second = await start(client, 1, start_date="2024-01-02T10:00:00Z")
    ended = await client.post(
        "/end_pipeline_execution", json={**go_body, "id": second, "pipeline_id": other, "end_date": "2024-01-02T10:05:00Z"}
    )
    assert ended.status_code == 200
    assert (await client.get(f"/pipeline_execution/{second}")).json()["pipeline_id"] == 1
    advanced, untouched = (await client.get("/pipeline/1")).json(), (await client.get(f"/pipeline/{other}")).json()
    assert advanced["last_target_insert"] == "2024-01-02T10:05:00Z"
    assert (untouched["last_target_insert"], untouched["last_target_update"], untouched["load_lineage"]) == (None, None, True)


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


async def test_start_without_date_uses_now(client, clock, db):
    await create_pipeline(client)
    now = dt.datetime(2024, 3, 11, 4, 30, 15, 250000, tzinfo=dt.UTC)  # a Monday
    clock.freeze(now)
    explicit_null = await start(client, 1, start_date=None)
    absent = await start(client, 1)
    for execution in (explicit_null, absent):
        assert (await client.get(f"/pipeline_execution/{execution}")).json()["start_date"] == "2024-03-11T04:30:15.250000Z"
    async with db.read() as conn:
        rows = (await conn.execute(select(pipeline_execution).order_by(pipeline_execution.c.id))).all()
    assert [(r.start_date, r.date_recorded, r.hour_recorded, r.weekday_recorded) for r in rows] == [(now, dt.date(2024, 3, 11), 4, 1)] * 2


async def test_start_rejects_unknown_pipeline_and_parent(client):
    await create_pipeline(client)
    for pipeline_id in (2, 0, -1, 2**31, 2**70):
        response = await client.post("/start_pipeline_execution", json={"pipeline_id": pipeline_id})
        assert (response.status_code, response.json()["detail"]) == (404, "Pipeline Not Found")
    for parent in (5, 2**63, -4):
        response = await client.post("/start_pipeline_execution", json={"pipeline_id": 1, "parent_id": parent})
        assert (response.status_code, response.json()["detail"]) == (404, "Parent execution not found")
    assert (await client.get("/pipeline_execution")).json() == []


async def test_parent_aliases_zero_and_mismatch(client, db):
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
    assert [r["id"] for r in (await client.get("/pipeline_execution")).json()] == [root, via_sdk, zero, both, nulls]
    async with db.read() as conn:
        closure = (await conn.execute(text("SELECT parent_execution_id, child_execution_id, depth FROM pipeline_execution_closure"))).all()
    links = [(root, via_sdk, 1), (root, both, 1)]
    assert sorted(map(tuple, closure)) == sorted([(e, e, 0) for e in (root, via_sdk, zero, both, nulls)] + links)


async def test_start_of_inactive_pipeline_is_allowed(client):
    await create_pipeline(client)
    assert (await client.patch("/pipeline", json={"id": 1, "active": False})).json()["active"] is False
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    stored = (await client.get(f"/pipeline_execution/{execution}")).json()
    assert (stored["pipeline_id"], stored["start_date"], stored["end_date"]) == (1, "2024-01-01T10:00:00Z", None)
    assert (await client.get("/pipeline/1")).json()["active"] is False  # starting does not reactivate it


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
    running = (await client.get(f"/pipeline_execution/{execution}")).json()
    assert (running["end_date"], running["completed_successfully"], running["inserts"], running["total_rows"]) == (None, None, None, None)
    assert (await client.get("/pipeline/1")).json()["load_lineage"] is True  # no refused end advanced the pipeline
    big = await client.post("/end_pipeline_execution", json={**base, "total_rows": 2**63 - 1, "inserts": "12"})
    assert big.status_code == 200 and big.json()["total_rows"] == 2**63 - 1 and big.json()["inserts"] == 12
    stored = (await client.get(f"/pipeline_execution/{execution}")).json()
    assert (stored["end_date"], stored["total_rows"], stored["inserts"]) == ("2024-01-01T11:00:00Z", 2**63 - 1, 12)


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
    assert (await client.get("/pipeline/1")).json()["watermark"] == "wm-1"
    assert (await client.patch("/pipeline", json={"id": 1, "next_watermark": None})).json()["next_watermark"] is None
    await end(client, await start(client, 1, start_date="2024-01-02T10:00:00Z"), end_date="2024-01-02T11:00:00Z", inserts=1)
    pipeline = (await client.get("/pipeline/1")).json()
    assert (pipeline["watermark"], pipeline["next_watermark"]) == ("wm-1", None)
    assert pipeline["last_target_insert"] == "2024-01-02T11:00:00Z"  # the second end did advance the pipeline


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
    assert (await client.get(f"/pipeline_execution/{execution}")).json() == {**body, "child_executions": []}
    pipeline = (await client.get("/pipeline/1")).json()
    assert (pipeline["watermark"], pipeline["next_watermark"]) == (None, "wm")
    assert (pipeline["load_lineage"], pipeline["last_target_insert"]) == (True, None)


async def test_re_end_overwrites_present_keys_and_keeps_stored_total_rows(client, db):
    await create_pipeline(client)
    execution = await start(client, 1, start_date="2024-01-01T10:00:00Z")
    await end(client, execution, ok=False, total_rows=600, inserts=5, execution_metadata={"a": 1})
    again = await end(client, execution, end_date="2024-01-01T10:01:00Z", inserts=None)
    assert again["completed_successfully"] is True
    assert (again["total_rows"], again["throughput"], again["inserts"]) == (600, 10.0, None)
    assert again["execution_metadata"] == {"a": 1}
    assert (await client.get(f"/pipeline_execution/{execution}")).json() == {**again, "child_executions": []}
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
    stored = [(await client.get(f"/pipeline_execution/{e}")).json() for e in executions]
    assert [(r["end_date"], r["completed_successfully"], r["inserts"]) for r in stored] == [
        (f"2024-01-01T10:{i:02d}:30Z", True, 1) for i in range(10)
    ]
    pipeline = (await client.get("/pipeline/1")).json()
    assert (pipeline["watermark"], pipeline["load_lineage"]) == ("x", False)
    assert pipeline["last_target_insert"] == "2024-01-01T10:09:30Z"
