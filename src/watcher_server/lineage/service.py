"""Address types, addresses and lineage rules; each public function is one transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.canonical import config_hash
from ..core.clock import CLOCK
from ..core.errors import NotFound
from ..core.ids import fits_int32
from ..db.engine import Database
from ..db.filters import contains, id_equals
from ..db.locks import exclusive
from ..db.paging import Page
from ..db.rows import patch_row, require_row
from ..db.upsert import get_or_create, insert_ignoring_conflicts
from ..pipelines.service import PIPELINE_NOT_FOUND
from ..pipelines.tables import pipeline, pipeline_type
from . import graph
from .schemas import (
    ADDRESS_PARTS,
    AddressCreate,
    AddressLineageCreate,
    AddressTypeCreate,
    AddressTypeUpdate,
    AddressUpdate,
)
from .tables import address, address_lineage, address_type

ADDRESS_NOT_FOUND = "Address not found"
TYPE_NOT_FOUND = "Address Type Not Found"
IN_CHUNK = 5000  # ids per IN (...) list, well below both backends' parameter limits


def _chunks(ids: list[int]):
    for start in range(0, len(ids), IN_CHUNK):
        yield ids[start : start + IN_CHUNK]


# ---------------------------------------------------------------- address types


async def create_or_get_type(db: Database, body: AddressTypeCreate) -> tuple[int, bool]:
    async with db.write() as conn:
        return await get_or_create(conn, address_type, {"name": body.name}, {"group_name": body.group_name, "created_at": CLOCK.now()})


async def list_types(db: Database, paging: Page, group_name: str | None, name_contains: str | None) -> list:
    statement = select(address_type)
    if group_name is not None:
        statement = statement.where(address_type.c.group_name == group_name)
    if name_contains is not None:
        statement = statement.where(contains(address_type.c.name, name_contains))
    return await paging.fetch(db, statement, address_type.c.id)


async def get_type(db: Database, type_id: int):
    async with db.read() as conn:
        return await require_row(conn, address_type, type_id, TYPE_NOT_FOUND)


async def patch_type(db: Database, body: AddressTypeUpdate):
    async with db.write() as conn:
        return await patch_row(conn, address_type, body.id, body.name, body.changes(), TYPE_NOT_FOUND, "Address type name already exists")


# ---------------------------------------------------------------- addresses


def parsed_parts(name: str, group_name: str) -> dict[str, str]:
    """`db.schema.table` names of the database group fill the three parts (overriding what was sent)."""
    if group_name != "database":
        return {}
    parts = name.split(".")
    if len(parts) != 3 or not all(parts):
        return {}
    return dict(zip(("database_name", "schema_name", "table_name"), parts, strict=True))


async def create_or_get_address(db: Database, body: AddressCreate) -> tuple[int, bool]:
    async with db.write() as conn:
        return await upsert_address(conn, body)


async def upsert_address(conn: AsyncConnection, body: AddressCreate) -> tuple[int, bool]:
    """Create, get, or update on hash change (§8.2). Returns (id, created)."""
    fields = body.hashed_fields()
    new_hash = config_hash(fields)
    for _attempt in range(2):
        found = (await conn.execute(select(address.c.id, address.c.input_hash).where(address.c.name == body.name))).first()
        if found is not None and found.input_hash == new_hash:
            return found.id, False
        type_id, _ = await get_or_create(
            conn, address_type, {"name": body.address_type_name}, {"group_name": body.address_type_group_name, "created_at": CLOCK.now()}
        )
        values = {k: v for k, v in fields.items() if k in (*ADDRESS_PARTS, "address_metadata")}
        values.update(parsed_parts(body.name, body.address_type_group_name))
        values.update(address_type_id=type_id, input_hash=new_hash)
        if found is not None:
            await conn.execute(update(address).where(address.c.id == found.id).values(**values, updated_at=CLOCK.now()))
            return found.id, False
        statement = insert_ignoring_conflicts(conn, address, ["name"]).values(name=body.name, created_at=CLOCK.now(), **values)
        created = (await conn.execute(statement.returning(address.c.id))).scalar()
        if created is not None:
            return created, True
        # another client created it between our lookup and insert: apply the found-path rules
    raise RuntimeError("address create-or-get did not converge")  # pragma: no cover


async def list_addresses(db: Database, paging: Page, address_type_id: int | None, name_contains: str | None) -> list:
    statement = select(address)
    if address_type_id is not None:
        statement = statement.where(id_equals(address.c.address_type_id, address_type_id))
    if name_contains is not None:
        statement = statement.where(contains(address.c.name, name_contains))
    return await paging.fetch(db, statement, address.c.id)


async def list_address_names(db: Database, paging: Page) -> list:
    return await paging.fetch(db, select(address.c.id, address.c.name), address.c.id)


async def get_address(db: Database, address_id: int):
    async with db.read() as conn:
        return await require_row(conn, address, address_id, ADDRESS_NOT_FOUND)


async def patch_address(db: Database, body: AddressUpdate):
    changes = body.changes()
    async with db.write() as conn:
        if "address_type_id" in changes:
            await require_row(conn, address_type, changes["address_type_id"], TYPE_NOT_FOUND, columns=(address_type.c.id,))
        return await patch_row(conn, address, body.id, body.name, changes, ADDRESS_NOT_FOUND, "Address name already exists")


# ---------------------------------------------------------------- lineage


_LOAD_LINEAGE = select(pipeline.c.load_lineage).where(pipeline.c.id == bindparam("b_id"))


async def replace_lineage(db: Database, body: AddressLineageCreate) -> tuple[dict[str, Any], bool]:
    """POST /address_lineage (§9.1). Returns (response, written)."""
    pipeline_id = body.pipeline_id
    if not fits_int32(pipeline_id):
        raise NotFound(PIPELINE_NOT_FOUND)
    async with db.write() as conn:
        # Lineage writes are serialised (§9.1): concurrent posts sharing addresses would otherwise
        # lock those rows in different orders and deadlock.
        await exclusive(conn, "lineage")
        load_lineage = (await conn.execute(_LOAD_LINEAGE, {"b_id": pipeline_id})).scalar()
        if load_lineage is None:
            raise NotFound(PIPELINE_NOT_FOUND)
        if not load_lineage:
            message = f"pipeline {pipeline_id} does not have load_lineage=true. no lineage relationships created."
            return {"pipeline_id": pipeline_id, "lineage_relationships_created": 0, "message": message}, False
        sources = [(await upsert_address(conn, item))[0] for item in body.source_addresses]
        targets = [(await upsert_address(conn, item))[0] for item in body.target_addresses]
        pairs = [(s, t) for s in dict.fromkeys(sources) for t in dict.fromkeys(targets)]
        await conn.execute(delete(address_lineage).where(address_lineage.c.pipeline_id == pipeline_id))
        if pairs:
            rows = [{"pipeline_id": pipeline_id, "source_address_id": s, "target_address_id": t} for s, t in pairs]
            await conn.execute(insert(address_lineage), rows)
    message = f"lineage relationships created for pipeline {pipeline_id}"
    return {"pipeline_id": pipeline_id, "lineage_relationships_created": len(pairs), "message": message}, True


def _neighbours(conn: AsyncConnection, direction: str) -> graph.Neighbours:
    """Distinct neighbours over every pipeline's edges, in one direction, ascending by id."""
    here, there = (
        (address_lineage.c.source_address_id, address_lineage.c.target_address_id)
        if direction == "down"
        else (address_lineage.c.target_address_id, address_lineage.c.source_address_id)
    )

    async def fetch(ids: list[int]) -> dict[int, list[int]]:
        found: dict[int, set[int]] = {}
        for chunk in _chunks(ids):
            rows = await conn.execute(select(here, there).where(here.in_(chunk)).distinct())
            for node, neighbour in rows:
                found.setdefault(node, set()).add(neighbour)
        return {node: sorted(neighbours) for node, neighbours in found.items()}

    return fetch


