"""Reachability over lineage edges: shortest depth and the lexicographically smallest shortest path.

The closure of contract §9.2 is computed on read, one query per BFS level, so it is never stale, stops on
cycles, and lineage writes stay cheap however large the warehouse grows.

Every search here holds at most `cap` addresses: the fetchers return only the smallest new ids a level
still has room for, and a search that would reach more stops at that level and says so (`truncated`).
Because a level is cut by id, a cut answer is the first `cap` rows of the full answer in (depth, id)
order, so every level before the cut is complete (`complete_depth`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field

# (frontier, seen, limit) -> the `limit` smallest ids one edge away from the frontier (in one direction or
# both, depending on the fetcher) that are not in `seen`, ascending.
NewIds = Callable[[list[int], Collection[int], int], Awaitable[list[int]]]
# (frontier in path order, seen, limit) -> {new id: index in the frontier of the first frontier address
# with an edge to it} for the `limit` smallest successors of the frontier that are not in `seen`.
FirstParents = Callable[[list[int], Collection[int], int], Awaitable[dict[int, int]]]
# (level, previous level) -> {id in level: smallest id of the previous level it has an edge to}.
NextHops = Callable[[list[int], list[int]], Awaitable[dict[int, int]]]


@dataclass
class Reach:
    """Addresses downstream of (or upstream of) `start`, each with its shortest depth and, through `via`,
    its smallest shortest path."""

    start: int
    downstream: bool
    depth: dict[int, int] = field(default_factory=dict)
    # the neighbour one hop nearer `start` on the address's smallest shortest path; paths are built only
    # for the rows answered, so a long chain costs one pointer per address, not one path each
    via: dict[int, int] = field(default_factory=dict)
    truncated: bool = False
    complete_depth: int | None = None  # when truncated: every address this many hops away or nearer is listed

    def ordered(self) -> list[int]:
        """Ids ordered by (depth, id) as the API lists them."""
        return sorted(self.depth, key=lambda node: (self.depth[node], node))

    def path(self, node: int) -> list[int]:
        """The path in data-flow order: from `start` downstream, ending at `start` upstream."""
        hops = [node]
        while node != self.start:
            node = self.via[node]
            hops.append(node)
        return hops[::-1] if self.downstream else hops

    def _cut(self, depth_reached: int) -> None:
        self.truncated = True
        self.complete_depth = depth_reached if depth_reached >= 1 else None


async def downstream(start: int, first_parents: FirstParents, max_depth: int | None, cap: int) -> Reach:
    """BFS in path order: each address is reached first from the frontier address with the smallest path,
    which makes its own path the lexicographically smallest of its shortest paths."""
    reach = Reach(start, downstream=True)
    seen = {start}
    frontier = [start]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        room = cap - len(reach.depth)
        found = await first_parents(frontier, seen, room + 1)
        kept = sorted(found)
        if len(kept) > room:
            kept = kept[:room]
            reach._cut(depth)
        depth += 1
        for node in kept:
            reach.depth[node] = depth
            reach.via[node] = frontier[found[node]]
        seen.update(kept)
        if reach.truncated:
            break
        # ordered by path: by the parent's place in this frontier, then by id
        frontier = sorted(kept, key=lambda node: (found[node], node))
    return reach


async def upstream(target: int, predecessors: NewIds, next_hops: NextHops, max_depth: int | None, cap: int) -> Reach:
    """Distances come from a reverse BFS; each path is then rebuilt forwards by always stepping to the
    smallest-id successor one hop closer to the target, which is the lexicographically smallest shortest
    path. A cut only ever drops part of the deepest level, so that successor is always kept."""
    reach = Reach(target, downstream=False)
    levels = [[target]]
    seen = {target}
    while levels[-1] and (max_depth is None or len(levels) - 1 < max_depth):
        room = cap - len(reach.depth)
        found = await predecessors(levels[-1], seen, room + 1)
        if len(found) > room:
            found = found[:room]
            reach._cut(len(levels) - 1)
        for node in found:
            reach.depth[node] = len(levels)
        seen.update(found)
        levels.append(found)
        if reach.truncated:
            break
    for depth in range(1, len(levels)):
        if depth == 1:
            hops = dict.fromkeys(levels[1], target)
        else:
            hops = await next_hops(levels[depth], levels[depth - 1])
        reach.via.update(hops)
    return reach


@dataclass
class Region:
    """What a lineage graph around `start` shows (§9.4): R = `start`, its upstream and its downstream
    (`level`: hops at which each joined R), and `nodes`: R with every neighbour of R."""

    level: dict[int, int]
    nodes: set[int]
    truncated: bool = False
    # when truncated: the deepest max_depth whose graph holds at most `cap` addresses, if any
    complete_depth: int | None = None


async def region(start: int, successors: NewIds, predecessors: NewIds, neighbours: NewIds, max_depth: int | None, cap: int) -> Region:
    """Grows R one hop at a time in both directions. The graph of R_d (max_depth=d) holds R_d and all its
    neighbours, so the node set only grows with d: when a step would pass `cap`, the graph of the step
    before was the deepest complete one, and this step keeps only its smallest new ids."""
    found = Region(level={start: 0}, nodes={start})
    down, up = [start], [start]
    down_seen, up_seen = {start}, {start}
    fresh = [start]  # addresses of R whose neighbours are not yet in `nodes`
    depth = 0
    while True:
        room = cap - len(found.nodes)
        added = await neighbours(fresh, found.nodes, room + 1) if fresh else []
        if len(added) > room:
            found.nodes.update(added[:room])
            found.truncated = True
            found.complete_depth = depth - 1 if depth >= 2 else None
            return found
        found.nodes.update(added)
        if max_depth is not None and depth == max_depth:
            return found
        depth += 1
        # every neighbour of R is already in `nodes`, so these are bounded by `cap` as well
        down = await successors(down, down_seen, cap + 1) if down else []
        up = await predecessors(up, up_seen, cap + 1) if up else []
        if not down and not up:
            return found
        down_seen.update(down)
        up_seen.update(up)
        fresh = [node for node in sorted({*down, *up}) if node not in found.level]
        for node in fresh:
            found.level[node] = depth
