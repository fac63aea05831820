"""Reactions and conversations: continue, react (re-plan) or talk. A talk is written whole in
the reaction's own answer, from both sides' memories of each other; afterwards
each side remembers what it was about and goes back to what it was doing (news heard is weighed
by ``attend``; the next block's plan sees the talk's memory)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent import perception
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.agent.state import CONVERSABLE, PendingObservation
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    EventBrief,
    MemoryRef,
    PlannedAction,
    ReactRequest,
    TalkSide,
)
from luotuo_rpg.phrases import phrase
from luotuo_rpg.world.activity import emoji_for
from luotuo_rpg.world.clock import format_label
from luotuo_rpg.world.news import mentions
from luotuo_rpg.world.state import ConversationView, WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


async def react(agent: Agent, view: WorldView, mind: Mind, decision: Decision, partner: Agent | None = None) -> None:
    """Weigh the first of those just noticed, in one request that also writes the talk if it is one.
    ``partner`` is that other as it was when this thought began (a copy nobody commits), so that
    its side of a talk is read as of then however long the answer takes."""
    state = agent.state
    now = view.tick
    cooldown = agent.clock.ticks_for_minutes(agent.config.react_cooldown_minutes)
    other = view.agents[state.react_to[0]]
    for other_id in state.react_to:
        state.react_cooldown[view.agents[other_id].name] = now + cooldown
    k = agent.config.recall_k_social
    memories = await agent.recall(f"{other.name} {other.action}", view, mind, k=k, kinds=CONVERSABLE)
    them = None
    if partner is not None and partner.id == other.id:
        seen = view.agents[agent.id]
        recalled = await partner.recall(f"{agent.name} {seen.action}", view, mind, k=k, kinds=CONVERSABLE)
        them = talk_side(partner, agent.name, view, recalled)
    request = ReactRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        observation=perception.describe(agent, other),
        other=other.name,
        other_action=other.action,
        me=talk_side(agent, other.name, view, memories),
        them=them,
        max_lines=agent.config.conversation_max_turns,
    )
    output = await mind.ask(request)
    state.counters.reactions += 1
    if output.decision == "talk" and them is not None:
        state.pair_cooldown[other.name] = now + agent.clock.ticks_for_minutes(agent.config.pair_cooldown_minutes)
        decision.talk_to = other.id
        decision.dialogue = [(line.speaker, line.text) for line in output.lines]
        decision.talk_summary = output.summary or ""
    elif output.decision == "react" and output.new_activity:
        place = view.agents[agent.id].place or agent.persona.home
        action = PlannedAction(
            activity=output.new_activity, minutes=10, place=place, emoji=emoji_for(output.new_activity)
        )
        state.queue.insert(0, action)
        state.action_end = now  # start it now


def talk_side(agent: Agent, other: str, view: WorldView, memories: list[MemoryRef]) -> TalkSide:
    """What ``agent`` brings to a talk with ``other``: its voice, what it was doing, what it
    recalled, the news it has not had from ``other`` (nor of ``other``'s own events), and what
    it already said to ``other`` today."""
    state = agent.state
    said = state.said_to.get(other, []) if state.said_on == view.date else []
    news = [e for e in state.known_events if state.heard_from.get(e.what) != other and other not in e.what]
    return TalkSide(
        persona=agent.brief(about=other, detail="voice"),
        doing=view.agents[agent.id].action,
        memories=memories,
        known_events=news,
        said_before=said[-12:],
    )


def after_conversation(agent: Agent, view: WorldView, conversation: ConversationView) -> None:
    """What a talk that has ended leaves: news learnt, what was said, and its memory."""
    state = agent.state
    state.handled_conversations.append(conversation.id)
    state.handled_conversations = state.handled_conversations[-50:]
    partner_id = conversation.members[0] if conversation.members[1] == agent.id else conversation.members[1]
    partner = view.agents[partner_id].name
    state.pair_cooldown[partner] = view.tick + agent.clock.ticks_for_minutes(agent.config.pair_cooldown_minutes)
    state.social_until = view.tick + agent.clock.ticks_for_minutes(agent.config.social_cooldown_minutes)
    state.counters.conversations += 1
    if not conversation.lines:
        return
    heard = [line.text for line in conversation.lines if line.speaker != agent.name]
    events = [
        EventBrief(what=e.what, where=e.where, when=format_label(e.when), minutes=e.minutes) for e in agent.world_events
    ]
    events += [
        EventBrief(
            what=e.what,
            where=e.where,
            when=agent.clock.label(e.start_tick),
            minutes=max(1, round((e.end_tick - e.start_tick) * agent.clock.tick_seconds / 60)),
        )
        for e in view.events  # injected ones among them: they spread by word of mouth too
    ]
    for event in events:
        if any(mentions(line, event.what, partner) for line in heard):
            perception.learn_event(agent, event, told_by=partner)
    mine = [line.text for line in conversation.lines if line.speaker == agent.name]
    if state.said_on != view.date:
        state.said_on, state.said_to = view.date, {}
    said = state.said_to.setdefault(partner, [])
    said.extend(mine)
    del said[:-12]
    summary = phrase(agent.language, "talk_memory", partner=partner, summary=conversation.summary)
    state.pending.append(PendingObservation(text=summary, tick=view.tick, kind="chat"))
