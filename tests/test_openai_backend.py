"""The openai backend and the embedders, driven by the real ``openai`` client
over real HTTP against the mock OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.chat import (
    BudgetExceeded,
    ChatBackend,
    ChatRequest,
    Embedder,
    LLMUnavailable,
    estimate_tokens,
)
from luotuo_rpg.llm.embeddings.embedders import CachedEmbedder, OpenAIEmbedder, SentenceTransformerEmbedder
from luotuo_rpg.llm.offline.mock_server import REFUSAL_TEXT, FaultPlan, RunningServer, create_app, serve_in_thread

SECRET = "sk-test-SECRET"
ANSWER = '{"action": "在同福客栈吃早饭", "emoji": "🍚"}'


def echo_answer(model: str, messages: list[dict[str, Any]]) -> str:
    return ANSWER


StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts mock servers (``create_app`` keyword arguments) and stops them all at teardown."""
    running: list[RunningServer] = []

    def start(faults: list[dict[str, Any]] | FaultPlan | None = None, **kwargs: Any) -> RunningServer:
        plan = FaultPlan.model_validate(faults) if isinstance(faults, list) else faults
        server = serve_in_thread(create_app(kwargs.pop("answer", echo_answer), faults=plan, **kwargs))
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


def stats(server: RunningServer) -> dict[str, Any]:
    return httpx.get(f"{server.root_url}/stats").json()


def load_faults(server: RunningServer, plan: list[dict[str, Any]]) -> dict[str, Any]:
    return httpx.post(f"{server.root_url}/faults", json=plan).json()


def served_models(server: RunningServer) -> list[str]:
    return [m["id"] for m in httpx.get(f"{server.base_url}/models").json()["data"]]


