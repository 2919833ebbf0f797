"""Reachability over lineage edges: shortest depth and the lexicographically smallest shortest path.

The closure of contract §9.2 is computed on read, one query per BFS level, so it is never stale, stops on
cycles, and lineage writes stay cheap however large the warehouse grows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

# Given a set of address ids, return {id: sorted neighbour ids} for one direction of the edges.
Neighbours = Callable[[list[int]], Awaitable[dict[int, list[int]]]]


async def downstream(start: int, successors: Neighbours, max_depth: int | None) -> dict[int, list[int]]:
    """{reachable id: path from start} (start excluded). BFS in ascending-id order yields, for every
    node, the lexicographically smallest of its shortest paths."""
    paths: dict[int, list[int]] = {start: [start]}
    frontier = [start]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        following = await successors(frontier)
        next_frontier = []
        for node in frontier:  # frontier is ordered by path, so first discovery is the smallest path
            for neighbour in following.get(node, ()):
                if neighbour not in paths:
                    paths[neighbour] = paths[node] + [neighbour]
                    next_frontier.append(neighbour)
        frontier = next_frontier
        depth += 1
    del paths[start]
    return paths


async def upstream(target: int, predecessors: Neighbours, successors: Neighbours, max_depth: int | None) -> dict[int, list[int]]:
    """{id that reaches target: path in data-flow order ending at target} (target excluded).

    Distances come from a reverse BFS; each path is then rebuilt forwards by always stepping to the
    smallest-id successor one hop closer to the target, which is the lexicographically smallest
    shortest path.
    """
    distance: dict[int, int] = {target: 0}
    frontier = [target]
    while frontier and (max_depth is None or distance[frontier[0]] < max_depth):
        preceding = await predecessors(frontier)
        next_frontier = []
        for node in frontier:
            for neighbour in preceding.get(node, ()):
                if neighbour not in distance:
                    distance[neighbour] = distance[node] + 1
                    next_frontier.append(neighbour)
        frontier = next_frontier
    others = [node for node in distance if node != target]
    if not others:
        return {}
    following = await successors(others)
    paths: dict[int, list[int]] = {}
    for node in others:
        path = [node]
        current = node
        while current != target:
            current = min(n for n in following.get(current, ()) if distance.get(n) == distance[current] - 1)
            path.append(current)
        paths[node] = path
    return paths


def ordered(paths: dict[int, list[int]]) -> Iterable[tuple[int, list[int]]]:
    """Results ordered by (depth, id) as the API lists them."""
    return sorted(paths.items(), key=lambda item: (len(item[1]), item[0]))
