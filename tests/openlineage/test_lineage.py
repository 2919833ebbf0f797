"""OpenLineage datasets → addresses, inputs × outputs → lineage; JobEvents and DatasetEvents
(docs/openlineage.md, "Datasets → addresses and lineage")."""

from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset

from .support import (
    address_named,
    address_type_of,
    as_json,
    at,
    dataset_event,
    dataset_in,
    dataset_out,
    execution_of,
    get_ok,
    job_event,
    job_type,
    new_run_id,
    pipeline_named,
    run_event,
    send,
    type_of,
)

PG = "postgres://db.example.com:5432"
SNOWFLAKE = "snowflake://acme-prod"
SPARK_JOB = ("spark_prod", "orders_enrichment.execute_insert_into_hadoop_fs_relation_command")


def schema_facet(*columns: str) -> dict:
    fields = [schema_dataset.SchemaDatasetFacetFields(name=c, type="VARCHAR") for c in columns]
    return {"schema": schema_dataset.SchemaDatasetFacet(fields=fields)}


def column_lineage_facet() -> dict:
    def field(namespace, name, column):
        transformation = column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")
        return column_lineage_dataset.InputField(namespace=namespace, name=name, field=column, transformations=[transformation])

    return {
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                "order_id": column_lineage_dataset.Fields(inputFields=[field(PG, "shop.public.orders", "id")]),
                "event_count": column_lineage_dataset.Fields(
                    inputFields=[field("s3://raw-bucket", "events/2025", "event_id")], transformationType="AGGREGATION"
                ),
            }
        )
    }


async def lineage_of(client, pipeline_id: int) -> tuple[list[str], list[str]]:
    found = await get_ok(client, f"/pipeline/{pipeline_id}/lineage")
    return sorted(a["name"] for a in found["source_addresses"]), sorted(a["name"] for a in found["target_addresses"])


async def test_spark_inputs_and_outputs_become_typed_addresses_and_the_jobs_lineage(client):
    run_id = new_run_id()
    inputs = [dataset_in(PG, "shop.public.orders", facets=schema_facet("id", "amount")), dataset_in("s3://raw-bucket", "events/2025")]
    outputs = [
        dataset_out(SNOWFLAKE, "ANALYTICS.PUBLIC.ORDERS_ENRICHED", facets=column_lineage_facet(), rows=900),
        dataset_out("kafka://broker-1:9092", "orders-enriched"),
    ]
    facets = job_type("SPARK", "JOB")
    await send(client, run_event("START", at(0), run_id, SPARK_JOB, inputs=inputs, job_facets=facets))
    answer = await send(client, run_event("COMPLETE", at(3), run_id, SPARK_JOB, inputs=inputs, outputs=outputs, job_facets=facets))

    orders = await address_named(client, f"{PG}/shop.public.orders")
    events = await address_named(client, "s3://raw-bucket/events/2025")
    enriched = await address_named(client, f"{SNOWFLAKE}/analytics.public.orders_enriched")
    topic = await address_named(client, "kafka://broker-1:9092/orders-enriched")
    assert len(await get_ok(client, "/address")) == 4
    assert (orders["database_name"], orders["schema_name"], orders["table_name"]) == ("shop", "public", "orders")
    assert (enriched["database_name"], enriched["schema_name"], enriched["table_name"]) == ("analytics", "public", "orders_enriched")
    assert (events["database_name"], events["table_name"]) == (None, None)
    assert orders["address_metadata"]["openlineage"] == {
        "namespace": PG, "name": "shop.public.orders", "facets": {"schema": as_json(inputs[0].facets["schema"])},
    }  # fmt: skip
    enriched_metadata = enriched["address_metadata"]["openlineage"]
    assert (enriched_metadata["namespace"], enriched_metadata["name"]) == (SNOWFLAKE, "ANALYTICS.PUBLIC.ORDERS_ENRICHED")
    assert enriched_metadata["facets"]["columnLineage"] == as_json(outputs[0].facets["columnLineage"])

    pipeline = await pipeline_named(client, "spark_prod/orders_enrichment.execute_insert_into_hadoop_fs_relation_command")
    assert pipeline["id"] == answer["pipeline_id"] and await type_of(client, pipeline) == "spark"
    assert await lineage_of(client, pipeline["id"]) == (sorted([orders["name"], events["name"]]), sorted([enriched["name"], topic["name"]]))
    lineage = pipeline["pipeline_metadata"]["openlineage"]["lineage"]
    assert sorted(lineage["inputs"]) == sorted([orders["name"], events["name"]])
    assert sorted(lineage["outputs"]) == sorted([enriched["name"], topic["name"]])

    downstream = await get_ok(client, f"/address/{orders['id']}/downstream")
    assert sorted((d["name"], d["depth"]) for d in downstream) == sorted([(enriched["name"], 1), (topic["name"], 1)])
    upstream = await get_ok(client, f"/address/{topic['id']}/upstream")
    assert sorted(u["name"] for u in upstream) == sorted([orders["name"], events["name"]])
    graph = await get_ok(client, "/lineage-graph/", source_address_id=events["id"])
    edges = {(e["source_address_id"], e["target_address_id"], e["pipeline_id"]) for e in graph["edges"]}
    assert edges == {(s, t, pipeline["id"]) for s in (orders["id"], events["id"]) for t in (enriched["id"], topic["id"])}
    assert (await execution_of(client, run_id))["total_rows"] == 900
    # each address's type is its namespace's scheme, in the group of that scheme
    assert await address_type_of(client, orders) == ("postgres", "table")
    assert await address_type_of(client, events) == ("s3", "file")
    assert await address_type_of(client, enriched) == ("snowflake", "table")
    assert await address_type_of(client, topic) == ("kafka", "openlineage")


