"""OpenLineage jobs → pipelines, runs → executions, parents → nested executions (docs/openlineage.md,
"The mapping"), posted in-process as the real client serialises them."""

import asyncio
import datetime as dt
import hashlib
import re

import pytest

from .support import (
    UTC,
    AirflowDagRunFacet,
    as_json,
    at,
    dataset_in,
    dataset_out,
    error_facet,
    error_text,
    execution_of,
    get_ok,
    job_event,
    job_type,
    new_run_id,
    parent_facet,
    pipeline_named,
    run_event,
    send,
    sent,
    shown,
    stored_events,
    type_of,
)

JOB = ("shop", "load_orders")
PG = "postgres://db.example.com:5432"


def created(answer: dict, kind: str = "run") -> tuple[int, int | None]:
    assert answer["status"] == "created" and answer["event_kind"] == kind, answer
    assert isinstance(answer["event_id"], int), answer
    return answer["pipeline_id"], answer["execution_id"]


async def test_a_start_then_complete_gives_one_successful_execution_with_the_event_times(client):
    run_id = new_run_id()
    begin = dt.datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)
    finish = begin + dt.timedelta(minutes=5)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    start = run_event("START", begin.astimezone(plus_two), run_id, JOB)  # any offset: stored as the same instant
    assert sent(begin.astimezone(plus_two)).endswith("+02:00")
    complete = run_event(
        "COMPLETE", finish, run_id, JOB, outputs=[dataset_out(PG, "shop.public.a", rows=100), dataset_out(PG, "shop.public.b", rows=250)]
    )

    pipeline_id, execution_id = created(await send(client, start))
    assert (pipeline_id, execution_id) == created(await send(client, complete))

    execution = await execution_of(client, run_id)
    assert execution["id"] == execution_id and execution["pipeline_id"] == pipeline_id and execution["parent_id"] is None
    assert (execution["start_date"], execution["end_date"]) == (shown(begin), shown(finish))
    assert execution["completed_successfully"] is True and execution["duration_seconds"] == 300
    assert execution["total_rows"] == 350 and execution["throughput"] == 1.1667
    assert [e["id"] for e in await get_ok(client, "/pipeline_execution")] == [execution_id]
    assert await get_ok(client, "/pipeline_execution", run_id=new_run_id()) == []
    pipeline = await pipeline_named(client, "shop/load_orders")
    assert pipeline["id"] == pipeline_id and await type_of(client, pipeline) == "shop"


async def test_a_job_is_the_pipeline_named_namespace_slash_name_lower_cased_with_its_integration_as_type(client):
    facets = job_type("AIRFLOW", "TASK")
    first = run_event("START", at(0), new_run_id(), (" Airflow-Prod", "Daily_Sales.Load_Orders "), job_facets=facets)
    pipeline_id, _ = created(await send(client, first))
    pipeline = await pipeline_named(client, "airflow-prod/daily_sales.load_orders")
    assert pipeline["id"] == pipeline_id and await type_of(client, pipeline) == "airflow"
    metadata = pipeline["pipeline_metadata"]["openlineage"]
    assert (metadata["namespace"], metadata["name"]) == (" Airflow-Prod", "Daily_Sales.Load_Orders ")  # exactly as sent
    assert metadata["job_facets"]["jobType"] == as_json(facets["jobType"])

    again = run_event("START", at(1), new_run_id(), ("airflow-prod", "daily_sales.load_orders"))
    assert created(await send(client, again))[0] == pipeline_id
    assert len(await get_ok(client, "/pipeline")) == 1


async def test_a_new_job_without_a_job_type_takes_its_namespace_as_type_and_an_existing_one_keeps_its_type(client):
    created(await send(client, run_event("START", at(0), new_run_id(), ("analytics", "orders"), job_facets=job_type("DBT", "MODEL"))))
    created(await send(client, run_event("START", at(1), new_run_id(), ("analytics", "orders"))))
    created(await send(client, run_event("START", at(2), new_run_id(), ("warehouse_jobs", "nightly"))))
    assert await type_of(client, await pipeline_named(client, "analytics/orders")) == "dbt"
    assert await type_of(client, await pipeline_named(client, "warehouse_jobs/nightly")) == "warehouse_jobs"


