"""OpenLineage events applied to pipelines, executions, addresses and lineage (docs/openlineage.md).

An event is a few short transactions, each idempotent: the pipelines (create-or-get), the lineage when it
changed, then one transaction that applies the run and stores the event. The event row is written with
the run's changes, so a stored event is an applied one, and a producer's retry of a failed post redoes
only what is missing. On PostgreSQL a run's START and terminal event, nearly all the traffic, skip
BEGIN/COMMIT: each is one statement (after a plain read of the parent's id or of the run) that applies
only while what it read still holds; anything else takes the locked transaction (`_run_event_at_once`).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.clock import CLOCK
from ..core.errors import Unprocessable
from ..db.engine import Database
from ..db.filters import uuid_equals
from ..db.paging import Page
from ..db.upsert import dialect_insert
from ..executions import runs
from ..executions.schemas import EndExecution
from ..executions.service import end_as_read, end_locked
from ..lineage.schemas import AddressCreate, AddressLineageCreate
from ..lineage.service import check_lineage_names, replace_lineage, upsert_address
from ..pipelines.schemas import PipelineCreate
from ..pipelines.service import create_or_get_pipeline, find_pipeline, revise_pipeline
from ..settings import Settings
from . import mapping
from .events import TERMINAL, BadEvent, DatasetEvent, JobRef, Received, RunEvent, digest
from .schemas import EVENT_KEYS
from .tables import openlineage_event as ev


@dataclass
class Outcome:
    """What one event did; `ended` tells the caller which background work follows."""

    status: str  # "created" or "repeat"
    event_id: int
    event_kind: str
    pipeline_id: int | None = None
    execution_id: int | None = None
    ended: tuple[int, int, bool] | None = None  # (execution id, pipeline id, succeeded) of an end this event made

    def response(self) -> dict[str, Any]:
        keys = ("status", "event_id", "event_kind", "pipeline_id", "execution_id")
        return {key: getattr(self, key) for key in keys}


class _Repeat(Exception):
    """Another post stored the same event while this one was applying it: this one's changes roll back."""


_STORED = select(ev.c.id, ev.c.event_kind, ev.c.pipeline_id, ev.c.execution_id).where(ev.c.event_hash == bindparam("digest"))


async def receive(db: Database, settings: Settings, received: Received) -> Outcome:
    """Apply one event. A repeat is recognised when its row is stored (`_Repeat`): its changes roll back,
    and the first one's outcome is answered, so a new event costs no lookup."""
    if isinstance(received.event, DatasetEvent):
        return await _dataset_event(db, received)
    event = received.event
    inputs, outputs = mapping.unique_addresses(event.inputs), mapping.unique_addresses(event.outputs)
    outcome = Outcome("created", 0, received.kind)
    try:
        pipeline_id = await _pipeline(db, settings, received, event.job, inputs, outputs)
        if isinstance(event, RunEvent):
            await _run_event(db, settings, received, pipeline_id, outcome)
        else:
            async with db.write() as conn:
                outcome.event_id = await _store(conn, received, pipeline_id, None)
    except _Repeat:
        return await _stored(db, received.digest)
    outcome.pipeline_id = pipeline_id
    return outcome


async def _stored(db: Database, digest: str) -> Outcome | None:
    async with db.single_statement(writes=False) as conn:
        row = (await conn.execute(_STORED, {"digest": digest})).first()
    return None if row is None else Outcome("repeat", row.id, row.event_kind, row.pipeline_id, row.execution_id)


@functools.lru_cache(maxsize=2)
def _store_statement(dialect: str):
    """Built once per backend: building and cache-keying an INSERT per event cost more than running it."""
    columns = [column for column in ev.c if column.name != "id"]
    statement = dialect_insert(dialect, ev).values({column.name: bindparam(column.name, type_=column.type) for column in columns})
    return statement.on_conflict_do_nothing(index_elements=["event_hash"]).returning(ev.c.id)


