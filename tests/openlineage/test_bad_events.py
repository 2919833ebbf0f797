"""What POST /api/v1/lineage refuses (400, 413, 415, 422 naming the field) and that a refused event
stores nothing; batches store their good items and report their bad ones (docs/openlineage.md)."""

import copy
import gzip

import orjson
import pytest

from .support import (
    ENDPOINT,
    as_json,
    assert_names_field,
    assert_nothing_stored,
    at,
    dataset_event,
    dataset_in,
    dataset_out,
    execution_of,
    get_ok,
    job_event,
    names_field,
    new_run_id,
    run_event,
    send,
    stored_events,
)

PG = "postgres://db.example.com:5432"
JOB = ("shop", "load_orders")
RUN_ID = "3f6b2c1e-8d4a-4b9e-9c2f-0a1b2c3d4e5f"


def good_event() -> dict:
    event = run_event(
        "COMPLETE", at(5), RUN_ID, JOB, inputs=[dataset_in(PG, "shop.public.raw")], outputs=[dataset_out(PG, "shop.public.orders", rows=5)]
    )
    return as_json(event)


def changed(change) -> dict:
    event = copy.deepcopy(good_event())
    change(event)
    return event


def setter(*path_and_value):
    *path, value = path_and_value

    def change(event):
        target = event
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


def deleter(*path):
    def change(event):
        target = event
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return change


async def counts(client) -> tuple[int, ...]:
    """How many events, pipelines, executions and addresses are stored."""
    paths = ("/api/v1/lineage/events", "/pipeline", "/pipeline_execution", "/address")
    return tuple([len(await get_ok(client, path)) for path in paths])


async def refuse_each(client, cases) -> None:
    """Every case is 422 with an error naming its field, and leaves nothing behind. All cases are tried
    (a wrongly accepted one does not hide the others), and every problem is reported at the end."""
    problems = []
    for label, body, field in cases:
        before = await counts(client)
        response = await client.post(ENDPOINT, json=body)
        if response.status_code != 422:
            problems.append(f"{label}: {response.status_code} {response.text[:300]}")
        elif not any(names_field(error, *field) for error in response.json()["detail"]):
            problems.append(f"{label}: no error names {field}: {[e['loc'] for e in response.json()['detail']]}")
        if await counts(client) != before:
            problems.append(f"{label}: something was stored")
    assert not problems, "\n".join(problems)
    await assert_nothing_stored(client)
    assert (await send(client, good_event()))["status"] == "created"  # the same event, unspoilt, is fine


async def test_bad_run_and_job_identities_are_422_naming_the_field_and_store_nothing(client):
    parent_job = {"namespace": "airflow", "name": "dag"}
    cases = [
        ("no runId", changed(deleter("run", "runId")), ("run", "runId")),
        ("runId not a UUID", changed(setter("run", "runId", "run-42")), ("run", "runId")),
        ("runId a number", changed(setter("run", "runId", 42)), ("run", "runId")),
        ("run is a list", changed(setter("run", [{"runId": RUN_ID}])), ("run",)),
        ("job is text", changed(setter("job", "shop/load_orders")), ("job",)),
        ("job without a name", changed(deleter("job", "name")), ("job", "name")),
        ("job with an empty namespace", changed(setter("job", "namespace", "")), ("job", "namespace")),
        ("parent without a runId", changed(setter("run", "facets", "parent", {"run": {}, "job": parent_job})), ("run", "facets", "parent")),
        ("parent runId not a UUID", changed(setter("run", "facets", "parent", {"run": {"runId": "x"}, "job": parent_job})), ("run", "facets", "parent")),
        ("parent without a job name", changed(setter("run", "facets", "parent", {"run": {"runId": RUN_ID}, "job": {"namespace": "a"}})), ("run", "facets", "parent")),
        ("producer not text", changed(setter("producer", 5)), ("producer",)),
        ("schemaURL not text", changed(setter("schemaURL", {"v": 2})), ("schemaURL",)),
        ("none of run+job, job, dataset", {"eventTime": "2025-03-01T10:00:00Z", "producer": "p"}, ()),
        ("not an object", "START", ()),
        ("a number", 42, ()),
    ]  # fmt: skip
    await refuse_each(client, cases)


async def test_bad_event_times_and_types_are_422_naming_the_field_and_store_nothing(client):
    cases = [
        ("no eventTime", changed(deleter("eventTime")), ("eventTime",)),
        ("eventTime not a date", changed(setter("eventTime", "yesterday")), ("eventTime",)),
        ("eventTime impossible", changed(setter("eventTime", "2025-13-45T10:00:00Z")), ("eventTime",)),
        ("eventTime a number", changed(setter("eventTime", 1_740_823_200)), ("eventTime",)),
        ("unknown eventType", changed(setter("eventType", "FINISHED")), ("eventType",)),
        ("eventType not text", changed(setter("eventType", 3)), ("eventType",)),
    ]
    await refuse_each(client, cases)


