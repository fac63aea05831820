"""The world YAML, as pydantic models.

A world file has five top-level keys: ``world`` (meta), ``map`` (an ASCII
tile grid with its legend), ``areas`` (area → rooms → objects, by tile
rectangles), ``personas`` and ``events``. Places are addressed with ``/``:
``同福客栈/大堂/柜台`` (area/room/object); viewers show them with ``›``.

Field descriptions double as the JSON Schema editors see (``luotuo-rpg schema``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from luotuo_rpg.world.clock import hhmm, minute_of

PLACE_SEPARATOR = "/"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a world file must not pass silently."""

    model_config = ConfigDict(extra="forbid")


class WorldMeta(Strict):
    name: str = Field(description="Town name shown in viewers.", examples=["七侠镇"])
    start: dt.datetime = Field(description="Game date-time at tick 0 (ISO 8601).", examples=["2026-03-01T06:00:00"])
    tick_seconds: int = Field(
        default=10, ge=1, le=600, description="Game seconds per tick (DESIGN.md: 10 s).", examples=[10]
    )
    language: str = Field(default="zh", description="Prompt language: zh or en.", pattern="^(zh|en)$", examples=["zh"])
    description: str = Field(
        default="",
        description="One paragraph about the town, given to every agent.",
        examples=["关中古道上的小镇，南来北往的客商都在同福客栈歇脚。"],
    )


class Tile(Strict):
    name: str = Field(description="What the tile is (for viewers).", examples=["墙", "石板路"])
    walkable: bool = Field(description="Whether agents may stand on it.", examples=[True])
    color: str = Field(
        default="#cccccc", description="Colour in viewers, #rrggbb.", pattern="^#[0-9a-fA-F]{6}$", examples=["#d7ccc8"]
    )


def _default_legend() -> dict[str, Tile]:
    return {
        "#": Tile(name="墙", walkable=False, color="#5d4037"),
        ".": Tile(name="地面", walkable=True, color="#d7ccc8"),
    }


class MapSpec(Strict):
    legend: dict[str, Tile] = Field(
        default_factory=_default_legend,
        description="One character → tile kind. Every character used in rows must be here.",
        examples=[{"#": {"name": "墙", "walkable": False}, ".": {"name": "地板", "walkable": True}}],
    )
    rows: str = Field(
        description="The grid, one text line per row, all rows the same width. "
        "x grows to the right, y grows downwards, (0, 0) is top-left.",
        examples=["#####\n#...#\n##.##\n"],
    )

    @field_validator("legend")
    @classmethod
    def _single_chars(cls, legend: dict[str, Tile]) -> dict[str, Tile]:
        for key in legend:
            if len(key) != 1:
                raise ValueError(f"legend keys must be single characters, got {key!r}")
        return legend

    def lines(self) -> list[str]:
        return [line for line in self.rows.splitlines() if line.strip() != ""]


Point = Annotated[tuple[int, int], Field(description="Tile [x, y].")]
Rect = Annotated[tuple[int, int, int, int], Field(description="Tile rectangle [x, y, width, height].")]


class ObjectSpec(Strict):
    name: str = Field(description="Object name, unique within its room.", examples=["柜台"])
    tile: Point = Field(description="Tile [x, y] the object stands on; inside its room, walkable.", examples=[[2, 9]])
    state: str = Field(default="空闲", description="Initial state shown to agents.", examples=["空闲", "冷着"])


class RoomSpec(Strict):
    name: str = Field(description="Room name, unique within its area.", examples=["大堂"])
    rect: Rect = Field(
        description="Tile rectangle [x, y, width, height]; the room is every tile inside it.", examples=[[1, 8, 9, 3]]
    )
    color: str | None = Field(default=None, description="Viewer colour; defaults to the area's.", examples=["#ffcc80"])
    objects: list[ObjectSpec] = Field(
        default_factory=list,
        description="Things agents can use here; addressed as area/room/object.",
        examples=[[{"name": "柜台", "tile": [2, 9], "state": "空闲"}]],
    )


class AreaSpec(Strict):
    name: str = Field(description="Area name, unique in the world.", examples=["同福客栈"])
    color: str = Field(
        default="#a1887f", pattern="^#[0-9a-fA-F]{6}$", description="Colour in viewers, #rrggbb.", examples=["#ffb74d"]
    )
    public: bool = Field(
        default=True,
        description="Everyone knows public areas from the start; private ones must be seen or told of.",
        examples=[False],
    )
    rooms: list[RoomSpec] = Field(
        min_length=1,
        description="At least one room; addressed as area/room.",
        examples=[[{"name": "大堂", "rect": [1, 8, 9, 3], "objects": [{"name": "柜台", "tile": [2, 9]}]}]],
    )


