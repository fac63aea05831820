"""Malformed, refused or foreign model output is repaired or replaced, counted, never raised.

End to end: the real ``openai`` client talks to an OpenAI-compatible server on
loopback whose answers are scripted to go wrong in every way we know.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import ValidationError

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.chat import BackendDown
from luotuo_rpg.llm.json_extract import NoJSON, extract_json
from luotuo_rpg.llm.kinds import ImportanceRequest, OutputRejected, PersonaBrief, ReactRequest
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.llm.structured import StructuredMind, parse_output
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec
from tests.doubles import talk_answer, talk_json, talk_request

PERSONA = PersonaBrief(name="白展堂", age=27, traits=["机灵"], background="跑堂")


def _converse() -> ReactRequest:
    return talk_request(PERSONA, partner="佟湘玉", time="2026-03-01 08:00")


def test_prose_and_fences_around_json_are_read():
    text = f"好的，这是我的回答：\n```json\n{talk_json('白展堂', '掌柜的，早！')}\n```\n希望有帮助。"
    assert parse_output(_converse(), text).lines[0].text == "掌柜的，早！"


def test_truncated_json_is_closed():
    assert extract_json('{"line": "掌柜的，今天') == {"line": "掌柜的，今天"}
    assert extract_json('{"scores": [3, 5, 7') == {"scores": [3, 5, 7]}


def test_wrong_types_are_rejected_with_the_field():
    with pytest.raises(ValidationError, match="lines"):
        parse_output(_converse(), '{"decision": "talk", "lines": "好", "summary": "寒暄"}')


def test_refusal_empty_and_english_are_rejected():
    with pytest.raises(OutputRejected, match="refusal"):
        parse_output(_converse(), talk_json("白展堂", "作为一个AI语言模型，我无法扮演这个角色。"))
    with pytest.raises(NoJSON):
        parse_output(_converse(), "")
    with pytest.raises(OutputRejected, match="Chinese"):
        parse_output(_converse(), talk_json("白展堂", "Good morning, boss!"))
    # A name written short or with a title is the speaker it names; every line is by one of the two.
    assert parse_output(_converse(), talk_json("展堂", "掌柜的，早！")).lines[0].speaker == "白展堂"
    assert parse_output(_converse(), talk_json("郭芙蓉", "掌柜的，早！")).lines[0].speaker in ("白展堂", "佟湘玉")


def test_score_count_must_match_observations():
    request = ImportanceRequest(agent="甲", time="2026-03-01 08:00", persona="甲", observations=["a", "b"])
    with pytest.raises(OutputRejected, match="expected 2 scores"):
        parse_output(request, '{"scores": [3]}')
    assert parse_output(request, '{"scores": [0, 42]}').scores == [1, 10]


class ScriptedFaults:
    """Valid offline answers, except for a scripted share that go wrong.

    It counts what the client-side layer must do: a repair for every broken first
    answer, a fallback when the repair is broken too."""

    BROKEN_FIRST = (
        "作为一个AI语言模型，我无法回答。",
        "",
        '{"wrong": "shape"}',
        '{"scores": "高"}',
        talk_json("白展堂", "Sure! Here is the next line."),
    )

    def __init__(self) -> None:
        self.offline = OfflineAnswerer()
        self.first_attempts = 0
        self.expected_repairs = 0
        self.expected_fallbacks = 0
        self.cases: dict[str, int] = {}

    def __call__(self, model: str, messages: list[dict]) -> str:
        valid = self.offline(model, messages)
        is_repair = any(m["role"] == "assistant" for m in messages)
        if is_repair:
            if self._twice_broken:
                self.expected_fallbacks += 1
                return "still not JSON, sorry"
            return valid
        self.first_attempts += 1
        n = self.first_attempts
        self._twice_broken = n % 11 == 0
        if n % 5 == 0 or self._twice_broken:
            broken = self.BROKEN_FIRST[n % len(self.BROKEN_FIRST)]
            if "Sure! Here" in broken and '"kind":"react"' not in messages[-1]["content"]:
                broken = "作为一个AI语言模型，我无法回答。"
            self.cases[broken[:12]] = self.cases.get(broken[:12], 0) + 1
            self.expected_repairs += 1
            return broken
        if n % 7 == 0:
            return f"当然可以！\n```json\n{valid}\n```"
        return valid


def test_a_run_through_broken_answers_never_raises_and_counts_match(tiny_world):
    script = ScriptedFaults()
    with serve_in_thread(create_app(script)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="luotuo-mock", max_retries=1))
        mind = StructuredMind(backend, fallback=OfflineMind())
        sim = Simulation(load_world_spec(tiny_world), mind)

        async def go() -> None:
            for _ in range(4320):  # twelve game hours
                await sim.step()
            await mind.aclose()

        asyncio.run(go())
    stats = mind.stats
    assert script.first_attempts > 50
    assert len(script.cases) >= 4, script.cases
    assert stats.repairs == script.expected_repairs > 0
    assert stats.fallbacks == script.expected_fallbacks > 0
    assert sum(k.fallbacks for k in stats.by_kind.values()) == stats.fallbacks
    assert all("invalid after repair" in reason for reason in stats.fallback_reasons)
    assert sim.tick == 4320


def test_a_dead_server_falls_back_for_every_request_when_told_never_to_halt(tiny_world):
    backend = OpenAIBackend(OpenAIConfig(base_urls=["http://127.0.0.1:9/v1"], model="m", max_retries=0, timeout_s=2))
    mind = StructuredMind(backend, fallback=OfflineMind(), halt_after_unavailable=None)
    sim = Simulation(load_world_spec(tiny_world), mind)

    async def go() -> None:
        for _ in range(400):
            await sim.step()

    asyncio.run(go())
    assert mind.stats.fallbacks > 3
    assert mind.stats.fallbacks == sum(k.fallbacks for k in mind.stats.by_kind.values())
    assert json.dumps(mind.stats.fallback_reasons, ensure_ascii=False).count("backend unavailable") >= 1


def test_a_dead_server_halts_the_tick_after_three_requests_in_a_row(tiny_world):
    backend = OpenAIBackend(OpenAIConfig(base_urls=["http://127.0.0.1:9/v1"], model="m", max_retries=0, timeout_s=2))
    mind = StructuredMind(backend, fallback=OfflineMind())
    sim = Simulation(load_world_spec(tiny_world), mind)

    async def go() -> None:
        for _ in range(400):
            await sim.step()

    with pytest.raises(BackendDown, match="3 requests in a row found no backend"):
        asyncio.run(go())
    assert mind.stats.fallbacks >= 2  # the first two fell back: a blip is not an outage


def test_a_talk_that_loops_ends_where_it_starts_repeating():
    again = "收工后去客栈。"
    said = [("白展堂", "掌柜的，早！"), ("佟湘玉", again), ("白展堂", again), ("佟湘玉", again)]
    looping = talk_answer(said, summary="两人约了收工后去客栈")
    talk = parse_output(_converse(), json.dumps(looping, ensure_ascii=False))
    assert [line.text for line in talk.lines] == ["掌柜的，早！", "收工后去客栈。"]
