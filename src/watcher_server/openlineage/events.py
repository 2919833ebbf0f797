"""Reading OpenLineage events (spec 2-0-x): what Watcher needs of an event is checked, the rest is kept.

Field names follow the spec (camelCase aliases), so a validation error's `loc` names the field as the
producer wrote it, e.g. ("run", "runId").
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from ..core.canonical import config_hash
from ..core.datetimes import parse_datetime
from ..core.fields import Int64Count, json_problem
from ..core.ids import canonical_uuid
from ..core.numbers import INT64_MAX

EVENT_KINDS = ("run", "job", "dataset")
EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
TERMINAL = {"COMPLETE": True, "FAIL": False, "ABORT": False}  # eventType -> completed_successfully


def _run_id(value: object) -> str:
    """A UUID in its canonical text, whatever spelling the producer used."""
    canonical = canonical_uuid(value) if isinstance(value, str) else None
    if canonical is None:
        raise ValueError(f"runId must be a UUID string, got {value!r}")
    return canonical


RunId = Annotated[str, BeforeValidator(_run_id)]


EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)  # a run that ends then still has room for a start before it


def _event_time(value: object) -> dt.datetime:
    """An ISO-8601 date-time text, as the spec says (not epoch seconds, not a bare date); no offset is UTC."""
    if not isinstance(value, str) or len(value.strip()) <= 10:
        raise ValueError(f"eventTime must be an ISO-8601 date-time such as 2024-01-01T10:00:00Z, got {value!r}")
    moment = parse_datetime(value)
    if moment < EARLIEST:
        raise ValueError(f"eventTime must be on or after 0001-01-02T00:00:00Z, got {value!r}")
    return moment


EventTime = Annotated[dt.datetime, BeforeValidator(_event_time)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]


class _Open(BaseModel):
    """Unknown keys are kept (they travel in the stored event), never refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=False)


class JobRef(_Open):
    namespace: Text
    name: Text
    facets: dict[str, Any] | None = None


class RunRef(_Open):
    run_id: RunId = Field(alias="runId")


class ParentFacet(_Open):
    run: RunRef
    job: JobRef
    root: dict[str, Any] | None = None


class RunFacets(_Open):
    parent: ParentFacet | None = None


class Run(_Open):
    run_id: RunId = Field(alias="runId")
    facets: RunFacets | None = None


class OutputStatistics(_Open):
    row_count: Int64Count | None = Field(None, alias="rowCount")


class OutputFacets(_Open):
    output_statistics: OutputStatistics | None = Field(None, alias="outputStatistics")


class Dataset(_Open):
    namespace: Text
    name: Text
    facets: dict[str, Any] | None = None
    input_facets: dict[str, Any] | None = Field(None, alias="inputFacets")
    output_facets: OutputFacets | None = Field(None, alias="outputFacets")


class _Event(_Open):
    event_time: EventTime = Field(alias="eventTime")
    producer: str | None = None
    schema_url: str | None = Field(None, alias="schemaURL")


class RunEvent(_Event):
    event_type: Literal[EVENT_TYPES] | None = Field(None, alias="eventType")
    run: Run
    job: JobRef
    inputs: list[Dataset] = []
    outputs: list[Dataset] = []


class JobEvent(_Event):
    job: JobRef
    inputs: list[Dataset] = []
    outputs: list[Dataset] = []


class DatasetEvent(_Event):
    dataset: Dataset


_READERS = {"run": TypeAdapter(RunEvent), "job": TypeAdapter(JobEvent), "dataset": TypeAdapter(DatasetEvent)}
SHAPE_ERROR = "An OpenLineage event needs `run` and `job` (RunEvent), `job` (JobEvent) or `dataset` (DatasetEvent)"


@dataclass(frozen=True)
class Received:
    """One valid event: its kind, the checked model and the event exactly as sent."""

    kind: str
    event: RunEvent | JobEvent | DatasetEvent
    raw: dict[str, Any]
    digest: str

    @property
    def event_time(self) -> dt.datetime:
        return self.event.event_time


def kind_of(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    if "run" in raw:
        return "run" if "job" in raw else None
    if "dataset" in raw:
        return "dataset"
    return "job" if "job" in raw else None


class BadEvent(ValueError):
    """An event Watcher will not take; `errors` are pydantic-style items whose `loc` names the field."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(errors[0]["msg"] if errors else "bad event")
        self.errors = errors


def read_event(raw: Any) -> Received:
    """Check one event; raises BadEvent naming what is wrong (locations relative to the event)."""
    kind = kind_of(raw)
    if kind is None:
        given = type(raw).__name__ if not isinstance(raw, dict) else "an object with keys " + ", ".join(sorted(raw)[:10])
        raise BadEvent([{"type": "value_error", "loc": (), "msg": f"{SHAPE_ERROR}; got {given}", "input": raw}])
    # the whole event is stored: text and numbers every backend can keep, at every level
    problem = json_problem(raw)
    if problem is not None:
        where, error = problem
        raise BadEvent([{"type": error.type, "loc": where, "msg": error.message(), "input": None}])
    try:
        event = _READERS[kind].validate_python(raw)
    except ValidationError as error:
        raise BadEvent(error.errors(include_url=False)) from None
    parent = event.run.facets.parent if isinstance(event, RunEvent) and event.run.facets else None
    if parent is not None and parent.run.run_id == event.run.run_id:
        loc = ("run", "facets", "parent", "run", "runId")
        raise BadEvent([{"type": "value_error", "loc": loc, "msg": "A run cannot be its own parent", "input": event.run.run_id}])
    if isinstance(event, RunEvent | JobEvent):
        counts = [row_count(output) or 0 for output in event.outputs]
        if sum(counts) > INT64_MAX:
            message = f"The outputs' rowCount add up to {sum(counts)}, more than total_rows can hold ({INT64_MAX})"
            raise BadEvent([{"type": "value_error", "loc": ("outputs",), "msg": message, "input": None}])
    return Received(kind, event, raw, digest(raw))


def digest(value: Any) -> str:
    """SHA-256 of the canonical JSON (keys sorted, compact): the same event gives the same digest
    whatever its key order. orjson writes it several times faster than the standard encoder, which
    takes over for integers beyond 64 bits."""
    try:
        return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
    except orjson.JSONEncodeError:
        return config_hash(value)


def row_count(dataset: Dataset) -> int | None:
    statistics = dataset.output_facets.output_statistics if dataset.output_facets else None
    return statistics.row_count if statistics else None