class RoutineItem(Strict):
    at: str = Field(description="Start time HH:MM; a block lasts until the next one starts.", examples=["07:30"])
    do: str = Field(description="What the persona usually does.", examples=["在大堂招呼客人"])
    place: str = Field(description="Where: area/room or area/room/object.", examples=["同福客栈/大堂"])

    @field_validator("at", mode="before")
    @classmethod
    def _unquoted(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted 17:00 as the sexagesimal number 1020.
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                f"got the number {value}: YAML read an unquoted time; write it quoted, "
                f'e.g. "{value // 60:02d}:{value % 60:02d}"'
            )
        return value

    @field_validator("at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected a time HH:MM, got {value!r}")
        return hhmm(minute_of(value))

    def minute_of_day(self) -> int:
        return minute_of(self.at)


class PersonaSpec(Strict):
    name: str = Field(description="Unique name; also the agent's id in viewers.", examples=["佟湘玉"])
    age: int = Field(ge=0, le=150, description="Age in years.", examples=[28])
    traits: list[str] = Field(min_length=1, description="Short personality words.", examples=[["精明", "嘴碎"]])
    background: str = Field(
        description="Who they are, in a few sentences.", examples=["客栈掌柜，寡居，把客栈当成家，把伙计当成家人。"]
    )
    lifestyle: str = Field(
        default="",
        description="Sleep, work and habits in one sentence.",
        examples=["早起算账，白天招呼客人，晚上早睡。"],
    )
    routine: list[RoutineItem] = Field(
        min_length=1,
        description="A usual day; the first block is usually waking up.",
        examples=[[{"at": "06:30", "do": "起床梳洗", "place": "同福客栈/掌柜房"}]],
    )
    relationships: dict[str, str] = Field(
        default_factory=dict,
        description="Other persona's name → how this one sees them.",
        examples=[{"白展堂": "店里的跑堂，嘴上不说，心里信他。"}],
    )
    catchphrases: list[str] = Field(
        default_factory=list, description="Lines they are known for.", examples=[["额滴神啊"]]
    )
    memories: list[str] = Field(
        default_factory=list,
        description="What they remember at the start.",
        examples=[["今年生意不好做，得省着点花钱。"]],
    )
    home: str = Field(description="area/room where they sleep.", examples=["同福客栈/客房"])
    spawn: Point | None = Field(
        default=None, description="Start tile; defaults to a free tile of the home.", examples=[[3, 2]]
    )
    color: str = Field(
        default="#1e88e5", pattern="^#[0-9a-fA-F]{6}$", description="Colour in viewers.", examples=["#e91e63"]
    )
    adapter: str | None = Field(
        default=None,
        description="LoRA adapter (optional). Local backend: a peft adapter folder, relative paths beside the world "
        "file; OpenAI-compatible servers: the name the server serves it under (vLLM --lora-modules NAME=PATH).",
        examples=["adapters/tong_xiangyu"],
    )


class EventSpec(Strict):
    what: str = Field(description="The event, as people would tell it.", examples=["钱掌柜在钱庄办五十大寿"])
    where: str = Field(description="area/room where it happens.", examples=["钱庄/正堂"])
    when: dt.datetime = Field(description="Start date-time.", examples=["2026-03-01T18:00:00"])
    minutes: int = Field(default=120, ge=1, description="How long it lasts.", examples=[120])
    known_by: list[str] = Field(
        default_factory=list,
        description="Personas who know of it at the start; others learn of it by seeing it or being told.",
        examples=[["钱掌柜"]],
    )


class WorldSpec(Strict):
    world: WorldMeta = Field(description="Name, start time, tick length and language of the town.")
    map: MapSpec = Field(description="The ASCII tile grid and its legend.")
    areas: list[AreaSpec] = Field(min_length=1, description="Places: area → rooms (tile rectangles) → objects.")
    personas: list[PersonaSpec] = Field(min_length=1, description="The residents; at least one.")
    events: list[EventSpec] = Field(default_factory=list, description="Scheduled happenings, e.g. a party.")
