"""The openai backend sends each endpoint the answer's schema in the dialect it accepts, found at
the first request (or by the preflight probe), remembered, and recorded in meta.json and the summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.backends.preflight import probe_dialects
from luotuo_rpg.llm.chat import ChatRequest
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {
    "type": "object",
    "properties": {"line": {"type": "string", "maxLength": 20}},
    "required": ["line"],
    "additionalProperties": False,
}

# (what the server takes, how it refuses the rest, the dialect the backend must settle on)
SERVERS = {
    "openai": ({"json_schema_strict", "json_schema", "json_object", "plain"}, 400, "json_schema_strict"),
    "vllm": ({"json_schema", "json_object"}, 400, "json_schema"),
    "llama-cpp-python": ({"json_object_schema", "json_object"}, 500, "json_object_schema"),
    "deepseek": ({"json_object"}, 400, "json_object"),
    "no response_format": (set(), 422, "plain"),
}


def _request() -> ChatRequest:
    return ChatRequest(kind="converse", messages=[{"role": "user", "content": "说一句"}], json_schema=SCHEMA)


def _seen(server) -> dict[str, int]:
    return httpx.get(f"{server.root_url}/stats").json()["response_formats"]


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_the_first_request_finds_the_dialect_and_later_ones_go_straight_to_it(name: str) -> None:
    takes, refusal, expected = SERVERS[name]
    app = create_app(lambda model, messages: '{"line": "好"}', dialects=takes, dialect_refusal_status=refusal)
    with serve_in_thread(app) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m", max_retries=2, backoff_base_s=0))

        async def go() -> list[str]:
            try:
                return [(await backend.chat(_request())).text for _ in range(3)]
            finally:
                await backend.aclose()

        texts = asyncio.run(go())
        seen = _seen(server)
    assert texts == ['{"line": "好"}'] * 3
    assert backend.response_formats == {server.base_url: expected}
    assert seen[expected] == 3  # every answer came in that dialect; the refused ones were tried once each
    assert sum(seen.values()) == 3 + backend.counters["response_format_steps_down"]
    assert backend.counters["retries"] == 0


def test_a_refusal_after_a_confirmed_dialect_steps_down_again() -> None:
    takes = {"json_schema_strict", "json_schema"}
    app = create_app(lambda model, messages: '{"line": "好"}', dialects=takes)
    with serve_in_thread(app) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="m"))

        async def go() -> None:
            await backend.chat(_request())
            assert backend.response_formats[server.base_url] == "json_schema_strict"
            takes.discard("json_schema_strict")  # the server is redeployed without strict mode
            await backend.chat(_request())
            await backend.aclose()

        asyncio.run(go())
    assert backend.response_formats == {server.base_url: "json_schema"}


def test_the_probe_finds_each_endpoints_dialect_before_the_first_tick() -> None:
    llama = create_app(OfflineAnswerer(), dialects={"json_object_schema", "json_object"}, dialect_refusal_status=500)
    deepseek = create_app(OfflineAnswerer(), dialects={"json_object"})
    with serve_in_thread(llama) as one, serve_in_thread(deepseek) as two:
        found = probe_dialects(OpenAIConfig(base_urls=[one.base_url, two.base_url], model="m"))
    assert found == {one.base_url: "json_object_schema", two.base_url: "json_object"}


def test_a_run_records_the_dialect_in_meta_and_summary_and_every_request_carried_its_schema(tmp_path: Path) -> None:
    app = create_app(OfflineAnswerer(), dialects={"json_object_schema", "json_object"}, dialect_refusal_status=500)
    run = tmp_path / "run"
    with serve_in_thread(app) as server:
        code = cli_main(
            [
                "run",
                str(REPO / "worlds" / "tiny.yaml"),
                "--hours",
                "1",
                "--out",
                str(run),
                "--no-progress",
                *openai_flags(server.base_url, "m"),
            ]
        )
        seen = _seen(server)
    assert code == 0
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert meta["llm"]["openai"]["response_formats"] == {server.base_url: "json_object_schema"}
    assert summary["llm"]["response_formats"] == {server.base_url: "json_object_schema"}
    llm = summary["llm"]
    assert llm["requests"] > 0 and llm["fallbacks"] == 0
    # The probe's one-token requests found the dialect; the run's own requests never stepped down.
    assert llm["backend_counters"]["response_format_steps_down"] == 0
    assert seen["json_object_schema"] == llm["requests"] + 1