async def test_bad_datasets_and_facets_are_422_naming_the_field_and_store_nothing(client):
    statistics = ("outputs", 0, "outputFacets", "outputStatistics", "rowCount")
    cases = [
        ("inputs not a list", changed(setter("inputs", {"namespace": PG, "name": "shop.public.raw"})), ("inputs",)),
        ("outputs a list of text", changed(setter("outputs", [f"{PG}/shop.public.orders"])), ("outputs", 0)),
        ("input without a name", changed(deleter("inputs", 0, "name")), ("inputs", 0, "name")),
        ("output without a namespace", changed(deleter("outputs", 0, "namespace")), ("outputs", 0, "namespace")),
        ("run facets a list", changed(setter("run", "facets", [])), ("run", "facets")),
        ("job facets text", changed(setter("job", "facets", "sql")), ("job", "facets")),
        ("dataset facets a list", changed(setter("inputs", 0, "facets", [1])), ("inputs", 0, "facets")),
        ("inputFacets text", changed(setter("inputs", 0, "inputFacets", "x")), ("inputs", 0, "inputFacets")),
        ("outputFacets a list", changed(setter("outputs", 0, "outputFacets", [])), ("outputs", 0, "outputFacets")),
        ("negative rowCount", changed(setter(*statistics, -1)), statistics),
        ("fractional rowCount", changed(setter(*statistics, 2.5)), statistics),
        ("boolean rowCount", changed(setter(*statistics, True)), statistics),
    ]
    await refuse_each(client, cases)


def nested(depth: int):
    value: object = "bottom"
    for _ in range(depth):
        value = {"deeper": value}
    return value


async def test_unstorable_text_and_too_deep_json_are_422_and_store_nothing(client):
    cases = [
        ("NUL in the job name", changed(setter("job", "name", "load\x00orders")), ("job", "name")),
        ("NUL in a facet", changed(setter("run", "facets", "custom", {"_producer": "p", "note": "a\x00b"})), ("run", "facets")),
        ("JSON 70 levels deep", changed(setter("run", "facets", "custom", nested(70))), ()),
    ]
    await refuse_each(client, cases)