async def test_storage_schemes_are_files_and_a_namespace_without_a_scheme_is_openlineage(client):
    inputs = [dataset_in("gs://landing", "exports/orders.csv"), dataset_in("hdfs://namenode:8020", "warehouse/orders")]
    outputs = [dataset_out("warehouse", "staging.orders")]
    await send(client, run_event("COMPLETE", at(1), new_run_id(), ("etl", "copy"), inputs=inputs, outputs=outputs))
    assert await address_type_of(client, await address_named(client, "gs://landing/exports/orders.csv")) == ("gs", "file")
    assert await address_type_of(client, await address_named(client, "hdfs://namenode:8020/warehouse/orders")) == ("hdfs", "file")
    assert await address_type_of(client, await address_named(client, "warehouse/staging.orders")) == ("openlineage", "openlineage")


async def test_the_lineage_follows_the_latest_event_and_a_side_left_empty_keeps_what_was_known(client):
    a, b, c, d = (f"{PG}/shop.public.{t}" for t in "abcd")
    job = ("shop", "build")

    def side(*names):
        return [n.rsplit("/", 1)[1] for n in names]

    first, second = new_run_id(), new_run_id()
    answer = await send(client, run_event("START", at(0), first, job, inputs=[dataset_in(PG, n) for n in side(a)]))
    pipeline_id = answer["pipeline_id"]
    assert await lineage_of(client, pipeline_id) == ([], [])  # no output known yet: no edge
    ins, outs = [dataset_in(PG, n) for n in side(a)], [dataset_out(PG, n) for n in side(b)]
    await send(client, run_event("COMPLETE", at(5), first, job, inputs=ins, outputs=outs))
    assert await lineage_of(client, pipeline_id) == ([a], [b])

    # load_lineage governs SDK declarations only
    patched = await client.patch("/pipeline", json={"id": pipeline_id, "load_lineage": False})
    assert patched.status_code == 200, patched.text
    await send(client, run_event("START", at(10), second, job, inputs=[dataset_in(PG, n) for n in side(c)]))
    assert await lineage_of(client, pipeline_id) == ([c], [b])  # outputs kept
    assert await get_ok(client, f"/address/{(await address_named(client, a))['id']}/downstream") == []
    await send(client, run_event("COMPLETE", at(15), second, job, outputs=[dataset_out(PG, n) for n in side(d)]))
    assert await lineage_of(client, pipeline_id) == ([c], [d])  # inputs kept
    lineage = (await get_ok(client, f"/pipeline/{pipeline_id}"))["pipeline_metadata"]["openlineage"]["lineage"]
    assert (sorted(lineage["inputs"]), sorted(lineage["outputs"])) == ([c], [d])
    downstream = await get_ok(client, f"/address/{(await address_named(client, c))['id']}/downstream")
    assert [x["name"] for x in downstream] == [d]


