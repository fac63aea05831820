"""A thought's private copy of its agent, and how it is committed back.

A thought may take several ticks (DESIGN.md, "Thinking takes game time"). While it
runs, perception goes on every tick on the agent's *live* state (who was seen, new
observations, whom to react to), and the thought works on a *draft*: a copy of the
agent's state and memory stream taken when it started. Nothing the thought does is
visible before its decision is due, and nothing perceived meanwhile leaks into it,
so a run stays a function of (world, seed, answers) however long the answers take.

At the due tick :func:`commit` makes the draft the agent, keeping what perception
gathered meanwhile. Fields are owned by one side each:

* perception alone writes ``last_seen``, where one stands still (``still_*``) and the
  rooms found full (``full_rooms``); the live values are kept, as is the end of the
  gap before another reaction is weighed (``react_gap_until``), set when a thought takes
  the reactions over (:func:`hand_over`);
* observations, people to react to, events still to weigh (go or skip) and the call
  to re-plan are handed to the thought at its start (the live ones are emptied), so
  the committed lists are the thought's leftovers plus what was perceived meanwhile,
  in that order, and a re-plan asked for meanwhile (a room found full) still stands;
* ``known_places`` and ``known_events`` grow on both sides: their union;
* ``importance_since_reflection`` and the counters: the live value plus what the
  thought added;
* the fields of the thoughts that run beside it stay live: reflection
  (:func:`begin_reflection`) and plan-ahead (``ahead``); scoring observations
  (:func:`commit_remembered`) takes the waiting ones as a decision's thought does;
* everything else (plans, queue, cooldowns) is the thought's;
* memories the thought stored are appended to the live stream, and last-access
  ticks merge by maximum (:meth:`MemoryStream.absorb`), so two thoughts of one
  agent (its reflection and its next decision) both keep what they stored.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from luotuo_rpg.agent.state import AgentState

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


def start_state(agent: Agent) -> dict[str, Any]:
    """The agent as a thought starting now sees it (what a checkpoint keeps to redo the thought)."""
    memory = agent.memory
    return {
        "state": agent.state.model_dump(mode="json"),
        "initial_memories_stored": agent._initial_memories_stored,
        # Other thoughts of this agent may commit memories before this one ends: a restored thought
        # rebuilds the stream it began with from these.
        "memory_count": len(memory),
        "last_access": memory.last_access(),
    }


def make_draft(agent: Agent, start: dict[str, Any]) -> Agent:
    """A copy of ``agent`` at ``start`` for a thought to change freely; the live agent is untouched."""
    draft = copy.copy(agent)
    draft.state = AgentState.model_validate(start["state"])
    draft.memory = agent.memory.copy(start["memory_count"], start["last_access"])
    draft._initial_memories_stored = bool(start["initial_memories_stored"])
    return draft


def hand_over(agent: Agent, tick: int) -> None:
    """The observations and reactions waiting so far now belong to the thought just started; while it
    weighs a reaction, and for a while after, nobody new is weighed (``SimConfig.react_gap_minutes``)."""
    if agent.state.react_to:
        agent.state.react_gap_until = tick + agent.clock.ticks_for_minutes(agent.config.react_gap_minutes)
    agent.state.pending = []
    agent.state.react_to = []
    agent.state.to_decide = []
    agent.state.replan = False


def commit(agent: Agent, draft: Agent, start: dict[str, Any]) -> None:
    live, thought, begun = agent.state, draft.state, start["state"]
    thought.last_seen = live.last_seen
    thought.still_at, thought.still_for, thought.still_since = live.still_at, live.still_for, live.still_since
    thought.full_rooms = live.full_rooms
    thought.react_gap_until = live.react_gap_until
    thought.replan = thought.replan or live.replan
    thought.pending = thought.pending + live.pending
    thought.react_to = thought.react_to + [i for i in live.react_to if i not in thought.react_to]
    # Events seen meanwhile are still to be weighed (go or skip) by the next thought.
    deciding = {h.what for h in thought.to_decide}
    thought.to_decide = thought.to_decide + [h for h in live.to_decide if h.what not in deciding]
    thought.known_places = sorted(set(thought.known_places) | set(live.known_places))
    known = {e.what for e in thought.known_events}
    thought.known_events = thought.known_events + [e for e in live.known_events if e.what not in known]
    # What this thought stored adds to what the thoughts beside it left (a reflection resets it).
    thought.importance_since_reflection = live.importance_since_reflection + (
        thought.importance_since_reflection - begun["importance_since_reflection"]
    )
    for name, count in live.counters:
        setattr(thought.counters, name, count + getattr(thought.counters, name) - begun["counters"][name])
    # Set by the thoughts beside this one, unless this thought set it itself (the old barrier reflects inside).
    if thought.reflected_on == begun["reflected_on"]:
        thought.reflected_on = live.reflected_on
    thought.ahead = live.ahead
    agent.state = thought
    agent.memory.absorb(draft.memory)
    agent._initial_memories_stored = draft._initial_memories_stored


def begin_reflection(agent: Agent, date: str) -> None:
    """A reflection starting now takes the importance gathered so far (the thoughts in flight add theirs later)."""
    agent.state.importance_since_reflection = 0.0
    agent.state.reflected_on = agent.state.plan_date or date


def commit_reflection(agent: Agent, draft: Agent) -> None:
    agent.memory.absorb(draft.memory)
    agent.state.counters.reflections += 1


def commit_remembered(agent: Agent, draft: Agent, start: dict[str, Any]) -> None:
    """Observations scored and stored beside the agent's other thoughts."""
    live = agent.state
    agent.memory.absorb(draft.memory)
    live.importance_since_reflection += (
        draft.state.importance_since_reflection - start["state"]["importance_since_reflection"]
    )
    live.pending = draft.state.pending + live.pending


def commit_plan_ahead(agent: Agent, draft: Agent) -> None:
    agent.memory.absorb(draft.memory)  # recalling touched memories
    agent.state.ahead = draft.state.ahead
    agent.state.counters.block_plans += 1
