"""What an OpenLineage event means for Watcher's model, as plain functions (docs/openlineage.md)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import naming
from .events import Dataset, JobRef, RunEvent, row_count

KEY = "openlineage"  # the key under pipeline_metadata, execution_metadata and address_metadata
ONE_TICK = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class DatasetAddress:
    """The address a dataset becomes: the fields of an address body (contract §8.2)."""

    name: str
    fields: dict[str, Any]


def dataset_address(dataset: Dataset) -> DatasetAddress:
    name = naming.watcher_name(dataset.namespace, dataset.name)
    type_name, group = naming.address_type(dataset.namespace)
    fields: dict[str, Any] = {"name": name, "address_type_name": type_name, "address_type_group_name": group}
    if group == "table":
        fields.update(naming.table_parts(dataset.name))
    fields["address_metadata"] = {KEY: {"namespace": dataset.namespace, "name": dataset.name, "facets": dataset.facets or {}}}
    return DatasetAddress(name, fields)


def unique_addresses(datasets: list[Dataset]) -> list[DatasetAddress]:
    """One address per distinct name, first occurrence first."""
    seen: dict[str, DatasetAddress] = {}
    for dataset in datasets:
        address = dataset_address(dataset)
        seen.setdefault(address.name, address)
    return list(seen.values())


@dataclass(frozen=True)
class JobPlan:
    """The pipeline a job becomes, given what is stored of it (None: not yet)."""

    name: str
    type_name: str
    metadata: dict[str, Any]
    changed: bool  # the stored pipeline (if any) must be written
    lineage_changed: bool  # the pipeline's lineage must be replaced by metadata[KEY]["lineage"]


def plan_job(job: JobRef, stored, inputs: list[DatasetAddress], outputs: list[DatasetAddress]) -> JobPlan:
    """`stored`: (pipeline_metadata, pipeline_type_name) of the existing pipeline, or None."""
    stored_metadata = (stored.pipeline_metadata if stored is not None else None) or {}
    known = stored_metadata.get(KEY) if isinstance(stored_metadata.get(KEY), dict) else {}
    known_facets = known.get("job_facets") if isinstance(known.get("job_facets"), dict) else {}
    known_lineage = known.get("lineage") if isinstance(known.get("lineage"), dict) else {"inputs": [], "outputs": []}
    lineage = {
        # a side the event leaves empty keeps what was known (a START may name only its inputs)
        "inputs": [a.name for a in inputs] or list(known_lineage.get("inputs") or []),
        "outputs": [a.name for a in outputs] or list(known_lineage.get("outputs") or []),
    }
    metadata = {
        **stored_metadata,
        KEY: {"namespace": job.namespace, "name": job.name, "job_facets": {**known_facets, **(job.facets or {})}, "lineage": lineage},
    }
    type_name = naming.pipeline_type_name(job.facets)
    if type_name is None:
        type_name = stored.pipeline_type_name if stored is not None else naming.namespace_type_name(job.namespace)
    changed = stored is None or metadata != stored_metadata or type_name != stored.pipeline_type_name
    lineage_changed = bool(inputs or outputs) and lineage != {k: list(known_lineage.get(k) or []) for k in ("inputs", "outputs")}
    return JobPlan(naming.watcher_name(job.namespace, job.name), type_name, metadata, changed, lineage_changed)


def total_rows(event: RunEvent) -> int | None:
    """The outputs' rowCount summed, or None when no output reports one."""
    counts = [count for count in (row_count(output) for output in event.outputs) if count is not None]
    return sum(counts) if counts else None


def run_metadata(stored: dict[str, Any] | None, event: RunEvent, raw: dict[str, Any]) -> dict[str, Any]:
    """The execution's metadata after this event (`raw`: the event as sent); facets are merged, the
    latest value of each winning."""
    stored = stored or {}
    known = stored.get(KEY) if isinstance(stored.get(KEY), dict) else {}
    sent_facets = raw["run"].get("facets") or {}
    facets = {**(known.get("run_facets") or {}), **{k: v for k, v in sent_facets.items() if k != "parent"}}
    record: dict[str, Any] = {
        **known,
        "run_id": event.run.run_id,
        "job": {"namespace": event.job.namespace, "name": event.job.name},
        "run_facets": facets,
    }
    parent = event.run.facets.parent if event.run.facets else None
    if parent is not None:
        record["parent"] = {"run_id": parent.run.run_id, "job": {"namespace": parent.job.namespace, "name": parent.job.name}}
        root = parent.root or {}
        root_run, root_job = root.get("run"), root.get("job")
        if isinstance(root_run, dict) and isinstance(root_job, dict):
            record["root"] = {
                "run_id": root_run.get("runId"),
                "job": {"namespace": root_job.get("namespace"), "name": root_job.get("name")},
            }
    for side, statistics_key, facets_key, facet in (
        ("inputs", "input_statistics", "inputFacets", "inputStatistics"),
        ("outputs", "output_statistics", "outputFacets", "outputStatistics"),
    ):
        statistics = dict(known.get(statistics_key) or {})
        for dataset, sent in zip(getattr(event, side), raw.get(side) or [], strict=True):
            value = (sent.get(facets_key) or {}).get(facet)
            if value is not None:
                statistics[naming.watcher_name(dataset.namespace, dataset.name)] = value
        if statistics:
            record[statistics_key] = statistics
    error = facets.get("errorMessage")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        record["error_message"] = error["message"]
    return {**stored, KEY: record}
