"""/ui/lineage: an address search; an address's upstream and downstream to a chosen depth
(?address_id=…&depth=…); a pipeline's sources and targets (?pipeline_id=…). Both are drawn left to right as
server-side SVG, each node linking to its own neighbourhood, and listed as tables. A column too long to
draw ends in an "N more" node that leads to the paged list of that column (&column=…)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator

from ...core.errors import Invalid
from ...http import DB, ClockDep, TextFilter
from ...reporting import lineage as read
from ..lineage_layout import Item, Layout, Link, collapse, layout, per_column_budget
from ..paging import PAGE_SIZE, pager
from ..templating import page

router = APIRouter(include_in_schema=False)

MAX_DEPTH = 6
PROBLEMS = {"failing": "bad", "stale": "bad", "late": "warn", "anomalous": "warn"}


def _blank_is_none(value):
    """An empty form field (`?pipeline_id=`) means "not given", not a malformed number."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalId = Annotated[int | None, BeforeValidator(_blank_is_none), Query()]


@dataclass(frozen=True)
class NodeView:
    """What the template shows of a node: where it leads, its full description, its health."""

    href: str
    title: str
    health: list[str] | None  # None: no pipeline writes it
    tone: str  # "bad", "warn", "ok" or "" (the box colour)
    place: read.Place | None = None
    writers: tuple[read.Writer, ...] = ()


def _tone(health: list[str] | None) -> str:
    if not health:
        return ""
    tones = {PROBLEMS.get(state, "ok") for state in health}
    return "bad" if "bad" in tones else "warn" if "warn" in tones else "ok"


def _address_view(place: read.Place, details: read.Details, href: str) -> NodeView:
    writers = tuple(details.writers.get(place.id, ()))
    health = details.health(place.id)
    title = f"{place.name} ({place.type_name}, {place.group_name})"
    if writers:
        named = [f"{w.name}" + (f" ({', '.join(w.states)})" if w.states else "") for w in writers[:5]]
        more = f" and {len(writers) - 5} more" if len(writers) > 5 else ""
        title += " · written by " + ", ".join(named) + more
    else:
        title += " · no pipeline writes it"
    return NodeView(href, title, health, _tone(health), place, writers)


def _sublabel(place: read.Place, health: list[str] | None) -> str:
    return place.type_name + (" · " + ", ".join(health) if health else "")


def _table(layout_items: dict[int, list[Item]], hidden: dict[int, list[Item]], sign: int, more_href) -> list[dict]:
    """Rows of the upstream (sign -1) or downstream (sign 1) table: the drawn items by distance, then a
    row for each column's undrawn rest."""
    rows = []
    for column in sorted((c for c in layout_items if c * sign > 0), key=abs):
        rows.extend({"depth": abs(column), "item": item} for item in layout_items[column])
        if column in hidden:
            rows.append({"depth": abs(column), "more": len(hidden[column]), "href": more_href(column)})
    return rows


def _with_views(shown: dict[int, list[Item]], hidden: dict[int, list[Item]], details: read.Details, href) -> list[Item]:
    """The drawn items with what the template shows of them, and the undrawn ones as they are: those (up
    to the search's node cap) only count in their column's "N more"."""
    items = [item for column_items in hidden.values() for item in column_items]
    for column_items in shown.values():
        for item in column_items:
            place = item.data
            health = details.health(place.id)
            items.append(Item(item.node, item.column, place.name, _sublabel(place, health), _address_view(place, details, href(place))))
    return items


@router.get("/ui/lineage")
async def lineage_page(
    request: Request,
    db: DB,
    clock: ClockDep,
    address_id: OptionalId = None,
    pipeline_id: OptionalId = None,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 2,
    q: TextFilter = None,
    column: Annotated[int | None, BeforeValidator(_blank_is_none), Query(ge=-MAX_DEPTH, le=MAX_DEPTH)] = None,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
):
    settings = request.app.state.settings
    now = clock.now()
    if address_id is not None:
        if column is not None:
            if column == 0 or abs(column) > depth:
                raise Invalid(f"column must be between -{depth} and {depth}, not 0")
            centre, found = await read.address_column(db, settings, address_id, column)
            return await _column_page(
                request, db, now, centre.name, found, column, f"/ui/lineage?address_id={centre.id}&depth={depth}", depth, page_number
            )
        return await _address_page(request, db, settings, now, address_id, depth)
    if pipeline_id is not None:
        if column is not None:
            if column not in (-1, 1):
                raise Invalid("column must be -1 (sources) or 1 (targets) for a pipeline")
            view = await read.pipeline_view(db, settings, pipeline_id, now)
            places = sorted(view.sources if column < 0 else view.targets, key=lambda p: p.name)
            found = read.Column(places, view.truncated)
            return await _column_page(
                request, db, now, view.name, found, column, f"/ui/lineage?pipeline_id={view.pipeline_id}", depth, page_number
            )
        return await _pipeline_page(request, db, settings, now, pipeline_id, depth)
    results, more = await read.search_addresses(db, q) if q else ([], False)
    return page(request, "lineage.html", {"mode": "search", "q": q or "", "results": results, "more_results": more, "depth": depth})