async def _require_address(conn: AsyncConnection, address_id: int) -> None:
    await require_row(conn, address, address_id, ADDRESS_NOT_FOUND, columns=(address.c.id,))


async def related(db: Database, address_id: int, direction: str, max_depth: int | None, paging: Page) -> list[dict[str, Any]]:
    """GET /address/{id}/downstream and /upstream (§9.3)."""
    async with db.read() as conn:
        await _require_address(conn, address_id)
        if direction == "down":
            paths = await graph.downstream(address_id, _neighbours(conn, "down"), max_depth)
        else:
            paths = await graph.upstream(address_id, _neighbours(conn, "up"), _neighbours(conn, "down"), max_depth)
        ranked = list(graph.ordered(paths))
        if paging.order == "desc":
            ranked.reverse()
        page = ranked[paging.offset : paging.offset + paging.limit]
        details = await _address_details(conn, [node for node, _ in page])
    return [
        {
            "id": node,
            "name": details[node]["name"],
            "address_type_id": details[node]["address_type_id"],
            "address_type_name": details[node]["address_type_name"],
            "address_type_group_name": details[node]["address_type_group_name"],
            "depth": len(path) - 1,
            "lineage_path": path,
        }
        for node, path in page
    ]


async def _address_details(conn: AsyncConnection, ids: list[int]) -> dict[int, dict[str, Any]]:
    details: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        rows = await conn.execute(
            select(
                address.c.id,
                address.c.name,
                address.c.address_type_id,
                address.c.address_metadata,
                address_type.c.name.label("address_type_name"),
                address_type.c.group_name.label("address_type_group_name"),
            )
            .join(address_type, address_type.c.id == address.c.address_type_id)
            .where(address.c.id.in_(chunk))
        )
        for row in rows:
            details[row.id] = row._asdict()
    return details


