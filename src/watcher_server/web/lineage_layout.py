"""Layout of a lineage neighbourhood, left to right: one column per signed distance from the centre
(upstream left, downstream right), each column ordered by label so the same graph always looks the same
and edges between neighbouring columns cross less, and each column cut to a few boxes plus one "N more"
box. Returns boxes and cubic Bézier edge paths in SVG coordinates. Pure: the template draws it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

BOX_WIDTH = 200
BOX_HEIGHT = 40
COLUMN_GAP = 90
ROW_GAP = 10
MARGIN = 14
LOOP = 36  # how far an edge within one column bulges out to the right
LABEL_CHARS = 27  # characters of a name that fit a box at 12 px
SUBLABEL_CHARS = 30
PER_COLUMN = 25
MAX_CURVES = 300


@dataclass(frozen=True)
class Item:
    """A node placed in a column. The same node may sit in two columns (an address on a cycle is both
    upstream and downstream); `data` goes to the template untouched."""

    node: str
    column: int
    label: str
    sublabel: str = ""
    data: Any = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.node}@{self.column}"


@dataclass(frozen=True)
class Link:
    """An edge from node `source` to node `target` (data flows that way). When a node sits in several
    columns the pair of placements closest to one step left to right is drawn, unless a column is pinned."""

    source: str
    target: str
    title: str = ""
    source_column: int | None = None
    target_column: int | None = None


@dataclass(frozen=True)
class Box:
    key: str
    column: int
    x: float
    y: float
    width: float
    height: float
    label: str
    sublabel: str
    item: Item | None  # None for an "N more" box
    more: int = 0  # how many items an "N more" box stands for

    @property
    def middle_y(self) -> float:
        return self.y + self.height / 2


@dataclass(frozen=True)
class Curve:
    source: str  # box keys
    target: str
    d: str  # SVG path data
    titles: tuple[str, ...]  # the titles of the links it draws, each once


@dataclass
class Layout:
    width: float
    height: float
    boxes: list[Box]
    curves: list[Curve]
    hidden: dict[int, list[Item]]  # per column, the items its "N more" box stands for
    curves_dropped: int = 0
    shown: dict[int, list[Item]] = field(default_factory=dict)  # per column, the items drawn, in order


def more_key(column: int) -> str:
    return f"more@{column}"


def shorten(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def per_column_budget(columns: int, total: int = 150, most: int = PER_COLUMN, least: int = 5) -> int:
    """Boxes per column for a graph of `columns` side columns, so a deep graph stays a readable page."""
    if columns <= 0:
        return most
    return max(least, min(most, total // columns))


def collapse(items: Sequence[Item], per_column: int) -> tuple[dict[int, list[Item]], dict[int, list[Item]]]:
    """(shown, hidden) items per column, each column ordered by label then node; the first `per_column`
    are shown. Repeated items (same node, same column) count once."""
    columns: dict[int, dict[str, Item]] = {}
    for item in items:
        columns.setdefault(item.column, {}).setdefault(item.node, item)
    shown: dict[int, list[Item]] = {}
    hidden: dict[int, list[Item]] = {}
    for column in sorted(columns):
        ordered = sorted(columns[column].values(), key=lambda item: (item.label, item.node))
        shown[column] = ordered[:per_column]
        if len(ordered) > per_column:
            hidden[column] = ordered[per_column:]
    return shown, hidden


def layout(items: Sequence[Item], links: Sequence[Link], per_column: int = PER_COLUMN, max_curves: int = MAX_CURVES) -> Layout:
    shown, hidden = collapse(items, per_column)
    if not shown:
        return Layout(0, 0, [], [], {})
    first, last = min(shown), max(shown)
    rows = {column: len(shown[column]) + (1 if column in hidden else 0) for column in shown}
    tallest = max(rows.values())
    pitch = BOX_HEIGHT + ROW_GAP
    boxes: list[Box] = []
    placements: dict[str, list[tuple[int, str]]] = {}  # node -> (column, box key) of each placement
    for column, column_items in shown.items():
        x = MARGIN + (column - first) * (BOX_WIDTH + COLUMN_GAP)
        top = MARGIN + (tallest - rows[column]) * pitch / 2  # columns centred on each other
        for row, item in enumerate(column_items):
            label, sublabel = shorten(item.label, LABEL_CHARS), shorten(item.sublabel, SUBLABEL_CHARS)
            boxes.append(Box(item.key, column, x, top + row * pitch, BOX_WIDTH, BOX_HEIGHT, label, sublabel, item))
            placements.setdefault(item.node, []).append((column, item.key))
        if column in hidden:
            count = len(hidden[column])
            boxes.append(
                Box(more_key(column), column, x, top + len(column_items) * pitch, BOX_WIDTH, BOX_HEIGHT, f"{count:,} more", "", None, count)
            )
            for item in hidden[column]:
                placements.setdefault(item.node, []).append((column, more_key(column)))
    by_key = {box.key: box for box in boxes}
    titles: dict[tuple[str, str], list[str]] = {}
    for link in links:
        pair = _placement_pair(placements, link)
        if pair is None or pair[0] == pair[1]:
            continue
        found = titles.setdefault(pair, [])
        if link.title and link.title not in found:
            found.append(link.title)
    pairs = sorted(titles, key=lambda pair: (by_key[pair[0]].column, by_key[pair[0]].y, by_key[pair[1]].column, by_key[pair[1]].y))
    curves = [Curve(s, t, _path(by_key[s], by_key[t]), tuple(titles[(s, t)])) for s, t in pairs[:max_curves]]
    width = 2 * MARGIN + (last - first + 1) * BOX_WIDTH + (last - first) * COLUMN_GAP + LOOP
    height = 2 * MARGIN + tallest * pitch - ROW_GAP
    return Layout(width, height, boxes, curves, hidden, max(0, len(pairs) - max_curves), shown)


def _placement_pair(placements: dict[str, list[tuple[int, str]]], link: Link) -> tuple[str, str] | None:
    sources = [p for p in placements.get(link.source, []) if link.source_column in (None, p[0])]
    targets = [p for p in placements.get(link.target, []) if link.target_column in (None, p[0])]
    if not sources or not targets:
        return None

    def preference(pair: tuple[tuple[int, str], tuple[int, str]]) -> tuple[int, int, int, int]:
        (s, _), (t, _) = pair
        step = t - s
        kind = 0 if step == 1 else 1 if step > 1 else 2 if step == 0 else 3
        return kind, abs(step), s, t

    (_, source), (_, target) = min(((s, t) for s in sources for t in targets), key=preference)
    return source, target


def _path(source: Box, target: Box) -> str:
    y1, y2 = source.middle_y, target.middle_y
    if target.x > source.x:  # left to right: from the source's right side to the target's left side
        x1, x2 = source.x + source.width, target.x
        bend = (x2 - x1) / 2
        return f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
    if target.x == source.x:  # within a column: a loop out to the right
        x = source.x + source.width
        return f"M{x:.1f},{y1:.1f} C{x + LOOP:.1f},{y1:.1f} {x + LOOP:.1f},{y2:.1f} {x:.1f},{y2:.1f}"
    # back to the left (a cycle): from the source's left side to the target's right side
    x1, x2 = source.x, target.x + target.width
    bend = max(LOOP, (x1 - x2) / 2)
    return f"M{x1:.1f},{y1:.1f} C{x1 - bend:.1f},{y1:.1f} {x2 + bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
