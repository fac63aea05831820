"""English end to end: worlds/smallville.yaml lives a whole day in English on the offline mind
and through the real openai client, and no Chinese reaches a memory, a prompt or a frame."""

from __future__ import annotations

import json
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from luotuo_rpg.agent.state import is_trivial
from luotuo_rpg.llm.factory import MindOptions
from luotuo_rpg.llm.kinds import (
    OutputRejected,
    PersonaBrief,
    ReactOutput,
)
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.llm.prompts import recover_request, render
from luotuo_rpg.llm.structured import parse_output
from luotuo_rpg.phrases import _table
from luotuo_rpg.sim.files import Frame
from luotuo_rpg.sim.runner import run_headless
from luotuo_rpg.world.loader import load_world_spec
from tests.doubles import talk_json, talk_request

WORLDS = Path(__file__).resolve().parents[1] / "worlds"
SMALLVILLE = WORLDS / "smallville.yaml"
# Chinese characters and the full-width punctuation that goes with them (，。；：（）「」…).
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_phrase_with_the_same_placeholders():
    zh, en = _table("zh"), _table("en")
    assert set(zh) == set(en)
    for key, value in zh.items():
        other = en[key]
        assert type(value) is type(other), key
        if isinstance(value, str):
            assert _placeholders(value) == _placeholders(str(other)), key
        if isinstance(value, list) and isinstance(other, list):
            assert {frozenset(_placeholders(v)) for v in value} == {frozenset(_placeholders(v)) for v in other}, key
    assert not any(CJK.search(json.dumps(v, ensure_ascii=False)) for v in en.values())


def test_a_prompt_carries_its_language_and_the_mock_reads_it_back():
    persona = PersonaBrief(name="Sam Moore", age=65, traits=["wise"], background="A retired navy officer.")
    english = talk_request(persona, partner="Adam Smith", time="2023-02-13 09:00", language="en")
    messages = render(english)
    system = messages[0]["content"]
    assert system.startswith("You are Sam Moore") and "write the talk" in system and not CJK.search(system)
    recovered = recover_request(messages)
    assert recovered is not None and recovered.language == "en"
    chinese = english.model_copy(update={"language": "zh"})
    recovered = recover_request(render(chinese))
    assert recovered is not None and recovered.language == "zh"


def test_an_english_world_rejects_a_chinese_answer_but_not_a_chinese_name():
    persona = PersonaBrief(name="Sam Moore", age=65, traits=["wise"], background="A retired navy officer.")
    request = talk_request(persona, partner="Adam Smith", time="2023-02-13 09:00", language="en")
    with pytest.raises(OutputRejected, match="English"):
        parse_output(request, talk_json("Sam Moore", "早上好，亚当！", summary="Said good morning."))
    output = parse_output(request, talk_json("Sam Moore", "Morning, Adam! Have you met 李雷?", summary="Said hello."))
    assert isinstance(output, ReactOutput) and "李雷" in output.lines[0].text


def test_what_is_trivial_depends_on_the_language():
    assert is_trivial("sleeping", "en") and is_trivial("睡觉", "zh")
    assert not is_trivial("serving customers behind the counter", "en")


def test_smallville_in_english_has_the_25_residents_and_both_threads():
    spec = load_world_spec(SMALLVILLE)
    zh = load_world_spec(WORLDS / "smallville_zh.yaml")
    assert spec.world.language == "en"
    names = [p.name for p in spec.personas]
    assert len(set(names)) == 25 and {"Isabella Rodriguez", "Sam Moore", "Klaus Mueller", "Ayesha Khan"} <= set(names)
    assert spec.map.rows == zh.map.rows
    assert [[r.rect for r in a.rooms] for a in spec.areas] == [[r.rect for r in a.rooms] for a in zh.areas]
    (party,) = spec.events
    assert party.known_by == ["Isabella Rodriguez"] and party.when == zh.events[0].when
    sam = next(p for p in spec.personas if p.name == "Sam Moore")
    assert any("mayor" in m for m in sam.memories)
    assert not CJK.search(SMALLVILLE.read_text(encoding="utf-8"))


