"""A new, small, valid world to start from (``luotuo-rpg new-world``).

The text is written by hand rather than dumped from a :class:`WorldSpec`
because its value is the comments: every field appears, with a line of
English saying what it does, so the file is its own quick reference. The
layout is fixed and simple: houses north of a street, a teahouse and a park
south of it, all joined by doors, so the world validates for every allowed
size and number of agents.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict

from luotuo_rpg.authoring.schema import SCHEMA_REF_FROM_WORLDS
from luotuo_rpg.authoring.yaml_writer import (
    RoomDraft,
    Scalar,
    YamlWriter,
    write_area,
    write_map,
)

DEFAULT_START = dt.datetime(2026, 3, 1, 6, 0, 0)
MIN_SIZE = (24, 12)
MAX_SIZE = (200, 120)
MAX_AGENTS = 99

_HOUSE_MIN_WIDTH = 4  # bed and desk side by side, plus a tile to pass
_TEAHOUSE = "悦来茶馆"
_PARK = "柳荫公园"
_STREET = "长街"
_PALETTE = (
    "#e91e63",
    "#3f51b5",
    "#ff9800",
    "#009688",
    "#9c27b0",
    "#795548",
    "#4caf50",
    "#f44336",
    "#2196f3",
    "#607d8b",
)
_NUMERALS = "零一二三四五六七八九"


class _Role(BaseModel):
    """A placeholder occupation: traits, background and a day (``roles.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    traits: tuple[str, ...]
    background: str
    lifestyle: str
    routine: tuple[tuple[str, str, str], ...]  # (at, do, place) with {home}, {teahouse}, {park}, {street}
    catchphrase: str
    memory: str


@cache
def _roles() -> tuple[_Role, ...]:
    text = resources.files("luotuo_rpg.authoring").joinpath("roles.yaml").read_text(encoding="utf-8")
    return tuple(_Role.model_validate(role) for role in yaml.safe_load(text)["roles"])


def _numeral(n: int) -> str:
    """Chinese numeral for 1–99 (placeholder names read as names, not codes)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _NUMERALS[ones]
    head = "" if tens == 1 else _NUMERALS[tens]
    return f"{head}十{_NUMERALS[ones] if ones else ''}"


@dataclass(frozen=True)
class _Layout:
    rows: list[str]
    houses: list[tuple[int, int, int, int]]  # room rects of the bedrooms
    street: tuple[int, int, int, int]
    hall: tuple[int, int, int, int]
    kitchen: tuple[int, int, int, int]
    park: tuple[int, int, int, int]


def _layout(width: int, height: int, agents: int) -> _Layout:
    grid = [["#"] * width for _ in range(height)]

    def fill(rect: tuple[int, int, int, int], char: str) -> None:
        x, y, w, h = rect
        for ty in range(y, y + h):
            for tx in range(x, x + w):
                grid[ty][tx] = char

    inner = width - 2
    street_y = height // 2 - 1  # two street rows; wall rows above and below them
    top_h = street_y - 2  # rows 1 .. street_y-2
    bottom_y = street_y + 3
    bottom_h = height - 1 - bottom_y

    street = (1, street_y, inner, 2)
    fill(street, ",")

    # Houses: as many as agents, as long as each stays usable; agents share beyond that.
    count = max(1, min(agents, (inner + 1) // (_HOUSE_MIN_WIDTH + 1)))
    house_w = (inner - (count - 1)) // count
    houses: list[tuple[int, int, int, int]] = []
    x = 1
    for i in range(count):
        w = house_w if i < count - 1 else inner - (x - 1)
        rect = (x, 1, w, top_h)
        fill(rect, ".")
        grid[street_y - 1][x + w // 2] = "."  # front door onto the street
        houses.append(rect)
        x += w + 1

    hall_w = inner * 2 // 5
    kitchen_w = max(4, inner // 5)
    park_x = 1 + hall_w + 1 + kitchen_w + 1
    hall = (1, bottom_y, hall_w, bottom_h)
    kitchen = (1 + hall_w + 1, bottom_y, kitchen_w, bottom_h)
    park = (park_x, bottom_y, width - 1 - park_x, bottom_h)
    fill(hall, ".")
    fill(kitchen, ".")
    fill(park, "g")
    grid[bottom_y - 1][1 + hall_w // 2] = "."  # teahouse door
    grid[bottom_y][1 + hall_w] = "."  # hall ↔ kitchen
    gate = park_x + park[2] // 2
    grid[bottom_y - 1][gate] = ","  # park gate, two tiles wide: it is a park
    grid[bottom_y - 1][gate - 1] = ","
    return _Layout(["".join(row) for row in grid], houses, street, hall, kitchen, park)


def new_world(
    name: str,
    agents: int = 3,
    size: tuple[int, int] = (40, 20),
    *,
    start: dt.datetime = DEFAULT_START,
    schema_ref: str | None = SCHEMA_REF_FROM_WORLDS,
) -> str:
    """YAML text of a small valid world named ``name`` with ``agents`` placeholder residents.

    ``size`` is (width, height) in tiles. ``schema_ref`` is the path of
    ``world.schema.json`` as seen from where the file will be saved (None
    leaves the editor hint out). Raises ValueError for sizes or counts the
    layout cannot hold.
    """
    name = name.strip()
    if not name:
        raise ValueError("the world needs a name")
    width, height = size
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise ValueError(f"size {width}x{height} is outside {MIN_SIZE[0]}x{MIN_SIZE[1]} … {MAX_SIZE[0]}x{MAX_SIZE[1]}")
    if not 1 <= agents <= MAX_AGENTS:
        raise ValueError(f"agents must be between 1 and {MAX_AGENTS}, got {agents}")

    layout = _layout(width, height, agents)
    house_names = [f"{i + 1}号民居" for i in range(len(layout.houses))]
    persona_names = [f"居民{_numeral(i + 1)}" for i in range(agents)]
    out = YamlWriter()
    _write_head(out, name, start, schema_ref)
    write_map(
        out,
        _LEGEND,
        layout.rows,
        (
            "One character per tile. Every character used in rows needs a legend entry;",
            "walkable: false blocks agents (walls, water). Doors are just walkable gaps in walls.",
            f"{width}×{height} tiles; x grows to the right, y downwards, [0, 0] is the top-left corner.",
        ),
    )
    out.blank()
    _write_areas(out, layout, house_names)
    out.blank()
    out.field("personas")
    for i, person in enumerate(persona_names):
        slot = i % len(layout.houses)  # more agents than houses: they share
        hx0, hy0, hw0, hh0 = layout.houses[slot]
        home = (f"{house_names[slot]}/卧室", (hx0 + hw0 // 2, hy0 + hh0 // 2))
        _write_persona(out, i, person, persona_names, home, first=i == 0)
    out.blank()
    _write_party(out, persona_names[0], start)
    return out.text()


_LEGEND: dict[str, dict[str, Scalar]] = {
    "#": {"name": "墙", "walkable": False, "color": "#5d4037"},
    ".": {"name": "地板", "walkable": True, "color": "#d7ccc8"},
    ",": {"name": "石板路", "walkable": True, "color": "#bcaaa4"},
    "g": {"name": "草地", "walkable": True, "color": "#aed581"},
}


def _write_head(out: YamlWriter, name: str, start: dt.datetime, schema_ref: str | None) -> None:
    if schema_ref:
        out.line(f"# yaml-language-server: $schema={schema_ref}")
    out.comment(f"{name}: generated by `luotuo-rpg new-world`. Edit freely, then check it with")
    out.comment("  luotuo-rpg validate <this file>      and run it with      luotuo-rpg run <this file> --hours 1")
    out.comment("The guide to every field is docs/worlds.md. Places are addressed area/room or area/room/object.")
    out.blank()
    out.field("world")
    out.field("name", name, 1, comment="town name shown in viewers")
    out.field("start", start.isoformat(), 1, comment="game date-time at tick 0 (ISO 8601; quote it)")
    out.field("tick_seconds", 10, 1, comment="game seconds per tick (10 = 8640 ticks a day)")
    out.field("language", "zh", 1, comment="prompt language: zh or en")
    out.field("description", f"{name}是一座安静的小镇：一条长街，北边是民居，南边是茶馆和公园。", 1)
    out.comment("^ one paragraph every resident knows about the town", 1)
    out.blank()


def _write_areas(out: YamlWriter, layout: _Layout, house_names: list[str]) -> None:
    out.comment("Areas hold rooms; a room is a tile rectangle [x, y, width, height] and holds objects.")
    out.comment("Public areas are known to everyone from the start; private ones (homes) must be seen or told of.")
    out.comment("Each object stands on one walkable tile of its room; using it changes its state.")
    out.field("areas")
    for i, (house, rect) in enumerate(zip(house_names, layout.houses, strict=True)):
        x, y, w, _ = rect
        objects = [
            {"name": "床", "tile": [x, y], "state": "空着"},
            {"name": "书桌", "tile": [x + w - 1, y], "state": "空闲"},
        ]
        write_area(
            out,
            house,
            _PALETTE[(i + 5) % len(_PALETTE)],
            [RoomDraft("卧室", rect, objects)],
            public=False,
            public_comment="a home: others learn of it by visiting or being told",
        )
    hx, hy, hw, hh = layout.hall
    kx, ky, kw, _ = layout.kitchen
    px, py, pw, ph = layout.park
    hall = [
        {"name": "柜台", "tile": [hx, hy], "state": "空闲"},
        {"name": "茶桌", "tile": [hx + hw // 2, hy + hh // 2], "state": "空闲"},
    ]
    kitchen = [{"name": "灶台", "tile": [kx + kw // 2, ky], "state": "冷着"}]
    rooms = [
        RoomDraft("大堂", layout.hall, hall, color="#ffcc80", color_comment="optional: defaults to the area colour"),
        RoomDraft("后厨", layout.kitchen, kitchen),
    ]
    write_area(out, _TEAHOUSE, "#ffb74d", rooms, public=True)
    bench = [{"name": "长椅", "tile": [px + pw // 2, py + ph // 2], "state": "空着"}]
    write_area(out, _PARK, "#81c784", [RoomDraft("草地", layout.park, bench)])
    write_area(out, _STREET, "#bcaaa4", [RoomDraft("街道", layout.street)])


def _write_party(out: YamlWriter, host: str, start: dt.datetime) -> None:
    party = start.replace(hour=19, minute=0, second=0, microsecond=0)
    if party <= start:
        party += dt.timedelta(days=1)
    out.comment("Scheduled events happen at a place and time. Only known_by know of it at the start;")
    out.comment("the others hear of it in conversation or see it happen, and may change their plans to go.")
    out.field("events")
    out.field("what", f"{host}在{_TEAHOUSE}办开张周年茶会，街坊都可以来", 1, item=True)
    out.field("where", f"{_TEAHOUSE}/大堂", 2)
    out.field("when", party.isoformat(), 2)
    out.field("minutes", 120, 2, comment="how long it lasts")
    out.field("known_by", [host], 2, comment="who knows of it at the start")


def _write_persona(
    out: YamlWriter,
    index: int,
    person: str,
    everyone: list[str],
    home: tuple[str, tuple[int, int]],
    *,
    first: bool,
) -> None:
    """One placeholder persona; the first carries a comment above every field."""
    roles = _roles()
    role = roles[index % len(roles)]
    home_room, (spawn_x, spawn_y) = home

    def field(key: str, value: object = ..., comment: str = "", *, item: bool = False) -> None:
        if first:
            out.comment(comment, 1 if item else 2)
        out.field(key, value, 1 if item else 2, item=item)

    field("name", person, "name: unique; also the agent's id in viewers and relationships", item=True)
    field("age", 28 + 7 * index % 40, "age: years, 0–150")
    field("traits", list(role.traits), "traits: short personality words, at least one")
    field("background", role.background, "background: who they are; the model reads it before every decision")
    field("lifestyle", role.lifestyle, "lifestyle (optional): sleep, work and habits in one sentence")
    field(
        "routine",
        comment='routine: a usual day; each block lasts until the next. Quote times ("07:00"): '
        "unquoted, YAML 1.1 reads 17:00 as a number",
    )
    for at, do, place in role.routine:
        place = place.format(home=home_room, teahouse=_TEAHOUSE, park=_PARK, street=_STREET)
        out.entry({"at": at, "do": do, "place": place}, 3)
    relation_help = "relationships (optional): other persona's name → how this one sees them"
    if len(everyone) > 1:
        friend = everyone[(index + 1) % len(everyone)]
        field("relationships", comment=relation_help)
        out.field(friend, "街坊，常在茶馆碰面，聊得来。", 3)
    else:
        field("relationships", {}, relation_help)
    field("catchphrases", [role.catchphrase], "catchphrases (optional): lines they are known for")
    field("memories", [role.memory], "memories (optional): what they remember at the start")
    field("home", home_room, "home: area/room where they sleep")
    if first:
        out.comment("spawn (optional): start tile [x, y]; without it, a free tile of the home", 2)
    out.line(f"# spawn: [{spawn_x}, {spawn_y}]", 2)
    field("color", _PALETTE[index % len(_PALETTE)], "color (optional): colour in viewers, #rrggbb")
    if first:
        out.comment("adapter (optional): path of a LoRA adapter, used only by the local backend", 2)
    out.line(f"# adapter: adapters/{person}", 2)