async def lineage_graph(db: Database, source_address_id: int, max_depth: int | None) -> dict[str, Any]:
    """GET /lineage-graph/ (§9.4): every edge touching the address's upstream/downstream region."""
    async with db.read() as conn:
        await _require_address(conn, source_address_id)
        down = await graph.downstream(source_address_id, _neighbours(conn, "down"), max_depth)
        up = await graph.upstream(source_address_id, _neighbours(conn, "up"), _neighbours(conn, "down"), max_depth)
        region = sorted({source_address_id, *down, *up})
        edges: dict[int, Any] = {}
        for column in (address_lineage.c.source_address_id, address_lineage.c.target_address_id):
            for chunk in _chunks(region):
                rows = await conn.execute(
                    select(
                        address_lineage.c.id,
                        address_lineage.c.source_address_id,
                        address_lineage.c.target_address_id,
                        address_lineage.c.pipeline_id,
                        pipeline.c.name.label("pipeline_name"),
                        pipeline_type.c.name.label("pipeline_type_name"),
                        pipeline.c.pipeline_metadata,
                        pipeline.c.active.label("pipeline_active"),
                    )
                    .join(pipeline, pipeline.c.id == address_lineage.c.pipeline_id)
                    .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
                    .where(column.in_(chunk))
                )
                for row in rows:
                    edges[row.id] = row
        ordered_edges = sorted(edges.values(), key=lambda e: (e.source_address_id, e.target_address_id, e.pipeline_id))
        node_ids = sorted({e.source_address_id for e in ordered_edges} | {e.target_address_id for e in ordered_edges})
        details = await _address_details(conn, node_ids)
    return {
        "nodes": [
            {
                "id": node,
                "name": details[node]["name"],
                "address_type_name": details[node]["address_type_name"],
                "address_type_group_name": details[node]["address_type_group_name"],
                "address_metadata": details[node]["address_metadata"],
            }
            for node in node_ids
        ],
        "edges": [
            {
                "source_address_id": e.source_address_id,
                "target_address_id": e.target_address_id,
                # a direct edge is its own shortest path; a self-edge is the address itself
                "depth": 0 if e.source_address_id == e.target_address_id else 1,
                "lineage_path": [e.source_address_id]
                if e.source_address_id == e.target_address_id
                else [e.source_address_id, e.target_address_id],
                "pipeline_id": e.pipeline_id,
                "pipeline_name": e.pipeline_name,
                "pipeline_type_name": e.pipeline_type_name,
                "pipeline_metadata": e.pipeline_metadata,
                "pipeline_active": e.pipeline_active,
            }
            for e in ordered_edges
        ],
    }


async def pipeline_lineage(db: Database, pipeline_id: int) -> dict[str, Any]:
    """GET /pipeline/{id}/lineage: the addresses the pipeline reads and writes, as last declared."""
    async with db.read() as conn:
        await require_row(conn, pipeline, pipeline_id, PIPELINE_NOT_FOUND, columns=(pipeline.c.id,))
        edges = (
            await conn.execute(
                select(address_lineage.c.source_address_id, address_lineage.c.target_address_id).where(
                    address_lineage.c.pipeline_id == pipeline_id
                )
            )
        ).all()
        sources = sorted({edge.source_address_id for edge in edges})
        targets = sorted({edge.target_address_id for edge in edges})
        details = await _address_details(conn, sorted({*sources, *targets}))

    def shown(address_id: int) -> dict[str, Any]:
        found = details[address_id]
        keys = ("id", "name", "address_type_id", "address_type_name", "address_type_group_name")
        return {key: found[key] for key in keys}

    return {"pipeline_id": pipeline_id, "source_addresses": [shown(a) for a in sources], "target_addresses": [shown(a) for a in targets]}
