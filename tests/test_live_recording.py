"""``serve WORLD --record``: a live session leaves a run folder that replays, reports and resumes
exactly like a headless run's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from cli_server import served

from luotuo_rpg.cli import main as cli_main
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.server.live import LiveSession
from luotuo_rpg.server.recording import LiveRecording, free_folder
from luotuo_rpg.sim.runner import RunOptions
from luotuo_rpg.world.loader import load_world_spec

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "worlds" / "tiny.yaml"
TICKS_PER_HOUR = 360


def record_live(out: Path, ticks: int) -> LiveRecording:
    """A paused live session stepped ``ticks`` times (tick 0 included), then stopped, as `serve` would."""
    spec = load_world_spec(TINY)

    def mind_for(world):
        return OfflineMind(seed=0, language=world.world.language)

    def recording(world, mind):
        return LiveRecording(world, str(TINY), mind, RunOptions(hours=24, seed=0, out=out))

    session = LiveSession(spec, mind_for, world_file=str(TINY), speed=0, paused=True, recording=recording)

    async def go() -> None:
        await session.start()
        for _ in range(ticks - 1):
            await session.ticker.step()
        await session.stop()

    asyncio.run(go())
    assert session.recording is not None
    return session.recording


def frames(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "frames.jsonl").read_text(encoding="utf-8").splitlines()]


def test_a_recorded_live_run_equals_a_headless_run_and_resumes_into_one(tmp_path: Path) -> None:
    live = tmp_path / "live"
    record_live(live, 2 * TICKS_PER_HOUR)
    headless2 = tmp_path / "headless2"
    assert cli_main(["run", str(TINY), "--hours", "2", "--out", str(headless2), "--no-progress"]) == 0
    assert (live / "frames.jsonl").read_bytes() == (headless2 / "frames.jsonl").read_bytes()
    meta = json.loads((live / "meta.json").read_text(encoding="utf-8"))
    assert meta["hours"] == pytest.approx(2)  # what the live run covered becomes its target
    summary = json.loads((live / "summary.json").read_text(encoding="utf-8"))
    assert summary["ticks"] == 2 * TICKS_PER_HOUR and summary["game_hours"] == pytest.approx(2)

    # Resumed headless to 4 hours: the same bytes as one uninterrupted 4-hour run.
    assert cli_main(["resume", str(live), "--hours", "4", "--no-progress"]) == 0
    headless4 = tmp_path / "headless4"
    assert cli_main(["run", str(TINY), "--hours", "4", "--out", str(headless4), "--no-progress"]) == 0
    assert (live / "frames.jsonl").read_bytes() == (headless4 / "frames.jsonl").read_bytes()


def test_a_recording_never_overwrites_another_folder(tmp_path: Path) -> None:
    first = record_live(free_folder(tmp_path / "rec"), 5).out
    second = record_live(free_folder(tmp_path / "rec"), 5).out
    assert (first.name, second.name) == ("rec", "rec-2")
    assert len(frames(first)) == len(frames(second)) == 5


def test_served_recording_survives_sigterm_and_sigkill(tmp_path: Path) -> None:
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}

    def serve_until(out: Path, ticks: int, stop: signal.Signals) -> None:
        args = [str(TINY), "--record", str(out), "--speed", "0", "--token", "t-0123456789abcdef"]
        with served(args, cwd=REPO, env=env) as (server, port):
            deadline = time.monotonic() + 60
            assert httpx.get(f"http://127.0.0.1:{port}/api/world").json()["recording"] == out.name
            while httpx.get(f"http://127.0.0.1:{port}/api/world").json()["tick"] < ticks:
                assert time.monotonic() < deadline, "the live run did not advance"
                time.sleep(0.1)
            server.send_signal(stop)
            server.wait(timeout=30)

    graceful = tmp_path / "graceful"
    serve_until(graceful, 400, signal.SIGTERM)
    summary = json.loads((graceful / "summary.json").read_text(encoding="utf-8"))
    ticks = [f["tick"] for f in frames(graceful)]
    assert ticks == list(range(summary["ticks"])) and summary["ticks"] >= 400
    assert cli_main(["report", str(graceful)]) == 0

    killed = tmp_path / "killed"
    serve_until(killed, 400, signal.SIGKILL)
    assert not (killed / "summary.json").exists()
    assert cli_main(["resume", str(killed), "--hours", "2", "--no-progress"]) == 0
    assert [f["tick"] for f in frames(killed)] == list(range(2 * TICKS_PER_HOUR))


def test_a_world_reload_finishes_one_recording_and_starts_the_next(tmp_path: Path) -> None:
    """What `serve --watch --record DIR` does on a valid edit: DIR is finished, DIR-2 goes on."""
    import argparse

    from luotuo_rpg.commands.serve import _recording_factory
    from luotuo_rpg.llm.factory import MindOptions

    args = argparse.Namespace(record=str(tmp_path / "rec"), replays_root=tmp_path, seed=0, world=TINY)
    recording = _recording_factory(args, MindOptions())
    spec = load_world_spec(TINY)
    session = LiveSession(
        spec,
        lambda w: OfflineMind(language=w.world.language),
        world_file=str(TINY),
        speed=0,
        paused=True,
        recording=recording,
    )

    async def go() -> None:
        await session.start()
        for _ in range(9):
            await session.ticker.step()
        renamed = spec.model_copy(update={"world": spec.world.model_copy(update={"name": "改过的客栈"})})
        await session.replace_world(renamed)
        for _ in range(4):
            await session.ticker.step()
        await session.stop()

    asyncio.run(go())
    first, second = tmp_path / "rec", tmp_path / "rec-2"
    assert json.loads((first / "summary.json").read_text(encoding="utf-8"))["ticks"] == 10
    assert json.loads((second / "summary.json").read_text(encoding="utf-8"))["world"] == "改过的客栈"
    assert [f["tick"] for f in frames(second)] == list(range(5))
