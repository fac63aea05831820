"""One agent's cognition: perceive (sync, cheap) and think (async, asks the mind).

``perceive`` runs every tick for every awake agent and only decides whether
there is anything to think about; ``think`` runs concurrently with the other
agents' on the same frozen :class:`WorldView` and returns a :class:`Decision`.
An agent mutates only its own state; the world changes in the engine's act
phase. The steps of thinking live beside this module, one idea each:
``perception`` (noticing, importance), ``planning``, ``social`` (reactions,
conversations) and ``reflection``; the agent's state is in ``state``.
"""

from __future__ import annotations

from luotuo_rpg.agent import attending, perception, planning, reflection, social
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.agent.state import AgentState
from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    EventBrief,
    InterviewRequest,
    MemoryRef,
    PersonaBrief,
)
from luotuo_rpg.memory.retrieval import RetrievalWeights
from luotuo_rpg.memory.stream import MemoryKind, MemoryNode, MemoryStream
from luotuo_rpg.phrases import phrase, width
from luotuo_rpg.world.clock import GameClock, format_label, minute_of
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import PersonaSpec, WorldSpec
from luotuo_rpg.world.state import WorldView


class Agent:
    def __init__(
        self, agent_id: int, persona: PersonaSpec, world: WorldSpec, config: SimConfig, clock: GameClock, dim: int
    ):
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
        self.world_events = world.events
        self._initial_memories_stored = False
        self.state.known_places = self._initial_places(world)
        for event in world.events:
            if persona.name in event.known_by:
                self.state.known_events.append(
                    EventBrief(
                        what=event.what,
                        where=event.where,
                        when=format_label(event.when),
                        minutes=event.minutes,
                    )
                )
                self.state.attending.append(event.what)  # told at the start: invited, and it is in their day
        self.wake_minute = min(minute_of(r.at) for r in persona.routine)

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
                name=self.name,
                age=persona.age,
                traits=persona.traits,
                background=persona.background,
                lifestyle=persona.lifestyle,
                catchphrases=persona.catchphrases,
                relationships=relationships,
            )
        if detail == "voice":
            return PersonaBrief(
                name=self.name,
                age=persona.age,
                traits=persona.traits,
                background=persona.background[: width(self.language, self.config.persona_background_chars)],
                catchphrases=persona.catchphrases[: self.config.voice_catchphrases],
                relationships=relationships,
            )
        return PersonaBrief(
            name=self.name,
            age=persona.age,
            traits=persona.traits[: self.config.brief_traits],
            background=persona.background[: width(self.language, self.config.brief_background_chars)],
            relationships=relationships if about else {},
        )

    def one_line(self) -> str:
        traits = phrase(self.language, "traits_separator").join(self.persona.traits)
        persona = self.persona
        return phrase(
            self.language,
            "one_line",
            name=self.name,
            age=persona.age,
            traits=traits,
            background=persona.background[: width(self.language, self.config.persona_background_chars)],
        )

    @property
    def current_activity(self) -> str:
        if self.state.action:
            return self.state.action.activity
        return phrase(self.language, "sleeping" if self.state.asleep else "idle")

    # --- perception (sync, every tick) ---------------------------------------
    def perceive(self, view: WorldView) -> bool:
        """Note what is new around the agent; True when there is something to think about."""
        return perception.perceive(self, view)

    def wants_to_think(self, view: WorldView) -> bool:
        state = self.state
        if state.plan_date != view.date and view.minute_of_day >= self.wake_minute:
            return True
        if state.plan_date is None:
            return False
        if view.agents[self.id].conversation is not None:
            return False  # the talk was written when it began: its lines are being said
        if any(
            c.ended and self.id in c.members and c.id not in state.handled_conversations
            for c in view.conversations.values()
        ):
            return True
        if view.tick >= state.action_end or state.replan:
            return True
        if state.react_to or state.to_decide:
            return True
        return perception.importance_due(self, view.tick)

    # --- think (async, concurrent across agents) -----------------------------
    async def think(self, view: WorldView, mind: Mind, partner: Agent | None = None) -> Decision:
        """``partner``: the one this agent is about to weigh reacting to, as it was when the thought
        began (read for its side of a talk, never changed back)."""
        decision = Decision(agent=self.id)
        state = self.state
        await self._store_initial(view, mind)
        if state.plan_date != view.date and view.minute_of_day >= self.wake_minute:
            await planning.plan_day(self, view, mind, decision)
        if view.agents[self.id].conversation is None:
            await self._act_on_world(view, mind, decision, partner)
        if not self.remembers_in_background(view):
            await perception.flush_observations(self, view, mind)
        if not self.config.pipeline_thoughts and self.wants_to_reflect(view):
            # The old barrier (kept for comparison) reflects at the end of the think that crossed the threshold.
            await self.reflect(view, mind, decision)
        return decision

    # --- remembering (in the background, beside thinking) -----------------------
    def remembers_in_background(self, view: WorldView, stock_taking: bool = False) -> bool:
        """When observations are due to be scored, the scoring runs as a thought of its own so the
        decision does not wait for it (only when thinking takes game time: see sim.thoughts). They
        are also due when the town takes stock before the hour (``stock_taking``:
        ``SimConfig.score_before_the_hour``)."""
        if not self.config.pipeline_thoughts or not self.state.pending:
            return False
        if stock_taking and perception.has_observations_to_score(self):
            return True
        return perception.importance_due(self, view.tick)

    async def remember_in_background(self, view: WorldView, mind: Mind) -> Decision:
        # Started because scoring was due (at the start, on this very state): score all that was handed over.
        await perception.flush_observations(self, view, mind, score=True)
        return Decision(agent=self.id)

    # --- reflection (in the background, beside thinking) ------------------------
    def wants_to_reflect(self, view: WorldView) -> bool:
        """Checked every tick on what is committed, so reflection starts in the tick after the
        threshold is crossed; it runs beside the agent's other thoughts (see sim.thoughts)."""
        state = self.state
        # The day the agent woke into, not the calendar: asleep past midnight is still the same night.
        bedtime = (
            self.config.reflect_at_bedtime
            and state.asleep
            and state.plan_date is not None
            and state.reflected_on != state.plan_date
            and state.importance_since_reflection > 0
        )
        return state.importance_since_reflection >= self.config.reflection_threshold or bedtime

    async def reflect_in_background(self, view: WorldView, mind: Mind) -> Decision:
        decision = Decision(agent=self.id)
        await self.reflect(view, mind, decision)
        return decision

    async def _act_on_world(self, view: WorldView, mind: Mind, decision: Decision, partner: Agent | None) -> None:
        state = self.state
        for conversation in view.conversations.values():
            if (
                conversation.ended
                and self.id in conversation.members
                and conversation.id not in state.handled_conversations
            ):
                social.after_conversation(self, view, conversation)
        if state.to_decide:
            await attending.decide(self, view, mind, decision)
        if state.react_to and not state.asleep:
            await social.react(self, view, mind, decision, partner)
        state.react_to = []
        if decision.talk_to is None and (view.tick >= state.action_end or state.replan) and state.plan_date is not None:
            await planning.next_action(self, view, mind, decision)

    async def _store_initial(self, view: WorldView, mind: Mind) -> None:
        if self._initial_memories_stored:
            return
        self._initial_memories_stored = True
        if len(self.memory):
            return  # restored from a checkpoint
        # (text, importance): what the persona knows of an event matters more than the rest.
        language = self.language
        known, told = self.config.known_importance, self.config.known_event_importance
        initial = [(text, known) for text in self.persona.memories]
        for other, how in self.persona.relationships.items():
            initial.append((phrase(language, "relationship_memory", other=other, how=how), known))
        for e in self.state.known_events:
            initial.append((phrase(language, "known_event_memory", what=e.what, where=e.where, when=e.when), told))
        if initial:
            vectors = await mind.embed([text for text, _ in initial])
            for (text, importance), vector in zip(initial, vectors):
                self.memory.add("thought", text, view.tick, importance, vector)

    async def remember(
        self, kind: MemoryKind, text: str, tick: int, importance: int, mind: Mind, cites: list[int] | None = None
    ) -> MemoryNode:
        vector = (await mind.embed([text]))[0]
        self.state.importance_since_reflection += importance
        return self.memory.add(kind, text, tick, importance, vector, cites)

    async def recall(
        self, query: str, view: WorldView, mind: Mind, k: int | None = None, kinds: set[str] | None = None
    ) -> list[MemoryRef]:
        vector = (await mind.embed([query]))[0]
        nodes = self.memory.retrieve(vector, view.tick, k or self.config.retrieve_k, self.weights, kinds=kinds)
        cut = width(self.language, self.config.recalled_memory_chars)
        return [MemoryRef(id=n.id, text=n.text[:cut], kind=n.kind) for n in nodes]

    async def reflect(self, view: WorldView, mind: Mind, decision: Decision | None = None) -> list[str]:
        return await reflection.reflect(self, view, mind, decision)

    async def interview(self, question: str, view: WorldView, mind: Mind) -> str:
        memories = await self.recall(question, view, mind)
        request = InterviewRequest(
            agent=self.name,
            time=view.time,
            language=self.language,
            persona=self.brief(),
            current_action=self.current_activity,
            question=question,
            memories=memories,
        )
        output = await mind.ask(request)
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
