"""The real `openlineage-python` client's HTTP transport against a real `watcher serve --workers 2`:
Airflow- and dbt-shaped runs, gzip with an api_key, and many runs of one job at once
(docs/openlineage.md, "Pointing a producer at Watcher")."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import gzip
import json
import threading

import httpx
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.facet_v2 import nominal_time_run, sql_job
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpCompression, HttpConfig, HttpTransport

from ..e2e.conftest import serving
from .support import (
    UTC,
    AirflowDagRunFacet,
    as_json,
    dataset_in,
    dataset_out,
    error_facet,
    error_text,
    job_type,
    new_run_id,
    parent_facet,
    run_event,
    shown,
)

PG = "postgres://warehouse.internal:5432"
S3 = "s3://acme-staging"


@pytest.fixture
def live_server(database_url, tmp_path):
    with serving(database_url, tmp_path) as base_url:
        yield base_url


def lineage_client(base_url: str, session: requests.Session | None = None, **config) -> OpenLineageClient:
    """The client as a producer configures it: HTTP transport to Watcher's URL (it posts to /api/v1/lineage)."""
    return OpenLineageClient(transport=HttpTransport(HttpConfig(url=base_url, timeout=15, session=session, **config)))


def recording_session() -> tuple[requests.Session, list[requests.Response]]:
    """A requests session that keeps every response (and so the request the client really sent)."""
    session = requests.Session()
    seen: list[requests.Response] = []
    session.hooks["response"].append(lambda response, *args, **kwargs: seen.append(response))
    return session, seen


def one(http: httpx.Client, path: str, **params) -> dict:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    rows = response.json()
    assert len(rows) == 1, rows
    return rows[0]


def by_name(http: httpx.Client, path: str, name: str) -> dict:
    return next(row for row in http.get(path, params={"name_contains": name}).json() if row["name"] == name)


def type_name(http: httpx.Client, pipeline: dict) -> str:
    return http.get(f"/pipeline_type/{pipeline['pipeline_type_id']}").json()["name"]


