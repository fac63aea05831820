"""Agents think concurrently: the server sees many requests in flight at once.

Counts requests on the wire; asserts no wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig
from luotuo_rpg.llm.offline.mind import OfflineMind
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread
from luotuo_rpg.llm.structured import StructuredMind
from luotuo_rpg.sim.engine import Simulation
from luotuo_rpg.world.loader import load_world_spec
from tests.cli_server import mock_llm
from tests.doubles import openai_flags

REPO = Path(__file__).resolve().parents[1]


def test_qixia_waking_at_once_keeps_twenty_requests_in_flight(qixia_world):
    with serve_in_thread(create_app(OfflineAnswerer(), latency_s=0.2)) as server:
        backend = OpenAIBackend(OpenAIConfig(base_urls=[server.base_url], model="luotuo-mock", max_concurrency=64))
        mind = StructuredMind(backend, fallback=OfflineMind())
        spec = load_world_spec(qixia_world)
        # Start at 07:00, when the whole town is up: every agent plans its day in tick 0.
        start = spec.world.start.replace(hour=7, minute=0)
        spec = spec.model_copy(update={"world": spec.world.model_copy(update={"start": start})})
        sim = Simulation(spec, mind)
        peak = 0

        async def go() -> None:
            nonlocal peak
            # Day plans take five game minutes (30 ticks): run until they are made.
            for _ in range(40):
                await sim.step()
            peak = httpx.get(f"{server.root_url}/stats").json()["max_in_flight"]
            await sim.aclose()
            await mind.aclose()

        asyncio.run(go())
    assert peak >= 20, peak
    assert mind.stats.fallbacks == 0


def test_mock_llm_command_serves_the_offline_mind_to_a_real_run(tiny_world, tmp_path):
    """`luotuo-rpg mock-llm` + `luotuo-rpg run --llm openai` give the offline run's frames exactly."""
    with mock_llm(cwd=REPO) as port:
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-NEVER-LOGGED"}
        cmd = [sys.executable, "-m", "luotuo_rpg.cli", "run", str(tiny_world), "--hours", "2", "--no-progress"]
        online = subprocess.run(
            cmd
            + [
                *openai_flags(f"http://127.0.0.1:{port}/v1"),
                "--out",
                str(tmp_path / "online"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert online.returncode == 0, online.stderr
        offline = subprocess.run(cmd + ["--out", str(tmp_path / "offline")], cwd=REPO, capture_output=True, text=True)
        assert offline.returncode == 0, offline.stderr
    llm = json.loads((tmp_path / "online" / "summary.json").read_text(encoding="utf-8"))["llm"]
    # Equal frames mean something only if every answer came from the server, none from the fallback.
    assert llm["requests"] > 0 and llm["fallbacks"] == 0 and llm["repairs"] == 0, llm
    assert (tmp_path / "online" / "frames.jsonl").read_bytes() == (tmp_path / "offline" / "frames.jsonl").read_bytes()
    for name in ("meta.json", "summary.json", "frames.jsonl"):
        assert "NEVER-LOGGED" not in (tmp_path / "online" / name).read_text(encoding="utf-8")
    assert "NEVER-LOGGED" not in online.stdout + online.stderr
