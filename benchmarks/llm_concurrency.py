"""Thinking concurrently vs one agent after another (the reference's way), same 100 ticks.

The offline mind answers behind an OpenAI-compatible server on loopback with
added latency (0.2 s and 1 s per request); the real openai client sends the
requests. The town starts at 07:00 so every agent is awake. Same answers, same
frames: only the waiting differs.

    python benchmarks/llm_concurrency.py [--ticks 100] [--latencies 0.2,1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.config import SimConfig  # noqa: E402
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer  # noqa: E402
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread  # noqa: E402
from luotuo_rpg.llm.offline.mind import OfflineMind  # noqa: E402
from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig  # noqa: E402
from luotuo_rpg.llm.structured import StructuredMind  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


async def _run(spec, ticks: int, base_url: str, concurrent: bool) -> tuple[float, int, list[str]]:
    backend = OpenAIBackend(OpenAIConfig(base_urls=[base_url], model="luotuo-mock", max_concurrency=128))
    mind = StructuredMind(backend, fallback=OfflineMind())
    sim = Simulation(spec, mind, SimConfig(think_concurrently=concurrent))
    started = time.perf_counter()
    frames = [(await sim.step()).to_line() for _ in range(ticks)]
    wall = time.perf_counter() - started
    await mind.aclose()
    return wall, mind.stats.requests, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--latencies", default="0.2,1")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "llm_concurrency.md")
    args = parser.parse_args()
    spec = load_world_spec(REPO / "worlds" / "qixia_town.yaml")
    spec = spec.model_copy(update={"world": spec.world.model_copy(update={"start": spec.world.start.replace(hour=7)})})
    header = "| latency s | requests | one at a time s | concurrent s | speed-up |"
    rows = []
    print(header)
    print("|---:|---:|---:|---:|---:|")
    for latency in [float(x) for x in args.latencies.split(",")]:
        with serve_in_thread(create_app(OfflineAnswerer(), latency_s=latency)) as server:
            seq_wall, requests, seq_frames = asyncio.run(_run(spec, args.ticks, server.base_url, False))
            con_wall, _, con_frames = asyncio.run(_run(spec, args.ticks, server.base_url, True))
        assert seq_frames == con_frames, "concurrency must not change the run"
        row = f"| {latency:g} | {requests} | {seq_wall:.1f} | {con_wall:.1f} | {seq_wall / con_wall:.1f}× |"
        print(row, flush=True)
        rows.append(row)
    text = "\n".join([
        f"# Concurrent thinking: {args.ticks} ticks of 七侠镇 ({len(spec.personas)} agents, from 07:00)", "",
        describe_machine(), "", f"Command: `python benchmarks/llm_concurrency.py --ticks {args.ticks} --latencies {args.latencies}`",
        "", "Frames are identical in both modes (asserted).", "", header, "|---:|---:|---:|---:|---:|", *rows, "",
    ])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
