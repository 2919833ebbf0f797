"""Inputs and orders that once broke OpenLineage in: each is answered clearly and leaves the data right."""

import asyncio
import datetime as dt
import gzip
import json

from watcher_server.jobs.runner import BATCH_GATHER_SECONDS

from .support import (
    ENDPOINT,
    UTC,
    as_json,
    assert_names_field,
    assert_nothing_stored,
    at,
    dataset_in,
    dataset_out,
    execution_of,
    get_ok,
    job_type,
    new_run_id,
    parent_facet,
    run_event,
    send,
    stored_events,
)

PG = "postgres://db:5432"


async def test_an_end_at_the_first_day_of_year_one_is_422_on_event_time_and_stores_nothing(client):
    body = as_json(run_event("COMPLETE", at(0), new_run_id()))
    body["eventTime"] = "0001-01-01T00:00:00Z"
    answer = await client.post(ENDPOINT, json=body)
    assert answer.status_code == 422, answer.text
    assert_names_field(answer.json(), "eventTime")
    await assert_nothing_stored(client)


async def test_row_counts_adding_up_beyond_64_bits_are_422_on_outputs(client):
    huge = 2**63 - 1
    body = as_json(
        run_event("COMPLETE", at(0), new_run_id(), outputs=[dataset_out(PG, "a.b.c", rows=huge), dataset_out(PG, "a.b.d", rows=huge)])
    )
    answer = await client.post(ENDPOINT, json=body)
    assert answer.status_code == 422, answer.text
    assert_names_field(answer.json(), "outputs")
    await assert_nothing_stored(client)


async def test_a_blank_namespace_is_422_naming_it(client):
    answer = await client.post(ENDPOINT, json=as_json(run_event("START", at(0), new_run_id(), ("   ", "load"))))
    assert answer.status_code == 422, answer.text
    assert_names_field(answer.json(), "job", "namespace")
    await assert_nothing_stored(client)


async def test_a_run_naming_itself_as_parent_is_422(client):
    run_id = new_run_id()
    answer = await client.post(ENDPOINT, json=as_json(run_event("START", at(0), run_id, parent=parent_facet(run_id, ("other", "dag")))))
    assert answer.status_code == 422, answer.text
    assert_names_field(answer.json(), "run", "facets", "parent", "run", "runId")
    await assert_nothing_stored(client)


async def test_a_batch_item_refused_by_a_rule_gets_its_own_result_and_the_rest_are_applied(client, settings):
    settings.lineage_max_edges_per_pipeline = 4
    job = ("shop", "fan_out")
    wide = run_event(
        "START", at(0), new_run_id(), job, inputs=[dataset_in(PG, "s.i0")], outputs=[dataset_out(PG, f"s.o{n}") for n in range(4)]
    )
    await send(client, wide)
    # within the limits alone, but with the pipeline's four outputs kept it would make 8 edges
    too_wide = run_event("START", at(1), new_run_id(), job, inputs=[dataset_in(PG, "s.i1"), dataset_in(PG, "s.i2")])
    later = run_event("START", at(2), new_run_id(), ("shop", "after"))
    answer = await client.post(ENDPOINT, json=[as_json(too_wide), as_json(later)])
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert first["status_code"] == 422 and second["status_code"] == 201
    pipeline = (await get_ok(client, "/pipeline", name_contains="shop/fan_out"))[0]
    assert pipeline["pipeline_metadata"]["openlineage"]["lineage"]["inputs"] == [f"{PG}/s.i0"]
    lineage = await get_ok(client, f"/pipeline/{pipeline['id']}/lineage")
    assert [a["name"] for a in lineage["source_addresses"]] == [f"{PG}/s.i0"]


async def test_a_jobs_latest_lineage_and_type_win_even_when_an_earlier_one_comes_back(client):
    job = ("shop", "flip")

    def event(source: str, integration: str):
        facets = job_type(integration)
        return run_event(
            "START", at(0), new_run_id(), job, inputs=[dataset_in(PG, source)], outputs=[dataset_out(PG, "s.out")], job_facets=facets
        )

    for source, integration in (("s.a", "airflow"), ("s.a", "airflow"), ("s.c", "dbt"), ("s.a", "airflow")):
        await send(client, event(source, integration))
    pipeline = (await get_ok(client, "/pipeline", name_contains="shop/flip"))[0]
    assert pipeline["pipeline_metadata"]["openlineage"]["lineage"]["inputs"] == [f"{PG}/s.a"]
    assert (await get_ok(client, f"/pipeline_type/{pipeline['pipeline_type_id']}"))["name"] == "airflow"
    lineage = await get_ok(client, f"/pipeline/{pipeline['id']}/lineage")
    assert [a["name"] for a in lineage["source_addresses"]] == [f"{PG}/s.a"]


