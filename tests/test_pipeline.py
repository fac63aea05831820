"""Thinking takes game time: decisions land a fixed delay after their thought began, whatever the latency.

Frames are compared through the real openai client against the mock server at several latencies,
and across a SIGKILL in the middle of thoughts in flight. No wall-clock time is asserted.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from doubles import RecordingMind

from luotuo_rpg.agent.agent import Agent
from luotuo_rpg.config import THINK_DELAY_SECONDS, SimConfig
from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.llm.structured import StructuredMind
from luotuo_rpg.sim.checkpoint import iter_history, load_latest
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec
from tests.cli_server import mock_llm
from tests.doubles import openai_flags

ROOT = Path(__file__).resolve().parents[1]


def _frames(sim: Simulation, ticks: int) -> list[str]:
    async def go() -> list[str]:
        lines = [(await sim.step()).to_line() for _ in range(ticks)]
        await sim.aclose()
        await sim.mind.aclose()
        return lines

    return asyncio.run(go())


def _online(spec, ticks: int, latency: float) -> tuple[list[str], StructuredMind, int]:
    with serve_in_thread(create_app(OfflineAnswerer(), latency_s=latency)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="luotuo-mock", max_concurrency=64))
        mind = StructuredMind(backend, fallback=OfflineMind())
        sim = Simulation(spec, mind)
        frames = _frames(sim, ticks)
    return frames, mind, sim.thoughts.peak


def test_two_hours_of_qixia_write_the_same_frames_at_every_latency_and_offline(qixia_world):
    spec = load_world_spec(qixia_world)
    ticks = 2 * 360  # 06:00–08:00: the town wakes, plans its day and starts talking
    offline = _frames(Simulation(spec, OfflineMind()), ticks)
    for latency in (0.02, 0.2):
        frames, mind, peak = _online(spec, ticks, latency)
        assert mind.stats.requests > 150 and mind.stats.fallbacks == 0, mind.stats
        assert mind.stats.by_kind["react"].requests >= 3, "reactions and their talks, over the wire"
        assert frames == offline, f"latency {latency} s changed the run"
        # Thoughts from many ticks in flight together: more than the old engine ever had (12, one tick's thinkers).
        assert peak >= 20, peak
    says = sum(line.count('"type":"say"') for line in offline)
    assert says >= 20, "the slice should hold conversations"


def test_a_decision_lands_its_kinds_delay_after_its_thought_began_and_the_agent_carries_on(tiny_world):
    spec = load_world_spec(tiny_world)
    mind = RecordingMind()
    sim = Simulation(spec, mind)
    started: dict[tuple[int, int], list[str]] = {}
    original = Agent.think

    async def think(self, view, mind_, partner=None):
        decision = await original(self, view, mind_, partner)
        started[(self.id, view.tick)] = [r.kind for r in mind.requests if r.agent == self.name and r.time == view.time]
        return decision

    patch = pytest.MonkeyPatch()
    patch.setattr(Agent, "think", think)
    try:
        frames = [json.loads(line) for line in _frames(sim, 900)]
    finally:
        patch.undo()
    plans: dict[int, int] = {}
    for f in frames:
        for e in f.get("events", []):
            if e["type"] == "plan":
                plans.setdefault(e["agent"], f["tick"])  # the day plan; later ones are changes to it
    delay = math.ceil(THINK_DELAY_SECONDS["plan_day"] / spec.world.tick_seconds)
    assert len(plans) == len(spec.personas)
    for agent_id, tick in plans.items():
        start = tick - delay
        assert "plan_day" in started[(agent_id, start)], (agent_id, start)
        # Lying in bed, planning: still asleep in every frame until the plan is made.
        asleep = [f.get("agents", {}).get(str(agent_id), {}).get("asleep") for f in frames[start:tick]]
        assert all(a in (None, True) for a in asleep), asleep
    # Decisions that asked nothing land in their own tick: most thoughts ask no model.
    assert any(not kinds for kinds in started.values())


def test_a_thinking_agent_never_starts_a_second_thought(tiny_world):
    spec = load_world_spec(tiny_world)
    sim = Simulation(spec, RecordingMind(scramble=True))
    active: dict[int, int] = {}
    most = 0
    original = Agent.think

    async def think(self, view, mind_, partner=None):
        nonlocal most
        active[self.id] = active.get(self.id, 0) + 1
        most = max(most, active[self.id])
        try:
            return await original(self, view, mind_, partner)
        finally:
            active[self.id] -= 1

    patch = pytest.MonkeyPatch()
    patch.setattr(Agent, "think", think)
    try:
        _frames(sim, 1500)
    finally:
        patch.undo()
    assert most == 1
    assert sim.thoughts.peak >= 2, "thoughts of several agents should overlap in flight"


def test_the_barrier_waits_for_every_thought_in_its_own_tick(tiny_world):
    spec = load_world_spec(tiny_world)
    pipelined = _frames(Simulation(spec, OfflineMind()), 600)
    barrier = _frames(Simulation(spec, OfflineMind(), SimConfig(pipeline_thoughts=False)), 600)
    first_plan = {
        name: next(json.loads(line)["tick"] for line in frames if '"type":"plan"' in line)
        for name, frames in (("pipelined", pipelined), ("barrier", barrier))
    }
    assert first_plan["pipelined"] == first_plan["barrier"] + math.ceil(THINK_DELAY_SECONDS["plan_day"] / 10)


# --- SIGKILL with thoughts in flight --------------------------------------------------
def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "luotuo_rpg.cli", *args]


def test_sigkill_mid_pipeline_then_resume_gives_the_uninterrupted_frames(qixia_world, tmp_path):
    hours = 2  # the waking town: plans and first conversations in flight
    common = ["--hours", str(hours), "--no-progress", "--checkpoint-minutes", "5"]
    offline = subprocess.run(
        _cli("run", str(qixia_world), *common, "--out", str(tmp_path / "offline")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert offline.returncode == 0, offline.stderr
    # Which thoughts are in flight between two ticks is part of the run, the same at any latency: the
    # offline run's checkpoints say where killing leaves thoughts to restore.
    busy = [c.tick for c in iter_history(tmp_path / "offline", vectors=False) if c.sim["thoughts"]["thoughts"]]
    assert len(busy) >= 5, busy
    kill_after = random.Random().choice([t for t in busy if 100 < t < hours * 360 - 60])
    with mock_llm("--latency", "0.05", cwd=ROOT) as port:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
        out = tmp_path / "online"
        frames = out / "frames.jsonl"
        run = _cli(
            "run",
            str(qixia_world),
            *common,
            "--out",
            str(out),
            *openai_flags(f"http://127.0.0.1:{port}/v1"),
        )
        proc = subprocess.Popen(run, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 240
        while not (frames.exists() and frames.read_bytes().count(b"\n") > kill_after + 1):
            assert proc.poll() is None, proc.stderr.read().decode()[-800:]
            assert time.monotonic() < deadline, "the run did not reach the kill point"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stderr.close()
        latest = load_latest(out)
        assert latest is not None and latest.tick >= kill_after
        held = latest.sim["thoughts"]["thoughts"]
        assert bool(held) == (latest.tick in busy)
        resumed = subprocess.run(
            _cli("resume", str(out), "--no-progress"), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert summary["llm"]["fallbacks"] == 0 and summary["llm"]["requests"] > 150
    assert frames.read_bytes() == (tmp_path / "offline" / "frames.jsonl").read_bytes(), (
        f"killed after tick {kill_after}, resumed from {latest.tick} with {len(held)} thoughts in flight"
    )


def test_a_checkpoint_holds_thoughts_with_the_answers_they_had(tiny_world):
    """A restored simulation replays what its thoughts had been told, asking the model only for the rest."""
    spec = load_world_spec(tiny_world)
    whole_mind = RecordingMind()
    whole = _frames(Simulation(spec, whole_mind), 900)
    first_mind = RecordingMind()
    first = Simulation(spec, first_mind)

    async def part() -> dict:
        # Run on to a tick whose checkpoint holds a reaction already answered, with the partner
        # its talk would be written with: the hardest thought to restore.
        while first.tick < 850:
            await first.step()
            state = first.get_state()
            if any(t["answers"] and t["partner"] is not None for t in state["thoughts"]["thoughts"]):
                return state
        raise AssertionError("no thought with answers and a partner in flight")

    state = json.loads(json.dumps(asyncio.run(part())))
    split = first.tick
    second_mind = RecordingMind()
    second = Simulation(spec, second_mind)
    second.set_state(state)
    assert _frames(second, 900 - split) == whole[split:]
    # Every request asked once over both halves: the answers the checkpoint held were not asked again.
    assert len(first_mind.requests) + len(second_mind.requests) == len(whole_mind.requests)


def _block_start_lags(spec, config: SimConfig) -> list[int]:
    """For each thought that began a waking schedule block: ticks from its start to its decision landing."""
    from luotuo_rpg.agent import planning
    from luotuo_rpg.sim import thoughts

    began: list[tuple[int, int]] = []
    landed: dict[tuple[int, int], int] = {}
    next_action, commit_due = planning.next_action, thoughts.Pipeline.commit_due

    async def recording_next_action(agent, view, mind, decision):
        before = agent.state.block_start
        await next_action(agent, view, mind, decision)
        if agent.state.block_start != before and not agent.state.asleep and view.tick > 0:
            began.append((agent.id, view.tick))

    def recording_commit_due(self, tick, agents):
        for thought in self.thoughts.values():
            if thought.slot == "think" and thought.done and thought.bound <= tick:
                landed[(thought.agent, thought.start)] = tick
        return commit_due(self, tick, agents)

    patch = pytest.MonkeyPatch()
    patch.setattr(planning, "next_action", recording_next_action)
    patch.setattr(thoughts.Pipeline, "commit_due", recording_commit_due)
    try:
        _frames(Simulation(spec, OfflineMind(), config), 8640)
    finally:
        patch.undo()
    return [landed[key] - key[1] for key in began if key in landed]


def test_plan_ahead_starts_the_next_block_when_it_begins(tiny_world):
    spec = load_world_spec(tiny_world)
    ahead = sorted(_block_start_lags(spec, SimConfig()))
    late = sorted(_block_start_lags(spec, SimConfig(plan_ahead_minutes=0)))
    decompose = math.ceil(THINK_DELAY_SECONDS["plan_block"] / spec.world.tick_seconds)
    assert len(ahead) >= 20 and len(late) >= 20
    # Without it every block waits for its decomposition; with it most begin in the tick their thought does.
    assert late[len(late) // 2] >= decompose, late
    assert ahead.count(0) >= len(ahead) // 2, ahead


def _scorings(spec, config: SimConfig) -> list[tuple[int, int, int]]:
    """A day's scorings of what was seen: (agent, the tick each began, the tick it was due)."""
    from luotuo_rpg.sim import thoughts

    began: list[tuple[int, int, int]] = []
    start_remembering = thoughts.Pipeline.start_remembering

    def recording_remembering(self, agent, view, not_before=0):
        thought = start_remembering(self, agent, view, not_before)
        began.append((agent.id, view.tick, thought.bound))
        return thought

    patch = pytest.MonkeyPatch()
    patch.setattr(thoughts.Pipeline, "start_remembering", recording_remembering)
    try:
        _frames(Simulation(spec, OfflineMind(), config), 8640)
    finally:
        patch.undo()
    return began


