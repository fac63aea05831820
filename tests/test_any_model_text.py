"""No text a model can send makes ``ask()`` raise: it ends in an answer, a repair or a counted fallback.

The backend here is the model's edge itself: it returns whatever text the property draws, for the
first answer and for the repair. One test sends undecodable bytes over real HTTP too.
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.chat import ChatRequest, ChatResult
from luotuo_rpg.llm.kinds import (
    ImportanceRequest,
    MemoryRef,
    PersonaBrief,
    PlanBlockRequest,
    ReactRequest,
    ReflectInsightsRequest,
    Request,
    ScheduleBlock,
    TalkSide,
)
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.structured import StructuredMind
from tests.doubles import talk_json, talk_request

PERSONA = PersonaBrief(name="白展堂", age=27, traits=["机灵"], background="跑堂")
TIME = "2026-03-01 08:00"
MEMORIES = [MemoryRef(id=3, text="掌柜的叹气"), MemoryRef(id=7, text="账本不平")]
REQUESTS: list[Request] = [
    ImportanceRequest(agent="白展堂", time=TIME, persona="跑堂", observations=["有人进门", "掌柜的叹气"]),
    PlanBlockRequest(
        agent="白展堂",
        time=TIME,
        persona=PERSONA,
        block=ScheduleBlock(start="08:00", activity="跑堂", place="客栈/大堂"),
        minutes=60,
        known_places=["客栈/大堂", "客栈/厨房"],
        memories=MEMORIES,
    ),
    ReactRequest(  # nobody to talk with: go on or do something else
        agent="白展堂", time=TIME, observation="有人进门", other="佟湘玉", me=TalkSide(persona=PERSONA, doing="擦桌子")
    ),
    talk_request(PERSONA, partner="佟湘玉", time=TIME, memories=MEMORIES),
    ReflectInsightsRequest(agent="白展堂", time=TIME, persona="跑堂", question="掌柜的为什么发愁？", memories=MEMORIES),
]


class TextBackend:
    """Answers every chat with the next of the given texts (the model, at its very edge)."""

    name = "text"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.counters: dict[str, int] = {}
        self.sent: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.sent.append(request)
        return ChatResult(text=self.texts[min(len(self.sent), len(self.texts)) - 1], tokens_in=1, tokens_out=1)

    async def aclose(self) -> None:
        return None


def _ask(request: Request, texts: list[str]) -> tuple[BaseModel, StructuredMind, TextBackend]:
    backend = TextBackend(texts)
    mind = StructuredMind(backend, fallback=OfflineMind())
    return asyncio.run(mind.ask(request)), mind, backend


def _json_like() -> st.SearchStrategy[str]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
    values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
        max_leaves=20,
    )
    keys = st.sampled_from(
        [
            "scores",
            "actions",
            "decision",
            "reason",
            "new_activity",
            "lines",
            "speaker",
            "summary",
            "insights",
            "activity",
            "minutes",
            "place",
            "emoji",
            "cites",
            "text",
        ]
    )
    shaped = st.dictionaries(keys, values, max_size=5)
    return (values | shaped).map(lambda v: json.dumps(v, ensure_ascii=False)) | shaped.map(
        lambda v: json.dumps(v)[: max(1, len(json.dumps(v)) // 2)]
    )


ANY_TEXT = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    _json_like(),
    st.sampled_from(
        [
            "[" * 5000,
            "{" * 5000 + "}" * 5000,
            "\x00" * 1000,
            '{"line": "\x00好"}',
            "x" * 1_000_000,
            '{"line": "' + "哈哈哈" * 300_000 + '"}',
            '{"scores": [1e999, -1e999]}',
            '{"line": "\\ud800"}',
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(first=ANY_TEXT, repair=ANY_TEXT, which=st.integers(0, len(REQUESTS) - 1))
def test_any_text_from_a_model_ends_in_an_answer_of_the_right_type(first: str, repair: str, which: int) -> None:
    request = REQUESTS[which]
    output, mind, backend = _ask(request, [first, repair])
    assert isinstance(output, type(request).output)
    json.dumps(output.model_dump(mode="json"), ensure_ascii=False).encode("utf-8")  # writable to frames
    stats = mind.stats
    assert len(backend.sent) == 1 + stats.repairs
    assert stats.fallbacks <= stats.repairs <= 1


def test_five_thousand_brackets_are_asked_again_then_fall_back_counted() -> None:
    output, mind, backend = _ask(REQUESTS[3], ["[" * 5000, "[" * 5000])
    assert isinstance(output, type(REQUESTS[3]).output)
    assert mind.stats.repairs == 1 and mind.stats.fallbacks == 1
    assert mind.stats.fallback_reasons == {"react: invalid after repair": 1}


def test_the_repair_is_a_different_request_at_a_sampling_temperature_with_the_keys_spelt_out() -> None:
    good = talk_json("白展堂", "掌柜的，早！")
    output, mind, backend = _ask(REQUESTS[3], ['{"at": "08:00", "do": "跑堂"}', good])
    assert output.lines[0].text == "掌柜的，早！" and mind.stats.fallbacks == 0
    first, repair = backend.sent
    assert first.temperature == 0 and repair.temperature > 0
    assert repair.messages[:2] == first.messages and repair.json_schema == first.json_schema
    assert '"lines"' in repair.messages[-1]["content"] and '"summary"' in repair.messages[-1]["content"]


def test_undecodable_bytes_over_http_end_in_an_answer(tmp_path) -> None:
    """A server that sends bytes that are not UTF-8 inside its JSON body (and a NUL)."""
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    from luotuo_rpg.llm.offline.mock_server import serve_in_thread

    body = (
        b'{"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [{"index": 0, '
        b'"message": {"role": "assistant", "content": "{\\"line\\": \\"\xff\xfe\xe5\xa5\xbd\x00\\", \\"end\\": '
        b'false}"}, '
        b'"finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}'
    )

    async def completions(_request) -> Response:
        return Response(body, media_type="application/json")

    async def models(_request) -> Response:
        return Response(b'{"data": []}', media_type="application/json")

    app = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]), Route("/v1/models", models)])
    with serve_in_thread(app) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m", max_retries=1, backoff_base_s=0))
        mind = StructuredMind(backend, fallback=OfflineMind())

        async def go() -> BaseModel:
            try:
                return await mind.ask(REQUESTS[3])
            finally:
                await mind.aclose()

        output = asyncio.run(go())
    # The client cannot decode the body: retried as a garbled response, then a counted fallback.
    assert isinstance(output, type(REQUESTS[3]).output)
    assert mind.stats.fallbacks == 1 and mind.stats.backend_counters["bad_responses"] == 2
