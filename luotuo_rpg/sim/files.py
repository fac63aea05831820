"""The files of a run, as pydantic models: meta.json, frames.jsonl lines, summary.json.

``FORMAT_VERSION`` changes whenever a reader of an older run would misread a newer one.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from luotuo_rpg.llm import LLMStats
from luotuo_rpg.world.spec import WorldMeta

FORMAT_VERSION = 1


class AgentFrame(BaseModel):
    """One agent in one frame; in a delta frame only the fields that changed are set."""

    pos: tuple[int, int] | None = None
    action: str | None = None
    emoji: str | None = None
    place: str | None = Field(default=None, description="Place of the current action (where it is going).")
    at: str | None = Field(
        default=None,
        description="Room the agent stands in ('' outside every room); absent in runs before it was added.",
    )
    conv: int | None = Field(default=None, description="Conversation id, −1 for none.")
    asleep: bool | None = None


EventType = Literal[
    "say",
    "conversation_start",
    "conversation_end",
    "event_start",
    "event_end",
    "object",
    "plan",
    "reflect",
    "interview",
]


class FrameEvent(BaseModel):
    type: EventType
    agent: int | None = None
    to: int | None = None
    text: str | None = None
    place: str | None = None
    outline: list[str] | None = Field(
        default=None,
        description="plan: the day's outline, item by item. Runs before it was added joined it into text "
        "with the language's outline separator; a change of plan (text only) has none.",
    )
    question: str | None = Field(default=None, description="interview: what was asked; text is the answer.")

    def plan_items(self, separator: str) -> list[str]:
        """A plan event's outline; for runs recorded before ``outline`` existed, split from text."""
        if self.outline is not None:
            return list(self.outline)
        return self.text.split(separator) if self.text else []


class Frame(BaseModel):
    tick: int
    time: str
    key: bool = Field(default=False, description="True for a full keyframe (every agent, every object).")
    agents: dict[int, AgentFrame] = Field(default_factory=dict)
    objects: dict[str, str] = Field(default_factory=dict)
    events: list[FrameEvent] = Field(default_factory=list)

    def to_line(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


class RunMeta(BaseModel):
    format_version: int = FORMAT_VERSION
    run_id: str
    world_file: str
    world: dict[str, Any] = Field(description="The world spec as loaded (personas included).")
    seed: int
    llm: dict[str, Any] = Field(description="Backend and its settings, without secrets.")
    config: dict[str, Any]
    keyframe_every: int
    parent: str | None = Field(default=None, description="For forks: the run and tick forked from.")
    hours: float | None = Field(
        default=None, description="Target in game hours from the world's start: resume and fork stop there."
    )

    @property
    def language(self) -> str:
        """The world's language, read without validating the whole world again."""
        return str(self.world.get("world", {}).get("language", WorldMeta.model_fields["language"].default))


class AgentSummary(BaseModel):
    name: str
    plans: int
    reflections: int
    conversations: int
    memories: int
    reactions: int = 0
    known_places: int = 0


class EventSpread(BaseModel):
    what: str
    known_at_start: int
    known_at_end: int
    known_by_end: list[str]


CAME_MINUTES = 30
"""Minutes in an event's room that count as having come to it."""


class EventLearned(BaseModel):
    name: str
    time: str = Field(description="Game time the agent learned of the event.")
    how: str = Field(description="'told at start', 'heard from NAME' or 'saw it'.")


class EventAttendance(BaseModel):
    what: str
    where: str = Field(description="The event's room.")
    start: str
    end: str
    injected: bool = False
    began: bool = Field(default=True, description="False when the run ended before the event's start.")
    learned: list[EventLearned] = Field(default_factory=list, description="In the order they learned.")
    known_before: list[str] = Field(default_factory=list, description="Knew of it before it began.")
    minutes_in_room: dict[str, float] = Field(default_factory=dict, description="Per agent, while it ran.")
    came: list[str] = Field(default_factory=list, description=f"Spent at least {CAME_MINUTES} minutes in its room.")
    came_uninvited: list[str] = Field(
        default_factory=list, description="Of those who came, the ones not told at the start (hearsay brought them)."
    )


class ActionReach(BaseModel):
    actions: int = Field(description="Awake actions at a known room (conversations excluded).")
    reached: int
    mean_minutes_to_reach: float
    unreached_by_agent: dict[str, int] = Field(default_factory=dict)


class BehaviourMeasures(BaseModel):
    awake_minutes: float
    stuck_minutes: float
    stuck_share: float
    stuck_by_agent: dict[str, float] = Field(default_factory=dict, description="The five most stuck, minutes.")
    action_reach: ActionReach
    events: list[EventAttendance] = Field(default_factory=list)
    lines: int = 0
    repeated_lines: int = Field(default=0, description="Same speaker, same partner, same text, same game day.")
    repeated_share: float = 0.0
    fallback_share_by_kind: dict[str, float] = Field(default_factory=dict)


SUMMARY_VERSION = 2
"""summary.json: 2 added ``behaviour`` (the measures of luotuo_rpg.sim.behaviour)."""


class RunSummary(BaseModel):
    format_version: int = SUMMARY_VERSION
    run_id: str
    world: str
    ticks: int
    game_hours: float
    wall_seconds: float
    ticks_per_second: float
    agents: list[AgentSummary]
    conversations: int
    sample_lines: list[str] = Field(default_factory=list)
    events: list[EventSpread] = Field(default_factory=list)
    llm: LLMStats
    stopped_early: str | None = None
    behaviour: BehaviourMeasures | None = Field(default=None, description="Absent in summaries of version 1.")
