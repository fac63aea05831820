"""Perception: what an agent notices each tick, and how much each new observation matters.

Runs for every awake agent every tick, so it decides cheaply whether there is anything
to think about; importance is asked for in one request per agent for a batch of
observations, trivial ones get a constant without a request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent.state import HeardEvent, PendingObservation, is_trivial
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import EventBrief, ImportanceRequest
from luotuo_rpg.phrases import phrase
from luotuo_rpg.world.grid import Tile
from luotuo_rpg.world.places import room_of
from luotuo_rpg.world.spec import PLACE_SEPARATOR
from luotuo_rpg.world.state import AgentSeen, WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


def perceive(agent: Agent, view: WorldView) -> bool:
    """Note what is new around the agent; True when there is something to think about."""
    me = view.agents[agent.id]
    state = agent.state
    if not state.asleep and me.conversation is None:
        now = view.tick
        repeat = agent.clock.ticks_for_minutes(agent.config.observe_repeat_minutes)
        room = view.places.room_of_tile(me.pos)
        if room and room not in state.known_places:
            state.known_places.append(room)
            state.known_places.sort()
        for other in view.near(agent.id, agent.config.vision_radius, agent.config.attention_bandwidth):
            # Noted again only when they show up in another room or after a while:
            # the sub-steps of one activity are not news (and would cost a request each).
            where = room_of(other.place)
            seen = state.last_seen.get(other.name)
            if seen and seen[0] == where and now - seen[1] < repeat:
                continue
            state.last_seen[other.name] = (where, now)
            text = describe(agent, other)
            trivial = is_trivial(other.action, agent.language)
            state.pending.append(PendingObservation(text=text, tick=now, trivial=trivial))
            if may_react_to(agent, other, now):
                state.react_to.append(other.id)
        notice_full_room(agent, view, me.pos, room)
        for event in view.events:
            key = f"event:{event.what}"
            if key in state.last_seen or room_of(event.where) != room:
                continue
            state.last_seen[key] = ("", now)
            noticed = phrase(agent.language, "event_seen", what=event.what, where=event.where)
            state.pending.append(PendingObservation(text=noticed, tick=now))
            minutes = max(1, round((event.end_tick - event.start_tick) * agent.clock.tick_seconds / 60))
            brief = EventBrief(
                what=event.what, where=event.where, when=agent.clock.label(event.start_tick), minutes=minutes
            )
            learn_event(agent, brief)
    else:
        state.still_at = None  # a conversation or sleep is not waiting at a door
    return agent.wants_to_think(view)


def notice_full_room(agent: Agent, view: WorldView, pos: Tile, room: str | None) -> None:
    """Stood still in sight of the room of one's action for a few minutes, unable to get in (it is packed,
    or the crowd at its door is): remember that, and re-plan the block without it for a while
    (agent/planning.py), instead of waiting at the door all day."""
    state = agent.state
    now = view.tick
    target = room_of(state.action.place) if state.action is not None else ""
    shuffled = state.still_at is not None and max(abs(pos[0] - state.still_at[0]), abs(pos[1] - state.still_at[1])) <= 1
    if not shuffled or state.still_for != target or target == room:
        # The wait counts from when one stopped short of this room, not from whenever one last moved:
        # a step aside and back in a crowd at the door is still the same wait.
        state.still_at, state.still_for, state.still_since = pos, target, now
        return
    places = view.places
    if target not in places.room_tiles or state.full_rooms.get(target, -1) > now:
        return
    if now - state.still_since < agent.clock.ticks_for_minutes(agent.config.full_room_wait_minutes):
        return
    if places.distance_to(target, pos) > agent.config.vision_radius:
        return
    state.full_rooms = {r: until for r, until in state.full_rooms.items() if until > now}
    state.full_rooms[target] = now + agent.clock.ticks_for_minutes(agent.config.full_room_avoid_minutes)
    name = target.replace(PLACE_SEPARATOR, phrase(agent.language, "place_joiner"))
    packed = 2 * places.free_tiles(target, view.positions) <= len(places.room_tiles[target])
    text = phrase(agent.language, "room_packed" if packed else "room_jammed", place=name)
    state.pending.append(PendingObservation(text=text, tick=now))
    state.replan = True


def describe(agent: Agent, other: AgentSeen) -> str:
    place = other.place.replace(PLACE_SEPARATOR, phrase(agent.language, "place_joiner"))
    return phrase(agent.language, "seen", name=other.name, place=place, action=other.action)


def may_react_to(agent: Agent, other: AgentSeen, now: int) -> bool:
    if other.asleep or other.conversation is not None or agent.state.asleep:
        return False
    if now < agent.state.social_until or now < agent.state.react_gap_until:
        return False
    if now < agent.state.react_cooldown.get(other.name, -1):
        return False
    return now >= agent.state.pair_cooldown.get(other.name, -1)


def learn_event(agent: Agent, event: EventBrief, told_by: str | None = None) -> bool:
    """Know of an event from now on; whether to go is decided at the next think (agent/attending.py)."""
    if any(e.what == event.what for e in agent.state.known_events):
        return False
    agent.state.known_events.append(event)
    agent.state.to_decide.append(HeardEvent(what=event.what, told_by=told_by))
    if told_by is not None:
        agent.state.heard_from[event.what] = told_by
    if event.where not in agent.state.known_places:
        agent.state.known_places.append(room_of(event.where))
        agent.state.known_places.sort()
    return True


def importance_due(agent: Agent, now: int) -> bool:
    pending = [p for p in agent.state.pending if not p.trivial]
    if not pending:
        return False
    oldest = min(p.tick for p in pending)
    waited = now - oldest >= agent.clock.ticks_for_minutes(agent.config.importance_max_wait_minutes)
    return len(pending) >= agent.config.importance_batch or waited


def has_observations_to_score(agent: Agent) -> bool:
    return any(not p.trivial for p in agent.state.pending)


async def flush_observations(agent: Agent, view: WorldView, mind: Mind, score: bool | None = None) -> None:
    """Store what is waiting: scored in one request when ``score`` (by default: when scoring is due),
    else only the trivial observations (they need no request) and the rest wait on."""
    state = agent.state
    if not state.pending:
        return
    if not (importance_due(agent, view.tick) if score is None else score):
        trivial = [p for p in state.pending if p.trivial]
        state.pending = [p for p in state.pending if not p.trivial]
        for item in trivial:
            await agent.remember(item.kind, item.text, item.tick, agent.config.trivial_importance, mind)
        return
    pending, state.pending = state.pending, []
    scored = [p for p in pending if not p.trivial]
    scores: list[int] = []
    if scored:
        request = ImportanceRequest(
            agent=agent.name,
            time=view.time,
            language=agent.language,
            persona=agent.one_line(),
            observations=[p.text for p in scored],
        )
        output = await mind.ask(request)
        scores = output.scores
    score_of = iter(scores)
    for item in pending:
        importance = agent.config.trivial_importance if item.trivial else next(score_of)
        await agent.remember(item.kind, item.text, item.tick, importance, mind)