def test_the_town_scores_what_it_saw_together_before_the_hour_and_it_lands_on_the_hour(qixia_world):
    spec = load_world_spec(qixia_world)
    clock = Simulation(spec, OfflineMind()).world.clock
    scorings = _scorings(spec, SimConfig())
    quarter_to = [(start, due) for _, start, due in scorings if clock.minute_of_day(start) % 60 == 45]
    # Most of a day's scorings go out in the hour's last quarter, many agents' in one tick (with the
    # plan-aheads of blocks on the hour), and each is due in the tick before the hour, not minutes later.
    assert len(quarter_to) >= len(scorings) // 2, (len(quarter_to), len(scorings))
    assert max(Counter(start for start, _ in quarter_to).values()) >= 20
    assert all(clock.minute_of_day(due + 1) % 60 == 0 for _, due in quarter_to), quarter_to
    apart = _scorings(spec, SimConfig(score_before_the_hour=False))
    assert max(Counter(start for _, start, _ in apart).values()) < 10


def test_the_town_runs_on_while_a_slow_model_plans_its_day(qixia_world):
    """What a viewer of a live run sees: ticks go on (agents keep lying in bed, walking, working) while
    the day plans are still on the wire."""
    spec = load_world_spec(qixia_world)
    start = spec.world.start.replace(hour=7, minute=0)  # the whole town is up: everyone plans at once
    spec = spec.model_copy(update={"world": spec.world.model_copy(update={"start": start})})
    with serve_in_thread(create_app(OfflineAnswerer(), latency_s=3.0)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="luotuo-mock", max_concurrency=64))
        mind = StructuredMind(backend, fallback=OfflineMind())
        sim = Simulation(spec, mind)

        async def go() -> dict:
            for _ in range(20):
                await sim.step()
            # Give the requests a moment to reach the server (they were sent from tick 0 on).
            for _ in range(50):
                stats = httpx.get(f"{server.root_url}/stats").json()
                if stats["in_flight"] >= 20:
                    break
                await asyncio.sleep(0.02)
            await sim.aclose()
            await mind.aclose()
            return stats

        stats = asyncio.run(go())
    assert sim.tick == 20
    assert stats["in_flight"] >= 20, stats
