"""The runtime world: bodies on tiles, object states, conversations, events.

Only the engine (``sim``) mutates :class:`WorldState`. Agents see a frozen
:class:`WorldView` taken at the start of a tick, so nothing one agent does in
a tick can be seen by another until the next one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from pydantic import BaseModel, Field

from luotuo_rpg.phrases import phrase
from luotuo_rpg.world.clock import GameClock
from luotuo_rpg.world.grid import Grid, Tile
from luotuo_rpg.world.places import Places
from luotuo_rpg.world.spec import WorldSpec


@dataclass(frozen=True)
class AgentSeen:
    id: int
    name: str
    pos: Tile
    action: str
    emoji: str
    place: str
    conversation: int | None
    asleep: bool


@dataclass(frozen=True)
class ChatTurn:
    speaker: str
    text: str


@dataclass(frozen=True)
class ConversationView:
    id: int
    members: tuple[int, int]
    lines: tuple[ChatTurn, ...]
    ended: bool
    summary: str = ""


@dataclass(frozen=True)
class ActiveEvent:
    what: str
    where: str
    start_tick: int
    end_tick: int


class Conversation(BaseModel):
    """A talk between two bodies. It is written whole when it begins (one request); its lines are
    then said one by one from ``script``, one every few ticks, and it ends after the last."""

    id: int
    members: tuple[int, int]
    lines: list[tuple[str, str]] = Field(default_factory=list, description="(speaker, text) said so far.")
    script: list[tuple[str, str]] = Field(default_factory=list, description="(speaker, text) still to say.")
    next_line: int = Field(default=0, description="Tick the next line of the script is said in (or the talk ends).")
    summary: str = Field(default="", description="What the talk was about, for both to remember.")
    started: int
    ended_at: int | None = None


class Body(BaseModel):
    """An agent's physical, publicly visible state."""

    id: int
    name: str
    pos: Tile
    path: list[Tile] = Field(default_factory=list)
    blocked_ticks: int = 0
    action: str = ""
    emoji: str = "😴"
    place: str = ""
    target: str = ""
    conversation: int | None = None
    asleep: bool = True
    using: str = Field(default="", description="Object whose state this body's action changed, to put back after.")
    to_use: tuple[str, str] | None = Field(
        default=None, description="(object, state) the current action gives an object once the body gets to it."
    )
    before_talk: tuple[str, str] | None = Field(
        default=None, description="(action, emoji) a conversation interrupted: shown again when it ends."
    )
    waiting: bool = Field(
        default=False, description="Stopped short of its goal (a full room, pushed aside): it looks again now and then."
    )


@dataclass(frozen=True)
class WorldView:
    tick: int
    time: str
    date: str
    minute_of_day: int
    agents: tuple[AgentSeen, ...]
    objects: Mapping[str, str]
    events: tuple[ActiveEvent, ...]
    conversations: Mapping[int, ConversationView]
    places: Places = field(repr=False)
    cells: Mapping[tuple[int, int], np.ndarray] = field(repr=False)
    positions: np.ndarray = field(repr=False)
    cell_size: int = 8

    def near(self, agent_id: int, radius: int, limit: int | None = None) -> list[AgentSeen]:
        """Agents within ``radius`` tiles (Chebyshev), nearest first, ties by id."""
        me = self.positions[agent_id]
        cx, cy = int(me[0]) // self.cell_size, int(me[1]) // self.cell_size
        reach = radius // self.cell_size + 1
        groups = [
            self.cells[(gx, gy)]
            for gx in range(cx - reach, cx + reach + 1)
            for gy in range(cy - reach, cy + reach + 1)
            if (gx, gy) in self.cells
        ]
        candidates = np.concatenate(groups) if len(groups) > 1 else groups[0]
        # Vectorised: in a crowded town this is the hottest line of a tick.
        distance = np.abs(self.positions[candidates] - me).max(axis=1)
        keep = (distance <= radius) & (candidates != agent_id)
        candidates, distance = candidates[keep], distance[keep]
        order = np.lexsort((candidates, distance))[:limit]
        return [self.agents[int(i)] for i in candidates[order]]


