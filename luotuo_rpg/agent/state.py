"""What an agent knows besides its memory stream, and the small rules shared by its cognition."""

from __future__ import annotations

from pydantic import BaseModel, Field

from luotuo_rpg.llm.kinds import EventBrief, PlannedAction, ScheduleBlock
from luotuo_rpg.memory.stream import MemoryKind
from luotuo_rpg.phrases import phrases

# Memory kinds worth recalling in dialogue and planning (plans are not).
CONVERSABLE = {"observation", "chat", "thought", "event"}


def is_trivial(text: str, language: str) -> bool:
    return any(word in text for word in phrases(language, "trivial_words"))


class PendingObservation(BaseModel):
    text: str
    tick: int
    kind: MemoryKind = "observation"
    trivial: bool = False


class HeardEvent(BaseModel):
    what: str
    told_by: str | None = None


class AgentCounters(BaseModel):
    plans: int = 0
    block_plans: int = 0
    reflections: int = 0
    conversations: int = 0
    reactions: int = 0


class PlannedBlock(BaseModel):
    """The next schedule block, decomposed before it begins (plan-ahead)."""

    date: str
    start: int = Field(description="Minute of day the block begins.")
    queue: list[PlannedAction]


class AgentState(BaseModel):
    """Everything an agent knows besides its memory stream (checkpointed as is)."""

    plan_date: str | None = None
    outline: list[str] = Field(default_factory=list)
    schedule: list[ScheduleBlock] = Field(default_factory=list)
    block_start: int | None = Field(default=None, description="Minute of day of the block being worked through.")
    queue: list[PlannedAction] = Field(default_factory=list)
    action: PlannedAction | None = None
    action_end: int = 0
    asleep: bool = True
    known_places: list[str] = Field(default_factory=list)
    known_events: list[EventBrief] = Field(default_factory=list)
    to_decide: list[HeardEvent] = Field(default_factory=list, description="Events heard of, go or not still to decide.")
    attending: list[str] = Field(default_factory=list, description="Events (their 'what') this agent means to go to.")
    declined: list[str] = Field(default_factory=list)
    heard_from: dict[str, str] = Field(default_factory=dict, description="Event 'what' → who told this agent.")
    said_to: dict[str, list[str]] = Field(default_factory=dict, description="Lines said to each partner on said_on.")
    said_on: str | None = None
    last_seen: dict[str, tuple[str, int]] = Field(default_factory=dict)
    pending: list[PendingObservation] = Field(default_factory=list)
    react_to: list[int] = Field(default_factory=list)
    react_cooldown: dict[str, int] = Field(default_factory=dict)
    react_gap_until: int = Field(default=0, description="Tick before which nobody new is weighed (react_gap_minutes).")
    pair_cooldown: dict[str, int] = Field(default_factory=dict)
    handled_conversations: list[int] = Field(default_factory=list)
    importance_since_reflection: float = 0.0
    replan: bool = False
    reflected_on: str | None = Field(default=None, description="Day (as planned on waking) of the last reflection.")
    social_until: int = Field(default=0, description="Tick before which this agent starts no new encounter.")
    counters: AgentCounters = Field(default_factory=AgentCounters)
    ahead: PlannedBlock | None = Field(
        default=None, description="Written by plan-ahead only; used when its block begins."
    )
    still_at: tuple[int, int] | None = Field(
        default=None, description="Tile stood on since still_since, out of conversation, outside still_for."
    )
    still_for: str = Field(default="", description="The room of the action one stands still outside of.")
    still_since: int = 0
    full_rooms: dict[str, int] = Field(
        default_factory=dict, description="Room found full → tick until which plans leave it out."
    )
