"""A run embeds its memories with the model the user names: an OpenAI-compatible
``/v1/embeddings`` endpoint (the mock server on 127.0.0.1, over real HTTP),
recorded in meta.json without the key, and used again when the run resumes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.llm.embeddings.setup import EmbeddingOptions, merge_embedding_options
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import RunningServer, create_app, serve_in_thread
from tests.doubles import openai_flags, run_args

SECRET = "sk-embed-NEVER-WRITTEN"


@pytest.fixture
def embed_server() -> RunningServer:
    with serve_in_thread(create_app(OfflineAnswerer(), embed_dim=64)) as server:
        yield server


def seen(server: RunningServer) -> dict:
    return httpx.get(f"{server.root_url}/stats").json()


def run_files(out: Path) -> str:
    return "".join((out / name).read_text(encoding="utf-8") for name in ("meta.json", "summary.json", "frames.jsonl"))


def test_openai_run_embeds_through_the_named_endpoint_model(
    embed_server: RunningServer, tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = tmp_path / "run"
    code = cli_main(run_args(tiny_world, out, 1, *openai_flags(embed_server.base_url), "--embed-model", "bge-mock"))
    assert code == 0, capsys.readouterr().err
    stats = seen(embed_server)
    assert stats["embedding_requests"] > 1  # the width probe, then the memories
    assert stats["embedded_texts"] > 12  # persona memories, the day plan, first observations
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    assert meta["llm"]["embedding"]["model"] == "bge-mock"
    assert SECRET not in run_files(out) + "".join(capsys.readouterr())


def test_offline_mind_can_retrieve_over_real_embeddings_and_resume_keeps_them(
    embed_server: RunningServer, tiny_world: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["--embed-model", "bge-mock", "--embed-base-url", embed_server.base_url, "--embed-dim", "64"]
    assert cli_main(run_args(tiny_world, out, 1, *args)) == 0
    first = seen(embed_server)["embedded_texts"]
    assert first > 12
    # No embedding flags on resume: the recorded embedder, so the stored 64-wide memories still fit.
    assert cli_main(["resume", str(out), "--hours", "2", "--no-progress"]) == 0
    assert seen(embed_server)["embedded_texts"] > first
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["game_hours"] == pytest.approx(2)


def test_resuming_with_another_embedding_width_is_one_clear_error(
    embed_server: RunningServer, tiny_world: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    args = ["--embed-model", "bge-mock", "--embed-base-url", embed_server.base_url]
    assert cli_main(run_args(tiny_world, out, 1, *args)) == 0
    capsys.readouterr()
    with serve_in_thread(create_app(OfflineAnswerer(), embed_dim=32)) as narrow:
        code = cli_main(["resume", str(out), "--hours", "2", "--no-progress", "--embed-base-url", narrow.base_url])
    assert code == 2
    assert "embedded with 64 dimensions, this embedder gives 32" in capsys.readouterr().err


def test_an_embedding_model_without_an_endpoint_is_one_clear_error(tiny_world: Path, tmp_path: Path, capsys) -> None:
    code = cli_main(["run", str(tiny_world), "--hours", "1", "--out", str(tmp_path / "r"), "--embed-model", "bge-m3"])
    assert code == 2
    assert "--embed-base-url" in capsys.readouterr().err


def test_embedding_settings_come_from_flags_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "llm.yaml"
    config.write_text("model: qwen\nembedding:\n  model: bge-m3\n  dim: 1024\n", encoding="utf-8")
    options = merge_embedding_options(None, config, {"base_url": "http://127.0.0.1:11434/v1", "dim": None}, None)
    assert (options.model, options.dim, options.base_url, options.kind) == (
        "bge-m3",
        1024,
        "http://127.0.0.1:11434/v1",
        "openai",
    )
    overridden = merge_embedding_options(options, None, {"dim": 512}, "sk-x")
    assert overridden.dim == 512 and "sk-x" not in overridden.model_dump_json()
    config.write_text("embedding:\n  modle: bge-m3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unknown embedding settings \\['modle'\\]"):
        merge_embedding_options(None, config, {}, None)
    with pytest.raises(ValueError, match="choose one embedder"):
        EmbeddingOptions(model="bge-m3", path="/models/bge")