async def test_the_job_facets_of_all_events_are_kept_the_latest_value_of_each_winning(client):
    run_id = new_run_id()
    sql_v1 = {"sql": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json", "query": "select 1"}}
    sql_v2 = {"sql": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/SQLJobFacet.json", "query": "select 2"}}
    start = as_json(run_event("START", at(0), run_id, JOB, job_facets=job_type("SPARK", "JOB")))
    start["job"]["facets"].update(sql_v1)
    complete = as_json(run_event("COMPLETE", at(1), run_id, JOB))
    complete["job"]["facets"].update(sql_v2)
    await send(client, start)
    await send(client, complete)
    job_facets = (await pipeline_named(client, "shop/load_orders"))["pipeline_metadata"]["openlineage"]["job_facets"]
    assert job_facets["sql"] == sql_v2["sql"]
    assert job_facets["jobType"] == start["job"]["facets"]["jobType"]


async def test_a_name_longer_than_150_characters_keeps_141_and_a_stable_hash_suffix(client):
    exact = ("ns", "x" * 147)  # "ns/" + 147 = 150 characters: kept whole
    long_a = ("ns", "a" * 200 + "-one")
    long_b = ("ns", "a" * 200 + "-two")  # same first 141 characters, another job
    ids = {}
    for job in (exact, long_a, long_b):
        ids[job] = created(await send(client, run_event("START", at(0), new_run_id(), job)))[0]
    assert created(await send(client, run_event("START", at(1), new_run_id(), long_a)))[0] == ids[long_a]

    names = {p["id"]: p["name"] for p in await get_ok(client, "/pipeline")}
    assert len(names) == 3
    assert names[ids[exact]] == "ns/" + "x" * 147
    for job in (long_a, long_b):
        name = names[ids[job]]
        full = f"{job[0]}/{job[1]}"
        assert len(name) == 150 and re.fullmatch(r"ns/a{138}~[0-9a-f]{8}", name), name
        assert name[-8:] in hashlib.sha256(full.encode()).hexdigest(), (name, full)
    assert names[ids[long_a]] != names[ids[long_b]]
    pipeline = await get_ok(client, f"/pipeline/{ids[long_a]}")
    assert pipeline["pipeline_metadata"]["openlineage"]["name"] == long_a[1]


async def test_fail_and_abort_end_the_run_unsuccessfully_and_a_fail_keeps_its_error_message(client):
    failed, aborted = new_run_id(), new_run_id()
    await send(client, run_event("START", at(0), failed, JOB))
    await send(client, run_event("FAIL", at(2), failed, JOB, run_facets=error_facet("relation orders does not exist")))
    await send(client, run_event("START", at(0), aborted, JOB))
    await send(client, run_event("ABORT", at(3), aborted, JOB))

    fail = await execution_of(client, failed)
    assert (fail["completed_successfully"], fail["end_date"], fail["duration_seconds"]) == (False, shown(at(2)), 120)
    assert error_text(fail["execution_metadata"]["openlineage"]["error_message"]) == "relation orders does not exist"
    abort = await execution_of(client, aborted)
    assert (abort["completed_successfully"], abort["end_date"]) == (False, shown(at(3)))
    assert "error_message" not in abort["execution_metadata"]["openlineage"]


async def test_running_and_other_events_only_add_metadata_and_the_run_exists_from_then_on(client):
    run_id = new_run_id()
    first = AirflowDagRunFacet(dag={"dag_id": "d"}, dagRun={"state": "running"})
    answer = await send(client, run_event("RUNNING", at(3), run_id, JOB, run_facets={"airflowDagRun": first}))
    _, execution_id = created(answer)
    execution = await execution_of(client, run_id)
    assert execution["id"] == execution_id
    assert (execution["start_date"], execution["end_date"], execution["completed_successfully"]) == (shown(at(3)), None, None)

    other = as_json(run_event("OTHER", at(4), run_id, JOB))
    other["run"]["facets"]["progress"] = {"_producer": "p", "_schemaURL": "https://example.com/progress.json", "percent": 40}
    await send(client, other)
    no_type = as_json(run_event("OTHER", at(4.5), run_id, JOB))
    del no_type["eventType"]  # missing is read as OTHER
    await send(client, no_type)
    execution = await execution_of(client, run_id)
    assert (execution["end_date"], execution["completed_successfully"]) == (None, None)
    run_facets = execution["execution_metadata"]["openlineage"]["run_facets"]
    assert run_facets["airflowDagRun"] == as_json(first)
    assert run_facets["progress"]["percent"] == 40
    assert [e["event_type"] for e in await stored_events(client, run_id=run_id)] == ["RUNNING", "OTHER", "OTHER"]

    await send(client, run_event("START", at(0), run_id, JOB))  # the earliest eventTime is the start
    assert (await execution_of(client, run_id))["start_date"] == shown(at(0))


async def test_a_complete_before_its_start_gives_one_execution_with_the_right_start_and_end(client):
    run_id = new_run_id()
    complete = run_event("COMPLETE", at(5), run_id, JOB, outputs=[dataset_out(PG, "shop.public.orders", rows=600)])
    _, execution_id = created(await send(client, complete))
    early = await execution_of(client, run_id)
    assert early["id"] == execution_id and early["completed_successfully"] is True
    assert (early["start_date"], early["end_date"]) == (shown(at(5) - dt.timedelta(microseconds=1)), shown(at(5)))
    assert (early["duration_seconds"], early["total_rows"], early["throughput"]) == (0, 600, 0.0)

    assert created(await send(client, run_event("START", at(0), run_id, JOB)))[1] == execution_id
    execution = await execution_of(client, run_id)
    assert execution["id"] == execution_id and execution["completed_successfully"] is True
    assert (execution["start_date"], execution["end_date"]) == (shown(at(0)), shown(at(5)))
    assert (execution["duration_seconds"], execution["total_rows"], execution["throughput"]) == (300, 600, 2.0)
    assert len(await get_ok(client, "/pipeline_execution")) == 1


async def test_the_first_terminal_event_decides_the_outcome_and_later_ones_are_only_logged(client):
    run_id = new_run_id()
    await send(client, run_event("START", at(0), run_id, JOB))
    await send(client, run_event("COMPLETE", at(5), run_id, JOB))
    before = await execution_of(client, run_id)
    late = await send(client, run_event("FAIL", at(6), run_id, JOB, run_facets=error_facet("too late")))
    assert late["status"] == "created"
    after = await execution_of(client, run_id)
    assert after == before
    assert (after["completed_successfully"], after["end_date"]) == (True, shown(at(5)))
    assert "error_message" not in after["execution_metadata"]["openlineage"]
    assert [e["event_type"] for e in await stored_events(client, run_id=run_id)] == ["START", "COMPLETE", "FAIL"]


def reordered(value):
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


async def test_a_repeated_event_is_answered_repeat_whatever_its_key_order_and_changes_nothing(client):
    run_id = new_run_id()
    start = as_json(run_event("START", at(0), run_id, JOB, inputs=[dataset_in(PG, "shop.public.raw")]))
    complete = as_json(run_event("COMPLETE", at(5), run_id, JOB, outputs=[dataset_out(PG, "shop.public.orders", rows=10)]))
    first = await send(client, start)
    repeat = await send(client, start, expected=200)
    assert repeat == {**first, "status": "repeat"}
    done = await send(client, complete)
    execution = await execution_of(client, run_id)
    assert list(reordered(complete)) != list(complete)
    assert await send(client, reordered(complete), expected=200) == {**done, "status": "repeat"}
    assert await send(client, start, expected=200) == {**first, "status": "repeat"}

    assert await execution_of(client, run_id) == execution
    assert len(await stored_events(client)) == 2
    assert len(await get_ok(client, "/pipeline")) == 1 and len(await get_ok(client, "/address")) == 2


async def test_execution_metadata_holds_the_run_its_job_parent_root_facets_and_statistics(client):
    run_id, dag_run, root_run = new_run_id(), new_run_id(), new_run_id()
    parent = parent_facet(dag_run, ("airflow", "daily_sales"), root_run, ("airflow", "all_sales"))
    job = ("airflow", "daily_sales.load_orders")
    v1 = AirflowDagRunFacet(dag={"dag_id": "daily_sales"}, dagRun={"state": "running"})
    v2 = AirflowDagRunFacet(dag={"dag_id": "daily_sales"}, dagRun={"state": "success"})
    source = dataset_in(PG, "shop.public.raw_orders", rows=40)
    await send(client, run_event("START", at(0), run_id, job, inputs=[source], parent=parent, run_facets={"airflowDagRun": v1}))
    outputs = [dataset_out(PG, "shop.public.orders", rows=35)]
    await send(
        client, run_event("COMPLETE", at(2), run_id, job, inputs=[source], outputs=outputs, parent=parent, run_facets={"airflowDagRun": v2})
    )

    metadata = (await execution_of(client, run_id))["execution_metadata"]["openlineage"]
    assert metadata["run_id"] == run_id
    assert metadata["job"] == {"namespace": "airflow", "name": "daily_sales.load_orders"}
    assert metadata["parent"] == {"run_id": dag_run, "job": {"namespace": "airflow", "name": "daily_sales"}}
    assert metadata["root"] == {"run_id": root_run, "job": {"namespace": "airflow", "name": "all_sales"}}
    assert metadata["run_facets"]["airflowDagRun"] == as_json(v2)
    assert metadata["input_statistics"][f"{PG}/shop.public.raw_orders"]["rowCount"] == 40
    assert metadata["output_statistics"][f"{PG}/shop.public.orders"]["rowCount"] == 35
    assert "error_message" not in metadata


async def test_a_parent_seen_only_through_a_child_facet_is_created_running_then_gets_its_own_times(client):
    dag_run, task_run = new_run_id(), new_run_id()
    dag = ("airflow", "daily_sales")
    task = ("airflow", "daily_sales.extract")
    parent = parent_facet(dag_run, dag, dag_run, dag)
    _, task_execution = created(await send(client, run_event("START", at(1), task_run, task, parent=parent)))

    dag_pipeline = await pipeline_named(client, "airflow/daily_sales")
    waiting = await execution_of(client, dag_run)
    assert waiting["pipeline_id"] == dag_pipeline["id"]
    assert (waiting["start_date"], waiting["end_date"], waiting["completed_successfully"]) == (shown(at(1)), None, None)
    child = await execution_of(client, task_run)
    assert child["id"] == task_execution and child["parent_id"] == waiting["id"]
    tree = await get_ok(client, f"/pipeline_execution/{waiting['id']}")
    assert [c["id"] for c in tree["child_executions"]] == [task_execution]

    await send(client, run_event("COMPLETE", at(4), task_run, task, parent=parent))
    own_start = await send(client, run_event("START", at(0), dag_run, dag, job_facets=job_type("AIRFLOW", "DAG")))
    assert own_start["execution_id"] == waiting["id"]
    await send(client, run_event("COMPLETE", at(5), dag_run, dag, job_facets=job_type("AIRFLOW", "DAG")))
    dag_execution = await execution_of(client, dag_run)
    assert dag_execution["id"] == waiting["id"] and dag_execution["completed_successfully"] is True
    assert (dag_execution["start_date"], dag_execution["end_date"], dag_execution["duration_seconds"]) == (shown(at(0)), shown(at(5)), 300)
    assert len(await get_ok(client, "/pipeline_execution")) == 2
    tree = await get_ok(client, f"/pipeline_execution/{waiting['id']}")
    assert [(c["id"], c["completed_successfully"]) for c in tree["child_executions"]] == [(task_execution, True)]


async def test_the_first_event_of_a_run_that_names_a_parent_sets_it_for_good(client):
    run_id, first_parent, other_parent = new_run_id(), new_run_id(), new_run_id()
    job = ("dbt", "shop.model.orders")
    await send(client, run_event("START", at(0), run_id, job))
    assert (await execution_of(client, run_id))["parent_id"] is None
    await send(client, run_event("RUNNING", at(1), run_id, job, parent=parent_facet(first_parent, ("dbt", "dbt-run-shop"))))
    await send(client, run_event("COMPLETE", at(2), run_id, job, parent=parent_facet(other_parent, ("dbt", "dbt-run-other"))))
    execution = await execution_of(client, run_id)
    parent_execution = await execution_of(client, first_parent)
    assert execution["parent_id"] == parent_execution["id"]
    tree = await get_ok(client, f"/pipeline_execution/{parent_execution['id']}")
    assert [c["id"] for c in tree["child_executions"]] == [execution["id"]]


async def test_task_runs_of_a_dag_run_that_started_first_nest_under_it_at_every_depth(client):
    dag_run, task_run, step_run = new_run_id(), new_run_id(), new_run_id()
    dag, task, step = ("airflow", "daily_sales"), ("airflow", "daily_sales.extract"), ("spark", "extract_job")
    dag_execution = created(await send(client, run_event("START", at(0), dag_run, dag)))[1]
    task_execution = created(await send(client, run_event("START", at(1), task_run, task, parent=parent_facet(dag_run, dag))))[1]
    step_parent = parent_facet(task_run, task, dag_run, dag)
    step_execution = created(await send(client, run_event("START", at(2), step_run, step, parent=step_parent)))[1]
    running = await get_ok(client, f"/pipeline_execution/{dag_execution}")  # nested by the STARTs alone
    assert [c["id"] for c in running["child_executions"]] == [task_execution]
    assert [c["id"] for c in running["child_executions"][0]["child_executions"]] == [step_execution]
    for run_id, job, minute, parent in (
        (step_run, step, 3, step_parent),
        (task_run, task, 4, parent_facet(dag_run, dag)),
        (dag_run, dag, 5, None),
    ):
        await send(client, run_event("COMPLETE", at(minute), run_id, job, parent=parent))

    assert (await execution_of(client, task_run))["parent_id"] == dag_execution
    assert (await execution_of(client, step_run))["parent_id"] == task_execution
    tree = await get_ok(client, f"/pipeline_execution/{dag_execution}")
    assert [c["id"] for c in tree["child_executions"]] == [task_execution]
    assert [c["id"] for c in tree["child_executions"][0]["child_executions"]] == [step_execution]
    assert all(e["completed_successfully"] for e in await get_ok(client, "/pipeline_execution"))


async def test_a_run_whose_end_first_names_its_parent_is_nested_under_it_by_that_end(client):
    run_id, dbt_run = new_run_id(), new_run_id()
    job, dbt_job = ("dbt", "shop.model.orders"), ("dbt", "dbt-run-shop")
    dbt_execution = created(await send(client, run_event("START", at(0), dbt_run, dbt_job)))[1]
    await send(client, run_event("START", at(1), run_id, job))
    await send(client, run_event("COMPLETE", at(2), run_id, job, parent=parent_facet(dbt_run, dbt_job)))

    execution = await execution_of(client, run_id)
    assert execution["parent_id"] == dbt_execution and execution["completed_successfully"] is True
    tree = await get_ok(client, f"/pipeline_execution/{dbt_execution}")
    assert [c["id"] for c in tree["child_executions"]] == [execution["id"]]


async def test_anomaly_detection_runs_on_openlineage_executions_after_a_successful_end(client, clock):
    clock.freeze(dt.datetime(2025, 3, 25, 12, 0, tzinfo=UTC))
    pipeline_id, execution_id = created(await send(client, job_event(at(0), JOB)), kind="job")
    assert execution_id is None
    rule = await client.post(
        "/anomaly_detection_rule",
        json={"pipeline_id": pipeline_id, "metric_field": "total_rows", "z_threshold": 2, "minimum_executions": 5},
    )
    assert rule.status_code in (200, 201), rule.text
    last = None
    for day, rows in enumerate([20, 22, 24, 26, 28, 500], start=1):
        run_id, begin = new_run_id(), dt.datetime(2025, 3, day, 10, 0, tzinfo=UTC)
        await send(client, run_event("START", begin, run_id, JOB))
        done = await send(
            client, run_event("COMPLETE", at(10, begin), run_id, JOB, outputs=[dataset_out(PG, "shop.public.orders", rows=rows)])
        )
        last = done["execution_id"]
    for _ in range(200):
        if await get_ok(client, "/anomaly_detection_result"):
            break
        await asyncio.sleep(0.05)
    results = await get_ok(client, "/anomaly_detection_result")
    assert [r["pipeline_execution_id"] for r in results] == [last]
    assert (await get_ok(client, f"/pipeline_execution/{last}"))["anomaly_flags"] == {"total_rows": True}


@pytest.mark.settings(auto_create_anomaly_detection_rules=True)
async def test_a_pipeline_created_by_an_event_gets_anomaly_rules_when_auto_creation_is_on(client):
    pipeline_id, _ = created(await send(client, run_event("START", at(0), new_run_id(), JOB)))
    rules = await get_ok(client, "/anomaly_detection_rule", pipeline_id=pipeline_id)
    assert rules and all(r["pipeline_id"] == pipeline_id for r in rules)


async def test_a_start_stamped_after_its_end_still_leaves_the_start_before_the_end(client):
    late_start, early_start = new_run_id(), new_run_id()
    await send(client, run_event("COMPLETE", at(5), late_start, JOB))
    await send(client, run_event("START", at(6), late_start, JOB))  # a producer's clock ahead of the other's
    skewed = await execution_of(client, late_start)
    assert (skewed["start_date"], skewed["end_date"]) == (shown(at(5) - dt.timedelta(microseconds=1)), shown(at(5)))
    await send(client, run_event("START", at(6), early_start, JOB))
    await send(client, run_event("COMPLETE", at(5), early_start, JOB))
    ended = await execution_of(client, early_start)
    assert (ended["start_date"], ended["end_date"], ended["completed_successfully"]) == (
        shown(at(5) - dt.timedelta(microseconds=1)), shown(at(5)), True,
    )  # fmt: skip


async def test_a_pipeline_made_from_events_keeps_the_configuration_given_to_it(client):
    pipeline_id, _ = created(await send(client, run_event("START", at(0), new_run_id(), JOB, job_facets=job_type("SPARK", "JOB"))))
    patched = await client.patch(
        "/pipeline", json={"id": pipeline_id, "freshness_number": 1, "freshness_datepart": "hour", "mute_timeliness_check": True}
    )
    assert patched.status_code == 200, patched.text
    await send(client, run_event("START", at(10), new_run_id(), JOB, job_facets=job_type("SPARK", "JOB")))
    await send(client, job_event(at(11), JOB, job_facets=job_type("SPARK", "JOB")))
    pipeline = await get_ok(client, f"/pipeline/{pipeline_id}")
    assert (pipeline["freshness_number"], pipeline["freshness_datepart"], pipeline["mute_timeliness_check"]) == (1, "hour", True)
    assert pipeline["active"] is True and await type_of(client, pipeline) == "spark"