async def _store(conn: AsyncConnection, received: Received, pipeline_id: int | None, execution_id: int | None) -> int:
    values = {**_event_row(received, pipeline_id), "execution_id": execution_id}
    event_id = (await conn.execute(_store_statement(conn.dialect.name), values)).scalar()
    if event_id is None:
        raise _Repeat
    return event_id


def _event_row(received: Received, pipeline_id: int | None) -> dict[str, Any]:
    """The event row's values but its execution_id."""
    event = received.event
    if isinstance(event, DatasetEvent):
        namespace, name, run_id, event_type = event.dataset.namespace, event.dataset.name, None, None
    else:
        namespace, name = event.job.namespace, event.job.name
        run_id = event.run.run_id if isinstance(event, RunEvent) else None
        event_type = (event.event_type or "OTHER") if isinstance(event, RunEvent) else None
    return {
        "received_at": CLOCK.now(),
        "event_time": event.event_time,
        "event_kind": received.kind,
        "event_type": event_type,
        "namespace": namespace,
        "name": name,
        "run_id": run_id,
        "pipeline_id": pipeline_id,
        "event_hash": received.digest,
        "event": received.raw,
    }


def _address_bodies(addresses: list[mapping.DatasetAddress]) -> list[AddressCreate]:
    return [AddressCreate(**address.fields) for address in addresses]


def _check_sizes(settings: Settings, inputs: list[str], outputs: list[str]) -> None:
    """The lineage limits over address names, before anything is written; named in the event's terms."""
    try:
        check_lineage_names(settings, inputs, outputs, sides=("inputs", "outputs"), where=())
    except Unprocessable as error:
        raise BadEvent([{"type": error.kind, "loc": error.loc, "msg": error.detail, "input": error.input_value}]) from None


async def _pipeline(
    db: Database,
    settings: Settings,
    received: Received,
    job: JobRef,
    inputs: list[mapping.DatasetAddress],
    outputs: list[mapping.DatasetAddress],
) -> int:
    """The job's pipeline, created or brought up to date; its lineage replaced when the event changes it.
    A repeat (a retry of an older event) must not undo what later events wrote, so a change is made only
    after checking that this event is new; an unchanged pipeline needs no such check, the run's
    transaction finds repeats."""
    name = mapping.naming.watcher_name(job.namespace, job.name)
    known = _known_pipelines(db)
    said = digest({"facets": job.facets, "inputs": [a.name for a in inputs], "outputs": [a.name for a in outputs]})
    pipeline_id = known.get(name, said)
    if pipeline_id is not None:
        return pipeline_id
    stored = await find_pipeline(db, name)
    plan = _checked_plan(settings, job, stored, inputs, outputs)
    if not plan.changed:
        known.put(name, said, stored.id)
        return stored.id
    if await _stored(db, received.digest) is not None:
        raise _Repeat
    if stored is None:
        body = PipelineCreate(name=plan.name, pipeline_type_name=plan.type_name, pipeline_metadata=plan.metadata)
        response, _ = await create_or_get_pipeline(db, settings, body)
        pipeline_id = response["id"]
    else:
        # planned again on the locked row: concurrent events of one job each merge into the one before
        def revise(locked) -> PipelineCreate | None:
            nonlocal plan
            plan = _checked_plan(settings, job, locked, inputs, outputs)
            return (
                PipelineCreate(name=plan.name, pipeline_type_name=plan.type_name, pipeline_metadata=plan.metadata) if plan.changed else None
            )

        pipeline_id = stored.id
        await revise_pipeline(db, pipeline_id, revise)
    if plan.lineage_changed:
        lineage = plan.metadata[mapping.KEY]["lineage"]
        sent = {address.name: address for address in (*inputs, *outputs)}
        await replace_lineage(
            db,
            settings,
            AddressLineageCreate(
                pipeline_id=pipeline_id,
                source_addresses=_address_bodies([_known(sent, name) for name in lineage["inputs"]]),
                target_addresses=_address_bodies([_known(sent, name) for name in lineage["outputs"]]),
            ),
            follow_load_lineage=False,
        )
    known.put(name, said, pipeline_id)
    return pipeline_id


