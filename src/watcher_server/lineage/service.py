"""Address types, addresses and lineage rules; each public function is one transaction."""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from ..core.canonical import config_hash
from ..core.clock import CLOCK
from ..core.errors import NotFound, Unprocessable
from ..core.ids import fits_int32
from ..db.engine import Database
from ..db.filters import contains, id_equals, one_of_parameter
from ..db.locks import exclusive
from ..db.paging import Page
from ..db.rows import patch_row, require_row
from ..db.upsert import get_or_create, insert_ignoring_conflicts
from ..pipelines.service import PIPELINE_NOT_FOUND
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
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


def _chunks(items: list):
    for start in range(0, len(items), IN_CHUNK):
        yield items[start : start + IN_CHUNK]


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


def _address_values(body: AddressCreate, type_id: int, new_hash: str) -> dict[str, Any]:
    """The columns an address body sets (§8.2): the parts and metadata sent, the parts a `db.schema.table`
    name fills, its type and its hash."""
    values = {k: v for k, v in body.hashed_fields().items() if k in (*ADDRESS_PARTS, "address_metadata")}
    values.update(parsed_parts(body.name, body.address_type_group_name))
    values.update(address_type_id=type_id, input_hash=new_hash)
    return values


async def _address_type_id(conn: AsyncConnection, body: AddressCreate) -> int:
    values = {"group_name": body.address_type_group_name, "created_at": CLOCK.now()}
    return (await get_or_create(conn, address_type, {"name": body.address_type_name}, values))[0]


async def upsert_address(conn: AsyncConnection, body: AddressCreate) -> tuple[int, bool]:
    """Create, get, or update on hash change (§8.2). Returns (id, created)."""
    fields = body.hashed_fields()
    new_hash = config_hash(fields)
    for _attempt in range(2):
        found = (await conn.execute(select(address.c.id, address.c.input_hash).where(address.c.name == body.name))).first()
        if found is not None and found.input_hash == new_hash:
            return found.id, False
        values = _address_values(body, await _address_type_id(conn, body), new_hash)
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


def check_lineage_size(settings: Settings, body: AddressLineageCreate) -> None:
    """The documented limits of a lineage post, checked on the body alone: a refused post costs no database
    work and writes nothing."""
    check_lineage_names(settings, [item.name for item in body.source_addresses], [item.name for item in body.target_addresses])


def check_lineage_names(
    settings: Settings,
    sources: list[str],
    targets: list[str],
    sides: tuple[str, str] = ("source_addresses", "target_addresses"),
    where: tuple[str, ...] = ("body",),
) -> None:
    """The lineage limits over the two lists of address names; `sides` and `where` name the lists in the
    caller's terms (the request body's fields by default)."""
    per_side = settings.lineage_max_addresses_per_side
    for side, names in zip(sides, (sources, targets), strict=True):
        if len(names) > per_side:
            detail = (
                f"{side} lists {len(names)} addresses; a lineage post may name at most {per_side} per side "
                "(raise WATCHER_LINEAGE_MAX_ADDRESSES_PER_SIDE to allow more)"
            )
            raise Unprocessable((*where, side), detail, kind="too_long", input_value=len(names))
    # names arrive normalised and are unique, so distinct names are the distinct ids of §9.1
    edges = len(set(sources)) * len(set(targets))
    most = settings.lineage_max_edges_per_pipeline
    if edges > most:
        # a rule over both lists: loc ["body"] and a "Value error, " message, as §2.8 writes model-level rules
        detail = (
            f"Value error, {len(set(sources))} sources x {len(set(targets))} targets would give the pipeline {edges} lineage edges; "
            f"a pipeline may have at most {most} (raise WATCHER_LINEAGE_MAX_EDGES_PER_PIPELINE to allow more)"
        )
        raise Unprocessable(where, detail, input_value=edges)


