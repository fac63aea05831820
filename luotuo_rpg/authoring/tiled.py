"""Import an orthogonal Tiled map (JSON: .tmj / .json) as a world YAML.

What is read, and why only this: a world needs walkability, rooms, objects
and where people start; everything else in a Tiled map is art.

- A tile layer named ``collision``: a non-zero gid blocks the tile, zero is
  walkable. Data may be a CSV array or uncompressed base64 (little-endian
  uint32, the flip flags in the high bits are harmless: they only occur on
  non-zero gids).
- Object layers: a rectangle named ``area/room`` is a room (pixel rect →
  tile rect); a rectangle or point named ``area/room/object`` is an object
  at the tile under its centre; a point named ``spawn:<persona>`` is where
  that persona starts. A string custom property ``state`` on an object
  sets its initial state; a bool property ``public`` on any room of an area
  sets whether the area is public.

Personas come afterwards, written by hand; so that the file validates at
once, one placeholder persona is made per spawn point (or one in the first
room when there are none), for the author to fill in.

Compressed layers, non-orthogonal maps and infinite maps are refused with a
:class:`TiledImportError` saying what to change in Tiled.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luotuo_rpg.authoring.schema import SCHEMA_REF_FROM_WORLDS
from luotuo_rpg.authoring.yaml_writer import (
    RoomDraft,
    Scalar,
    YamlWriter,
    write_area,
    write_map,
)
from luotuo_rpg.world.loader import WorldError, parse_world_text
from luotuo_rpg.world.places import in_rect
from luotuo_rpg.world.spec import PLACE_SEPARATOR

log = logging.getLogger(__name__)

COLLISION_LAYER = "collision"
SPAWN_PREFIX = "spawn:"
DEFAULT_START = dt.datetime(2026, 3, 1, 6, 0, 0)
_AREA_COLORS = ("#ffb74d", "#81c784", "#64b5f6", "#e57373", "#ba68c8", "#4db6ac", "#a1887f", "#f06292")


class TiledImportError(ValueError):
    """A Tiled map this importer cannot use; the message says what to change."""


@dataclass
class _Room:
    area: str
    name: str
    rect: tuple[int, int, int, int]
    public: bool | None
    objects: list[tuple[str, tuple[int, int], str]] = field(default_factory=list)


@dataclass(frozen=True)
class TiledImport:
    """The result: the world YAML text plus what was found, for the summary the CLI prints."""

    yaml_text: str
    width: int
    height: int
    rooms: list[str]
    objects: list[str]
    spawns: dict[str, tuple[int, int]]


def import_tiled_file(
    path: str | Path,
    *,
    name: str | None = None,
    start: dt.datetime = DEFAULT_START,
    schema_ref: str | None = SCHEMA_REF_FROM_WORLDS,
) -> TiledImport:
    """Read a Tiled JSON map from ``path`` and convert it; see :func:`import_tiled_map`."""
    path = Path(path)
    if path.suffix.lower() in {".tmx", ".tsx", ".xml"}:
        raise TiledImportError(
            f"{path}: this is Tiled's XML format; export the map as JSON "
            "(File › Export As… › JSON map files *.tmj) and import that"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TiledImportError(f"{path}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TiledImportError(f"{path}: not a Tiled JSON map ({exc})") from None
    return import_tiled_map(data, name=name or path.stem, source=str(path), start=start, schema_ref=schema_ref)


def import_tiled_map(
    data: Any,
    *,
    name: str,
    source: str = "<tiled map>",
    start: dt.datetime = DEFAULT_START,
    schema_ref: str | None = SCHEMA_REF_FROM_WORLDS,
) -> TiledImport:
    """Convert a parsed Tiled JSON map into a validated world YAML.

    ``schema_ref`` is the path of ``world.schema.json`` as seen from where the
    YAML will be saved (None leaves the editor hint out).

    Raises :class:`TiledImportError` when the map cannot be used, including
    when the result fails the world checks (a room with no walkable tile, an
    object on a wall, a spawn point on a wall).
    """
    if not isinstance(data, dict) or "layers" not in data:
        raise TiledImportError(f"{source}: not a Tiled JSON map (no 'layers')")
    orientation = data.get("orientation", "orthogonal")
    if orientation != "orthogonal":
        raise TiledImportError(
            f"{source}: the map is {orientation}; only orthogonal maps can be imported "
            "(a world is a square grid). Make a new orthogonal map in Tiled (Map › New Map, Orientation: Orthogonal)"
        )
    if data.get("infinite"):
        raise TiledImportError(
            f"{source}: the map is infinite; a world needs a fixed size. "
            "Untick Map › Map Properties › Infinite, then export again"
        )
    width = _positive_int(data, "width", source)
    height = _positive_int(data, "height", source)
    tile_w = _positive_int(data, "tilewidth", source)
    tile_h = _positive_int(data, "tileheight", source)

    layers = list(_flatten(data["layers"]))
    collision = [layer for layer in layers if layer.get("type") == "tilelayer" and layer.get("name") == COLLISION_LAYER]
    if not collision:
        names = sorted({str(layer.get("name")) for layer in layers if layer.get("type") == "tilelayer"})
        raise TiledImportError(
            f"{source}: no tile layer named '{COLLISION_LAYER}' (tile layers found: {names or 'none'}). "
            f"Add a tile layer '{COLLISION_LAYER}' and paint any tile where agents must not walk"
        )
    if len(collision) > 1:
        raise TiledImportError(f"{source}: {len(collision)} tile layers are named '{COLLISION_LAYER}'; keep one")
    gids = _layer_gids(collision[0], width, height, source)
    rows = ["".join("#" if gids[y * width + x] else "." for x in range(width)) for y in range(height)]

    rooms: dict[str, _Room] = {}
    pending_objects: list[tuple[str, str, tuple[int, int], str]] = []  # (room address, object, tile, state)
    spawns: dict[str, tuple[int, int]] = {}
    for layer in layers:
        if layer.get("type") != "objectgroup":
            continue
        for obj in layer.get("objects", []):
            label = str(obj.get("name", "")).strip()
            if not label:
                continue
            where = f"{source}: object '{label}' (id {obj.get('id')}, layer '{layer.get('name')}')"
            if label.startswith(SPAWN_PREFIX):
                persona = label[len(SPAWN_PREFIX) :].strip()
                if not persona:
                    raise TiledImportError(f"{where}: a spawn point needs a persona name after '{SPAWN_PREFIX}'")
                if persona in spawns:
                    raise TiledImportError(f"{where}: a second spawn point for '{persona}'")
                spawns[persona] = _centre_tile(obj, tile_w, tile_h, where)
                continue
            parts = [part.strip() for part in label.split(PLACE_SEPARATOR)]
            if len(parts) not in (2, 3) or not all(parts):
                log.debug("ignoring Tiled object %r: not area/room, area/room/object or spawn:<name>", label)
                continue
            props = _properties(obj)
            if len(parts) == 2:
                address = PLACE_SEPARATOR.join(parts)
                if obj.get("point") or obj.get("polygon") is not None or obj.get("polyline") is not None:
                    raise TiledImportError(f"{where}: a room must be drawn as a rectangle")
                if address in rooms:
                    raise TiledImportError(f"{where}: room '{address}' is drawn twice; draw one rectangle per room")
                public = props.get("public")
                rooms[address] = _Room(
                    parts[0],
                    parts[1],
                    _tile_rect(obj, tile_w, tile_h, where),
                    public if isinstance(public, bool) else None,
                )
            else:
                state = props.get("state")
                pending_objects.append(
                    (
                        PLACE_SEPARATOR.join(parts[:2]),
                        parts[2],
                        _centre_tile(obj, tile_w, tile_h, where),
                        state if isinstance(state, str) and state.strip() else "空闲",
                    )
                )
    if not rooms:
        raise TiledImportError(
            f"{source}: no rooms. Add an object layer with rectangles named area/room (e.g. 客栈/大堂)"
        )
    for address, obj_name, tile, state in pending_objects:
        if address not in rooms:
            raise TiledImportError(
                f"{source}: object '{address}{PLACE_SEPARATOR}{obj_name}' names room '{address}', "
                "which no rectangle defines"
            )
        rooms[address].objects.append((obj_name, tile, state))

    text = _world_yaml(name, start, rows, rooms, spawns, schema_ref)
    try:
        parse_world_text(text, source)
    except WorldError as exc:
        raise TiledImportError(
            f"{source}: the imported world does not pass the world checks:\n"
            + "\n".join(f"  {issue.field}: {issue.message}" for issue in exc.issues)
        ) from None
    return TiledImport(
        yaml_text=text,
        width=width,
        height=height,
        rooms=list(rooms),
        objects=[f"{address}{PLACE_SEPARATOR}{obj}" for address, obj, _, _ in pending_objects],
        spawns=spawns,
    )


def _positive_int(data: dict[str, Any], key: str, source: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise TiledImportError(f"{source}: map '{key}' must be a positive integer, got {value!r}")
    return value


def _flatten(layers: Any) -> Any:
    """Layers in drawing order, with group layers opened (rooms are often grouped by building)."""
    for layer in layers if isinstance(layers, list) else []:
        if not isinstance(layer, dict):
            continue
        if layer.get("type") == "group":
            yield from _flatten(layer.get("layers", []))
        else:
            yield layer


def _layer_gids(layer: dict[str, Any], width: int, height: int, source: str) -> list[int]:
    where = f"{source}: layer '{layer.get('name')}'"
    if layer.get("chunks") is not None:
        raise TiledImportError(f"{where} is stored in chunks (an infinite map); make the map finite and export again")
    lw, lh = layer.get("width", width), layer.get("height", height)
    if (lw, lh) != (width, height):
        raise TiledImportError(f"{where} is {lw}×{lh} tiles but the map is {width}×{height}; resize the layer")
    compression = layer.get("compression") or ""
    if compression:
        raise TiledImportError(
            f"{where} is {compression}-compressed; set Map › Map Properties › Tile Layer Format to "
            "'CSV' or 'Base64 (uncompressed)' and export again"
        )
    encoding = layer.get("encoding") or "csv"
    raw = layer.get("data")
    if encoding == "csv":
        if not isinstance(raw, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
            raise TiledImportError(f"{where}: expected 'data' to be an array of tile gids")
        gids = raw
    elif encoding == "base64":
        if not isinstance(raw, str):
            raise TiledImportError(f"{where}: expected base64 text in 'data'")
        try:
            blob = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise TiledImportError(f"{where}: 'data' is not valid base64 ({exc})") from None
        if len(blob) != 4 * width * height:
            raise TiledImportError(
                f"{where}: base64 data holds {len(blob)} bytes, expected {4 * width * height} "
                f"(4 per tile for {width}×{height}); is it compressed?"
            )
        gids = list(struct.unpack(f"<{width * height}I", blob))
    else:
        raise TiledImportError(f"{where}: unknown encoding '{encoding}' (expected csv or base64)")
    if len(gids) != width * height:
        raise TiledImportError(f"{where}: {len(gids)} tiles, expected {width * height} ({width}×{height})")
    return gids


def _properties(obj: dict[str, Any]) -> dict[str, Any]:
    props = obj.get("properties") or []
    if isinstance(props, dict):  # maps saved by Tiled before 1.2
        return dict(props)
    return {p["name"]: p.get("value") for p in props if isinstance(p, dict) and "name" in p}


def _pixel_box(obj: dict[str, Any], where: str) -> tuple[float, float, float, float]:
    try:
        x, y = float(obj["x"]), float(obj["y"])
        w, h = float(obj.get("width", 0)), float(obj.get("height", 0))
    except (KeyError, TypeError, ValueError):
        raise TiledImportError(f"{where}: missing or non-numeric x/y/width/height") from None
    if obj.get("rotation"):
        raise TiledImportError(f"{where}: rotated objects are not supported; set rotation to 0")
    if obj.get("gid") is not None:
        y -= h  # tile objects are anchored at their bottom-left corner
    return x, y, w, h


def _tile_rect(obj: dict[str, Any], tile_w: int, tile_h: int, where: str) -> tuple[int, int, int, int]:
    x, y, w, h = _pixel_box(obj, where)
    # Rounded to the nearest grid line, so a rectangle drawn without snapping still lands on whole tiles.
    x0, y0 = round(x / tile_w), round(y / tile_h)
    x1, y1 = max(round((x + w) / tile_w), x0 + 1), max(round((y + h) / tile_h), y0 + 1)
    return (x0, y0, x1 - x0, y1 - y0)


def _centre_tile(obj: dict[str, Any], tile_w: int, tile_h: int, where: str) -> tuple[int, int]:
    x, y, w, h = _pixel_box(obj, where)
    return (math.floor((x + w / 2) / tile_w), math.floor((y + h / 2) / tile_h))


_LEGEND: dict[str, dict[str, Scalar]] = {
    "#": {"name": "墙", "walkable": False, "color": "#5d4037"},
    ".": {"name": "地面", "walkable": True, "color": "#d7ccc8"},
}


def _world_yaml(
    name: str,
    start: dt.datetime,
    rows: list[str],
    rooms: dict[str, _Room],
    spawns: dict[str, tuple[int, int]],
    schema_ref: str | None,
) -> str:
    out = YamlWriter()
    if schema_ref:
        out.line(f"# yaml-language-server: $schema={schema_ref}")
    out.comment("Imported from a Tiled map by `luotuo-rpg import-tiled`. Rooms, objects and spawn points come")
    out.comment("from the map; the personas below are placeholders to rewrite (docs/worlds.md explains each field).")
    out.field("world")
    out.field("name", name, 1)
    out.field("start", start.isoformat(), 1)
    out.field("tick_seconds", 10, 1)
    out.field("language", "zh", 1)
    out.field("description", "", 1)
    write_map(out, _LEGEND, rows)
    out.field("areas")
    by_area: dict[str, list[_Room]] = {}
    for room in rooms.values():
        by_area.setdefault(room.area, []).append(room)
    for index, (area, area_rooms) in enumerate(by_area.items()):
        public = next((room.public for room in area_rooms if room.public is not None), True)
        drafts = [
            RoomDraft(
                room.name,
                room.rect,
                [{"name": obj, "tile": list(tile), "state": state} for obj, tile, state in room.objects],
            )
            for room in area_rooms
        ]
        write_area(out, area, _AREA_COLORS[index % len(_AREA_COLORS)], drafts, public=public)
    first_room = next(iter(rooms.values()))
    people: dict[str, tuple[int, int] | None] = dict(spawns) or {"居民一": None}
    out.field("personas")
    for persona, tile in people.items():
        home = _room_at(rooms, tile) or first_room
        address = f"{home.area}{PLACE_SEPARATOR}{home.name}"
        out.field("name", persona, 1, item=True)
        out.field("age", 30, 2)
        out.field("traits", ["待补充"], 2)
        out.field("background", f"{persona}：请在这里写人物背景。", 2)
        out.field("routine", level=2)
        out.entry({"at": "07:00", "do": "起床", "place": address}, 3)
        out.entry({"at": "22:00", "do": "睡觉", "place": address}, 3)
        out.field("home", address, 2)
        if tile is not None:
            out.field("spawn", list(tile), 2)
    out.field("events", [])
    return out.text()


def _room_at(rooms: dict[str, _Room], tile: tuple[int, int] | None) -> _Room | None:
    if tile is None:
        return None
    return next((room for room in rooms.values() if in_rect(room.rect, tile)), None)
