"""What one game day of 七侠镇 costs through the real OpenAI client.

The offline mind answers behind an OpenAI-compatible server on loopback
(`luotuo_rpg.llm.offline.mock_server`), so every request kind gets a valid answer and
the real client, prompts and parsing are exercised. Tokens are the server's
`usage` (estimated: CJK ≈ 1 token per character, other text ≈ 1 per 4 characters);
beside them, every prompt (with its chat template) and every answer (with its end token)
is counted by the real Qwen2.5 tokenizer, read from the GGUF file's vocabulary
(``scripts/test_models.py`` puts it in ~/.cache/luotuo-rpg/models).

    python benchmarks/llm_economy.py [--hours 24] [--world worlds/qixia_town.yaml] [--tokenizer M.gguf]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe_machine  # noqa: E402

from luotuo_rpg.llm.backends.openai_compatible import OpenAIBackend, OpenAIConfig  # noqa: E402
from luotuo_rpg.llm.offline.mind import OfflineMind  # noqa: E402
from luotuo_rpg.llm.offline.mock_answers import OfflineAnswerer  # noqa: E402
from luotuo_rpg.llm.offline.mock_server import create_app, serve_in_thread  # noqa: E402
from luotuo_rpg.llm.prompts import recover_request  # noqa: E402
from luotuo_rpg.llm.structured import StructuredMind  # noqa: E402
from luotuo_rpg.sim.engine import Simulation  # noqa: E402
from luotuo_rpg.world.loader import load_world_spec  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TOKENIZER = Path.home() / ".cache" / "luotuo-rpg" / "models" / "qwen2.5-coder-0.5b-instruct.gguf"
REFERENCE_PER_AGENT_DAY = 620_000  # 6.6 M tokens / 25 agents / 10 game hours × 24 (generative_agents issue #156)
TARGET = 60_000


class QwenCounted:
    """The offline answers, each prompt and answer also counted by the Qwen2.5 tokenizer, by kind."""

    def __init__(self, tokenizer_file: Path) -> None:
        from transformers import AutoTokenizer

        self.inner = OfflineAnswerer()
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_file.parent), gguf_file=tokenizer_file.name)
        self.by_kind: dict[str, list[int]] = {}

    def __call__(self, model: str, messages: list[dict]) -> str:
        text = self.inner(model, messages)
        request = recover_request(messages)
        kind = request.kind if request is not None else "foreign"
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        tokens_in = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        tokens_out = len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) + 1  # <|im_end|>
        counts = self.by_kind.setdefault(kind, [0, 0])
        counts[0] += tokens_in
        counts[1] += tokens_out
        return text


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
    parser.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER, help="a Qwen2.5 GGUF file")
    args = parser.parse_args()
    spec = load_world_spec(args.world)
    answerer = QwenCounted(args.tokenizer) if args.tokenizer.is_file() else OfflineAnswerer()
    with serve_in_thread(create_app(answerer)) as server:
        sim, mind, wall = asyncio.run(_run(spec, args.hours, server.base_url))
    stats = mind.stats
    agents = len(spec.personas)
    days = args.hours / 24
    per = agents * days
    lines = [
        f"# LLM economy: {spec.world.name}, {agents} agents, {args.hours:g} game hours through the real openai client",
        "",
        describe_machine(),
        f"Command: `python benchmarks/llm_economy.py --hours {args.hours:g}`; wall {wall:.0f} s; fallbacks "
        f"{stats.fallbacks}.",
        "",
        "| kind | requests | per agent-day | tokens in | tokens out | tokens per agent-day | "
        "Qwen tokens in | Qwen tokens out | Qwen tokens per agent-day |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    qwen = getattr(answerer, "by_kind", {})
    for kind, k in sorted(stats.by_kind.items(), key=lambda kv: -(kv[1].tokens_in + kv[1].tokens_out)):
        real = qwen.get(kind)
        real_cells = f"{real[0]} | {real[1]} | {(real[0] + real[1]) / per:,.0f}" if real else "– | – | –"
        lines.append(
            f"| {kind} | {k.requests} | {k.requests / per:.1f} | {k.tokens_in} | {k.tokens_out} | "
            f"{(k.tokens_in + k.tokens_out) / per:,.0f} | {real_cells} |"
        )
    total = (stats.tokens_in + stats.tokens_out) / per
    real_in = sum(v[0] for k, v in qwen.items() if k != "foreign")
    real_out = sum(v[1] for k, v in qwen.items() if k != "foreign")
    real_total = (real_in + real_out) / per
    real_line = (
        f"Counted by the Qwen2.5 tokenizer ({args.tokenizer.name}), chat template included: **{real_total:,.0f}** "
        f"per agent-day ({real_total / total:.2f}× the estimate)."
        if qwen
        else "No Qwen tokenizer given (--tokenizer): estimate only."
    )
    lines += [
        f"| **total** | {stats.requests} | {stats.requests / per:.1f} | {stats.tokens_in} | {stats.tokens_out} | "
        f"**{total:,.0f}** | {real_in} | {real_out} | **{real_total:,.0f}** |",
        "",
        f"Tokens per agent per game day (estimate): **{total:,.0f}** (target ≤ {TARGET:,}; the reference: "
        f"≈ {REFERENCE_PER_AGENT_DAY:,}, so {REFERENCE_PER_AGENT_DAY / total:.1f}× fewer).",
        real_line,
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
