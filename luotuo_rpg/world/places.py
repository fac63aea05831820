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
        # room index per tile, −1 outside any room (streets count as rooms if declared)
        self.room_at = np.full((grid.height, grid.width), -1, dtype=np.int32)
        for area in spec.areas:
            for room in area.rooms:
                address = f"{area.name}{PLACE_SEPARATOR}{room.name}"
                x, y, w, h = room.rect
                index = len(self.rooms)
                self.rooms.append(address)
                self.room_color[address] = room.color or area.color
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

    def room_of_tile(self, tile: Tile) -> str | None:
        index = int(self.room_at[tile[1], tile[0]])
        return self.rooms[index] if index >= 0 else None

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
