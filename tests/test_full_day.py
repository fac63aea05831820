"""A whole game day of the shipped towns on the offline mind: what issues 2, 3 and 8 promise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from luotuo_rpg.sim.files import Frame
from luotuo_rpg.sim.runner import run_headless

WORLDS = Path(__file__).resolve().parents[1] / "worlds"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.slow
@pytest.mark.parametrize("world", ["qixia_town.yaml", "smallville_zh.yaml"])
def test_a_town_lives_through_one_game_day(world, tmp_path):
    summary = run_headless(WORLDS / world, hours=24, seed=0, out=tmp_path / "run")
    assert summary.ticks == 8640
    assert len(summary.agents) >= 25
    for agent in summary.agents:
        assert agent.plans >= 1, agent
        assert agent.reflections >= 1, agent
        assert agent.conversations >= 1, agent
    assert summary.conversations >= 10
    assert summary.sample_lines and all(CJK.search(line) for line in summary.sample_lines)
    for event in summary.events:
        assert event.known_at_end > event.known_at_start, event
    assert summary.llm.fallbacks == 0

    # Everyone walks between places: each agent is seen in at least two rooms.
    places: dict[int, set[str]] = {}
    said = 0
    with open(tmp_path / "run" / "frames.jsonl", encoding="utf-8") as frames:
        for line in frames:
            frame = Frame.model_validate_json(line)
            for agent_id, agent in frame.agents.items():
                if agent.place:
                    places.setdefault(agent_id, set()).add("/".join(agent.place.split("/")[:2]))
            said += sum(1 for e in frame.events if e.type == "say" and e.text and CJK.search(e.text))
    assert all(len(rooms) >= 2 for rooms in places.values()), {k: len(v) for k, v in places.items()}
    assert said >= 10 * 2
    written = json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
    assert written["ticks"] == 8640
