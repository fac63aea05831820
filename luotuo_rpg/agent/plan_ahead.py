"""Plan-ahead: the next schedule block is decomposed while the current one still runs.

A decomposition takes game time like any thought, so asking for it when the block
begins would leave the agent on its old action meanwhile (and the engine waiting
for the answer). Instead it is asked ``plan_ahead_minutes`` before, in a thought of
its own beside the agent's others, and is due only when the block begins: the
answer has all that game time to arrive. :func:`planning.next_action` takes it when
the block begins, unless the agent has a reason to plan afresh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent import planning
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.agent.state import PlannedBlock
from luotuo_rpg.llm import Mind
from luotuo_rpg.world.activity import is_sleep
from luotuo_rpg.world.clock import DAY_MINUTES, minute_of
from luotuo_rpg.world.state import WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


def _next_block(agent: Agent, view: WorldView) -> tuple[int, int, int] | None:
    """(index, start, end) in minutes of day of the block after the current one, if it is worth planning now."""
    state = agent.state
    if state.plan_date != view.date or state.asleep or not state.schedule:
        return None
    minute = view.minute_of_day
    if state.ahead is not None and state.ahead.date == view.date and state.ahead.start > minute:
        return None  # the coming block is planned already (checked first: this runs every tick)
    _, _, end = planning.current_block(agent, minute)
    if end >= DAY_MINUTES or end - minute > agent.config.plan_ahead_minutes or end <= minute:
        return None  # tomorrow's blocks come with tomorrow's plan
    starts = [minute_of(b.start) for b in state.schedule]
    index = starts.index(end) if end in starts else None
    if index is None or is_sleep(state.schedule[index].activity):
        return None  # sleep needs no decomposition
    if state.ahead is not None and (state.ahead.date, state.ahead.start) == (view.date, end):
        return None
    following = starts[index + 1] if index + 1 < len(starts) else agent.wake_minute + DAY_MINUTES
    return index, end, following


def quiet_until(agent: Agent, view: WorldView) -> int:
    """A tick before which :func:`needed_by` stays None while the day's plan is the same (it runs every
    tick, so the engine skips asking until then); the current tick when that is not known."""
    state = agent.state
    if state.plan_date != view.date or not state.schedule:
        return view.tick
    _, _, end = planning.current_block(agent, view.minute_of_day)
    # A minute short of exact: this tick may be anywhere within its minute.
    early = end - view.minute_of_day - agent.config.plan_ahead_minutes - 1
    return view.tick + agent.clock.ticks_for_minutes(early) if early > 0 and end < DAY_MINUTES else view.tick


def needed_by(agent: Agent, view: WorldView) -> int | None:
    """The tick by which the next block's plan must be committed, when plan-ahead should start now."""
    found = _next_block(agent, view)
    if found is None:
        return None
    # Committed in the tick before the block begins, so the first thought of the block finds it.
    return view.tick + agent.clock.ticks_for_minutes(found[1] - view.minute_of_day) - 1


async def plan_ahead(agent: Agent, view: WorldView, mind: Mind) -> Decision:
    found = _next_block(agent, view)
    assert found is not None
    index, start, end = found
    queue = await planning.plan_block(agent, view, mind, agent.state.schedule[index], end - start)
    agent.state.ahead = PlannedBlock(date=view.date, start=start, queue=queue)
    return Decision(agent=agent.id)