def config(*servers: RunningServer, **overrides: Any) -> OpenAIConfig:
    settings: dict[str, Any] = {
        "base_urls": [s.base_url for s in servers],
        "model": "qwen-mock",
        "api_key": SECRET,
        "timeout_s": 2.0,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return OpenAIConfig.model_validate(settings | overrides)


def request(text: str = "佟湘玉早上做什么？", **kwargs: Any) -> ChatRequest:
    return ChatRequest(kind="plan_day", messages=[{"role": "user", "content": text}], **kwargs)


async def test_backend_satisfies_the_chat_backend_protocol(start_server: StartServer) -> None:
    backend = OpenAIBackend(config(start_server()))
    assert isinstance(backend, ChatBackend)
    await backend.aclose()


async def test_429_is_retried_after_the_advertised_retry_after(start_server: StartServer) -> None:
    server = start_server([{"kind": "429", "retry_after": 0.3}])
    backend = OpenAIBackend(config(server))
    started = time.monotonic()
    result = await backend.chat(request())
    elapsed = time.monotonic() - started
    await backend.aclose()

    assert result.text == ANSWER
    # backoff_max_s is 0.05, so only honouring Retry-After explains the wait.
    assert elapsed >= 0.3
    assert backend.counters["http_429"] == 1
    assert backend.counters["retries"] == 1
    assert stats(server)["requests"] == 2


@pytest.mark.parametrize(
    ("fault", "counter"),
    [
        ({"kind": "500"}, "http_5xx"),
        ({"kind": "503", "retry_after": 0.05}, "http_5xx"),
        ({"kind": "timeout", "seconds": 5}, "timeouts"),
        ({"kind": "truncated_body"}, "connection_errors"),
    ],
)
async def test_transient_failure_is_retried_and_counted(
    start_server: StartServer, fault: dict[str, Any], counter: str
) -> None:
    server = start_server([fault])
    backend = OpenAIBackend(config(server, timeout_s=0.5))
    result = await backend.chat(request())
    await backend.aclose()

    assert result.text == ANSWER
    assert backend.counters[counter] == 1
    assert backend.counters["retries"] == 1
    assert stats(server)["requests"] == 2


async def test_counted_retries_match_the_faults_injected(start_server: StartServer) -> None:
    script = [
        {"kind": "429", "retry_after": 0.01},
        {"kind": "500"},
        {"kind": "timeout", "seconds": 5},
        {"kind": "truncated_body"},
        {"kind": "502"},
    ]
    server = start_server(script)
    backend = OpenAIBackend(config(server, timeout_s=0.5, max_retries=5))
    results = [await backend.chat(request(f"第{i}问")) for i in range(3)]
    await backend.aclose()

    seen = stats(server)
    assert all(r.text == ANSWER for r in results)
    assert sum(seen["faults_injected"].values()) == len(script)
    assert backend.counters["retries"] == len(script)
    assert backend.counters["http_429"] == 1
    assert backend.counters["http_5xx"] == 2
    assert backend.counters["timeouts"] == 1
    assert backend.counters["connection_errors"] == 1
    assert backend.counters["attempts"] == seen["requests"] == 3 + len(script)


async def test_retries_are_bounded_when_the_server_always_fails(start_server: StartServer) -> None:
    server = start_server(FaultPlan.model_validate({"faults": [{"kind": "500"}], "repeat": True}))
    backend = OpenAIBackend(config(server, max_retries=3))
    with pytest.raises(LLMUnavailable):
        await backend.chat(request())
    await backend.aclose()

    assert stats(server)["requests"] == 3 + 1
    assert backend.counters["retries"] == 3
    assert backend.counters["failures"] == 1


async def test_unreachable_endpoint_raises_llm_unavailable_after_retries() -> None:
    # A port that is bound but not listening refuses every connection, and
    # nothing else can take it while we hold it.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/v1"
        backend = OpenAIBackend(OpenAIConfig(base_urls=[url], model="m", max_retries=2, backoff_base_s=0.01))
        with pytest.raises(LLMUnavailable):
            await backend.chat(request())
        await backend.aclose()
    assert backend.counters["connection_errors"] == 3


async def test_content_faults_come_back_as_text_without_retries(start_server: StartServer) -> None:
    server = start_server([{"kind": "malformed_json_content"}, {"kind": "empty_content"}, {"kind": "refusal"}])
    backend = OpenAIBackend(config(server))
    texts = [(await backend.chat(request(f"第{i}问"))).text for i in range(3)]
    await backend.aclose()

    # Parsing and repair belong to the structured layer; the backend only moves text.
    assert texts[0] and texts[0] != ANSWER and ANSWER.startswith(texts[0])
    assert texts[1] == ""
    assert texts[2] == REFUSAL_TEXT
    assert backend.counters["retries"] == 0


async def test_two_endpoints_share_load_under_concurrency(start_server: StartServer) -> None:
    first, second = start_server(latency_s=0.05), start_server(latency_s=0.05)
    backend = OpenAIBackend(config(first, second, max_concurrency=8))
    results = await asyncio.gather(*(backend.chat(request(f"第{i}问")) for i in range(24)))
    await backend.aclose()

    assert len(results) == 24
    served = [stats(first)["requests"], stats(second)["requests"]]
    assert sum(served) == 24
    # Fewest-in-flight splits 8 slots 4/4, so the load is close to even.
    assert min(served) >= 8
    assert [backend.counters["endpoint_0"], backend.counters["endpoint_1"]] == served


async def test_concurrency_is_bounded_by_max_concurrency(start_server: StartServer) -> None:
    # Latency well above scheduling noise, so the four slots overlap for sure.
    server = start_server(latency_s=0.2)
    backend = OpenAIBackend(config(server, max_concurrency=4))
    await asyncio.gather(*(backend.chat(request(f"第{i}问")) for i in range(20)))
    await backend.aclose()
    assert stats(server)["max_in_flight"] == 4


async def test_json_mode_auto_falls_back_to_plain_prompting_once(start_server: StartServer) -> None:
    server = start_server(json_mode_supported=False)
    backend = OpenAIBackend(config(server, json_mode="auto"))
    results = [await backend.chat(request(f"第{i}问")) for i in range(3)]
    await backend.aclose()

    seen = stats(server)
    assert all(r.text == ANSWER for r in results)
    assert seen["json_mode_requests"] == seen["json_mode_rejections"] == 1
    assert seen["requests"] == 4
    assert backend.counters["response_format_steps_down"] == 1
    assert backend.response_formats == {server.base_url: "plain"}
    assert backend.counters["retries"] == 0


async def test_json_mode_on_sends_response_format_and_fails_where_rejected(start_server: StartServer) -> None:
    accepting, rejecting = start_server(), start_server(json_mode_supported=False)
    backend = OpenAIBackend(config(accepting, json_mode="on"))
    await backend.chat(request())
    await backend.aclose()
    assert stats(accepting)["json_mode_requests"] == 1

    strict = OpenAIBackend(config(rejecting, json_mode="on"))
    with pytest.raises(LLMUnavailable):
        await strict.chat(request())
    await strict.aclose()
    assert stats(rejecting)["requests"] == 1


async def test_json_mode_off_never_sends_response_format(start_server: StartServer) -> None:
    server = start_server()
    backend = OpenAIBackend(config(server, json_mode="off"))
    await backend.chat(request())
    await backend.aclose()
    assert stats(server)["json_mode_requests"] == 0


async def test_adapter_is_sent_as_the_model_name(start_server: StartServer) -> None:
    server = start_server()
    backend = OpenAIBackend(config(server))
    await backend.chat(request(adapter="baizhantang-lora"))
    await backend.chat(request())
    await backend.aclose()
    assert stats(server)["requests_by_model"] == {"baizhantang-lora": 1, "qwen-mock": 1}


@pytest.mark.parametrize("include_usage", [True, False])
async def test_token_accounting_uses_usage_or_estimates_it(start_server: StartServer, include_usage: bool) -> None:
    server = start_server(include_usage=include_usage)
    backend = OpenAIBackend(config(server))
    prompt = "白展堂今天去哪儿了？"
    result = await backend.chat(request(prompt))
    await backend.aclose()

    assert result.estimated is (not include_usage)
    assert (result.tokens_in, result.tokens_out) == (estimate_tokens(prompt), estimate_tokens(ANSWER))
    assert backend.counters["tokens_in"] == result.tokens_in
    assert backend.counters["tokens_out"] == result.tokens_out
    assert backend.counters["estimated_usage"] == (0 if include_usage else 1)


async def test_server_reported_usage_is_taken_as_is(start_server: StartServer) -> None:
    # The mock's usage equals our estimate; a longer system prompt shows the
    # backend takes prompt_tokens from the server (which counts every message).
    server = start_server()
    backend = OpenAIBackend(config(server))
    messages = [{"role": "system", "content": "你是吕秀才。"}, {"role": "user", "content": "子曾经曰过"}]
    result = await backend.chat(ChatRequest(kind="converse", messages=messages))
    await backend.aclose()
    assert result.tokens_in == sum(estimate_tokens(m["content"]) for m in messages)
    assert result.estimated is False


async def test_cache_makes_a_rerun_cost_zero_requests(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server()
    cache = tmp_path / "cache" / "responses.sqlite"
    prompts = ["早饭吃什么", "谁在柜台", "今天有集市吗"]

    first = OpenAIBackend(config(server, cache_path=cache))
    fresh = [await first.chat(request(p)) for p in prompts]
    await first.aclose()
    assert stats(server)["requests"] == 3

    rerun = OpenAIBackend(config(server, cache_path=cache))
    again = [await rerun.chat(request(p)) for p in prompts]
    different = await rerun.chat(request(prompts[0], temperature=0.7))
    await rerun.aclose()

    assert [r.text for r in again] == [r.text for r in fresh]
    assert all(r.cached for r in again) and not any(r.cached for r in fresh)
    assert rerun.counters["cache_hits"] == 3
    assert not different.cached
    assert stats(server)["requests"] == 4


async def test_spend_cap_raises_budget_exceeded(start_server: StartServer) -> None:
    server = start_server()
    per_call = estimate_tokens("问") + estimate_tokens(ANSWER)
    backend = OpenAIBackend(config(server, max_tokens_total=2 * per_call))
    await backend.chat(request("问"))
    await backend.chat(request("问"))
    with pytest.raises(BudgetExceeded):
        await backend.chat(request("问"))
    await backend.aclose()
    assert stats(server)["requests"] == 2


async def test_api_key_never_appears_in_reprs_dumps_or_logs(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(start_server([{"kind": "429", "retry_after": 0.01}]))
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == SECRET
    for shown in (
        repr(cfg),
        str(cfg),
        cfg.model_dump_json(),
        json.dumps(cfg.model_dump(mode="json")),
        str(cfg.model_dump()),
    ):
        assert SECRET not in shown

    caplog.set_level(logging.DEBUG)
    for name in ("openai", "httpx", "httpx2", "httpcore", "luotuo_rpg"):
        caplog.set_level(logging.DEBUG, logger=name)
    backend = OpenAIBackend(cfg)
    await backend.chat(request())
    assert SECRET not in repr(backend)
    await backend.aclose()

    failing = start_server(FaultPlan.model_validate({"faults": [{"kind": "500"}], "repeat": True}))
    doomed = OpenAIBackend(config(failing, max_retries=1))
    with pytest.raises(LLMUnavailable) as error:
        await doomed.chat(request())
    await doomed.aclose()

    assert caplog.records, "the run should have logged something at DEBUG"
    assert SECRET not in caplog.text
    assert SECRET not in str(error.value)


def test_invalid_settings_error_does_not_quote_the_key() -> None:
    with pytest.raises(ValueError) as error:
        OpenAIConfig.from_sources({"model": "m", "api_key": SECRET, "timeout_s": -1}, None, {})
    assert "timeout_s" in str(error.value)
    assert SECRET not in str(error.value)


def test_config_sources_cli_over_file_over_environment(tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": "http://env:1/v1", "OPENAI_API_KEY": "sk-env", "OPENAI_MODEL": "env-model"}

    from_env = OpenAIConfig.from_sources(None, None, env)
    assert from_env.base_urls == ["http://env:1/v1"]
    assert from_env.model == "env-model"
    assert from_env.api_key is not None and from_env.api_key.get_secret_value() == "sk-env"

    yaml_file = tmp_path / "llm.yaml"
    yaml_file.write_text("openai:\n  base_url: http://file:2/v1\n  model: file-model\n  max_concurrency: 7\n")
    from_file = OpenAIConfig.from_sources(None, yaml_file, env)
    assert (from_file.base_urls, from_file.model, from_file.max_concurrency) == (["http://file:2/v1"], "file-model", 7)
    assert from_file.api_key is not None and from_file.api_key.get_secret_value() == "sk-env"

    json_file = tmp_path / "llm.json"
    json_file.write_text(json.dumps({"model": "json-model", "json_mode": "off"}))
    assert OpenAIConfig.from_sources(None, json_file, env).json_mode == "off"

    cli = argparse.Namespace(
        base_url=["http://a:1/v1", "http://b:2/v1"],
        model="cli-model",
        api_key=None,
        cache=str(tmp_path / "c.sqlite"),
        max_tokens_total=1000,
        world="tiny.yaml",  # another subcommand's flag: ignored
    )
    from_cli = OpenAIConfig.from_sources(cli, yaml_file, env)
    assert from_cli.base_urls == ["http://a:1/v1", "http://b:2/v1"]
    assert from_cli.model == "cli-model"
    assert from_cli.max_concurrency == 7
    assert from_cli.cache_path == tmp_path / "c.sqlite"
    assert from_cli.max_tokens_total == 1000


def test_config_rejects_a_missing_model_and_unknown_file_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="model"):
        OpenAIConfig.from_sources(None, None, {})
    typo = tmp_path / "llm.yaml"
    typo.write_text("model: m\nmax_concurency: 3\n")
    with pytest.raises(ValueError, match="max_concurency"):
        OpenAIConfig.from_sources(None, typo, {})


async def test_server_embeddings_are_normalised_and_cached_by_text(start_server: StartServer) -> None:
    server = start_server(embed_dim=64)
    inner = OpenAIEmbedder(server.base_url, "bge-m3", 64, api_key=SECRET, batch_size=2)
    embedder = CachedEmbedder(inner)
    assert isinstance(embedder, Embedder)

    first = await embedder.embed(["客栈", "掌柜", "客栈"])
    assert first.dtype == np.float32 and first.shape == (3, 64)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first[0], first[2])

    # Concurrent requests for the same new text embed it once.
    second, third = await asyncio.gather(embedder.embed(["掌柜", "跑堂"]), embedder.embed(["跑堂"]))
    assert np.array_equal(second[1], third[0])
    assert stats(server)["embedded_texts"] == 3
    assert embedder.counters["misses"] == 3

    # The server's vectors are deterministic, so a fresh client agrees.
    uncached = OpenAIEmbedder(server.base_url, "bge-m3", 64)
    assert np.allclose(await uncached.embed(["客栈"]), first[:1], atol=1e-6)
    await uncached.aclose()
    await embedder.aclose()


async def test_embedder_with_the_wrong_dim_fails_loudly(start_server: StartServer) -> None:
    server = start_server(embed_dim=32)
    embedder = OpenAIEmbedder(server.base_url, "bge-m3", 1024)
    with pytest.raises(ValueError, match="dim"):
        await embedder.embed(["客栈"])
    await embedder.aclose()


def test_sentence_transformer_embedder_needs_a_local_dir_and_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        SentenceTransformerEmbedder(tmp_path / "BAAI/bge-m3")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install sentence-transformers"):
        SentenceTransformerEmbedder(tmp_path)


async def test_fault_plan_can_be_loaded_at_run_time(start_server: StartServer) -> None:
    server = start_server()
    loaded = load_faults(server, [{"kind": "500"}, {"kind": "refusal"}])
    assert loaded == {"queued": 2, "repeat": False}
    backend = OpenAIBackend(config(server))
    result = await backend.chat(request())
    await backend.aclose()
    assert result.text == REFUSAL_TEXT
    assert stats(server)["faults_injected"] == {"500": 1, "refusal": 1}
    assert served_models(server) == ["luotuo-mock"]
