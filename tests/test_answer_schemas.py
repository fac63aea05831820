"""Every request carries a JSON Schema of its answer, built from the kind's output model and
narrowed by the request; what a server does not enforce is fixed in code and counted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from luotuo_rpg.llm.fixups import apply_fixups, cut_repeats, nearest
from luotuo_rpg.llm.kinds import (
    REQUEST_KINDS,
    MemoryRef,
    PersonaBrief,
    PlanBlockRequest,
    PlanDayRequest,
    ReactRequest,
    ReflectInsightsRequest,
    ScheduleBlock,
    TalkSide,
)
from luotuo_rpg.llm.prompts import render
from luotuo_rpg.llm.schemas import output_schema, request_schema
from luotuo_rpg.llm.structured import parse_output
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec
from tests.doubles import RecordingMind, talk_answer

PERSONA = PersonaBrief(name="白展堂", age=27, traits=["机灵"], background="跑堂")
TIME = "2026-03-01 08:00"


def _walk(node: object):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


@pytest.mark.parametrize("kind", sorted(REQUEST_KINDS))
def test_every_kind_gets_a_closed_bounded_schema_from_its_output_model(kind: str) -> None:
    schema = output_schema(REQUEST_KINDS[kind].output)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "$ref" not in json.dumps(schema)
    for node in _walk(schema):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, (kind, node)
        if node.get("type") == "array":
            assert "maxItems" in node, (kind, node)
        if node.get("type") == "object" and "properties" in node:
            assert node["additionalProperties"] is False
            assert node["required"] == list(node["properties"])


@pytest.fixture(scope="module")
def offline_day() -> RecordingMind:
    mind = RecordingMind()
    sim = Simulation(load_world_spec(Path(__file__).resolve().parents[1] / "worlds" / "tiny.yaml"), mind)

    async def go() -> None:
        for _ in range(8640):  # a game day: every kind the town asks
            await sim.step()

    asyncio.run(go())
    return mind


def test_the_offline_minds_answers_fit_their_requests_schemas_and_need_no_fixing(offline_day) -> None:
    kinds = set()
    for request, output in zip(offline_day.requests, offline_day.outputs):
        schema = request_schema(request)
        data = output.model_dump(mode="json")
        jsonschema.validate(data, schema)
        assert apply_fixups(request, data, schema) == (data, []), request.kind
        kinds.add(request.kind)
    assert {"plan_day", "plan_block", "react", "reflect_questions", "reflect_insights"} <= kinds


def _plan_block() -> PlanBlockRequest:
    return PlanBlockRequest(
        agent="白展堂",
        time=TIME,
        persona=PERSONA,
        block=ScheduleBlock(start="08:00", activity="跑堂", place="客栈/大堂"),
        minutes=60,
        known_places=["客栈/大堂", "客栈/大堂/柜台", "客栈/厨房"],
    )


def test_places_become_an_enum_of_the_known_places_and_the_actions_fit_the_block() -> None:
    schema = request_schema(_plan_block())
    action = schema["properties"]["actions"]["items"]
    assert action["properties"]["place"]["enum"] == ["客栈/大堂", "客栈/大堂/柜台", "客栈/厨房"]
    assert action["properties"]["minutes"]["maximum"] == 60
    assert schema["properties"]["actions"]["maxItems"] == 12  # 60 minutes at 5 at least


def test_cited_ids_become_an_enum_of_the_memories_given() -> None:
    request = ReflectInsightsRequest(
        agent="白展堂",
        time=TIME,
        persona="跑堂",
        question="掌柜的为什么发愁？",
        memories=[MemoryRef(id=4, text="掌柜的叹气"), MemoryRef(id=9, text="账本不平")],
    )
    cites = request_schema(request)["properties"]["insights"]["items"]["properties"]["cites"]
    assert cites["items"]["enum"] == [4, 9] and cites["minItems"] == 1 and cites["maxItems"] == 2
    assert request_schema(request)["properties"]["insights"]["maxItems"] == 3


def _react(other: str | None) -> ReactRequest:
    """Noticing ``other``, who can be talked with (None: nobody is there)."""
    me = TalkSide(persona=PERSONA, doing="擦桌子")
    them = TalkSide(persona=PersonaBrief(name=other, age=30, traits=[], background="")) if other else None
    return ReactRequest(agent="白展堂", time=TIME, observation="有人进门", other=other, me=me, them=them)


_TALK = [{"speaker": "白展堂", "text": "掌柜的，早！"}, {"speaker": "佟湘玉", "text": "早啊。"}]
_TALK_PAIRS = [(line["speaker"], line["text"]) for line in _TALK]


def test_each_decision_can_be_generated_only_with_what_it_carries() -> None:
    schema = request_schema(_react("佟湘玉"))
    validator = jsonschema.Draft202012Validator(schema)
    quiet = {"new_activity": None, "lines": [], "summary": None}
    assert validator.is_valid({"reason": "去看看", "decision": "react", **quiet, "new_activity": "迎客"})
    assert validator.is_valid({"reason": "打招呼", "decision": "talk", **quiet, "lines": _TALK, "summary": "问了早"})
    assert validator.is_valid({"reason": "忙", "decision": "continue", **quiet})
    assert not validator.is_valid({"reason": "去看看", "decision": "react", **quiet})
    assert not validator.is_valid({"reason": "忙", "decision": "continue", **quiet, "new_activity": "迎客"})
    # A talk needs its lines and its summary; the other decisions carry none.
    assert not validator.is_valid({"reason": "打招呼", "decision": "talk", **quiet, "summary": "问了早"})
    assert not validator.is_valid({"reason": "打招呼", "decision": "talk", **quiet, "lines": _TALK})
    assert not validator.is_valid({"reason": "忙", "decision": "continue", **quiet, "lines": _TALK})
    # Only the two of them speak.
    stranger = [{"speaker": "郭芙蓉", "text": "我也来！"}]
    assert not validator.is_valid({"reason": "打招呼", "decision": "talk", **quiet, "lines": stranger, "summary": "来"})


def test_talk_is_not_offered_when_nobody_is_there() -> None:
    validator = jsonschema.Draft202012Validator(request_schema(_react(None)))
    quiet = {"new_activity": None, "lines": [], "summary": None}
    assert not validator.is_valid({"reason": "打招呼", "decision": "talk", **quiet, "lines": _TALK, "summary": "早"})
    assert validator.is_valid({"reason": "忙着呢", "decision": "continue", **quiet})


def test_the_routine_is_shown_under_the_keys_the_schedule_must_use() -> None:
    from luotuo_rpg.llm.kinds import RoutineBrief

    request = PlanDayRequest(
        agent="白展堂",
        time=TIME,
        persona=PERSONA,
        known_places=["客栈/大堂"],
        routine=[RoutineBrief(start="07:00", activity="跑堂", place="客栈/大堂")],
    )
    context = render(request)[1]["content"]
    assert '"start":"07:00"' in context and '"activity":"跑堂"' in context
    assert '"at"' not in context and '"do"' not in context
    block = request_schema(request)["properties"]["schedule"]["items"]
    assert list(block["properties"]) == ["start", "activity", "place"]


def test_what_the_schema_says_is_fixed_in_code_and_counted() -> None:
    request = _plan_block()
    looping = "我先去看看。" * 40
    answer = json.dumps(
        {
            "actions": [
                {"activity": looping, "minutes": 50, "place": "厨房", "emoji": "🍵", "object_state": None},
                {
                    "activity": "招呼客人",
                    "minutes": 50,
                    "place": "客栈/大堂/柜台/抽屉",
                    "emoji": "🙂",
                    "object_state": None,
                },
            ]
        },
        ensure_ascii=False,
    )
    fixes: list[str] = []
    output = parse_output(request, answer, fixes)
    assert output.actions[0].activity == "我先去看看。"
    assert [a.place for a in output.actions[:2]] == ["客栈/厨房", "客栈/大堂/柜台"]
    assert sum(a.minutes for a in output.actions) == 60
    assert sorted(fixes) == ["durations", "repeats", "snapped", "snapped"]


def test_repeats_are_cut_only_when_a_phrase_loops() -> None:
    assert cut_repeats("想了想：想了想：好") == "想了想：想了想：好"
    assert cut_repeats("好好好") == "好好好"
    assert cut_repeats("走吧走吧走吧走吧") == "走吧"


def test_an_unknown_place_snaps_to_its_room_then_to_the_closest_name() -> None:
    known = ["客栈/大堂", "客栈/厨房", "药铺/药房"]
    assert nearest("客栈/厨房/灶台", known) == "客栈/厨房"
    assert nearest("药房", known) == "药铺/药房"
    assert nearest("客栈大堂", known) == "客栈/大堂"


def test_a_talk_that_copies_its_prompt_keeps_only_what_was_said() -> None:
    """The 0.5B opened a talk with the very words of what it saw and summed it up with the
    prompt's own instructions: the copy is dropped and counted, the summary rebuilt from the lines."""
    request = _react("佟湘玉")
    copied = talk_answer(
        [("白展堂", "有人进门。"), ("佟湘玉", "展堂，来客人了，快招呼！")],
        summary="两人轮流说，最多 max_lines 句，不重复 said_before",
    )
    fixed, fixes = apply_fixups(request, copied, request_schema(request))
    assert fixes == ["copied line", "copied summary"]
    output = parse_output(request, json.dumps(fixed, ensure_ascii=False))
    assert [line.text for line in output.lines] == ["展堂，来客人了，快招呼！"]
    assert output.summary == "展堂，来客人了，快招呼！"
    # The 1.5B summed a talk up by what was seen: remembered so, the talk's news would be lost.
    by_sight = talk_answer(_TALK_PAIRS, summary="佟湘玉和白展堂：有人进门。")
    fixed, fixes = apply_fixups(request, by_sight, request_schema(request))
    assert fixes == ["copied summary"] and fixed["summary"] == "掌柜的，早！ 早啊。"
    told = talk_answer(_TALK_PAIRS, summary="有人进门，白展堂向掌柜问早，掌柜也问了好")
    assert apply_fixups(request, told, request_schema(request))[1] == []
    # A talk made only of copies keeps its lines: dropping them all would leave no talk at all.
    only = {**copied, "lines": copied["lines"][:1]}
    fixed, fixes = apply_fixups(request, only, request_schema(request))
    assert "copied line" not in fixes and fixed["lines"] == copied["lines"][:1]