async def test_an_infinite_number_is_refused_and_stores_nothing(client):
    body = orjson.dumps(good_event()).replace(b'"rowCount":5', b'"rowCount":1e999')
    assert b"1e999" in body
    response = await client.post(ENDPOINT, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    await assert_nothing_stored(client)


async def test_bodies_that_are_not_json_or_not_gzip_are_400_and_other_encodings_415(client):
    good = orjson.dumps(good_event())
    json_type = {"Content-Type": "application/json"}
    gzipped = {**json_type, "Content-Encoding": "gzip"}
    cases = [
        ("not JSON", good[:-7], json_type, 400),
        ("empty", b"", json_type, 400),
        ("gzip garbage", b"certainly not gzip", gzipped, 400),
        ("truncated gzip", gzip.compress(good)[:-12], gzipped, 400),
        ("gzip of not JSON", gzip.compress(b"{nope"), gzipped, 400),
        ("brotli", good, {**json_type, "Content-Encoding": "br"}, 415),
        ("deflate", good, {**json_type, "Content-Encoding": "deflate"}, 415),
    ]
    for label, content, headers, status in cases:
        response = await client.post(ENDPOINT, content=content, headers=headers)
        assert response.status_code == status, (label, response.status_code, response.text)
        assert "detail" in response.json(), label
        await assert_nothing_stored(client)
    plain = await client.post(ENDPOINT, content=good, headers={**json_type, "Content-Encoding": "identity"})
    assert plain.status_code == 201, plain.text
    other_run = changed(setter("run", "runId", new_run_id()))
    compressed = await client.post(ENDPOINT, content=gzip.compress(orjson.dumps(other_run)), headers=gzipped)
    assert compressed.status_code == 201, compressed.text
    assert len(await stored_events(client)) == 2


@pytest.mark.settings(max_body_bytes=4096)
async def test_a_body_larger_than_the_limit_is_413_before_or_after_decompression(client):
    big = changed(setter("run", "facets", "custom", {"_producer": "p", "padding": "x" * 50_000}))
    raw = orjson.dumps(big)
    response = await client.post(ENDPOINT, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    compressed = gzip.compress(raw)
    assert len(compressed) < 4096
    response = await client.post(ENDPOINT, content=compressed, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code == 413, response.text
    await assert_nothing_stored(client)


@pytest.mark.settings(lineage_max_addresses_per_side=2, lineage_max_edges_per_pipeline=3)
async def test_more_datasets_than_lineage_allows_are_422_and_store_nothing(client):
    three_inputs = changed(setter("inputs", [as_json(dataset_in(PG, f"shop.public.t{i}")) for i in range(3)]))
    two_by_two = changed(setter("inputs", [as_json(dataset_in(PG, f"shop.public.t{i}")) for i in range(2)]))
    two_by_two["outputs"].append(as_json(dataset_out(PG, "shop.public.other")))
    cases = [("3 inputs > 2 per side", three_inputs, ("inputs",)), ("2 x 2 = 4 edges > 3", two_by_two, ())]
    await refuse_each(client, cases)
    in_a_batch = await client.post(ENDPOINT, json=[three_inputs, changed(setter("run", "runId", new_run_id()))])
    assert in_a_batch.status_code == 200, in_a_batch.text
    assert [r["status_code"] for r in in_a_batch.json()["results"]] == [422, 201]


async def test_a_batch_stores_its_good_items_and_reports_its_bad_ones_in_order(client):
    run_id = new_run_id()
    start = as_json(run_event("START", at(0), run_id, JOB))
    bad = as_json(run_event("START", at(0), new_run_id(), JOB))
    bad["run"]["runId"] = "not-a-uuid"
    complete = as_json(run_event("COMPLETE", at(5), run_id, JOB, outputs=[dataset_out(PG, "shop.public.orders", rows=7)]))

    response = await client.post(ENDPOINT, json=[start, bad, complete])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["created"], answer["repeated"], answer["rejected"]) == (2, 0, 1)
    first, refused, last = answer["results"]
    assert (first["status_code"], first["status"], first["event_kind"]) == (201, "created", "run")
    assert (refused["status_code"], refused["status"]) == (422, "rejected")
    assert_names_field(refused, "run", "runId")
    assert (last["status_code"], last["status"]) == (201, "created")
    execution = await execution_of(client, run_id)
    assert execution["id"] == first["execution_id"] == last["execution_id"] and execution["pipeline_id"] == first["pipeline_id"]
    assert (execution["completed_successfully"], execution["total_rows"], execution["duration_seconds"]) == (True, 7, 300)
    assert [e["event_type"] for e in await stored_events(client)] == ["START", "COMPLETE"]

    again = (await client.post(ENDPOINT, json=[start, bad, complete])).json()
    assert (again["created"], again["repeated"], again["rejected"]) == (0, 2, 1)
    assert [(r["status_code"], r["status"]) for r in again["results"]] == [(200, "repeat"), (422, "rejected"), (200, "repeat")]
    assert again["results"][0]["event_id"] == first["event_id"]
    assert len(await stored_events(client)) == 2 and len(await get_ok(client, "/pipeline_execution")) == 1

    nothing_good = await client.post(ENDPOINT, json=[42, "START", bad])
    assert nothing_good.status_code == 200, nothing_good.text
    assert (nothing_good.json()["created"], nothing_good.json()["repeated"], nothing_good.json()["rejected"]) == (0, 0, 3)
    assert [(r["status_code"], r["status"]) for r in nothing_good.json()["results"]] == [(422, "rejected")] * 3
    assert len(await stored_events(client)) == 2


async def test_a_batch_may_mix_event_kinds_and_repeat_an_item(client):
    run = as_json(run_event("START", at(0), new_run_id(), JOB))
    items = [as_json(job_event(at(0), ("shop", "declared"))), as_json(dataset_event(at(0), PG, "shop.public.customers")), run, run]
    answer = (await client.post(ENDPOINT, json=items)).json()
    assert (answer["created"], answer["repeated"], answer["rejected"]) == (3, 1, 0)
    assert [(r["status_code"], r["status"], r["event_kind"]) for r in answer["results"]] == [
        (201, "created", "job"), (201, "created", "dataset"), (201, "created", "run"), (200, "repeat", "run"),
    ]  # fmt: skip
    assert [e["event_kind"] for e in await stored_events(client)] == ["job", "dataset", "run"]


async def test_a_batch_of_more_than_1000_events_is_refused_whole(client):
    items = [as_json(run_event("START", at(0), new_run_id(), JOB)) for _ in range(1001)]
    response = await client.post(ENDPOINT, json=items)
    assert 400 <= response.status_code < 500, response.text
    await assert_nothing_stored(client)
