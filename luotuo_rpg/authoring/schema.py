"""JSON Schema of the world YAML, generated from :class:`WorldSpec`.

Editors use it for completion and inline errors (VS Code with the YAML
extension reads the ``# yaml-language-server: $schema=…`` first line of a
world file). The schema is derived, never hand-written, so it cannot drift
from the models; ``docs/world.schema.json`` is its committed copy and a test
checks the two agree.

The schema covers what one field can say about itself. The checks that need
the whole world (rows of equal width, rooms on the map, homes reachable,
names that exist) are the loader's; run ``luotuo-rpg validate``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from luotuo_rpg.world.spec import WorldSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "luotuo-rpg world (骆驼RPG 世界文件)"
# Relative to a file in worlds/, which is where built-in and new worlds live.
SCHEMA_REF_FROM_WORLDS = "../docs/world.schema.json"

# pydantic's "date-time" means RFC 3339, which requires a UTC offset; editors
# enforce that and would flag every start time in our worlds, yet pydantic
# accepts naive local times (what a town clock is). So the format is replaced
# by a pattern of what the loader accepts: a date, optionally T or space and a
# time, optionally an offset.
_DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
# Mirrors RoutineItem._hhmm, which pydantic cannot express in the schema itself.
_HHMM_PATTERN = r"^([01]?\d|2[0-3]):[0-5]\d$"

# Descriptions of the object types: the models' docstrings are written for
# programmers, these are for someone editing a world file.
_DEF_DESCRIPTIONS = {
    "WorldMeta": "Town-wide settings.",
    "MapSpec": "The tile grid: `rows` is ASCII art, `legend` says what each character is.",
    "Tile": "One kind of tile in the legend.",
    "AreaSpec": "A named place (a house, a shop, a park) made of rooms.",
    "RoomSpec": "A rectangle of tiles inside an area; agents go to rooms and use their objects.",
    "ObjectSpec": "Something in a room that agents use (bed, counter, stove); its state changes as they do.",
    "PersonaSpec": "A resident: who they are, where they live, what a usual day looks like.",
    "RoutineItem": "One block of a usual day: from `at` until the next block starts.",
    "EventSpec": "A happening at a place and time, known at first only to `known_by`.",
}


def world_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a world file, as a dict."""
    schema = copy.deepcopy(WorldSpec.model_json_schema())
    defs: dict[str, Any] = schema.get("$defs", {})
    for name, description in _DEF_DESCRIPTIONS.items():
        if name in defs:
            defs[name]["description"] = description
    _replace_datetime_format(schema)
    routine = defs.get("RoutineItem", {}).get("properties", {})
    if "at" in routine:
        routine["at"]["pattern"] = _HHMM_PATTERN
    legend = defs.get("MapSpec", {}).get("properties", {}).get("legend")
    if legend is not None:
        # Mirrors MapSpec._single_chars: legend keys are one character each.
        legend["propertyNames"] = {"minLength": 1, "maxLength": 1}
    schema.pop("title", None)
    ordered: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "title": SCHEMA_TITLE,
        "description": (
            "A luotuo-rpg world: a tile map, places (area/room/object), residents and scheduled events. "
            "Whole-world checks (map widths, rooms on the map, reachable homes, known names) are done by "
            "`luotuo-rpg validate`. Guide: docs/worlds.md."
        ),
    }
    ordered.update(schema)
    return ordered


def _replace_datetime_format(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            del node["format"]
            node["pattern"] = _DATETIME_PATTERN
        for value in node.values():
            _replace_datetime_format(value)
    elif isinstance(node, list):
        for value in node:
            _replace_datetime_format(value)


def schema_text() -> str:
    """The schema as the text of ``docs/world.schema.json`` (stable key order, UTF-8, newline at end)."""
    return json.dumps(world_schema(), ensure_ascii=False, indent=2) + "\n"


def write_schema(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema_text(), encoding="utf-8")
    return path


class _EditorLoader(yaml.SafeLoader):
    """PyYAML's safe loader without the timestamp rule.

    Editors read YAML 1.2, where ``2026-03-01T06:00:00`` is a plain string;
    PyYAML (YAML 1.1) would make it a datetime, which JSON Schema cannot
    describe. Keeping it a string validates a file the way the editor sees it.
    """


_EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_as_json(text: str) -> Any:
    """Parse world YAML into JSON-compatible data (timestamps stay strings) for schema validation."""
    return yaml.load(text, Loader=_EditorLoader)  # a SafeLoader subclass: safe
