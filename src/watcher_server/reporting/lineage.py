"""The lineage page's read model: an address's upstream and downstream, a pipeline's sources and targets,
and for the few addresses a page draws, the edges between them and the health of the pipelines that write
them.

The neighbourhoods come from lineage/service.py's searches, which hold at most
WATCHER_LINEAGE_MAX_GRAPH_NODES addresses per direction however large the warehouse is, and say when they
were cut. Edges and writers are read only for the addresses drawn (a few hundred at most), each read
capped, through the (source, target) and (target, source) indexes of address_lineage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from ..core.errors import NotFound
from ..core.ids import fits_int32
from ..db.engine import Database
from ..db.filters import contains
from ..db.paging import Page
from ..lineage.service import pipeline_lineage, related
from ..lineage.tables import address, address_lineage, address_type
from ..pipelines.tables import pipeline, pipeline_type
from ..settings import Settings
from .health import STATES, states_of

MOST_EDGES = 2000  # edges read between the drawn addresses
MOST_WRITERS = 2000  # (address, pipeline) pairs read for the drawn addresses' health

_SOURCE = address_lineage.c.source_address_id
_TARGET = address_lineage.c.target_address_id


@dataclass(frozen=True)
class Place:
    """An address at a signed distance from the centre: negative upstream, positive downstream. `via` is the
    neighbour one hop nearer the centre on its shortest path (None for the centre)."""

    id: int
    name: str
    type_name: str
    group_name: str
    distance: int
    via: int | None = None


@dataclass
class Neighbourhood:
    centre: Place
    places: list[Place]  # upstream and downstream; an address on a cycle is both
    truncated_up: bool = False
    truncated_down: bool = False
    complete_depth_up: int | None = None
    complete_depth_down: int | None = None
    cap: int = 0  # addresses each direction's search may hold


@dataclass(frozen=True)
class Edge:
    source: int
    target: int
    pipeline_id: int
    pipeline_name: str


@dataclass(frozen=True)
class Writer:
    pipeline_id: int
    name: str
    states: tuple[str, ...]  # problem states; empty when ok


@dataclass
class Details:
    edges: list[Edge]
    writers: dict[int, list[Writer]]
    edges_truncated: bool = False
    writers_truncated: bool = False

    def health(self, address_id: int) -> list[str] | None:
        """The problem states of the pipelines writing this address (["ok"] when none has one); None when
        no pipeline writes it."""
        writers = self.writers.get(address_id)
        if not writers:
            return None
        found = {state for writer in writers for state in writer.states}
        return [state for state in STATES if state in found] or ["ok"]


@dataclass
class PipelineView:
    pipeline_id: int
    name: str
    type_name: str
    active: bool
    states: list[str]  # problem states; empty when ok
    sources: list[Place]
    targets: list[Place]
    truncated: bool = False


_CENTRE = select(address.c.id, address.c.name, address_type.c.name.label("type_name"), address_type.c.group_name).join(
    address_type, address_type.c.id == address.c.address_type_id
)


async def search_addresses(db: Database, fragment: str, limit: int = 50) -> tuple[list, bool]:
    """Addresses whose name holds `fragment`, by name: (the first `limit`, whether there are more)."""
    statement = _CENTRE.where(contains(address.c.name, fragment)).order_by(address.c.name).limit(limit + 1)
    async with db.read() as conn:
        rows = (await conn.execute(statement)).all()
    return rows[:limit], len(rows) > limit


async def neighbourhood(
    db: Database, settings: Settings, address_id: int, depth: int, sides: Sequence[str] = ("up", "down")
) -> Neighbourhood:
    """The address and every address upstream and downstream of it up to `depth` hops, as far as the
    lineage searches' node cap allows."""
    missing = f"Address {address_id} not found"
    if not fits_int32(address_id):
        raise NotFound(missing)
    async with db.read() as conn:
        row = (await conn.execute(_CENTRE.where(address.c.id == address_id))).first()
    if row is None:
        raise NotFound(missing)
    cap = settings.lineage_max_graph_nodes
    found = Neighbourhood(Place(row.id, row.name, row.type_name, row.group_name, 0), [], cap=cap)
    for side in sides:
        reach = await related(db, settings, address_id, side, depth, Page(limit=cap, offset=0))
        sign = -1 if side == "up" else 1
        for item in reach.rows:
            path = item["lineage_path"]
            # paths run in data-flow order: centre first downstream, centre last upstream
            via = path[1] if side == "up" else path[-2]
            found.places.append(
                Place(item["id"], item["name"], item["address_type_name"], item["address_type_group_name"], sign * item["depth"], via)
            )
        if side == "up":
            found.truncated_up, found.complete_depth_up = reach.truncated, reach.complete_depth
        else:
            found.truncated_down, found.complete_depth_down = reach.truncated, reach.complete_depth
    return found


