"""OpenLineage events built with the real `openlineage-python` models, and the reads that check what
Watcher made of them (docs/openlineage.md).

In-process tests post `Serde.to_dict(event)`: the very JSON the client's HTTP transport sends.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import attr
from openlineage.client.event_v2 import DatasetEvent, InputDataset, Job, JobEvent, OutputDataset, Run, RunEvent, RunState, StaticDataset
from openlineage.client.facet_v2 import (
    RunFacet,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
)
from openlineage.client.serde import Serde

UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/watcher-tests"
ENDPOINT = "/api/v1/lineage"
EVENTS = "/api/v1/lineage/events"
EVENT_ROW_KEYS = {
    "id", "received_at", "event_time", "event_kind", "event_type", "namespace", "name", "run_id", "pipeline_id", "execution_id", "event",
}  # fmt: skip


def at(minutes: float = 0, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(minutes=minutes)


def sent(moment: dt.datetime) -> str:
    """An eventTime as producers send it (Python's isoformat, with the UTC offset)."""
    return moment.isoformat()


def shown(moment: dt.datetime) -> str:
    """The same instant as Watcher's API renders datetimes (UTC, `Z`, fraction only when non-zero)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def new_run_id() -> str:
    return str(uuid.uuid4())


@attr.define
class AirflowDagRunFacet(RunFacet):
    """A producer-specific facet Watcher has never heard of (Airflow's `airflowDagRun`)."""

    dag: dict = attr.field(factory=dict)
    dagRun: dict = attr.field(factory=dict)  # noqa: N815


def job_type(integration: str, job_type_name: str | None = None, processing: str = "BATCH") -> dict:
    return {"jobType": job_type_job.JobTypeJobFacet(processingType=processing, integration=integration, jobType=job_type_name)}


def parent_facet(parent_run_id: str, parent_job: tuple[str, str], root_run_id: str | None = None, root_job: tuple[str, str] | None = None):
    root = None
    if root_run_id is not None:
        namespace, name = root_job or parent_job
        root = parent_run.Root(run=parent_run.RootRun(runId=root_run_id), job=parent_run.RootJob(namespace=namespace, name=name))
    return parent_run.ParentRunFacet(
        run=parent_run.Run(runId=parent_run_id), job=parent_run.Job(namespace=parent_job[0], name=parent_job[1]), root=root
    )


def error_facet(message: str, language: str = "python") -> dict:
    return {"errorMessage": error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage=language)}


def dataset_in(namespace: str, name: str, facets: dict | None = None, rows: int | None = None) -> InputDataset:
    input_facets = {}
    if rows is not None:
        input_facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(rowCount=rows)
    return InputDataset(namespace=namespace, name=name, facets=facets or {}, inputFacets=input_facets)


def dataset_out(namespace: str, name: str, facets: dict | None = None, rows: int | None = None) -> OutputDataset:
    output_facets = {}
    if rows is not None:
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
    return OutputDataset(namespace=namespace, name=name, facets=facets or {}, outputFacets=output_facets)


def run_event(
    event_type: RunState | str,
    when: dt.datetime,
    run_id: str,
    job: tuple[str, str] = ("shop", "load_orders"),
    *,
    inputs=(),
    outputs=(),
    run_facets: dict | None = None,
    job_facets: dict | None = None,
    parent=None,
) -> RunEvent:
    facets = dict(run_facets or {})
    if parent is not None:
        facets["parent"] = parent
    return RunEvent(
        eventType=RunState(event_type) if isinstance(event_type, str) else event_type,
        eventTime=sent(when),
        run=Run(runId=run_id, facets=facets),
        job=Job(namespace=job[0], name=job[1], facets=job_facets or {}),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=PRODUCER,
    )


def job_event(when: dt.datetime, job: tuple[str, str], *, inputs=(), outputs=(), job_facets: dict | None = None) -> JobEvent:
    return JobEvent(
        eventTime=sent(when),
        job=Job(namespace=job[0], name=job[1], facets=job_facets or {}),
        inputs=list(inputs),
        outputs=list(outputs),
        producer=PRODUCER,
    )


def dataset_event(when: dt.datetime, namespace: str, name: str, facets: dict | None = None) -> DatasetEvent:
    return DatasetEvent(eventTime=sent(when), dataset=StaticDataset(namespace=namespace, name=name, facets=facets or {}), producer=PRODUCER)


def as_json(event_or_facet) -> dict[str, Any]:
    """What the client puts on the wire for this event (or facet)."""
    return Serde.to_dict(event_or_facet)


async def send(client, event, expected: int = 201) -> dict[str, Any]:
    """POST one event (a client model or a ready dict); check the status and answer with the body."""
    body = event if isinstance(event, (dict, list)) else as_json(event)
    response = await client.post(ENDPOINT, json=body)
    assert response.status_code == expected, response.text
    return response.json()


async def get_ok(client, path: str, **params):
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def execution_of(client, run_id: str) -> dict[str, Any]:
    """The one execution of the run, found by `GET /pipeline_execution?run_id=`."""
    rows = await get_ok(client, "/pipeline_execution", run_id=run_id)
    assert len(rows) == 1, rows
    return rows[0]


async def pipeline_named(client, name: str) -> dict[str, Any]:
    rows = [p for p in await get_ok(client, "/pipeline", name_contains=name) if p["name"] == name]
    assert len(rows) == 1, f"no pipeline named {name!r}: {[p['name'] for p in await get_ok(client, '/pipeline')]}"
    return rows[0]


async def type_of(client, pipeline: dict) -> str:
    return (await get_ok(client, f"/pipeline_type/{pipeline['pipeline_type_id']}"))["name"]


async def address_named(client, name: str) -> dict[str, Any]:
    rows = [a for a in await get_ok(client, "/address", name_contains=name) if a["name"] == name]
    assert len(rows) == 1, f"no address named {name!r}: {[a['name'] for a in await get_ok(client, '/address')]}"
    return rows[0]


async def address_type_of(client, address: dict) -> tuple[str, str]:
    found = await get_ok(client, f"/address_type/{address['address_type_id']}")
    return found["name"], found["group_name"]


async def stored_events(client, **params) -> list[dict[str, Any]]:
    return await get_ok(client, EVENTS, **params)


async def assert_nothing_stored(client) -> None:
    """No event in the log, and nothing made from one: no pipeline, execution or address."""
    assert await stored_events(client) == []
    assert await get_ok(client, "/pipeline") == []
    assert await get_ok(client, "/pipeline_execution") == []
    assert await get_ok(client, "/address") == []


def names_field(error: dict, *path) -> bool:
    """Whether an error's `loc` starts at the body and names `path` (in order; a validator may add steps)."""
    loc = list(error["loc"])
    if not loc or loc[0] != "body":
        return False
    rest = iter(loc[1:])
    return all(any(step == wanted for step in rest) for wanted in path)


def assert_names_field(body: dict, *path) -> None:
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    for error in detail:
        assert {"loc", "msg", "type"} <= set(error), error
    assert any(names_field(error, *path) for error in detail), f"no error names {path}: {detail}"


def error_text(value) -> str:
    """`error_message` holds the errorMessage facet's message (alone, or as the facet)."""
    return value if isinstance(value, str) else value["message"]
