"""The one reader of the frame stream: deltas add up to the keyframes, plans are lists, interviews are recorded."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from luotuo_rpg.llm import OfflineMind
from luotuo_rpg.server.mirror import FrameMirror
from luotuo_rpg.server.views import replay_agent_detail
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.sim.files import Frame
from luotuo_rpg.sim.frame_stream import FrameFile, FrameStreamError, TownState
from luotuo_rpg.world.loader import load_world_spec


def _frames(sim: Simulation, ticks: int) -> list[Frame]:
    async def go() -> list[Frame]:
        return [await sim.step() for _ in range(ticks)]

    return asyncio.run(go())


def test_deltas_add_up_to_every_keyframe(tiny_world: Path) -> None:
    spec = load_world_spec(tiny_world)
    frames = _frames(Simulation(spec, OfflineMind()), 1300)
    keys = [f for f in frames if f.key]
    assert len(keys) >= 3
    town = TownState()
    town.apply(frames[0])
    moved = 0
    for frame in frames[1:]:
        if frame.key:
            # Built from the deltas alone, the state equals what the engine wrote out in full.
            assert _same_after(town, frame), f"tick {frame.tick}"
        moved += sum(1 for delta in frame.agents.values() if delta.pos is not None)
        town.apply(frame)
    assert moved > 100, "agents walked, so deltas carried positions"


def _same_after(town: TownState, key: Frame) -> bool:
    """A keyframe also carries its own tick's changes: apply it as a delta to the state before."""
    before = TownState()
    before.apply(town.keyframe())
    before.apply(key.model_copy(update={"key": False, "tick": town.tick + 1}))
    return before.keyframe().agents == key.agents and before.keyframe().objects == key.objects


def test_plan_events_carry_the_outline_as_a_list_and_old_text_still_reads(tiny_world: Path) -> None:
    spec = load_world_spec(tiny_world)
    frames = _frames(Simulation(spec, OfflineMind()), 400)
    plans = [(i, e) for i, f in enumerate(frames) for e in f.events if e.type == "plan" and e.outline is not None]
    assert plans and all(len(e.outline or []) >= 2 and e.text is None for _, e in plans)
    last, plan = plans[-1]
    mirror = FrameMirror()
    for frame in frames[: last + 1]:
        mirror.apply(frame)
    agent = plan.agent
    assert agent is not None
    assert replay_agent_detail(spec, agent, mirror).outline == plan.outline
    # A replay recorded before outlines were lists: the same outline, joined with the language's separator.
    old = Frame.model_validate_json(
        json.dumps(
            {
                "tick": mirror.tick + 1,
                "time": mirror.time,
                "events": [{"type": "plan", "agent": agent, "text": "；".join(plan.outline or [])}],
            }
        )
    )
    mirror.apply(old)
    assert replay_agent_detail(spec, agent, mirror).outline == plan.outline


def test_an_interview_between_ticks_is_in_the_next_frame_only(tiny_world: Path) -> None:
    spec = load_world_spec(tiny_world)
    sim = Simulation(spec, OfflineMind())
    _frames(sim, 400)
    answer = asyncio.run(sim.interview(0, "今天忙吗？"))
    after, later = _frames(sim, 2)
    told = [e for e in after.events if e.type == "interview"]
    assert [(e.agent, e.question, e.text) for e in told] == [(0, "今天忙吗？", answer)]
    assert not any(e.type == "interview" for e in later.events)


def test_a_bad_line_names_its_place_and_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    good = Frame(tick=0, time="2026-03-01 06:00", key=True).to_line()
    path = tmp_path / "frames.jsonl"
    path.write_text(f'{good}\n{good}\n{{"tick": 2, "ti')
    reader = FrameFile(path)
    assert [f.tick for f in reader] == [0, 0] and reader.torn_line
    path.write_text(f"{good}\nnot json\n{good}\n")
    try:
        list(FrameFile(path))
    except FrameStreamError as error:
        assert f"{path}:2" in str(error)
    else:
        raise AssertionError("a bad line in the middle must be an error")