def _assert_an_english_day(run: Path) -> list[str]:
    """The day's frames, memories and plans hold no Chinese and show a town that lives; returns the lines said."""
    frames = (run / "frames.jsonl").read_text(encoding="utf-8")
    assert not CJK.search(frames), CJK.search(frames)
    said: list[str] = []
    plans = reflections = 0
    for line in frames.splitlines():
        frame = Frame.model_validate_json(line)
        said += [e.text for e in frame.events if e.type == "say" and e.text]
        plans += sum(1 for e in frame.events if e.type == "plan")
        reflections += sum(1 for e in frame.events if e.type == "reflect")
    assert plans >= 25 and reflections >= 25, (plans, reflections)
    assert len(said) >= 20 and len(set(said)) >= 20
    assert all(re.search(r"[A-Za-z]{3}", text) for text in said)
    state = json.loads((run / "checkpoint.json").read_text(encoding="utf-8"))
    texts = json.dumps(state, ensure_ascii=False)
    assert not CJK.search(texts), CJK.search(texts)
    agents = state["sim"]["agents"]
    memories = [n["text"] for a in agents for n in a["memory"]["nodes"]]
    assert any(m.startswith("Plan for 2023-02-13: ") for m in memories)
    assert any(m.startswith("I talked with ") for m in memories)
    assert any(" is " in m and " at " in m for m in memories)  # what they saw: "X is doing Y at Z"
    return said


@pytest.mark.slow
def test_english_smallville_lives_a_day_in_english_on_the_offline_mind(tmp_path):
    summary = run_headless(SMALLVILLE, hours=24, seed=0, out=tmp_path / "run")
    assert summary.ticks == 8640 and len(summary.agents) == 25
    for agent in summary.agents:
        assert agent.plans >= 1 and agent.reflections >= 1 and agent.conversations >= 1, agent
    (party,) = summary.events
    assert party.known_at_end > party.known_at_start
    assert summary.llm.fallbacks == 0
    said = _assert_an_english_day(tmp_path / "run")
    assert any("Valentine's Day party" in text for text in said)
    assert any("mayor" in text for text in said)  # the election is what half the town talks about


class _RecordingAnswerer(OfflineAnswerer):
    """The mock server's answers, keeping every prompt that came over the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[list[dict[str, Any]]] = []

    def __call__(self, model: str, messages: list[dict[str, Any]]) -> str:
        # The start-up probe of the response_format dialect is one bare user message; requests of the
        # run carry a system prompt.
        if any(m.get("role") == "system" for m in messages):
            self.prompts.append(messages)
        return super().__call__(model, messages)


@pytest.mark.slow
def test_english_smallville_lives_a_day_through_the_openai_client(tmp_path):
    answerer = _RecordingAnswerer()
    with serve_in_thread(create_app(answerer)) as server:
        options = MindOptions(
            llm="openai", openai={"base_urls": [server.base_url], "model": "luotuo-mock", "api_key": "sk-test"}
        )
        summary = run_headless(SMALLVILLE, hours=24, seed=0, out=tmp_path / "run", mind_options=options)
    assert summary.ticks == 8640
    # Every request went over HTTP, was answered and used: no repair, no fallback.
    assert summary.llm.requests == len(answerer.prompts) >= 1000
    assert summary.llm.fallbacks == 0 and summary.llm.repairs == 0
    kinds = set()
    for messages in answerer.prompts:
        request = recover_request(messages)
        assert request is not None and request.language == "en"
        kinds.add(request.kind)
        system = messages[0]["content"]
        assert request.agent in system and not CJK.search(system), system
    assert {"plan_day", "plan_block", "react", "reflect_questions", "reflect_insights"} <= kinds
    said = _assert_an_english_day(tmp_path / "run")
    assert any("Valentine's Day party" in text for text in said)


def test_the_command_line_of_an_english_run_is_english(tmp_path):
    """What a user of an English world reads: the first line, the progress bar, the closing summary."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "luotuo_rpg.cli",
            "run",
            str(SMALLVILLE),
            "--hours",
            "2",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=True,
    )
    assert done.stdout.startswith("luotuo-rpg · Smallville · 25 agents · 2 game hours")
    assert "event \"Isabella Rodriguez's Valentine's Day party" in done.stdout
    assert "it had not begun when the run ended (starts 2023-02-14 17:00)" in done.stdout
    assert "running:" in done.stderr and "requests" in done.stderr  # the progress bar
    found = CJK.findall(done.stdout + done.stderr)
    assert not found, found[:10]
