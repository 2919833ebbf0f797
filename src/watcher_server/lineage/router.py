"""HTTP shape of address types, addresses and lineage; the rules live in service.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from ..http import DB, JSON, NameContains, Paging, ServicesDep, TextFilter, api_router
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

# A cut list keeps its JSON shape (§2.9: lists are arrays), so the cut is told in headers.
TRUNCATED = "X-Watcher-Truncated"
COMPLETE_DEPTH = "X-Watcher-Complete-Depth"
_NEIGHBOURHOOD = {
    200: {
        "description": "One page of the addresses found, ordered by (depth, id). The search holds at most "
        "WATCHER_LINEAGE_MAX_GRAPH_NODES addresses: when there are more, it keeps the first that many in this "
        "order, and pages run over those.",
        "headers": {
            TRUNCATED: {
                "description": "`true` when the search was cut at WATCHER_LINEAGE_MAX_GRAPH_NODES addresses; absent otherwise.",
                "schema": {"type": "string", "enum": ["true"]},
            },
            COMPLETE_DEPTH: {
                "description": "On a cut answer: every address this many hops away or nearer is listed, so "
                "`max_depth` up to this value gives a complete answer. Absent when not even depth 1 is complete.",
                "schema": {"type": "integer", "minimum": 1},
            },
        },
    }
}


def _neighbourhood(found: service.Neighbourhood) -> JSON:
    headers = {}
    if found.truncated:
        headers[TRUNCATED] = "true"
        if found.complete_depth is not None:
            headers[COMPLETE_DEPTH] = str(found.complete_depth)
    return JSON(found.rows, headers=headers)


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


@router.get("/address/{id}/downstream", tags=["lineage"], responses=_NEIGHBOURHOOD)
async def downstream(id: int, s: ServicesDep, paging: Paging, max_depth: MaxDepth = None):
    """Addresses fed by this one, ordered by (depth, id), with the shortest path from it."""
    return _neighbourhood(await service.related(s.db, s.settings, id, "down", max_depth, paging))


@router.get("/address/{id}/upstream", tags=["lineage"], responses=_NEIGHBOURHOOD)
async def upstream(id: int, s: ServicesDep, paging: Paging, max_depth: MaxDepth = None):
    """Addresses feeding this one, ordered by (depth, id), with the shortest path to it."""
    return _neighbourhood(await service.related(s.db, s.settings, id, "up", max_depth, paging))


_NOT_LOADED = {200: {"description": "The pipeline's `load_lineage` is false: nothing was written; the same body as 201."}}


@router.post("/address_lineage", tags=["lineage"], status_code=201, responses=_NOT_LOADED)
async def post_address_lineage(body: AddressLineageCreate, s: ServicesDep):
    """Replace a pipeline's lineage with sources x targets (while its `load_lineage` is true).

    At most WATCHER_LINEAGE_MAX_ADDRESSES_PER_SIDE addresses per list and
    WATCHER_LINEAGE_MAX_EDGES_PER_PIPELINE edges (distinct sources x distinct targets); beyond either the
    answer is 422 and nothing is written.
    """
    response, written = await service.replace_lineage(s.db, s.settings, body)
    return JSON(response, status_code=201 if written else 200)


@router.get("/pipeline/{id}/lineage", tags=["lineage"])
async def lineage_of_pipeline(id: int, s: ServicesDep):
    """The addresses this pipeline reads (`source_addresses`) and writes (`target_addresses`), by id.

    Each list holds at most WATCHER_LINEAGE_MAX_ADDRESSES_PER_SIDE addresses; lineage stored before that
    limit was lowered may have more, and then the answer is cut and has `"truncated": true`.
    """
    return JSON(await service.pipeline_lineage(s.db, s.settings, id))


@router.get("/lineage-graph/", tags=["lineage"])
async def lineage_graph(s: ServicesDep, source_address_id: int, max_depth: MaxDepth = None):
    """Every lineage edge touching the address, its upstream and its downstream, with their nodes.

    At most WATCHER_LINEAGE_MAX_GRAPH_NODES addresses and WATCHER_LINEAGE_MAX_EDGES_PER_PIPELINE edges. A
    bigger graph is cut: the answer then also has `"truncated": true` and `"complete_depth"`, the largest
    `max_depth` whose graph is complete (null if none is).
    """
    return JSON(await service.lineage_graph(s.db, s.settings, source_address_id, max_depth))


@router.get("/lineage-graph/addresses", tags=["lineage"])
async def lineage_graph_addresses(db: DB, paging: Paging):
    return JSON([{"id": r.id, "name": r.name} for r in await service.list_address_names(db, paging)])


@router.post("/lineage-graph/refresh", tags=["lineage"])
async def lineage_graph_refresh():
    """Kept for old clients: the graph is computed from current data on every read."""
    return JSON({"status": "success", "message": "Lineage graph is always current"})
