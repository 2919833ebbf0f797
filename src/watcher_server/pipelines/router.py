"""HTTP shape of pipeline types and pipelines; the rules live in service.py."""

from __future__ import annotations

from ..http import DB, JSON, NameContains, Paging, ServicesDep, api_router
from . import service
from .schemas import (
    IdResponse,
    PipelineCreate,
    PipelineCreated,
    PipelineTypeCreate,
    PipelineTypeUpdate,
    PipelineUpdate,
    render_pipeline,
    render_pipeline_type,
)

router = api_router()


@router.post(
    "/pipeline_type",
    tags=["pipeline types"],
    response_model=IdResponse,
    status_code=201,
    responses={200: {"model": IdResponse, "description": "The type already existed (unchanged)."}},
)
async def create_pipeline_type(body: PipelineTypeCreate, db: DB):
    """Create-or-get a pipeline type by name: 201 when created, 200 when it already existed."""
    type_id, created = await service.create_or_get_type(db, body)
    return JSON({"id": type_id}, status_code=201 if created else 200)


@router.get("/pipeline_type", tags=["pipeline types"])
async def list_pipeline_types(db: DB, paging: Paging, name_contains: NameContains = None):
    rows = await service.list_types(db, paging, name_contains)
    return JSON([render_pipeline_type(r) for r in rows])


@router.get("/pipeline_type/{id}", tags=["pipeline types"])
async def get_pipeline_type(id: int, db: DB):
    return JSON(render_pipeline_type(await service.get_type(db, id)))


@router.patch("/pipeline_type", tags=["pipeline types"])
async def patch_pipeline_type(body: PipelineTypeUpdate, db: DB):
    """Partial update by `id` (then `name` renames) or by `name`."""
    return JSON(render_pipeline_type(await service.patch_type(db, body)))


@router.post(
    "/pipeline",
    tags=["pipelines"],
    response_model=PipelineCreated,
    status_code=201,
    responses={200: {"model": PipelineCreated, "description": "The pipeline already existed."}},
)
async def create_pipeline(body: PipelineCreate, s: ServicesDep):
    """Create-or-get a pipeline and sync its configuration (hash-based change detection).

    The pipeline type is created when missing. `watermark` in the answer is the stored watermark
    when this request carried a non-null `next_watermark`, otherwise null.
    """
    response, created = await service.create_or_get_pipeline(s.db, s.settings, body)
    return JSON(response, status_code=201 if created else 200)


@router.get("/pipeline", tags=["pipelines"])
async def list_pipelines(
    db: DB,
    paging: Paging,
    pipeline_type_id: int | None = None,
    active: bool | None = None,
    name_contains: NameContains = None,
):
    rows = await service.list_pipelines(db, paging, pipeline_type_id, active, name_contains)
    return JSON([render_pipeline(r) for r in rows])


@router.get("/pipeline/{id}", tags=["pipelines"])
async def get_pipeline(id: int, db: DB):
    return JSON(render_pipeline(await service.get_pipeline(db, id)))


@router.patch("/pipeline", tags=["pipelines"])
async def patch_pipeline(body: PipelineUpdate, db: DB):
    """Partial update by `id` (alias `pipeline_id`; then `name` renames) or by `name`."""
    return JSON(render_pipeline(await service.patch_pipeline(db, body)))
