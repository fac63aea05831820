"""Request kinds: what each model call is given, and the output it must return.

Each kind pairs a request model (the context a prompt template renders) with
an output model (what the answer must parse into), plus ``check``: the
validation that needs the request (known places, cited ids, durations).
Checks raise :class:`OutputRejected` with a message the repair prompt quotes.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from luotuo_rpg.phrases import width
from luotuo_rpg.world.clock import DAY_MINUTES, hhmm, minute_of
from luotuo_rpg.world.places import room_of

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
REFUSAL_MARKERS = (
    "作为一个AI",
    "作为一个人工智能",
    "作为AI语言模型",
    "As an AI",
    "as an AI language model",
    "I cannot",
    "我无法",
)


class OutputRejected(ValueError):
    """The answer parsed but does not fit the request."""


def cap(chars: int) -> dict[str, Any]:
    """A free string's length bound in the answer's JSON Schema (``llm/schemas.py``); not a
    validation rule, since an over-long answer is clipped (``llm/fixups.py``), not refused."""
    return {"type": "string", "maxLength": chars}


def optional_cap(chars: int) -> dict[str, Any]:
    """:func:`cap` for a ``str | None`` field."""
    return {"anyOf": [cap(chars), {"type": "null"}]}


def require_text(text: str, language: str, what: str) -> None:
    if not text.strip():
        raise OutputRejected(f"{what} is empty")
    if any(marker in text for marker in REFUSAL_MARKERS):
        raise OutputRejected(f"{what} is a refusal; answer in character")
    if language == "zh" and not _CJK.search(text):
        raise OutputRejected(f"{what} must be written in Chinese (请用中文)")
    # Mostly Chinese, not merely a Chinese name in an English line.
    if language == "en" and len(_CJK.findall(text)) > len(_LATIN.findall(text)):
        raise OutputRejected(f"{what} must be written in English")


class PersonaBrief(BaseModel):
    name: str
    age: int
    traits: list[str]
    background: str
    lifestyle: str = ""
    catchphrases: list[str] = Field(default_factory=list)
    relationships: dict[str, str] = Field(default_factory=dict)


class MemoryRef(BaseModel):
    id: int
    text: str
    kind: str = Field(
        default="", description="What the memory is: observation (seen), chat (heard), thought, plan or event."
    )


class EventBrief(BaseModel):
    what: str
    where: str
    when: str
    minutes: int = Field(default=60, ge=1, le=24 * 60, description="How long it runs.")


class RoutineBrief(BaseModel):
    """A routine item, under the keys a schedule block uses: a model copies the keys it is shown."""

    start: str
    activity: str
    place: str


Out = TypeVar("Out", bound=BaseModel)


class Request(BaseModel, Generic[Out]):
    """A request kind's input; ``Out`` is its output model, so ``Mind.ask`` returns that type.
    ``output`` names the same class at run time (a ClassVar cannot hold a type variable)."""

    kind: ClassVar[str]
    output: ClassVar[type[BaseModel]]
    max_tokens: ClassVar[int] = 300
    agent: str
    time: str = Field(description="Game date-time, 'YYYY-MM-DD HH:MM'.")
    language: str = "zh"

    def check(self, output: Out) -> Out:
        return output


# --- importance -------------------------------------------------------------


class ImportanceOutput(BaseModel):
    scores: list[int] = Field(description="One 1–10 score per observation, in order.")


class ImportanceRequest(Request[ImportanceOutput]):
    kind: ClassVar[str] = "importance"
    output: ClassVar[type[BaseModel]] = ImportanceOutput
    max_tokens: ClassVar[int] = 60
    persona: str = Field(description="One line: who is judging.")
    observations: list[str]

    def check(self, output: ImportanceOutput) -> ImportanceOutput:
        if len(output.scores) != len(self.observations):
            raise OutputRejected(f"expected {len(self.observations)} scores, got {len(output.scores)}")
        output.scores = [min(10, max(1, s)) for s in output.scores]
        return output


# --- planning ---------------------------------------------------------------


class ScheduleBlock(BaseModel):
    start: str = Field(description="HH:MM")
    activity: str = Field(json_schema_extra=cap(60))
    place: str


class PlanDayOutput(BaseModel):
    wake_up: str = Field(description="HH:MM")
    outline: list[str] = Field(min_length=1, max_length=8, json_schema_extra={"items": cap(60)})
    # A day from waking to sleeping in about hourly blocks.
    schedule: list[ScheduleBlock] = Field(min_length=1, json_schema_extra={"maxItems": 24})


_HHMM = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


class PlanDayRequest(Request[PlanDayOutput]):
    kind: ClassVar[str] = "plan_day"
    output: ClassVar[type[BaseModel]] = PlanDayOutput
    max_tokens: ClassVar[int] = 700
    persona: PersonaBrief
    routine: list[RoutineBrief]
    reflections: list[str] = Field(default_factory=list)
    known_events: list[EventBrief] = Field(default_factory=list)
    known_places: list[str]

    def check(self, output: PlanDayOutput) -> PlanDayOutput:
        if not _HHMM.match(output.wake_up):
            raise OutputRejected(f"wake_up must be HH:MM, got {output.wake_up!r}")
        known = set(self.known_places)
        for block in output.schedule:
            if not _HHMM.match(block.start):
                raise OutputRejected(f"schedule start must be HH:MM, got {block.start!r}")
            require_text(block.activity, self.language, "activity")
            if room_of(block.place) not in known:
                raise OutputRejected(f"unknown place {block.place!r}; choose one of known_places")
        return output


class PlannedAction(BaseModel):
    activity: str = Field(json_schema_extra=cap(60))
    minutes: int = Field(ge=1)
    place: str = Field(description="area/room or area/room/object, one of known_places")
    emoji: str = Field(default="🙂", max_length=8)
    object_state: str | None = Field(
        default=None, description="New state of the object used, if any.", json_schema_extra=optional_cap(20)
    )


class PlanBlockOutput(BaseModel):
    actions: list[PlannedAction] = Field(min_length=1)


class PlanBlockRequest(Request[PlanBlockOutput]):
    kind: ClassVar[str] = "plan_block"
    output: ClassVar[type[BaseModel]] = PlanBlockOutput
    max_tokens: ClassVar[int] = 500
    persona: PersonaBrief
    block: ScheduleBlock
    minutes: int
    known_places: list[str]
    known_events: list[EventBrief] = Field(default_factory=list)
    memories: list[MemoryRef] = Field(default_factory=list)
    min_minutes: int = 5
    max_minutes: int = 15
    full_places: list[str] = Field(
        default_factory=list,
        description="Rooms this agent just found with no room to stand (the block's own among them): go elsewhere.",
    )

    def check(self, output: PlanBlockOutput) -> PlanBlockOutput:
        known = set(self.known_places)
        for action in output.actions:
            require_text(action.activity, self.language, "activity")
            if action.place not in known:
                raise OutputRejected(f"unknown place {action.place!r}; choose one of known_places")
        output.actions = fit_durations(output.actions, self.minutes, self.min_minutes, self.max_minutes)
        return output


def fit_durations(actions: list[PlannedAction], total: int, lo: int, hi: int) -> list[PlannedAction]:
    """Make durations add up to ``total`` within [lo, hi] each (the last may be shorter
    when total is not a multiple): models get the sum wrong often, and this is a
    repair we can do without asking again."""
    if total <= 0:
        return actions[:1]
    claimed = sum(a.minutes for a in actions) or 1
    out: list[PlannedAction] = []
    remaining = total
    for index, action in enumerate(actions):
        if remaining <= 0:
            break
        share = round(action.minutes * total / claimed)
        minutes = max(lo, min(hi, share))
        if index == len(actions) - 1:
            minutes = remaining
        minutes = min(minutes, remaining)
        out.append(action.model_copy(update={"minutes": minutes}))
        remaining -= minutes
    # Left-over time continues the last action in ≤ hi pieces, so nothing is lost.
    while out[-1].minutes > hi:
        last = out.pop()
        out.append(last.model_copy(update={"minutes": hi}))
        out.append(last.model_copy(update={"minutes": last.minutes - hi}))
    return out


# --- reaction and conversation ---------------------------------------------


# What a talk's answer may hold: a line as long as news with its place and time (English runs
# several letters to a Chinese character), a summary of a sentence or two. ``ReactRequest.check``
# clips to the same lengths as the schema, so an answer reads the same with a schema or without.
LINE_CHARS = 90
SUMMARY_CHARS = 120


class ChatLine(BaseModel):
    speaker: str
    text: str = Field(json_schema_extra=cap(LINE_CHARS))


class TalkSide(BaseModel):
    """One of the two in a talk, as the prompt sees them: who they are, what they were doing,
    what they remember of the other, the news they may tell, what they already said today."""

    persona: PersonaBrief
    doing: str = ""
    memories: list[MemoryRef] = Field(default_factory=list)
    known_events: list[EventBrief] = Field(default_factory=list, description="News this side may tell the other.")
    said_before: list[str] = Field(
        default_factory=list, max_length=12, description="Lines already said to the other today: say something new."
    )


class ReactOutput(BaseModel):
    # llm/schemas.py turns this into one schema branch per decision: `react` carries its new
    # activity, `talk` the whole talk, `continue` neither; `talk` is offered only when someone is there.
    variants: ClassVar[dict[str, Any]] = {
        "field": "decision",
        "needs": {"continue": [], "react": ["new_activity"], "talk": ["lines", "summary"]},
        "allowed": lambda request: ["continue", "react"] + (["talk"] if getattr(request, "them", None) else []),
    }
    # The reason comes first, so a model writes what it thinks before it decides (and a small
    # model, which picks the first option it was shown, reads the prompt's order: talk first).
    reason: str = Field(default="", json_schema_extra=cap(60))
    decision: Literal["continue", "react", "talk"]
    new_activity: str | None = Field(default=None, json_schema_extra=optional_cap(60))
    lines: list[ChatLine] = Field(default_factory=list, description="The talk, when the decision is talk.")
    summary: str | None = Field(
        default=None,
        json_schema_extra=optional_cap(SUMMARY_CHARS),
        description="One sentence on what the talk was about, keeping any news told.",
    )


class ReactRequest(Request[ReactOutput]):
    """Noticing someone: go on, do something else, or go over and talk — and then the whole talk,
    in the same answer, as the reference writes one (``agent_chat_v2``). Asked apart, deciding and
    talking were two round trips in a row on every talk; line by line, a talk was six more."""

    kind: ClassVar[str] = "react"
    output: ClassVar[type[BaseModel]] = ReactOutput
    max_tokens: ClassVar[int] = 450
    observation: str
    other: str | None = Field(default=None, description="Name of the person perceived, if any.")
    other_action: str | None = None
    me: TalkSide = Field(description="The one who notices (`agent`), and who speaks first if they talk.")
    them: TalkSide | None = Field(default=None, description="The other, when a talk is possible.")
    max_lines: int = Field(default=6, ge=2, description="Lines in the talk, both sides together.")

    @property
    def partner(self) -> str | None:
        """Whom a talk would be with (the schema's speakers, the fixups' names)."""
        return self.other if self.them is not None else None

    def check(self, output: ReactOutput) -> ReactOutput:
        if output.decision == "talk" and self.partner is None:
            raise OutputRejected("decision 'talk' needs a person to talk to; use continue or react")
        if output.decision == "react":
            require_text(output.new_activity or "", self.language, "new_activity")
        if output.decision != "talk":
            output.lines, output.summary = [], None
            return output
        names = (self.agent, self.partner)
        lines: list[ChatLine] = []
        for line in output.lines[: self.max_lines]:
            text = line.text[: width(self.language, LINE_CHARS)].strip()
            if any(text == said.text for said in lines):
                break  # a small model that loops has said what it had to say: the talk ends there
            # A name written short or with a title is snapped to the nearest of the two (llm/fixups.py).
            if line.speaker not in names:
                raise OutputRejected(f"speaker {line.speaker!r} is neither {self.agent} nor {self.partner}")
            require_text(text, self.language, "text")
            lines.append(ChatLine(speaker=line.speaker, text=text))
        if not lines:
            raise OutputRejected("decision 'talk' needs the talk: lines, each with speaker and text")
        require_text(output.summary or "", self.language, "summary")
        output.lines = lines
        output.summary = (output.summary or "")[: width(self.language, SUMMARY_CHARS)].strip()
        return output


# --- reflection -------------------------------------------------------------


class ReflectQuestionsOutput(BaseModel):
    questions: list[str] = Field(min_length=1, max_length=5, json_schema_extra={"items": cap(60)})


class ReflectQuestionsRequest(Request[ReflectQuestionsOutput]):
    kind: ClassVar[str] = "reflect_questions"
    output: ClassVar[type[BaseModel]] = ReflectQuestionsOutput
    max_tokens: ClassVar[int] = 150
    persona: str
    memories: list[MemoryRef]
    count: int = 2

    def check(self, output: ReflectQuestionsOutput) -> ReflectQuestionsOutput:
        for question in output.questions:
            require_text(question, self.language, "question")
        output.questions = output.questions[: self.count]
        return output


class Insight(BaseModel):
    text: str = Field(json_schema_extra=cap(100))
    cites: list[int] = Field(default_factory=list, description="Ids of the memories it rests on.")


class ReflectInsightsOutput(BaseModel):
    insights: list[Insight] = Field(min_length=1)


class ReflectInsightsRequest(Request[ReflectInsightsOutput]):
    kind: ClassVar[str] = "reflect_insights"
    output: ClassVar[type[BaseModel]] = ReflectInsightsOutput
    max_tokens: ClassVar[int] = 300
    persona: str
    question: str
    memories: list[MemoryRef]
    max_insights: int = 3

    def check(self, output: ReflectInsightsOutput) -> ReflectInsightsOutput:
        ids = {m.id for m in self.memories}
        for insight in output.insights:
            require_text(insight.text, self.language, "insight")
            unknown = [c for c in insight.cites if c not in ids]
            if unknown:
                raise OutputRejected(f"insight cites ids {unknown} that are not among the memories given")
            if not insight.cites:
                raise OutputRejected("every insight must cite at least one memory id")
        output.insights = output.insights[: self.max_insights]
        return output


# --- interview --------------------------------------------------------------


class InterviewOutput(BaseModel):
    answer: str = Field(json_schema_extra=cap(200))


class InterviewRequest(Request[InterviewOutput]):
    kind: ClassVar[str] = "interview"
    output: ClassVar[type[BaseModel]] = InterviewOutput
    max_tokens: ClassVar[int] = 250
    persona: PersonaBrief
    current_action: str
    question: str
    memories: list[MemoryRef] = Field(default_factory=list)

    def check(self, output: InterviewOutput) -> InterviewOutput:
        require_text(output.answer, self.language, "answer")
        return output


# --- deciding whether to go to an event ----------------------------------------


class AttendOutput(BaseModel):
    decision: Literal["go", "skip"]
    reason: str = Field(default="", max_length=80, description="One short sentence, in character.")
    minutes: int = Field(default=60, ge=0, le=24 * 60, description="How long to stay if going.")


class AttendRequest(Request[AttendOutput]):
    kind: ClassVar[str] = "attend"
    output: ClassVar[type[BaseModel]] = AttendOutput
    max_tokens: ClassVar[int] = 100
    persona: PersonaBrief = Field(description="Relationships: with the people the event names and the one who told.")
    event: EventBrief
    told_by: str | None = Field(default=None, description="Who told the agent, if someone did.")
    planned: list[ScheduleBlock] = Field(default_factory=list, description="What the agent had planned meanwhile.")

    def check(self, output: AttendOutput) -> AttendOutput:
        if output.decision == "go":
            output.minutes = min(max(output.minutes, 1), self.event.minutes)
        return output


def insert_event(
    schedule: list[ScheduleBlock], start: str, minutes: int, activity: str, place: str
) -> list[ScheduleBlock]:
    """The schedule with an event block over [start, start + minutes); what was planned then is dropped,
    and the block that would have been under way when the event ends resumes at its end. Idempotent."""
    at = minute_of(start)
    end = at + minutes
    ordered = sorted(schedule, key=lambda b: minute_of(b.start))
    resume = next((b for b in reversed(ordered) if minute_of(b.start) <= end), None)
    kept = [b for b in ordered if not at <= minute_of(b.start) < end]
    out = kept + [ScheduleBlock(start=start, activity=activity, place=place)]
    if end < DAY_MINUTES and resume is not None and not any(minute_of(b.start) == end for b in kept):
        out.append(resume.model_copy(update={"start": hhmm(end)}))
    return sorted(out, key=lambda b: minute_of(b.start))


REQUEST_KINDS: dict[str, type[Request[Any]]] = {
    cls.kind: cls
    for cls in (
        ImportanceRequest,
        PlanDayRequest,
        PlanBlockRequest,
        ReactRequest,
        ReflectQuestionsRequest,
        ReflectInsightsRequest,
        InterviewRequest,
        AttendRequest,
    )
}
