"""A locked database answers 503 with Retry-After within the lock timeout (never a 500), and the small
contract gaps: a `null` body on the checks, a pipeline's own lineage, alert links to where the server is."""

import asyncio
import sqlite3
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from watcher_server.settings import Settings

from ..helpers import create_pipeline, stale_pipeline

LOCK_TIMEOUT = 0.5


@pytest.fixture
def settings(database_url):
    return Settings(
        database_url=database_url, scheduler_enabled=False, db_lock_timeout_seconds=LOCK_TIMEOUT, public_url="https://watcher.example.com"
    )


async def _hold_write_lock(database_url: str):
    """Another process's open write transaction over the pipeline table (returns a closer)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = sqlite3.connect(url.database, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")

        async def close():
            holder.execute("ROLLBACK")
            holder.close()

        return close
    holder = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    transaction = holder.transaction()
    await transaction.start()
    await holder.execute("LOCK TABLE pipeline IN ACCESS EXCLUSIVE MODE")

    async def close():
        await transaction.rollback()
        await holder.close()

    return close


async def test_a_write_blocked_by_another_process_gets_503_with_retry_after_within_the_timeout(client, database_url):
    await create_pipeline(client, "first")
    release = await _hold_write_lock(database_url)
    try:
        started = time.monotonic()
        response = await client.post("/pipeline", json={"name": "second", "pipeline_type_name": "t"})
        waited = time.monotonic() - started
    finally:
        await release()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1" and response.json()["detail"] == "Service unavailable"
    assert waited < LOCK_TIMEOUT + 5  # bounded by the lock timeout, not by a 30 s default
    retried = await client.post("/pipeline", json={"name": "second", "pipeline_type_name": "t"})
    assert retried.status_code == 201, "nothing was left half-written by the refused request"


async def test_a_write_queued_behind_a_long_write_in_this_process_gets_503(client, db, backend):
    if backend != "sqlite":
        pytest.skip("only SQLite queues writers inside the process")
    await create_pipeline(client, "first")
    hold = asyncio.Event()

    async def long_write():
        async with db.write():
            await hold.wait()

    holder = asyncio.create_task(long_write())
    await asyncio.sleep(0.05)
    try:
        response = await client.post("/pipeline", json={"name": "second", "pipeline_type_name": "t"})
    finally:
        hold.set()
        await holder
    assert response.status_code == 503 and response.headers["retry-after"] == "1"


@pytest.mark.parametrize("path", ["/timeliness", "/freshness"])
async def test_a_null_body_on_a_check_is_422(client, path):
    response = await client.post(path, content=b"null", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("body", [None, b"", b"{}"])
async def test_an_absent_empty_or_empty_object_body_on_a_check_is_accepted(client, body):
    for path in ("/timeliness", "/freshness"):
        response = await client.post(path, content=body, headers={"Content-Type": "application/json"} if body else {})
        assert response.status_code == 200 and response.json() == {"status": "queued"}, (path, response.text)


async def test_a_pipelines_lineage_lists_its_sources_and_targets(client):
    pipeline_id = await create_pipeline(client, "load orders")
    other = await create_pipeline(client, "other")
    lineage = {
        "pipeline_id": pipeline_id,
        "source_addresses": [
            {"name": "db.sales.orders", "address_type_name": "postgres", "address_type_group_name": "database"},
            {"name": "s3://bucket/orders.csv", "address_type_name": "s3", "address_type_group_name": "file"},
        ],
        "target_addresses": [{"name": "dw.sales.orders", "address_type_name": "snowflake", "address_type_group_name": "database"}],
    }
    assert (await client.post("/address_lineage", json=lineage)).status_code == 201
    answer = (await client.get(f"/pipeline/{pipeline_id}/lineage")).json()
    assert answer["pipeline_id"] == pipeline_id
    assert [a["name"] for a in answer["source_addresses"]] == ["db.sales.orders", "s3://bucket/orders.csv"]
    assert [(a["name"], a["address_type_name"], a["address_type_group_name"]) for a in answer["target_addresses"]] == [
        ("dw.sales.orders", "snowflake", "database")
    ]
    assert set(answer["source_addresses"][0]) == {"id", "name", "address_type_id", "address_type_name", "address_type_group_name"}
    assert (await client.get(f"/pipeline/{other}/lineage")).json() == {"pipeline_id": other, "source_addresses": [], "target_addresses": []}


@pytest.mark.parametrize("missing", ["999", str(2**40)])
async def test_the_lineage_of_an_unknown_pipeline_is_404(client, missing):
    response = await client.get(f"/pipeline/{missing}/lineage")
    assert response.status_code == 404 and response.json()["detail"] == "Pipeline Not Found"


async def test_alert_links_use_the_public_url(client):
    await stale_pipeline(client, "late")
    await client.post("/freshness", params={"wait": "true"})
    alert = (await client.get("/alerts")).json()[0]
    assert "https://watcher.example.com/ui/pipelines/1" in alert["details"]["Links"]
