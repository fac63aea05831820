"""Thoughts in flight: each decision is applied a fixed game time after its thought starts.

A thought that starts at tick *t* reads the snapshot of *t* and a private draft of its
agent (:mod:`luotuo_rpg.agent.draft`). Every request it asks has a delay in game time
by kind (``SimConfig.think_delays``); its decision is due at *t* plus the longest delay
of the kinds it asked, or at *t* itself if it asked nothing. The due tick therefore
depends only on the answers, never on how long they took, and while the thought runs
its *lower bound* (start + longest delay asked so far) is known at every moment.

The engine runs ahead: in each tick it waits only for thoughts whose lower bound has
been reached and that are not finished — usually the few that have not yet asked
their first request, which takes no network time at all, and those whose answer is
due now and has not come. Finished thoughts are committed at their due tick in
agent-id order. An agent that is thinking starts no second thought; it carries on
with its action and keeps perceiving, into its live state.

A checkpoint holds each thought in flight as its start (the tick's snapshot and the
agent as it was) and the answers it has received; on restore the thought runs again
from its start, those answers replayed in order without asking anyone, then goes on
asking the model. A resumed run therefore writes the frames an uninterrupted one would.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from luotuo_rpg.agent import draft as drafts
from luotuo_rpg.agent import plan_ahead
from luotuo_rpg.agent.agent import Agent
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.llm import LLMStats, Mind
from luotuo_rpg.llm.kinds import Request
from luotuo_rpg.world.state import (
    ActiveEvent,
    AgentSeen,
    ChatTurn,
    ConversationView,
    WorldState,
    WorldView,
)


class Answer(BaseModel):
    kind: str
    output: dict[str, Any]


Slot = Literal["think", "remember", "plan", "reflect"]
_ORDER = {"think": 0, "remember": 1, "plan": 2, "reflect": 3}


class ThoughtRecord(BaseModel):
    """A thought in flight as a checkpoint keeps it."""

    agent: int
    slot: Slot = "think"
    start: int
    not_before: int = Field(default=0, description="Due no earlier than this tick (plan-ahead: when its block begins).")
    start_state: dict[str, Any]
    partner: int | None = Field(default=None, description="Whom the thought may talk with (their side is read).")
    partner_state: dict[str, Any] | None = Field(default=None, description="That partner as the thought began.")
    answers: list[Answer]


class ReplayMismatch(RuntimeError):
    """A restored thought asked something else than it had asked before the checkpoint."""


class Thought:
    def __init__(
        self,
        agent: Agent,
        slot: Slot,
        view: WorldView,
        start_state: dict[str, Any],
        delays: dict[str, int],
        unknown: int,
        not_before: int = 0,
        partner: Agent | None = None,
        partner_state: dict[str, Any] | None = None,
    ):
        self.agent = agent.id
        self.slot = slot
        self.start = view.tick
        self.view = view
        self.start_state = start_state
        self.draft = drafts.make_draft(agent, start_state)
        # The one this thought may talk with, frozen as the thought began: its side of the talk is read
        # from this copy (never committed), so what the partner does meanwhile cannot leak into the thought.
        self.partner = partner.id if partner is not None else None
        self.partner_state = partner_state
        self.partner_draft = drafts.make_draft(partner, partner_state) if partner and partner_state else None
        self.not_before = not_before
        self.bound = max(view.tick, not_before)
        self.answers: list[Answer] = []
        self.asking: list[str] = []  # the kinds on the wire now
        self._delays = delays
        self._unknown = unknown
        self.task: asyncio.Task[Decision] | None = None

    def asked(self, kind: str) -> None:
        # A kind without a delay of its own (one added after this config was written) takes one tick.
        self.bound = max(self.bound, self.start + self._delays.get(kind, self._unknown))

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def record(self) -> ThoughtRecord:
        return ThoughtRecord(
            agent=self.agent,
            slot=self.slot,
            start=self.start,
            not_before=self.not_before,
            start_state=self.start_state,
            partner=self.partner,
            partner_state=self.partner_state,
            answers=self.answers,
        )


class ThoughtMind:
    """The run's mind as one thought sees it: notes each kind asked (moving the thought's due
    tick) and each answer received (for checkpoints); replays answers a checkpoint kept.

    A thought may ask several requests at once (a reflection's insights, one per question). Its
    answers are kept in the order they were *asked*, not the order they came in, and a checkpoint
    holds them only up to the first one still on the wire, so replaying them hands each ask the
    answer it had however the replies raced."""

    def __init__(self, mind: Mind, thought: Thought, progress: Callable[[], None], replay: list[Answer] | None = None):
        self._mind = mind
        self._thought = thought
        self._progress = progress
        self._replay = list(replay or [])
        self._asked = 0
        self._arrived: dict[int, Answer] = {}

    @property
    def stats(self) -> LLMStats:
        return self._mind.stats

    async def ask(self, request: Request) -> BaseModel:
        index = self._asked  # taken before the first await: asks started together keep the order they were made in
        self._asked += 1
        self._thought.asked(request.kind)
        self._progress()
        self._thought.asking.append(request.kind)
        try:
            output = await self._answer(index, request)
        finally:
            self._thought.asking.remove(request.kind)
        self._arrived[index] = Answer(kind=request.kind, output=output.model_dump(mode="json"))
        answers = self._thought.answers
        while len(answers) in self._arrived:
            answers.append(self._arrived.pop(len(answers)))
        return output

    async def _answer(self, index: int, request: Request) -> BaseModel:
        if index < len(self._replay):
            answer = self._replay[index]
            if answer.kind != request.kind:
                raise ReplayMismatch(
                    f"agent {self._thought.agent}'s thought from tick {self._thought.start} asked {request.kind} "
                    f"where the checkpoint has {answer.kind}: resume with the code and world the run used"
                )
            return type(request).output.model_validate(answer.output)
        return await self._mind.ask(request)

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await self._mind.embed(texts)

    async def aclose(self) -> None:
        return None


class Pipeline:
    """The thoughts in flight of one simulation: per agent at most one that decides what it does
    (slot "think") and beside it at most one scoring of its observations ("remember"), one
    plan-ahead of its next block ("plan") and one reflection ("reflect"), which only add to
    what the agent knows."""

    def __init__(self, mind: Mind, think_delays: dict[str, int], tick_seconds: int, pipelined: bool = True):
        self.mind = mind
        # Delays in whole ticks, rounded up: a delay never shrinks to nothing. Without pipelining every
        # decision is due in its own tick (the engine waits for it there: the old barrier).
        self.delays = {
            kind: math.ceil(seconds / tick_seconds) if pipelined else 0 for kind, seconds in think_delays.items()
        }
        self._unknown_delay = 1 if pipelined else 0
        self.thoughts: dict[tuple[int, Slot], Thought] = {}
        self._progress: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._restored: list[ThoughtRecord] = []
        self._restored_views: dict[int, dict[str, Any]] = {}
        self.peak = 0
        # Where the wall clock goes (for benchmarks; never read by the run): ticks that waited for an
        # answer on the wire, and per kind the ticks in which a due thought was waiting for one.
        self.ticks_waited = 0
        self.waited_on: Counter[str] = Counter()

    def busy(self, agent_id: int, slot: Slot = "think") -> bool:
        return (agent_id, slot) in self.thoughts

    def start(self, agent: Agent, view: WorldView, partner: Agent | None = None) -> Thought:
        """A decision's thought; ``partner``, whom it may talk with, is read as it is now."""
        state = drafts.start_state(agent)
        drafts.hand_over(agent, view.tick)
        partner_state = drafts.start_state(partner) if partner is not None else None
        return self._launch(agent, "think", view, state, [], partner=partner, partner_state=partner_state)

    def start_reflection(self, agent: Agent, view: WorldView) -> Thought:
        state = drafts.start_state(agent)
        drafts.begin_reflection(agent, view.date)
        return self._launch(agent, "reflect", view, state, [])

    def start_remembering(self, agent: Agent, view: WorldView, not_before: int = 0) -> Thought:
        """``not_before``: scoring begun as the town takes stock before the hour is due on the hour."""
        state = drafts.start_state(agent)
        agent.state.pending = []  # handed to this thought, as a decision's thought takes them
        return self._launch(agent, "remember", view, state, [], not_before)

    def start_plan_ahead(self, agent: Agent, view: WorldView, needed_by: int) -> Thought:
        return self._launch(agent, "plan", view, drafts.start_state(agent), [], needed_by)

    def _launch(
        self,
        agent: Agent,
        slot: Slot,
        view: WorldView,
        state: dict[str, Any],
        replay: list[Answer],
        not_before: int = 0,
        partner: Agent | None = None,
        partner_state: dict[str, Any] | None = None,
    ) -> Thought:
        thought = Thought(
            agent, slot, view, state, self.delays, self._unknown_delay, not_before, partner, partner_state
        )
        mind: Any = ThoughtMind(self.mind, thought, self._notify, replay)
        draft = thought.draft
        if slot == "think":
            work = draft.think(view, mind, thought.partner_draft)
        elif slot == "plan":
            work = plan_ahead.plan_ahead(draft, view, mind)
        elif slot == "remember":
            work = draft.remember_in_background(view, mind)
        else:
            work = draft.reflect_in_background(view, mind)
        thought.task = asyncio.create_task(work, name=f"{slot}-{agent.id}-{view.tick}")
        thought.task.add_done_callback(lambda _: self._notify())
        self.thoughts[(agent.id, slot)] = thought
        self.peak = max(self.peak, len(self.thoughts))
        return thought

    async def finish(self, thought: Thought) -> None:
        """Wait for one thought to end (thinking one agent after another)."""
        assert thought.task is not None
        await asyncio.wait([thought.task])

    async def settle(self, tick: int) -> None:
        """Return once every thought whose decision may be due at ``tick`` has finished."""
        progress = self._event()
        waited: set[str] = set()
        while True:
            progress.clear()
            self._raise_failures()
            due = [t for t in self.thoughts.values() if not t.done and t.bound <= tick]
            if not due:
                break
            waited.update(kind for t in due for kind in t.asking)
            await progress.wait()
        if waited:
            self.ticks_waited += 1
            self.waited_on.update(waited)

    def _event(self) -> asyncio.Event:
        # Made in the loop that steps the simulation (a test or a command may run several loops).
        loop = asyncio.get_running_loop()
        if self._progress is None or self._loop is not loop:
            self._progress, self._loop = asyncio.Event(), loop
        return self._progress

    def _notify(self) -> None:
        """A thought asked a request or ended: its lower bound may have moved."""
        if self._progress is not None:
            self._progress.set()

    def _raise_failures(self) -> None:
        for thought in self.thoughts.values():
            if thought.done and thought.task is not None and not thought.task.cancelled() and thought.task.exception():
                raise thought.task.exception()  # type: ignore[misc]

    def commit_due(self, tick: int, agents: list[Agent]) -> list[Decision]:
        """Commit the thoughts due at ``tick`` into their agents, in agent-id order (an agent's decision
        before its reflection); their decisions, in that order."""
        due = sorted(
            (k for k, t in self.thoughts.items() if t.done and t.bound <= tick), key=lambda k: (k[0], _ORDER[k[1]])
        )
        decisions = []
        for key in due:
            thought = self.thoughts.pop(key)
            assert thought.task is not None
            agent = agents[thought.agent]
            if thought.slot == "think":
                drafts.commit(agent, thought.draft, thought.start_state)
            elif thought.slot == "plan":
                drafts.commit_plan_ahead(agent, thought.draft)
            elif thought.slot == "remember":
                drafts.commit_remembered(agent, thought.draft, thought.start_state)
            else:
                drafts.commit_reflection(agent, thought.draft)
            decisions.append(thought.task.result())
        return decisions

    async def aclose(self) -> None:
        tasks = [t.task for t in self.thoughts.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        # Gathered so that thoughts which failed (a halted run) do not warn of exceptions never retrieved.
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- checkpoints ------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        ordered = sorted(self.thoughts.items(), key=lambda kv: (kv[0][0], _ORDER[kv[0][1]]))
        records = [t.record() for _, t in ordered] + self._restored
        views = {str(t.start): view_state(t.view) for t in self.thoughts.values()}
        views.update({str(r.start): self._restored_views[r.start] for r in self._restored})
        return {"thoughts": [r.model_dump(mode="json") for r in records], "views": views}

    def set_state(self, state: dict[str, Any] | None) -> None:
        """Keep the thoughts a checkpoint held; :meth:`restart` runs them again in the next tick."""
        self.thoughts = {}
        state = state or {"thoughts": [], "views": {}}
        self._restored = [ThoughtRecord.model_validate(r) for r in state["thoughts"]]
        self._restored_views = {int(k): v for k, v in state["views"].items()}

    def restart(self, agents: list[Agent], world: WorldState) -> None:
        for record in self._restored:
            view = view_from_state(world, record.start, self._restored_views[record.start])
            partner = agents[record.partner] if record.partner is not None else None
            self._launch(
                agents[record.agent],
                record.slot,
                view,
                record.start_state,
                record.answers,
                record.not_before,
                partner,
                record.partner_state,
            )
        self._restored = []
        self._restored_views = {}


# --- snapshots in checkpoints ---------------------------------------------------------
def view_state(view: WorldView) -> dict[str, Any]:
    return {
        "agents": [
            [a.id, a.name, list(a.pos), a.action, a.emoji, a.place, a.conversation, a.asleep] for a in view.agents
        ],
        "objects": dict(view.objects),
        "events": [[e.what, e.where, e.start_tick, e.end_tick] for e in view.events],
        "conversations": [
            [c.id, list(c.members), [[line.speaker, line.text] for line in c.lines], c.ended, c.summary]
            for c in view.conversations.values()
        ],
    }


def view_from_state(world: WorldState, tick: int, data: dict[str, Any]) -> WorldView:
    agents = tuple(
        AgentSeen(i, name, (pos[0], pos[1]), action, emoji, place, conv, asleep)
        for i, name, pos, action, emoji, place, conv, asleep in data["agents"]
    )
    events = tuple(ActiveEvent(*e) for e in data["events"])
    conversations = [
        ConversationView(cid, (members[0], members[1]), tuple(ChatTurn(s, t) for s, t in lines), ended, summary)
        for cid, members, lines, ended, summary in data["conversations"]
    ]
    return world.view_of(tick, agents, dict(data["objects"]), events, conversations)
