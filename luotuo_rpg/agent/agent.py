"""One agent's cognition: perceive (sync, cheap) and think (async, asks the mind).

``perceive`` runs every tick for every awake agent and only decides whether
there is anything to think about; ``think`` runs concurrently with the other
agents' on the same frozen :class:`WorldView` and returns a :class:`Decision`.
An agent mutates only its own state; the world changes in the engine's act
phase.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from luotuo_rpg.agent.intents import ActionIntent, Decision
from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm.kinds import (
    ChatLine,
    ChatSummaryOutput,
    ChatSummaryRequest,
    ConverseOutput,
    ConverseRequest,
    EventBrief,
    ImportanceOutput,
    ImportanceRequest,
    InterviewOutput,
    InterviewRequest,
    MemoryRef,
    PersonaBrief,
    PlanBlockOutput,
    PlanBlockRequest,
    PlanDayOutput,
    PlanDayRequest,
    PlannedAction,
    ReactOutput,
    ReactRequest,
    ReflectInsightsOutput,
    ReflectInsightsRequest,
    ReflectQuestionsOutput,
    ReflectQuestionsRequest,
    RoutineBrief,
    ScheduleBlock,
)
from luotuo_rpg.llm.mind import Mind
from luotuo_rpg.llm.offline import emoji_for, is_sleep
from luotuo_rpg.memory.retrieval import RetrievalWeights
from luotuo_rpg.memory.stream import MemoryKind, MemoryNode, MemoryStream
from luotuo_rpg.world.clock import GameClock
from luotuo_rpg.world.spec import PLACE_SEPARATOR, PersonaSpec, WorldSpec
from luotuo_rpg.world.state import AgentSeen, WorldView

log = logging.getLogger(__name__)
DAY = 24 * 60
_CONVERSABLE = {"observation", "chat", "thought", "event"}
_TRIVIAL = ("睡觉", "走向", "发呆", "闲着", "sleep", "walking", "idle")


def _minute(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def room_of(address: str) -> str:
    return PLACE_SEPARATOR.join(address.split(PLACE_SEPARATOR)[:2])


def is_trivial(text: str) -> bool:
    return any(word in text for word in _TRIVIAL)


class PendingObservation(BaseModel):
    text: str
    tick: int
    kind: MemoryKind = "observation"
    trivial: bool = False


class AgentCounters(BaseModel):
    plans: int = 0
    block_plans: int = 0
    reflections: int = 0
    conversations: int = 0
    reactions: int = 0


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
    last_seen: dict[str, tuple[str, int]] = Field(default_factory=dict)
    pending: list[PendingObservation] = Field(default_factory=list)
    react_to: list[int] = Field(default_factory=list)
    react_cooldown: dict[str, int] = Field(default_factory=dict)
    pair_cooldown: dict[str, int] = Field(default_factory=dict)
    handled_conversations: list[int] = Field(default_factory=list)
    importance_since_reflection: float = 0.0
    replan: bool = False
    reflected_on: str | None = Field(default=None, description="Game date of the last reflection.")
    social_until: int = Field(default=0, description="Tick before which this agent starts no new encounter.")
    counters: AgentCounters = Field(default_factory=AgentCounters)


class Agent:
    def __init__(self, agent_id: int, persona: PersonaSpec, world: WorldSpec, config: SimConfig, clock: GameClock, dim: int):
        self.id = agent_id
        self.persona = persona
        self.name = persona.name
        self.config = config
        self.clock = clock
        self.language = world.world.language
        self.memory = MemoryStream(dim, clock.tick_seconds)
        self.state = AgentState()
        self.weights = RetrievalWeights(
            recency=config.w_recency,
            relevance=config.w_relevance,
            importance=config.w_importance,
            decay_per_hour=config.recency_decay,
        )
        self._world_events = world.events
        self._initial_memories_stored = False
        self.state.known_places = self._initial_places(world)
        for event in world.events:
            if persona.name in event.known_by:
                self.state.known_events.append(
                    EventBrief(what=event.what, where=event.where, when=event.when.strftime("%Y-%m-%d %H:%M"))
                )
        self.wake_minute = min(_minute(r.at) for r in persona.routine)

    def _initial_places(self, world: WorldSpec) -> list[str]:
        known: set[str] = {self.persona.home}
        for area in world.areas:
            if area.public:
                known.update(f"{area.name}/{room.name}" for room in area.rooms)
        known.update(room_of(item.place) for item in self.persona.routine)
        known.update(e.where for e in world.events if self.persona.name in e.known_by)
        return sorted(known)

    # --- persona views ------------------------------------------------------
    def brief(self, about: str | None = None, detail: str = "full") -> PersonaBrief:
        """The persona as a prompt sees it: "full" for the day plan and interviews,
        "voice" (catchphrases, the relationship with ``about``) for dialogue, "short"
        for the frequent small requests — every token here is paid many times a day."""
        persona = self.persona
        relationships = persona.relationships
        if about is not None:
            relationships = {about: relationships[about]} if about in relationships else {}
        if detail == "full":
            return PersonaBrief(
                name=self.name, age=persona.age, traits=persona.traits, background=persona.background,
                lifestyle=persona.lifestyle, catchphrases=persona.catchphrases, relationships=relationships,
            )
        if detail == "voice":
            return PersonaBrief(
                name=self.name, age=persona.age, traits=persona.traits, background=persona.background[:60],
                catchphrases=persona.catchphrases[:3], relationships=relationships,
            )
        return PersonaBrief(
            name=self.name, age=persona.age, traits=persona.traits[:3], background=persona.background[:40],
            relationships=relationships if about else {},
        )

    def one_line(self) -> str:
        return f"{self.name}，{self.persona.age}岁，{'、'.join(self.persona.traits)}。{self.persona.background[:60]}"

    @property
    def current_activity(self) -> str:
        return self.state.action.activity if self.state.action else ("睡觉" if self.state.asleep else "发呆")

    # --- perception (sync, every tick) ---------------------------------------
    def perceive(self, view: WorldView) -> bool:
        """Note what is new around the agent; True when there is something to think about."""
        me = view.agents[self.id]
        state = self.state
        if not state.asleep and me.conversation is None:
            now = view.tick
            repeat = self.clock.ticks_for_minutes(self.config.observe_repeat_minutes)
            room = view.places.room_of_tile(me.pos)
            if room and room not in state.known_places:
                state.known_places.append(room)
                state.known_places.sort()
            for other in view.near(self.id, self.config.vision_radius, self.config.attention_bandwidth):
                # Noted again only when they show up in another room or after a while:
                # the sub-steps of one activity are not news (and would cost a request each).
                where = room_of(other.place)
                seen = state.last_seen.get(other.name)
                if seen and seen[0] == where and now - seen[1] < repeat:
                    continue
                state.last_seen[other.name] = (where, now)
                text = self._describe(other)
                state.pending.append(PendingObservation(text=text, tick=now, trivial=is_trivial(other.action)))
                if self._may_react_to(other, now):
                    state.react_to.append(other.id)
            for event in view.events:
                key = f"event:{event.what}"
                if key in state.last_seen or room_of(event.where) != room:
                    continue
                state.last_seen[key] = ("", now)
                state.pending.append(PendingObservation(text=f"{event.what}（在{event.where}）", tick=now))
                self._learn_event(EventBrief(what=event.what, where=event.where, when=view.time))
        return self.wants_to_think(view)

    def _describe(self, other: AgentSeen) -> str:
        place = other.place.replace(PLACE_SEPARATOR, "")
        if self.language == "zh":
            return f"{other.name}在{place}{other.action}"
        return f"{other.name} is {other.action} at {other.place}"

    def _may_react_to(self, other: AgentSeen, now: int) -> bool:
        if other.asleep or other.conversation is not None or self.state.asleep:
            return False
        if now < self.state.social_until:
            return False
        if now < self.state.react_cooldown.get(other.name, -1):
            return False
        return now >= self.state.pair_cooldown.get(other.name, -1)

    def _learn_event(self, event: EventBrief) -> bool:
        if any(e.what == event.what for e in self.state.known_events):
            return False
        self.state.known_events.append(event)
        if event.where not in self.state.known_places:
            self.state.known_places.append(room_of(event.where))
            self.state.known_places.sort()
        return True

    def wants_to_think(self, view: WorldView) -> bool:
        state = self.state
        if state.plan_date != view.date and view.minute_of_day >= self.wake_minute:
            return True
        if state.plan_date is None:
            return False
        me = view.agents[self.id]
        if me.conversation is not None:
            conversation = view.conversations.get(me.conversation)
            return conversation is not None and conversation.turn == self.id and not conversation.ended
        if any(c.ended and self.id in c.members and c.id not in state.handled_conversations for c in view.conversations.values()):
            return True
        if view.tick >= state.action_end or state.replan:
            return True
        if state.react_to:
            return True
        return self._importance_due(view.tick)

    def _importance_due(self, now: int) -> bool:
        pending = [p for p in self.state.pending if not p.trivial]
        if not pending:
            return False
        oldest = min(p.tick for p in pending)
        waited = now - oldest >= self.clock.ticks_for_minutes(self.config.importance_max_wait_minutes)
        return len(pending) >= self.config.importance_batch or waited

    # --- think (async, concurrent across agents) -----------------------------
    async def think(self, view: WorldView, mind: Mind) -> Decision:
        decision = Decision(agent=self.id)
        state = self.state
        await self._store_initial(view, mind)
        if state.plan_date != view.date and view.minute_of_day >= self.wake_minute:
            await self._plan_day(view, mind, decision)
        me = view.agents[self.id]
        if me.conversation is not None:
            conversation = view.conversations.get(me.conversation)
            if conversation is not None and conversation.turn == self.id and not conversation.ended:
                await self._converse(view, mind, decision, conversation)
        else:
            await self._act_on_world(view, mind, decision)
        await self._flush_observations(view, mind)
        # Checked after every think, whatever it did, so reflection comes in the tick
        # the threshold is crossed.
        bedtime = (
            self.config.reflect_at_bedtime and state.asleep and state.reflected_on != view.date
            and state.importance_since_reflection > 0
        )
        if state.importance_since_reflection >= self.config.reflection_threshold or bedtime:
            await self.reflect(view, mind, decision)
        return decision

    async def _act_on_world(self, view: WorldView, mind: Mind, decision: Decision) -> None:
        state = self.state
        for conversation in view.conversations.values():
            if conversation.ended and self.id in conversation.members and conversation.id not in state.handled_conversations:
                await self._after_conversation(view, mind, conversation)
        if state.react_to and not state.asleep:
            await self._react(view, mind, decision)
        state.react_to = []
        if decision.talk_to is None and (view.tick >= state.action_end or state.replan) and state.plan_date is not None:
            await self._next_action(view, mind, decision)

    async def _store_initial(self, view: WorldView, mind: Mind) -> None:
        if self._initial_memories_stored:
            return
        self._initial_memories_stored = True
        if len(self.memory):
            return  # restored from a checkpoint
        texts = list(self.persona.memories)
        texts += [f"{other}嘛，{how}" for other, how in self.persona.relationships.items()]
        texts += [f"我知道：{e.what}，在{e.where}，{e.when}" for e in self.state.known_events]
        if texts:
            vectors = await mind.embed(texts)
            for text, vector in zip(texts, vectors):
                self.memory.add("thought", text, view.tick, 8 if text.startswith("我知道") else 5, vector)

    async def remember(self, kind: MemoryKind, text: str, tick: int, importance: int, mind: Mind, cites: list[int] | None = None) -> MemoryNode:
        vector = (await mind.embed([text]))[0]
        self.state.importance_since_reflection += importance
        return self.memory.add(kind, text, tick, importance, vector, cites)

    async def recall(
        self, query: str, view: WorldView, mind: Mind, k: int | None = None, kinds: set[str] | None = None
    ) -> list[MemoryRef]:
        vector = (await mind.embed([query]))[0]
        nodes = self.memory.retrieve(vector, view.tick, k or self.config.retrieve_k, self.weights, kinds=kinds)
        return [MemoryRef(id=n.id, text=n.text[:60]) for n in nodes]

    async def _flush_observations(self, view: WorldView, mind: Mind) -> None:
        state = self.state
        if not state.pending:
            return
        if not self._importance_due(view.tick):
            trivial = [p for p in state.pending if p.trivial]
            state.pending = [p for p in state.pending if not p.trivial]
            for item in trivial:
                await self.remember(item.kind, item.text, item.tick, self.config.trivial_importance, mind)
            return
        pending, state.pending = state.pending, []
        scored = [p for p in pending if not p.trivial]
        scores: list[int] = []
        if scored:
            request = ImportanceRequest(
                agent=self.name, time=view.time, language=self.language, persona=self.one_line(),
                observations=[p.text for p in scored],
            )
            output = await mind.ask(request)
            assert isinstance(output, ImportanceOutput)
            scores = output.scores
        score_of = iter(scores)
        for item in pending:
            importance = self.config.trivial_importance if item.trivial else next(score_of)
            await self.remember(item.kind, item.text, item.tick, importance, mind)

    async def _plan_day(self, view: WorldView, mind: Mind, decision: Decision) -> None:
        state = self.state
        reflections = [n.text for n in self.memory.recent(3, {"thought"}) if n.cites]
        request = PlanDayRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.brief(),
            routine=[RoutineBrief(at=r.at, do=r.do, place=r.place) for r in self.persona.routine],
            reflections=reflections, known_events=state.known_events,
            known_places=[p for p in state.known_places if p.count(PLACE_SEPARATOR) == 1],
        )
        output = await mind.ask(request)
        assert isinstance(output, PlanDayOutput)
        state.plan_date = view.date
        state.outline = output.outline
        state.schedule = sorted(output.schedule, key=lambda b: _minute(b.start))
        state.block_start = None
        state.queue = []
        state.action_end = view.tick
        state.asleep = False
        state.counters.plans += 1
        decision.plan_outline = output.outline
        await self.remember("plan", f"{view.date}的打算：" + "；".join(output.outline), view.tick, 5, mind)

    def _current_block(self, minute: int) -> tuple[ScheduleBlock, int, int]:
        """The schedule block at ``minute`` with its start and end (end may pass midnight)."""
        schedule = self.state.schedule
        starts = [_minute(b.start) for b in schedule]
        index = max((i for i, s in enumerate(starts) if s <= minute), default=len(schedule) - 1)
        start = starts[index]
        if index + 1 < len(schedule):
            end = starts[index + 1]
        else:
            end = self.wake_minute + DAY
        if start > minute:  # before the day's first block: still in last night's block
            start -= DAY
        return schedule[index], start, end

    async def _next_action(self, view: WorldView, mind: Mind, decision: Decision) -> None:
        state = self.state
        minute = view.minute_of_day
        block, start, end = self._current_block(minute)
        if state.replan or state.block_start != start or not state.queue:
            remaining = (end - minute) if end > minute else (end + DAY - minute)
            state.queue = await self._plan_block(view, mind, block, max(1, remaining))
            state.block_start = start
            state.replan = False
        if not state.queue:
            return
        action = state.queue.pop(0)
        state.action = action
        state.action_end = view.tick + self.clock.ticks_for_minutes(action.minutes)
        state.asleep = is_sleep(action.activity)
        decision.action = ActionIntent(
            activity=action.activity, place=action.place, emoji=action.emoji,
            minutes=action.minutes, object_state=action.object_state,
        )

    async def _plan_block(self, view: WorldView, mind: Mind, block: ScheduleBlock, minutes: int) -> list[PlannedAction]:
        if is_sleep(block.activity):
            # Sleep needs no decomposition and no request.
            return [PlannedAction(activity=block.activity, minutes=minutes, place=block.place, emoji="😴")]
        room = room_of(block.place)
        area = room.split(PLACE_SEPARATOR)[0]
        offered = [p for p in self.state.known_places if p.startswith(area + PLACE_SEPARATOR) and p.count(PLACE_SEPARATOR) == 1]
        offered += view.places.objects_in(room)
        offered += [e.where for e in self.state.known_events]
        offered = sorted(set(offered) | {block.place, room})
        memories = await self.recall(block.activity, view, mind, k=2, kinds=_CONVERSABLE)
        request = PlanBlockRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.brief(detail="short"),
            block=block, minutes=minutes, known_places=offered,
            known_events=[e for e in self.state.known_events if e.when[:10] == view.date],
            memories=memories, min_minutes=self.config.action_min_minutes, max_minutes=self.config.action_max_minutes,
        )
        output = await mind.ask(request)
        assert isinstance(output, PlanBlockOutput)
        self.state.counters.block_plans += 1
        return list(output.actions)

    async def _react(self, view: WorldView, mind: Mind, decision: Decision) -> None:
        state = self.state
        now = view.tick
        cooldown = self.clock.ticks_for_minutes(self.config.react_cooldown_minutes)
        other = view.agents[state.react_to[0]]
        for other_id in state.react_to:
            state.react_cooldown[view.agents[other_id].name] = now + cooldown
        memories = await self.recall(f"{other.name} {other.action}", view, mind, k=3, kinds=_CONVERSABLE)
        request = ReactRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.brief(about=other.name, detail="short"),
            current_action=self.current_activity, observation=self._describe(other),
            other=other.name, other_action=other.action, memories=memories,
        )
        output = await mind.ask(request)
        assert isinstance(output, ReactOutput)
        state.counters.reactions += 1
        if output.decision == "talk":
            decision.talk_to = other.id
            state.pair_cooldown[other.name] = now + self.clock.ticks_for_minutes(self.config.pair_cooldown_minutes)
        elif output.decision == "react" and output.new_activity:
            place = view.agents[self.id].place or self.persona.home
            action = PlannedAction(activity=output.new_activity, minutes=10, place=place, emoji=emoji_for(output.new_activity))
            state.queue.insert(0, action)
            state.action_end = now  # start it now

    async def _converse(self, view: WorldView, mind: Mind, decision: Decision, conversation) -> None:
        partner_id = conversation.members[0] if conversation.members[1] == self.id else conversation.members[1]
        partner = view.agents[partner_id].name
        topic = conversation.lines[-1].text if conversation.lines else partner
        memories = await self.recall(f"{partner} {topic}", view, mind, k=3, kinds=_CONVERSABLE)
        turns_left = self.config.conversation_max_turns - len(conversation.lines)
        request = ConverseRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.brief(about=partner, detail="voice"),
            partner=partner,
            history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
            memories=memories, known_events=self.state.known_events, turns_left=turns_left,
        )
        output = await mind.ask(request)
        assert isinstance(output, ConverseOutput)
        decision.say = output.line
        decision.end_conversation = output.end or turns_left <= 1

    async def _after_conversation(self, view: WorldView, mind: Mind, conversation) -> None:
        state = self.state
        state.handled_conversations.append(conversation.id)
        state.handled_conversations = state.handled_conversations[-50:]
        partner_id = conversation.members[0] if conversation.members[1] == self.id else conversation.members[1]
        partner = view.agents[partner_id].name
        state.pair_cooldown[partner] = view.tick + self.clock.ticks_for_minutes(self.config.pair_cooldown_minutes)
        state.social_until = view.tick + self.clock.ticks_for_minutes(self.config.social_cooldown_minutes)
        state.counters.conversations += 1
        if not conversation.lines:
            return
        heard = " ".join(line.text for line in conversation.lines if line.speaker != self.name)
        for event in self._world_events:
            if event.what in heard:
                self._learn_event(EventBrief(what=event.what, where=event.where, when=event.when.strftime("%Y-%m-%d %H:%M")))
        request = ChatSummaryRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.one_line(), partner=partner,
            history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
        )
        output = await mind.ask(request)
        assert isinstance(output, ChatSummaryOutput)
        state.pending.append(PendingObservation(text=output.summary, tick=view.tick, kind="chat"))
        # The conversation interrupted the plan: re-plan the rest of the block around it.
        state.replan = True

    async def reflect(self, view: WorldView, mind: Mind, decision: Decision | None = None) -> list[str]:
        state = self.state
        state.importance_since_reflection = 0.0
        state.reflected_on = view.date
        recent = self.memory.recent(15)
        request = ReflectQuestionsRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.one_line(),
            memories=[MemoryRef(id=n.id, text=n.text[:80]) for n in recent], count=self.config.reflection_questions,
        )
        questions = await mind.ask(request)
        assert isinstance(questions, ReflectQuestionsOutput)
        thoughts: list[str] = []
        for question in questions.questions:
            memories = await self.recall(question, view, mind)
            if not memories:
                continue
            ask = ReflectInsightsRequest(
                agent=self.name, time=view.time, language=self.language, persona=self.one_line(),
                question=question, memories=memories, max_insights=self.config.insights_per_question,
            )
            insights = await mind.ask(ask)
            assert isinstance(insights, ReflectInsightsOutput)
            for insight in insights.insights:
                vector = (await mind.embed([insight.text]))[0]
                self.memory.add("thought", insight.text, view.tick, 6, vector, insight.cites)
                thoughts.append(insight.text)
        state.counters.reflections += 1
        if decision is not None:
            decision.reflected = thoughts
        return thoughts

    async def interview(self, question: str, view: WorldView, mind: Mind) -> str:
        memories = await self.recall(question, view, mind)
        request = InterviewRequest(
            agent=self.name, time=view.time, language=self.language, persona=self.brief(),
            current_action=self.current_activity, question=question, memories=memories,
        )
        output = await mind.ask(request)
        assert isinstance(output, InterviewOutput)
        return output.answer

    def knows_event(self, what: str) -> bool:
        return any(e.what == what for e in self.state.known_events) or self.memory.contains(what)

    # --- checkpoints ----------------------------------------------------------
    def get_state(self) -> dict:
        # The flag travels with the state: an agent checkpointed before it first woke
        # (empty stream) must still store its persona memories after a restore.
        return {
            "state": self.state.model_dump(mode="json"),
            "memory": self.memory.get_state(),
            "initial_memories_stored": self._initial_memories_stored,
        }

    def set_state(self, data: dict) -> None:
        self.state = AgentState.model_validate(data["state"])
        self.memory.set_state(data["memory"])
        self._initial_memories_stored = bool(data.get("initial_memories_stored", len(self.memory) > 0))

