"""HTTP shape of address types, addresses and lineage; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ..http import DB, JSON, NameContains, Paging, TextFilter, api_router
from ..pipelines.schemas import IdResponse
from . import service
from .schemas import (
    AddressCreate,
    AddressLineageCreate,
    AddressTypeCreate,
    AddressTypeUpdate,
    AddressUpdate,
    render_address,
    render_address_type,
)

router = api_router()

MaxDepth = Annotated[int | None, Query(ge=1, description="Hops to follow (default: unlimited).")]
_CREATED = {200: {"model": IdResponse, "description": "It already existed."}}


@router.post("/address_type", tags=["addresses"], response_model=IdResponse, status_code=201, responses=_CREATED)
async def create_address_type(body: AddressTypeCreate, db: DB):
    """Create-or-get an address type by name; an existing type keeps its group."""
    type_id, created = await service.create_or_get_type(db, body)
    return JSON({"id": type_id}, status_code=201 if created else 200)


@router.get("/address_type", tags=["addresses"])
async def list_address_types(db: DB, paging: Paging, group_name: TextFilter = None, name_contains: NameContains = None):
    rows = await service.list_types(db, paging, group_name, name_contains)
    return JSON([render_address_type(r) for r in rows])


@router.get("/address_type/{id}", tags=["addresses"])
async def get_address_type(id: int, db: DB):
    return JSON(render_address_type(await service.get_type(db, id)))


@router.patch("/address_type", tags=["addresses"])
async def patch_address_type(body: AddressTypeUpdate, db: DB):
    return JSON(render_address_type(await service.patch_type(db, body)))


@router.post("/address", tags=["addresses"], response_model=IdResponse, status_code=201, responses=_CREATED)
async def create_address(body: AddressCreate, db: DB):
    """Create-or-get an address (its type is created on the fly); `db.schema.table` names of the
    `database` group fill database_name, schema_name and table_name."""
    address_id, created = await service.create_or_get_address(db, body)
    return JSON({"id": address_id}, status_code=201 if created else 200)


@router.get("/address", tags=["addresses"])
async def list_addresses(db: DB, paging: Paging, address_type_id: int | None = None, name_contains: NameContains = None):
    rows = await service.list_addresses(db, paging, address_type_id, name_contains)
    return JSON([render_address(r) for r in rows])


@router.get("/address/{id}", tags=["addresses"])
async def get_address(id: int, db: DB):
    return JSON(render_address(await service.get_address(db, id)))


@router.patch("/address", tags=["addresses"])
async def patch_address(body: AddressUpdate, db: DB):
    return JSON(render_address(await service.patch_address(db, body)))


@router.get("/address/{id}/downstream", tags=["lineage"])
async def downstream(id: int, db: DB, paging: Paging, max_depth: MaxDepth = None):
    """Addresses fed by this one, ordered by (depth, id), with the shortest path from it."""
    return JSON(await service.related(db, id, "down", max_depth, paging))


@router.get("/address/{id}/upstream", tags=["lineage"])
async def upstream(id: int, db: DB, paging: Paging, max_depth: MaxDepth = None):
    """Addresses feeding this one, ordered by (depth, id), with the shortest path to it."""
    return JSON(await service.related(db, id, "up", max_depth, paging))


@router.post("/address_lineage", tags=["lineage"], status_code=201)
async def post_address_lineage(body: AddressLineageCreate, db: DB):
    """Replace a pipeline's lineage with sources x targets (while its `load_lineage` is true)."""
    response, written = await service.replace_lineage(db, body)
    return JSON(response, status_code=201 if written else 200)


@router.get("/pipeline/{id}/lineage", tags=["lineage"])
async def lineage_of_pipeline(id: int, db: DB):
    """The addresses this pipeline reads (`source_addresses`) and writes (`target_addresses`), by id."""
    return JSON(await service.pipeline_lineage(db, id))


@router.get("/lineage-graph/", tags=["lineage"])
async def lineage_graph(db: DB, source_address_id: int, max_depth: MaxDepth = None):
    """Every lineage edge touching the address, its upstream and its downstream, with their nodes."""
    return JSON(await service.lineage_graph(db, source_address_id, max_depth))


@router.get("/lineage-graph/addresses", tags=["lineage"])
async def lineage_graph_addresses(db: DB, paging: Paging):
    return JSON([{"id": r.id, "name": r.name} for r in await service.list_address_names(db, paging)])


@router.post("/lineage-graph/refresh", tags=["lineage"])
async def lineage_graph_refresh():
    """Kept for old clients: the graph is computed from current data on every read."""
    return JSON({"status": "success", "message": "Lineage graph is always current"})
