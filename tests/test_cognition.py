"""Cognition over a real run: reflection timing and citations, plan durations, grounding, spread."""

from __future__ import annotations

import asyncio

import pytest
from doubles import RecordingMind

from luotuo_rpg.config import SimConfig
from luotuo_rpg.llm.kinds import PlanBlockOutput, PlanBlockRequest, ReflectInsightsOutput
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec


@pytest.fixture(scope="module")
def day():
    from pathlib import Path

    spec = load_world_spec(Path(__file__).resolve().parents[1] / "worlds" / "tiny.yaml")
    mind = RecordingMind()
    config = SimConfig(reflection_threshold=60, reflect_at_bedtime=False)
    sim = Simulation(spec, mind, config)
    reflections: list[tuple[int, int]] = []
    original = sim.agents[0].reflect.__func__

    async def record(self, view, mind_, decision=None):
        reflections.append((self.id, view.tick))
        return await original(self, view, mind_, decision)

    stored: dict[int, list[tuple[int, int]]] = {agent.id: [] for agent in sim.agents}
    original_remember = sim.agents[0].remember.__func__

    async def remember(self, kind, text, tick, importance, mind_, cites=None):
        stored[self.id].append((sim.world.tick, importance))
        return await original_remember(self, kind, text, tick, importance, mind_, cites)

    for agent in sim.agents:
        agent.reflect = record.__get__(agent)
        agent.remember = remember.__get__(agent)

    async def go():
        for _ in range(8640):
            await sim.step()

    asyncio.run(go())
    return sim, mind, config, reflections, stored


def test_reflection_fires_in_the_tick_the_threshold_is_crossed(day):
    sim, _, config, reflections, stored = day
    assert reflections, "no reflection in a day"
    for agent in sim.agents:
        ticks = [t for a, t in reflections if a == agent.id]
        assert ticks, f"{agent.name} never reflected"
        previous = -1
        for tick in ticks:
            # Importance counts when a memory is stored (the tick it entered the stream).
            window = [(t, score) for t, score in stored[agent.id] if previous < t <= tick]
            total = sum(score for _, score in window)
            before = sum(score for t, score in window if t < tick)
            assert total >= config.reflection_threshold, (agent.name, tick, total)
            assert before < config.reflection_threshold, (agent.name, tick, before)
            previous = tick


def test_insights_cite_memories_that_exist(day):
    sim, mind, _, _, _ = day
    insights = [o for o in mind.outputs if isinstance(o, ReflectInsightsOutput)]
    assert insights
    for agent in sim.agents:
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
        agent="甲", time="2026-03-01 08:00",
        persona=PersonaBrief(name="甲", age=30, traits=["好"], background="某人"),
        block=ScheduleBlock(start="08:00", activity="干活", place="客栈/大堂"),
        minutes=30, known_places=["客栈/大堂"],
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