async def replace_lineage(
    db: Database, settings: Settings, body: AddressLineageCreate, follow_load_lineage: bool = True
) -> tuple[dict[str, Any], bool]:
    """POST /address_lineage (§9.1). Returns (response, written). `follow_load_lineage=False` writes
    whatever the pipeline's load_lineage says (OpenLineage reports lineage with every run)."""
    pipeline_id = body.pipeline_id
    check_lineage_size(settings, body)
    if not fits_int32(pipeline_id):
        raise NotFound(PIPELINE_NOT_FOUND)
    async with db.write() as conn:
        # Lineage writes are serialised (§9.1): concurrent posts sharing addresses would otherwise
        # lock those rows in different orders and deadlock.
        await exclusive(conn, "lineage")
        load_lineage = (await conn.execute(_LOAD_LINEAGE, {"b_id": pipeline_id})).scalar()
        if load_lineage is None:
            raise NotFound(PIPELINE_NOT_FOUND)
        if not load_lineage and follow_load_lineage:
            message = f"pipeline {pipeline_id} does not have load_lineage=true. no lineage relationships created."
            return {"pipeline_id": pipeline_id, "lineage_relationships_created": 0, "message": message}, False
        ids = await _apply_addresses(conn, [*body.source_addresses, *body.target_addresses])
        sides = len(body.source_addresses)
        sources, targets = list(dict.fromkeys(ids[:sides])), list(dict.fromkeys(ids[sides:]))
        await conn.execute(delete(address_lineage).where(address_lineage.c.pipeline_id == pipeline_id))
        # the product is formed by the database: up to lineage_max_edges_per_pipeline rows without
        # binding three parameters for each
        source, target = address.alias("source"), address.alias("target")
        for source_ids in _chunks(sources):
            for target_ids in _chunks(targets):
                product = (
                    select(literal(pipeline_id), source.c.id, target.c.id)
                    .select_from(source.join(target, true()))  # the cross join is the point
                    .where(source.c.id.in_(source_ids), target.c.id.in_(target_ids))
                )
                await conn.execute(insert(address_lineage).from_select(["pipeline_id", "source_address_id", "target_address_id"], product))
    message = f"lineage relationships created for pipeline {pipeline_id}"
    return {"pipeline_id": pipeline_id, "lineage_relationships_created": len(sources) * len(targets), "message": message}, True


ROWS_PER_INSERT = 1000  # addresses per multi-row INSERT: about 10,000 parameters, within both backends' limits
_ADDRESS_COLUMNS = dict.fromkeys((*ADDRESS_PARTS, "address_metadata"))  # every row of one INSERT sets the same columns


async def _apply_addresses(conn: AsyncConnection, items: list[AddressCreate]) -> list[int]:
    """The `POST /address` logic applied to every item in order (§9.1); returns their ids. A declaration
    names mostly unchanged or new addresses: one query finds the unchanged ones and one statement per
    ROWS_PER_INSERT creates the new ones, so only changed addresses cost round trips of their own."""
    stored = await _stored_addresses(conn, [item.name for item in items])
    hashes = [config_hash(item.hashed_fields()) for item in items]
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        first.setdefault(item.name, index)
    # types first, in the order writing the items one by one would create them
    type_ids: dict[str, int] = {}
    new_rows = []
    for index in first.values():
        item, found = items[index], stored.get(items[index].name)
        if found is not None and found[1] == hashes[index]:
            continue
        if item.address_type_name not in type_ids:
            type_ids[item.address_type_name] = await _address_type_id(conn, item)
        if found is None:
            values = _address_values(item, type_ids[item.address_type_name], hashes[index])
            new_rows.append({**_ADDRESS_COLUMNS, **values, "name": item.name, "created_at": CLOCK.now()})
    created: dict[str, int] = {}
    for start in range(0, len(new_rows), ROWS_PER_INSERT):
        rows = new_rows[start : start + ROWS_PER_INSERT]
        statement = insert_ignoring_conflicts(conn, address, ["name"]).values(rows).returning(address.c.id, address.c.name)
        created.update({row.name: row.id for row in await conn.execute(statement)})
    ids: list[int] = []
    written: set[str] = set()  # a later item of one of these names must see the write, not `stored`
    for index, item in enumerate(items):
        found = stored.get(item.name)
        if first[item.name] == index and item.name in created:
            ids.append(created[item.name])
            written.add(item.name)
        elif found is not None and item.name not in written and found[1] == hashes[index]:
            ids.append(found[0])
        else:
            # changed, repeated, or created by another client since `stored` was read
            ids.append((await upsert_address(conn, item))[0])
            written.add(item.name)
    return ids


