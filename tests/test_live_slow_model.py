"""The live server with a slow model: the town keeps walking while a thought is on the wire.

A real ``luotuo-rpg serve`` child process thinks through the real openai client against the mock
server on loopback, whose answers are the offline mind's; one day plan is held on the server until
the test lets it go. Viewers are real websocket clients. No wall-clock time is asserted: a held
answer is pending for as long as the test likes, so every frame read meanwhile was made while it
was pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import websockets

from luotuo_rpg.config import THINK_DELAY_SECONDS
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.llm.prompts import recover_request
from luotuo_rpg.server.process import ServeProcess
from luotuo_rpg.server.protocol import ControlResult, FrameMessage, Status, parse_server_message
from luotuo_rpg.world.loader import load_world_spec
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]
QIXIA = REPO / "worlds" / "qixia_town.yaml"
TOKEN = "test-token-0123456789"


class HeldDayPlan:
    """The offline mind's answers, except that ``name``'s day plan waits until :attr:`release` is set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.answers = OfflineAnswerer()
        self.release = threading.Event()
        self.held_at: str | None = None  # the game time the held thought began

    async def __call__(self, model: str, messages: list[dict[str, Any]]) -> str:
        request = recover_request(messages)
        if request is not None and request.kind == "plan_day" and request.agent == self.name:
            self.held_at = request.time
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        return self.answers(model, messages)


async def _frames_until(ws, done, timeout: float = 300.0) -> list[dict]:
    """Frames (as dicts) until ``done(frame)``; other messages are skipped."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        message = parse_server_message(await asyncio.wait_for(ws.recv(), max(0.1, deadline - time.monotonic())))
        if isinstance(message, FrameMessage):
            frame = json.loads(message.frame.to_line())
            frames.append(frame)
            if done(frame):
                return frames


def _moved(before: list[dict], during: list[dict]) -> set[str]:
    """Agents standing somewhere else in ``during`` than where ``before`` left them."""
    where: dict[str, list] = {}
    for frame in before:
        for agent, seen in frame.get("agents", {}).items():
            if "pos" in seen:
                where[agent] = seen["pos"]
    return {
        agent
        for frame in during
        for agent, seen in frame.get("agents", {}).items()
        if "pos" in seen and seen["pos"] != where.get(agent)
    }


def test_the_live_town_walks_on_while_a_day_plan_is_on_the_wire(tmp_path):
    # From 07:50 the town plans its day in the first ticks and is out and about by eight.
    text = QIXIA.read_text(encoding="utf-8")
    world = tmp_path / "qixia.yaml"
    world.write_text(text.replace('start: "2026-03-01T06:00:00"', 'start: "2026-03-01T07:50:00"'), encoding="utf-8")
    spec = load_world_spec(world)
    assert spec.world.start.hour == 7
    # The last one up (08:00), when the rest of the town is about its morning.
    sleeper = max(spec.personas, key=lambda p: p.routine[0].at)
    held = HeldDayPlan(sleeper.name)
    delay = math.ceil(THINK_DELAY_SECONDS["plan_day"] / spec.world.tick_seconds)
    # A model time of its own, so a burst of day plans on two cores does not look like a queueing server.
    with (
        serve_in_thread(create_app(held, latency_s=0.2)) as model,
        ServeProcess(
            str(world),
            "--speed",
            "0",
            *openai_flags(model.base_url),
            token=TOKEN,
        ) as server,
    ):

        async def go() -> tuple[list[dict], list[dict], list[dict], int, Status]:
            async with websockets.connect(server.ws) as ws:
                before = await _frames_until(ws, lambda f: held.held_at is not None and f["time"] > held.held_at)
                start = next(f["tick"] for f in before if f["time"] == held.held_at)
                # The plan is held: the engine runs on until the tick its decision is due, and no further.
                during = await _frames_until(ws, lambda f: f["tick"] >= start + delay - 1)
                with contextlib.suppress(TimeoutError):
                    early = parse_server_message(await asyncio.wait_for(ws.recv(), 0.5))
                    assert not isinstance(early, FrameMessage), f"tick {early.frame.tick} ran before its answer came"
                held.release.set()
                after = await _frames_until(ws, lambda f: f["tick"] >= start + delay + 5)
                await ws.send(json.dumps({"type": "control", "action": "pause", "token": TOKEN}))
                while True:
                    message = parse_server_message(await asyncio.wait_for(ws.recv(), 30))
                    if isinstance(message, ControlResult):
                        assert message.ok, message
                    if isinstance(message, Status) and message.paused:
                        return before, during, after, start, message

        before, during, after, start, status = asyncio.run(go())
    sleeper_id = str(spec.personas.index(sleeper))
    assert held.held_at == f"{spec.world.start:%Y-%m-%d} {sleeper.routine[0].at}"
    # While the plan was on the wire the others walked; the sleeper stayed in bed.
    ticks = [f["tick"] for f in during]
    assert ticks == list(range(ticks[0], start + delay)), ticks
    moved = _moved(before, during)
    assert moved and sleeper_id not in moved, moved
    assert all(f.get("agents", {}).get(sleeper_id, {}).get("asleep") in (None, True) for f in during)
    # Released late in wall time, the plan lands at its due tick all the same.
    plans = [
        f["tick"] for f in after for e in f.get("events", []) if e["type"] == "plan" and str(e["agent"]) == sleeper_id
    ]
    assert plans == [start + delay], plans
    assert status.paused