def _checked_plan(settings: Settings, job: JobRef, stored, inputs: list[mapping.DatasetAddress], outputs: list[mapping.DatasetAddress]):
    """The job's plan; the lineage it would make (a side kept from before included) must fit the limits. An
    unchanged lineage was checked when it was written, so the limits cost nothing on the hot path."""
    plan = mapping.plan_job(job, stored, inputs, outputs)
    if plan.lineage_changed:
        lineage = plan.metadata[mapping.KEY]["lineage"]
        _check_sizes(settings, lineage["inputs"], lineage["outputs"])
    return plan


class _KnownPipelines:
    """Per job name, what this process last found (or made) its pipeline up to date with: the same job
    saying the same (facets, datasets) again needs no lookup. One entry per job, replaced by whatever this
    process writes, so its own writes are never hidden; entries expire after KNOWN_SECONDS, so a pipeline
    renamed or changed by another process is looked up again within that time; at most KNOWN_LIMIT."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[str, int, float]] = OrderedDict()

    def get(self, name: str, said: str) -> int | None:
        entry = self._entries.get(name)
        if entry is None or entry[0] != said or entry[2] < time.monotonic():
            return None
        return entry[1]

    def put(self, name: str, said: str, pipeline_id: int) -> None:
        self._entries.pop(name, None)
        self._entries[name] = (said, pipeline_id, time.monotonic() + KNOWN_SECONDS)
        while len(self._entries) > KNOWN_LIMIT:
            self._entries.popitem(last=False)


KNOWN_SECONDS = 30.0
KNOWN_LIMIT = 10_000
_KNOWN: weakref.WeakKeyDictionary[Database, _KnownPipelines] = weakref.WeakKeyDictionary()


def _known_pipelines(db: Database) -> _KnownPipelines:
    """One memory per database (tests and tools open several in one process)."""
    known = _KNOWN.get(db)
    if known is None:
        known = _KNOWN[db] = _KnownPipelines()
    return known


def _known(sent: dict[str, mapping.DatasetAddress], name: str) -> mapping.DatasetAddress:
    """The address this event describes, or, for a side it left empty, a body naming the stored address
    (its type read from the name's scheme; its metadata and parts are left as stored)."""
    if name in sent:
        return sent[name]
    type_name, group = mapping.naming.address_type(name)  # the name starts with its namespace's scheme
    return mapping.DatasetAddress(name, {"name": name, "address_type_name": type_name, "address_type_group_name": group})


async def _run_event(db: Database, settings: Settings, received: Received, pipeline_id: int, outcome: Outcome) -> None:
    """The run's execution created or brought up to date, and the event stored, in one transaction."""
    event: RunEvent = received.event
    parent = event.run.facets.parent if event.run.facets else None
    parent_pipeline_id = None
    if parent is not None:
        parent_pipeline_id = await _pipeline(db, settings, received, parent.job, [], [])
    if db.dialect == "postgresql" and await _run_event_at_once(db, received, pipeline_id, outcome):
        return
    when = event.event_time
    terminal = TERMINAL.get(event.event_type)
    rows = mapping.total_rows(event)
    async with db.write() as conn:
        # a START is nearly always a run's first event: it tries the insert first and saves the lookup
        current = None if event.event_type == "START" else await runs.lock_run(conn, event.run.run_id)
        if current is None:
            # a terminal event first: the run ends at once, and starts a tick before until its START comes
            start = when - mapping.ONE_TICK if terminal is not None else when
            parent_id = None if parent is None else await _parent_execution(conn, parent, parent_pipeline_id, start)
            metadata = mapping.run_metadata(None, event, received.raw)
            created = await runs.create_run(conn, runs.NewRun(event.run.run_id, pipeline_id, parent_id, start, rows, metadata))
            if created is not None:
                outcome.execution_id = created
                if terminal is not None:
                    await _end(conn, outcome, _Started(created, start, rows, pipeline_id), when, terminal, provisional=True)
                outcome.event_id = await _store(conn, received, pipeline_id, created)
                return
            current = await runs.lock_run(conn, event.run.run_id)  # created meanwhile by another event of the run
        outcome.execution_id = current.id
        if parent is not None and current.parent_id is None:  # the first event naming a parent sets it
            await runs.adopt(conn, current.id, await _parent_execution(conn, parent, parent_pipeline_id, current.start_date))
        metadata = mapping.run_metadata(current.execution_metadata, event, received.raw)
        total_rows = current.total_rows if rows is None else rows
        start = min(current.start_date, when)
        if terminal is not None and current.end_date is None:
            start = min(start, when - mapping.ONE_TICK)  # the end comes after the start, whatever the clocks said
            stored_rows = current.total_rows
            if start != current.start_date:
                await runs.revise_run(conn, current, start, total_rows, metadata)
                stored_rows = total_rows
            run = _Started(current.id, start, stored_rows, current.pipeline_id)
            await _end(conn, outcome, run, when, terminal, metadata, total_rows)
        # (a terminal event after the first is kept in the event log only: the first one decided the run)
        elif terminal is None and await runs.revise_run(conn, current, start, total_rows, metadata):
            outcome.ended = (current.id, current.pipeline_id, True)  # its duration or rows changed: checked again
        outcome.event_id = await _store(conn, received, pipeline_id, current.id)


async def _run_event_at_once(db: Database, received: Received, pipeline_id: int, outcome: Outcome) -> bool:
    """PostgreSQL: a run's two usual events in autocommit statements, without the BEGIN/COMMIT round
    trips. A START that is the run's first event is one statement (execution and event row), after
    reading its parent's execution id when it names one; a terminal event of a started, unended run
    reads it, then ends it and stores the event in one statement that applies only while the run is as
    read. False, and nothing written, for anything else (a run seen before its START, a parent not seen
    yet or not set yet, a repeat, a race lost): _run_event's transaction decides those."""
    event: RunEvent = received.event
    when = event.event_time
    terminal = TERMINAL.get(event.event_type)
    parent = event.run.facets.parent if event.run.facets else None
    try:
        async with db.single_statement() as conn:
            if event.event_type == "START":
                parent_id = None if parent is None else await runs.run_execution_id(conn, parent.run.run_id)
                if parent is not None and parent_id is None:
                    return False
                metadata = mapping.run_metadata(None, event, received.raw)
                values = runs.NewRun(event.run.run_id, pipeline_id, parent_id, when, mapping.total_rows(event), metadata).values()
                row = (await conn.execute(_start_and_store(), {**values, **_prefixed(received, pipeline_id)})).first()
            elif terminal is not None:
                current = await runs.read_run(conn, event.run.run_id)
                if current is None or current.end_date is not None or current.start_date > when - mapping.ONE_TICK:
                    return False
                if parent is not None and current.parent_id is None:  # this event sets the parent: adopt()
                    return False
                rows = mapping.total_rows(event)
                metadata = mapping.run_metadata(current.execution_metadata, event, received.raw)
                body = _end_body(current.id, when, terminal, metadata, current.total_rows if rows is None else rows)
                statement, parameters = end_as_read(body, current, then=_store_ended)
                row = (await conn.execute(statement, {**parameters, **_prefixed(received, pipeline_id)})).first()
                if row is not None:
                    outcome.ended = (current.id, current.pipeline_id, terminal)
            else:
                return False
    except IntegrityError:
        # e.g. the event row exists but its run is gone: the statement wrote nothing, and the locked
        # transaction answers (a repeat) or names the problem
        return False
    if row is None:
        return False
    outcome.event_id, outcome.execution_id = row
    return True


def _prefixed(received: Received, pipeline_id: int) -> dict[str, Any]:
    return {f"event_{key}": value for key, value in _event_row(received, pipeline_id).items()}


def _event_insert(execution_id):
    """The event row's INSERT fed by another statement's row (`execution_id` one of its columns), the rest
    from parameters named event_*. No ON CONFLICT: a repeat fails the whole statement, so nothing of it
    is written."""
    columns = [column for column in ev.c if column.name != "id"]
    values = [execution_id if column.name == "execution_id" else bindparam(f"event_{column.name}", type_=column.type) for column in columns]
    return insert(ev).from_select([column.name for column in columns], select(*values)).returning(ev.c.id, ev.c.execution_id)


def _store_ended(ended):
    return _event_insert(ended.c.id)


@functools.lru_cache(maxsize=1)
def _start_and_store():
    """A START as its run's first event: the execution (the closure by its trigger) and the event row;
    no row when the run exists."""
    run = runs.create_statement("postgresql").cte("run")
    stored = _event_insert(run.c.id).cte("stored")
    return select(*stored.c)


async def _parent_execution(conn: AsyncConnection, parent, parent_pipeline_id: int, start: dt.datetime) -> int:
    """The parent run's execution; one not seen yet runs from its child's start until its own events come."""
    parent_id = await runs.run_execution_id(conn, parent.run.run_id)
    if parent_id is None:
        parent_id = await runs.create_run(conn, runs.NewRun(parent.run.run_id, parent_pipeline_id, None, start))
        if parent_id is None:  # created meanwhile by another child or its own event
            parent_id = await runs.run_execution_id(conn, parent.run.run_id)
    return parent_id


async def _end(
    conn: AsyncConnection,
    outcome: Outcome,
    run: _Started,
    when: dt.datetime,
    succeeded: bool,
    metadata: dict[str, Any] | None = None,
    total_rows: int | None = None,
    provisional: bool = False,
) -> None:
    """End the run like POST /end_pipeline_execution (duration, throughput, watermark, anomaly check);
    `run` is the row as stored, `metadata` and `total_rows` what the end writes besides. With a
    `provisional` start the duration is not known, so the anomaly check waits for the START, which sets
    the run pending again (runs.revise_run)."""
    await end_locked(conn, _end_body(run.id, when, succeeded, metadata, total_rows), run)
    if provisional and succeeded:
        await runs.hold_anomaly_check(conn, run.id, CLOCK.now())
    elif not provisional:
        outcome.ended = (run.id, run.pipeline_id, succeeded)


def _end_body(execution_id: int, when: dt.datetime, succeeded: bool, metadata: dict[str, Any] | None, total_rows: int | None):
    """The end as POST /end_pipeline_execution would send it; without metadata, total_rows stays as stored."""
    if metadata is None:
        return EndExecution(id=execution_id, end_date=when, completed_successfully=succeeded)
    return EndExecution(
        id=execution_id, end_date=when, completed_successfully=succeeded, total_rows=total_rows, execution_metadata=metadata
    )


@dataclass(frozen=True)
class _Started:
    """What ending an execution needs to know of it."""

    id: int
    start_date: dt.datetime
    total_rows: int | None
    pipeline_id: int


async def _dataset_event(db: Database, received: Received) -> Outcome:
    address = mapping.dataset_address(received.event.dataset)
    try:
        async with db.write() as conn:
            await upsert_address(conn, AddressCreate(**address.fields))
            event_id = await _store(conn, received, None, None)
    except _Repeat:
        return await _stored(db, received.digest)
    return Outcome("created", event_id, received.kind)


async def list_events(
    db: Database,
    paging: Page,
    *,
    namespace: str | None = None,
    name: str | None = None,
    run_id: str | None = None,
    event_kind: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list:
    statement = select(*(ev.c[key] for key in EVENT_KEYS))
    if namespace is not None:
        statement = statement.where(ev.c.namespace == namespace)
    if name is not None:
        statement = statement.where(ev.c.name == name)
    if run_id is not None:
        statement = statement.where(uuid_equals(ev.c.run_id, run_id))
    if event_kind is not None:
        statement = statement.where(ev.c.event_kind == event_kind)
    if since is not None:
        statement = statement.where(ev.c.event_time >= since)
    if until is not None:
        statement = statement.where(ev.c.event_time < until)
    return await paging.fetch(db, statement, ev.c.id)