async def _stored_addresses(conn: AsyncConnection, names: list[str]) -> dict[str, tuple[int, str]]:
    """{name: (id, input hash)} of the named addresses that exist."""
    found: dict[str, tuple[int, str]] = {}
    for chunk in _chunks(list(dict.fromkeys(names))):
        rows = await conn.execute(select(address.c.name, address.c.id, address.c.input_hash).where(address.c.name.in_(chunk)))
        found.update({row.name: (row.id, row.input_hash) for row in rows})
    return found


# ---------------------------------------------------------------- reading the graph
#
# Every fetcher below returns at most what the search still has room for (graph.py), so a request holds at
# most WATCHER_LINEAGE_MAX_GRAPH_NODES addresses however large the warehouse is.

_SOURCE = address_lineage.c.source_address_id
_TARGET = address_lineage.c.target_address_id
STREAM_ROWS = 1000  # rows of a first page, and per round trip when a query is read as a stream


def _first_rows(rows: Select | CompoundSelect, *order: str) -> Select:
    """The first `b_limit` rows in this order, of rows computed in full first (a MATERIALIZED CTE). Given
    only a LIMIT, the planner may walk a whole index in that order hoping to stop early; on skewed data
    that read every edge of the table (116 ms where computing the rows and sorting them took 2 ms)."""
    found = rows.cte("found").prefix_with("MATERIALIZED")
    return select(found).order_by(*(found.c[column] for column in order)).limit(bindparam("b_limit"))


@dataclass(frozen=True)
class _Reads:
    """The statements of the graph reads for one backend, built once; each binds its lists of ids (b_ids,
    ...) and b_limit."""

    successor_ids: Select
    predecessor_ids: Select
    neighbour_ids: Select
    successor_pairs: Select
    successor_pairs_page: Select
    next_hops: Select
    address_details: Select
    graph_edges: Select
    graph_edge_count: Select


def _build_reads(dialect: str) -> _Reads:
    def among(column, name: str) -> ColumnElement[bool]:
        # one array parameter however many ids: rendering and binding thousands of IN parameters took
        # longer than running the query
        return one_of_parameter(dialect, column, name)

    # an edge between two of the graph's addresses (b_sources x b_targets) that touches its region R: its
    # source is one of b_touch_sources (the b_sources in R) or its target one of b_touch_targets
    between = and_(
        among(_SOURCE, "b_sources"),
        among(_TARGET, "b_targets"),
        or_(among(_SOURCE, "b_touch_sources"), among(_TARGET, "b_touch_targets")),
    )
    successor_pairs = select(_TARGET, _SOURCE).where(among(_SOURCE, "b_ids")).distinct()
    return _Reads(
        successor_ids=_first_rows(select(_TARGET.label("id")).where(among(_SOURCE, "b_ids")).distinct(), "id"),
        predecessor_ids=_first_rows(select(_SOURCE.label("id")).where(among(_TARGET, "b_ids")).distinct(), "id"),
        neighbour_ids=_first_rows(
            union(select(_TARGET.label("id")).where(among(_SOURCE, "b_ids")), select(_SOURCE.label("id")).where(among(_TARGET, "b_ids"))),
            "id",
        ),
        # in successor order, so that reading can stop at the first successor past the limit
        successor_pairs=successor_pairs.order_by(_TARGET, _SOURCE),
        successor_pairs_page=_first_rows(successor_pairs, _TARGET.name, _SOURCE.name),
        next_hops=select(_SOURCE, func.min(_TARGET)).where(among(_SOURCE, "b_level"), among(_TARGET, "b_previous")).group_by(_SOURCE),
        address_details=select(
            address.c.id,
            address.c.name,
            address.c.address_type_id,
            address.c.address_metadata,
            address_type.c.name.label("address_type_name"),
            address_type.c.group_name.label("address_type_group_name"),
        )
        .join(address_type, address_type.c.id == address.c.address_type_id)
        .where(among(address.c.id, "b_ids")),
        graph_edges=select(
            address_lineage.c.id,
            _SOURCE,
            _TARGET,
            address_lineage.c.pipeline_id,
            pipeline.c.name.label("pipeline_name"),
            pipeline_type.c.name.label("pipeline_type_name"),
            pipeline.c.pipeline_metadata,
            pipeline.c.active.label("pipeline_active"),
        )
        .join(pipeline, pipeline.c.id == address_lineage.c.pipeline_id)
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .where(between)
        .order_by(_SOURCE, _TARGET, address_lineage.c.pipeline_id)
        .limit(bindparam("b_limit")),
        # counting stops at b_limit, so a huge region costs no more than a small one
        graph_edge_count=select(func.count()).select_from(
            select(address_lineage.c.id).where(between).limit(bindparam("b_limit")).subquery()
        ),
    )