def test_an_airflow_dag_run_and_its_task_runs_from_the_real_client(live_server):
    session, seen = recording_session()
    client = lineage_client(live_server, session=session)
    base = dt.datetime(2025, 3, 1, 6, 0, 0, 250000, tzinfo=UTC)

    def t(seconds):
        return base + dt.timedelta(seconds=seconds)

    dag, dag_run = ("default", "daily_sales"), new_run_id()
    dag_facets = job_type("AIRFLOW", "DAG")
    dag_run_facets = {
        "nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime="2025-03-01T06:00:00+00:00"),
        "airflowDagRun": AirflowDagRunFacet(
            dag={"dag_id": "daily_sales", "schedule_interval": "0 6 * * *"}, dagRun={"run_id": "scheduled__2025-03-01"}
        ),
    }
    parent = parent_facet(dag_run, dag, dag_run, dag)
    extract, extract_run = ("default", "daily_sales.extract_orders"), new_run_id()
    load, load_run = ("default", "daily_sales.load_summary"), new_run_id()
    extract_sql = "SELECT * FROM public.orders WHERE order_date = '2025-03-01'"
    extract_facets = {**job_type("AIRFLOW", "TASK"), "sql": sql_job.SQLJobFacet(query=extract_sql, dialect="postgres")}
    load_facets = {**job_type("AIRFLOW", "TASK"), "sql": sql_job.SQLJobFacet(query="INSERT INTO public.daily_summary SELECT ...")}
    orders_in = dataset_in(PG, "sales.public.orders")
    staged_out, staged_in = dataset_out(S3, "orders/2025-03-01.parquet", rows=1200), dataset_in(S3, "orders/2025-03-01.parquet")
    summary_out = dataset_out(PG, "sales.public.daily_summary", rows=30)

    events = [
        run_event("START", t(0), dag_run, dag, job_facets=dag_facets, run_facets=dag_run_facets),
        run_event("START", t(5), extract_run, extract, job_facets=extract_facets, parent=parent, inputs=[orders_in]),
        run_event(
            "COMPLETE", t(125), extract_run, extract, job_facets=extract_facets, parent=parent, inputs=[orders_in], outputs=[staged_out]
        ),
        run_event("START", t(130), load_run, load, job_facets=load_facets, parent=parent, inputs=[staged_in]),
        run_event("COMPLETE", t(190), load_run, load, job_facets=load_facets, parent=parent, inputs=[staged_in], outputs=[summary_out]),
        run_event("COMPLETE", t(195), dag_run, dag, job_facets=dag_facets, run_facets=dag_run_facets),
    ]
    for event in events:
        client.emit(event)
    assert [r.status_code for r in seen] == [201] * 6
    assert all(r.request.url == f"{live_server}/api/v1/lineage" for r in seen)

    with httpx.Client(base_url=live_server, timeout=10) as http:
        names = {"default/daily_sales", "default/daily_sales.extract_orders", "default/daily_sales.load_summary"}
        pipelines = {p["name"]: p for p in http.get("/pipeline").json()}
        assert set(pipelines) == names
        assert {type_name(http, p) for p in pipelines.values()} == {"airflow"}

        dag_execution = one(http, "/pipeline_execution", run_id=dag_run)
        assert dag_execution["pipeline_id"] == pipelines["default/daily_sales"]["id"] and dag_execution["parent_id"] is None
        assert (dag_execution["start_date"], dag_execution["end_date"]) == (shown(t(0)), shown(t(195)))
        assert (dag_execution["completed_successfully"], dag_execution["duration_seconds"]) == (True, 195)
        dag_metadata = dag_execution["execution_metadata"]["openlineage"]
        assert dag_metadata["run_id"] == dag_run and dag_metadata["job"] == {"namespace": "default", "name": "daily_sales"}
        assert dag_metadata["run_facets"]["airflowDagRun"] == as_json(dag_run_facets["airflowDagRun"])
        assert dag_metadata["run_facets"]["nominalTime"]["nominalStartTime"] == "2025-03-01T06:00:00+00:00"

        extract_execution = one(http, "/pipeline_execution", run_id=extract_run)
        load_execution = one(http, "/pipeline_execution", run_id=load_run)
        tree = http.get(f"/pipeline_execution/{dag_execution['id']}").json()
        children = {c["id"]: c for c in tree["child_executions"]}
        assert set(children) == {extract_execution["id"], load_execution["id"]}
        for child, begin, end, rows in ((extract_execution, 5, 125, 1200), (load_execution, 130, 190, 30)):
            assert children[child["id"]]["parent_id"] == dag_execution["id"]
            assert (child["start_date"], child["end_date"], child["duration_seconds"]) == (shown(t(begin)), shown(t(end)), end - begin)
            assert (child["completed_successfully"], child["total_rows"]) == (True, rows)
        metadata = extract_execution["execution_metadata"]["openlineage"]
        dag_job = {"namespace": "default", "name": "daily_sales"}
        assert metadata["parent"] == {"run_id": dag_run, "job": dag_job} and metadata["root"] == {"run_id": dag_run, "job": dag_job}
        assert metadata["output_statistics"][f"{S3}/orders/2025-03-01.parquet"]["rowCount"] == 1200

        extract_meta = pipelines["default/daily_sales.extract_orders"]["pipeline_metadata"]["openlineage"]
        assert (extract_meta["namespace"], extract_meta["name"]) == extract
        assert extract_meta["job_facets"]["sql"]["query"] == extract_sql
        assert (extract_meta["job_facets"]["jobType"]["integration"], extract_meta["job_facets"]["jobType"]["jobType"]) == (
            "AIRFLOW",
            "TASK",
        )
        assert extract_meta["lineage"]["inputs"] == [f"{PG}/sales.public.orders"]
        assert extract_meta["lineage"]["outputs"] == [f"{S3}/orders/2025-03-01.parquet"]

        orders = by_name(http, "/address", f"{PG}/sales.public.orders")
        downstream = http.get(f"/address/{orders['id']}/downstream").json()
        assert [(d["name"], d["depth"]) for d in downstream] == [
            (f"{S3}/orders/2025-03-01.parquet", 1), (f"{PG}/sales.public.daily_summary", 2),
        ]  # fmt: skip
        logged = http.get("/api/v1/lineage/events").json()
        assert [(e["run_id"], e["event_type"]) for e in logged] == [(dag_run, "START"), (extract_run, "START"), (extract_run, "COMPLETE"),
                                                                    (load_run, "START"), (load_run, "COMPLETE"), (dag_run, "COMPLETE")]  # fmt: skip


