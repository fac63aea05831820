"""A run that cannot go on — its token budget spent, its model server gone — stops cleanly at
its last checkpoint with exit status 3, and resumes into exactly the run it would have been.

The server is the mock OpenAI-compatible server on 127.0.0.1 answering from the offline mind,
so the finished frames can be compared byte for byte with an offline run's."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import RunningServer, create_app, serve_in_thread
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "worlds" / "tiny.yaml"


@pytest.fixture
def server() -> RunningServer:
    with serve_in_thread(create_app(OfflineAnswerer())) as running:
        yield running


@pytest.fixture(scope="module")
def offline_two_hours(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("offline") / "run"
    assert cli_main(["run", str(TINY), "--hours", "2", "--out", str(out), "--no-progress"]) == 0
    return (out / "frames.jsonl").read_bytes()


def online(server: RunningServer, tmp_path: Path) -> list[str]:
    config = tmp_path / "llm.yaml"
    config.write_text("max_retries: 0\nbackoff_base_s: 0\ntimeout_s: 5\n", encoding="utf-8")
    return ["--llm", "openai", "--base-url", server.base_url, "--model", "luotuo-mock", "--llm-config", str(config)]


def summary(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def assert_all_answers_from_the_server(run: Path) -> None:
    """Equal frames prove the resume only if no answer in the finished run was a fallback."""
    llm = summary(run)["llm"]
    assert llm["requests"] > 0 and llm["fallbacks"] == 0, llm


def test_a_server_outage_stops_the_run_and_resume_finishes_it_as_if_nothing_happened(
    server: RunningServer, tmp_path: Path, offline_two_hours: bytes, capsys
) -> None:
    run = tmp_path / "run"
    flags = online(server, tmp_path)
    assert cli_main(["run", str(TINY), "--hours", "1", "--out", str(run), "--no-progress", *flags]) == 0
    httpx.post(f"{server.root_url}/faults", json={"faults": [{"kind": "500"}], "repeat": True})
    assert cli_main(["resume", str(run), "--hours", "2", "--no-progress", *flags]) == 3
    out = capsys.readouterr().out
    assert "requests in a row found no backend" in summary(run)["stopped_early"]
    assert f"continue it with: luotuo-rpg resume {run}" in out
    assert summary(run)["ticks"] < 720
    httpx.post(f"{server.root_url}/faults", json=[])  # the server is back
    assert cli_main(["resume", str(run), "--hours", "2", "--no-progress", *flags]) == 0
    assert summary(run)["stopped_early"] is None and summary(run)["ticks"] == 720
    assert_all_answers_from_the_server(run)
    assert (run / "frames.jsonl").read_bytes() == offline_two_hours


def test_the_spend_cap_stops_the_run_cleanly_and_a_higher_cap_finishes_it(
    server: RunningServer, tmp_path: Path, offline_two_hours: bytes
) -> None:
    run = tmp_path / "run"
    flags = online(server, tmp_path)
    code = cli_main(
        ["run", str(TINY), "--hours", "2", "--out", str(run), "--no-progress", *flags, "--max-tokens-total", "8000"]
    )
    assert code == 3
    stopped = summary(run)
    assert stopped["stopped_early"].startswith("token budget reached")
    assert 0 < stopped["ticks"] < 720
    assert (
        stopped["llm"]["tokens_in"] + stopped["llm"]["tokens_out"] <= 8000 + 3000
    )  # the requests in flight when it ran out may finish
    assert cli_main(["resume", str(run), "--no-progress", *flags, "--max-tokens-total", "10000000"]) == 0
    assert_all_answers_from_the_server(run)
    assert (run / "frames.jsonl").read_bytes() == offline_two_hours


def test_an_endpoint_that_is_not_there_is_one_line_before_any_work(tmp_path: Path, capsys) -> None:
    code = cli_main(
        [
            "run",
            str(TINY),
            "--hours",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--no-progress",
            *openai_flags("http://127.0.0.1:9/v1", "m"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach http://127.0.0.1:9/v1" in err and "is the server running?" in err
    assert not (tmp_path / "r" / "frames.jsonl").exists()