async def pipeline_view(db: Database, settings: Settings, pipeline_id: int, now: dt.datetime) -> PipelineView:
    """The pipeline, its health, and the addresses it reads and writes."""
    missing = f"Pipeline {pipeline_id} not found"
    if not fits_int32(pipeline_id):
        raise NotFound(missing)
    statement = (
        select(pipeline.c.id, pipeline.c.name, pipeline.c.active, pipeline_type.c.name.label("type_name"))
        .join(pipeline_type, pipeline_type.c.id == pipeline.c.pipeline_type_id)
        .where(pipeline.c.id == pipeline_id)
    )
    async with db.read() as conn:
        row = (await conn.execute(statement)).first()
        if row is None:
            raise NotFound(missing)
        states = (await states_of(conn, [pipeline_id], now)).get(pipeline_id, [])
    sides = await pipeline_lineage(db, settings, pipeline_id)

    def places(items: list[dict], distance: int) -> list[Place]:
        return [Place(a["id"], a["name"], a["address_type_name"], a["address_type_group_name"], distance) for a in items]

    return PipelineView(
        pipeline_id=row.id,
        name=row.name,
        type_name=row.type_name,
        active=row.active,
        states=list(states),
        sources=places(sides["source_addresses"], -1),
        targets=places(sides["target_addresses"], 1),
        truncated=bool(sides.get("truncated")),
    )


async def details(db: Database, address_ids: Sequence[int], now: dt.datetime) -> Details:
    """For the addresses a page draws: the lineage edges between them, and the pipelines writing each
    with those pipelines' health. Four queries however many addresses: the pipelines' names are read by
    primary key once the (few) distinct pipelines are known, since joining them in let the planner hash
    all 100,000 pipelines for a few hundred edges."""
    ids = sorted(set(address_ids))
    if not ids:
        return Details([], {})
    edges_statement = (
        select(_SOURCE, _TARGET, address_lineage.c.pipeline_id)
        .where(_SOURCE.in_(ids), _TARGET.in_(ids))
        .order_by(_SOURCE, _TARGET, address_lineage.c.pipeline_id)
        .limit(MOST_EDGES + 1)
    )
    writers_statement = (
        select(_TARGET, address_lineage.c.pipeline_id)
        .where(_TARGET.in_(ids))
        .distinct()
        .order_by(_TARGET, address_lineage.c.pipeline_id)
        .limit(MOST_WRITERS + 1)
    )
    async with db.read() as conn:
        edge_rows = (await conn.execute(edges_statement)).all()
        writer_rows = (await conn.execute(writers_statement)).all()
        writing = sorted({row.pipeline_id for row in writer_rows[:MOST_WRITERS]})
        pipeline_ids = sorted({*writing, *(row.pipeline_id for row in edge_rows[:MOST_EDGES])})
        names = dict((await conn.execute(select(pipeline.c.id, pipeline.c.name).where(pipeline.c.id.in_(pipeline_ids)))).all())
        states = await states_of(conn, writing, now)
    writers: dict[int, list[Writer]] = {}
    for row in writer_rows[:MOST_WRITERS]:
        writers.setdefault(row.target_address_id, []).append(
            Writer(row.pipeline_id, names[row.pipeline_id], tuple(states.get(row.pipeline_id, ())))
        )
    return Details(
        edges=[
            Edge(row.source_address_id, row.target_address_id, row.pipeline_id, names[row.pipeline_id]) for row in edge_rows[:MOST_EDGES]
        ],
        writers=writers,
        edges_truncated=len(edge_rows) > MOST_EDGES,
        writers_truncated=len(writer_rows) > MOST_WRITERS,
    )


@dataclass
class Column:
    """One column of a neighbourhood, for the paged list its "N more" node links to."""

    places: list[Place] = field(default_factory=list)
    truncated: bool = False


async def address_column(db: Database, settings: Settings, address_id: int, distance: int) -> tuple[Place, Column]:
    """The addresses exactly `distance` hops upstream (negative) or downstream of the address, by name."""
    side = "up" if distance < 0 else "down"
    found = await neighbourhood(db, settings, address_id, abs(distance), sides=(side,))
    places = sorted((p for p in found.places if p.distance == distance), key=lambda p: p.name)
    truncated = found.truncated_up if side == "up" else found.truncated_down
    return found.centre, Column(places, truncated)