async def test_a_complete_before_its_start_is_checked_for_anomalies_with_its_real_duration(client, clock):
    clock.freeze(dt.datetime(2025, 3, 25, 12, 0, tzinfo=UTC))
    job = ("shop", "timed")
    first = await send(client, run_event("START", dt.datetime(2025, 3, 1, 10, 0, tzinfo=UTC), new_run_id(), job))
    rule = await client.post(
        "/anomaly_detection_rule",
        json={"pipeline_id": first["pipeline_id"], "metric_field": "duration_seconds", "z_threshold": 2, "minimum_executions": 5},
    )
    assert rule.status_code in (200, 201), rule.text
    for day, minutes in enumerate([10, 10.5, 9.5, 10, 10.2], start=2):
        run_id, begin = new_run_id(), dt.datetime(2025, 3, day, 10, 0, tzinfo=UTC)
        await send(client, run_event("START", begin, run_id, job))
        await send(client, run_event("COMPLETE", begin + dt.timedelta(minutes=minutes), run_id, job))
    late, begin = new_run_id(), dt.datetime(2025, 3, 9, 10, 0, tzinfo=UTC)
    ended = await send(client, run_event("COMPLETE", begin + dt.timedelta(minutes=10.3), late, job))
    await asyncio.sleep(BATCH_GATHER_SECONDS + 0.3)  # a background check, if one were queued, would have run
    assert await get_ok(client, "/anomaly_detection_result") == []
    await send(client, run_event("START", begin, late, job))
    for _ in range(100):
        if (await execution_of(client, late))["duration_seconds"] == 618:
            break
        await asyncio.sleep(0.05)
    checked = await client.post("/detect_anomalies", params={"wait": "true"}, json={"pipeline_execution_id": ended["execution_id"]})
    assert checked.status_code in (200, 201), checked.text
    assert await get_ok(client, "/anomaly_detection_result") == []
    assert (await execution_of(client, late))["anomaly_flags"] is None


async def test_filters_with_nul_or_odd_run_ids_answer_422_or_nothing_never_500(client):
    for path, params, expected in (
        ("/pipeline_execution", {"run_id": "a\x00b"}, 200),
        ("/api/v1/lineage/events", {"run_id": "a\x00b"}, 200),
        ("/api/v1/lineage/events", {"namespace": "a\x00b"}, 422),
        ("/api/v1/lineage/events", {"name": "a\x00b"}, 422),
    ):
        answer = await client.get(path, params=params)
        assert answer.status_code == expected, (path, params, answer.text)
        if expected == 200:
            assert answer.json() == []


async def test_integers_beyond_64_bits_in_facets_are_stored_exactly(client):
    body = as_json(run_event("START", at(0), new_run_id(), run_facets={"custom": {"big": 1}}))
    text = json.dumps(body).replace('"big": 1', '"big": 123456789012345678901234567890')
    assert (await client.post(ENDPOINT, content=text, headers={"content-type": "application/json"})).status_code == 201
    other = text.replace("123456789012345678901234567890", "123456789012345678901234567891")
    assert (await client.post(ENDPOINT, content=other, headers={"content-type": "application/json"})).status_code == 201
    stored = await stored_events(client)
    assert sorted(event["event"]["run"]["facets"]["custom"]["big"] for event in stored) == [
        123456789012345678901234567890,
        123456789012345678901234567891,
    ]


async def test_data_after_the_gzip_stream_is_400_and_stores_nothing(client):
    body = gzip.compress(json.dumps(as_json(run_event("START", at(0), new_run_id()))).encode()) + b"trailing"
    answer = await client.post(ENDPOINT, content=body, headers={"content-encoding": "gzip", "content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    await assert_nothing_stored(client)


async def test_job_facets_sent_at_once_by_many_events_of_one_job_are_all_kept(client):
    job = ("shop", "busy")
    await send(client, run_event("START", at(0), new_run_id(), job))
    events = [run_event("START", at(1), new_run_id(), job, job_facets={f"custom{n}": {"n": n}}) for n in range(12)]
    answers = await asyncio.gather(*(client.post(ENDPOINT, json=as_json(event)) for event in events))
    assert [a.status_code for a in answers] == [201] * 12
    pipeline = (await get_ok(client, "/pipeline", name_contains="shop/busy"))[0]
    facets = pipeline["pipeline_metadata"]["openlineage"]["job_facets"]
    assert {f"custom{n}" for n in range(12)} <= set(facets)
