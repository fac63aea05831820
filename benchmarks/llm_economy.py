"""What one game day of 七侠镇 costs through the real OpenAI client.

The offline mind answers behind an OpenAI-compatible server on loopback
(`luotuo_rpg.llm.offline.mock_server`), so every request kind gets a valid answer and
the real client, prompts and parsing are exercised. Tokens are the server's
`usage` (estimated: CJK ≈ 1 token per character, other text ≈ 1 per 4 characters,
which overstates Qwen/GPT BPE counts for Chinese by roughly 20–40 %).

    python benchmarks/llm_economy.py [--hours 24] [--world worlds/qixia_town.yaml]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer  # noqa: E402
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread  # noqa: E402
from luotuo_rpg.llm.offline.mind import OfflineMind  # noqa: E402
from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig  # noqa: E402
from luotuo_rpg.llm.structured import StructuredMind  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
REFERENCE_PER_AGENT_DAY = 620_000  # 6.6 M tokens / 25 agents / 10 game hours × 24 (generative_agents issue #156)
TARGET = 60_000


async def _run(spec, hours: float, base_url: str):
    backend = OpenAIBackend(OpenAIConfig(base_urls=[base_url], model="luotuo-mock", max_concurrency=64))
    mind = StructuredMind(backend, fallback=OfflineMind())
    sim = Simulation(spec, mind)
    ticks = sim.world.clock.ticks_for_hours(hours)
    started = time.perf_counter()
    for _ in range(ticks):
        await sim.step()
    wall = time.perf_counter() - started
    await sim.aclose()  # thoughts still in flight at the end of the day are not counted
    await mind.aclose()
    return sim, mind, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--world", type=Path, default=REPO / "worlds" / "qixia_town.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "llm_economy.md")
    args = parser.parse_args()
    spec = load_world_spec(args.world)
    with serve_in_thread(create_app(OfflineAnswerer())) as server:
        sim, mind, wall = asyncio.run(_run(spec, args.hours, server.base_url))
    stats = mind.stats
    agents = len(spec.personas)
    days = args.hours / 24
    per = agents * days
    lines = [
        f"# LLM economy: {spec.world.name}, {agents} agents, {args.hours:g} game hours through the real openai client",
        "",
        describe_machine(),
        f"Command: `python benchmarks/llm_economy.py --hours {args.hours:g}`; wall {wall:.0f} s; fallbacks {stats.fallbacks}.",
        "",
        "| kind | requests | per agent-day | tokens in | tokens out | tokens per agent-day |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for kind, k in sorted(stats.by_kind.items(), key=lambda kv: -(kv[1].tokens_in + kv[1].tokens_out)):
        lines.append(
            f"| {kind} | {k.requests} | {k.requests / per:.1f} | {k.tokens_in} | {k.tokens_out} | "
            f"{(k.tokens_in + k.tokens_out) / per:,.0f} |"
        )
    total = (stats.tokens_in + stats.tokens_out) / per
    lines += [
        f"| **total** | {stats.requests} | {stats.requests / per:.1f} | {stats.tokens_in} | {stats.tokens_out} | **{total:,.0f}** |",
        "",
        f"Tokens per agent per game day: **{total:,.0f}** (target ≤ {TARGET:,}; the reference: ≈ {REFERENCE_PER_AGENT_DAY:,}, "
        f"so {REFERENCE_PER_AGENT_DAY / total:.1f}× fewer).",
        "",
        "| agent | plans | reflections | conversations | memories |",
        "|---|---:|---:|---:|---:|",
    ]
    for agent in sim.agents:
        c = agent.state.counters
        lines.append(f"| {agent.name} | {c.plans} | {c.reflections} | {c.conversations} | {len(agent.memory)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