class WorldState:
    def __init__(self, spec: WorldSpec, grid: Grid | None = None, cell_size: int = 8):
        self.spec = spec
        self.grid = grid or Grid.from_spec(spec.map)
        self.clock = GameClock(spec.world.start, spec.world.tick_seconds)
        self.places = Places(spec, self.grid)
        self.cell_size = cell_size
        self.tick = 0
        self.objects: dict[str, str] = dict(self.places.initial_states)
        self.conversations: dict[int, Conversation] = {}
        self.next_conversation = 0
        self.injected: list[ActiveEvent] = []
        self.bodies: list[Body] = []
        taken: set[Tile] = set()
        for index, persona in enumerate(spec.personas):
            pos = (
                (persona.spawn[0], persona.spawn[1])
                if persona.spawn
                else self._free_tile(persona.home, persona.name, taken)
            )
            taken.add(pos)
            asleep = phrase(spec.world.language, "sleeping")
            body = Body(id=index, name=persona.name, pos=pos, action=asleep, place=persona.home, target=persona.home)
            self.bodies.append(body)

    def _free_tile(self, room: str, who: str, taken: set[Tile]) -> Tile:
        tiles = self.places.room_tiles[room]
        first = self.places.tile_for(room, who)
        assert first is not None
        if first not in taken:
            return first
        return next((t for t in tiles if t not in taken), first)

    def event_schedule(self) -> list[ActiveEvent]:
        out = []
        for event in self.spec.events:
            start = self.clock.tick_of(event.when)
            out.append(ActiveEvent(event.what, event.where, start, start + self.clock.ticks_for_minutes(event.minutes)))
        return out + self.injected

    def snapshot(self) -> WorldView:
        agents = tuple(
            AgentSeen(body.id, body.name, body.pos, body.action, body.emoji, body.place, body.conversation, body.asleep)
            for body in self.bodies
        )
        active = tuple(e for e in self.event_schedule() if e.start_tick <= self.tick < e.end_tick)
        conversations = [
            ConversationView(
                c.id, c.members, tuple(ChatTurn(s, t) for s, t in c.lines), c.ended_at is not None, c.summary
            )
            for c in self.conversations.values()
        ]
        return self.view_of(self.tick, agents, dict(self.objects), active, conversations)

    def view_of(
        self,
        tick: int,
        agents: tuple[AgentSeen, ...],
        objects: dict[str, str],
        events: tuple[ActiveEvent, ...],
        conversations: list[ConversationView],
    ) -> WorldView:
        """A frozen view from its parts: the snapshot of now, or one kept by a checkpoint."""
        cells: dict[tuple[int, int], list[int]] = {}
        for seen in agents:
            cells.setdefault((seen.pos[0] // self.cell_size, seen.pos[1] // self.cell_size), []).append(seen.id)
        return WorldView(
            tick=tick,
            time=self.clock.label(tick),
            date=self.clock.date(tick),
            minute_of_day=self.clock.minute_of_day(tick),
            agents=agents,
            objects=MappingProxyType(objects),
            events=events,
            conversations=MappingProxyType({c.id: c for c in conversations}),
            places=self.places,
            cells=MappingProxyType({k: np.array(v, dtype=np.int64) for k, v in cells.items()}),
            positions=np.array([a.pos for a in agents], dtype=np.int64).reshape(-1, 2),
            cell_size=self.cell_size,
        )

    def now(self) -> dt.datetime:
        return self.clock.time_at(self.tick)

    # --- checkpoints ----------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "tick": self.tick,
            "objects": dict(self.objects),
            "conversations": [c.model_dump(mode="json") for c in self.conversations.values()],
            "next_conversation": self.next_conversation,
            "injected": [[e.what, e.where, e.start_tick, e.end_tick] for e in self.injected],
            "bodies": [b.model_dump(mode="json") for b in self.bodies],
        }

    def set_state(self, state: dict) -> None:
        self.tick = state["tick"]
        self.objects = dict(state["objects"])
        self.conversations = {c["id"]: Conversation.model_validate(c) for c in state["conversations"]}
        self.next_conversation = state["next_conversation"]
        self.injected = [ActiveEvent(*e) for e in state.get("injected", [])]
        self.bodies = [Body.model_validate(b) for b in state["bodies"]]