async def test_a_job_event_declares_lineage_without_a_run(client):
    facets = job_type("AIRFLOW", "TASK")
    event = job_event(
        at(0),
        ("airflow", "daily_sales.load"),
        inputs=[dataset_in(PG, "shop.public.raw")],
        outputs=[dataset_out(PG, "shop.public.clean")],
        job_facets=facets,
    )
    answer = await send(client, event)
    assert (answer["status"], answer["event_kind"], answer["execution_id"]) == ("created", "job", None)
    pipeline = await pipeline_named(client, "airflow/daily_sales.load")
    assert pipeline["id"] == answer["pipeline_id"] and await type_of(client, pipeline) == "airflow"
    assert pipeline["pipeline_metadata"]["openlineage"]["job_facets"]["jobType"] == as_json(facets["jobType"])
    assert await lineage_of(client, pipeline["id"]) == ([f"{PG}/shop.public.raw"], [f"{PG}/shop.public.clean"])
    assert await get_ok(client, "/pipeline_execution") == []
    assert (await send(client, event, expected=200))["status"] == "repeat"


async def test_a_dataset_event_creates_then_updates_its_address(client):
    first = dataset_event(at(0), PG, "shop.public.customers", facets=schema_facet("id"))
    answer = await send(client, first)
    assert (answer["status"], answer["event_kind"], answer["pipeline_id"], answer["execution_id"]) == ("created", "dataset", None, None)
    address = await address_named(client, f"{PG}/shop.public.customers")
    assert (address["database_name"], address["schema_name"], address["table_name"]) == ("shop", "public", "customers")
    assert address["address_metadata"]["openlineage"]["facets"]["schema"] == as_json(first.dataset.facets["schema"])

    second = dataset_event(at(1), PG, "shop.public.customers", facets=schema_facet("id", "email"))
    assert (await send(client, second))["status"] == "created"
    updated = await address_named(client, f"{PG}/shop.public.customers")
    assert updated["id"] == address["id"]
    assert updated["address_metadata"]["openlineage"]["facets"]["schema"] == as_json(second.dataset.facets["schema"])
    assert await get_ok(client, "/pipeline") == [] and len(await get_ok(client, "/address")) == 1
    assert await address_type_of(client, updated) == ("postgres", "table")


async def test_a_dataset_name_longer_than_150_characters_is_shortened_like_pipeline_names(client):
    long_name = "landing/" + "y" * 200
    event = dataset_event(at(0), "s3://bucket", long_name)
    await send(client, event)
    [address] = await get_ok(client, "/address")
    assert len(address["name"]) == 150 and address["name"].startswith("s3://bucket/landing/yyy") and address["name"][141] == "~"
    assert address["address_metadata"]["openlineage"]["name"] == long_name
    assert (await send(client, event, expected=200))["status"] == "repeat"
    await send(client, dataset_event(at(1), "s3://bucket", long_name))
    assert len(await get_ok(client, "/address")) == 1


async def test_a_resent_older_event_changes_neither_the_lineage_nor_the_job_facets(client):
    job = ("shop", "build")
    old = run_event(
        "COMPLETE", at(0), new_run_id(), job, inputs=[dataset_in(PG, "shop.public.a")], outputs=[dataset_out(PG, "shop.public.b")],
        job_facets=job_type("SPARK", "JOB"),
    )  # fmt: skip
    new = run_event(
        "COMPLETE", at(10), new_run_id(), job, inputs=[dataset_in(PG, "shop.public.c")], outputs=[dataset_out(PG, "shop.public.d")],
        job_facets=job_type("SPARK", "STREAMING"),
    )  # fmt: skip
    pipeline_id = (await send(client, old))["pipeline_id"]
    await send(client, new)
    before = await get_ok(client, f"/pipeline/{pipeline_id}")
    assert await lineage_of(client, pipeline_id) == ([f"{PG}/shop.public.c"], [f"{PG}/shop.public.d"])

    assert (await send(client, old, expected=200))["status"] == "repeat"  # a producer's late retry
    assert await lineage_of(client, pipeline_id) == ([f"{PG}/shop.public.c"], [f"{PG}/shop.public.d"])
    after = await get_ok(client, f"/pipeline/{pipeline_id}")
    assert after["pipeline_metadata"] == before["pipeline_metadata"]
    assert after["pipeline_metadata"]["openlineage"]["job_facets"]["jobType"]["jobType"] == "STREAMING"
