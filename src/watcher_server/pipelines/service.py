"""Pipeline type and pipeline rules; each public function is one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..anomalies.tables import anomaly_detection_rule
from ..anomalies.vocabulary import METRICS
from ..core.canonical import config_hash
from ..core.clock import CLOCK
from ..db.engine import Database
from ..db.filters import contains, id_equals
from ..db.paging import Page
from ..db.rows import patch_row, require_row
from ..db.upsert import get_or_create, insert_ignoring_conflicts
from ..settings import Settings
from .schemas import (
    PipelineCreate,
    PipelineTypeCreate,
    PipelineTypeUpdate,
    PipelineUpdate,
)
from .tables import pipeline, pipeline_type

PIPELINE_NOT_FOUND = "Pipeline Not Found"
TYPE_NOT_FOUND = "Pipeline Type Not Found"


# ---------------------------------------------------------------- pipeline types


async def create_or_get_type(db: Database, body: PipelineTypeCreate) -> tuple[int, bool]:
    values = body.model_dump(exclude={"name"})
    async with db.write() as conn:
        return await get_or_create(conn, pipeline_type, {"name": body.name}, {**values, "created_at": CLOCK.now()})


async def _type_id_for_name(conn: AsyncConnection, name: str) -> int:
    type_id, _ = await get_or_create(conn, pipeline_type, {"name": name}, {"created_at": CLOCK.now()})
    return type_id


async def list_types(db: Database, paging: Page, name_contains: str | None) -> list:
    statement = select(pipeline_type)
    if name_contains is not None:
        statement = statement.where(contains(pipeline_type.c.name, name_contains))
    return await paging.fetch(db, statement, pipeline_type.c.id)


async def get_type(db: Database, type_id: int):
    async with db.read() as conn:
        return await require_row(conn, pipeline_type, type_id, TYPE_NOT_FOUND)


async def patch_type(db: Database, body: PipelineTypeUpdate):
    changes = body.changes()
    async with db.write() as conn:
        return await patch_row(conn, pipeline_type, body.id, body.name, changes, TYPE_NOT_FOUND, "Pipeline type name already exists")


# ---------------------------------------------------------------- pipelines


def _created_response(row_id: int) -> dict[str, Any]:
    return {"id": row_id, "active": True, "load_lineage": True, "watermark": None}


async def create_or_get_pipeline(db: Database, settings: Settings, body: PipelineCreate) -> tuple[dict[str, Any], bool]:
    """Create-or-get with configuration sync (contract §6.1); a new pipeline gets one rule per metric
    when WATCHER_AUTO_CREATE_ANOMALY_DETECTION_RULES is on. Returns (response, created)."""
    config = body.hashed_fields()
    new_hash = config_hash(config)
    next_watermark = body.next_watermark
    # Fast path, one statement: the pipeline exists and its configuration is unchanged.
    async with db.single_statement() as conn:
        found = await _sync_unchanged(conn, body.name, new_hash, next_watermark)
    if found is not None:
        return _found_response(found, next_watermark), False
    async with db.write() as conn:
        for _attempt in range(2):
            found = await _sync_existing(conn, body.name, next_watermark)
            if found is not None:
                if found.input_hash != new_hash:
                    await _apply_configuration(conn, found.id, config, new_hash)
                return _found_response(found, next_watermark), False
            created_id = await _insert_pipeline(conn, body, config, new_hash)
            if created_id is not None:
                if settings.auto_create_anomaly_detection_rules:
                    await _insert_default_rules(conn, created_id)
                return _created_response(created_id), True
            # Another client created it between our lookup and insert: treat it as found.
    raise RuntimeError("pipeline create-or-get did not converge")  # pragma: no cover


def _found_response(found, next_watermark: str | None) -> dict[str, Any]:
    watermark = found.watermark if next_watermark is not None else None
    return {"id": found.id, "active": found.active, "load_lineage": found.load_lineage, "watermark": watermark}


# Built once: the lookup (and watermark write) runs on every pipeline sync.
_SYNC_COLUMNS = (pipeline.c.id, pipeline.c.active, pipeline.c.load_lineage, pipeline.c.watermark, pipeline.c.input_hash)
_LOOKUP_BY_NAME = select(*_SYNC_COLUMNS).where(pipeline.c.name == bindparam("b_name"))
_SET_NEXT_WATERMARK_BY_NAME = (
    update(pipeline)
    .where(pipeline.c.name == bindparam("b_name"))
    .values(next_watermark=bindparam("b_next_watermark"))
    .returning(*_SYNC_COLUMNS)
)
_SET_NEXT_WATERMARK_IF_UNCHANGED = _SET_NEXT_WATERMARK_BY_NAME.where(pipeline.c.input_hash == bindparam("b_hash"))


async def _sync_unchanged(conn: AsyncConnection, name: str, new_hash: str, next_watermark: str | None):
    """The pipeline when it exists with this configuration hash (writing a non-null next_watermark)."""
    if next_watermark is None:
        found = (await conn.execute(_LOOKUP_BY_NAME, {"b_name": name})).first()
        return found if found is not None and found.input_hash == new_hash else None
    parameters = {"b_name": name, "b_next_watermark": next_watermark, "b_hash": new_hash}
    return (await conn.execute(_SET_NEXT_WATERMARK_IF_UNCHANGED, parameters)).first()


async def _sync_existing(conn: AsyncConnection, name: str, next_watermark: str | None):
    """Look the pipeline up by name; a non-null next_watermark is written in the same statement."""
    if next_watermark is None:
        return (await conn.execute(_LOOKUP_BY_NAME, {"b_name": name})).first()
    return (await conn.execute(_SET_NEXT_WATERMARK_BY_NAME, {"b_name": name, "b_next_watermark": next_watermark})).first()


async def _apply_configuration(conn: AsyncConnection, pipeline_id: int, config: dict[str, Any], new_hash: str) -> None:
    values = {k: v for k, v in config.items() if k != "pipeline_type_name"}
    values["pipeline_type_id"] = await _type_id_for_name(conn, config["pipeline_type_name"])
    values["input_hash"] = new_hash
    values["updated_at"] = CLOCK.now()
    await conn.execute(update(pipeline).where(pipeline.c.id == pipeline_id).values(**values))


async def _insert_pipeline(conn: AsyncConnection, body: PipelineCreate, config: dict[str, Any], new_hash: str) -> int | None:
    values = {k: v for k, v in config.items() if k != "pipeline_type_name"}
    values.update(
        pipeline_type_id=await _type_id_for_name(conn, body.pipeline_type_name),
        next_watermark=body.next_watermark,
        input_hash=new_hash,
        created_at=CLOCK.now(),
    )
    statement = insert_ignoring_conflicts(conn, pipeline, ["name"]).values(**values).returning(pipeline.c.id)
    return (await conn.execute(statement)).scalar()


async def _insert_default_rules(conn: AsyncConnection, pipeline_id: int) -> None:
    """One active rule per metric with default parameters, in the creating transaction (§6.1, §13.1)."""
    now = CLOCK.now()
    await conn.execute(
        insert(anomaly_detection_rule), [{"pipeline_id": pipeline_id, "metric_field": m, "created_at": now} for m in METRICS]
    )


async def list_pipelines(db: Database, paging: Page, pipeline_type_id: int | None, active: bool | None, name_contains: str | None) -> list:
    statement = select(pipeline)
    if pipeline_type_id is not None:
        statement = statement.where(id_equals(pipeline.c.pipeline_type_id, pipeline_type_id))
    if active is not None:
        statement = statement.where(pipeline.c.active == active)
    if name_contains is not None:
        statement = statement.where(contains(pipeline.c.name, name_contains))
    return await paging.fetch(db, statement, pipeline.c.id)


async def get_pipeline(db: Database, pipeline_id: int):
    async with db.read() as conn:
        return await require_row(conn, pipeline, pipeline_id, PIPELINE_NOT_FOUND)


_WITH_TYPE_NAME = select(pipeline.c.id, pipeline.c.pipeline_metadata, pipeline_type.c.name.label("pipeline_type_name")).join(
    pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id
)
_FIND_BY_NAME = _WITH_TYPE_NAME.where(pipeline.c.name == bindparam("b_name"))
_LOCKED_BY_ID = _WITH_TYPE_NAME.where(pipeline.c.id == bindparam("b_id")).with_for_update(of=pipeline)


async def find_pipeline(db: Database, name: str):
    """(id, pipeline_metadata, pipeline_type_name) of the pipeline with this normalised name, or None."""
    async with db.single_statement(writes=False) as conn:
        return (await conn.execute(_FIND_BY_NAME, {"b_name": name})).first()


async def revise_pipeline(db: Database, pipeline_id: int, revise: Callable[[Any], PipelineCreate | None]) -> bool:
    """Read-modify-write of a pipeline's configuration with its row locked, so concurrent revisions each see
    the one before: `revise` gets (id, pipeline_metadata, pipeline_type_name) and returns the configuration
    to apply, or None to leave it. True when something was written."""
    async with db.write() as conn:
        row = (await conn.execute(_LOCKED_BY_ID, {"b_id": pipeline_id})).first()
        body = revise(row)
        if body is None:
            return False
        config = body.hashed_fields()
        await _apply_configuration(conn, pipeline_id, config, config_hash(config))
    return True


async def require_pipeline(conn: AsyncConnection, pipeline_id: int) -> None:
    await require_row(conn, pipeline, pipeline_id, PIPELINE_NOT_FOUND, columns=(pipeline.c.id,))


async def patch_pipeline(db: Database, body: PipelineUpdate):
    changes = body.changes()
    async with db.write() as conn:
        if "pipeline_type_id" in changes:
            await require_row(conn, pipeline_type, changes["pipeline_type_id"], TYPE_NOT_FOUND, columns=(pipeline_type.c.id,))
        return await patch_row(conn, pipeline, body.id, body.name, changes, PIPELINE_NOT_FOUND, "Pipeline name already exists")
