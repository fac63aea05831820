"""Reflection: focal questions over recent memories, then insights that cite the memories
they rest on (the questions asked at once), stored as thoughts."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from luotuo_rpg.agent.intents import Decision
from luotuo_rpg.llm import Mind
from luotuo_rpg.llm.kinds import (
    MemoryRef,
    ReflectInsightsRequest,
    ReflectQuestionsRequest,
)
from luotuo_rpg.phrases import width
from luotuo_rpg.world.state import WorldView

if TYPE_CHECKING:
    from luotuo_rpg.agent.agent import Agent


async def reflect(agent: Agent, view: WorldView, mind: Mind, decision: Decision | None = None) -> list[str]:
    state = agent.state
    state.importance_since_reflection = 0.0
    state.reflected_on = view.date
    recent = agent.memory.recent(agent.config.recent_for_questions)
    cut = width(agent.language, agent.config.question_memory_chars)
    request = ReflectQuestionsRequest(
        agent=agent.name,
        time=view.time,
        language=agent.language,
        persona=agent.one_line(),
        memories=[MemoryRef(id=n.id, text=n.text[:cut]) for n in recent],
        count=agent.config.reflection_questions,
    )
    questions = await mind.ask(request)
    asks: list[ReflectInsightsRequest] = []
    for question in questions.questions:
        memories = await agent.recall(question, view, mind)
        if memories:
            asks.append(
                ReflectInsightsRequest(
                    agent=agent.name,
                    time=view.time,
                    language=agent.language,
                    persona=agent.one_line(),
                    question=question,
                    memories=memories,
                    max_insights=agent.config.insights_per_question,
                )
            )
    # The questions are answered each from its own memories, so they are asked at once: one round
    # trip, not one per question (and a town's bedtime reflections fill a server's slots).
    thoughts: list[str] = []
    for insights in await asyncio.gather(*(mind.ask(ask) for ask in asks)):
        for insight in insights.insights:
            vector = (await mind.embed([insight.text]))[0]
            agent.memory.add("thought", insight.text, view.tick, agent.config.insight_importance, vector, insight.cites)
            thoughts.append(insight.text)
    state.counters.reflections += 1
    if decision is not None:
        decision.reflected = thoughts
    return thoughts
