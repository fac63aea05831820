"""The tile grid: walkability and A* pathfinding (4-connected, unit cost)."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable

import numpy as np

from luotuo_rpg.world.spec import MapSpec

Tile = tuple[int, int]
_STEPS: tuple[Tile, ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))


class Grid:
    def __init__(self, walkable: np.ndarray, codes: list[str] | None = None):
        # walkable[y, x]: row-major like the ASCII rows it came from.
        self.blocked = ~walkable.astype(bool)
        self.height, self.width = self.blocked.shape
        self.codes = codes or []
        self._adj: list[tuple[int, ...]] | None = None

    @classmethod
    def from_spec(cls, spec: MapSpec) -> Grid:
        lines = spec.lines()
        walkable = np.array([[spec.legend[ch].walkable for ch in row] for row in lines], dtype=bool)
        return cls(walkable, lines)

    def inside(self, x: int, y: int) -> bool:
        return 0 <= x < self.width and 0 <= y < self.height

    def walkable(self, x: int, y: int) -> bool:
        return self.inside(x, y) and not self.blocked[y, x]

    def neighbours(self, tile: Tile) -> Iterable[Tile]:
        x, y = tile
        for dx, dy in _STEPS:
            nx, ny = x + dx, y + dy
            if 0 <= nx < self.width and 0 <= ny < self.height and not self.blocked[ny, nx]:
                yield (nx, ny)

    def _adjacency(self) -> list[tuple[int, ...]]:
        # Flat-index neighbour lists, built once: A* runs thousands of times a game day.
        if self._adj is None:
            w = self.width
            adj: list[tuple[int, ...]] = []
            for index in range(self.width * self.height):
                x, y = index % w, index // w
                adj.append(tuple((ny * w + nx) for nx, ny in self.neighbours((x, y))) if not self.blocked[y, x] else ())
            self._adj = adj
        return self._adj

    def find_path(
        self, start: Tile, goal: Tile, avoid: frozenset[Tile] | set[Tile] = frozenset(), budget: int | None = None
    ) -> list[Tile]:
        """Shortest path from start to goal, both included; [] when unreachable.

        ``avoid`` holds tiles occupied by others: they are passed around when a
        detour exists, but the goal itself is always allowed. ``budget`` caps the
        tiles expanded while looking for a detour: in a crowd none may exist, and
        proving that by searching the whole town costs more than waiting a tick.
        """
        if start == goal:
            return [start]
        if not self.walkable(*goal) or not self.walkable(*start):
            return []
        w = self.width
        adj = self._adjacency()
        s, g = start[1] * w + start[0], goal[1] * w + goal[0]
        gx, gy = goal
        banned = {t[1] * w + t[0] for t in avoid} - {g}
        # Ties broken by insertion order so paths are deterministic.
        frontier: list[tuple[int, int, int]] = [(abs(start[0] - gx) + abs(start[1] - gy), 0, s)]
        came_from: dict[int, int] = {}
        cost: dict[int, int] = {s: 0}
        counter = 0
        expanded = 0
        while frontier:
            _, _, current = heapq.heappop(frontier)
            expanded += 1
            if budget is not None and expanded > budget:
                break
            if current == g:
                path = [current]
                while current in came_from:
                    current = came_from[current]
                    path.append(current)
                return [(i % w, i // w) for i in reversed(path)]
            new_cost = cost[current] + 1
            for nxt in adj[current]:
                if nxt in banned:
                    continue
                if new_cost < cost.get(nxt, 1 << 30):
                    cost[nxt] = new_cost
                    came_from[nxt] = current
                    counter += 1
                    heapq.heappush(frontier, (new_cost + abs(nxt % w - gx) + abs(nxt // w - gy), counter, nxt))
        if avoid and budget is None:
            return self.find_path(start, goal)
        return []

    def component(self, start: Tile) -> set[Tile]:
        seen = {start}
        queue = deque([start])
        while queue:
            for nxt in self.neighbours(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def largest_component(self) -> set[Tile]:
        remaining = {(int(x), int(y)) for y, x in zip(*np.nonzero(~self.blocked))}
        best: set[Tile] = set()
        while remaining:
            comp = self.component(next(iter(sorted(remaining))))
            remaining -= comp
            if len(comp) > len(best):
                best = comp
        return best
