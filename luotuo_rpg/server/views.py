"""What the REST API answers: the response models, and how to fill them.

A live run answers from the engine (plans, the memory stream, reflections
with the memories they cite); a replay has only its frames, so it answers
from what the frames said in passing (the last plan outline, reflection
texts, lines spoken) and leaves the memory lists empty.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from luotuo_rpg.phrases import phrase
from luotuo_rpg.server.mirror import FrameMirror, SpokenLine
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import AgentFrame
from luotuo_rpg.sim.frame_stream import AgentNow
from luotuo_rpg.world.clock import DAY_MINUTES, minute_of
from luotuo_rpg.world.places import room_containing, room_rects
from luotuo_rpg.world.spec import PLACE_SEPARATOR, WorldSpec

_RECENT_MEMORIES = 30
_RECENT_REFLECTIONS = 20


class WorldInfo(BaseModel):
    mode: Literal["live", "replay"]
    world: str
    tick: int
    time: str
    paused: bool
    speed: float
    agents: int
    viewers: int
    places: list[str] = Field(description="Every area/room, e.g. for the inject form.")
    replay: str | None = Field(default=None, description="Run id of the replay; None when live.")
    first_tick: int = 0
    last_tick: int | None = Field(default=None, description="A replay's last tick; None when live.")
    world_file: str | None = Field(default=None, description="The world file served (live).")
    watching: bool = False
    errors: list[str] = Field(default_factory=list, description="Why the last edit of the world file was not loaded.")
    recording: str | None = Field(default=None, description="Run folder the live session is written to (--record).")


class AgentBrief(BaseModel):
    id: int
    name: str
    color: str
    pos: tuple[int, int] | None
    action: str | None
    emoji: str | None
    place: str | None = Field(description="Place of the current action.")
    at: str | None = Field(default=None, description="Room the agent stands in ('' outside every room).")
    asleep: bool | None
    conversation: int | None


class ScheduleItem(BaseModel):
    start: str
    activity: str
    place: str
    current: bool = False


class CurrentAction(BaseModel):
    activity: str
    place: str
    emoji: str
    minutes: int
    ends: str | None = Field(default=None, description="Game time the action ends.")


class MemoryInfo(BaseModel):
    id: int
    kind: str
    text: str
    tick: int
    time: str
    importance: int


class ReflectionInfo(BaseModel):
    id: int | None = None
    text: str
    tick: int
    time: str
    cites: list[MemoryInfo] = Field(default_factory=list, description="The memories this thought rests on.")


class RelationshipInfo(BaseModel):
    id: int | None
    name: str
    description: str
    conversations: int = Field(description="Conversations seen since this server started watching.")


class ChatLineInfo(BaseModel):
    tick: int
    time: str
    speaker: str
    to: str | None
    text: str


class AgentDetail(AgentBrief):
    live: bool = Field(description="False for replays: no memory stream, only what frames recorded.")
    age: int
    traits: list[str]
    background: str
    current: CurrentAction | None = None
    outline: list[str] = Field(default_factory=list)
    schedule: list[ScheduleItem] = Field(default_factory=list)
    upcoming: list[CurrentAction] = Field(default_factory=list, description="The next few planned actions.")
    memories: list[MemoryInfo] = Field(default_factory=list, description="Newest first.")
    reflections: list[ReflectionInfo] = Field(default_factory=list, description="Newest first.")
    relationships: list[RelationshipInfo] = Field(default_factory=list)
    conversation_log: list[ChatLineInfo] = Field(default_factory=list, description="Oldest first.")
    known_events: list[str] = Field(default_factory=list)


class ReplayEntry(BaseModel):
    name: str
    world: str | None = None
    ticks: int | None = Field(default=None, description="From summary.json when the run finished.")
    finished: bool


def places_of(spec: WorldSpec) -> list[str]:
    return [f"{area.name}{PLACE_SEPARATOR}{room.name}" for area in spec.areas for room in area.rooms]


def agent_briefs(spec: WorldSpec, mirror: FrameMirror) -> list[AgentBrief]:
    return [_brief(i, spec, mirror.agents.get(i)) for i in range(len(spec.personas))]


def _brief(agent_id: int, spec: WorldSpec, now: AgentNow | None) -> AgentBrief:
    persona = spec.personas[agent_id]
    frame = now.frame() if now is not None else AgentFrame()
    conv = frame.conv if frame.conv is not None and frame.conv >= 0 else None
    return AgentBrief(
        id=agent_id,
        name=persona.name,
        color=persona.color,
        pos=frame.pos,
        action=frame.action,
        emoji=frame.emoji,
        place=frame.place,
        at=frame.at if frame.at is not None else _room_at(spec, frame.pos),
        asleep=frame.asleep,
        conversation=conv,
    )


def _room_at(spec: WorldSpec, pos: tuple[int, int] | None) -> str | None:
    """Where an agent stands, for replays recorded before frames carried it."""
    if pos is None:
        return None
    return room_containing(room_rects(spec), pos) or ""


def _chat_log(spec: WorldSpec, lines: list[SpokenLine]) -> list[ChatLineInfo]:
    names = [p.name for p in spec.personas]
    return [
        ChatLineInfo(
            tick=line.tick,
            time=line.time,
            speaker=names[line.speaker],
            to=names[line.to] if line.to is not None else None,
            text=line.text,
        )
        for line in lines
    ]


def _relationships(spec: WorldSpec, agent_id: int, mirror: FrameMirror) -> list[RelationshipInfo]:
    ids = {p.name: i for i, p in enumerate(spec.personas)}
    talks = mirror.conversations_with.get(agent_id, {})
    known = [
        RelationshipInfo(id=ids.get(name), name=name, description=how, conversations=talks.get(ids.get(name, -1), 0))
        for name, how in spec.personas[agent_id].relationships.items()
    ]
    described = {r.id for r in known}
    # People met in conversation but absent from the persona sheet still count as relationships.
    met = [
        RelationshipInfo(id=other, name=spec.personas[other].name, description="", conversations=count)
        for other, count in sorted(talks.items())
        if other not in described
    ]
    return known + met


def live_agent_detail(sim: Simulation, agent_id: int, mirror: FrameMirror) -> AgentDetail:
    spec = sim.spec
    agent = sim.agents[agent_id]
    clock = sim.world.clock
    state = agent.state
    persona = spec.personas[agent_id]
    nodes = agent.memory.nodes

    def memory(node_id: int) -> MemoryInfo:
        node = nodes[node_id]
        return MemoryInfo(
            id=node.id,
            kind=node.kind,
            text=node.text,
            tick=node.created,
            time=clock.label(node.created),
            importance=node.importance,
        )

    reflections = [
        ReflectionInfo(
            id=node.id,
            text=node.text,
            tick=node.created,
            time=clock.label(node.created),
            cites=[memory(c) for c in node.cites if 0 <= c < len(nodes)],
        )
        for node in reversed(nodes)
        if node.kind == "thought" and node.cites
    ][:_RECENT_REFLECTIONS]
    current_block = None
    if state.schedule and state.block_start is not None:
        current_block = state.block_start % DAY_MINUTES
    schedule = [
        ScheduleItem(
            start=block.start,
            activity=block.activity,
            place=block.place,
            current=current_block is not None and minute_of(block.start) == current_block,
        )
        for block in state.schedule
    ]
    current = None
    if state.action is not None:
        current = CurrentAction(
            activity=state.action.activity,
            place=state.action.place,
            emoji=state.action.emoji,
            minutes=state.action.minutes,
            ends=clock.label(state.action_end),
        )
    conversation_log = _chat_log(spec, list(mirror.lines.get(agent_id, ())))
    return AgentDetail(
        **_brief(agent_id, spec, mirror.agents.get(agent_id)).model_dump(),
        live=True,
        age=persona.age,
        traits=persona.traits,
        background=persona.background,
        current=current,
        outline=list(state.outline),
        schedule=schedule,
        upcoming=[
            CurrentAction(activity=a.activity, place=a.place, emoji=a.emoji, minutes=a.minutes) for a in state.queue[:5]
        ],
        memories=[memory(node.id) for node in reversed(nodes[-_RECENT_MEMORIES:])],
        reflections=reflections,
        relationships=_relationships(spec, agent_id, mirror),
        conversation_log=conversation_log,
        known_events=[
            phrase(spec.world.language, "known_event_view", what=e.what, where=e.where, when=e.when)
            for e in state.known_events
        ],
    )


def replay_agent_detail(spec: WorldSpec, agent_id: int, mirror: FrameMirror) -> AgentDetail:
    persona = spec.personas[agent_id]
    plan = mirror.plans.get(agent_id)
    frame = mirror.agents.get(agent_id)
    current = None
    if frame is not None and frame.action:
        current = CurrentAction(activity=frame.action, place=frame.place or "", emoji=frame.emoji or "", minutes=0)
    return AgentDetail(
        **_brief(agent_id, spec, frame).model_dump(),
        live=False,
        age=persona.age,
        traits=persona.traits,
        background=persona.background,
        current=current,
        outline=plan.plan_items(phrase(spec.world.language, "outline_separator")) if plan else [],
        # The persona's usual day is the best schedule a replay can show.
        schedule=[ScheduleItem(start=r.at, activity=r.do, place=r.place) for r in persona.routine],
        reflections=[
            ReflectionInfo(text=n.text, tick=n.tick, time=n.time)
            for n in reversed(mirror.reflections.get(agent_id, ()))
        ],
        relationships=_relationships(spec, agent_id, mirror),
        conversation_log=_chat_log(spec, list(mirror.lines.get(agent_id, ()))),
    )