def test_a_dbt_run_from_the_real_client_with_gzip_and_an_api_key(database_url, tmp_path):
    with serving(database_url, tmp_path, api_tokens="ol-writer", api_read_tokens="ol-reader") as base_url:
        probe = as_json(run_event("START", dt.datetime(2025, 3, 1, 7, 0, tzinfo=UTC), new_run_id(), ("dbt", "probe")))
        with httpx.Client(base_url=base_url, timeout=10) as http:
            assert http.post("/api/v1/lineage", json=probe).status_code == 401
            assert http.post("/api/v1/lineage", json=probe, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
            assert http.post("/api/v1/lineage", json=probe, headers={"Authorization": "Bearer ol-reader"}).status_code == 403
        reader = lineage_client(base_url, auth=ApiKeyTokenProvider({"apiKey": "ol-reader"}), compression=HttpCompression.GZIP)
        with pytest.raises(requests.HTTPError) as refused:
            reader.emit(run_event("START", dt.datetime(2025, 3, 1, 7, 0, tzinfo=UTC), new_run_id(), ("dbt", "probe")))
        assert refused.value.response.status_code == 403

        session, seen = recording_session()
        writer = lineage_client(
            base_url, session=session, auth=ApiKeyTokenProvider({"apiKey": "ol-writer"}), compression=HttpCompression.GZIP
        )
        base = dt.datetime(2025, 3, 1, 7, 0, tzinfo=UTC)

        def t(seconds):
            return base + dt.timedelta(seconds=seconds)

        dbt_run_job, dbt_run = ("dbt", "dbt-run-jaffle_shop"), new_run_id()
        stg, stg_run = ("dbt", "jaffle_shop.model.jaffle_shop.stg_orders"), new_run_id()
        orders, orders_run = ("dbt", "jaffle_shop.model.jaffle_shop.orders"), new_run_id()
        parent = parent_facet(dbt_run, dbt_run_job, dbt_run, dbt_run_job)
        model = job_type("DBT", "MODEL")
        raw_in, stg_out, stg_in = (
            dataset_in(PG, "jaffle.raw.orders"),
            dataset_out(PG, "jaffle.public.stg_orders", rows=99),
            dataset_in(PG, "jaffle.public.stg_orders"),
        )
        orders_out = dataset_out(PG, "jaffle.public.orders")
        failure = 'Database Error in model orders (models/orders.sql)\n  column "amount" does not exist'
        for event in [
            run_event("START", t(0), dbt_run, dbt_run_job, job_facets=job_type("DBT", "JOB")),
            run_event("START", t(5), stg_run, stg, job_facets=model, parent=parent, inputs=[raw_in], outputs=[stg_out]),
            run_event("COMPLETE", t(20), stg_run, stg, job_facets=model, parent=parent, inputs=[raw_in], outputs=[stg_out]),
            run_event("START", t(21), orders_run, orders, job_facets=model, parent=parent, inputs=[stg_in], outputs=[orders_out]),
            run_event(
                "FAIL",
                t(30),
                orders_run,
                orders,
                job_facets=model,
                parent=parent,
                run_facets=error_facet(failure, "sql"),
                inputs=[stg_in],
                outputs=[orders_out],
            ),
            run_event("FAIL", t(31), dbt_run, dbt_run_job, job_facets=job_type("DBT", "JOB")),
        ]:
            writer.emit(event)
        assert [r.status_code for r in seen] == [201] * 6
        assert all(r.request.headers["Content-Encoding"] == "gzip" for r in seen)
        assert all(r.request.headers["Authorization"] == "Bearer ol-writer" for r in seen)

        with httpx.Client(base_url=base_url, timeout=10, headers={"Authorization": "Bearer ol-reader"}) as http:
            pipelines = {p["name"]: p for p in http.get("/pipeline").json()}
            assert set(pipelines) == {
                "dbt/dbt-run-jaffle_shop",
                "dbt/jaffle_shop.model.jaffle_shop.stg_orders",
                "dbt/jaffle_shop.model.jaffle_shop.orders",
            }
            assert {type_name(http, p) for p in pipelines.values()} == {"dbt"}
            run_execution = one(http, "/pipeline_execution", run_id=dbt_run)
            assert (run_execution["completed_successfully"], run_execution["end_date"]) == (False, shown(t(31)))
            assert "error_message" not in run_execution["execution_metadata"]["openlineage"]
            stg_execution = one(http, "/pipeline_execution", run_id=stg_run)
            orders_execution = one(http, "/pipeline_execution", run_id=orders_run)
            tree = http.get(f"/pipeline_execution/{run_execution['id']}").json()
            assert {c["id"] for c in tree["child_executions"]} == {stg_execution["id"], orders_execution["id"]}
            assert (stg_execution["completed_successfully"], stg_execution["total_rows"], stg_execution["duration_seconds"]) == (
                True,
                99,
                15,
            )
            assert (orders_execution["completed_successfully"], orders_execution["start_date"], orders_execution["end_date"]) == (
                False,
                shown(t(21)),
                shown(t(30)),
            )
            assert error_text(orders_execution["execution_metadata"]["openlineage"]["error_message"]) == failure
            raw = by_name(http, "/address", f"{PG}/jaffle.raw.orders")
            downstream = http.get(f"/address/{raw['id']}/downstream").json()
            assert [(d["name"], d["depth"]) for d in downstream] == [
                (f"{PG}/jaffle.public.stg_orders", 1),
                (f"{PG}/jaffle.public.orders", 2),
            ]
            logged = http.get("/api/v1/lineage/events")
            assert logged.status_code == 200 and len(logged.json()) == 6  # the refused probes stored nothing
            # the log holds each event exactly as the client sent it
            assert [e["event"] for e in logged.json()] == [json.loads(gzip.decompress(r.request.body)) for r in seen]


def test_fifty_concurrent_runs_of_one_job_give_one_pipeline_and_fifty_ended_executions(live_server):
    job = ("spark_prod", "nightly_aggregation")
    runs = [(new_run_id(), n) for n in range(1, 51)]
    base = dt.datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
    local = threading.local()

    def client() -> OpenLineageClient:
        if not hasattr(local, "client"):
            local.client = lineage_client(live_server)
        return local.client

    def start(run):
        run_id, n = run
        client().emit(run_event("START", base + dt.timedelta(seconds=n), run_id, job, job_facets=job_type("SPARK", "JOB")))

    def complete(run):
        run_id, n = run
        outputs = [dataset_out(S3, f"aggregates/part-{n:03}", rows=n)]
        client().emit(run_event("COMPLETE", base + dt.timedelta(minutes=10, seconds=n), run_id, job, outputs=outputs))

    with concurrent.futures.ThreadPoolExecutor(max_workers=25) as pool:
        list(pool.map(start, runs))  # the job is new: every one of the first 25 may be the one that creates it
        list(pool.map(complete, runs))

    with httpx.Client(base_url=live_server, timeout=10) as http:
        [pipeline] = http.get("/pipeline").json()
        assert pipeline["name"] == "spark_prod/nightly_aggregation" and type_name(http, pipeline) == "spark"
        executions = http.get(f"/pipeline/{pipeline['id']}/executions").json()
        assert len(executions) == 50 and len(http.get("/pipeline_execution").json()) == 50
        assert all(e["completed_successfully"] is True and e["end_date"] is not None for e in executions)
        assert sorted(e["total_rows"] for e in executions) == list(range(1, 51))
        assert all(e["duration_seconds"] == 600 for e in executions)
        for run_id, n in runs[::7]:
            assert one(http, "/pipeline_execution", run_id=run_id)["total_rows"] == n
        assert len(http.get("/api/v1/lineage/events").json()) == 100
