"""The static map of places: which tiles make each room, where objects stand."""

from __future__ import annotations

import zlib

import numpy as np

from luotuo_rpg.world.grid import Grid, Tile
from luotuo_rpg.world.spec import PLACE_SEPARATOR, Rect, WorldSpec


def room_of(address: str) -> str:
    """The room ("area/room") of a place address, which may name an object inside it."""
    return PLACE_SEPARATOR.join(address.split(PLACE_SEPARATOR)[:2])


def room_rects(spec: WorldSpec) -> dict[str, Rect]:
    """Every room's rectangle by address, in the world file's order."""
    return {f"{a.name}{PLACE_SEPARATOR}{r.name}": r.rect for a in spec.areas for r in a.rooms}


def in_rect(rect: Rect, tile: Tile) -> bool:
    x, y, w, h = rect
    return x <= tile[0] < x + w and y <= tile[1] < y + h


def room_containing(rects: dict[str, Rect], tile: Tile) -> str | None:
    """The first room whose rectangle holds the tile (what a replay without ``at`` can tell); None outside all."""
    return next((room for room, rect in rects.items() if in_rect(rect, tile)), None)


class Places:
    def __init__(self, spec: WorldSpec, grid: Grid):
        self.rooms: list[str] = []
        self.room_tiles: dict[str, list[Tile]] = {}
        self.object_tiles: dict[str, Tile] = {}
        self.initial_states: dict[str, str] = {}
        self.public_rooms: list[str] = []
        self.room_color: dict[str, str] = {}
        self.room_rects: dict[str, tuple[int, int, int, int]] = {}
        # room index per tile, −1 outside any room (streets count as rooms if declared)
        self.room_at = np.full((grid.height, grid.width), -1, dtype=np.int32)
        for area in spec.areas:
            for room in area.rooms:
                address = f"{area.name}{PLACE_SEPARATOR}{room.name}"
                x, y, w, h = room.rect
                index = len(self.rooms)
                self.rooms.append(address)
                self.room_color[address] = room.color or area.color
                self.room_rects[address] = (x, y, w, h)
                tiles = [(tx, ty) for ty in range(y, y + h) for tx in range(x, x + w) if grid.walkable(tx, ty)]
                self.room_tiles[address] = tiles
                for tx, ty in tiles:
                    self.room_at[ty, tx] = index
                if area.public:
                    self.public_rooms.append(address)
                for obj in room.objects:
                    obj_address = f"{address}{PLACE_SEPARATOR}{obj.name}"
                    self.object_tiles[obj_address] = tuple(obj.tile)  # type: ignore[assignment]
                    self.initial_states[obj_address] = obj.state

        # Tiles just inside a room's ways in: someone who stops there keeps the others out.
        self.entries: dict[str, set[Tile]] = {
            room: {t for t in tiles if any(self.room_at[n[1], n[0]] != index for n in grid.neighbours(t))}
            for index, (room, tiles) in enumerate(self.room_tiles.items())
        }

    def is_entry(self, tile: Tile) -> bool:
        """A way in or just inside one (or a tile of no room: a passage), where one standing blocks others."""
        room = self.room_of_tile(tile)
        return room is None or tile in self.entries[room]

    def room_of_tile(self, tile: Tile) -> str | None:
        index = int(self.room_at[tile[1], tile[0]])
        return self.rooms[index] if index >= 0 else None

    def free_tiles(self, room: str, positions: np.ndarray) -> int:
        """Tiles of ``room`` nobody stands on, given everyone's positions (an N×2 array of x, y)."""
        index = self.rooms.index(room)
        inside = int(np.count_nonzero(self.room_at[positions[:, 1], positions[:, 0]] == index)) if len(positions) else 0
        return len(self.room_tiles[room]) - inside

    def distance_to(self, room: str, tile: Tile) -> int:
        """Tiles (Chebyshev, as far as one sees) from ``tile`` to the nearest edge of ``room``; 0 inside."""
        x, y, w, h = self.room_rects[room]
        return max(x - tile[0], tile[0] - (x + w - 1), y - tile[1], tile[1] - (y + h - 1), 0)

    def objects_in(self, room: str) -> list[str]:
        prefix = room + PLACE_SEPARATOR
        return [a for a in self.object_tiles if a.startswith(prefix)]

    def exists(self, address: str) -> bool:
        return address in self.room_tiles or address in self.object_tiles

    def tile_for(self, address: str, who: str) -> Tile | None:
        """Where a person goes for a place: the object's tile, or a tile of the
        room chosen by name so that people spread out instead of stacking."""
        if address in self.object_tiles:
            return self.object_tiles[address]
        room = room_of(address)
        tiles = self.room_tiles.get(room)
        if not tiles:
            return None
        return tiles[zlib.crc32(f"{who}|{room}".encode()) % len(tiles)]
