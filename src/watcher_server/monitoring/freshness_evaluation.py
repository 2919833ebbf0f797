"""Freshness, the decision (contract §10.3): which pipelines are stale, which recovered, which open
incidents are no longer monitored. Plain Python over the rows the freshness query returned, so every
rule is testable without a database; writing the outcome and alerting stay in freshness.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from ..core.dateparts import add_dateparts


class PipelineFreshness(NamedTuple):
    """One row of the freshness query: a monitored pipeline, or one whose incident is still open.

    SQL already applied eligibility and chose the effective configuration (monitoring/rules.py):
    `number` and `datepart` are None when the pipeline is no longer monitored."""

    pipeline_id: int
    pipeline_name: str
    number: int | None
    datepart: str | None
    used_child_config: bool
    last_dml: dt.datetime | None
    incident_id: int | None  # the open incident, if any
    incident_last_dml: dt.datetime | None
    incident_deadline: dt.datetime | None


# The items are NamedTuples rather than frozen dataclasses: a run builds one per stale pipeline, up to
# 100,000, and a frozen dataclass takes three times as long to build.


class Stale(NamedTuple):
    """A pipeline whose deadline has passed. `incident_id` is its open incident, None when this run
    opens one (and alerts); `incident_outdated` when the open incident's last DML or deadline moved."""

    pipeline_id: int
    pipeline_name: str
    last_dml: dt.datetime
    deadline: dt.datetime
    number: int
    datepart: str
    used_child_config: bool
    incident_id: int | None
    incident_outdated: bool

    @property
    def new(self) -> bool:
        return self.incident_id is None


class Recovered(NamedTuple):
    """A pipeline evaluated as fresh again: its open incident is resolved as `recovered`."""

    pipeline_id: int
    pipeline_name: str
    last_dml: dt.datetime
    incident_id: int


@dataclass(frozen=True, slots=True)
class FreshnessEvaluation:
    """Every list in pipeline order, the order of the query's rows."""

    pipelines_evaluated: int
    stale: tuple[Stale, ...]
    recovered: tuple[Recovered, ...]
    unmonitored: tuple[int, ...]  # open incidents whose pipeline is no longer evaluated


def evaluate_freshness(rows: Iterable[PipelineFreshness], now: dt.datetime) -> FreshnessEvaluation:
    pipelines_evaluated = 0
    stale: list[Stale] = []
    recovered: list[Recovered] = []
    unmonitored: list[int] = []
    for row in rows:
        if row.number is None:
            unmonitored.append(row.incident_id)
            continue
        pipelines_evaluated += 1
        deadline = add_dateparts(row.last_dml, row.number, row.datepart)
        if deadline < now:  # strict: a deadline equal to now is still on time
            incident_outdated = row.incident_id is not None and (row.incident_last_dml, row.incident_deadline) != (row.last_dml, deadline)
            stale.append(
                Stale(
                    row.pipeline_id, row.pipeline_name, row.last_dml, deadline, row.number, row.datepart, bool(row.used_child_config),
                    row.incident_id, incident_outdated,
                )
            )  # fmt: skip
        elif row.incident_id is not None:
            recovered.append(Recovered(row.pipeline_id, row.pipeline_name, row.last_dml, row.incident_id))
    return FreshnessEvaluation(pipelines_evaluated, tuple(stale), tuple(recovered), tuple(unmonitored))
