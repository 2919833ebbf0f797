"""The raw event log, GET /api/v1/lineage/events, and its log cleanup (docs/openlineage.md)."""

import datetime as dt
import logging
import re

from .support import (
    EVENT_ROW_KEYS,
    UTC,
    as_json,
    at,
    dataset_event,
    dataset_out,
    get_ok,
    job_event,
    new_run_id,
    run_event,
    send,
    shown,
    stored_events,
)

PG = "postgres://db.example.com:5432"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


async def test_the_log_keeps_every_accepted_event_exactly_as_received_newest_last(client):
    run_id = new_run_id()
    start = as_json(run_event("START", at(0), run_id, ("Shop", "Load_Orders")))
    start["x-vendor"] = {"unknown": ["keys", "are", "kept"], "n": 1.5}  # unknown keys are kept, never refused
    complete = as_json(
        run_event("COMPLETE", at(5), run_id, ("Shop", "Load_Orders"), outputs=[dataset_out(PG, "shop.public.orders", rows=3)])
    )
    declared = as_json(job_event(at(6), ("shop", "declared")))
    dataset = as_json(dataset_event(at(7), PG, "shop.public.customers"))
    answers = [await send(client, event) for event in (start, complete, declared, dataset)]
    await send(client, start, expected=200)  # a repeat adds no row

    rows = await stored_events(client)
    assert [r["id"] for r in rows] == [a["event_id"] for a in answers]
    assert rows[0]["id"] < rows[1]["id"] < rows[2]["id"] < rows[3]["id"]
    for row, answer, event in zip(rows, answers, (start, complete, declared, dataset), strict=True):
        assert set(row) == EVENT_ROW_KEYS, row
        assert row["event"] == event
        assert (row["event_kind"], row["pipeline_id"], row["execution_id"]) == (
            answer["event_kind"],
            answer["pipeline_id"],
            answer["execution_id"],
        )
        assert TIMESTAMP.match(row["received_at"]), row["received_at"]
    assert [(r["event_kind"], r["event_type"], r["namespace"], r["name"], r["run_id"]) for r in rows[:2]] == [
        ("run", "START", "Shop", "Load_Orders", run_id), ("run", "COMPLETE", "Shop", "Load_Orders", run_id),
    ]  # fmt: skip
    assert [r["event_time"] for r in rows] == [shown(at(0)), shown(at(5)), shown(at(6)), shown(at(7))]
    assert (rows[2]["event_kind"], rows[2]["namespace"], rows[2]["name"], rows[2]["run_id"]) == ("job", "shop", "declared", None)
    assert (rows[3]["event_kind"], rows[3]["namespace"], rows[3]["name"], rows[3]["run_id"]) == (
        "dataset",
        PG,
        "shop.public.customers",
        None,
    )
    assert rows[0]["execution_id"] is not None and rows[2]["pipeline_id"] is not None and rows[3]["pipeline_id"] is None


async def test_the_log_filters_by_job_run_kind_and_event_time_and_pages(client):
    first, second = new_run_id(), new_run_id()
    sent_events = [
        run_event("START", at(0), first, ("shop", "orders")),  # 10:00
        run_event("COMPLETE", at(60), first, ("shop", "orders")),  # 11:00
        run_event("START", at(120), second, ("shop", "customers")),  # 12:00
        run_event("COMPLETE", at(180), second, ("crm", "customers")),  # 13:00, another job
        job_event(at(240), ("shop", "orders")),  # 14:00
    ]
    ids = [(await send(client, event))["event_id"] for event in sent_events]

    async def listed(**params) -> list[int]:
        return [r["id"] for r in await stored_events(client, **params)]

    assert await listed() == ids
    assert await listed(namespace="shop") == [ids[0], ids[1], ids[2], ids[4]]
    assert await listed(name="customers") == [ids[2], ids[3]]
    assert await listed(namespace="shop", name="orders") == [ids[0], ids[1], ids[4]]
    assert await listed(run_id=second) == [ids[2], ids[3]]
    assert await listed(event_kind="job") == [ids[4]]
    assert await listed(event_kind="run", namespace="shop", name="orders") == [ids[0], ids[1]]
    assert await listed(since="2025-03-01T11:30:00Z") == ids[2:]
    assert await listed(until="2025-03-01T11:30:00Z") == ids[:2]
    assert await listed(since="2025-03-01T10:30:00Z", until="2025-03-01T13:30:00Z") == ids[1:4]
    assert await listed(limit=2) == ids[:2]
    assert await listed(limit=2, offset=2) == ids[2:4]
    assert await listed(order="desc") == ids[::-1]
    assert await listed(order="desc", limit=1, namespace="crm") == [ids[3]]
    assert await listed(run_id=new_run_id()) == []


async def test_log_cleanup_deletes_events_received_before_its_cutoff(client, clock, caplog):
    clock.freeze(dt.datetime(2025, 1, 10, 8, 0, tzinfo=UTC))  # received long before the cutoff
    old_run = new_run_id()
    old_day = dt.datetime(2025, 1, 10, 7, 0, tzinfo=UTC)
    await send(client, run_event("START", old_day, old_run, ("shop", "orders")))
    await send(client, run_event("COMPLETE", old_day + dt.timedelta(minutes=5), old_run, ("shop", "orders")))
    clock.freeze(dt.datetime(2025, 6, 15, 13, 0, tzinfo=UTC))  # cutoff for 90 days: 2025-03-17
    # received now, though it happened long ago: kept (cleanup goes by received_at)
    kept_old = (await send(client, job_event(old_day, ("shop", "declared"))))["event_id"]
    young_run = new_run_id()
    young = (await send(client, run_event("START", dt.datetime(2025, 6, 15, 12, 0, tzinfo=UTC), young_run, ("shop", "orders"))))["event_id"]

    dry = await client.post("/log_cleanup", json={"retention_days": 90, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert len(await stored_events(client)) == 4
    with caplog.at_level(logging.INFO, logger="watcher.checks"):
        done = await client.post("/log_cleanup", json={"retention_days": 90})
    assert done.status_code == 200, done.text
    assert [r["id"] for r in await stored_events(client)] == [kept_old, young]
    assert [e["id"] for e in await get_ok(client, "/pipeline_execution")] == [
        (await stored_events(client, run_id=young_run))[0]["execution_id"]
    ]
    [line] = [r for r in caplog.records if getattr(r, "check", None) == "cleanup" and not getattr(r, "dry_run", False)][-1:]
    counts = {k: v for k, v in vars(line).items() if "event" in k.lower() and isinstance(v, int) and not isinstance(v, bool)}
    assert 2 in counts.values(), vars(line)


async def test_numbers_beyond_64_bits_and_precise_decimals_are_kept_exactly_as_sent(client):
    run_id = new_run_id()
    start = as_json(run_event("START", at(0), run_id, ("shop", "load_orders")))
    exact = {"huge": 2**70, "below_int64": -(2**63) - 1, "u64": 2**64 - 1, "long_decimal": 0.1234567890123456789, "small": 42}
    start["run"]["facets"]["custom"] = {"_producer": "p", "_schemaURL": "s", **exact}

    execution_id = (await send(client, start))["execution_id"]

    assert (await stored_events(client))[0]["event"]["run"]["facets"]["custom"] == start["run"]["facets"]["custom"]
    execution = await get_ok(client, f"/pipeline_execution/{execution_id}")
    kept = execution["execution_metadata"]["openlineage"]["run_facets"]["custom"]
    assert {key: kept[key] for key in exact} == exact and isinstance(kept["huge"], int)
