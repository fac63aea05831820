"""Checkpoints, resume after a crash, fork: real runs of tiny.yaml through the CLI, killed with SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luotuo_rpg.config import SimConfig
from luotuo_rpg.sim.checkpoint import (
    LATEST_NAME,
    FramesMark,
    history_dir,
    history_ticks,
    iter_history,
    load_history,
    load_latest,
)
from luotuo_rpg.sim.resume import ResumeError, repair_frames, resume_headless
from luotuo_rpg.sim.runner import run_headless

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "worlds" / "tiny.yaml"
HOURS = 8  # 2 880 ticks: long enough to kill five times, short enough to run in seconds
SEED = 11
TICKS = HOURS * 360
CHECKPOINT_MINUTES = 10  # every 60 ticks in the kill test
KILL_AT = (150, 700, 1250, 1800, 2400)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "luotuo_rpg.cli", *args]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


def frame_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def summary_without_clock(run_dir: Path) -> dict:
    data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    for key in ("wall_seconds", "ticks_per_second", "run_id"):
        data.pop(key)
    return data


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run with the default checkpoint interval (60 game minutes)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    done = run_cli("run", str(TINY), "--hours", str(HOURS), "--seed", str(SEED), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert len(frame_lines(out / "frames.jsonl")) == TICKS
    return out


def kill_when_past(command: list[str], frames: Path, tick: int, timeout: float = 60) -> int:
    """Start ``command``; SIGKILL it as soon as frames.jsonl holds more than ``tick`` frames.

    Returns the number of complete frames on disk at the kill.
    """
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if frames.exists() and frames.read_bytes().count(b"\n") > tick:
                os.kill(proc.pid, signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(
                    f"the run ended (rc {proc.returncode}) before tick {tick}: {proc.stderr.read().decode()[-800:]}"
                )
            time.sleep(0.001)
        else:
            pytest.fail(f"no frame {tick} within {timeout} s")
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return frames.read_bytes().count(b"\n")


def test_resume_after_kill_loses_no_frames(tmp_path: Path, baseline: Path) -> None:
    out = tmp_path / "run"
    frames = out / "frames.jsonl"
    start = cli(
        "run",
        str(TINY),
        "--hours",
        str(HOURS),
        "--seed",
        str(SEED),
        "--out",
        str(out),
        "--no-progress",
        "--checkpoint-minutes",
        str(CHECKPOINT_MINUTES),
    )
    resume = cli("resume", str(out), "--no-progress")
    killed_at = []
    for index, tick in enumerate(KILL_AT):
        on_disk = kill_when_past(start if index == 0 else resume, frames, tick)
        killed_at.append(on_disk)
        latest = load_latest(out)
        assert latest is not None and latest.tick <= on_disk
        if index + 1 < len(KILL_AT):
            # The next resume must not be stopped by frames its predecessor wrote past the checkpoint.
            assert on_disk < KILL_AT[index + 1], "kill points too close for this machine's speed"
        if index == 2:
            # A write cut off mid-line: resume must drop it, not keep or repeat it.
            with open(frames, "ab") as handle:
                handle.write(b'{"tick":' + str(on_disk).encode() + b',"time":"2026-03-01 1')
    assert any(n % 60 for n in killed_at), f"every kill landed on a checkpoint: {killed_at}"
    done = subprocess.run(resume, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert frames.read_bytes() == (baseline / "frames.jsonl").read_bytes()
    assert summary_without_clock(out) == summary_without_clock(baseline)
    assert json.loads((out / "meta.json").read_text(encoding="utf-8"))["hours"] == HOURS
    assert history_ticks(out) == list(range(0, TICKS + 1, 60))


def test_torn_last_line_is_dropped_on_resume(tmp_path: Path, baseline: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(baseline, run)
    checkpoint = load_history(run, 1080)
    (run / LATEST_NAME).write_text(checkpoint.model_dump_json(), encoding="utf-8")
    (run / "summary.json").unlink()
    with open(run / "frames.jsonl", "ab") as handle:
        handle.write(b'{"tick":2880,"time":"2026-03-01 14:0')
    repaired = repair_frames(run / "frames.jsonl", checkpoint.frames)
    assert repaired.torn_bytes > 0 and repaired.dropped_frames == TICKS - 1080
    assert len(frame_lines(run / "frames.jsonl")) == 1080
    assert (run / "frames.jsonl").read_bytes().endswith(b"\n")
    resume_headless(run)
    assert (run / "frames.jsonl").read_bytes() == (baseline / "frames.jsonl").read_bytes()


def test_fork_shares_frames_up_to_its_tick_and_equals_an_unchanged_parent(tmp_path: Path, baseline: Path) -> None:
    fork = tmp_path / "fork"
    done = run_cli("fork", str(baseline), "--at", "1000", "--out", str(fork), "--no-progress")
    assert done.returncode == 0, done.stderr
    meta = json.loads((fork / "meta.json").read_text(encoding="utf-8"))
    assert meta["parent"] == f"{baseline.name}@720"  # the checkpoint at or before tick 1000 (every 360 ticks)
    parent_lines = frame_lines(baseline / "frames.jsonl")
    fork_lines = frame_lines(fork / "frames.jsonl")
    assert fork_lines[:721] == parent_lines[:721]
    assert (fork / "frames.jsonl").read_bytes() == (baseline / "frames.jsonl").read_bytes()
    assert summary_without_clock(fork) == summary_without_clock(baseline)
    assert history_ticks(fork)[0] == 720  # the fork's own history starts where it branched


def test_fork_with_another_seed_branches_after_its_tick(tmp_path: Path, baseline: Path) -> None:
    fork = tmp_path / "fork"
    done = run_cli(
        "fork", str(baseline), "--at", "720", "--out", str(fork), "--seed", "99", "--hours", "6", "--no-progress"
    )
    assert done.returncode == 0, done.stderr
    parent_lines = frame_lines(baseline / "frames.jsonl")
    fork_lines = frame_lines(fork / "frames.jsonl")
    assert len(fork_lines) == 6 * 360
    assert fork_lines[:720] == parent_lines[:720]
    assert fork_lines[720:] != parent_lines[720 : 6 * 360]
    # and the fork itself can be resumed and forked further
    assert load_latest(fork).tick == 6 * 360


def test_resume_extends_a_finished_run(tmp_path: Path, baseline: Path) -> None:
    out = tmp_path / "run"
    done = run_cli("run", str(TINY), "--hours", "3", "--seed", str(SEED), "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr
    done = run_cli("resume", str(out), "--hours", str(HOURS), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (out / "frames.jsonl").read_bytes() == (baseline / "frames.jsonl").read_bytes()
    assert json.loads((out / "meta.json").read_text(encoding="utf-8"))["hours"] == HOURS


def test_resume_before_anyone_woke_still_stores_persona_memories(tmp_path: Path) -> None:
    # Tiny starts at 06:00 and two of its three agents wake later: a checkpoint at
    # 06:10 holds empty memory streams that must still be seeded after a restore.
    config = SimConfig(checkpoint_minutes=10)
    full = tmp_path / "full"
    run_headless(TINY, hours=2, seed=SEED, out=full, config=config)
    for tick in (0, 60, 240):
        run = tmp_path / f"from-{tick}"
        shutil.copytree(full, run)
        (run / LATEST_NAME).write_text(load_history(run, tick).model_dump_json(), encoding="utf-8")
        resume_headless(run)
        assert (run / "frames.jsonl").read_bytes() == (full / "frames.jsonl").read_bytes(), tick


def test_history_is_kept_as_memory_deltas_that_reassemble_exactly(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_headless(TINY, hours=HOURS, seed=SEED, out=run, config=SimConfig(checkpoint_minutes=30))
    latest = load_latest(run)
    assert latest is not None and latest.tick == TICKS
    streamed = list(iter_history(run))
    assert [c.tick for c in streamed] == history_ticks(run) == list(range(0, TICKS + 1, 180))
    for checkpoint in streamed[::4] + streamed[-1:]:
        assert load_history(run, checkpoint.tick).sim == checkpoint.sim
    assert streamed[-1].sim == latest.sim
    memories = sum(len(a["memory"]["nodes"]) for a in latest.sim["agents"])
    assert memories > 20
    # 17 history files, compressed and holding only new memories: far less than 17 full checkpoints.
    history_bytes = sum(p.stat().st_size for p in history_dir(run).iterdir())
    assert history_bytes < 3 * (run / LATEST_NAME).stat().st_size


def test_frames_shorter_than_the_checkpoint_is_an_error(tmp_path: Path) -> None:
    frames = tmp_path / "frames.jsonl"
    frames.write_bytes(b'{"tick":0,"time":"x"}\n')
    with pytest.raises(ResumeError, match="frames were lost"):
        repair_frames(frames, FramesMark(count=5, bytes=500))


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path: Path, baseline: Path) -> None:
    done = run_cli("resume", str(tmp_path / "nowhere"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "meta.json" in done.stderr
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    done = run_cli("fork", str(baseline), "--at", "100", "--out", str(taken))
    assert done.returncode == 2 and "not empty" in done.stderr
    done = run_cli("fork", str(baseline), "--at", "-1", "--out", str(tmp_path / "new"))
    assert done.returncode == 2 and "no checkpoint at or before tick -1" in done.stderr


def test_resumed_openai_run_keeps_its_settings_and_takes_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import argparse

    from luotuo_rpg.commands.persist import register, run_mind_options_from_flags
    from luotuo_rpg.llm.factory import MindOptions, describe

    recorded = describe(
        MindOptions(
            llm="openai", seed=3, openai={"base_urls": ["http://127.0.0.1:9/v1"], "model": "qwen", "api_key": "sk-old"}
        )
    )
    assert "api_key" not in recorded["openai"]  # meta.json never holds the key
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    options = run_mind_options_from_flags(parser.parse_args(["resume", "run"]), recorded)
    assert options.llm == "openai" and options.seed == 3
    assert options.openai["model"] == "qwen" and options.openai["base_urls"] == ["http://127.0.0.1:9/v1"]
    assert options.openai["api_key"].get_secret_value() == "sk-from-env"
    changed = run_mind_options_from_flags(
        parser.parse_args(["fork", "run", "--at", "0", "--out", "x", "--model", "glm"]), recorded
    )
    assert changed.openai["model"] == "glm" and changed.openai["base_urls"] == ["http://127.0.0.1:9/v1"]
    offline = run_mind_options_from_flags(parser.parse_args(["resume", "run", "--llm", "offline"]), recorded)
    assert offline.llm == "offline" and offline.openai == {}
