"""Cognition over a real run: reflection timing and citations, plan durations, grounding, spread."""

from __future__ import annotations

import asyncio

import pytest
from doubles import RecordingMind

from luotuo_rpg.agent.agent import Agent
from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm.kinds import PlanBlockOutput, PlanBlockRequest, ReflectInsightsOutput
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec


@pytest.fixture(scope="module")
def day():
    from pathlib import Path

    spec = load_world_spec(Path(__file__).resolve().parents[1] / "worlds" / "tiny.yaml")
    mind = RecordingMind()
    config = SimConfig(reflection_threshold=50, reflect_at_bedtime=False)
    sim = Simulation(spec, mind, config)
    reflections: list[tuple[int, int]] = []
    original_reflect = Agent.reflect

    async def record(self, view, mind_, decision=None):
        reflections.append((self.id, view.tick))
        return await original_reflect(self, view, mind_, decision)

    # Reflections run on drafts of their agents (copies), so the probe goes on the class;
    # the importance an agent has gathered is read from its committed state after each tick.
    gathered: dict[int, list[float]] = {agent.id: [] for agent in sim.agents}
    patch = pytest.MonkeyPatch()
    patch.setattr(Agent, "reflect", record)

    async def go():
        for _ in range(8640):
            await sim.step()
            for agent in sim.agents:
                gathered[agent.id].append(agent.state.importance_since_reflection)

    try:
        asyncio.run(go())
    finally:
        patch.undo()
    return sim, mind, config, reflections, gathered


def test_reflection_starts_in_the_tick_after_the_threshold_is_crossed(day):
    sim, _, config, reflections, gathered = day
    assert reflections, "no reflection in a day"
    reflected = {agent for agent, _ in reflections}
    for agent in sim.agents:
        levels = gathered[agent.id]
        starts = {t for a, t in reflections if a == agent.id}
        crossed = [t + 1 for t, level in enumerate(levels) if level >= config.reflection_threshold]
        if agent.id not in reflected:
            assert not crossed, f"{agent.name} gathered enough to reflect and never did"
            continue
        for tick in starts:
            # Committed by the end of the tick before, and handed to the reflection as it started.
            assert levels[tick - 1] >= config.reflection_threshold, (agent.name, tick, levels[tick - 1])
            assert levels[tick] < config.reflection_threshold, (agent.name, tick)
        assert set(crossed) <= starts, (agent.name, sorted(set(crossed) - starts))
    assert len(reflected) >= 2, "most agents should gather enough in a day to reflect"


def test_insights_cite_memories_that_exist(day):
    sim, mind, _, _, _ = day
    insights = [o for o in mind.outputs if isinstance(o, ReflectInsightsOutput)]
    assert insights
    reflected = [agent for agent in sim.agents if agent.state.counters.reflections]
    assert len(reflected) >= 2
    for agent in reflected:
        thoughts = [n for n in agent.memory.nodes if n.kind == "thought" and n.cites]
        assert thoughts
        for node in thoughts:
            for cited in node.cites:
                assert 0 <= cited < node.id
                assert agent.memory.nodes[cited].id == cited


def test_decomposed_durations_add_up_to_their_block(day):
    _, mind, config, _, _ = day
    pairs = [(r, o) for r, o in zip(mind.requests, mind.outputs) if isinstance(r, PlanBlockRequest)]
    assert len(pairs) > 10
    for request, output in pairs:
        assert isinstance(output, PlanBlockOutput)
        assert sum(a.minutes for a in output.actions) == request.minutes
        assert all(1 <= a.minutes <= config.action_max_minutes for a in output.actions)


def test_grounding_names_only_places_the_agent_knows(day):
    sim, mind, _, _, _ = day
    names = {agent.name: agent for agent in sim.agents}
    for request, output in zip(mind.requests, mind.outputs):
        if not isinstance(request, PlanBlockRequest):
            continue
        agent = names[request.agent]
        known_rooms = set(agent.state.known_places)
        for action in output.actions:
            assert action.place in request.known_places
            room = "/".join(action.place.split("/")[:2])
            assert room in known_rooms, (agent.name, action.place)


def test_unknown_place_from_the_model_is_rejected_not_used():
    from luotuo_rpg.llm.kinds import OutputRejected, PersonaBrief, PlannedAction, ScheduleBlock

    request = PlanBlockRequest(
        agent="甲",
        time="2026-03-01 08:00",
        persona=PersonaBrief(name="甲", age=30, traits=["好"], background="某人"),
        block=ScheduleBlock(start="08:00", activity="干活", place="客栈/大堂"),
        minutes=30,
        known_places=["客栈/大堂"],
    )
    bad = PlanBlockOutput(actions=[PlannedAction(activity="去钱庄", minutes=30, place="钱庄/正厅")])
    with pytest.raises(OutputRejected, match="unknown place"):
        request.check(bad)


def test_a_quiet_day_still_ends_with_a_reflection_at_bedtime(tiny_world):
    spec = load_world_spec(tiny_world)
    mind = RecordingMind()
    sim = Simulation(spec, mind, SimConfig(reflection_threshold=10_000))

    async def go():
        for _ in range(8640):
            await sim.step()

    asyncio.run(go())
    for agent in sim.agents:
        assert agent.state.counters.reflections == 1, agent.name
        assert agent.state.reflected_on == "2026-03-01"
        assert agent.state.asleep or agent.state.plan_date == "2026-03-02"


def test_every_agent_plans_talks_and_reflects_and_the_news_spreads(day):
    sim, _, _, _, _ = day
    for agent in sim.agents:
        assert agent.state.counters.plans >= 1
        assert agent.state.counters.conversations >= 1
        assert agent.state.counters.reflections >= 1
    event = sim.spec.events[0]
    assert len(sim.knows(event.what)) > len(event.known_by)