_READS = {dialect: _build_reads(dialect) for dialect in ("postgresql", "sqlite")}


def _reads(conn: AsyncConnection) -> _Reads:
    return _READS[conn.dialect.name]


@contextlib.asynccontextmanager
async def _read_graph(db: Database) -> AsyncIterator[AsyncConnection]:
    """A read transaction for the graph statements. On PostgreSQL each statement is planned for the ids it
    is given: after five runs of a prepared statement PostgreSQL may switch to a generic plan, which cannot
    see how many ids an array holds, and for these statements it took seconds instead of milliseconds."""
    async with db.read() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        yield conn


def _new_ids(conn: AsyncConnection, statement: Select) -> graph.NewIds:
    async def fetch(frontier: list[int], seen: Collection[int], limit: int) -> list[int]:
        found: list[int] = []
        for chunk in _chunks(frontier):
            # at most len(seen) of the smallest ids are seen ones, so this many hold `limit` new ones if there are
            rows = await conn.execute(statement, {"b_ids": chunk, "b_limit": limit + len(seen)})
            new = [node for node in rows.scalars() if node not in seen]
            found = sorted({*found, *new[:limit]})[:limit]
        return found

    return fetch


def _first_parents(conn: AsyncConnection) -> graph.FirstParents:
    async def fetch(frontier: list[int], seen: Collection[int], limit: int) -> dict[int, int]:
        place = {node: index for index, node in enumerate(frontier)}
        found: dict[int, int] = {}
        for chunk in _chunks(frontier):
            for node, first in (await _first_parents_of(conn, chunk, seen, place, limit)).items():
                found[node] = min(first, found.get(node, first))
            found = {node: found[node] for node in sorted(found)[:limit]}
        return found

    return fetch


async def _first_parents_of(
    conn: AsyncConnection, chunk: list[int], seen: Collection[int], place: dict[int, int], limit: int
) -> dict[int, int]:
    found: dict[int, int] = {}

    def take(node: int, parent: int) -> bool:
        """Adds one (successor, parent) pair; False at the first new successor past `limit`. Taking a
        pair twice changes nothing."""
        if node in seen:
            return True
        if node in found:
            found[node] = min(found[node], place[parent])
            return True
        if len(found) == limit:
            return False
        found[node] = place[parent]
        return True

    # Most frontiers have few successors, read by one plain query. A frontier with more is read again as a
    # stream (from the start: pairs already taken change nothing) that stops as soon as enough are found,
    # however many edges leave the frontier.
    page = (await conn.execute(_reads(conn).successor_pairs_page, {"b_ids": chunk, "b_limit": STREAM_ROWS})).all()
    if all(take(node, parent) for node, parent in page) and len(page) == STREAM_ROWS:
        result = await conn.stream(_reads(conn).successor_pairs.execution_options(yield_per=STREAM_ROWS), {"b_ids": chunk})
        try:
            # in partitions: row by row, the async iteration cost 25 µs a row
            async for rows in result.partitions(STREAM_ROWS):
                if not all(take(node, parent) for node, parent in rows):
                    break
        finally:
            await result.close()
    return found


