"""Planning: the day outline and hourly schedule at wake-up, then each schedule block
decomposed and grounded in one request (place among known places, emoji, event)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent.attending import schedule_event
from luotuo_rpg.agent.intents import ActionIntent, Decision
from luotuo_rpg.agent.state import CONVERSABLE
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    PlanBlockRequest,
    PlanDayRequest,
    PlannedAction,
    RoutineBrief,
    ScheduleBlock,
)
from luotuo_rpg.phrases import phrase
from luotuo_rpg.world.activity import is_sleep
from luotuo_rpg.world.clock import DAY_MINUTES, minute_of, parse_label
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import PLACE_SEPARATOR
from luotuo_rpg.world.state import WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


async def plan_day(agent: Agent, view: WorldView, mind: Mind, decision: Decision) -> None:
    state = agent.state
    reflections = [n.text for n in agent.memory.recent(3, {"thought"}) if n.cites]
    request = PlanDayRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.brief(),
        routine=[RoutineBrief(start=r.at, activity=r.do, place=r.place) for r in agent.persona.routine],
        reflections=reflections,
        known_events=[e for e in state.known_events if e.what in state.attending],
        known_places=[p for p in state.known_places if p.count(PLACE_SEPARATOR) == 1],
    )
    output = await mind.ask(request)
    state.plan_date = view.date
    state.outline = output.outline
    state.schedule = sorted(output.schedule, key=lambda b: minute_of(b.start))
    now = parse_label(view.time)
    for event in state.known_events:
        if event.what in state.attending:
            schedule_event(agent, event, now)  # for its real duration, whatever the plan made of it
    state.block_start = None
    state.queue = []
    state.action_end = view.tick
    state.asleep = False
    state.counters.plans += 1
    decision.plan_outline = output.outline
    outline = phrase(agent.language, "outline_separator").join(output.outline)
    plan = phrase(agent.language, "plan_memory", date=view.date, outline=outline)
    await agent.remember("plan", plan, view.tick, agent.config.plan_importance, mind)


def current_block(agent: Agent, minute: int) -> tuple[ScheduleBlock, int, int]:
    """The schedule block at ``minute`` with its start and end (end may pass midnight)."""
    schedule = agent.state.schedule
    starts = [minute_of(b.start) for b in schedule]
    index = max((i for i, s in enumerate(starts) if s <= minute), default=len(schedule) - 1)
    start = starts[index]
    if index + 1 < len(schedule):
        end = starts[index + 1]
    else:
        end = agent.wake_minute + DAY_MINUTES
    if start > minute:  # before the day's first block: still in last night's block
        start -= DAY_MINUTES
    return schedule[index], start, end


async def next_action(agent: Agent, view: WorldView, mind: Mind, decision: Decision) -> None:
    state = agent.state
    minute = view.minute_of_day
    block, start, end = current_block(agent, minute)
    ahead = state.ahead
    if state.block_start != start and ahead is not None and (ahead.date, ahead.start) == (view.date, start):
        # Decomposed before the block began (agent.plan_ahead): no request, no wait.
        state.queue, state.block_start, state.replan = list(ahead.queue), start, False
    if state.replan or state.block_start != start or not state.queue:
        remaining = (end - minute) if end > minute else (end + DAY_MINUTES - minute)
        state.queue = await plan_block(agent, view, mind, block, max(1, remaining))
        state.block_start = start
        state.replan = False
    if not state.queue:
        return
    action = state.queue.pop(0)
    state.action = action
    state.action_end = view.tick + agent.clock.ticks_for_minutes(action.minutes)
    state.asleep = is_sleep(action.activity)
    decision.action = ActionIntent(
        activity=action.activity,
        place=action.place,
        emoji=action.emoji,
        minutes=action.minutes,
        object_state=action.object_state,
    )


async def plan_block(
    agent: Agent, view: WorldView, mind: Mind, block: ScheduleBlock, minutes: int
) -> list[PlannedAction]:
    if is_sleep(block.activity):
        # Sleep needs no decomposition and no request.
        return [PlannedAction(activity=block.activity, minutes=minutes, place=block.place, emoji="😴")]
    room = room_of(block.place)
    area = room.split(PLACE_SEPARATOR)[0]
    full = sorted(r for r, until in agent.state.full_rooms.items() if until > view.tick)
    rooms = [p for p in agent.state.known_places if p.count(PLACE_SEPARATOR) == 1]
    if room in full:
        # The block's room was found packed: every other room one knows is a place to go instead.
        offered = rooms
    else:
        offered = [p for p in rooms if p.startswith(area + PLACE_SEPARATOR)]
        offered += view.places.objects_in(room)
        offered += [block.place, room]
    offered += [e.where for e in agent.state.known_events]
    offered = sorted(p for p in set(offered) if room_of(p) not in full)
    if not offered:  # every place one knows is packed: try the block's own again
        offered, full = sorted({block.place, room}), []
    memories = await agent.recall(block.activity, view, mind, k=agent.config.recall_k_plan_block, kinds=CONVERSABLE)
    request = PlanBlockRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.brief(detail="short"),
        block=block,
        minutes=minutes,
        known_places=offered,
        known_events=[e for e in agent.state.known_events if e.when[:10] == view.date],
        memories=memories,
        min_minutes=agent.config.action_min_minutes,
        max_minutes=agent.config.action_max_minutes,
        full_places=full,
    )
    output = await mind.ask(request)
    agent.state.counters.block_plans += 1
    return list(output.actions)
