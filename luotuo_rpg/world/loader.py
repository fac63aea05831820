"""Load a world YAML file into a :class:`WorldSpec`, with errors a person can act on.

Every problem becomes a :class:`WorldIssue` naming file, line and field, and
what was expected. Structural problems come from pydantic; the checks that
need the whole world (tiles on the map, reachable homes, known names) are
done here after the models validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from luotuo_rpg.world.places import in_rect, room_of
from luotuo_rpg.world.spec import PLACE_SEPARATOR, WorldSpec

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class WorldIssue:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        field = f" [{self.field}]" if self.field else ""
        return f"{where}:{field} {self.message}"


class WorldError(Exception):
    """A world file that cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[WorldIssue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def _field_name(loc: Loc) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


class _LineIndex:
    """Maps a pydantic error location to the YAML line it came from."""

    def __init__(self, root: yaml.Node | None):
        self.root = root

    def line(self, loc: Loc) -> int | None:
        node = self.root
        best = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            child = self._child(node, part)
            if child is None:
                break
            node = child
            best = node.start_mark.line + 1
        return best

    @staticmethod
    def _child(node: yaml.Node | None, part: str | int) -> yaml.Node | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    return value
            return None
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            return node.value[part] if 0 <= part < len(node.value) else None
        return None


def _pydantic_issues(path: str, error: ValidationError, index: _LineIndex) -> list[WorldIssue]:
    issues: list[WorldIssue] = []
    for item in error.errors():
        loc: Loc = tuple(item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = f"unknown field '{loc[-1]}' (check the spelling; see `luotuo-rpg schema`)"
        elif item["type"] == "missing":
            message = f"missing required field '{loc[-1]}'"
        elif "input" in item and not isinstance(item["input"], (dict, list)) and str(item["input"]) not in message:
            message = f"{message} (got {item['input']!r})"
        issues.append(WorldIssue(path, index.line(loc), _field_name(loc), message))
    return issues


def parse_world_text(text: str, path: str = "<world>") -> WorldSpec:
    """Parse and fully check a world; raise :class:`WorldError` with every issue."""
    try:
        root = yaml.compose(text)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise WorldError([WorldIssue(path, line, "", f"YAML syntax error: {exc.problem or exc}")]) from None
    index = _LineIndex(root)
    if not isinstance(data, dict):
        raise WorldError([WorldIssue(path, 1, "", "expected a mapping with keys world, map, areas, personas")])
    try:
        spec = WorldSpec.model_validate(data)
    except ValidationError as exc:
        raise WorldError(_pydantic_issues(path, exc, index)) from None
    issues = [WorldIssue(path, index.line(loc), _field_name(loc), message) for loc, message in check_world(spec)]
    if issues:
        raise WorldError(issues)
    return spec


def load_world_spec(path: str | Path) -> WorldSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorldError([WorldIssue(str(path), None, "", "file not found")]) from None
    except UnicodeDecodeError as exc:
        raise WorldError([WorldIssue(str(path), None, "", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_world_text(text, str(path))


def check_world(spec: WorldSpec) -> list[tuple[Loc, str]]:
    """The checks that need the whole world. Returns (location, message) pairs."""
    # Imported here: the grid needs numpy and the spec, the spec must not need the grid.
    from luotuo_rpg.world.grid import Grid

    problems: list[tuple[Loc, str]] = []
    lines = spec.map.lines()
    if not lines:
        return [(("map", "rows"), "the map has no rows")]
    width = len(lines[0])
    for y, row in enumerate(lines):
        if len(row) != width:
            problems.append((("map", "rows"), f"row {y} is {len(row)} tiles wide, expected {width} like row 0"))
        unknown = sorted(set(row) - set(spec.map.legend))
        if unknown:
            problems.append((("map", "rows"), f"row {y} uses characters not in the legend: {unknown}"))
    if problems:
        return problems
    grid = Grid.from_spec(spec.map)

    places: set[str] = set()
    room_tiles: dict[str, list[tuple[int, int]]] = {}
    seen_areas: set[str] = set()
    for a, area in enumerate(spec.areas):
        if area.name in seen_areas:
            problems.append((("areas", a, "name"), f"duplicate area name '{area.name}'"))
        seen_areas.add(area.name)
        for r, room in enumerate(area.rooms):
            address = f"{area.name}{PLACE_SEPARATOR}{room.name}"
            if address in places:
                problems.append((("areas", a, "rooms", r, "name"), f"duplicate room '{address}'"))
            places.add(address)
            x, y, w, h = room.rect
            if w < 1 or h < 1:
                problems.append((("areas", a, "rooms", r, "rect"), "width and height must be ≥ 1"))
                continue
            if x < 0 or y < 0 or x + w > grid.width or y + h > grid.height:
                problems.append(
                    (
                        ("areas", a, "rooms", r, "rect"),
                        f"room '{address}' spans x {x}..{x + w - 1}, y {y}..{y + h - 1}, "
                        f"which falls off the {grid.width}×{grid.height} map",
                    )
                )
                continue
            walkable = [(tx, ty) for ty in range(y, y + h) for tx in range(x, x + w) if grid.walkable(tx, ty)]
            if not walkable:
                problems.append((("areas", a, "rooms", r, "rect"), f"room '{address}' has no walkable tile"))
            room_tiles[address] = walkable
            for o, obj in enumerate(room.objects):
                ox, oy = obj.tile
                places.add(f"{address}{PLACE_SEPARATOR}{obj.name}")
                if not in_rect(room.rect, obj.tile):
                    problems.append(
                        (
                            ("areas", a, "rooms", r, "objects", o, "tile"),
                            f"object '{obj.name}' at {obj.tile} is outside its room's rect {room.rect}",
                        )
                    )
                elif not grid.walkable(ox, oy):
                    problems.append(
                        (
                            ("areas", a, "rooms", r, "objects", o, "tile"),
                            f"object '{obj.name}' stands on a blocked tile {obj.tile}",
                        )
                    )
    if problems:
        return problems

    names = [p.name for p in spec.personas]
    reach = grid.largest_component()
    for a, area in enumerate(spec.areas):
        for r, room in enumerate(area.rooms):
            tiles = room_tiles[f"{area.name}{PLACE_SEPARATOR}{room.name}"]
            if tiles and not any(tile in reach for tile in tiles):
                problems.append(
                    (
                        ("areas", a, "rooms", r, "rect"),
                        f"room '{area.name}/{room.name}' cannot be reached from the rest of the town (no door?)",
                    )
                )
    for i, persona in enumerate(spec.personas):
        if names.index(persona.name) != i:
            problems.append((("personas", i, "name"), f"duplicate persona name '{persona.name}'"))
        for other in persona.relationships:
            if other not in names:
                problems.append(
                    (
                        ("personas", i, "relationships", other),
                        f"relationship to '{other}', who is not a persona in this world",
                    )
                )
            elif other == persona.name:
                problems.append(
                    (("personas", i, "relationships", other), "a persona cannot have a relationship to itself")
                )
        if persona.home not in room_tiles:
            problems.append((("personas", i, "home"), f"home '{persona.home}' is not an area/room of this world"))
        elif not any(tile in reach for tile in room_tiles[persona.home]):
            problems.append(
                (
                    ("personas", i, "home"),
                    f"home '{persona.home}' cannot be reached from the rest of the town (walled in)",
                )
            )
        for j, item in enumerate(persona.routine):
            if room_of(item.place) not in room_tiles:
                problems.append(
                    (
                        ("personas", i, "routine", j, "place"),
                        f"unknown place '{item.place}' (expected area/room[/object])",
                    )
                )
            elif item.place.count(PLACE_SEPARATOR) == 2 and item.place not in places:
                problems.append((("personas", i, "routine", j, "place"), f"unknown object in '{item.place}'"))
        if persona.spawn is not None:
            sx, sy = persona.spawn
            if not grid.inside(sx, sy) or not grid.walkable(sx, sy):
                problems.append(
                    (("personas", i, "spawn"), f"spawn {persona.spawn} is off the map or on a blocked tile")
                )
        if persona.adapter is not None and not persona.adapter.strip():
            problems.append((("personas", i, "adapter"), "adapter path is empty"))
    for e, event in enumerate(spec.events):
        if room_of(event.where) not in room_tiles:
            problems.append((("events", e, "where"), f"unknown place '{event.where}'"))
        for k, who in enumerate(event.known_by):
            if who not in names:
                problems.append((("events", e, "known_by", k), f"'{who}' is not a persona in this world"))
    return problems
