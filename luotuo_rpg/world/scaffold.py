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
import json
from collections.abc import Callable
from dataclasses import dataclass

from luotuo_rpg.world.schema import SCHEMA_REF_FROM_WORLDS

DEFAULT_START = dt.datetime(2026, 3, 1, 6, 0, 0)
MIN_SIZE = (24, 12)
MAX_SIZE = (200, 120)
MAX_AGENTS = 99

_HOUSE_MIN_WIDTH = 4  # bed and desk side by side, plus a tile to pass
_TEAHOUSE = "悦来茶馆"
_PARK = "柳荫公园"
_STREET = "长街"
_PALETTE = (
    "#e91e63", "#3f51b5", "#ff9800", "#009688", "#9c27b0",
    "#795548", "#4caf50", "#f44336", "#2196f3", "#607d8b",
)
_NUMERALS = "零一二三四五六七八九"


@dataclass(frozen=True)
class _Role:
    """A placeholder occupation: traits, background and a day, with {home} for the house."""

    traits: tuple[str, ...]
    background: str
    lifestyle: str
    routine: tuple[tuple[str, str, str], ...]  # (at, do, place)
    catchphrase: str
    memory: str


_ROLES = (
    _Role(
        ("热心", "精明", "爱操心"),
        "悦来茶馆的掌柜，认识镇上每一个人，总想让茶馆更热闹。",
        "早起开门，白天守着柜台，晚上算完账就睡。",
        (
            ("06:30", "起床梳洗", "{home}"),
            ("07:00", "开门迎客，在柜台招呼客人", f"{_TEAHOUSE}/大堂/柜台"),
            ("12:00", "吃午饭", f"{_TEAHOUSE}/大堂/茶桌"),
            ("13:00", "招呼客人，和熟客聊天", f"{_TEAHOUSE}/大堂"),
            ("19:00", "打烊，盘点一天的账目", f"{_TEAHOUSE}/大堂/柜台"),
            ("21:30", "睡觉", "{home}/床"),
        ),
        "来都来了，喝碗茶再走",
        "茶馆开张快满一年了，想办个茶会谢谢街坊。",
    ),
    _Role(
        ("憨厚", "贪吃", "手艺好"),
        "茶馆的厨子，做点心是一把好手，就是嘴馋。",
        "天不亮就进后厨，吃得多睡得香。",
        (
            ("05:30", "起床", "{home}"),
            ("06:00", "做早点", f"{_TEAHOUSE}/后厨/灶台"),
            ("11:00", "做午饭", f"{_TEAHOUSE}/后厨/灶台"),
            ("14:00", "在公园长椅上打个盹", f"{_PARK}/草地/长椅"),
            ("16:30", "做晚饭", f"{_TEAHOUSE}/后厨/灶台"),
            ("21:00", "睡觉", "{home}/床"),
        ),
        "尝尝，刚出锅的",
        "最近想琢磨一道新点心。",
    ),
    _Role(
        ("安静", "好学", "有点固执"),
        "镇上的读书人，准备明年的考试，爱在公园里背书。",
        "晚睡晚起，白天读书，傍晚去茶馆听人聊天。",
        (
            ("07:30", "起床", "{home}"),
            ("08:00", "在书桌前读书", "{home}/书桌"),
            ("12:00", "去茶馆吃午饭", f"{_TEAHOUSE}/大堂/茶桌"),
            ("13:00", "在公园里背书", f"{_PARK}/草地/长椅"),
            ("17:00", "在茶馆听人聊天", f"{_TEAHOUSE}/大堂"),
            ("22:30", "睡觉", "{home}/床"),
        ),
        "书中自有黄金屋",
        "先生说今年的题目会很难。",
    ),
    _Role(
        ("机灵", "话多", "爱打听"),
        "走街串巷的货郎，镇上的新鲜事他总是头一个知道。",
        "起得早，一天都在街上转，晚上去茶馆歇脚。",
        (
            ("06:00", "起床", "{home}"),
            ("06:30", "挑着担子沿街叫卖", f"{_STREET}/街道"),
            ("12:00", "在茶馆吃午饭", f"{_TEAHOUSE}/大堂/茶桌"),
            ("13:00", "在公园门口摆摊", f"{_PARK}/草地"),
            ("18:00", "在茶馆歇脚，打听消息", f"{_TEAHOUSE}/大堂"),
            ("21:00", "睡觉", "{home}/床"),
        ),
        "走过路过，不要错过",
        "听说最近镇上要来一位新的客商。",
    ),
)


