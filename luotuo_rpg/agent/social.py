"""Reactions and conversations: continue, react (re-plan) or talk; one line per turn,
informed by retrieval about the partner and the topic; afterwards a summary and a re-plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent import perception
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.agent.state import CONVERSABLE, PendingObservation
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    ChatLine,
    ChatSummaryRequest,
    ConverseRequest,
    EventBrief,
    PlannedAction,
    ReactRequest,
)
from luotuo_rpg.world.activity import emoji_for
from luotuo_rpg.world.clock import format_label
from luotuo_rpg.world.news import mentions
from luotuo_rpg.world.state import ConversationView, WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


async def react(agent: Agent, view: WorldView, mind: Mind, decision: Decision) -> None:
    state = agent.state
    now = view.tick
    cooldown = agent.clock.ticks_for_minutes(agent.config.react_cooldown_minutes)
    other = view.agents[state.react_to[0]]
    for other_id in state.react_to:
        state.react_cooldown[view.agents[other_id].name] = now + cooldown
    memories = await agent.recall(
        f"{other.name} {other.action}", view, mind, k=agent.config.recall_k_social, kinds=CONVERSABLE
    )
    request = ReactRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.brief(about=other.name, detail="short"),
        current_action=agent.current_activity,
        observation=perception.describe(agent, other),
        other=other.name,
        other_action=other.action,
        memories=memories,
    )
    output = await mind.ask(request)
    state.counters.reactions += 1
    if output.decision == "talk":
        decision.talk_to = other.id
        state.pair_cooldown[other.name] = now + agent.clock.ticks_for_minutes(agent.config.pair_cooldown_minutes)
    elif output.decision == "react" and output.new_activity:
        place = view.agents[agent.id].place or agent.persona.home
        action = PlannedAction(
            activity=output.new_activity, minutes=10, place=place, emoji=emoji_for(output.new_activity)
        )
        state.queue.insert(0, action)
        state.action_end = now  # start it now


async def converse(
    agent: Agent, view: WorldView, mind: Mind, decision: Decision, conversation: ConversationView
) -> None:
    partner_id = conversation.members[0] if conversation.members[1] == agent.id else conversation.members[1]
    partner = view.agents[partner_id].name
    topic = conversation.lines[-1].text if conversation.lines else partner
    memories = await agent.recall(f"{partner} {topic}", view, mind, k=agent.config.recall_k_social, kinds=CONVERSABLE)
    turns_left = agent.config.conversation_max_turns - len(conversation.lines)
    state = agent.state
    if state.said_on != view.date:
        state.said_on, state.said_to = view.date, {}
    said = state.said_to.setdefault(partner, [])
    # News is not told back to whoever told it, nor to the one whose own event it is.
    news = [e for e in state.known_events if state.heard_from.get(e.what) != partner and partner not in e.what]
    request = ConverseRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.brief(about=partner, detail="voice"),
        partner=partner,
        history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
        memories=memories,
        known_events=news,
        turns_left=turns_left,
        said_before=said[-12:],
    )
    output = await mind.ask(request)
    said.append(output.line)
    del said[:-12]
    decision.say = output.line
    decision.end_conversation = output.end or turns_left <= 1


async def after_conversation(agent: Agent, view: WorldView, mind: Mind, conversation: ConversationView) -> None:
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
    request = ChatSummaryRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.one_line(),
        partner=partner,
        history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
    )
    output = await mind.ask(request)
    state.pending.append(PendingObservation(text=output.summary, tick=view.tick, kind="chat"))
    # The conversation interrupted the plan: re-plan the rest of the block around it.
    state.replan = True
