"""Websocket messages between the server and its viewers (browser, pygame).

Server → client: ``hello`` once on connect (map, places, personas, the current
full state as a keyframe), then one ``frame`` per tick (a delta; apply it to
the state from ``hello``), ``result`` for a control, ``error`` for a bad message
or a world file that failed to reload, ``status`` when pause or speed change.
A client that falls behind gets a fresh ``hello`` instead of the frames it
missed: whatever arrives, the state is always hello + the frames after it.
Client → server: ``control`` messages; every control needs the server's token.
``docs/protocol.md`` shows every message as JSON.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from luotuo_rpg.sim.files import Frame
from luotuo_rpg.world.spec import Tile, WorldSpec


class PlaceInfo(BaseModel):
    address: str
    rect: tuple[int, int, int, int]
    color: str
    objects: dict[str, tuple[int, int]] = Field(default_factory=dict, description="object address → tile")


class PersonaInfo(BaseModel):
    id: int
    name: str
    color: str
    age: int
    traits: list[str]


class MapInfo(BaseModel):
    width: int
    height: int
    rows: list[str]
    legend: dict[str, Tile]


class ReplayInfo(BaseModel):
    run_id: str
    ticks: int = Field(description="Frames in the replay.")
    first_tick: int = Field(default=0, description="Tick of the first frame (the scrubber's minimum).")
    last_tick: int = Field(default=0, description="Tick of the last frame (the scrubber's maximum).")


class Hello(BaseModel):
    type: Literal["hello"] = "hello"
    world: str
    start: str
    tick_seconds: int
    language: str = Field(default="zh", description="The world's language (zh or en): a viewer's own texts follow it.")
    map: MapInfo
    places: list[PlaceInfo]
    personas: list[PersonaInfo]
    state: Frame = Field(description="Full state now, as a keyframe.")
    paused: bool = False
    speed: float = Field(default=0.0, description="Ticks per second; 0 = as fast as possible.")
    replay: ReplayInfo | None = Field(default=None, description="Set when this is a replay; None for a live run.")
    errors: list[str] = Field(
        default_factory=list,
        description="Problems of the world file on disk that kept the current world running (serve --watch).",
    )
    recording: str | None = Field(
        default=None,
        description="Name of the run folder a live session is written to (serve --record); None if not.",
    )


class FrameMessage(BaseModel):
    type: Literal["frame"] = "frame"
    frame: Frame
    sent: float | None = Field(default=None, description="Server wall clock (Unix seconds) when it was broadcast.")


def encode_frame(frame: Frame, sent: float | None = None) -> str:
    """The JSON text of a ``frame`` message, serialised once for every viewer.

    Fields at their defaults are left out (``Frame.to_line``): a delta names only
    what changed, and ``FrameMessage.model_validate_json`` reads it back whole.
    """
    stamp = "" if sent is None else f',"sent":{sent:.6f}'
    return f'{{"type":"frame","frame":{frame.to_line()}{stamp}}}'


ControlAction = Literal["pause", "resume", "speed", "step", "interview", "inject", "seek"]


class Control(BaseModel):
    """Every field bounded: a control is read from anyone who can open the websocket."""

    type: Literal["control"] = "control"
    token: str = Field(
        default="",
        max_length=256,
        description="The server's token; may be left out on a connection that presented it at the handshake.",
    )
    action: ControlAction
    value: float | None = Field(
        default=None, ge=-1e9, le=1e9, allow_inf_nan=False, description="speed: ticks/s (0 = fastest); seek: tick"
    )
    agent: int | None = Field(default=None, ge=0, le=1_000_000, description="interview: agent id")
    question: str | None = Field(default=None, max_length=500)
    what: str | None = Field(default=None, max_length=200, description="inject: the event")
    where: str | None = Field(default=None, max_length=100, description="inject: area/room")
    minutes: int = Field(default=60, ge=1, le=24 * 60)
    id: str | None = Field(
        default=None, max_length=64, description="Echoed in the result, to match answers to questions."
    )


class ControlResult(BaseModel):
    type: Literal["result"] = "result"
    action: ControlAction
    ok: bool
    id: str | None = None
    answer: str | None = None
    error: str | None = None


class ErrorMessage(BaseModel):
    type: Literal["error"] = "error"
    message: str
    issues: list[str] = Field(
        default_factory=list, description="One line per problem, e.g. a world file's file:line: …"
    )


class Status(BaseModel):
    """Sent to every viewer when the run is paused, resumed, sped up or ends."""

    type: Literal["status"] = "status"
    tick: int
    paused: bool
    speed: float
    ended: bool = Field(default=False, description="A replay reached its last frame.")


ServerMessage = Annotated[Hello | FrameMessage | ControlResult | ErrorMessage | Status, Field(discriminator="type")]
_server_message: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


def parse_server_message(text: str | bytes) -> Hello | FrameMessage | ControlResult | ErrorMessage | Status:
    """What a client does with each message it receives (raises pydantic's ValidationError)."""
    return _server_message.validate_json(text)


def hello_from_spec(spec: WorldSpec, state: Frame, **extra) -> Hello:
    from luotuo_rpg.world.spec import PLACE_SEPARATOR

    places = []
    for area in spec.areas:
        for room in area.rooms:
            address = f"{area.name}{PLACE_SEPARATOR}{room.name}"
            places.append(
                PlaceInfo(
                    address=address,
                    rect=room.rect,
                    color=room.color or area.color,
                    objects={f"{address}{PLACE_SEPARATOR}{o.name}": o.tile for o in room.objects},
                )
            )
    rows = spec.map.lines()
    return Hello(
        world=spec.world.name,
        start=spec.world.start.isoformat(),
        tick_seconds=spec.world.tick_seconds,
        language=spec.world.language,
        map=MapInfo(width=len(rows[0]), height=len(rows), rows=rows, legend={k: v for k, v in spec.map.legend.items()}),
        places=places,
        personas=[
            PersonaInfo(id=i, name=p.name, color=p.color, age=p.age, traits=p.traits)
            for i, p in enumerate(spec.personas)
        ],
        state=state,
        **extra,
    )
