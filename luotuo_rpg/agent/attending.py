"""Deciding whether to go to an event one has heard of, and making room for it in the day.

Hearsay becomes attendance only through a decision (Park et al. 2023, §7.1: of 12 invited
by word of mouth, 5 came). The decision is a request kind a model answers (``attend``): the
persona with its ties to the people the event names and to the one who told, and what was
planned meanwhile. A "go" puts the event into the schedule for its real duration; the block
that would have been under way when it ends resumes after it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    AttendRequest,
    EventBrief,
    PersonaBrief,
    ScheduleBlock,
    insert_event,
)
from luotuo_rpg.phrases import width
from luotuo_rpg.world.clock import DAY_MINUTES, hhmm, minute_of, minute_of_day, parse_label
from luotuo_rpg.world.state import WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


def event_label(agent: Agent, event: EventBrief) -> str:
    return f"去参加{event.what}" if agent.language == "zh" else f"attend: {event.what}"


def _span(event: EventBrief) -> tuple[dt.datetime, dt.datetime]:
    start = parse_label(event.when)
    return start, start + dt.timedelta(minutes=event.minutes)


def planned_during(agent: Agent, event: EventBrief) -> list[ScheduleBlock]:
    """The blocks of today's schedule that overlap the event (none for another day's event)."""
    state = agent.state
    if event.when[:10] != state.plan_date or not state.schedule:
        return []
    start, end = _span(event)
    lo, hi = minute_of_day(start), minute_of_day(end) if end.date() == start.date() else DAY_MINUTES
    starts = [minute_of(b.start) for b in state.schedule]
    out = []
    for index, block in enumerate(state.schedule):
        block_end = starts[index + 1] if index + 1 < len(starts) else DAY_MINUTES
        if starts[index] < hi and block_end > lo:
            out.append(block)
    return out


def schedule_event(agent: Agent, event: EventBrief, now: dt.datetime, minutes: int | None = None) -> bool:
    """Put a known event into today's schedule (from now, if it is already running); True if it changed
    the block under way, so the rest of it must be re-planned."""
    state = agent.state
    start, end = _span(event)
    if event.when[:10] != state.plan_date or end <= now:
        return False
    begin = max(start, now.replace(second=0, microsecond=0))
    stay = (end - begin).total_seconds() / 60 if minutes is None else min(minutes, (end - begin).total_seconds() / 60)
    stay = max(1, int(min(stay, DAY_MINUTES - minute_of_day(begin))))
    state.schedule = insert_event(
        state.schedule, hhmm(minute_of_day(begin)), stay, event_label(agent, event), event.where
    )
    return begin <= now


async def decide(agent: Agent, view: WorldView, mind: Mind, decision: Decision) -> None:
    """Answer every event heard of since the last think: go or skip."""
    state = agent.state
    now = parse_label(view.time)
    pending, state.to_decide = state.to_decide, []
    for heard in pending:
        event = next((e for e in state.known_events if e.what == heard.what), None)
        if event is None or heard.what in state.attending or heard.what in state.declined:
            continue
        if _span(event)[1] <= now:
            continue  # over before it could be weighed
        relationships = {
            who: how for who, how in agent.persona.relationships.items() if who in event.what or who == heard.told_by
        }
        persona = PersonaBrief(
            name=agent.name,
            age=agent.persona.age,
            traits=agent.persona.traits[: agent.config.brief_traits],
            background=agent.persona.background[: width(agent.language, agent.config.brief_background_chars)],
            relationships=relationships,
        )
        request = AttendRequest(
            agent=agent.name,
            time=view.time,
            language=agent.language,
            persona=persona,
            event=event,
            told_by=heard.told_by,
            planned=planned_during(agent, event),
        )
        output = await mind.ask(request)
        if output.decision == "skip":
            state.declined.append(event.what)
            continue
        state.attending.append(event.what)
        if schedule_event(agent, event, now, output.minutes):
            state.replan = True
        note = (
            f"决定去：{event.what}（{output.reason}）"
            if agent.language == "zh"
            else f"will go: {event.what} ({output.reason})"
        )
        decision.plan_change = note
        await agent.remember("plan", note, view.tick, agent.config.attend_importance, mind)