def _next_hops(conn: AsyncConnection) -> graph.NextHops:
    async def fetch(level: list[int], previous: list[int]) -> dict[int, int]:
        hops: dict[int, int] = {}
        for sources in _chunks(level):
            for targets in _chunks(previous):
                for node, hop in await conn.execute(_reads(conn).next_hops, {"b_level": sources, "b_previous": targets}):
                    hops[node] = min(hop, hops.get(node, hop))
        return hops

    return fetch


async def _require_address(conn: AsyncConnection, address_id: int) -> None:
    await require_row(conn, address, address_id, ADDRESS_NOT_FOUND, columns=(address.c.id,))


@dataclass
class Neighbourhood:
    """One page of /downstream or /upstream, and whether the search was cut at the node limit."""

    rows: list[dict[str, Any]]
    truncated: bool
    complete_depth: int | None


async def related(db: Database, settings: Settings, address_id: int, direction: str, max_depth: int | None, paging: Page) -> Neighbourhood:
    """GET /address/{id}/downstream and /upstream (§9.3), over at most lineage_max_graph_nodes addresses."""
    cap = settings.lineage_max_graph_nodes
    async with _read_graph(db) as conn:
        await _require_address(conn, address_id)
        if direction == "down":
            reach = await graph.downstream(address_id, _first_parents(conn), max_depth, cap)
        else:
            reach = await graph.upstream(address_id, _new_ids(conn, _reads(conn).predecessor_ids), _next_hops(conn), max_depth, cap)
        ranked = reach.ordered()
        if paging.order == "desc":
            ranked.reverse()
        page = ranked[paging.offset : paging.offset + paging.limit]
        details = await _address_details(conn, page)
    rows = [
        {
            "id": node,
            "name": details[node]["name"],
            "address_type_id": details[node]["address_type_id"],
            "address_type_name": details[node]["address_type_name"],
            "address_type_group_name": details[node]["address_type_group_name"],
            "depth": reach.depth[node],
            "lineage_path": reach.path(node),
        }
        for node in page
    ]
    return Neighbourhood(rows, reach.truncated, reach.complete_depth)


async def _address_details(conn: AsyncConnection, ids: list[int]) -> dict[int, dict[str, Any]]:
    details: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for row in await conn.execute(_reads(conn).address_details, {"b_ids": chunk}):
            details[row.id] = row._asdict()
    return details


def _edge_order(edge) -> tuple[int, int, int]:
    return (edge.source_address_id, edge.target_address_id, edge.pipeline_id)


def _between(nodes: list[int], region: Collection[int]) -> Iterator[dict[str, list[int]]]:
    """Parameters of the graph's edge statements, one set per pair of chunks of `nodes`: together they select
    every edge of the graph, each edge under exactly one set, and no statement binds more than 4 x IN_CHUNK ids."""
    for sources in _chunks(nodes):
        for targets in _chunks(nodes):
            touch_sources = [n for n in sources if n in region]
            touch_targets = [n for n in targets if n in region]
            if touch_sources or touch_targets:
                yield {"b_sources": sources, "b_targets": targets, "b_touch_sources": touch_sources, "b_touch_targets": touch_targets}


async def _graph_edges(conn: AsyncConnection, nodes: list[int], region: Collection[int], limit: int) -> list:
    """The first `limit` edges of the graph in (source, target, pipeline) order."""
    edges: list = []
    for between in _between(nodes, region):
        rows = await conn.execute(_reads(conn).graph_edges, {**between, "b_limit": limit})
        edges = heapq.nsmallest(limit, [*edges, *rows], key=_edge_order)
    return edges


