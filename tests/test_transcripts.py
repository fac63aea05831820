"""``luotuo-rpg conversations``: every conversation of a run, line by line, from frames.jsonl."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.report.transcripts import Transcript, read_transcripts

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def day_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("talks") / "run"
    assert (
        cli_main(["run", str(REPO / "worlds" / "tiny.yaml"), "--hours", "24", "--out", str(out), "--no-progress"]) == 0
    )
    return out


def test_every_conversation_is_there_with_its_lines_in_order(day_run: Path) -> None:
    summary = json.loads((day_run / "summary.json").read_text(encoding="utf-8"))
    talks = read_transcripts(day_run)
    assert len(talks) == summary["conversations"] > 0
    assert [t.number for t in talks] == list(range(1, len(talks) + 1))
    assert [t.tick for t in talks] == sorted(t.tick for t in talks)
    for talk in talks:
        assert talk.end is not None and talk.place
        assert len(talk.lines) >= 2
        assert {line.speaker for line in talk.lines} <= set(talk.members)
        assert talk.lines[0].speaker == talk.members[0]  # the one who started speaks first
    # Each agent's own count in summary.json equals the conversations it is found in.
    for agent in summary["agents"]:
        assert len(read_transcripts(day_run, [agent["name"]])) == agent["conversations"]


def test_the_words_are_the_frames_words(day_run: Path) -> None:
    said = [
        e["text"]
        for line in (day_run / "frames.jsonl").read_text(encoding="utf-8").splitlines()
        for e in json.loads(line).get("events", [])
        if e["type"] == "say"
    ]
    assert [line.text for talk in read_transcripts(day_run) for line in talk.lines] == said


def test_a_torn_last_line_is_ignored(day_run: Path, tmp_path: Path) -> None:
    torn = tmp_path / "torn"
    shutil.copytree(day_run, torn)
    with open(torn / "frames.jsonl", "ab") as frames:
        frames.write(b'{"tick": 99999, "time": "2026-03-02 0')
    assert read_transcripts(torn) == read_transcripts(day_run)


def test_cli_prints_markdown_or_json_and_filters_by_agent(day_run: Path, tmp_path: Path, capsys) -> None:
    assert cli_main(["conversations", str(day_run)]) == 0
    markdown = capsys.readouterr().out
    assert markdown.count("\n## ") == len(read_transcripts(day_run))
    assert "- **佟湘玉**：" in markdown
    assert cli_main(["conversations", str(day_run), "--agent", "白展堂", "--json"]) == 0
    talks = [Transcript.model_validate_json(line) for line in capsys.readouterr().out.splitlines()]
    assert talks and all("白展堂" in t.members for t in talks)
    out = tmp_path / "talks.md"
    assert cli_main(["conversations", str(day_run), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == markdown


def test_an_unknown_agent_or_folder_is_one_clear_error(day_run: Path, tmp_path: Path, capsys) -> None:
    assert cli_main(["conversations", str(day_run), "--agent", "郭芙蓉"]) == 2
    assert "no agent named 郭芙蓉" in capsys.readouterr().err
    assert cli_main(["conversations", str(tmp_path)]) == 2
    assert "a run folder" in capsys.readouterr().err