def _numeral(n: int) -> str:
    """Chinese numeral for 1–99 (placeholder names read as names, not codes)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _NUMERALS[ones]
    head = "" if tens == 1 else _NUMERALS[tens]
    return f"{head}十{_NUMERALS[ones] if ones else ''}"


def _q(text: str) -> str:
    """A YAML scalar that survives any text: JSON strings are valid YAML."""
    return json.dumps(text, ensure_ascii=False)


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


def _rect(rect: tuple[int, int, int, int]) -> str:
    return "[" + ", ".join(str(v) for v in rect) + "]"


def _tile(x: int, y: int) -> str:
    return f"[{x}, {y}]"


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
        raise ValueError(
            f"size {width}x{height} is outside {MIN_SIZE[0]}x{MIN_SIZE[1]} … {MAX_SIZE[0]}x{MAX_SIZE[1]}"
        )
    if not 1 <= agents <= MAX_AGENTS:
        raise ValueError(f"agents must be between 1 and {MAX_AGENTS}, got {agents}")

    layout = _layout(width, height, agents)
    house_names = [f"{i + 1}号民居" for i in range(len(layout.houses))]
    persona_names = [f"居民{_numeral(i + 1)}" for i in range(agents)]
    out: list[str] = []
    emit = out.append

    if schema_ref:
        emit(f"# yaml-language-server: $schema={schema_ref}")
    emit(f"# {name}: generated by `luotuo-rpg new-world`. Edit freely, then check it with")
    emit("#   luotuo-rpg validate <this file>      and run it with      luotuo-rpg run <this file> --hours 1")
    emit("# The guide to every field is docs/worlds.md. Places are addressed area/room or area/room/object.")
    emit("")
    emit("world:")
    emit(f"  name: {_q(name)}                 # town name shown in viewers")
    emit(f'  start: "{start.isoformat()}"    # game date-time at tick 0 (ISO 8601; quote it)')
    emit("  tick_seconds: 10                 # game seconds per tick (10 = 8640 ticks a day)")
    emit("  language: zh                     # prompt language: zh or en")
    emit(f"  description: {_q(f'{name}是一座安静的小镇：一条长街，北边是民居，南边是茶馆和公园。')}")
    emit("  # ^ one paragraph every resident knows about the town")
    emit("")
    emit("map:")
    emit("  # One character per tile. Every character used in rows needs a legend entry;")
    emit("  # walkable: false blocks agents (walls, water). Doors are just walkable gaps in walls.")
    emit("  legend:")
    emit('    "#": {name: 墙, walkable: false, color: "#5d4037"}')
    emit('    ".": {name: 地板, walkable: true, color: "#d7ccc8"}')
    emit('    ",": {name: 石板路, walkable: true, color: "#bcaaa4"}')
    emit('    "g": {name: 草地, walkable: true, color: "#aed581"}')
    emit(f"  # {width}×{height} tiles; x grows to the right, y downwards, [0, 0] is the top-left corner.")
    emit("  rows: |")
    for row in layout.rows:
        emit(f"    {row}")
    emit("")
    emit("# Areas hold rooms; a room is a tile rectangle [x, y, width, height] and holds objects.")
    emit("# Public areas are known to everyone from the start; private ones (homes) must be seen or told of.")
    emit("areas:")
    for i, (house, rect) in enumerate(zip(house_names, layout.houses, strict=True)):
        x, y, w, _ = rect
        emit(f"  - name: {house}")
        emit(f'    color: "{_PALETTE[(i + 5) % len(_PALETTE)]}"')
        emit("    public: false                  # a home: others learn of it by visiting or being told")
        emit("    rooms:")
        emit("      - name: 卧室")
        emit(f"        rect: {_rect(rect)}")
        emit("        objects:                     # each object stands on one walkable tile of its room")
        emit(f"          - {{name: 床, tile: {_tile(x, y)}, state: 空着}}")
        emit(f"          - {{name: 书桌, tile: {_tile(x + w - 1, y)}, state: 空闲}}")
    hx, hy, hw, hh = layout.hall
    kx, ky, kw, _ = layout.kitchen
    px, py, pw, ph = layout.park
    emit(f"  - name: {_TEAHOUSE}")
    emit('    color: "#ffb74d"')
    emit("    public: true")
    emit("    rooms:")
    emit("      - name: 大堂")
    emit(f"        rect: {_rect(layout.hall)}")
    emit('        color: "#ffcc80"             # optional: defaults to the area colour')
    emit("        objects:")
    emit(f"          - {{name: 柜台, tile: {_tile(hx, hy)}, state: 空闲}}")
    emit(f"          - {{name: 茶桌, tile: {_tile(hx + hw // 2, hy + hh // 2)}, state: 空闲}}")
    emit("      - name: 后厨")
    emit(f"        rect: {_rect(layout.kitchen)}")
    emit("        objects:")
    emit(f"          - {{name: 灶台, tile: {_tile(kx + kw // 2, ky)}, state: 冷着}}")
    emit(f"  - name: {_PARK}")
    emit('    color: "#81c784"')
    emit("    rooms:")
    emit("      - name: 草地")
    emit(f"        rect: {_rect(layout.park)}")
    emit("        objects:")
    emit(f"          - {{name: 长椅, tile: {_tile(px + pw // 2, py + ph // 2)}, state: 空着}}")
    emit(f"  - name: {_STREET}")
    emit('    color: "#bcaaa4"')
    emit("    rooms:")
    emit("      - name: 街道")
    emit(f"        rect: {_rect(layout.street)}")
    emit("        objects: []")
    emit("")
    emit("personas:")
    for i, person in enumerate(persona_names):
        slot = i % len(layout.houses)  # more agents than houses: they share
        hx0, hy0, hw0, hh0 = layout.houses[slot]
        home = (f"{house_names[slot]}/卧室", (hx0 + hw0 // 2, hy0 + hh0 // 2))
        _emit_persona(emit, i, person, persona_names, home, first=i == 0)
    emit("")
    host = persona_names[0]
    party = start.replace(hour=19, minute=0, second=0, microsecond=0)
    if party <= start:
        party += dt.timedelta(days=1)
    emit("# Scheduled events happen at a place and time. Only known_by know of it at the start;")
    emit("# the others hear of it in conversation or see it happen, and may change their plans to go.")
    emit("events:")
    emit(f"  - what: {_q(f'{host}在{_TEAHOUSE}办开张周年茶会，街坊都可以来')}")
    emit(f"    where: {_TEAHOUSE}/大堂")
    emit(f'    when: "{party.isoformat()}"')
    emit("    minutes: 120                   # how long it lasts")
    emit(f"    known_by: [{host}]              # who knows of it at the start")
    return "\n".join(out) + "\n"


def _emit_persona(
    emit: Callable[[str], None],
    index: int,
    person: str,
    everyone: list[str],
    home: tuple[str, tuple[int, int]],
    *,
    first: bool,
) -> None:
    """Emit one placeholder persona; the first carries a comment above every field."""
    role = _ROLES[index % len(_ROLES)]
    home_room, (spawn_x, spawn_y) = home

    def field(text: str, comment: str, *, item: bool = False) -> None:
        if first:
            emit(f"  # {comment}" if item else f"    # {comment}")
        emit(text)

    field(f"  - name: {person}", "name: unique; also the agent's id in viewers and relationships", item=True)
    field(f"    age: {28 + 7 * index % 40}", "age: years, 0–150")
    field(f"    traits: [{', '.join(role.traits)}]", "traits: short personality words, at least one")
    field(f"    background: {_q(role.background)}", "background: who they are; the model reads it before every decision")
    field(f"    lifestyle: {_q(role.lifestyle)}", "lifestyle (optional): sleep, work and habits in one sentence")
    field(
        "    routine:",
        'routine: a usual day; each block lasts until the next. Quote times ("07:00"): '
        "unquoted, YAML 1.1 reads 17:00 as a number",
    )
    for at, do, place in role.routine:
        emit(f'      - {{at: "{at}", do: {_q(do)}, place: {place.format(home=home_room)}}}')
    others = [other for other in everyone if other != person]
    relation_help = "relationships (optional): other persona's name → how this one sees them"
    if others:
        friend = everyone[(index + 1) % len(everyone)]
        field("    relationships:", relation_help)
        emit(f"      {friend}: {_q('街坊，常在茶馆碰面，聊得来。')}")
    else:
        field("    relationships: {}", relation_help)
    field(f"    catchphrases: [{_q(role.catchphrase)}]", "catchphrases (optional): lines they are known for")
    field(f"    memories: [{_q(role.memory)}]", "memories (optional): what they remember at the start")
    field(f"    home: {home_room}", "home: area/room where they sleep")
    field(
        f"    # spawn: {_tile(spawn_x, spawn_y)}",
        "spawn (optional): start tile [x, y]; without it, a free tile of the home",
    )
    field(f'    color: "{_PALETTE[index % len(_PALETTE)]}"', "color (optional): colour in viewers, #rrggbb")
    field(
        f"    # adapter: adapters/{person}",
        "adapter (optional): path of a LoRA adapter, used only by the local backend",
    )
