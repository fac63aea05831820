"""A* pathfinding: never through a wall, always the shortest length."""

from __future__ import annotations

import random
from collections import deque

import numpy as np

from luotuo_rpg.world.grid import Grid


def _bfs_length(grid: Grid, start, goal) -> int | None:
    seen = {start: 0}
    queue = deque([start])
    while queue:
        tile = queue.popleft()
        if tile == goal:
            return seen[tile]
        for nxt in grid.neighbours(tile):
            if nxt not in seen:
                seen[nxt] = seen[tile] + 1
                queue.append(nxt)
    return None


def test_paths_are_shortest_and_never_cross_walls():
    rng = random.Random(7)
    for _ in range(30):
        walkable = np.array([[rng.random() > 0.28 for _ in range(24)] for _ in range(18)])
        grid = Grid(walkable)
        free = [(x, y) for y in range(18) for x in range(24) if walkable[y, x]]
        start, goal = rng.sample(free, 2)
        path = grid.find_path(start, goal)
        expected = _bfs_length(grid, start, goal)
        if expected is None:
            assert path == []
            continue
        assert path[0] == start and path[-1] == goal
        assert len(path) - 1 == expected
        for a, b in zip(path, path[1:]):
            assert abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1
            assert grid.walkable(*b)


def test_path_goes_around_a_wall():
    rows = ["......", ".####.", "......"]
    grid = Grid(np.array([[c == "." for c in row] for row in rows]))
    path = grid.find_path((0, 1), (5, 1))
    assert len(path) - 1 == 7
    assert all(grid.walkable(*t) for t in path)


def test_occupied_tiles_are_avoided_when_a_detour_exists():
    grid = Grid(np.ones((3, 5), dtype=bool))
    path = grid.find_path((0, 1), (4, 1), avoid=frozenset({(2, 1)}))
    assert (2, 1) not in path
    assert len(path) - 1 == 6


def test_unreachable_goal_gives_empty_path():
    rows = ["..#..", "..#..", "..#.."]
    grid = Grid(np.array([[c == "." for c in row] for row in rows]))
    assert grid.find_path((0, 0), (4, 0)) == []
