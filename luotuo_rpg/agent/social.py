"""Reactions and conversations: continue, react (re-plan) or talk; one line per turn,
informed by retrieval about the partner and the topic; afterwards a summary and a re-plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from luotuo_rpg.agent import perception
from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.agent.state import CONVERSABLE, PendingObservation
from luotuo_rpg.llm.kinds import (
    ChatLine,
    ChatSummaryOutput,
    ChatSummaryRequest,
    ConverseOutput,
    ConverseRequest,
    EventBrief,
    PlannedAction,
    ReactOutput,
    ReactRequest,
)
from luotuo_rpg.llm.mind import Mind
from luotuo_rpg.llm.offline import emoji_for
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
    memories = await agent.recall(f"{other.name} {other.action}", view, mind, k=3, kinds=CONVERSABLE)
    request = ReactRequest(
        agent=agent.name, time=view.time, language=agent.language, persona=agent.brief(about=other.name, detail="short"),
        current_action=agent.current_activity, observation=perception.describe(agent, other),
        other=other.name, other_action=other.action, memories=memories,
    )
    output = await mind.ask(request)
    assert isinstance(output, ReactOutput)
    state.counters.reactions += 1
    if output.decision == "talk":
        decision.talk_to = other.id
        state.pair_cooldown[other.name] = now + agent.clock.ticks_for_minutes(agent.config.pair_cooldown_minutes)
    elif output.decision == "react" and output.new_activity:
        place = view.agents[agent.id].place or agent.persona.home
        action = PlannedAction(activity=output.new_activity, minutes=10, place=place, emoji=emoji_for(output.new_activity))
        state.queue.insert(0, action)
        state.action_end = now  # start it now


async def converse(agent: Agent, view: WorldView, mind: Mind, decision: Decision, conversation: ConversationView) -> None:
    partner_id = conversation.members[0] if conversation.members[1] == agent.id else conversation.members[1]
    partner = view.agents[partner_id].name
    topic = conversation.lines[-1].text if conversation.lines else partner
    memories = await agent.recall(f"{partner} {topic}", view, mind, k=3, kinds=CONVERSABLE)
    turns_left = agent.config.conversation_max_turns - len(conversation.lines)
    request = ConverseRequest(
        agent=agent.name, time=view.time, language=agent.language, persona=agent.brief(about=partner, detail="voice"),
        partner=partner,
        history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
        memories=memories, known_events=agent.state.known_events, turns_left=turns_left,
    )
    output = await mind.ask(request)
    assert isinstance(output, ConverseOutput)
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
    heard = " ".join(line.text for line in conversation.lines if line.speaker != agent.name)
    for event in agent.world_events:
        if event.what in heard:
            perception.learn_event(agent, EventBrief(what=event.what, where=event.where, when=event.when.strftime("%Y-%m-%d %H:%M")))
    request = ChatSummaryRequest(
        agent=agent.name, time=view.time, language=agent.language, persona=agent.one_line(), partner=partner,
        history=[ChatLine(speaker=line.speaker, text=line.text) for line in conversation.lines],
    )
    output = await mind.ask(request)
    assert isinstance(output, ChatSummaryOutput)
    state.pending.append(PendingObservation(text=output.summary, tick=view.tick, kind="chat"))
    # The conversation interrupted the plan: re-plan the rest of the block around it.
    state.replan = True