async def _address_page(request: Request, db, settings, now, address_id: int, depth: int):
    found = await read.neighbourhood(db, settings, address_id, depth)
    places = [found.centre, *found.places]
    bare = [Item(f"a{p.id}", p.distance, p.name, p.type_name, p) for p in places]
    per_column = per_column_budget(len({p.distance for p in found.places}))
    shown, hidden = collapse(bare, per_column)
    details = await read.details(db, [item.data.id for items in shown.values() for item in items], now)

    def href(place: read.Place) -> str:
        return f"/ui/lineage?address_id={place.id}&depth={depth}"

    def more_href(column: int) -> str:
        return f"/ui/lineage?address_id={found.centre.id}&depth={depth}&column={column}"

    items = _with_views(shown, hidden, details, href)
    links = [Link(f"a{e.source}", f"a{e.target}", f"{e.pipeline_name} (pipeline {e.pipeline_id})") for e in details.edges]
    # an undrawn address hangs from its "N more" node by the edge of its shortest path; one link per
    # (neighbour, column) draws them all, however many addresses a column holds
    for column, column_items in hidden.items():
        for via in sorted({item.data.via for item in column_items}):
            if column > 0:
                links.append(Link(f"a{via}", f"a{column_items[0].data.id}", source_column=column - 1, target_column=column))
            else:
                links.append(Link(f"a{column_items[0].data.id}", f"a{via}", source_column=column, target_column=column + 1))
    drawn = layout(items, links, per_column)
    centre = _address_view(found.centre, details, href(found.centre))
    return _graph_page(request, "address", depth, centre, drawn, details, more_href, found=found)


async def _pipeline_page(request: Request, db, settings, now, pipeline_id: int, depth: int):
    view = await read.pipeline_view(db, settings, pipeline_id, now)
    per_column = per_column_budget(2)
    shown, hidden = collapse([Item(f"a{p.id}", p.distance, p.name, data=p) for p in [*view.sources, *view.targets]], per_column)
    details = await read.details(db, [item.data.id for items in shown.values() for item in items], now)

    def href(place: read.Place) -> str:
        return f"/ui/lineage?address_id={place.id}&depth={depth}"

    def more_href(column: int) -> str:
        return f"/ui/lineage?pipeline_id={view.pipeline_id}&column={column}"

    health = list(view.states) or ["ok"]
    centre = NodeView(
        f"/ui/pipelines/{view.pipeline_id}", f"{view.name} (pipeline {view.pipeline_id}, {view.type_name})", health, _tone(health)
    )
    node = f"p{view.pipeline_id}"
    items = [
        Item(node, 0, view.name, f"pipeline · {view.type_name} · {', '.join(health)}", centre),
        *_with_views(shown, hidden, details, href),
    ]
    title = f"{view.name} (pipeline {view.pipeline_id})"
    links = [Link(f"a{p.id}", node, title, target_column=0) for p in view.sources]
    links += [Link(node, f"a{p.id}", title, source_column=0) for p in view.targets]
    drawn: Layout = layout(items, links, per_column)
    return _graph_page(
        request, "pipeline", depth, centre, drawn, details, more_href, view=view, most_per_side=settings.lineage_max_addresses_per_side
    )


def _graph_page(request: Request, mode: str, depth: int, centre, drawn: Layout, details, more_href, **extra):
    """The graph, its "N more" links and the upstream/downstream tables, around an address or a pipeline."""
    context = {
        "mode": mode,
        "depth": depth,
        "centre": centre,
        "drawn": drawn,
        "more_hrefs": {column: more_href(column) for column in drawn.hidden},
        "upstream": _table(drawn.shown, drawn.hidden, -1, more_href),
        "downstream": _table(drawn.shown, drawn.hidden, 1, more_href),
        "details": details,
        "q": "",
        **extra,
    }
    return page(request, "lineage.html", context)


async def _column_page(request: Request, db, now, centre_name: str, found: read.Column, column: int, back: str, depth: int, number: int):
    start = (number - 1) * PAGE_SIZE
    places = found.places[start : start + PAGE_SIZE]
    details = await read.details(db, [p.id for p in places], now)
    rows = [_address_view(p, details, f"/ui/lineage?address_id={p.id}&depth={depth}") for p in places]
    context = {
        "mode": "column",
        "kind": "pipeline" if back.startswith("/ui/lineage?pipeline_id=") else "address",
        "depth": depth,
        "centre_name": centre_name,
        "column": column,
        "back": back,
        "rows": rows,
        "total": len(found.places),
        "truncated": found.truncated,
        "pager": pager(request, number, PAGE_SIZE, start + PAGE_SIZE < len(found.places)),
        "q": "",
    }
    return page(request, "lineage.html", context)