async def _more_edges_than(conn: AsyncConnection, nodes: list[int], region: Collection[int], most: int) -> bool:
    counted = 0
    for between in _between(nodes, region):
        counted += (await conn.execute(_reads(conn).graph_edge_count, {**between, "b_limit": most + 1 - counted})).scalar()
        if counted > most:
            return True
    return False


async def _deepest_complete_graph(conn: AsyncConnection, region: graph.Region, deepest: int | None, most_edges: int) -> int | None:
    """The largest max_depth <= `deepest` whose graph has at most `most_edges` edges (its node count is
    within the cap already), found by bisection since the graph only grows with max_depth."""
    nodes = sorted(region.nodes)
    best, low, high = None, 1, deepest or 0
    while low <= high:
        middle = (low + high) // 2
        within = {node for node, level in region.level.items() if level <= middle}
        if await _more_edges_than(conn, nodes, within, most_edges):
            high = middle - 1
        else:
            best, low = middle, middle + 1
    return best


async def lineage_graph(db: Database, settings: Settings, source_address_id: int, max_depth: int | None) -> dict[str, Any]:
    """GET /lineage-graph/ (§9.4): every edge touching the address's upstream/downstream region, over at
    most lineage_max_graph_nodes addresses and lineage_max_graph_edges edges."""
    most_edges = settings.lineage_max_graph_edges
    async with _read_graph(db) as conn:
        await _require_address(conn, source_address_id)
        region = await graph.region(
            source_address_id,
            _new_ids(conn, _reads(conn).successor_ids),
            _new_ids(conn, _reads(conn).predecessor_ids),
            _new_ids(conn, _reads(conn).neighbour_ids),
            max_depth,
            settings.lineage_max_graph_nodes,
        )
        edges = await _graph_edges(conn, sorted(region.nodes), region.level, most_edges + 1)
        truncated = region.truncated or len(edges) > most_edges
        edges = edges[:most_edges]
        complete_depth = None
        if truncated:
            deepest = region.complete_depth if region.truncated else max(region.level.values()) - 1
            complete_depth = await _deepest_complete_graph(conn, region, deepest, most_edges)
        node_ids = sorted({e.source_address_id for e in edges} | {e.target_address_id for e in edges})
        details = await _address_details(conn, node_ids)
    answer = {
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
            for e in edges
        ],
    }
    if truncated:
        # added keys only, and only on a cut graph: a complete answer is exactly the contract's
        answer["truncated"] = True
        answer["complete_depth"] = complete_depth
    return answer


async def pipeline_lineage(db: Database, settings: Settings, pipeline_id: int) -> dict[str, Any]:
    """GET /pipeline/{id}/lineage: the addresses the pipeline reads and writes, as last declared. Each side
    holds at most lineage_max_addresses_per_side addresses (the most a post may name), so only lineage
    stored before a limit was lowered is ever cut."""
    most = settings.lineage_max_addresses_per_side
    async with _read_graph(db) as conn:
        await require_row(conn, pipeline, pipeline_id, PIPELINE_NOT_FOUND, columns=(pipeline.c.id,))
        sides = []
        for column in (_SOURCE, _TARGET):
            ids = select(column).where(address_lineage.c.pipeline_id == pipeline_id).distinct().order_by(column).limit(most + 1)
            sides.append(list((await conn.execute(ids)).scalars()))
        truncated = any(len(ids) > most for ids in sides)
        sources, targets = (ids[:most] for ids in sides)
        details = await _address_details(conn, sorted({*sources, *targets}))

    def shown(address_id: int) -> dict[str, Any]:
        found = details[address_id]
        keys = ("id", "name", "address_type_id", "address_type_name", "address_type_group_name")
        return {key: found[key] for key in keys}

    answer = {"pipeline_id": pipeline_id, "source_addresses": [shown(a) for a in sources], "target_addresses": [shown(a) for a in targets]}
    if truncated:
        answer["truncated"] = True
    return answer
