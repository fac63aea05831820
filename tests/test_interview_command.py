"""``luotuo-rpg interview``: a finished run's agents answer in character from their memories,
restored from a checkpoint, without changing the run folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.sim.frame_stream import FrameFile
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]
NEWS = "药铺晚上办义诊"  # tiny.yaml's event, known at the start only to 李大嘴


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("interview") / "run"
    assert (
        cli_main(["run", str(REPO / "worlds" / "tiny.yaml"), "--hours", "12", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def fingerprint(run: Path) -> dict[str, str]:
    return {
        str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(run.rglob("*"))
        if p.is_file()
    }


def answers(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert cli_main(["interview", *args, "--json"]) == 0, capsys.readouterr().err
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_every_agent_answers_from_the_latest_checkpoint_and_the_run_is_untouched(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = fingerprint(finished_run)
    got = answers(capsys, str(finished_run), "你知道义诊的事吗？")
    assert [a["agent"] for a in got] == ["佟湘玉", "白展堂", "李大嘴"]
    assert {a["tick"] for a in got} == {4320}  # 12 game hours of 10-second ticks
    assert all(a["answer"] and a["question"] == "你知道义诊的事吗？" for a in got)
    # By evening the news has spread by word of mouth: more than the one who knew it says so.
    assert sum(NEWS in a["answer"] for a in got) >= 2
    assert fingerprint(finished_run) == before


def test_an_earlier_checkpoint_gives_the_agent_as_it_was_then(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # When 白展堂 was first told the news, read from the run's frames (whoever told him, whenever).
    hero = 1
    told = next(
        frame.tick
        for frame in FrameFile(finished_run / "frames.jsonl")
        if any(e.type == "say" and e.to == hero and NEWS in (e.text or "") for e in frame.events)
    )
    (early,) = answers(capsys, str(finished_run), "你知道义诊的事吗？", "--agent", "白展堂", "--at", str(told - 1))
    assert early["tick"] < told and early["tick"] % 360 == 0  # the last hourly checkpoint before he heard
    assert NEWS not in early["answer"]  # nobody had told him yet


def test_plain_output_is_one_line_per_agent(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["interview", str(finished_run), "今天忙吗？", "--agent", "李大嘴"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("问：今天忙吗？") and lines[1].startswith("李大嘴：")


def test_an_unknown_agent_is_one_clear_error_naming_the_agents(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["interview", str(finished_run), "你好", "--agent", "郭芙蓉"]) == 2
    err = capsys.readouterr().err
    assert "no agent named 郭芙蓉" in err and "佟湘玉、白展堂、李大嘴" in err


def test_interviews_go_through_a_real_server_when_asked(finished_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_thread(create_app(OfflineAnswerer(), latency_s=0.2)) as server:
        got = answers(
            capsys,
            str(finished_run),
            "你知道义诊的事吗？",
            *openai_flags(server.base_url),
        )
        seen = httpx.get(f"{server.root_url}/stats").json()
    assert len(got) == 3 and all(a["answer"] for a in got)
    # One interview request per agent (after the one-token probe of the server's response_format)…
    assert seen["requests"] == 1 + 3
    assert seen["max_in_flight"] == 3  # …all in flight together
